package baseline

import (
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func onePolicy(typ policy.MetricType, target float64) policy.Policy {
	return policy.Policy{ID: "ref", Min: 1, Max: 50, Metrics: []policy.Metric{{Name: "m", Type: typ, Target: target}}}
}

func inputs(current, ready int, values ...float64) policy.Inputs {
	in := policy.Inputs{Current: current, Ready: ready}
	for j, v := range values {
		if !math.IsNaN(v) {
			in.Metrics[j] = policy.Sample{Time: t0, Value: v, Present: true}
		}
	}
	return in
}

// measuredOn sets the first sample's Over: the instances it was measured on.
func measuredOn(in policy.Inputs, over int) policy.Inputs {
	in.Metrics[0].Over = over
	return in
}

// TestHPAProposal checks one evaluation from an empty window: target
// tracking per metric type, the tolerance band, the largest proposal, and
// min and max.
func TestHPAProposal(t *testing.T) {
	two := policy.Policy{ID: "ref", Min: 2, Max: 20, Metrics: []policy.Metric{
		{Name: "rps", Type: policy.MetricRequestRate, Target: 100},
		{Name: "cpu", Type: policy.MetricCPU, Target: 50},
	}}
	tests := []struct {
		name    string
		p       policy.Policy
		in      policy.Inputs
		want    int
		bound   policy.Limit
		action  policy.Action
		propose []int
	}{
		{"rate above target", onePolicy(policy.MetricRequestRate, 100), inputs(4, 4, 650), 7, policy.LimitNone, policy.ActionScaleOut, []int{7}},
		{"rate exactly on a boundary", onePolicy(policy.MetricRequestRate, 0.1), inputs(1, 1, 0.3), 3, policy.LimitNone, policy.ActionScaleOut, []int{3}},
		{"rate within tolerance", onePolicy(policy.MetricRequestRate, 100), inputs(4, 4, 435), 4, policy.LimitTolerance, policy.ActionHold, []int{4}},
		{"rate just outside tolerance", onePolicy(policy.MetricRequestRate, 100), inputs(4, 4, 441), 5, policy.LimitNone, policy.ActionScaleOut, []int{5}},
		{"rate band uses the desired size, booting included", onePolicy(policy.MetricRequestRate, 100), inputs(10, 4, 1000), 10, policy.LimitTolerance, policy.ActionHold, []int{10}},
		{"queue depth like a rate", onePolicy(policy.MetricQueueDepth, 50), inputs(10, 10, 1000), 20, policy.LimitNone, policy.ActionScaleOut, []int{20}},
		{"cpu from the ready instances", onePolicy(policy.MetricCPU, 60), inputs(10, 5, 90), 8, policy.LimitNone, policy.ActionScaleIn, []int{8}},
		{"cpu with nothing ready uses the desired size", onePolicy(policy.MetricCPU, 60), inputs(3, 0, 100), 5, policy.LimitNone, policy.ActionScaleOut, []int{5}},
		{"cpu over the count the sample was measured on", onePolicy(policy.MetricCPU, 60), measuredOn(inputs(8, 8, 90), 5), 8, policy.LimitNone, policy.ActionHold, []int{8}},
		{"cpu within tolerance", onePolicy(policy.MetricCPU, 60), inputs(6, 3, 65), 6, policy.LimitTolerance, policy.ActionHold, []int{6}},
		{"largest proposal wins", two, inputs(5, 5, 900, 80), 9, policy.LimitNone, policy.ActionScaleOut, []int{9, 8}},
		{"a metric without a sample proposes nothing", two, inputs(5, 5, math.NaN(), 80), 8, policy.LimitNone, policy.ActionScaleOut, []int{0, 8}},
		{"no sample at all holds", two, inputs(5, 5), 5, policy.LimitNone, policy.ActionHold, []int{0, 0}},
		{"max", two, inputs(15, 15, 2500, 10), 20, policy.LimitBounds, policy.ActionScaleOut, []int{25, 3}},
		{"min", two, inputs(3, 3, 10, 10), 2, policy.LimitBounds, policy.ActionScaleIn, []int{1, 1}},
		{"zero demand", onePolicy(policy.MetricRequestRate, 100), inputs(3, 3, 0), 1, policy.LimitBounds, policy.ActionScaleIn, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h HPA
			d := h.Evaluate(&tt.p, &tt.in, t0)
			if d.Desired != tt.want || d.Bound != tt.bound || d.Action != tt.action {
				t.Errorf("desired %d bound %s action %s, want %d %s %s", d.Desired, d.Bound, d.Action, tt.want, tt.bound, tt.action)
			}
			for j, w := range tt.propose {
				if d.Proposals[j] != w {
					t.Errorf("proposal %d = %d, want %d", j, d.Proposals[j], w)
				}
			}
		})
	}
}

