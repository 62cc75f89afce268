package simulate

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/capstan-io/capstan/policy"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func testPolicy(m policy.Metric) policy.Policy {
	return policy.Policy{
		ID: "sim", Target: policy.Target{Provider: "fake", Group: "g"}, Min: 1, Max: 50,
		Warmup: policy.Duration(2 * time.Minute), EvaluationInterval: policy.Duration(time.Minute),
		Metrics: []policy.Metric{m}, StaleAfter: policy.Duration(5 * time.Minute),
		Predictive: policy.Predictive{Mode: policy.PredictOff},
	}
}

// series builds a one-metric series of one-minute samples.
func series(values ...float64) Series {
	s := Series{Times: make([]int64, len(values)), Values: [][]float64{values}}
	for i := range values {
		s.Times[i] = t0 + int64(i)*int64(time.Minute)
	}
	return s
}

func TestGroupWarmupAndScaleIn(t *testing.T) {
	var g group
	g.resize(0, 3, 0) // no warmup: ready at once
	if g.desired != 3 || g.ready != 3 {
		t.Fatalf("got %+v", g)
	}
	g.resize(10, 6, 100)
	g.advance(109)
	if g.ready != 3 {
		t.Fatalf("ready %d before warmup ends, want 3", g.ready)
	}
	g.advance(110)
	if g.ready != 6 {
		t.Fatalf("ready %d after warmup, want 6", g.ready)
	}
	g.resize(200, 9, 100)
	g.resize(201, 7, 100) // removes two booting instances, keeps ready ones
	if g.ready != 6 || g.desired != 7 || len(g.pending)-g.head != 1 {
		t.Fatalf("after removing booting instances: %+v", g)
	}
	g.resize(202, 4, 100) // the last booting one, then two ready ones
	if g.ready != 4 || g.desired != 4 || len(g.pending) != g.head {
		t.Fatalf("after removing ready instances: %+v", g)
	}
}

func TestRunRequestRate(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	// Demand doubles at minute 2; the new instances are ready two minutes later.
	res, err := Run(Config{Policy: p}, series(200, 200, 400, 400, 400, 400))
	if err != nil {
		t.Fatal(err)
	}
	wantDesired := []int32{2, 2, 4, 4, 4, 4}
	wantReady := []int32{2, 2, 2, 2, 4, 4}
	for i := range wantDesired {
		if res.Desired[i] != wantDesired[i] || res.Ready[i] != wantReady[i] {
			t.Fatalf("sample %d: desired %d ready %d, want %d %d", i, res.Desired[i], res.Ready[i], wantDesired[i], wantReady[i])
		}
	}
	s := res.Summary
	if s.Samples != 6 || s.ScaleOuts != 1 || s.ScaleIns != 0 || s.UnderProvisionedSamples != 2 || s.PeakSize != 4 {
		t.Fatalf("summary %+v", s)
	}
	// 2 instances for 2 minutes, 4 for 4 minutes (the last sample lasts one step).
	if want := (2*2 + 4*4) / 60.0; math.Abs(s.InstanceHours-want) > 1e-9 {
		t.Fatalf("instance-hours %v, want %v", s.InstanceHours, want)
	}
	if s.Evaluations != 6 {
		t.Fatalf("evaluations %d, want 6 (interval equals the trace step)", s.Evaluations)
	}
	if r := res.Rows[2]; r.Action != policy.ActionScaleOut || r.From != 2 || r.To != 4 {
		t.Fatalf("row 2: %+v", r)
	}
}

func TestRunEvaluatesBetweenSamples(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.EvaluationInterval = policy.Duration(10 * time.Second)
	res, err := Run(Config{Policy: p}, series(100, 100, 100))
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Evaluations != 13 { // 3 samples + 5 steps in each of 2 gaps
		t.Fatalf("evaluations %d, want 13", res.Summary.Evaluations)
	}
}

