package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// trainRamp feeds a ramp of request rate (slope per minute, with a fixed
// pseudo-random noise of the given amplitude), one sample a minute, so that
// the model learns the trend and scores enough forecasts to be trusted.
func trainRamp(p Policy, steps int, start, slope, noise float64, current int) State {
	var s State
	x := uint32(7)
	for i := 0; i < steps; i++ {
		x = x*1664525 + 1013904223
		n := (float64(x>>8)/float64(1<<24)*2 - 1) * noise
		now := t0.Add(time.Duration(i) * time.Minute)
		in := Inputs{Current: current, Ready: current}
		in.Metrics[0] = Sample{Time: now, Value: start + slope*float64(i) + n, Present: true}
		s = Evaluate(p, in, s, now).Next
	}
	return s
}

// TestForecastGuardedScaleIn checks both forecast rules on capacity that
// the stabilization window holds: released when the forecasts' upper bound
// over the lead is below it, kept when the upper bound reaches it; and that
// neither rule acts in forecast-only mode.
func TestForecastGuardedScaleIn(t *testing.T) {
	tests := []struct {
		name    string
		mode    PredictiveMode
		noise   float64
		value   float64 // the sample at the decision
		current int
		rule    ScaleInRule
		bound   Limit
	}{
		// A clean falling ramp: the forecast is sure demand keeps falling.
		{"falling ramp releases", PredictForecastAndScale, 0, 1000, 20, RuleForecastRelease, LimitNone},
		{"forecast-only records, never releases", PredictForecastOnly, 0, 1000, 20, RuleNone, LimitStabilization},
		// A noisy rise: one low sample, but the upper bound reaches the held size.
		{"noisy rise holds", PredictForecastAndScale, 150, 1400, 16, RuleForecastHold, LimitStabilization},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute)
			p.ScaleIn.Stabilization = Duration(30 * time.Minute)
			p.Predictive = Predictive{Mode: tc.mode, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
			slope := -10.0
			if tc.rule == RuleForecastHold {
				slope = 20
			}
			s := trainRamp(p, 120, 2000-120*slope, slope, tc.noise, tc.current)
			// The window holds the highest recommendation of the last 30
			// minutes; put 20 there explicitly so the test does not depend
			// on the size the training ramp recommended.
			now := t0.Add(120 * time.Minute)
			s.Recommendations = []Recommendation{{At: now.Add(-10 * time.Minute), Size: tc.current}}
			in := Inputs{Current: tc.current, Ready: tc.current}
			in.Metrics[0] = Sample{Time: now, Value: tc.value, Present: true}
			d := Evaluate(p, in, s, now)
			mp := d.Metrics[0]
			if d.ScaleInRule != tc.rule || d.Bound != tc.bound {
				t.Fatalf("rule %v bound %v, want %v %v (%s)", d.ScaleInRule, d.Bound, tc.rule, tc.bound, d.Explain(p))
			}
			if !mp.Trusted || !(mp.Upper >= mp.Forecast) {
				t.Fatalf("forecast %.1f upper %.1f trusted %v: want a trusted forecast with an upper bound", mp.Forecast, mp.Upper, mp.Trusted)
			}
			switch tc.rule {
			case RuleForecastRelease:
				if d.Desired >= tc.current || d.Desired < d.Recommended || d.Desired < d.Reactive {
					t.Fatalf("released to %d from %d: want below the hold, not below recommended %d or reactive %d", d.Desired, tc.current, d.Recommended, d.Reactive)
				}
			default:
				if d.Desired != tc.current {
					t.Fatalf("desired %d, want the held %d", d.Desired, tc.current)
				}
			}
			if r := d.Record(p); r.ScaleInRule != tc.rule || r.Metrics[0].Upper == nil {
				t.Fatalf("record rule %v upper %v: the decision record must carry both", r.ScaleInRule, r.Metrics[0].Upper)
			}
		})
	}
}

