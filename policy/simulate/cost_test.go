package simulate

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// TestRunCost checks that a priced policy's summary is its instance-hours
// at the price, that the HPA reference is priced the same way, and that the
// comparison gives the ratio and the difference in money.
func TestRunCost(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	p.Cost = policy.Cost{PerInstanceHour: 0.5, Currency: "EUR"}
	s := series(100, 100, 400, 400, 400, 400, 100, 100, 100, 100)
	res, err := Run(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary
	if sum.Currency != "EUR" || math.Abs(sum.Cost-0.5*sum.InstanceHours) > 1e-9 || sum.Cost <= 0 {
		t.Fatalf("cost %v %s for %v instance-hours at 0.5", sum.Cost, sum.Currency, sum.InstanceHours)
	}
	ref, err := RunBaseline(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ref.Summary.Cost-0.5*ref.Summary.InstanceHours) > 1e-9 {
		t.Fatalf("baseline cost %v for %v instance-hours", ref.Summary.Cost, ref.Summary.InstanceHours)
	}
	r := Compare(sum, ref.Summary)
	if r.Cost == nil || r.CostDifference == nil {
		t.Fatal("priced runs compare without cost")
	}
	if want := sum.Cost - ref.Summary.Cost; math.Abs(*r.CostDifference-want) > 1e-12 {
		t.Fatalf("cost difference %v, want %v", *r.CostDifference, want)
	}
	if float64(*r.Cost) != float64(Ratio(sum.Cost, ref.Summary.Cost)) {
		t.Fatalf("cost ratio %v", *r.Cost)
	}
	if !strings.HasPrefix(r.CostNote(), "cost ") || !strings.Contains(r.CostNote(), "EUR") {
		t.Fatalf("cost note %q", r.CostNote())
	}
}

func TestUnpricedRunHasNoCost(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	res, err := Run(Config{Policy: p}, series(100, 300, 300))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res.Summary)
	if strings.Contains(string(b), "cost") || strings.Contains(string(b), "currency") {
		t.Fatalf("unpriced summary mentions cost: %s", b)
	}
	r := Compare(res.Summary, res.Summary)
	if r.Cost != nil || r.CostNote() != "" {
		t.Fatalf("unpriced comparison has a cost: %+v", r)
	}
	b, _ = json.Marshal(r)
	if strings.Contains(string(b), "cost") {
		t.Fatalf("unpriced ratios mention cost: %s", b)
	}
}

func TestCompareCostNeedsOneCurrency(t *testing.T) {
	a := Summary{InstanceHours: 10, Cost: 5, Currency: "USD"}
	tests := []struct {
		name   string
		ref    Summary
		priced bool
		note   string
	}{
		{"same currency cheaper ref", Summary{InstanceHours: 8, Cost: 4, Currency: "USD"}, true, "cost 1.25× (+1.00 USD)"},
		{"same currency dearer ref", Summary{InstanceHours: 20, Cost: 10, Currency: "USD"}, true, "cost 0.50× (-5.00 USD)"},
		{"other currency", Summary{InstanceHours: 8, Cost: 4, Currency: "EUR"}, false, ""},
		{"unpriced ref", Summary{InstanceHours: 8}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(a, tt.ref)
			if (r.Cost != nil) != tt.priced || r.CostNote() != tt.note {
				t.Fatalf("Compare: cost %v, note %q; want priced %v, note %q", r.Cost, r.CostNote(), tt.priced, tt.note)
			}
		})
	}
}