func TestRunCPULoadModel(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "cpu", Type: policy.MetricCPU, Target: 50})
	p.Warmup = 0
	// Recorded at 80 % on 5 instances = 400 percent-instances of demand.
	res, err := Run(Config{Policy: p, InitialSize: 5, RecordedSize: 5}, series(80, 80, 80))
	if err != nil {
		t.Fatal(err)
	}
	if res.Observed[0][0] != 80 {
		t.Fatalf("first observation %v, want 80 on the recorded size", res.Observed[0][0])
	}
	if res.Desired[0] != 8 || res.Observed[0][1] != 50 {
		t.Fatalf("desired %d then utilization %v: want 8 instances at 50 %%", res.Desired[0], res.Observed[0][1])
	}
	if res.Needed[0] != 8 {
		t.Fatalf("needed %d, want 8", res.Needed[0])
	}
	// Utilization is capped at 100 % when the group is far too small.
	res, err = Run(Config{Policy: p, InitialSize: 1, RecordedSize: 5}, series(80))
	if err != nil {
		t.Fatal(err)
	}
	if res.Observed[0][0] != 100 {
		t.Fatalf("utilization %v on 1 instance, want capped at 100", res.Observed[0][0])
	}
}

func TestRunMissingSamplesGoStale(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.StaleAfter = policy.Duration(90 * time.Second)
	nan := math.NaN()
	res, err := Run(Config{Policy: p, InitialSize: 8}, series(800, nan, nan, 100, 100))
	if err != nil {
		t.Fatal(err)
	}
	// At minute 2 the last sample is two minutes old: stale, so no scale-in.
	if res.Desired[2] != 8 || !res.Rows[2].Stale {
		t.Fatalf("desired %d stale %v at minute 2, want a stale hold at 8", res.Desired[2], res.Rows[2].Stale)
	}
	if res.Desired[3] != 1 {
		t.Fatalf("desired %d once fresh data arrives, want 1", res.Desired[3])
	}
	if res.Summary.StaleSamples == 0 {
		t.Fatal("stale samples not counted")
	}
}