// swing is the i-th evaluation (every 30 s from t0) of a demand that swings
// between 3 and 9 instances' worth every 3 minutes, on a group of current.
func swing(i, current int) (time.Time, Inputs) {
	now := t0.Add(time.Duration(i) * 30 * time.Second)
	v := 300.0
	if (i/6)%2 == 1 {
		v = 900
	}
	in := Inputs{Current: current, Ready: current}
	in.Metrics[0] = Sample{Time: now, Value: v, Present: true}
	return now, in
}

// TestAntiFlapping drives a demand that swings between 9 and 3 instances'
// worth every 3 minutes. The first reversals go through; from the third
// within the flapping window on, a scale-in waits a growing multiple of the
// stabilization window after the last scale-out, the decision says so, and
// the number of actions falls.
func TestAntiFlapping(t *testing.T) {
	p := basePolicy()
	p.ScaleIn.Stabilization = Duration(time.Minute)
	run := func(steps int) (actions, damped, reversals int, last Decision) {
		var s State
		current := 3
		for i := 0; i < steps; i++ {
			now, in := swing(i, current)
			d := Evaluate(p, in, s, now)
			s = d.Next
			if d.Action != ActionHold {
				actions++
			}
			if d.Damped {
				damped++
				if d.Bound != LimitFlapping || d.Desired != current || d.Reversals < flapMinReversals {
					t.Fatalf("damped decision: bound %v desired %d reversals %d (%s)", d.Bound, d.Desired, d.Reversals, d.Explain(p))
				}
				if r := d.Record(p); !r.Damped || r.Bound != LimitFlapping || !strings.Contains(r.Reason, "scale-in damped") {
					t.Fatalf("the record of a damped decision does not say so: %+v", r)
				}
			}
			if d.Reversal {
				reversals++
			}
			current, last = d.Desired, d
		}
		return actions, damped, reversals, last
	}
	actions, damped, reversals, last := run(240) // two hours, 20 swings
	if damped == 0 || reversals < flapMinReversals {
		t.Fatalf("%d damped decisions, %d reversals: an oscillation of 20 swings must be damped", damped, reversals)
	}
	// Undamped, every swing is two actions: 40 in two hours.
	if actions > 30 {
		t.Fatalf("%d actions in two hours of swings, want at most 30 (of 40 undamped)", actions)
	}
	if last.Reversals > maxReversals || last.Reversals < flapMinReversals {
		t.Fatalf("%d reversals in the window at the end", last.Reversals)
	}
}

// TestAntiFlappingWaitsAtLeastAWarmup: a damped scale-in waits a multiple
// of the longer of the stabilization window and the scale-in cooldown, and
// of the warmup when that is longer. A policy that scales in at once
// (stabilization 0, no cooldown) used to wait 0 s, so a group swinging
// every 3 minutes was never damped; one whose window is shorter than the
// warmup released capacity that had not come up yet.
func TestAntiFlappingWaitsAtLeastAWarmup(t *testing.T) {
	tests := []struct {
		name                    string
		stabilization, cooldown time.Duration
		warmup                  time.Duration
		unit                    time.Duration // what a damped scale-in waits per reversal
	}{
		{"scales in at once", 0, 0, 3 * time.Minute, 3 * time.Minute},
		{"window shorter than the warmup", time.Minute, 0, 3 * time.Minute, 3 * time.Minute},
		{"cooldown longer than the warmup", 0, 4 * time.Minute, 2 * time.Minute, 4 * time.Minute},
		{"window longer than the warmup", 2 * time.Minute, 0, time.Minute, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.ScaleIn.Stabilization, p.ScaleIn.Cooldown, p.Warmup = Duration(tc.stabilization), Duration(tc.cooldown), Duration(tc.warmup)
			var s State
			current, damped := 3, 0
			for i := 0; i < 480; i++ { // four hours, a swing every 3 minutes
				now, in := swing(i, current)
				// The reversals that count at this evaluation, as Evaluate prunes them.
				n := 0
				for _, r := range s.Reversals {
					if r.After(now.Add(-flapWindow(&p))) {
						n++
					}
				}
				lastOut := s.LastScaleOut
				d := Evaluate(p, in, s, now)
				s = d.Next
				if d.Damped {
					damped++
				}
				if d.Action == ActionScaleIn && n >= flapMinReversals {
					wait := time.Duration(1+min(n, flapMaxFactor)) * tc.unit
					if now.Sub(lastOut) < wait {
						t.Fatalf("scale-in at %v, %v after the last scale-out with %d reversals: want at least %v (%s)",
							now.Sub(t0), now.Sub(lastOut), n, wait, d.Explain(p))
					}
				}
				current = d.Desired
			}
			if damped == 0 {
				t.Fatalf("no damped decision in four hours of swings every 3 minutes")
			}
		})
	}
}

