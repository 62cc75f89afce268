package policy

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCost(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Cost
		errs []FieldError
	}{
		{"priced", policyDoc("cost: {per_instance_hour: 0.192, currency: USD}"), Cost{0.192, "USD"}, nil},
		{"whole price", policyDoc("cost: {per_instance_hour: 2, currency: EUR}"), Cost{2, "EUR"}, nil},
		{"absent", policyDoc(), Cost{}, nil},
		{"zero price", policyDoc("cost: {per_instance_hour: 0, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a price > 0 and <= 10000 per instance-hour"}}},
		{"negative price", policyDoc("cost: {per_instance_hour: -1, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a price > 0 and <= 10000 per instance-hour"}}},
		{"huge price", policyDoc("cost: {per_instance_hour: 20000, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a price > 0 and <= 10000 per instance-hour"}}},
		{"nan price", policyDoc("cost: {per_instance_hour: .nan, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a finite number"}}},
		{"inf price", policyDoc("cost: {per_instance_hour: .inf, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a finite number"}}},
		{"price text", policyDoc("cost: {per_instance_hour: cheap, currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a number"}}},
		{"no price", policyDoc("cost: {currency: USD}"), Cost{},
			[]FieldError{{"cost.per_instance_hour", "must be a price > 0 and <= 10000 per instance-hour"}}},
		{"no currency", policyDoc("cost: {per_instance_hour: 0.1}"), Cost{},
			[]FieldError{{"cost.currency", "required when cost is set: a three-letter currency code such as USD"}}},
		{"lowercase currency", policyDoc("cost: {per_instance_hour: 0.1, currency: usd}"), Cost{},
			[]FieldError{{"cost.currency", "must be a three-letter uppercase currency code (ISO 4217), such as USD or EUR"}}},
		{"symbol currency", policyDoc("cost: {per_instance_hour: 0.1, currency: $}"), Cost{},
			[]FieldError{{"cost.currency", "must be a three-letter uppercase currency code (ISO 4217), such as USD or EUR"}}},
		{"long currency", policyDoc("cost: {per_instance_hour: 0.1, currency: USDT}"), Cost{},
			[]FieldError{{"cost.currency", "must be a three-letter uppercase currency code (ISO 4217), such as USD or EUR"}}},
		{"unknown field", policyDoc("cost: {per_instance_hour: 0.1, currency: USD, per_month: 3}"), Cost{},
			[]FieldError{{"cost.per_month", "unknown field"}}},
		{"not a mapping", policyDoc("cost: 0.192"), Cost{}, []FieldError{{"cost", "must be a mapping"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if tt.errs != nil {
				if got := fieldErrors(t, err); !reflect.DeepEqual(got, tt.errs) {
					t.Fatalf("errors = %v, want %v", got, tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Cost != tt.want {
				t.Fatalf("cost = %+v, want %+v", p.Cost, tt.want)
			}
		})
	}
}

// TestCostRoundTrip checks that Marshal writes the cost back, JSON carries
// it, and an unpriced policy's JSON has no cost key (so stored policies
// written before cost keep their bytes).
func TestCostRoundTrip(t *testing.T) {
	p, err := Parse([]byte(policyDoc("cost: {per_instance_hour: 0.192, currency: USD}")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal) = %v\n%s", err, out)
	}
	if back.Cost != p.Cost {
		t.Fatalf("round trip cost = %+v, want %+v", back.Cost, p.Cost)
	}
	js, _ := json.Marshal(p)
	viaJSON, err := Parse(js)
	if err != nil || viaJSON.Cost != p.Cost {
		t.Fatalf("JSON round trip: cost %+v, err %v (%s)", viaJSON.Cost, err, js)
	}
	p.Cost = Cost{}
	js, _ = json.Marshal(p)
	if strings.Contains(string(js), "cost") {
		t.Fatalf("unpriced policy's JSON mentions cost: %s", js)
	}
	if out, _ := Marshal(p); strings.Contains(string(out), "cost") {
		t.Fatalf("unpriced policy's YAML mentions cost:\n%s", out)
	}
}

func TestDecisionHourlyCost(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		cost    Cost
		rps     float64
		current int
		want    float64
	}{
		{"priced scale-out", Cost{0.5, "USD"}, 1000, 2, 0.5 * 5}, // 1000 rps / 200 per instance = 5
		{"priced hold", Cost{0.25, "EUR"}, 400, 2, 0.25 * 2},
		{"unpriced", Cost{}, 1000, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(policyDoc("metrics: [{name: rps, type: request_rate, target: 200}]")))
			if err != nil {
				t.Fatal(err)
			}
			p.Cost = tt.cost
			var in Inputs
			in.Current, in.Ready = tt.current, tt.current
			in.Metrics[0] = Sample{Time: now, Value: tt.rps, Present: true}
			d := Evaluate(p, in, State{}, now)
			if math.Abs(d.HourlyCost-tt.want) > 1e-12 {
				t.Fatalf("HourlyCost = %v for desired %d, want %v", d.HourlyCost, d.Desired, tt.want)
			}
			if r := d.Record(p); r.HourlyCost != d.HourlyCost {
				t.Fatalf("record hourly_cost = %v, want %v", r.HourlyCost, d.HourlyCost)
			}
		})
	}
}
