package e2e

// The building blocks of the control-plane load run (BenchmarkScale,
// `make bench-scale`): the load plan, the outside-the-process probes
// (/proc, the data directory's snapshots) and the summary. They are
// plain functions so TestScaleBlocks can check them in milliseconds.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/api"
)

// scaleMetrics are the two metrics of every load-run policy.
var scaleMetrics = [2]string{"rps", "queue"}

// scalePlan is the load an operator's fleet produces: Policies two-metric
// policies, one sample per metric every Period, sent in batches of Batch
// by Clients clients.
type scalePlan struct {
	Policies, Clients, Batch int
	Period                   time.Duration
	// Value, when set, replaces scaleValue as the samples' values (the
	// cloud load run keeps its groups at one size until it asks for a
	// scale-out).
	Value func(policy, metric int, t time.Time) float64
}

// series is the number of (policy, metric) series.
func (p scalePlan) series() int { return p.Policies * len(scaleMetrics) }

// rate is the samples per second the plan sends.
func (p scalePlan) rate() float64 { return float64(p.series()) / p.Period.Seconds() }

// round is how often each client sends one batch: all clients together
// send rate() samples per second.
func (p scalePlan) round() time.Duration {
	return time.Duration(float64(p.Clients*p.Batch) / p.rate() * float64(time.Second))
}

// policyID names the i-th policy.
func scalePolicyID(i int) string { return fmt.Sprintf("s%05d", i) }

// scalePolicy is the i-th policy's JSON: two metrics, predictive
// forecast-and-scale over 7 days of history, evaluated every 10 s, on the
// fake cloud's group of its own name.
func scalePolicy(i int) string {
	return scalePolicyOn(i, `{"provider":"fake","group":"`+scalePolicyID(i)+`"}`)
}

// scalePolicyOn is scalePolicy scaling the group target names (a policy
// target's JSON object).
func scalePolicyOn(i int, target string) string {
	id := scalePolicyID(i)
	return `{"id":"` + id + `","target":` + target + `,"min":1,"max":50,"warmup":"2m",` +
		`"evaluation_interval":"10s","tolerance":0.1,` +
		`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"queue","type":"queue_depth","target":50}],` +
		`"scale_out":{"cooldown":"2m"},"scale_in":{"cooldown":"10m","stabilization":"5m"},` +
		`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"},"stale_after":"1m"}`
}

// scaleValue is a sample's value: a daily cycle per policy plus a little
// noise, so windows and forecasts see realistic, non-round numbers.
func scaleValue(policy, metric int, t time.Time) float64 {
	phase := 2*math.Pi*float64(t.Unix()%86400)/86400 + float64(policy%24)
	noise := float64((t.Unix()*7919+int64(policy)*104729)%1000) / 997
	if metric == 0 {
		return 500 + 300*math.Sin(phase) + 10*noise
	}
	return 100 + 80*math.Sin(phase) + noise
}

// batch is what client k sends in round r: Batch consecutive series,
// the clients of one round taking consecutive slices, so that over
// Period every series gets exactly one sample.
func (p scalePlan) batch(k, r int, now time.Time) []api.Sample {
	out := make([]api.Sample, p.Batch)
	start := (r*p.Clients + k) * p.Batch
	for j := range out {
		s := (start + j) % p.series()
		pol, m := s/len(scaleMetrics), s%len(scaleMetrics)
		value := scaleValue
		if p.Value != nil {
			value = p.Value
		}
		out[j] = api.Sample{Policy: scalePolicyID(pol), Metric: scaleMetrics[m], Time: now, Value: value(pol, m, now)}
	}
	return out
}

// procUsage is a process's CPU time and resident memory, read from /proc
// as any operator's tool would, from outside the process.
type procUsage struct {
	CPU time.Duration // user + system
	RSS int64         // bytes
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// readProc reads pid's CPU time (/proc/PID/stat, utime and stime) and RSS
// (/proc/PID/status, VmRSS).
func readProc(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, err
	}
	return parseProc(string(stat), string(status))
}

// parseProc parses the contents of /proc/PID/stat and /proc/PID/status.
// The command name in stat is in parentheses and may hold spaces, so the
// fields are counted from the last ')'.
func parseProc(stat, status string) (procUsage, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("/proc stat: no ')' in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ... utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return procUsage{}, fmt.Errorf("/proc stat: %d fields after the name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procUsage{}, fmt.Errorf("/proc stat: utime %q, stime %q: not numbers", f[11], f[12])
	}
	u := procUsage{CPU: time.Duration(ut+st) * time.Second / clockTick}
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return procUsage{}, fmt.Errorf("/proc status: VmRSS %q: %w", rest, err)
			}
			u.RSS = kb << 10
			return u, nil
		}
	}
	return procUsage{}, fmt.Errorf("/proc status: no VmRSS line")
}

// snapshotSeen is one snapshot a node wrote, as its data directory shows
// it: Raft's file snapshot store writes into NAME.tmp and renames it to
// NAME when Persist has finished (meta.json then holds the size).
type snapshotSeen struct {
	Name string
	// Started is when NAME.tmp was first seen (zero if the write finished
	// between two looks); Done when NAME was.
	Started, Done time.Time
	Size          int64
}

// Persist is the observed write time, to within the polling interval;
// zero when the write was shorter than one.
func (s snapshotSeen) Persist() time.Duration {
	if s.Started.IsZero() {
		return 0
	}
	return s.Done.Sub(s.Started)
}

// snapshotWatch follows one node's snapshot directory.
type snapshotWatch struct {
	dir     string
	started map[string]time.Time
	known   map[string]bool
	seen    []snapshotSeen
}

func newSnapshotWatch(dataDir string) *snapshotWatch {
	return &snapshotWatch{dir: filepath.Join(dataDir, "snapshots"), started: map[string]time.Time{}, known: map[string]bool{}}
}

// look lists the directory once, at now. Snapshots present at the first
// look are taken as known (written before the watch).
func (w *snapshotWatch) look(now time.Time, first bool) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return // not created yet, or being replaced: look again later
	}
	for _, e := range entries {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, ".tmp"); ok {
			if _, ok := w.started[base]; !ok {
				w.started[base] = now
			}
			continue
		}
		if w.known[name] {
			continue
		}
		w.known[name] = true
		if first {
			continue
		}
		s := snapshotSeen{Name: name, Started: w.started[name], Done: now}
		if meta, err := os.ReadFile(filepath.Join(w.dir, name, "meta.json")); err == nil {
			var m struct{ Size int64 }
			if json.Unmarshal(meta, &m) == nil {
				s.Size = m.Size
			}
		}
		w.seen = append(w.seen, s)
	}
}

// percentile is the q-quantile (0..1) of ds by nearest rank; ds is sorted
// in place. Zero for no values.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// scaleRow is one line of the summary: what was measured, the figure, and
// the target with whether it was met ("" when there is none).
type scaleRow struct {
	What, Got, Target string
	Met               *bool
}

// writeScaleTable prints rows as a Markdown table, ready for BENCHMARKS.md.
func writeScaleTable(w io.Writer, rows []scaleRow) {
	fmt.Fprintln(w, "| measured | figure | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rows {
		met := ""
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*r.Met]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.What, r.Got, r.Target, met)
	}
}

// check returns a pointer to ok, for scaleRow.Met.
func check(ok bool) *bool { return &ok }

// ms prints d in milliseconds, with one decimal under 10 ms.
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// mib prints each node's bytes in MiB, in node order.
func mib(m map[string]int64) string {
	var parts []string
	for _, id := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d MiB", id, m[id]>>20))
	}
	return strings.Join(parts, ", ")
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
