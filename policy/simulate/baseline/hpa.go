// Package baseline holds the fixed reference rules the simulator compares a
// policy against. They are written out here, apart from policy.Evaluate, on
// purpose: the engine changes as it is tuned, and a yardstick that moved
// with it would measure nothing.
//
// The one reference so far is HPA, the rule a Kubernetes Horizontal Pod
// Autoscaler with default behaviour applies. Like policy.Evaluate it is
// pure: the caller passes the inputs and the time, and keeps the state.
package baseline

import (
	"math"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// The HPA reference's fixed parameters: Kubernetes' defaults
// (--horizontal-pod-autoscaler-tolerance and the default
// HorizontalPodAutoscalerBehavior).
const (
	// Tolerance is the band around a target inside which a metric proposes
	// the current size.
	Tolerance = 0.1
	// Stabilization is the scale-in stabilization window: a scale-in never
	// goes below the highest recommendation of the last 300 s.
	Stabilization = 300 * time.Second
	// ScaleUpPeriod is the window of HPA's default scale-up policies:
	// within any 15 s the size may grow by the larger of ScaleUpPods and
	// ScaleUpPercent of the size at the start of that 15 s.
	ScaleUpPeriod = 15 * time.Second
	// ScaleUpPods is the absolute scale-up allowed per ScaleUpPeriod.
	ScaleUpPods = 4
	// ScaleUpPercent is the relative scale-up allowed per ScaleUpPeriod.
	ScaleUpPercent = 100
)

// roundingSlack keeps float noise (3.0000000001 instances) from adding an
// instance when a ratio is exactly on a boundary.
const roundingSlack = 1e-9

// HPA is the state of the HPA-style reference for one group: the
// recommendations of the stabilization window and the recent scale
// events. The zero value is ready to use.
type HPA struct {
	// recs holds the window's recommendations as a monotonic queue: times
	// ascending, sizes strictly descending, so recs[head] is the window's
	// highest recommendation. A recommendation that a later, higher one
	// outranks can never be the maximum again and is dropped.
	recs []timedSize
	head int
	// events are the size changes of the last ScaleUpPeriod, oldest first.
	events []timedSize
}

type timedSize struct {
	at   int64 // Unix nanoseconds
	size int   // a recommendation, or a change's signed delta
}

// Decision is one evaluation of the reference.
type Decision struct {
	// Proposals are the per-metric sizes, indexed like the policy's
	// metrics; 0 for a metric without a sample yet.
	Proposals [policy.MaxMetrics]int
	// Recommended is the largest proposal (the current size when no metric
	// has a sample).
	Recommended int
	// Desired is the size after stabilization, the scale-up limit, and
	// min and max.
	Desired int
	// Action is what Desired means for the group.
	Action policy.Action
	// Bound names the rule that changed the result on its way from
	// Recommended to Desired, in the engine's vocabulary: tolerance (every
	// metric within its band), stabilization, rate-limit (the scale-up
	// limit) or bounds.
	Bound policy.Limit
}

// Evaluate applies the HPA rule at now, from the group's current (desired)
// and ready sizes and the latest sample of each metric, and records the
// outcome in h. p and in are only read (pointers because both are large). It reads from p only min, max and the metrics' types and
// targets; tolerance, stabilization and pacing are the reference's own.
//
// Per metric, HPA's target tracking:
//   - cpu (average utilization over the ready instances):
//     ceil(ready × value / target), or the current size when
//     |value / target − 1| ≤ 10 %;
//   - request_rate and queue_depth (a group total):
//     ceil(value / target), or the current size when
//     |value / (target × current) − 1| ≤ 10 %.
//
// A metric's latest sample counts however old it is (an HPA reads the
// metrics adapter's latest value); a metric with no sample yet proposes
// nothing. The largest proposal wins, then:
//  1. scale-in stabilization: a result below the current size is raised to
//     the highest recommendation of the last 300 s (this one included);
//  2. scale-up limit: at most the larger of +4 and +100 % of the size 15 s
//     ago (HPA's default; the default scale-in policy, −100 % per 15 s,
//     never binds);
//  3. min and max.
func (h *HPA) Evaluate(p *policy.Policy, in *policy.Inputs, now time.Time) Decision {
	current := in.Current
	d := Decision{Recommended: current}
	rec, seen, allTol := 0, false, true
	for j := range p.Metrics {
		s := &in.Metrics[j]
		if !s.Present || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		n, within := propose(&p.Metrics[j], *s, in)
		d.Proposals[j] = n
		rec, seen = max(rec, n), true
		allTol = allTol && within
	}
	if seen {
		d.Recommended = rec
	}
	t := now.UnixNano()

	// 1. Stabilization over the window's recommendations.
	h.record(t, d.Recommended)
	desired := d.Recommended
	if seen && allTol {
		d.Bound = policy.LimitTolerance
	}
	if desired < current {
		if top := h.recs[h.head].size; top > desired {
			desired = min(top, current)
			d.Bound = policy.LimitStabilization
		}
	}

	// 2. The scale-up limit, from the size at the start of the period.
	h.prune(t)
	if desired > current {
		start := current
		for _, e := range h.events {
			start -= e.size
		}
		limit := max(start+ScaleUpPods, int(math.Ceil(float64(start)*(1+ScaleUpPercent/100.0))))
		if desired > limit {
			desired = max(limit, current)
			d.Bound = policy.LimitRateLimit
		}
	}

	// 3. Bounds.
	if c := min(max(desired, p.Min), p.Max); c != desired {
		desired = c
		d.Bound = policy.LimitBounds
	}
	d.Desired = desired
	switch {
	case desired > current:
		d.Action = policy.ActionScaleOut
	case desired < current:
		d.Action = policy.ActionScaleIn
	}
	if desired != current {
		h.events = append(h.events, timedSize{at: t, size: desired - current})
	}
	return d
}

// propose is one metric's HPA proposal and whether it was within tolerance.
// A cpu average covers the instances it was measured over (Sample.Over),
// not those in service at a later evaluation of the same sample: the HPA
// counts the pods that reported the metric.
func propose(m *policy.Metric, s policy.Sample, in *policy.Inputs) (int, bool) {
	value := s.Value
	if m.Type == policy.MetricCPU {
		over := in.MeasuredOver(s)
		if in.Current > 0 && math.Abs(value/m.Target-1) <= Tolerance {
			return in.Current, true
		}
		return ceil(float64(over) * value / m.Target), false
	}
	if in.Current > 0 && math.Abs(value/(m.Target*float64(in.Current))-1) <= Tolerance {
		return in.Current, true
	}
	return ceil(value / m.Target), false
}

func ceil(x float64) int {
	if x <= 0 {
		return 0
	}
	return int(math.Ceil(x - roundingSlack))
}

// record adds a recommendation at t to the window and drops those older
// than Stabilization.
func (h *HPA) record(t int64, size int) {
	for len(h.recs) > h.head && h.recs[len(h.recs)-1].size <= size {
		h.recs = h.recs[:len(h.recs)-1]
	}
	h.recs = append(h.recs, timedSize{at: t, size: size})
	for h.recs[h.head].at < t-int64(Stabilization) {
		h.head++
	}
	if h.head > 64 && h.head*2 > len(h.recs) { // reuse the front instead of growing forever
		n := copy(h.recs, h.recs[h.head:])
		h.recs, h.head = h.recs[:n], 0
	}
}

// prune drops scale events older than ScaleUpPeriod.
func (h *HPA) prune(t int64) {
	k := 0
	for k < len(h.events) && h.events[k].at <= t-int64(ScaleUpPeriod) {
		k++
	}
	if k > 0 {
		h.events = append(h.events[:0], h.events[k:]...)
	}
}
