package recommend

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

func testPolicy() policy.Policy {
	p := policy.Policy{
		ID: "rec", Target: policy.Target{Provider: "fake", Group: "g"}, Min: 1, Max: 40,
		Metrics: []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: 100}},
	}
	p.ApplyDefaults(func(string) bool { return false })
	p.Warmup = policy.Duration(2 * time.Minute)
	p.EvaluationInterval = policy.Duration(time.Minute)
	p.StaleAfter = policy.Duration(3 * time.Minute)
	p.Predictive.Lead = p.Warmup
	p.Predictive.History = policy.Duration(24 * time.Hour)
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return p
}

// dailyTrace is days of one-minute samples of a daily cycle between
// 200 and 1,800 requests/s with a short spike every afternoon.
func dailyTrace(days int) simulate.Series {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()
	n := days * 1440
	s := simulate.Series{Times: make([]int64, n), Values: [][]float64{make([]float64, n)}}
	for i := range n {
		s.Times[i] = t0 + int64(i)*int64(time.Minute)
		minute := i % 1440
		v := 1000 - 800*math.Cos(2*math.Pi*float64(minute)/1440)
		if minute >= 900 && minute < 915 {
			v += 600
		}
		s.Values[0][i] = v
	}
	return s
}

func TestFront(t *testing.T) {
	c := func(under int, hours float64) Candidate {
		return Candidate{Summary: simulate.Summary{UnderProvisionedSamples: under, InstanceHours: hours}}
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  []int
	}{
		{"one", []Candidate{c(3, 10)}, []int{0}},
		{"trade-off kept, dominated dropped", []Candidate{c(10, 100), c(0, 200), c(5, 150), c(6, 160), c(10, 120)}, []int{0, 2, 1}},
		{"equal points both kept", []Candidate{c(1, 50), c(1, 50), c(0, 60)}, []int{0, 1, 2}},
		{"same cost, less under wins", []Candidate{c(4, 50), c(2, 50)}, []int{1}},
		{"one dominates all", []Candidate{c(5, 80), c(0, 10), c(2, 30)}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Front(tt.cands); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Front = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	c := func(under int, hours, perDay float64) Candidate {
		return Candidate{Summary: simulate.Summary{UnderProvisionedSamples: under, InstanceHours: hours, ActionsPerDay: perDay}}
	}
	cur := simulate.Summary{UnderProvisionedSamples: 10, InstanceHours: 100, ActionsPerDay: 10}
	tests := []struct {
		name  string
		cands []Candidate
		want  int
	}{
		{"cheapest no worse", []Candidate{c(10, 90, 10), c(5, 95, 10), c(11, 50, 10)}, 0},
		{"churn over 1.5x excluded", []Candidate{c(10, 80, 16), c(10, 90, 15)}, 1},
		{"tie on cost: less under", []Candidate{c(8, 90, 10), c(3, 90, 10)}, 1},
		{"tie on both: fewer actions", []Candidate{c(8, 90, 12), c(8, 90, 11)}, 1},
		{"none cheaper but less under", []Candidate{c(2, 100, 10)}, 0},
		{"nothing better: keep", []Candidate{c(10, 100, 10), c(12, 50, 10), c(1, 130, 10)}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(cur, tt.cands); got != tt.want {
				t.Fatalf("pick = %d, want %d", got, tt.want)
			}
		})
	}
	// A quiet policy (0 actions a day) may gain one.
	if got := pick(simulate.Summary{InstanceHours: 100}, []Candidate{c(0, 90, 1), c(0, 80, 1.5)}); got != 0 {
		t.Fatalf("quiet policy: pick = %d, want 0", got)
	}
}

func TestDefaultSpace(t *testing.T) {
	p := testPolicy()
	sp := DefaultSpace(p, 5)
	if sp.Size() < 100 {
		t.Fatalf("default space has %d candidates, want >= 100", sp.Size())
	}
	want := []policy.Duration{policy.Duration(150 * time.Second), policy.Duration(300 * time.Second), policy.Duration(600 * time.Second)}
	if !reflect.DeepEqual(sp.Stabilizations, want) {
		t.Fatalf("stabilizations %v, want %v", sp.Stabilizations, want)
	}
	if !reflect.DeepEqual(sp.Mins, []int{1, 5}) {
		t.Fatalf("mins %v, want [1 5]", sp.Mins)
	}
	if got := DefaultSpace(p, 0).Mins; !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("floor below min: mins %v, want [1]", got)
	}
	if got := DefaultSpace(p, 99).Mins; !reflect.DeepEqual(got, []int{1, 40}) {
		t.Fatalf("floor above max: mins %v, want [1 40]", got)
	}
	if n := len(sp.combinations(p)); n != sp.Size() {
		t.Fatalf("%d combinations for a space of %d", n, sp.Size())
	}
}