func TestRunErrors(t *testing.T) {
	rps := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	cpu := testPolicy(policy.Metric{Name: "cpu", Type: policy.MetricCPU, Target: 50})
	predicting := rps
	predicting.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(3 * time.Minute), Season: policy.Season{Auto: true}, History: policy.Duration(7 * 24 * time.Hour)}
	// Three samples a minute apart and one 2 million minutes later: the
	// forecasting window would need millions of empty steps.
	sparse := Series{Times: []int64{t0, t0 + int64(time.Minute), t0 + 2*int64(time.Minute), t0 + 2e6*int64(time.Minute)}, Values: [][]float64{{1, 2, 3, 4}}}
	tests := []struct {
		name string
		cfg  Config
		s    Series
		want error
	}{
		{"empty", Config{Policy: rps}, Series{}, ErrNoSamples},
		{"too many columns", Config{Policy: rps}, Series{Times: []int64{1}, Values: [][]float64{{1}, {2}}}, ErrShape},
		{"short column", Config{Policy: rps}, Series{Times: []int64{1, 2}, Values: [][]float64{{1}}}, ErrShape},
		{"cpu without recorded size", Config{Policy: cpu}, series(50), ErrRecordedSize},
		{"too sparse to forecast from", Config{Policy: predicting}, sparse, ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(tc.cfg, tc.s); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMedianStep(t *testing.T) {
	times := []int64{0, 60, 120, 240, 300, 360} // one gap of two steps
	if got := medianStep(times); got != 60 {
		t.Fatalf("median step %v, want 60ns", got)
	}
	if got := medianStep([]int64{5}); got != time.Minute {
		t.Fatalf("single sample step %v, want a minute", got)
	}
}

// TestRunBaselineKeepsItsOwnRules: the reference replays on the same group
// and load model but with its own fixed pacing. The policy here would hold
// every scale-in for 15 minutes and forbid one for 10 minutes after an
// action; the reference scales in 300 s after the peak, whatever the policy
// says, and never forecasts.
func TestRunBaselineKeepsItsOwnRules(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.Tolerance = 0.1
	p.ScaleIn = policy.ScaleIn{Cooldown: policy.Duration(10 * time.Minute), Stabilization: policy.Duration(15 * time.Minute)}
	p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(3 * time.Minute), Season: policy.Season{Auto: true},
		History: policy.Duration(7 * 24 * time.Hour)}
	nan := math.NaN()
	// 8 instances' worth for a minute, then 2; one sample missing.
	s := series(200, 800, 200, 200, nan, 200, 200, 200, 200, 200)
	res, err := RunBaseline(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	wantDesired := []int32{2, 6, 6, 6, 6, 6, 6, 2, 2, 2}
	wantReady := []int32{2, 2, 2, 6, 6, 6, 6, 2, 2, 2}
	for i := range wantDesired {
		if res.Desired[i] != wantDesired[i] || res.Ready[i] != wantReady[i] {
			t.Fatalf("sample %d: desired %d ready %d, want %d %d", i, res.Desired[i], res.Ready[i], wantDesired[i], wantReady[i])
		}
	}
	if res.Forecast != nil {
		t.Fatal("the reference made forecasts")
	}
	if r := res.Rows[1]; r.Action != policy.ActionScaleOut || r.Bound != policy.LimitRateLimit || r.To != 6 {
		t.Fatalf("row 1: %+v, want a scale-out to 6 bound by the scale-up limit", r)
	}
	if r := res.Rows[6]; r.Bound != policy.LimitStabilization {
		t.Fatalf("row 6: %+v, want held by stabilization", r)
	}
	if r := res.Rows[7]; r.Action != policy.ActionScaleIn || r.To != 2 {
		t.Fatalf("row 7: %+v, want the scale-in 300 s after the peak's recommendation", r)
	}
	sum := res.Summary
	if sum.ScaleOuts != 1 || sum.ScaleIns != 1 || sum.UnderProvisionedSamples != 1 || sum.StaleSamples != 0 {
		t.Fatalf("summary %+v", sum)
	}
	// The policy itself is still bound by its own 15-minute hold.
	own, err := Run(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	if own.Desired[9] <= 2 {
		t.Fatalf("the policy scaled in to %d within its stabilization window", own.Desired[9])
	}
}

// TestRunBaselineCPU: the reference sees cpu through the same load model
// (utilization of the ready instances) and scales from the ready count.
func TestRunBaselineCPU(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "cpu", Type: policy.MetricCPU, Target: 50})
	p.Warmup = 0
	res, err := RunBaseline(Config{Policy: p, InitialSize: 5, RecordedSize: 5}, series(80, 80, 80))
	if err != nil {
		t.Fatal(err)
	}
	if res.Desired[0] != 8 || res.Observed[0][1] != 50 || res.Desired[2] != 8 {
		t.Fatalf("desired %v, utilization %v: want 8 instances at 50 %%", res.Desired, res.Observed[0])
	}
	if _, err := RunBaseline(Config{Policy: p}, series(80)); !errors.Is(err, ErrRecordedSize) {
		t.Fatalf("error %v, want ErrRecordedSize", err)
	}
}

func TestActionsPerDay(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.ScaleIn = policy.ScaleIn{}
	// Six hours of samples, one an hour: 2 → 4 → 2 → 4 is three actions in
	// a quarter of a day (the last sample lasts one step).
	s := Series{Times: make([]int64, 6), Values: [][]float64{{200, 400, 200, 400, 400, 400}}}
	for i := range s.Times {
		s.Times[i] = t0 + int64(i)*int64(time.Hour)
	}
	p.StaleAfter = policy.Duration(2 * time.Hour)
	p.EvaluationInterval = policy.Duration(time.Hour)
	p.Warmup = 0
	res, err := Run(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Summary; got.ScaleOuts+got.ScaleIns != 3 || math.Abs(got.ActionsPerDay-12) > 1e-9 {
		t.Fatalf("%d actions, %v per day; want 3 and 12", got.ScaleOuts+got.ScaleIns, got.ActionsPerDay)
	}
}

// TestRunBaselineIgnoresThePolicysPacing: the reference reads from the
// policy only min, max, warmup, the evaluation interval and the metrics;
// changing anything else leaves its decisions unchanged, and changing one
// of those changes them. (The policy's tolerance still scores
// under-provisioning, for every run alike.)
func TestRunBaselineIgnoresThePolicysPacing(t *testing.T) {
	base := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	base.Tolerance = 0.1
	vals := make([]float64, 240)
	for i := range vals {
		vals[i] = 600 + 500*math.Sin(float64(i)/20) + float64(i%7*30)
	}
	s := series(vals...)
	ref, err := RunBaseline(Config{Policy: base}, s)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Summary.ScaleIns == 0 || ref.Summary.ScaleOuts == 0 {
		t.Fatalf("the trace should make the reference act both ways: %+v", ref.Summary)
	}
	tests := []struct {
		name    string
		change  func(p *policy.Policy)
		changes bool
	}{
		{"tolerance", func(p *policy.Policy) { p.Tolerance = 0.5 }, false},
		{"stabilization and cooldowns", func(p *policy.Policy) {
			p.ScaleIn = policy.ScaleIn{Cooldown: policy.Duration(time.Hour), Stabilization: policy.Duration(time.Hour),
				MaxStep: policy.MaxStep{Instances: 1, Period: policy.Duration(time.Hour)}}
			p.ScaleOut = policy.ScaleOut{Cooldown: policy.Duration(time.Hour), MaxStep: policy.MaxStep{Instances: 1, Period: policy.Duration(time.Hour)}}
		}, false},
		{"prediction", func(p *policy.Policy) {
			p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(10 * time.Minute),
				Season: policy.Season{Auto: true}, History: policy.Duration(7 * 24 * time.Hour)}
		}, false},
		{"stale_after and fallback", func(p *policy.Policy) { p.StaleAfter = policy.Duration(time.Minute); p.FallbackSize = 40 }, false},
		{"target", func(p *policy.Policy) {
			p.Metrics = []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: 50}}
		}, true},
		{"max", func(p *policy.Policy) { p.Max = 5 }, true},
		{"warmup", func(p *policy.Policy) { p.Warmup = policy.Duration(20 * time.Minute) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			p.Metrics = append([]policy.Metric(nil), base.Metrics...)
			tt.change(&p)
			got, err := RunBaseline(Config{Policy: p}, s)
			if err != nil {
				t.Fatal(err)
			}
			same := got.Summary.ScaleOuts == ref.Summary.ScaleOuts && got.Summary.ScaleIns == ref.Summary.ScaleIns &&
				got.Summary.InstanceHours == ref.Summary.InstanceHours
			for i := range got.Desired {
				same = same && got.Desired[i] == ref.Desired[i] && got.Ready[i] == ref.Ready[i]
			}
			if same == tt.changes {
				t.Fatalf("changing %s: run changed = %v, want %v (%+v vs %+v)", tt.name, !same, tt.changes, got.Summary, ref.Summary)
			}
		})
	}
}