// TestForecastHoldsUntilItsTarget: capacity a forecast raised the
// recommendation to is held until the time it was bought for (now plus the
// lead), also where the stabilization window is shorter than the lead; with
// a window of 0 it used to be shed at the next evaluation. A window at
// least the lead holds it as before (the entry dated now).
func TestForecastHoldsUntilItsTarget(t *testing.T) {
	const lead = 5 * time.Minute
	tests := []struct {
		name   string
		window time.Duration
		holdTo time.Duration // after the raise: the entry leaves the window then
	}{
		{"no window", 0, lead},
		{"window shorter than the lead", 2 * time.Minute, lead},
		{"window longer than the lead", 10 * time.Minute, 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute)
			p.ScaleIn.Stabilization = Duration(tc.window)
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(lead), History: Duration(24 * time.Hour)}
			// A clean rising ramp: the trusted forecast raises the recommendation.
			var s State
			var raisedAt time.Time
			var raised Decision
			current := 20
			for i := 0; i < 180 && raisedAt.IsZero(); i++ {
				now := t0.Add(time.Duration(i) * time.Minute)
				in := Inputs{Current: current, Ready: current}
				in.Metrics[0] = Sample{Time: now, Value: 1000 + 20*float64(i), Present: true}
				d := Evaluate(p, in, s, now)
				s = d.Next
				current = d.Desired
				if i >= 120 && d.UsedForecast && d.Recommended > d.Reactive {
					raisedAt, raised = now, d
				}
			}
			if raisedAt.IsZero() {
				t.Fatal("no trusted forecast raised the recommendation on a clean ramp")
			}
			q := s.Recommendations
			if len(q) == 0 || q[0].Size != raised.Recommended {
				t.Fatalf("window %v after a raise to %d: %+v, want it at the front", tc.window, raised.Recommended, q)
			}
			if got := q[0].At.Add(tc.window).Sub(raisedAt); got != tc.holdTo {
				t.Fatalf("the raise leaves the window %v after it, want %v", got, tc.holdTo)
			}
			// Demand falls away and prediction is switched off: the hold
			// alone keeps the raised size until the target time.
			p.Predictive.Mode = PredictOff
			for m := time.Minute; m <= tc.holdTo+time.Minute; m += time.Minute {
				now := raisedAt.Add(m)
				in := Inputs{Current: current, Ready: current}
				in.Metrics[0] = Sample{Time: now, Value: 100, Present: true}
				d := Evaluate(p, in, s, now)
				s = d.Next
				held := d.Desired >= raised.Recommended
				if want := m < tc.holdTo; held != want {
					t.Fatalf("%v after the raise: desired %d (raised to %d), held %v, want %v (%s)", m, d.Desired, raised.Recommended, held, want, d.Explain(p))
				}
				current = d.Desired
			}
		})
	}
}

