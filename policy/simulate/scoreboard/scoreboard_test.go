package scoreboard

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

func TestPercentile(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		values []float64
		q      float64
		want   float64
	}{
		{"nearest rank", []float64{5, 1, 4, 2, 3}, 0.5, 3},
		{"top", []float64{5, 1, 4, 2, 3}, 1, 5},
		{"p99 of 1..100 rounds down", seq(100), 0.99, 99},
		{"missing values ignored", []float64{nan, 10, nan, 20, math.Inf(1)}, 1, 20},
		{"nothing finite", []float64{nan}, 0.99, nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percentile(tt.values, tt.q)
			if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	return v
}

// TestPolicyConvention: the target is 0.7 × p99 / 20 of the demand, cpu
// traces count as recorded on 20 instances, and the rest is the convention.
func TestPolicyConvention(t *testing.T) {
	tests := []struct {
		name         string
		typ          policy.MetricType
		values       []float64
		wantTarget   float64
		wantRecorded int
	}{
		{"request rate", policy.MetricRequestRate, seq(1000), 0.7 * 990 / 20, 0},
		{"queue depth", policy.MetricQueueDepth, seq(1000), 0.7 * 990 / 20, 0},
		{"cpu pinned at 100 %", policy.MetricCPU, append(seq(50), 100, 100, 100), 70, 20},
		{"cpu peaking at 50 %", policy.MetricCPU, seq(50), 0.7 * 49, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, recorded, err := Policy(Trace{Name: "x.csv", Type: tt.typ}, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(p.Metrics[0].Target-tt.wantTarget) > 1e-9 || recorded != tt.wantRecorded {
				t.Fatalf("target %v recorded %d, want %v %d", p.Metrics[0].Target, recorded, tt.wantTarget, tt.wantRecorded)
			}
			if p.Metrics[0].Type != tt.typ || p.Warmup.D() != 180*time.Second || p.Predictive.Lead.D() != 180*time.Second ||
				!p.Predictive.Season.Auto || p.Predictive.Mode != policy.PredictForecastAndScale ||
				p.EvaluationInterval.D() != time.Minute || p.Min != 1 || p.Max != 2000 {
				t.Fatalf("policy %+v is not the convention", p)
			}
			// Everything else is a default, as a new user's policy would have.
			d := policy.Defaults()
			if p.Tolerance != d.Tolerance || p.ScaleIn != d.ScaleIn || p.ScaleOut != d.ScaleOut || p.StaleAfter.D() != 3*time.Minute {
				t.Fatalf("policy %+v differs from the defaults", p)
			}
		})
	}
	if _, _, err := Policy(Trace{Name: "zero.csv", Type: policy.MetricRequestRate}, []float64{0, 0, 0}); !errors.Is(err, ErrNoDemand) {
		t.Fatalf("error %v for an all-zero trace, want ErrNoDemand", err)
	}
}

func sum(under int, frac, hours float64, outs, ins int) simulate.Summary {
	return simulate.Summary{UnderProvisionedSamples: under, UnderProvisionedFraction: frac, InstanceHours: hours, ScaleOuts: outs, ScaleIns: ins}
}

// TestChecks walks each target across its boundary.
func TestChecks(t *testing.T) {
	ref := sum(100, 0.01, 1000, 50, 50)
	tests := []struct {
		name  string
		daily bool
		ref   simulate.Summary
		got   simulate.Summary
		want  []bool // under, hours[, actions]
	}{
		{"daily all met at the limits", true, ref, sum(50, 0.005, 1050, 60, 60), []bool{true, true, true}},
		{"daily all missed", true, ref, sum(51, 0.0051, 1050.1, 61, 60), []bool{false, false, false}},
		{"daily under met by the 0.2 % floor", true, sum(1, 0.0001, 1000, 1, 1), sum(20, 0.002, 1000, 1, 1), []bool{true, true, true}},
		{"daily zero reference, zero figure", true, sum(0, 0, 1000, 0, 0), sum(0, 0, 1000, 0, 0), []bool{true, true, true}},
		{"daily zero reference actions", true, sum(0, 0, 1000, 0, 0), sum(0, 0, 1000, 1, 0), []bool{true, true, false}},
		{"other met at the limits", false, ref, sum(110, 0.011, 1050, 500, 500), []bool{true, true}},
		{"other missed", false, ref, sum(111, 0.0011, 1051, 0, 0), []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := Checks(tt.daily, tt.ref, tt.got)
			if len(cs) != len(tt.want) {
				t.Fatalf("%d checks, want %d", len(cs), len(tt.want))
			}
			for i, c := range cs {
				if c.Pass != tt.want[i] {
					t.Errorf("%s (%s): pass %v, want %v (ratio %s)", c.Name, c.Rule, c.Pass, tt.want[i], c.Ratio)
				}
			}
			row := Row{Checks: cs}
			allWant := true
			for _, w := range tt.want {
				allWant = allWant && w
			}
			if row.Pass() != allWant {
				t.Errorf("row pass %v, want %v", row.Pass(), allWant)
			}
		})
	}
}