// TestRunCountsReversalsAndDamping checks the summary's churn counts: a
// demand that swings every few minutes reverses the group's direction
// (counted as the events show it) until anti-flapping holds scale-ins
// back; a demand that only rises and falls once reverses once and is never
// damped. The HPA reference's reversals count the same way, and it is
// never damped.
func TestRunCountsReversalsAndDamping(t *testing.T) {
	swing := make([]float64, 240)
	peak := make([]float64, 240)
	for i := range swing {
		swing[i] = 300
		if (i/4)%2 == 1 {
			swing[i] = 900
		}
		peak[i] = 300
		if i >= 60 && i < 120 {
			peak[i] = 900
		}
	}
	tests := []struct {
		name       string
		values     []float64
		wantDamped bool
	}{
		{"swinging demand", swing, true},
		{"one peak", peak, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
			p.ScaleIn.Stabilization = policy.Duration(time.Minute)
			for _, r := range []struct {
				name       string
				run        func(Config, Series) (*Result, error)
				wantDamped bool
			}{{"policy", Run, tc.wantDamped}, {"hpa", RunBaseline, false}} {
				res, err := r.run(Config{Policy: p}, series(tc.values...))
				if err != nil {
					t.Fatal(err)
				}
				flips := 0
				for i := 1; i < len(res.Events); i++ {
					up, wasUp := res.Events[i].To > res.Events[i].From, res.Events[i-1].To > res.Events[i-1].From
					if up != wasUp {
						flips++
					}
				}
				s := res.Summary
				if s.Reversals != flips {
					t.Fatalf("%s: reversals %d, the events show %d", r.name, s.Reversals, flips)
				}
				if r.name == "policy" && flips == 0 {
					t.Fatalf("policy: no reversal: the demand does not exercise the count")
				}
				if (s.Damped > 0) != r.wantDamped {
					t.Fatalf("%s: damped decisions %d, want damping %v", r.name, s.Damped, r.wantDamped)
				}
			}
		})
	}
}