// TestForecastCoversUntilTheNextSample: on a trace sampled every 30 minutes
// and evaluated every minute, the forecast made on a sample covers the
// sample time plus one data step plus the lead, and stays put until the next
// sample, instead of creeping up with every evaluation (one small scale-out
// a minute on a rising ramp).
func TestForecastCoversUntilTheNextSample(t *testing.T) {
	p := basePolicy()
	p.EvaluationInterval = Duration(time.Minute)
	p.StaleAfter = Duration(45 * time.Minute)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute), History: Duration(7 * 24 * time.Hour)}
	const step = 30 * time.Minute
	// Three days of a clean ramp as history, so the model is built on the
	// data's own 30-minute step.
	n := 144
	values := make([]float64, n)
	for i := range values {
		values[i] = 1000 + 10*float64(i)
	}
	start := t0.Add(-time.Duration(n-1) * step)
	sampleAt := t0
	var s State
	var forecasts []float64
	for m := 0; m < 30; m++ {
		now := sampleAt.Add(time.Duration(m) * time.Minute)
		in := Inputs{Current: 20, Ready: 20}
		in.Metrics[0] = Sample{Time: sampleAt, Value: values[n-1], Present: true}
		in.History[0] = Window{Start: start, Step: step, Values: values}
		d := Evaluate(p, in, s, now)
		s = d.Next
		forecasts = append(forecasts, d.Metrics[0].Forecast)
	}
	if s.Models[0].Model.Step != step {
		t.Fatalf("model step %v, want the data's %v", s.Models[0].Model.Step, step)
	}
	for m, f := range forecasts {
		if f != forecasts[0] {
			t.Fatalf("forecast %v at minute %d, %v at the sample: want it to stay put between samples", f, m, forecasts[0])
		}
	}
	// On the rising ramp that is well above what the same model expects at
	// the lead alone.
	mm := s.Models[0]
	leadOnly := anchoredForecast(&mm, values[n-1], sampleAt, sampleAt.Add(5*time.Minute))
	if !(forecasts[0] > values[n-1] && forecasts[0]-values[n-1] > 2*(leadOnly-values[n-1])) {
		t.Fatalf("forecast %v, at the lead alone %v, sample %v: want the forecast to cover the next step too", forecasts[0], leadOnly, values[n-1])
	}
}

