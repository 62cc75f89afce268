package report

import (
	"strconv"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// budgetLines describes the policy's budget and what it did in the run:
// the size it pays for, how many evaluations it capped, and how many of
// the samples it held were under-provisioned, so a reader sees the
// capacity the money bought and the capacity it did not.
func budgetLines(p policy.Policy, r *simulate.Result, s simulate.Summary) []string {
	limit, ok := p.Budget.Cap(p.Cost)
	if !ok {
		return nil
	}
	line := "budget: " + policy.FormatMoney(p.Budget.MaxHourlyCost) + " " + p.Cost.Currency + " per hour, at most " +
		strconv.Itoa(limit) + " instances at " + policy.FormatMoney(p.Cost.PerInstanceHour) + " each"
	if s.BudgetBound == 0 {
		return []string{line + " · never capped the size during the trace"}
	}
	held, under := 0, 0
	for i, row := range r.Rows {
		if row.Bound != policy.LimitBudget {
			continue
		}
		held++
		if i < len(r.Under) && r.Under[i] {
			under++
		}
	}
	return []string{line + " · capped the size at " + strconv.Itoa(s.BudgetBound) + " of " + strconv.Itoa(s.Evaluations) +
		" evaluations (bound: budget); " + strconv.Itoa(under) + " of the " + strconv.Itoa(held) +
		" samples it held were under-provisioned"}
}