func TestExampleChecks(t *testing.T) {
	ex := Example{Policy: "p.yaml", TodayUnder: 10}
	tests := []struct {
		name string
		s    simulate.Summary
		want []bool
	}{
		{"at the limits", simulate.Summary{ActionsPerDay: 20, UnderProvisionedSamples: 10}, []bool{true, true}},
		{"over both", simulate.Summary{ActionsPerDay: 20.1, UnderProvisionedSamples: 11}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := ExampleChecks(ex, tt.s)
			for i, c := range cs {
				if c.Pass != tt.want[i] {
					t.Errorf("%s: pass %v, want %v", c.Name, c.Pass, tt.want[i])
				}
			}
		})
	}
}

// daily builds n days of a one-minute request-rate series with a daily cycle.
func daily(days int) simulate.Series {
	n := days * 1440
	s := simulate.Series{Times: make([]int64, n), Values: [][]float64{make([]float64, n)}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range n {
		s.Times[i] = t0 + int64(i)*int64(time.Minute)
		s.Values[0][i] = 1000 + 800*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%13)
	}
	return s
}

// TestScoreRunsThreeReplays: the replays and the row hold exactly the reference, off and
// forecast runs of the convention policy, and its checks are Checks of them.
func TestScoreRunsThreeReplays(t *testing.T) {
	tr := Trace{Name: "synthetic.csv", Type: policy.MetricRequestRate, Daily: true}
	s := daily(3)
	rs, err := Replay(tr, s)
	if err != nil {
		t.Fatal(err)
	}
	row := Score(tr, rs)
	p, _, err := Policy(tr, s.Values[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg := simulate.Config{Policy: p}
	ref, _ := simulate.RunBaseline(cfg, s)
	fc, _ := simulate.Run(cfg, s)
	cfg.Policy.Predictive.Mode = policy.PredictOff
	off, _ := simulate.Run(cfg, s)
	if row.Baseline != ref.Summary || row.Forecast != fc.Summary || row.Off != off.Summary {
		t.Fatalf("row %+v does not hold the three replays", row)
	}
	if row.Target != p.Metrics[0].Target || row.Ratios != simulate.Compare(fc.Summary, ref.Summary) {
		t.Fatalf("row target %v ratios %+v", row.Target, row.Ratios)
	}
	want := Checks(true, ref.Summary, fc.Summary)
	if len(row.Checks) != len(want) {
		t.Fatalf("checks %+v, want %+v", row.Checks, want)
	}
	for i := range want {
		if row.Checks[i].Pass != want[i].Pass || row.Checks[i].Name != want[i].Name {
			t.Fatalf("check %d: %+v, want %+v", i, row.Checks[i], want[i])
		}
	}
	if rs.Policy.Metrics[0].Target != p.Metrics[0].Target || rs.Forecast.Summary != fc.Summary {
		t.Fatalf("replays %+v do not hold the convention's runs", rs.Policy)
	}
	if _, err := Replay(tr, simulate.Series{Times: s.Times, Values: [][]float64{s.Values[0], s.Values[0]}}); err == nil {
		t.Fatal("two columns scored")
	}
}

func TestBoardVerdictAndTables(t *testing.T) {
	pass := Check{Name: "under-provisioned", Rule: "≤ 1.1× ref", Ratio: 0.5, Pass: true}
	fail := Check{Name: "instance-hours", Rule: "≤ 1.05× ref", Ratio: 2, Pass: false}
	b := Board{
		Rows: []Row{
			{Trace: Trace{Name: "good.csv", Daily: true}, Checks: []Check{pass}},
			{Trace: Trace{Name: "bad.csv"}, Checks: []Check{pass, fail}},
		},
		Examples: []ExampleRow{{Example: Example{Policy: "ex.yaml"}, Checks: []Check{pass}}},
	}
	if b.Pass() {
		t.Fatal("a board with a failed check passes")
	}
	if missed, total := b.Missed(); missed != 1 || total != 4 {
		t.Fatalf("missed %d of %d, want 1 of 4", missed, total)
	}
	var text bytes.Buffer
	if err := b.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"good", "bad", "ex.yaml", "PASS under-provisioned 0.50× (≤ 1.1× ref)",
		"FAIL instance-hours 2.00× (≤ 1.05× ref)", "1 of 4 targets missed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text board lacks %q:\n%s", want, text.String())
		}
	}
	var md bytes.Buffer
	if err := b.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n| good | daily |", "\n| bad | other |", "\n| ex.yaml |", "FAIL instance-hours 2.00×"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown board lacks %q:\n%s", want, md.String())
		}
	}
	b.Rows[1].Checks = []Check{pass}
	if !b.Pass() {
		t.Fatal("a board of passed checks fails")
	}
	text.Reset()
	if err := b.WriteText(&text); err != nil || !strings.Contains(text.String(), "all targets met") {
		t.Fatalf("verdict: %v\n%s", err, text.String())
	}
}

