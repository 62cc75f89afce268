package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