// TestUpperBound: the forecast's upper bound adds the recent bias when
// forecasts ran low (never subtracts it when they ran high) and 1.645
// standard deviations of the recent error; none before enough scores.
func TestUpperBound(t *testing.T) {
	tests := []struct {
		name         string
		scored       int
		bias, square float64
		want         float64
	}{
		{"too few scores", minScoredForecasts - 1, 0, 4, math.NaN()},
		{"unbiased: 1.645 sd", minScoredForecasts, 0, 4, 100 + upperZ*2},
		{"ran low: the bias is added", minScoredForecasts, 3, 9 + 4, 100 + 3 + upperZ*2},
		{"ran high: the bias is not subtracted", minScoredForecasts, -3, 9 + 4, 100 + upperZ*2},
		{"no error: the forecast itself", minScoredForecasts, 0, 0, 100},
	}
	for _, tc := range tests {
		mm := MetricModel{Scored: tc.scored, ErrBias: tc.bias, ErrSquare: tc.square}
		got := mm.Upper(100)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("%s: Upper(100) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestForecastReleaseSmallerThanToleranceWaits: a release by less than the
// tolerance band would be followed by another at nearly every evaluation as
// the upper bound drifts down, so the stabilization hold stands, and the
// decision names no forecast rule (none held it: the bound is below it).
func TestForecastReleaseSmallerThanToleranceWaits(t *testing.T) {
	p := basePolicy()
	p.Tolerance = 0.1
	p.EvaluationInterval = Duration(time.Minute)
	p.ScaleIn.Stabilization = Duration(30 * time.Minute)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
	s := trainRamp(p, 120, 3200, -10, 0, 20)
	now := t0.Add(120 * time.Minute)
	in := Inputs{Current: 20, Ready: 20}
	in.Metrics[0] = Sample{Time: now, Value: 1000, Present: true}
	// Where the guard would release to from a hold of 20.
	probe := s.Clone()
	probe.Recommendations = []Recommendation{{At: now.Add(-10 * time.Minute), Size: 20}}
	to := Evaluate(p, in, probe, now).Desired
	if to >= 19 {
		t.Fatalf("the guard releases to %d: the test needs a release of several instances", to)
	}
	// Hold one instance above that: a release of 1 is below 10 % of 20.
	s.Recommendations = []Recommendation{{At: now.Add(-10 * time.Minute), Size: to + 1}}
	d := Evaluate(p, in, s, now)
	if d.Desired != to+1 || d.Bound != LimitStabilization || d.ScaleInRule != RuleNone {
		t.Fatalf("desired %d bound %v rule %v, want the hold %d by stabilization and no forecast rule (%s)", d.Desired, d.Bound, d.ScaleInRule, to+1, d.Explain(p))
	}
}

// TestGuardedPace checks that a scale-in the forecasts' upper bounds and the
// reactive proposal agree on is not held to max_step, that the part below
// what they agree on still is, and that a cooldown, forecast-only mode and
// an upper bound that reaches the current size keep the blind pacing.
func TestGuardedPace(t *testing.T) {
	tests := []struct {
		name     string
		mode     PredictiveMode
		slope    float64
		noise    float64
		value    float64 // the sample at the decision
		current  int
		cooldown bool // a scale-in happened a minute ago
		rule     ScaleInRule
		bound    Limit
	}{
		// The sample a little below the ramp, so the reactive proposal (20)
		// also covers what the first minutes of the lead need (about
		// 1950 - 10 a minute): the guard agrees with it and max_step
		// decides nothing. (A sudden drop would leave the guard above the
		// reactive proposal, and max_step would pace the rest.)
		{"falling ramp sheds past max_step", PredictForecastAndScale, -10, 0, 1950, 40, false, RuleForecastRelease, LimitNone},
		{"forecast-only keeps max_step", PredictForecastOnly, -10, 0, 1000, 40, false, RuleNone, LimitRateLimit},
		{"cooldown still holds", PredictForecastAndScale, -10, 0, 1000, 40, true, RuleNone, LimitCooldown},
		// A rise with a single low sample: the upper bound reaches the
		// current size, so the scale-in is blind and paced.
		{"noisy rise keeps max_step", PredictForecastAndScale, 20, 150, 1400, 16, false, RuleNone, LimitRateLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute)
			p.ScaleIn = ScaleIn{Cooldown: Duration(5 * time.Minute), MaxStep: MaxStep{Instances: 1, Period: Duration(time.Minute)}}
			p.Predictive = Predictive{Mode: tc.mode, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
			s := trainRamp(p, 120, 2000-120*tc.slope, tc.slope, tc.noise, tc.current)
			now := t0.Add(120 * time.Minute)
			s.Recommendations, s.Changes, s.Reversals = nil, nil, nil
			s.LastScaleIn, s.LastScaleOut = time.Time{}, time.Time{}
			if tc.cooldown {
				s.LastScaleIn = now.Add(-time.Minute)
			}
			in := Inputs{Current: tc.current, Ready: tc.current}
			in.Metrics[0] = Sample{Time: now, Value: tc.value, Present: true}
			d := Evaluate(p, in, s, now)
			if d.ScaleInRule != tc.rule || d.Bound != tc.bound {
				t.Fatalf("rule %v bound %v, want %v %v (%s)", d.ScaleInRule, d.Bound, tc.rule, tc.bound, d.Explain(p))
			}
			mp := d.Metrics[0]
			switch tc.bound {
			case LimitNone:
				guard := ceilSize(mp.Upper / p.Metrics[0].Target)
				if d.Desired >= tc.current-1 || d.Desired < max(d.Recommended, guard) {
					t.Fatalf("desired %d from %d: want more than max_step's one instance, not below recommended %d or the upper bound's %d", d.Desired, tc.current, d.Recommended, guard)
				}
			case LimitRateLimit:
				if d.Desired != tc.current-1 {
					t.Fatalf("desired %d from %d: want max_step's one instance", d.Desired, tc.current)
				}
			case LimitCooldown:
				if d.Desired != tc.current {
					t.Fatalf("desired %d, want the current %d", d.Desired, tc.current)
				}
			}
		})
	}
}

// TestNoiseRelease checks which damped scale-ins anti-flapping lets go:
// only one that sheds more than flapNoiseZ times the series' own
// forecast-error spread, and only when no forecast raised a scale-out since
// the last scale-in (a trusted forecast that bought the rise may cause the
// reversals itself; one that did not, did not). A noisy level of 20
// instances' worth is trained, then the group is put in the middle of an
// oscillation (three reversals, a scale-out 2 minutes ago, a scale-in 10
// minutes ago).
func TestNoiseRelease(t *testing.T) {
	tests := []struct {
		name  string
		mode  PredictiveMode
		slope float64
		noise float64
		value float64 // the sample at the decision
		// forecastRise: the scale-out 2 minutes ago was raised by a forecast.
		forecastRise bool
		rule         ScaleInRule
		damped       bool
	}{
		{"deep fall on a noisy level is released", PredictForecastOnly, 0, 300, 1000, false, RuleNoiseRelease, false},
		{"fall within the noise stays damped", PredictForecastOnly, 0, 300, 1850, false, RuleNone, true},
		{"a trusted forecast that bought the rise keeps the damping", PredictForecastAndScale, -10, 0, 1000, true, RuleNone, true},
		{"a trusted forecast that did not buy the rise releases", PredictForecastAndScale, -10, 0, 1000, false, RuleNoiseRelease, false},
		{"prediction off keeps the damping", PredictOff, 0, 300, 1000, false, RuleNone, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute)
			p.ScaleIn.Stabilization = Duration(30 * time.Minute)
			p.Predictive = Predictive{Mode: tc.mode, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
			const current = 20
			s := trainRamp(p, 120, 2000-120*tc.slope, tc.slope, tc.noise, current)
			now := t0.Add(120 * time.Minute)
			s.Recommendations = nil
			s.Reversals = []time.Time{now.Add(-20 * time.Minute), now.Add(-10 * time.Minute), now.Add(-5 * time.Minute)}
			s.LastScaleOut, s.LastScaleIn, s.LastAction = now.Add(-2*time.Minute), now.Add(-10*time.Minute), ActionScaleOut
			s.LastForecastScaleOut = time.Time{}
			if tc.forecastRise {
				s.LastForecastScaleOut = s.LastScaleOut
			}
			if tc.mode == PredictForecastAndScale && !(s.Models[0].Skill() > 0) {
				t.Fatal("the forecast is not trusted: the case does not test the rule")
			}
			in := Inputs{Current: current, Ready: current}
			in.Metrics[0] = Sample{Time: now, Value: tc.value, Present: true}
			d := Evaluate(p, in, s, now)
			if d.Damped != tc.damped || d.ScaleInRule != tc.rule {
				t.Fatalf("damped %v rule %v, want %v %v (%s)", d.Damped, d.ScaleInRule, tc.damped, tc.rule, d.Explain(p))
			}
			if tc.mode != PredictOff {
				sd, ok := d.Next.Models[0].Spread()
				drop := float64(current - d.Reactive)
				if !ok || (tc.rule == RuleNoiseRelease) != (drop >= flapNoiseZ*sd/p.Metrics[0].Target) && tc.noise > 0 {
					t.Fatalf("spread %.1f (%v) against a fall of %.0f instances: the case does not test the rule", sd, ok, drop)
				}
			}
			if tc.damped {
				if d.Desired != current || d.Bound != LimitFlapping {
					t.Fatalf("desired %d bound %v, want the damped %d", d.Desired, d.Bound, current)
				}
				return
			}
			if d.Desired >= current || d.Desired < d.Reactive {
				t.Fatalf("released to %d: want below %d, not below the reactive %d", d.Desired, current, d.Reactive)
			}
			if r := d.Record(p); r.ScaleInRule != RuleNoiseRelease || r.Damped || !strings.Contains(r.Reason, "noise-release") {
				t.Fatalf("the record must name the release: %+v", r)
			}
		})
	}
}

// TestForecastGuardLooksOverTheLead: the forecast-guarded release lets held
// capacity go only when the forecasts for every data step up to the decided
// forecast's time (the sample's time plus the step plus the lead) allow it,
// not when the decided forecast alone does. A daily shape that peaks on the
// way keeps the hold; the same shape flat, or peaking only after that time,
// releases it.
func TestForecastGuardLooksOverTheLead(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	tests := []struct {
		name    string
		peak    time.Duration // when the daily shape adds 800 (0: never)
		decided float64       // the forecast the decision uses, at now + 6 minutes
		rule    ScaleInRule
		bound   Limit
		want    int
	}{
		{"flat shape releases", 0, 1000, RuleForecastRelease, LimitNone, 12},
		{"peak two minutes ahead holds", 2 * time.Minute, 1000, RuleForecastHold, LimitStabilization, 20},
		{"peak at the decided time holds", 6 * time.Minute, 1800, RuleForecastHold, LimitStabilization, 20},
		{"peak after the decided time releases", 9 * time.Minute, 1000, RuleForecastRelease, LimitNone, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := guardPolicy()
			mm := trustedDailyModel(now, 100)
			if tc.peak > 0 {
				// The seasonal component is interpolated between slot
				// centres: the peak's slot and the one before it carry the
				// 800 at the whole minute, and nothing else does.
				at := now.Add(tc.peak)
				slot := int((at.UnixNano() % int64(24*time.Hour)) / int64(time.Minute))
				mm.Model.Season[slot-1], mm.Model.Season[slot] = 800, 800
			}
			s := State{Models: []MetricModel{mm}, Recommendations: []Recommendation{{At: now.Add(-10 * time.Minute), Size: 20}}}
			in := Inputs{Current: 20, Ready: 20}
			in.Metrics[0] = Sample{Time: now, Value: 1000, Present: true}
			d := Evaluate(p, in, s, now)
			mp := d.Metrics[0]
			if !mp.Trusted || math.Abs(mp.Forecast-tc.decided) > 1e-6 {
				t.Fatalf("forecast %v trusted %v: want the shape at the decided time, trusted", mp.Forecast, mp.Trusted)
			}
			if d.ScaleInRule != tc.rule || d.Bound != tc.bound || d.Desired != tc.want {
				t.Fatalf("rule %v bound %v desired %d, want %v %v %d (%s)", d.ScaleInRule, d.Bound, d.Desired, tc.rule, tc.bound, tc.want, d.Explain(p))
			}
			// Evaluating again between two samples takes the same path
			// through the guard, which forecasts without allocating.
			next := d.Next
			if allocs := testing.AllocsPerRun(20, func() { next = Evaluate(p, in, next, now).Next }); allocs != 0 {
				t.Fatalf("%v allocations per evaluation through the guard", allocs)
			}
		})
	}
}