// TestRunHandsOverFinishedRows: Config.Rows is called every RowsChunk
// samples, every RowsTail samples over the last RowsChunk (so a writer
// following the rows has few left when the replay ends) and once at the
// end, and every entry below done is already what the finished Result
// holds, so a writer may format it while the replay goes on.
func TestRunHandsOverFinishedRows(t *testing.T) {
	// tail is every multiple of RowsTail from from to to.
	tail := func(from, to int) []int {
		var d []int
		for k := from; k <= to; k += RowsTail {
			d = append(d, k)
		}
		return d
	}
	tests := []struct {
		name  string
		n     int
		dones []int
	}{
		{"shorter than a stretch of the tail", RowsTail - 1, []int{RowsTail - 1}},
		{"shorter than a chunk", 1000, []int{256, 512, 768, 1000}},
		{"exactly one chunk", RowsChunk, tail(RowsTail, RowsChunk)},
		{"two chunks and a bit", 2*RowsChunk + 5, append(append([]int{RowsChunk}, tail(RowsChunk+RowsTail, 2*RowsChunk)...), 2*RowsChunk+5)},
		{"a tail on a stretch's bound", 2*RowsChunk + RowsTail, append(append([]int{RowsChunk}, tail(RowsChunk+2*RowsTail, 2*RowsChunk)...), 2*RowsChunk+RowsTail)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values := make([]float64, tc.n)
			for i := range values {
				values[i] = 300 + 250*math.Sin(2*math.Pi*float64(i)/360) // scales out and in
			}
			p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
			p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(3 * time.Minute),
				Season: policy.Season{Period: 6 * time.Hour}, History: policy.Duration(24 * time.Hour)}
			type seen struct {
				desired, ready, needed int32
				observed, forecast     float64
				row                    Row
			}
			var got []seen
			var dones []int
			cfg := Config{Policy: p, Rows: func(r *Result, done int) {
				dones = append(dones, done)
				for i := len(got); i < done; i++ {
					got = append(got, seen{r.Desired[i], r.Ready[i], r.Needed[i], r.Observed[0][i], r.Forecast[0][i], r.Rows[i]})
				}
			}}
			res, err := Run(cfg, series(values...))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dones, tc.dones) {
				t.Fatalf("Rows called with %v, want %v", dones, tc.dones)
			}
			if res.Summary.Actions() == 0 {
				t.Fatal("no actions: the test does not exercise changing rows")
			}
			for i, s := range got {
				want := seen{res.Desired[i], res.Ready[i], res.Needed[i], res.Observed[0][i], res.Forecast[0][i], res.Rows[i]}
				if s != want && !(math.IsNaN(s.forecast) && math.IsNaN(want.forecast)) {
					t.Fatalf("sample %d handed over as %+v, ended as %+v", i, s, want)
				}
			}
		})
	}
	if _, err := Run(Config{Policy: testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 1}),
		Rows: func(*Result, int) { t.Fatal("Rows called by a failing run") }}, Series{}); err == nil {
		t.Fatal("no error for an empty series")
	}
}