func TestApplyCopiesMetrics(t *testing.T) {
	p := testPolicy()
	p.Metrics = append(p.Metrics, policy.Metric{Name: "cpu", Type: policy.MetricCPU, Target: 90})
	q := apply(p, Settings{TargetScale: 1.2, Stabilization: p.ScaleIn.Stabilization, ScaleInCooldown: p.ScaleIn.Cooldown,
		Mode: policy.PredictOff, Lead: p.Predictive.Lead, Min: 3})
	if p.Metrics[0].Target != 100 || p.Metrics[1].Target != 90 {
		t.Fatalf("apply changed the input policy's targets: %+v", p.Metrics)
	}
	if q.Metrics[0].Target != 120 || q.Metrics[1].Target != 100 || q.Min != 3 {
		t.Fatalf("candidate targets %v %v min %d, want 120, 100 (cpu capped), 3", q.Metrics[0].Target, q.Metrics[1].Target, q.Min)
	}
	if got := roundTarget(60 * 0.9); got != 54 {
		t.Fatalf("roundTarget(60×0.9) = %v", got)
	}
}

func TestFloor(t *testing.T) {
	p := testPolicy()
	s := simulate.Series{Times: make([]int64, 10), Values: [][]float64{{50, 150, 250, 350, 450, 550, 650, 750, 850, math.NaN()}}}
	// The sorted needs are 1..9 (the NaN sample counts for nothing).
	for q, want := range map[float64]int{0: 1, 0.1: 1, 0.5: 5, 1: 9} {
		if got := Floor(p, s, 0, q); got != want {
			t.Errorf("Floor(q=%v) = %d, want %d", q, got, want)
		}
	}
	cpu := testPolicy()
	cpu.Metrics[0] = policy.Metric{Name: "cpu", Type: policy.MetricCPU, Target: 50}
	one := simulate.Series{Times: []int64{0}, Values: [][]float64{{80}}}
	if got := Floor(cpu, one, 10, 0.1); got != 16 { // 80 % of 10 instances at 50 % each
		t.Errorf("cpu Floor = %d, want 16", got)
	}
}