// TestTracesAreBundled: every scoreboard trace and example is in the
// repository, so the scoreboard runs on a clean clone, and the classes are
// the (seven daily, five not).
func TestTracesAreBundled(t *testing.T) {
	seen := map[string]bool{}
	daily := 0
	for _, tr := range Traces() {
		if seen[tr.Name] {
			t.Errorf("%s listed twice", tr.Name)
		}
		seen[tr.Name] = true
		if tr.Daily {
			daily++
		}
		if _, err := os.Stat(filepath.Join("..", "..", "..", "examples", "traces", tr.Name)); err != nil {
			t.Error(err)
		}
	}
	if len(seen) != 12 || daily != 7 {
		t.Errorf("%d traces, %d daily; want 12 and 7", len(seen), daily)
	}
	for _, ex := range Examples() {
		for _, f := range []string{filepath.Join("policies", ex.Policy), filepath.Join("traces", ex.Trace)} {
			if _, err := os.Stat(filepath.Join("..", "..", "..", "examples", f)); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestReplaySummaries: the board's figures come out the same whether the
// replays keep their timelines (for a report) or not.
func TestReplaySummaries(t *testing.T) {
	tr := Trace{Name: "synthetic", Type: policy.MetricRequestRate, Daily: true}
	s := simulate.Series{Values: [][]float64{make([]float64, 3*1440)}}
	for i := range s.Values[0] {
		s.Times = append(s.Times, int64(i)*int64(time.Minute))
		s.Values[0][i] = 100 + 80*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%5)
	}
	full, err := Replay(tr, s)
	if err != nil {
		t.Fatal(err)
	}
	lean, err := ReplaySummaries(tr, s)
	if err != nil {
		t.Fatal(err)
	}
	if Score(tr, lean).Baseline != Score(tr, full).Baseline || lean.Off.Summary != full.Off.Summary ||
		lean.Forecast.Summary != full.Forecast.Summary {
		t.Fatalf("summaries differ:\n%+v\n%+v", Score(tr, lean), Score(tr, full))
	}
	if full.Forecast.Summary.Actions() == 0 || full.Forecast.Rows == nil || lean.Forecast.Rows != nil || lean.Baseline.Rows != nil {
		t.Fatalf("%d actions; timelines kept: full %v, summaries only %v", full.Forecast.Summary.Actions(),
			full.Forecast.Rows != nil, lean.Forecast.Rows != nil)
	}
}
