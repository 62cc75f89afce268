package simulate

import (
	"fmt"
	"math"

	"github.com/capstan-io/capstan/policy"
)

// Bar is what a run's under-provisioning and needed sizes are scored
// against when it is not the run's own policy: the metrics' types and
// targets, the tolerance, and their recorded values over the run's times.
//
// A what-if scores the stored policy and a candidate against one bar, the
// stored policy's (the operator's definition of enough capacity): scored
// against its own targets, a candidate with a lower target would be judged
// by its own stricter bar and look worse for provisioning more.
type Bar struct {
	// Metrics are the bar's metrics: their types and targets count.
	Metrics []policy.Metric
	// Values[j] is metric j's recorded value at each of the run's times
	// (NaN where it has none), in the trace's unit (cpu: utilization over
	// the run's RecordedSize).
	Values [][]float64
	// Tolerance widens each target as a policy's tolerance does: a
	// sample is under-provisioned when its demand exceeds ready × target
	// × (1 + Tolerance).
	Tolerance float64
}

// StoredBar is the bar of policy p over series s, which must be s mapped
// onto p: the bar a run of p scores itself against.
func StoredBar(p policy.Policy, s Series) Bar {
	return Bar{Metrics: p.Metrics, Values: s.Values, Tolerance: p.Tolerance}
}

// check reports whether the bar fits a series of n samples.
func (b *Bar) check(n int) error {
	if len(b.Values) != len(b.Metrics) {
		return fmt.Errorf("%w: the scoring bar has %d columns for %d metrics", ErrShape, len(b.Values), len(b.Metrics))
	}
	for j, m := range b.Metrics {
		if len(b.Values[j]) != n {
			return fmt.Errorf("%w: the scoring bar's metric %s has %d values for %d times", ErrShape, m.Name, len(b.Values[j]), n)
		}
	}
	return nil
}

// demand is metric j's demand at sample i, in the unit its target is in
// per instance (cpu: percent-instances).
func (b *Bar) demand(j, i int, recorded float64) float64 {
	v := b.Values[j][i]
	if b.Metrics[j].Type == policy.MetricCPU {
		return v * recorded
	}
	return v
}

// needed is the instance count sample i's demand needs at the bar's targets.
func (b *Bar) needed(i int, recorded float64) int {
	need := 0
	for j, m := range b.Metrics {
		if v := b.demand(j, i, recorded); !math.IsNaN(v) {
			need = max(need, int(math.Ceil(v/m.Target-1e-9)))
		}
	}
	return need
}

// under reports whether sample i's demand exceeds what ready instances
// serve at the bar's target × (1 + tolerance) for some metric.
func (b *Bar) under(i, ready int, recorded float64) bool {
	tol := 1 + b.Tolerance
	for j, m := range b.Metrics {
		if v := b.demand(j, i, recorded); !math.IsNaN(v) && v > float64(ready)*m.Target*tol {
			return true
		}
	}
	return false
}
