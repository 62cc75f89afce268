package policy

import (
	"os"
	"reflect"
	"testing"
	"time"
)

// TestParseAppliesDefaults parses testdata/minimal.yaml, which sets only
// what has no default, and expects every documented default.
func TestParseAppliesDefaults(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		ID:                 "queue-workers",
		Target:             Target{Provider: "fake", Group: "workers"},
		Min:                1,
		Max:                10,
		Warmup:             Duration(180 * time.Second),
		EvaluationInterval: Duration(10 * time.Second),
		Tolerance:          0.1,
		Metrics:            []Metric{{Name: "jobs", Type: MetricQueueDepth, Target: 100}},
		ScaleOut: ScaleOut{
			Cooldown: Duration(60 * time.Second),
			MaxStep:  MaxStep{Instances: 4, Percent: 100, Period: Duration(60 * time.Second)},
		},
		ScaleIn: ScaleIn{
			Cooldown:      0,
			Stabilization: Duration(300 * time.Second),
			MaxStep:       MaxStep{Period: Duration(60 * time.Second)},
		},
		Predictive: Predictive{
			Mode:    PredictOff,
			Lead:    Duration(180 * time.Second),
			Season:  Season{Auto: true},
			History: Duration(7 * 24 * time.Hour),
		},
		StaleAfter:   Duration(60 * time.Second),
		FallbackSize: 0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal.yaml) =\n%+v\nwant\n%+v", got, want)
	}
	// Defaults() documents the same values the parser applies.
	d := Defaults()
	d.ID, d.Target, d.Min, d.Max, d.Metrics = want.ID, want.Target, want.Min, want.Max, want.Metrics
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Defaults() disagrees with Parse:\n%+v\n%+v", d, want)
	}
}