// TestSearch replays a small space on two days of a daily cycle and checks
// what the result promises: every candidate replayed, the front
// non-dominated and covering every candidate, and the recommendation
// obeying the rule.
func TestSearch(t *testing.T) {
	p := testPolicy()
	s := dailyTrace(2)
	sp := Space{
		TargetScales:   []float64{0.8, 1, 1.2},
		Stabilizations: []policy.Duration{policy.Duration(2 * time.Minute), policy.Duration(10 * time.Minute)},
		Predictive:     []Prediction{{Mode: policy.PredictOff}, {Mode: policy.PredictForecastAndScale, Lead: policy.Duration(5 * time.Minute)}},
		Mins:           []int{1, 30, 50}, // 50 > max: skipped
	}
	res, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 12 || len(res.Candidates) != 24 {
		t.Fatalf("%d candidates, %d skipped; want 24 and 12", len(res.Candidates), res.Skipped)
	}
	for i, c := range res.Candidates {
		if c.Summary.Samples != len(s.Times) {
			t.Fatalf("candidate %d not replayed: %+v", i, c.Summary)
		}
	}
	// The candidates differ: a 0.8× target costs more than a 1.2× one.
	on := map[int]bool{}
	for _, i := range res.Front {
		on[i] = true
		for j, c := range res.Candidates {
			if dominates(c.Summary, res.Candidates[i].Summary) {
				t.Fatalf("front point %d is dominated by %d", i, j)
			}
		}
	}
	for j, c := range res.Candidates {
		if on[j] {
			continue
		}
		dominated := false
		for _, i := range res.Front {
			f := res.Candidates[i].Summary
			dominated = dominated || dominates(f, c.Summary) || (f.InstanceHours == c.Summary.InstanceHours && f.UnderProvisionedSamples == c.Summary.UnderProvisionedSamples)
		}
		if !dominated {
			t.Fatalf("candidate %d (%+v) is off the front but nothing on it dominates it", j, c.Summary)
		}
	}
	cur := res.Current.Summary
	if res.Recommended >= 0 {
		r := res.Candidates[res.Recommended].Summary
		if r.UnderProvisionedSamples > cur.UnderProvisionedSamples || r.ActionsPerDay > max(1.5*cur.ActionsPerDay, cur.ActionsPerDay+1) {
			t.Fatalf("recommended %+v breaks the rule against current %+v", r, cur)
		}
		if !(r.InstanceHours < cur.InstanceHours || dominates(r, cur)) {
			t.Fatalf("recommended %+v is no improvement on %+v", r, cur)
		}
	}
	// The same search gives the same answer, however many workers.
	again, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if again.Recommended != res.Recommended || !reflect.DeepEqual(again.Front, res.Front) {
		t.Fatalf("1 worker: recommended %d front %v; 2 workers: %d %v", again.Recommended, again.Front, res.Recommended, res.Front)
	}
}

// TestSearchFindsCheaperTarget builds a policy that is plainly
// over-provisioned (a 2-hour scale-in stabilization on a cool target) and
// expects the search to recommend a cheaper point that is no more
// under-provisioned by the policy's own targets: a slightly cooler target
// with a shorter window, not the cheapest point (a 1.2× target, which
// under-provisions by those targets).
func TestSearchFindsCheaperTarget(t *testing.T) {
	p := testPolicy()
	p.Metrics[0].Target = 60
	p.ScaleIn.Stabilization = policy.Duration(2 * time.Hour)
	s := dailyTrace(1)
	sp := Space{TargetScales: []float64{0.9, 1.2}, Stabilizations: []policy.Duration{policy.Duration(10 * time.Minute)}}
	res, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recommended < 0 {
		t.Fatalf("no recommendation; current %+v, candidates %+v", res.Current.Summary, res.Candidates)
	}
	r := res.Candidates[res.Recommended]
	cur := res.Current.Summary
	if r.Settings.TargetScale != 0.9 || r.Summary.InstanceHours >= cur.InstanceHours || r.Summary.UnderProvisionedSamples > cur.UnderProvisionedSamples {
		t.Fatalf("recommended %+v over current %+v", r, cur)
	}
	d, err := Diff(p, r.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "@@ metrics @@") || !strings.Contains(d, "-  - {name: rps, type: request_rate, target: 60}") ||
		!strings.Contains(d, "+  - {name: rps, type: request_rate, target: 54}") {
		t.Fatalf("diff:\n%s", d)
	}
}