// step is one evaluation in a sequence: the time offset, the group and the
// demand, and the size the reference must come to.
type step struct {
	at      time.Duration
	current int
	value   float64
	want    int
	bound   policy.Limit
}

func runSteps(t *testing.T, p policy.Policy, steps []step) {
	t.Helper()
	var h HPA
	for i, s := range steps {
		in := inputs(s.current, s.current, s.value)
		d := h.Evaluate(&p, &in, t0.Add(s.at))
		if d.Desired != s.want || d.Bound != s.bound {
			t.Fatalf("step %d at %s: desired %d bound %s, want %d %s", i, s.at, d.Desired, d.Bound, s.want, s.bound)
		}
	}
}

// TestHPAStabilization: a scale-in goes no lower than the highest
// recommendation of the last 300 s, and recommendations older than that
// stop counting.
func TestHPAStabilization(t *testing.T) {
	p := onePolicy(policy.MetricRequestRate, 100)
	runSteps(t, p, []step{
		{0, 10, 1000, 10, policy.LimitTolerance},
		{time.Minute, 10, 800, 10, policy.LimitStabilization},
		{2 * time.Minute, 10, 300, 10, policy.LimitStabilization},
		{5 * time.Minute, 10, 300, 10, policy.LimitStabilization}, // 0 s is still inside [0, 300 s]
		{5*time.Minute + time.Second, 10, 300, 8, policy.LimitStabilization},
		{6*time.Minute + time.Second, 8, 300, 3, policy.LimitNone}, // 5 min 1 s to 6 min 1 s all asked for 3
		{7*time.Minute + time.Second, 3, 300, 3, policy.LimitTolerance},
		// A scale-out is never held back by the window.
		{8 * time.Minute, 3, 2000, 7, policy.LimitRateLimit},
	})
}

// TestHPAScaleUpLimit: growth within any 15 s is at most the larger of +4
// and +100 % of the size at the start of those 15 s.
func TestHPAScaleUpLimit(t *testing.T) {
	p := onePolicy(policy.MetricRequestRate, 1)
	runSteps(t, p, []step{
		{0, 2, 2, 2, policy.LimitTolerance},
		{10 * time.Second, 2, 40, 6, policy.LimitRateLimit},   // 2 + 4 beats 2 × 2
		{20 * time.Second, 6, 40, 6, policy.LimitRateLimit},   // the +4 of 10 s ago still counts: start 2
		{25 * time.Second, 6, 40, 12, policy.LimitRateLimit},  // 15 s later: start 6, 6 × 2 beats 6 + 4
		{30 * time.Second, 12, 40, 12, policy.LimitRateLimit}, // start 6 again
		{time.Minute, 12, 40, 24, policy.LimitRateLimit},      // start 12
		{2 * time.Minute, 24, 40, 40, policy.LimitNone},       // start 24: 48 allowed
		{2*time.Minute + time.Second, 40, 10, 40, policy.LimitStabilization},
		{3 * time.Minute, 40, 60, 50, policy.LimitBounds},
	})
}

// TestHPAWindowStaysBounded: a long run keeps the window's memory bounded
// by its span, not by the number of evaluations.
func TestHPAWindowStaysBounded(t *testing.T) {
	p := onePolicy(policy.MetricRequestRate, 1)
	var h HPA
	cur := 10
	for i := 0; i < 100_000; i++ {
		v := float64(10 + i%7)
		in := inputs(cur, cur, v)
		d := h.Evaluate(&p, &in, t0.Add(time.Duration(i)*10*time.Second))
		cur = d.Desired
	}
	if len(h.recs) > 200 || cap(h.events) > 64 {
		t.Fatalf("window holds %d recommendations (cap %d), %d events", len(h.recs), cap(h.recs), cap(h.events))
	}
}

// BenchmarkHPA is one evaluation of the reference in steady state (a
// window of 30 recommendations, one every 10 s): it must not slow a
// comparison run down next to policy.Evaluate.
func BenchmarkHPA(b *testing.B) {
	p := onePolicy(policy.MetricRequestRate, 10)
	var h HPA
	in := inputs(10, 10, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.Metrics[0].Value = float64(90 + i%40)
		d := h.Evaluate(&p, &in, t0.Add(time.Duration(i)*10*time.Second))
		in.Current, in.Ready = d.Desired, d.Desired
	}
}