// guardPolicy is a forecast-and-scale policy with a daily season, a 5-minute
// lead and a 30-minute stabilization window, evaluated every minute: the
// setting of the hand-built models below.
func guardPolicy(metrics ...Metric) Policy {
	p := basePolicy(metrics...)
	p.EvaluationInterval = Duration(time.Minute)
	p.ScaleIn.Stabilization = Duration(30 * time.Minute)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute),
		Season: Season{Period: 24 * time.Hour}, History: Duration(24 * time.Hour)}
	return p
}

// trustedDailyModel is a model already chosen for guardPolicy and trusted:
// level 1000, no trend, a flat daily season of one-minute slots, a forecast
// error of sd (the upper bound adds 1.645 sd) and skill 0.5, last fed a
// minute before now.
func trustedDailyModel(now time.Time, sd float64) MetricModel {
	var mm MetricModel
	mm.Model.Reset(24*time.Hour, time.Minute)
	mm.Model.Level, mm.Model.Count, mm.Model.LastUnixNano = 1000, 100, now.Add(-time.Minute).UnixNano()
	mm.Params, mm.Persist = forecast.DefaultParams(), 1
	mm.CheckedAt, mm.Scored = now, 50
	mm.ErrForecast, mm.ErrNaive, mm.ErrSquare = 1, 2, sd*sd
	return mm
}