func TestSearchErrors(t *testing.T) {
	p := testPolicy()
	s := dailyTrace(1)
	if _, err := Search(context.Background(), simulate.Config{Policy: p}, s, Space{Mins: []int{99}}, 1); !errors.Is(err, ErrEmptySpace) {
		t.Fatalf("all candidates invalid: err %v, want ErrEmptySpace", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Search(ctx, simulate.Config{Policy: p}, s, DefaultSpace(p, 0), 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err %v, want context.Canceled", err)
	}
	if _, err := Search(context.Background(), simulate.Config{Policy: p}, simulate.Series{}, DefaultSpace(p, 0), 2); !errors.Is(err, simulate.ErrNoSamples) {
		t.Fatalf("empty trace: err %v, want ErrNoSamples", err)
	}
}

func TestDiff(t *testing.T) {
	p := testPolicy()
	q := apply(p, Settings{TargetScale: 1, Stabilization: policy.Duration(10 * time.Minute), ScaleInCooldown: p.ScaleIn.Cooldown,
		Mode: policy.PredictForecastAndScale, Lead: policy.Duration(4 * time.Minute), Min: 2})
	d, err := Diff(p, q)
	if err != nil {
		t.Fatal(err)
	}
	want := "--- current\n+++ candidate\n" +
		"@@ min @@\n-min: 1\n+min: 2\n" +
		"@@ scale_in @@\n-  stabilization: 5m\n+  stabilization: 10m\n" +
		"@@ predictive @@\n-  mode: off\n+  mode: forecast-and-scale\n-  lead: 2m\n+  lead: 4m\n"
	if d != want {
		t.Fatalf("Diff =\n%s\nwant\n%s", d, want)
	}
	if d, _ := Diff(p, p); d != "" {
		t.Fatalf("Diff of a policy with itself = %q", d)
	}
}

// TestSearchWithSchedules replays a scheduled policy's candidates in
// parallel (they share the parsed windows and what those remember of the
// calendar): the answers match a one-worker search, and every candidate
// keeps the window's minimum during it.
func TestSearchWithSchedules(t *testing.T) {
	p, err := policy.Parse([]byte(`id: rec
target: {provider: fake, group: g}
min: 1
max: 40
warmup: 2m
evaluation_interval: 1m
stale_after: 3m
metrics: [{name: rps, type: request_rate, target: 100}]
schedules: [{name: mornings, cron: "0 6 * * *", timezone: Europe/Berlin, duration: 2h, min: 25}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := dailyTrace(2)
	sp := Space{TargetScales: []float64{0.9, 1, 1.1}, Stabilizations: []policy.Duration{policy.Duration(time.Minute), policy.Duration(10 * time.Minute)}}
	one, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 1)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range one.Candidates {
		if one.Candidates[i].Summary != two.Candidates[i].Summary {
			t.Fatalf("candidate %d: %+v with one worker, %+v with two", i, one.Candidates[i].Summary, two.Candidates[i].Summary)
		}
		if peak := one.Candidates[i].Summary.PeakSize; peak < 25 {
			t.Fatalf("candidate %d peaked at %d, below the window's min 25", i, peak)
		}
	}
}

func TestAtEdge(t *testing.T) {
	m := func(d time.Duration) policy.Duration { return policy.Duration(d) }
	sp := Space{
		TargetScales:     []float64{0.8, 1, 1.2},
		Stabilizations:   []policy.Duration{m(time.Minute), m(5 * time.Minute), m(10 * time.Minute)},
		ScaleInCooldowns: []policy.Duration{m(time.Minute)},
		Predictive: []Prediction{{Mode: policy.PredictOff}, {Mode: policy.PredictForecastAndScale, Lead: m(2 * time.Minute)},
			{Mode: policy.PredictForecastAndScale, Lead: m(4 * time.Minute)}, {Mode: policy.PredictForecastAndScale, Lead: m(8 * time.Minute)}},
	}
	tests := []struct {
		name string
		st   Settings
		want []string
	}{
		{"inside", Settings{TargetScale: 1, Stabilization: m(5 * time.Minute), ScaleInCooldown: m(time.Minute), Mode: policy.PredictForecastAndScale, Lead: m(4 * time.Minute)}, nil},
		{"top target, bottom stabilization", Settings{TargetScale: 1.2, Stabilization: m(time.Minute), ScaleInCooldown: m(time.Minute), Mode: policy.PredictOff}, []string{"target", "scale_in.stabilization"}},
		{"longest lead", Settings{TargetScale: 1, Stabilization: m(5 * time.Minute), Mode: policy.PredictForecastAndScale, Lead: m(8 * time.Minute)}, []string{"predictive.lead"}},
		{"lead ignored with prediction off", Settings{TargetScale: 0.9, Stabilization: m(5 * time.Minute), Mode: policy.PredictOff, Lead: m(8 * time.Minute)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sp.AtEdge(tt.st); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AtEdge = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDiffDifferentShapes: when the two files have different lines (a
// window added), the diff shows both documents whole rather than pairing
// unrelated lines.
func TestDiffDifferentShapes(t *testing.T) {
	p := testPolicy()
	q := p
	q.Schedules = []policy.Schedule{{Name: "m", Cron: "0 8 * * *", Duration: policy.Duration(time.Hour), Min: 5}}
	d, err := Diff(p, q)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "-id: rec\n") || !strings.Contains(d, "+id: rec\n") || !strings.Contains(d, "+schedules:\n") || strings.Contains(d, "@@") {
		t.Fatalf("Diff =\n%s", d)
	}
}

// TestSearchSummariesAreFullReplays checks that Search's summary-only
// replays score the current policy and every candidate exactly as a replay
// that keeps its timeline does.
func TestSearchSummariesAreFullReplays(t *testing.T) {
	p := testPolicy()
	s := dailyTrace(2)
	sp := Space{
		TargetScales: []float64{0.8, 1.2},
		Predictive:   []Prediction{{Mode: policy.PredictOff}, {Mode: policy.PredictForecastAndScale, Lead: policy.Duration(5 * time.Minute)}},
	}
	res, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, 2)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]Candidate{res.Current}, res.Candidates...)
	bar := simulate.StoredBar(p, s)
	for i, c := range all {
		full, err := simulate.Run(simulate.Config{Policy: c.Policy, Bar: &bar}, s)
		if err != nil {
			t.Fatal(err)
		}
		if full.Rows == nil {
			t.Fatalf("candidate %d: the reference replay kept no timeline", i)
		}
		if !reflect.DeepEqual(c.Summary, full.Summary) {
			t.Fatalf("candidate %d (%+v): summary %+v, a full replay's %+v", i, c.Settings, c.Summary, full.Summary)
		}
	}
}

// TestSearchScoresAgainstCurrentTargets checks that every candidate is
// scored against the current policy's targets when the caller sets no bar
// (and against the caller's bar when it sets one), not against its own: a
// 1.2× target judged by its own looser bar counts fewer under-provisioned
// samples than it causes.
func TestSearchScoresAgainstCurrentTargets(t *testing.T) {
	p := testPolicy()
	s := dailyTrace(1)
	// A stricter bar than the policy's: half its target.
	strict := p
	strict.Metrics = []policy.Metric{p.Metrics[0]}
	strict.Metrics[0].Target = p.Metrics[0].Target / 2
	strictBar := simulate.StoredBar(strict, s)
	for _, tc := range []struct {
		name string
		bar  *simulate.Bar
		want simulate.Bar // what every replay must be scored against
	}{
		{name: "no bar: the current policy's", want: simulate.StoredBar(p, s)},
		{name: "the caller's bar", bar: &strictBar, want: strictBar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Search(context.Background(), simulate.Config{Policy: p, Bar: tc.bar}, s, Space{TargetScales: []float64{0.8, 1.2}}, 2)
			if err != nil {
				t.Fatal(err)
			}
			all := append([]Candidate{res.Current}, res.Candidates...)
			for i, c := range all {
				want, err := simulate.Run(simulate.Config{Policy: c.Policy, Bar: &tc.want, SummaryOnly: true}, s)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c.Summary, want.Summary) {
					t.Fatalf("candidate %d (%+v): summary %+v, scored against the bar %+v", i, c.Settings, c.Summary, want.Summary)
				}
			}
			// The 1.2× candidate under-provisions by the current targets
			// more than by its own: the bar is not a no-op here.
			hot := res.Candidates[1]
			own, err := simulate.Run(simulate.Config{Policy: hot.Policy, SummaryOnly: true}, s)
			if err != nil {
				t.Fatal(err)
			}
			if hot.Settings.TargetScale != 1.2 || hot.Summary.UnderProvisionedSamples <= own.Summary.UnderProvisionedSamples {
				t.Fatalf("1.2× candidate %+v: %d under-provisioned samples by the bar, %d by its own targets; want more by the bar",
					hot.Settings, hot.Summary.UnderProvisionedSamples, own.Summary.UnderProvisionedSamples)
			}
		})
	}
}
