package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/report"
	"github.com/capstan-io/capstan/policy/simulate/scoreboard"
)

const (
	elbPolicy = "../../examples/policies/elb-requests.yaml"
	elbTrace  = "../../examples/traces/elb_request_count_5min.csv"
)

// TestSimulateCompareJSON: --baseline hpa and --compare off put three runs
// side by side; the policy's run is the one a plain simulate makes, and the
// ratios are its figures over the others'.
func TestSimulateCompareJSON(t *testing.T) {
	code, plain, stderr := runCLI(t, "simulate", "-o", "json", "--policy", elbPolicy, "--trace", elbTrace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var alone simulate.Summary
	if err := json.Unmarshal([]byte(plain), &alone); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "simulate", "-o", "json", "--baseline", "hpa", "--compare", "off", "--policy", elbPolicy, "--trace", elbTrace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Policy, Off, Baseline simulate.Summary
		BaselineRule          string              `json:"baseline_rule"`
		VsOff                 map[string]*float64 `json:"policy_vs_off"`
		VsBaseline            map[string]*float64 `json:"policy_vs_baseline"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Policy != alone {
		t.Errorf("policy run %+v differs from the plain run %+v", got.Policy, alone)
	}
	if got.BaselineRule != "hpa" || got.Baseline.Samples != alone.Samples || got.Off.Samples != alone.Samples {
		t.Errorf("baseline %q %+v, off %+v", got.BaselineRule, got.Baseline, got.Off)
	}
	if got.Baseline == got.Policy || got.Off == got.Policy {
		t.Errorf("a comparison run is the policy run itself: %+v", got)
	}
	for name, pair := range map[string]struct {
		r     map[string]*float64
		other simulate.Summary
	}{"off": {got.VsOff, got.Off}, "baseline": {got.VsBaseline, got.Baseline}} {
		want := simulate.Compare(got.Policy, pair.other)
		for k, w := range map[string]simulate.Factor{"underprovisioned_samples": want.UnderProvisioned,
			"instance_hours": want.InstanceHours, "actions": want.Actions} {
			if v := pair.r[k]; v == nil || *v != float64(w) {
				t.Errorf("policy_vs_%s.%s = %v, want %v", name, k, v, w)
			}
		}
	}

	// With prediction already off, --compare off is the policy's own run.
	code, out, stderr = runCLI(t, "simulate", "-o", "json", "--predictive", "off", "--compare", "off", "--policy", elbPolicy, "--trace", elbTrace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got.Off, got.Policy = simulate.Summary{}, simulate.Summary{}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Off != got.Policy {
		t.Fatalf("%v: off %+v, policy %+v", err, got.Off, got.Policy)
	}
	if strings.Contains(out, `"baseline"`) {
		t.Errorf("a baseline without --baseline:\n%s", out)
	}
}

func TestSimulateCompareText(t *testing.T) {
	code, out, stderr := runCLI(t, "simulate", "--baseline", "hpa", "--compare", "off", "--policy", elbPolicy, "--trace", elbTrace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(out, "\n")
	if f := strings.Fields(lines[0]); len(f) != 3 || f[0] != "policy" || f[1] != "off" || f[2] != "hpa" {
		t.Fatalf("header %q, want policy off hpa", lines[0])
	}
	for _, want := range []string{"under-provisioned samples", "instance-hours", "scale-out actions", "scale-in actions",
		"actions per day", "policy / off: under-provisioned ", "policy / hpa: under-provisioned "} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}

func TestSimulateCompareFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--baseline", "keda"}, `--baseline: must be hpa (got "keda")`},
		{[]string{"--compare", "on"}, `--compare: must be off (got "on")`},
	}
	for _, tt := range tests {
		args := append([]string{"simulate", "--policy", elbPolicy, "--trace", elbTrace}, tt.args...)
		code, out, stderr := runCLI(t, args...)
		if code == 0 || !strings.Contains(stderr, tt.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want an error with %q and no output", tt.args, code, stderr, out, tt.want)
		}
	}
}

// TestScoreboardCommand checks the scoreboard's mechanics on one trace, not
// its numbers: the board has the three runs, and the exit status is 1
// exactly when a check failed.
func TestScoreboardCommand(t *testing.T) {
	reports := filepath.Join(t.TempDir(), "reports")
	code, out, stderr := runCLI(t, "simulate", "scoreboard", "-o", "json", "--traces", "../../examples/traces",
		"--trace", "elb_request_count_5min.csv", "--reports", reports)
	var board struct {
		Traces []struct {
			Trace struct {
				Name string `json:"name"`
			} `json:"trace"`
			Baseline, Off, Forecast simulate.Summary
			Checks                  []struct {
				Name string `json:"name"`
				Pass bool   `json:"pass"`
			} `json:"checks"`
		} `json:"traces"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal([]byte(out), &board); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(board.Traces) != 1 || len(board.Examples) != 0 {
		t.Fatalf("%d traces and %d examples, want just the one trace", len(board.Traces), len(board.Examples))
	}
	row := board.Traces[0]
	if row.Trace.Name != "elb_request_count_5min.csv" || row.Baseline.Samples != 4032 || row.Off.Samples != 4032 ||
		row.Forecast.Samples != 4032 || len(row.Checks) != 2 {
		t.Fatalf("row %+v", row)
	}
	failed := false
	for _, c := range row.Checks {
		failed = failed || !c.Pass
	}
	if wantCode := map[bool]int{false: 0, true: 1}[failed]; code != wantCode {
		t.Fatalf("exit %d with failed=%v, want %d (stderr %q)", code, failed, wantCode, stderr)
	}
	if failed && !strings.Contains(stderr, "targets missed") {
		t.Fatalf("stderr %q does not say targets were missed", stderr)
	}
	html, err := os.ReadFile(filepath.Join(reports, "elb_request_count_5min.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"desired, prediction off", "desired, HPA reference", "elb_request_count_5min.csv"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("scoreboard report lacks %q", want)
		}
	}
}

// TestScoreboardHeldOut: --held-out scores each variant that applies to
// the trace (a 5-minute trace is not resampled to 5 minutes, but is to 15
// minutes and an hour) and exits 0 whatever it
// missed, since it is a yardstick, not a gate.
func TestScoreboardHeldOut(t *testing.T) {
	code, out, stderr := runCLI(t, "simulate", "scoreboard", "--held-out", "-o", "json", "--traces", "../../examples/traces",
		"--trace", "elb_request_count_5min.csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var h struct {
		Rows []struct {
			Variant  string           `json:"variant"`
			Forecast simulate.Summary `json:"forecast"`
		} `json:"rows"`
		Totals []struct {
			Variant string `json:"variant"`
			Checks  int    `json:"checks"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var variants []string
	for _, r := range h.Rows {
		variants = append(variants, r.Variant)
	}
	if strings.Join(variants, " ") != "first-half second-half 15min 1h later-start later-start-2 load-x3 load-x5 rows-dropped level-shift level-drop growth phase-shift spikes weekends" ||
		h.Rows[0].Forecast.Samples+h.Rows[1].Forecast.Samples != 4032 ||
		// the 15-minute and hourly buckets the samples fall in (00:04 on the first day to 00:39 on the last)
		h.Rows[2].Forecast.Samples != 1347 || h.Rows[3].Forecast.Samples != 337 ||
		h.Rows[6].Forecast.Samples != 4032 || h.Rows[7].Forecast.Samples != 4032 ||
		h.Rows[8].Forecast.Samples < 3700 || h.Rows[8].Forecast.Samples > 3900 || // about one row in twenty dropped
		h.Rows[9].Forecast.Samples != 4032 || h.Rows[10].Forecast.Samples != 4032 || h.Rows[11].Forecast.Samples != 4032 ||
		h.Rows[12].Forecast.Samples != 4032 || h.Rows[13].Forecast.Samples != 4032 || h.Rows[14].Forecast.Samples != 4032 {
		t.Fatalf("variants %v, samples %+v", variants, h.Rows)
	}
	if last := h.Totals[len(h.Totals)-1]; last.Variant != "all" || last.Checks != 30 {
		t.Fatalf("totals %+v", h.Totals)
	}
}

func TestScoreboardCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--trace", "nope.csv"}, `--trace "nope.csv": not a scoreboard trace`},
		{[]string{"--json", "--markdown"}, "--markdown and --json: choose one"},
		{[]string{"--json", "-o", "markdown"}, "--json and --output markdown: choose one"},
		{[]string{"-o", "csv"}, "--output: must be one of table, json, yaml, markdown"},
		{[]string{"--held-out", "--reports", t.TempDir()}, "--held-out and --reports: choose one"},
		{[]string{"--traces", t.TempDir(), "--trace", "elb_request_count_5min.csv"}, "elb_request_count_5min.csv: no such file"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"simulate", "scoreboard"}, tt.args...)...)
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestSimulateReportOverlays: with --compare and --baseline the report
// draws both other runs and compares them; --unit names the metric's unit.
func TestSimulateReportOverlays(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	code, _, stderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", elbTrace, "--report", out,
		"--baseline", "hpa", "--compare", "off", "--unit", "requests=requests per 5 min")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"desired, prediction off", "desired, HPA reference", "<td>HPA reference</td>",
		"request rate, in requests per 5 min", `<h2 class="views">By day</h2>`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestSimulateUnitErrors(t *testing.T) {
	tests := []struct {
		unit, want string
	}{
		{"requests", `--unit "requests": must be NAME=UNIT`},
		{"requests= ", `--unit "requests= ": must be NAME=UNIT`},
		{"rps=requests/s", `--unit "rps=requests/s": policy elb-requests has no metric "rps"`},
		{"requests=" + strings.Repeat("x", 41), "the unit must be at most 40 bytes"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", elbTrace, "--unit", tt.unit)
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("--unit %q: exit %d, stderr %q; want %q", tt.unit, code, stderr, tt.want)
		}
	}
}

// TestRunJobs: every job runs once whatever the number of workers, and
// the errors come back joined.
func TestRunJobs(t *testing.T) {
	for _, workers := range []int{1, 2, 7} {
		done := make([]int, 20)
		var jobs []scoreJob
		for i := range done {
			jobs = append(jobs, func() error {
				done[i]++
				if i%9 == 4 {
					return fmt.Errorf("job %d: %w", i, errTargetsMissed)
				}
				return nil
			})
		}
		err := runJobs(jobs, workers)
		for i, d := range done {
			if d != 1 {
				t.Fatalf("%d workers: job %d ran %d times", workers, i, d)
			}
		}
		if !errors.Is(err, errTargetsMissed) || !strings.Contains(err.Error(), "job 4") || !strings.Contains(err.Error(), "job 13") {
			t.Fatalf("%d workers: error %v, want jobs 4 and 13", workers, err)
		}
	}
}

// TestSimulateOutputIsAFormat checks issue 12 item 4: -o/--output is the
// summary's format as on every command, the timeline file is --timeline,
// and the old file meaning is refused with a pointer to --timeline instead
// of writing a file named after the format.
func TestSimulateOutputIsAFormat(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(root, "examples", "policies", "nyc-taxi.yaml")
	tr := filepath.Join(root, "examples", "traces", "nyc_taxi_passengers_30min.csv")
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, stdout, stderr string)
	}{
		{"-o json prints the summary as JSON", []string{"-o", "json"}, 0, func(t *testing.T, stdout, _ string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(stdout), &m); err != nil || m["samples"] == nil {
				t.Errorf("not the JSON summary: %v\n%s", err, stdout)
			}
		}},
		{"--output yaml prints YAML", []string{"--output", "yaml"}, 0, func(t *testing.T, stdout, _ string) {
			if !strings.Contains(stdout, "samples: ") {
				t.Errorf("not the YAML summary:\n%s", stdout)
			}
		}},
		{"--output FILE is refused", []string{"--output", "timeline.csv"}, 1, func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "write the per-sample timeline with --timeline timeline.csv") {
				t.Errorf("no pointer to --timeline:\n%s", stderr)
			}
		}},
		{"--timeline - with -o is refused", []string{"--timeline", "-", "-o", "json"}, 1, func(t *testing.T, _, stderr string) {
			if !strings.Contains(stderr, "--timeline - and --output") {
				t.Errorf("stderr:\n%s", stderr)
			}
		}},
		{"--json still works, deprecated", []string{"--json"}, 0, func(t *testing.T, stdout, stderr string) {
			if !strings.HasPrefix(stdout, "{") || !strings.Contains(stderr, "use -o json") {
				t.Errorf("stdout %.40q stderr %q", stdout, stderr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"simulate", "--policy", pol, "--trace", tr}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, stderr)
			}
			tt.check(t, stdout, stderr)
		})
	}
	// Nothing was written into the working directory: no file named
	// after a format.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("simulate left %d file(s) in the working directory", len(entries))
	}
}

// TestSimulateCoarseTraceWarning: a trace sampled less often than
// stale_after draws a warning that says what happens (the policy scales in
// only on a fresh sample), and the run does scale in, which the earlier
// text ("will not scale in") denied.
func TestSimulateCoarseTraceWarning(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pol, []byte(`id: coarse
target: {provider: fake, group: g}
min: 1
max: 100
evaluation_interval: 1m
stale_after: 2m
metrics: [{name: rps, type: request_rate, target: 0.5}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "simulate", "-o", "json", "--policy", pol, "--trace", elbTrace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "longer than stale_after (2m): between samples the metrics look stale and the policy only holds or grows, so it scales in only on a fresh sample") {
		t.Errorf("warning missing or changed:\n%s", stderr)
	}
	var s simulate.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.ScaleIns == 0 {
		t.Errorf("no scale-in on a coarse trace: %+v", s)
	}
}

// TestSimulatePrice: --price prices a policy without a cost of its own (the
// summary's cost is its instance-hours at that price, in
// --price-currency), a policy's own cost wins, and a bad price or currency
// is refused naming the flag.
func TestSimulatePrice(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	tr := filepath.Join(root, "examples", "traces", "nyc_taxi_passengers_30min.csv")
	unpriced := filepath.Join(root, "examples", "policies", "nyc-taxi.yaml")
	priced := filepath.Join(t.TempDir(), "priced.yaml")
	doc, err := os.ReadFile(unpriced)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priced, append(doc, "\ncost: {per_instance_hour: 1, currency: USD}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		policy   string
		args     []string
		price    float64 // what the summary's cost should be priced at; 0: unpriced
		currency string
		err      string
	}{
		{"unpriced policy priced by --price", unpriced, []string{"--price", "0.25", "--price-currency", "EUR"}, 0.25, "EUR", ""},
		{"unpriced without --price", unpriced, nil, 0, "", ""},
		{"its own cost wins", priced, []string{"--price", "0.25"}, 1, "USD", ""},
		{"bad price", unpriced, []string{"--price", "-2"}, 0, "", "--price: price must be > 0 and <= 10000 per instance-hour (got -2)"},
		{"bad currency", unpriced, []string{"--price", "0.2", "--price-currency", "euro"}, 0, "", `--price-currency: currency "euro": must be a three-letter uppercase currency code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"simulate", "--policy", tt.policy, "--trace", tr, "-o", "json"}, tt.args...)...)
			if tt.err != "" {
				if code == 0 || !strings.Contains(stderr, tt.err) {
					t.Fatalf("exit %d, stderr %q; want an error containing %q", code, stderr, tt.err)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var sum struct {
				InstanceHours float64 `json:"instance_hours"`
				Cost          float64 `json:"cost"`
				Currency      string  `json:"currency"`
			}
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
				t.Fatal(err)
			}
			if want := tt.price * sum.InstanceHours; math.Abs(sum.Cost-want) > 1e-6 || sum.Currency != tt.currency || sum.InstanceHours <= 0 {
				t.Fatalf("cost %v %s for %v instance-hours, want %v %s", sum.Cost, sum.Currency, sum.InstanceHours, want, tt.currency)
			}
		})
	}
}

// elbRun is the elb example's replay, its timeline kept.
func elbRun(t *testing.T) (policy.Policy, *simulate.Result) {
	t.Helper()
	p, err := loadPolicy(elbPolicy)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := loadTrace(elbTrace, "UTC", false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	series, err := mapTrace(p, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := simulate.Run(simulate.Config{Policy: p}, series)
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

// TestSimulateStreamsTimeline: the CSV timeline, written while the replay
// runs, is byte for byte the one written from the finished run (the elb
// trace's 4,032 samples span two hand-overs and a remainder), with the
// comparison runs going on beside it or not; a timeline that cannot be
// written fails the command with the file named.
func TestSimulateStreamsTimeline(t *testing.T) {
	p, res := elbRun(t)
	var want bytes.Buffer
	if err := report.WriteTimelineCSV(&want, p, res); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, extra := range [][]string{nil, {"--compare", "off", "--baseline", "hpa"}} {
		path := filepath.Join(dir, "t.csv")
		args := append([]string{"simulate", "--policy", elbPolicy, "--trace", elbTrace, "--timeline", path}, extra...)
		if code, _, stderr := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, stderr)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%v: streamed timeline (%d bytes) differs from the finished run's (%d bytes)", extra, len(got), want.Len())
		}
	}
	bad := filepath.Join(dir, "missing", "t.csv")
	code, _, stderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", elbTrace, "--timeline", bad)
	if code == 0 || !strings.Contains(stderr, "writing timeline") || !strings.Contains(stderr, bad) {
		t.Fatalf("unwritable timeline: exit %d, stderr %q", code, stderr)
	}
}

// writeNotifier is an io.Writer that keeps what is written and says on
// wrote each time something is.
type writeNotifier struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *writeNotifier) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(b), nil
}

// TestTimelineStreamWritesWhenCaughtUp: the timeline's writer writes out
// the rows it has formatted once it has caught up with the replay, not
// only when its buffer is full or the replay has ended, so what is left
// to write at the end is the last stretch; the file is the one
// report.WriteTimelineCSV writes.
func TestTimelineStreamWritesWhenCaughtUp(t *testing.T) {
	p, res := elbRun(t)
	if len(res.Times) <= simulate.RowsChunk {
		t.Fatalf("%d samples: the test needs more than a stretch", len(res.Times))
	}
	out := &writeNotifier{wrote: make(chan struct{}, 1)}
	ts := &timelineStream{path: "-", stdout: out, policy: p}
	ts.rows(res, simulate.RowsChunk) // a stretch far smaller than the writer's buffer
	select {
	case <-out.wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("a stretch of rows formatted and nothing written while the replay goes on")
	}
	ts.rows(res, len(res.Times))
	if err := ts.wait(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := report.WriteTimelineCSV(&want, p, res); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.buf.Bytes(), want.Bytes()) {
		t.Fatalf("the streamed timeline (%d bytes) differs from WriteTimelineCSV's (%d bytes)", out.buf.Len(), want.Len())
	}
}

// TestCostBoundHoldsOnHourlyData: the forecast's cost bound
// (predictive.max_extra, 5 % by default) promises that prediction holds at
// most about 5 % more instance-time than the reactive rule alone. On
// hourly data the group holds on stale data for most of every step, and
// the capacity the forecast bought at a sample was charged only while its
// entry sat in the 5-minute stabilization window: the forecast run held
// 10–17 % more instance-hours than prediction off on these traces. A hold
// on stale data now keeps the excess charged, and the bound holds to
// about a point.
func TestCostBoundHoldsOnHourlyData(t *testing.T) {
	var hourly scoreboard.Variant
	for _, v := range scoreboard.Variants() {
		if v.Name == scoreboard.VariantResampled1h {
			hourly = v
		}
	}
	for _, tr := range scoreboard.Traces() {
		switch tr.Name {
		case "crane_input1_1min.csv", "tweets_amzn_5min.csv", "elb_request_count_5min.csv":
		default:
			continue
		}
		t.Run(tr.Name, func(t *testing.T) {
			s, err := loadSeries(filepath.Join("../../examples/traces", tr.Name))
			if err != nil {
				t.Fatal(err)
			}
			row, ok, err := scoreboard.ScoreVariant(hourly, tr, s)
			if err != nil || !ok {
				t.Fatalf("ok %v, %v", ok, err)
			}
			// The bound is over a trailing week, decayed; over the whole
			// replay it holds to about a point.
			if extra := row.Forecast.InstanceHours/row.Off.InstanceHours - 1; extra > 0.06 {
				t.Fatalf("forecast %.0f instance-hours, prediction off %.0f: %.1f %% more, above the 5 %% bound and a point",
					row.Forecast.InstanceHours, row.Off.InstanceHours, 100*extra)
			}
			if row.Forecast.HeldBack == 0 {
				t.Fatalf("the bound never held the forecast back: %+v", row.Forecast)
			}
		})
	}
}

// TestForecastHoldsNoScaleInAStepLate: on data whose step is longer than
// the scale-in stabilization window (the held-out board's hourly
// variant), a forecast between two samples is not new evidence for the
// window, so the previous sample's forecast no longer holds the scale-in
// the next sample asks for (an hour late): no decision of the forecast
// run is bound by stabilization. On 5-minute data, whose step is the
// window's, the sample's forecast still holds the window until the next
// sample. The old code held hourly scale-ins by the window on every trace
// here (crane_input14 47 instance-hours over prediction off, none of them
// buying a sample back: BENCHMARKS.md, issue 9, "the hourly held-out
// rows").
func TestForecastHoldsNoScaleInAStepLate(t *testing.T) {
	var hourly scoreboard.Variant
	for _, v := range scoreboard.Variants() {
		if v.Name == scoreboard.VariantResampled1h {
			hourly = v
		}
	}
	for _, tc := range []struct {
		trace  string
		hourly bool
	}{
		{"crane_input14_1min.csv", true},
		{"tweets_amzn_5min.csv", true},
		{"app_cpu_usage_1min.csv", true},
		{"tweets_amzn_5min.csv", false},
	} {
		t.Run(fmt.Sprintf("%s hourly %v", tc.trace, tc.hourly), func(t *testing.T) {
			var tr scoreboard.Trace
			for _, x := range scoreboard.Traces() {
				if x.Name == tc.trace {
					tr = x
				}
			}
			s, err := loadSeries(filepath.Join("../../examples/traces", tc.trace))
			if err != nil {
				t.Fatal(err)
			}
			if tc.hourly {
				var ok bool
				if s, _, ok = hourly.Derive(s); !ok {
					t.Fatal("no hourly variant")
				}
			}
			rs, err := scoreboard.Replay(tr, s)
			if err != nil {
				t.Fatal(err)
			}
			held := 0
			for _, e := range rs.Forecast.Events {
				if e.Bound == policy.LimitStabilization {
					held++
				}
			}
			for _, r := range rs.Forecast.Rows {
				if r.Bound == policy.LimitStabilization && r.Action == policy.ActionHold {
					held++
				}
			}
			if tc.hourly && held > 0 {
				t.Fatalf("%d decisions held by the stabilization window on hourly data", held)
			}
			if !tc.hourly && held == 0 {
				t.Fatal("no decision held by the stabilization window on 5-minute data: the window no longer holds a sample's forecast to the next sample")
			}
		})
	}
}