// TestForecastGuardNeedsEveryMetric: the guard releases held capacity only
// when every metric has a trusted forecast with an upper bound. A metric
// whose model has not yet made a forecast (too few observations) used to be
// skipped: alone, nothing at all then held the window, and beside a trusted
// one, that one's bound released capacity the other might need.
func TestForecastGuardNeedsEveryMetric(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	young := func() MetricModel {
		var mm MetricModel
		mm.Model.Reset(24*time.Hour, time.Minute)
		mm.Model.Level, mm.Model.Count, mm.Model.LastUnixNano = 500, 1, now.Add(-time.Minute).UnixNano()
		mm.Params, mm.Persist, mm.CheckedAt = forecast.DefaultParams(), 1, now
		return mm
	}
	rps := func(name string) Metric { return Metric{Name: name, Type: MetricRequestRate, Target: 100} }
	tests := []struct {
		name   string
		p      Policy
		models []MetricModel
		values []float64
		rule   ScaleInRule
		want   int
	}{
		{"a trusted forecast alone releases", guardPolicy(), []MetricModel{trustedDailyModel(now, 100)}, []float64{1000}, RuleForecastRelease, 12},
		{"a young model alone holds", guardPolicy(), []MetricModel{young()}, []float64{500}, RuleNone, 20},
		{"a young model beside a trusted one holds", guardPolicy(rps("a"), rps("b")),
			[]MetricModel{trustedDailyModel(now, 100), young()}, []float64{1000, 500}, RuleNone, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := State{Models: tc.models, Recommendations: []Recommendation{{At: now.Add(-10 * time.Minute), Size: 20}}}
			in := Inputs{Current: 20, Ready: 20}
			for i, v := range tc.values {
				in.Metrics[i] = Sample{Time: now, Value: v, Present: true}
			}
			d := Evaluate(tc.p, in, s, now)
			if d.ScaleInRule != tc.rule || d.Desired != tc.want {
				t.Fatalf("rule %v desired %d, want %v %d (%s)", d.ScaleInRule, d.Desired, tc.rule, tc.want, d.Explain(tc.p))
			}
			if tc.rule == RuleNone && d.Bound != LimitStabilization {
				t.Fatalf("bound %v, want the stabilization hold (%s)", d.Bound, d.Explain(tc.p))
			}
		})
	}
}