func TestParseDefaultsOnlyAbsentFields(t *testing.T) {
	tests := []struct {
		name  string
		set   []string
		check func(p Policy) bool
	}{
		{"explicit tolerance 0 stays 0", []string{"tolerance: 0"}, func(p Policy) bool { return p.Tolerance == 0 }},
		{"explicit fallback stays", []string{"fallback_size: 5"}, func(p Policy) bool { return p.FallbackSize == 5 }},
		{"explicit zero cooldown stays", []string{"scale_out: {cooldown: 0s}"}, func(p Policy) bool {
			return p.ScaleOut.Cooldown == 0 && p.ScaleOut.MaxStep == Defaults().ScaleOut.MaxStep
		}},
		{"explicit season none stays", []string{"predictive: {season: none}"}, func(p Policy) bool { return p.Predictive.Season == Season{} }},
		{"explicit max_extra none stays", []string{"predictive: {max_extra: none}"}, func(p Policy) bool { return p.Predictive.MaxExtra == NoMaxExtra && !p.Predictive.MaxExtra.On() }},
		{"explicit max_extra 0 is none", []string{"predictive: {max_extra: 0}"}, func(p Policy) bool { return p.Predictive.MaxExtra == NoMaxExtra }},
		{"explicit max_extra 0% is none", []string{"predictive: {max_extra: 0%}"}, func(p Policy) bool { return p.Predictive.MaxExtra == NoMaxExtra }},
		{"max_extra as written", []string{"predictive: {max_extra: 2.5 %}"}, func(p Policy) bool { return p.Predictive.MaxExtra == 2.5 && p.Predictive.MaxExtra.Percent() == 2.5 }},
		{"absent max_extra is 5%", nil, func(p Policy) bool {
			return p.Predictive.MaxExtra == 0 && p.Predictive.MaxExtra.Percent() == 5 && p.Predictive.MaxExtra.On()
		}},
		{"max_extra written 5% reads as absent", []string{"predictive: {max_extra: 5%}"}, func(p Policy) bool { return p.Predictive.MaxExtra == 0 }},
		{"explicit lead 0 stays", []string{"predictive: {lead: 0s}"}, func(p Policy) bool { return p.Predictive.Lead == 0 }},
		{"lead follows explicit warmup", []string{"warmup: 45s"}, func(p Policy) bool { return p.Predictive.Lead == Duration(45*time.Second) }},
		{"explicit lead wins over warmup", []string{"warmup: 45s", "predictive: {lead: 2m}"}, func(p Policy) bool {
			return p.Predictive.Lead == Duration(2*time.Minute)
		}},
		{"stale_after floor is 60s", []string{"evaluation_interval: 5s"}, func(p Policy) bool { return p.StaleAfter == Duration(time.Minute) }},
		{"stale_after is 3 x interval when larger", []string{"evaluation_interval: 30s"}, func(p Policy) bool {
			return p.StaleAfter == Duration(90*time.Second)
		}},
		{"explicit stale_after stays", []string{"evaluation_interval: 30s", "stale_after: 45s"}, func(p Policy) bool {
			return p.StaleAfter == Duration(45*time.Second)
		}},
		{"max_step defaults per field", []string{"scale_in: {max_step: {instances: 3}}"}, func(p Policy) bool {
			return p.ScaleIn.MaxStep == MaxStep{Instances: 3, Percent: 0, Period: Duration(time.Minute)}
		}},
		{"scale-out max_step defaults per field", []string{"scale_out: {max_step: {percent: 0}}"}, func(p Policy) bool {
			return p.ScaleOut.MaxStep == MaxStep{Instances: 4, Percent: 0, Period: Duration(time.Minute)}
		}},
		{"null means absent", []string{"scale_in: {cooldown: null, stabilization: null}"}, func(p Policy) bool {
			return p.ScaleIn.Cooldown == 0 && p.ScaleIn.Stabilization == Duration(5*time.Minute)
		}},
		{"explicit scale-in cooldown stays", []string{"scale_in: {cooldown: 5m}"}, func(p Policy) bool {
			return p.ScaleIn.Cooldown == Duration(5*time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(policyDoc(tt.set...)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(p) {
				t.Errorf("unexpected policy %+v", p)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	base := Policy{
		ID:      "web",
		Target:  Target{Provider: "fake", Group: "g"},
		Max:     5,
		Metrics: []Metric{{Name: "cpu", Type: MetricCPU, Target: 50}},
	}

	// nil present: zero values count as absent.
	p := base
	p.Warmup = Duration(time.Minute)
	p.EvaluationInterval = Duration(time.Minute)
	p.ApplyDefaults(nil)
	if p.Tolerance != 0.1 || p.Predictive.Lead != Duration(time.Minute) || p.StaleAfter != Duration(3*time.Minute) ||
		p.Predictive.Season != (Season{Auto: true}) || p.ScaleIn.MaxStep != (MaxStep{Period: Duration(time.Minute)}) {
		t.Errorf("ApplyDefaults(nil) = %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("defaulted policy is invalid: %v", err)
	}

	// An explicit present function keeps written zeros.
	p = base
	written := map[string]bool{"tolerance": true, "predictive.season": true, "scale_out.max_step.percent": true}
	p.ApplyDefaults(func(path string) bool { return written[path] })
	if p.Tolerance != 0 || p.Predictive.Season != (Season{}) || p.ScaleOut.MaxStep.Percent != 0 || p.ScaleOut.MaxStep.Instances != 4 {
		t.Errorf("ApplyDefaults(present) = %+v", p)
	}

	// Everything present: nothing changes.
	p = base
	p.ApplyDefaults(func(string) bool { return true })
	if !reflect.DeepEqual(p, base) {
		t.Errorf("ApplyDefaults(all present) changed the policy: %+v", p)
	}
}

func TestDefaultStaleAfterGuardsAbsurdIntervals(t *testing.T) {
	for _, iv := range []time.Duration{-time.Second, 0, time.Second, 1<<63 - 1} {
		if got := defaultStaleAfter(iv); got != time.Minute {
			t.Errorf("defaultStaleAfter(%v) = %v, want 1m", iv, got)
		}
	}
	if got := defaultStaleAfter(time.Hour); got != 3*time.Hour {
		t.Errorf("defaultStaleAfter(1h) = %v", got)
	}
}

// TestDefaultScaleInIsHPAs replays a peak and its end through the smallest
// policy (testdata/minimal.yaml): with the default scale-in, as with an
// HPA's, the stabilization window alone decides, and once it lets go the
// group falls to the recommendation in one step; a max_step the operator
// writes still paces it.
func TestDefaultScaleInIsHPAs(t *testing.T) {
	data, err := os.ReadFile("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		maxStep *MaxStep // nil: the default
		after   time.Duration
		want    int
		bound   Limit
	}{
		{"within the window the peak holds", nil, 4 * time.Minute, 10, LimitStabilization},
		{"after the window one step to the recommendation", nil, 5*time.Minute + time.Second, 1, LimitNone},
		{"an explicit max_step paces it", &MaxStep{Instances: 2, Period: Duration(time.Minute)}, 5*time.Minute + time.Second, 8, LimitRateLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if tc.maxStep != nil {
				p.ScaleIn.MaxStep = *tc.maxStep
			}
			sample := func(at time.Duration, v float64) Inputs {
				in := Inputs{Current: 10, Ready: 10}
				in.Metrics[0] = Sample{Time: t0.Add(at), Value: v, Present: true}
				return in
			}
			d := Evaluate(p, sample(0, 1000), State{}, t0) // the peak: 10 instances
			d = Evaluate(p, sample(tc.after, 100), d.Next, t0.Add(tc.after))
			if d.Desired != tc.want || d.Bound != tc.bound {
				t.Fatalf("desired %d bound %v, want %d bound %v (%s)", d.Desired, d.Bound, tc.want, tc.bound, d.Explain(p))
			}
		})
	}
}
