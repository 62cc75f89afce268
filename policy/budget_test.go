package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBudget(t *testing.T) {
	const priced = "cost: {per_instance_hour: 0.5, currency: USD}"
	const needsPrice = "requires cost.per_instance_hour: a budget is a price times a size"
	tests := []struct {
		name string
		doc  string
		want Budget
		errs []FieldError
	}{
		{"budget", policyDoc(priced, "budget: {max_hourly_cost: 10}"), Budget{10}, nil},
		{"exactly min", policyDoc(priced, "budget: {max_hourly_cost: 1}"), Budget{1}, nil},
		{"absent", policyDoc(priced), Budget{}, nil},
		{"no cost", policyDoc("budget: {max_hourly_cost: 10}"), Budget{},
			[]FieldError{{"budget.max_hourly_cost", needsPrice}}},
		// The price's own error is enough; the budget does not repeat it.
		{"broken cost", policyDoc("cost: {per_instance_hour: cheap, currency: USD}", "budget: {max_hourly_cost: 10}"), Budget{},
			[]FieldError{{"cost.per_instance_hour", "must be a number"}}},
		{"zero", policyDoc(priced, "budget: {max_hourly_cost: 0}"), Budget{}, nil},
		{"negative", policyDoc(priced, "budget: {max_hourly_cost: -3}"), Budget{},
			[]FieldError{{"budget.max_hourly_cost", "must be > 0"}}},
		{"nan", policyDoc(priced, "budget: {max_hourly_cost: .nan}"), Budget{},
			[]FieldError{{"budget.max_hourly_cost", "must be a finite number"}}},
		{"text", policyDoc(priced, "budget: {max_hourly_cost: lots}"), Budget{},
			[]FieldError{{"budget.max_hourly_cost", "must be a number"}}},
		{"below min", policyDoc(priced, "budget: {max_hourly_cost: 0.9}"), Budget{},
			[]FieldError{{"budget.max_hourly_cost", "must pay for min: 2 instances cost 1 USD per hour, the budget pays for 1"}}},
		{"below a schedule's min", policyDoc(priced, "budget: {max_hourly_cost: 4}",
			`schedules: [{name: sale, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min: 9}]`), Budget{},
			[]FieldError{{"budget.max_hourly_cost", "must pay for schedules[0] (sale) min: 9 instances cost 4.5 USD per hour, the budget pays for 8"}}},
		{"unknown field", policyDoc(priced, "budget: {max_hourly_cost: 10, per_day: 3}"), Budget{},
			[]FieldError{{"budget.per_day", "unknown field"}}},
		{"not a mapping", policyDoc(priced, "budget: 10"), Budget{}, []FieldError{{"budget", "must be a mapping"}}},
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
			if p.Budget != tt.want {
				t.Fatalf("budget = %+v, want %+v", p.Budget, tt.want)
			}
		})
	}
}