// TestNoiseReleaseNeedsEveryMetricsSpread: anti-flapping's noise release
// lets a damped scale-in through only when it sheds more than twice the
// forecast-error spread of a series whose spread is known. A young model
// (no forecast scored yet) used to count as a spread of 0, so every damped
// scale-in went through.
func TestNoiseReleaseNeedsEveryMetricsSpread(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	young := func() MetricModel {
		var mm MetricModel
		mm.Model.Reset(24*time.Hour, time.Minute)
		mm.Model.Level, mm.Model.Count, mm.Model.LastUnixNano = 500, 1, now.Add(-time.Minute).UnixNano()
		mm.Params, mm.Persist, mm.CheckedAt = forecast.DefaultParams(), 1, now
		return mm
	}
	tests := []struct {
		name string
		mm   MetricModel
		rule ScaleInRule
		want int
	}{
		{"a spread of 1 instance: a shed of 15 is beyond the noise", trustedDailyModel(now, 100), RuleNoiseRelease, 5},
		{"a spread of 10 instances: a shed of 15 is within it", trustedDailyModel(now, 1000), RuleNone, 20},
		{"a young model: no spread known", young(), RuleNone, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := guardPolicy()
			// Three reversals in the last half hour, the last a scale-out a
			// minute ago that the reactive rule bought: a scale-in now waits
			// (1 + 3) stabilization windows unless it is beyond the noise.
			s := State{Models: []MetricModel{tc.mm}, LastAction: ActionScaleOut,
				LastScaleOut: now.Add(-time.Minute), LastScaleIn: now.Add(-3 * time.Minute),
				Reversals: []time.Time{now.Add(-20 * time.Minute), now.Add(-10 * time.Minute), now.Add(-time.Minute)}}
			in := Inputs{Current: 20, Ready: 20}
			in.Metrics[0] = Sample{Time: now, Value: 500, Present: true}
			d := Evaluate(p, in, s, now)
			if d.ScaleInRule != tc.rule || d.Desired != tc.want {
				t.Fatalf("rule %v desired %d, want %v %d (%s)", d.ScaleInRule, d.Desired, tc.rule, tc.want, d.Explain(p))
			}
			if damped := tc.want == 20; d.Damped != damped || (damped && d.Bound != LimitFlapping) {
				t.Fatalf("damped %v bound %v, want damped %v by flapping (%s)", d.Damped, d.Bound, damped, d.Explain(p))
			}
		})
	}
}
