package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/policy"
)

// cpuTime is the process's user+system CPU time: on this shared machine
// a run's wall time swings with the other builds' load, its CPU time far
// less, so the benchmarks report both (cpu-ms/op; it includes the garbage
// collector's work on other threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (a cpuTime reading).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkSimulateEndToEnd measures `capstan simulate` as a user runs it:
// read and parse the policy and a 16-day, 1-minute trace CSV, replay it,
// write the timeline CSV (but in the summary-only case), print the summary.
// samples/s is the headline.
func BenchmarkSimulateEndToEnd(b *testing.B) {
	dir := b.TempDir()
	const samples = 16 * 24 * 60
	var sb strings.Builder
	sb.WriteString("ts,value\n")
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 0; i < samples; i++ {
		v := 500 + 400*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%7)
		fmt.Fprintf(&sb, "%d,%.3f\n", start+int64(i)*60, v)
	}
	tracePath := filepath.Join(dir, "trace.csv")
	if err := os.WriteFile(tracePath, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"off", "forecast-and-scale"} {
		policyPath := filepath.Join(dir, mode+".yaml")
		pol := fmt.Sprintf(`id: bench
target: {provider: fake, group: g}
min: 1
max: 100
evaluation_interval: 1m
metrics: [{name: rps, type: request_rate, target: 50}]
predictive: {mode: %s, lead: 3m, season: 24h, history: 7d}
stale_after: 3m
`, mode)
		if err := os.WriteFile(policyPath, []byte(pol), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// Each mode with the timeline CSV; forecast-and-scale printing only
	// the summary, as plain `capstan simulate` does (no timeline kept or
	// written); and with the two comparison replays, --compare off and
	// --baseline hpa: what asking for them costs (samples/s counts the
	// trace once).
	fs, timeline := filepath.Join(dir, "forecast-and-scale.yaml"), filepath.Join(dir, "timeline.csv")
	cases := []struct {
		name string
		o    simulateOptions
	}{
		{"off", simulateOptions{policyFile: filepath.Join(dir, "off.yaml"), timeline: timeline}},
		{"forecast-and-scale", simulateOptions{policyFile: fs, timeline: timeline}},
		{"forecast-and-scale-summary-only", simulateOptions{policyFile: fs, output: "table"}},
		{"forecast-and-scale+compare+baseline", simulateOptions{policyFile: fs, timeline: timeline, compare: "off", baseline: "hpa"}},
	}
	for _, c := range cases {
		c.o.traceFile, c.o.timezone = tracePath, "UTC"
		b.Run(c.name, func(b *testing.B) {
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := runSimulate(io.Discard, io.Discard, c.o); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkScoreboard measures `capstan simulate scoreboard` on the bundled
// traces and example policies: 41 replays on every core.
func BenchmarkScoreboard(b *testing.B) {
	o := scoreboardOptions{traces: "../../examples/traces", policies: "../../examples/policies"}
	for i := 0; i < b.N; i++ {
		if err := runScoreboard(io.Discard, o); err != nil && !errors.Is(err, errTargetsMissed) {
			b.Fatal(err)
		}
	}
}

// historyBackend serves a fixed recording as the cluster's history, so a
// benchmark can replay a week of it without pushing a week of samples.
type historyBackend struct {
	*apitest.Backend
	rec api.Recording
}

// History is the recording's windows.
func (h *historyBackend) History(context.Context, string) ([]api.MetricHistory, error) {
	return h.rec.History, nil
}

// Recording is the recording.
func (h *historyBackend) Recording(context.Context, string) (api.Recording, error) {
	return h.rec, nil
}

// benchPolicy is the what-if benchmarks' policy without its predictive
// settings: three metrics, the kinds a history holds.
const benchPolicy = `id: bench
target: {provider: fake, group: g}
min: 2
max: 200
warmup: 3m
evaluation_interval: 1m
stale_after: 10m
metrics:
  - {name: rps, type: request_rate, target: 100}
  - {name: cpu, type: cpu, target: 60}
  - {name: queue, type: queue_depth, target: 50}
`

// BenchmarkDryRun measures `capstan policy apply --dry-run` end to end as
// a user runs it against a node: read the candidate file, fetch the
// stored policy and 7 days of its history of 3 metrics (rps, cpu, queue)
// as CSV over HTTP, parse it, replay the stored policy and the candidate
// (prediction on, a configured daily season or an auto-detected one) on
// two cores, and print both with the verdict. The 5m step is the cluster's
// default for a 7-day predictive.history (2,016 buckets); 1m is what it
// keeps with predictive.history_step: 1m (10,080 buckets, with the
// group's ready size, which the replay starts from).
func BenchmarkDryRun(b *testing.B) {
	const stored = benchPolicy + "predictive: {mode: forecast-and-scale, lead: 5m, season: SEASON, history: 7dSTEP}\n"
	for _, bc := range []struct {
		step   time.Duration
		season string
	}{{5 * time.Minute, "24h"}, {5 * time.Minute, "auto"}, {time.Minute, "24h"}, {time.Minute, "auto"}} {
		step := bc.step
		stored := strings.Replace(stored, "SEASON", bc.season, 1)
		if step == time.Minute {
			stored = strings.Replace(stored, "7dSTEP", "7d, history_step: 1m", 1)
		} else {
			stored = strings.Replace(stored, "7dSTEP", "7d", 1)
		}
		b.Run("step="+step.String()+"/season="+bc.season, func(b *testing.B) {
			url := historyServer(b, stored, step)
			candidate := filepath.Join(b.TempDir(), "candidate.yaml")
			if err := os.WriteFile(candidate, []byte(strings.Replace(stored, "target: 100", "target: 120", 1)), 0o644); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if code, _, stderr := runCLIBench("policy", "apply", "--dry-run", "-f", candidate, "--addr", url); code != 0 && code != exitWorse {
					b.Fatalf("exit %d: %s", code, stderr)
				}
			}
			b.ReportMetric(float64(7*24*time.Hour/step), "buckets/metric")
		})
	}
}

// historyServer serves policy doc (id bench, metrics rps, cpu and queue)
// with 7 days of history at step, a daily cycle with noise, and with a
// 1m step the group's ready size resized every 20 minutes or so; it
// returns the server's URL.
func historyServer(b *testing.B, stored string, step time.Duration) string {
	b.Helper()
	n := int(7 * 24 * time.Hour / step)
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	series := func(base, amp float64, phase int) []api.HistoryBucket {
		out := make([]api.HistoryBucket, n)
		for i := range out {
			at := start.Add(time.Duration(i) * step)
			day := 2 * math.Pi * float64(at.Sub(start)) / float64(24*time.Hour)
			out[i] = api.HistoryBucket{Time: at, Value: base + amp*math.Sin(day+float64(phase)) + float64(i%11)}
		}
		return out
	}
	p, err := policy.Parse([]byte(stored))
	if err != nil {
		b.Fatal(err)
	}
	hb := &historyBackend{Backend: apitest.NewBackend("n1")}
	rec, err := hb.PutPolicy(context.Background(), p, "")
	if err != nil {
		b.Fatal(err)
	}
	var sizes []api.SizeAt
	if step == time.Minute { // a resize every 20 minutes or so
		for i := 0; i < n; i += 20 {
			sizes = append(sizes, api.SizeAt{Time: start.Add(time.Duration(i) * step), Ready: 10 + i%7})
		}
	}
	hb.rec = api.Recording{Policy: rec, Ready: 10, Sizes: sizes, History: []api.MetricHistory{
		{Metric: "rps", Type: "request_rate", Step: step.String(), Aggregation: "mean", Buckets: series(3000, 2500, 0)},
		{Metric: "cpu", Type: "cpu", Step: step.String(), Aggregation: "mean", Buckets: series(1500, 1000, 1)},
		{Metric: "queue", Type: "queue_depth", Step: step.String(), Aggregation: "max", Buckets: series(800, 600, 2)},
	}}
	srv := httptest.NewServer(api.NewHandler(api.Options{Backend: hb}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkRecommendFromCluster measures `capstan recommend --from-cluster`
// end to end: fetch the stored policy and 7 days of 1-minute history of 3
// metrics over HTTP, and search the default space around it (prediction
// on, a daily season; 270 candidates) on the available cores.
func BenchmarkRecommendFromCluster(b *testing.B) {
	const stored = benchPolicy + "predictive: {mode: forecast-and-scale, lead: 5m, season: 24h, history: 7d, history_step: 1m}\n"
	url := historyServer(b, stored, time.Minute)
	b.ResetTimer()
	for range b.N {
		if code, _, stderr := runCLIBench("recommend", "--from-cluster", "bench", "--addr", url); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
	}
}

// runCLIBench runs the CLI as main does, discarding its output.
func runCLIBench(args ...string) (int, string, string) {
	var stderr strings.Builder
	code := run(context.Background(), args, io.Discard, &stderr)
	return code, "", stderr.String()
}