// TestBudgetRoundTrip: YAML and JSON carry the budget, and a policy
// without one mentions none (stored policies keep their bytes).
func TestBudgetRoundTrip(t *testing.T) {
	p, err := Parse([]byte(policyDoc("cost: {per_instance_hour: 0.5, currency: USD}", "budget: {max_hourly_cost: 7.25}")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := Parse(out); err != nil || back.Budget != p.Budget {
		t.Fatalf("YAML round trip: budget %+v, err %v\n%s", back.Budget, err, out)
	}
	js, _ := json.Marshal(p)
	if back, err := Parse(js); err != nil || back.Budget != p.Budget {
		t.Fatalf("JSON round trip: budget %+v, err %v (%s)", back.Budget, err, js)
	}
	var viaStore Policy // how store/ decodes a policy
	if err := json.Unmarshal(js, &viaStore); err != nil || viaStore.Budget != p.Budget {
		t.Fatalf("json.Unmarshal: budget %+v, err %v", viaStore.Budget, err)
	}
	p.Budget = Budget{}
	js, _ = json.Marshal(p)
	out, _ = Marshal(p)
	if strings.Contains(string(js), "budget") || strings.Contains(string(out), "budget") {
		t.Fatalf("a policy without a budget mentions one:\n%s\n%s", js, out)
	}
}

func TestBudgetCap(t *testing.T) {
	tests := []struct {
		name   string
		budget Budget
		cost   Cost
		want   int
		ok     bool
	}{
		{"floor", Budget{3.2}, Cost{0.5, "USD"}, 6, true},
		{"exact despite float noise", Budget{0.3}, Cost{0.1, "USD"}, 3, true},
		{"no budget", Budget{}, Cost{0.5, "USD"}, 0, false},
		{"unpriced", Budget{3}, Cost{}, 0, false},
		{"beyond any group", Budget{1e12}, Cost{0.001, "USD"}, maxGroupSize, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := tt.budget.Cap(tt.cost); got != tt.want || ok != tt.ok {
				t.Fatalf("Cap = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestEvaluateBudget: the budget caps the size at floor(budget / price)
// with the bound "budget"; a lower max or scheduled max binds as before,
// and a budget that does not bind changes nothing.
func TestEvaluateBudget(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	const sale = `schedules: [{name: sale, start: "2026-01-05T00:00:00Z", end: "2026-01-06T00:00:00Z", max: 5}]`
	tests := []struct {
		name    string
		changes []string
		rps     float64
		current int
		desired int
		bound   Limit
		action  Action
	}{
		// 2,000 rps at 200 per instance asks for 10; 3.2 USD/h at 0.5 pays for 6.
		{"caps a scale-out", nil, 2000, 4, 6, LimitBudget, ActionScaleOut},
		{"holds at the cap", nil, 2000, 6, 6, LimitBudget, ActionHold},
		{"does not bind below the cap", nil, 1000, 4, 5, LimitNone, ActionScaleOut},
		{"sheds what it cannot pay for", nil, 2000, 8, 6, LimitBudget, ActionScaleIn},
		{"a lower max binds as bounds", []string{"max: 5"}, 2000, 4, 5, LimitBounds, ActionScaleOut},
		{"a lower scheduled max binds as the schedule", []string{sale}, 2000, 4, 5, LimitSchedule, ActionScaleOut},
		{"a max equal to the cap binds as bounds", []string{"max: 6"}, 2000, 4, 6, LimitBounds, ActionScaleOut},
		{"without a budget max binds", []string{"-budget"}, 2000, 4, 10, LimitNone, ActionScaleOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := append([]string{
				"metrics: [{name: rps, type: request_rate, target: 200}]",
				"cost: {per_instance_hour: 0.5, currency: USD}",
				"budget: {max_hourly_cost: 3.2}",
				"scale_out: {max_step: {instances: 100}}",
			}, tt.changes...)
			p, err := Parse([]byte(policyDoc(changes...)))
			if err != nil {
				t.Fatal(err)
			}
			var in Inputs
			in.Current, in.Ready = tt.current, tt.current
			in.Metrics[0] = Sample{Time: now, Value: tt.rps, Present: true}
			d := Evaluate(p, in, State{}, now)
			if d.Desired != tt.desired || d.Bound != tt.bound || d.Action != tt.action {
				t.Fatalf("desired %d bound %s action %s, want %d %s %s (%s)",
					d.Desired, d.Bound, d.Action, tt.desired, tt.bound, tt.action, d.Reason())
			}
			if tt.bound == LimitBudget {
				if d.HourlyCost > p.Budget.MaxHourlyCost {
					t.Fatalf("hourly cost %v above the budget %v", d.HourlyCost, p.Budget.MaxHourlyCost)
				}
				if r := d.Reason(); !strings.Contains(r, "bound:budget") {
					t.Fatalf("reason %q does not name the budget", r)
				}
				if e := d.Explain(p); !strings.HasSuffix(e, "; capped by the budget: 3.2 USD per hour pays for 6 instances") {
					t.Fatalf("explanation %q does not say what the budget pays for", e)
				}
			} else if e := d.Explain(p); strings.Contains(e, "budget") {
				t.Fatalf("explanation %q mentions a budget that did not bind", e)
			}
		})
	}
}

// TestEvaluateBudgetAllocatesNothing: the budget cap keeps steady-state
// evaluation allocation-free.
func TestEvaluateBudgetAllocatesNothing(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	p, err := Parse([]byte(policyDoc("metrics: [{name: rps, type: request_rate, target: 200}]",
		"cost: {per_instance_hour: 0.5, currency: USD}", "budget: {max_hourly_cost: 3.2}")))
	if err != nil {
		t.Fatal(err)
	}
	var in Inputs
	in.Current, in.Ready = 6, 6
	in.Metrics[0] = Sample{Time: now, Value: 2000, Present: true}
	s := Evaluate(p, in, State{}, now).Next
	allocs := testing.AllocsPerRun(100, func() {
		d := Evaluate(p, in, s, now)
		s = d.Next
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per evaluation", allocs)
	}
}
