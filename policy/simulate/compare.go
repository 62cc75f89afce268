package simulate

import (
	"math"
	"strconv"
)

// Actions is the run's scale-outs plus scale-ins.
func (s Summary) Actions() int { return s.ScaleOuts + s.ScaleIns }

// Factor is one figure divided by a reference's figure. It is NaN when the
// reference is 0 and the figure is not, and encodes as JSON null then.
type Factor float64

// Ratio is x/ref: 1 when both are 0 (no worse), NaN when only ref is.
func Ratio(x, ref float64) Factor {
	switch {
	case ref != 0:
		return Factor(x / ref)
	case x == 0:
		return 1
	default:
		return Factor(math.NaN())
	}
}

// String renders the factor as "0.42×", or "n/a" over a zero reference.
func (f Factor) String() string {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}

// MarshalJSON writes the factor as a number, or null when it is not finite.
func (f Factor) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// Ratios compares a run's figures with a reference run's on the three
// things scored together: time under-provisioned, cost and churn.
type Ratios struct {
	// UnderProvisioned is the ratio of under-provisioned samples.
	UnderProvisioned Factor `json:"underprovisioned_samples"`
	// InstanceHours is the ratio of instance-hours.
	InstanceHours Factor `json:"instance_hours"`
	// Actions is the ratio of scale-outs plus scale-ins.
	Actions Factor `json:"actions"`
}

// Compare divides got's figures by ref's.
func Compare(got, ref Summary) Ratios {
	return Ratios{
		UnderProvisioned: Ratio(float64(got.UnderProvisionedSamples), float64(ref.UnderProvisionedSamples)),
		InstanceHours:    Ratio(got.InstanceHours, ref.InstanceHours),
		Actions:          Ratio(float64(got.Actions()), float64(ref.Actions())),
	}
}