// TestSummaryOnly: a replay that keeps no timeline scores exactly as one
// that does, for the policy with prediction on and off and for the HPA
// reference, and keeps none of the per-sample slices.
func TestSummaryOnly(t *testing.T) {
	tests := []struct {
		ex   example
		mode policy.PredictiveMode
		hpa  bool
	}{
		{examples[0], policy.PredictForecastAndScale, false},
		{examples[0], policy.PredictOff, false},
		{examples[0], policy.PredictOff, true},
		{examples[2], policy.PredictForecastAndScale, false}, // cpu: demand follows the group
		{examples[4], policy.PredictForecastAndScale, false}, // 5-minute samples, stale between them
	}
	for _, tc := range tests {
		t.Run(tc.ex.policy+"/"+string(tc.mode)+map[bool]string{true: "/hpa"}[tc.hpa], func(t *testing.T) {
			p, s := loadExample(t, tc.ex)
			if n := 1500; len(s.Times) > n { // five days of 5-minute samples: enough to act, quick
				s = Series{Times: s.Times[:n], Values: [][]float64{s.Values[0][:n]}}
			}
			p.Predictive.Mode = tc.mode
			run := Run
			if tc.hpa {
				run = RunBaseline
			}
			full, err := run(Config{Policy: p, RecordedSize: tc.ex.recorded}, s)
			if err != nil {
				t.Fatal(err)
			}
			called := false
			lean, err := run(Config{Policy: p, RecordedSize: tc.ex.recorded, SummaryOnly: true,
				Rows: func(*Result, int) { called = true }}, s)
			if err != nil {
				t.Fatal(err)
			}
			if lean.Summary != full.Summary {
				t.Fatalf("summary only %+v, with the timeline %+v", lean.Summary, full.Summary)
			}
			if full.Summary.Actions() == 0 || full.Summary.UnderProvisionedSamples == 0 {
				t.Fatalf("%+v: no actions or no under-provisioning to compare", full.Summary)
			}
			if lean.Observed != nil || lean.Forecast != nil || lean.Rows != nil || lean.Under != nil || lean.Desired != nil ||
				lean.Events != nil || lean.Needed != nil || called {
				t.Fatalf("a summary-only run kept its timeline (Rows called: %v)", called)
			}
			if len(lean.Times) != len(s.Times) {
				t.Fatalf("%d times, want %d", len(lean.Times), len(s.Times))
			}
		})
	}
}

// TestRowSize: a timeline keeps one Row per sample, so Row stays at 12
// bytes (it was 32 with int sizes and a flag after them).
func TestRowSize(t *testing.T) {
	if n := unsafe.Sizeof(Row{}); n != 12 {
		t.Fatalf("Row takes %d bytes, want 12", n)
	}
}

