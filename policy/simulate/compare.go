package simulate

import (
	"encoding/json"
	"fmt"
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

// UnmarshalJSON reads what MarshalJSON writes: a number, or null for a
// factor over a zero reference (NaN), so a client that decodes a
// comparison does not read "n/a" as 0×.
func (f *Factor) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Factor(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("factor: %w", err)
	}
	*f = Factor(v)
	return nil
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
	// Cost is the ratio of costs and CostDifference got's cost minus
	// ref's, in Currency; all three are left out unless both runs are
	// priced in the same currency.
	Cost           *Factor  `json:"cost,omitempty"`
	CostDifference *float64 `json:"cost_difference,omitempty"`
	Currency       string   `json:"currency,omitempty"`
}

// Priced reports whether the summary has a cost.
func (s Summary) Priced() bool { return s.Currency != "" }

// Compare divides got's figures by ref's.
func Compare(got, ref Summary) Ratios {
	r := Ratios{
		UnderProvisioned: Ratio(float64(got.UnderProvisionedSamples), float64(ref.UnderProvisionedSamples)),
		InstanceHours:    Ratio(got.InstanceHours, ref.InstanceHours),
		Actions:          Ratio(float64(got.Actions()), float64(ref.Actions())),
	}
	if got.Priced() && got.Currency == ref.Currency {
		f, diff := Ratio(got.Cost, ref.Cost), got.Cost-ref.Cost
		r.Cost, r.CostDifference, r.Currency = &f, &diff, got.Currency
	}
	return r
}

// Money renders an amount with two decimals and its currency: "12.34 USD".
func Money(v float64, currency string) string {
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + currency
}

// SignedMoney renders a difference with its sign: "+1.20 USD", "-3.05 USD".
func SignedMoney(v float64, currency string) string {
	s := Money(v, currency)
	if v >= 0 {
		s = "+" + s
	}
	return s
}

// CostNote is the cost part of a one-line comparison, "cost 0.95× (-1.23
// USD)", or "" when the runs are not both priced.
func (r Ratios) CostNote() string {
	if r.Cost == nil || r.CostDifference == nil {
		return ""
	}
	return "cost " + r.Cost.String() + " (" + SignedMoney(*r.CostDifference, r.Currency) + ")"
}
