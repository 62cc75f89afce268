package simulate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// TestRunBudget: the simulator honours the budget like the agent: the
// group never grows past what the budget pays for, the summary counts the
// evaluations it capped, and the rows name it; without a budget the same
// trace reaches the size demand asks for, and the summary says nothing.
func TestRunBudget(t *testing.T) {
	s := series(100, 100, 800, 800, 800, 800, 800, 100, 100, 100)
	tests := []struct {
		name      string
		budget    policy.Budget
		peak      int
		capped    bool
		maxHourly float64
	}{
		{"capped at 5 instances", policy.Budget{MaxHourlyCost: 2.5}, 5, true, 2.5},
		{"a budget above the peak never binds", policy.Budget{MaxHourlyCost: 100}, 8, false, 100},
		{"no budget", policy.Budget{}, 8, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
			p.Cost, p.Budget = policy.Cost{PerInstanceHour: 0.5, Currency: "USD"}, tt.budget
			res, err := Run(Config{Policy: p}, s)
			if err != nil {
				t.Fatal(err)
			}
			sum := res.Summary
			if sum.PeakSize != tt.peak {
				t.Fatalf("peak size %d, want %d", sum.PeakSize, tt.peak)
			}
			if tt.maxHourly > 0 && p.Cost.Hourly(sum.PeakSize) > tt.maxHourly {
				t.Fatalf("peak costs %v per hour, over the budget %v", p.Cost.Hourly(sum.PeakSize), tt.maxHourly)
			}
			bound := 0
			for _, r := range res.Rows {
				if r.Bound == policy.LimitBudget {
					bound++
				}
			}
			if capped := sum.BudgetBound > 0; capped != tt.capped || (bound > 0) != tt.capped {
				t.Fatalf("budget-bound evaluations %d, rows %d; want capped=%v", sum.BudgetBound, bound, tt.capped)
			}
			b, _ := json.Marshal(sum)
			if strings.Contains(string(b), "budget") != tt.capped {
				t.Fatalf("summary JSON %s: want budget_bound_decisions only when capped", b)
			}
		})
	}
}