// TestRunKeepsWeeklyParts: the timeline's Weekly holds each decision's
// weekly part of its forecast: NaN through the first two weeks (the
// adjustment cannot act before it has predicted a week of hours), then
// set at samples with a forecast on a series whose sixth and seventh days
// are quieter; never without a forecast; nil with prediction off.
func TestRunKeepsWeeklyParts(t *testing.T) {
	const perDay = 48 // 30-minute samples
	values := make([]float64, 5*7*perDay)
	for i := range values {
		values[i] = 1000 + 600*math.Sin(2*math.Pi*float64(i)/perDay)
		if (i/perDay)%7 >= 5 {
			values[i] *= 0.7
		}
	}
	s := Series{Times: make([]int64, len(values)), Values: [][]float64{values}}
	for i := range values {
		s.Times[i] = t0 + int64(i)*int64(30*time.Minute)
	}
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.EvaluationInterval, p.StaleAfter = policy.Duration(30*time.Minute), policy.Duration(time.Hour)
	p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(30 * time.Minute),
		Season: policy.Season{Period: 24 * time.Hour}, History: policy.Duration(7 * 24 * time.Hour)}
	res, err := Run(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	acted := 0
	for i, w := range res.Weekly[0] {
		switch {
		case math.IsNaN(w):
		case i < 14*perDay:
			t.Fatalf("sample %d (day %d): weekly part %v before two weeks of data", i, i/perDay, w)
		case math.IsNaN(res.Forecast[0][i]):
			t.Fatalf("sample %d: weekly part %v without a forecast", i, w)
		default:
			acted++
		}
	}
	if acted < 7*perDay {
		t.Fatalf("the weekly adjustment acted at %d samples of the last three weeks, want at least a week's", acted)
	}
	t.Logf("the weekly adjustment acted at %d of %d samples", acted, len(values))
	p.Predictive.Mode = policy.PredictOff
	if res, err := Run(Config{Policy: p}, s); err != nil || res.Weekly != nil {
		t.Fatalf("prediction off: weekly %v, %v; want nil", res.Weekly, err)
	}
}

// TestRunKeepsSeasonScale: the timeline's SeasonScale holds the factor
// each decision's forecast scaled its season by: on five days of
// 1-minute samples whose daily swing is a share of a level that grows
// 15 % a day (the backtest chooses a scaled season), a factor within
// [0.25, 4] at samples with a forecast once the model is built, never
// without a forecast or before a day of data, and above 1.05 somewhere as the level
// grows past the one the season was built at; nil with prediction off.
func TestRunKeepsSeasonScale(t *testing.T) {
	const perDay = 1440
	day := func(i int) float64 { // quiet nights, a busy day from 08:00 to 20:00
		if m := i % perDay; m >= 8*60 && m < 20*60 {
			return 1.6
		}
		return 0.4
	}
	growth := func(i int) float64 { return 1000 * math.Pow(1.15, float64(i)/perDay) }
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.EvaluationInterval, p.StaleAfter = policy.Duration(time.Minute), policy.Duration(5*time.Minute)
	p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(3 * time.Minute),
		Season: policy.Season{Period: 24 * time.Hour}, History: policy.Duration(2 * 24 * time.Hour)}
	run := func(f func(i int) float64) *Result {
		values := make([]float64, 5*perDay)
		s := Series{Times: make([]int64, len(values)), Values: [][]float64{values}}
		for i := range values {
			values[i] = f(i)
			s.Times[i] = t0 + int64(i)*int64(time.Minute)
		}
		res, err := Run(Config{Policy: p}, s)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := run(func(i int) float64 { return growth(i) * day(i) })
	scaled, above := 0, false
	for i, k := range res.SeasonScale[0] {
		switch {
		case math.IsNaN(k):
		case math.IsNaN(res.Forecast[0][i]):
			t.Fatalf("sample %d: factor %v without a forecast", i, k)
		case k < 0.25 || k > 4:
			t.Fatalf("sample %d: factor %v outside [0.25, 4]", i, k)
		default:
			scaled++
			above = above || k > 1.05
		}
	}
	if scaled < perDay || !above {
		t.Fatalf("a scaled season at %d samples, above 1.05 at any: %v; want at least a day's and some", scaled, above)
	}
	t.Logf("a scaled season at %d of %d samples", scaled, len(res.SeasonScale[0]))
	if i := slices.IndexFunc(res.SeasonScale[0], func(k float64) bool { return !math.IsNaN(k) }); i < perDay {
		t.Fatalf("the first factor at sample %d, before a day, the season it needs", i)
	}
	p.Predictive.Mode = policy.PredictOff
	if res := run(day); res.SeasonScale != nil {
		t.Fatalf("prediction off: season_scale %v, want nil", res.SeasonScale)
	}
}
