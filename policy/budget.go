package policy

import (
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Budget caps what a policy's group may cost per hour: the operator's
// explicit choice of money over capacity. The zero value means no budget.
type Budget struct {
	// MaxHourlyCost is the most the group may cost per hour, in the
	// policy's cost.currency. The size is capped at
	// floor(MaxHourlyCost / cost.per_instance_hour) instances.
	MaxHourlyCost float64 `json:"max_hourly_cost" yaml:"max_hourly_cost"`
}

// IsZero reports whether no budget was written.
func (b Budget) IsZero() bool { return b.MaxHourlyCost == 0 }

// Cap is the largest size the budget pays for at price c, and whether a
// budget applies at all (it needs a price).
func (b Budget) Cap(c Cost) (int, bool) {
	if b.MaxHourlyCost <= 0 || !c.Priced() {
		return 0, false
	}
	// The slack keeps 0.3/0.1 (2.9999999999999996) from losing an
	// instance the budget pays for exactly.
	n := math.Floor(b.MaxHourlyCost/c.PerInstanceHour + roundingSlack)
	if n >= maxGroupSize {
		return maxGroupSize, true
	}
	return int(n), true
}

// budget checks the budget against the price and against every minimum
// the policy asks for: a budget that cannot pay for min is refused rather
// than silently overruled by it (or overruling it), so the choice between
// money and capacity is made once, in the file, where the operator sees it.
func (c *ruleChecker) budget(p Policy) {
	if p.Budget.IsZero() {
		return
	}
	const path = "budget.max_hourly_cost"
	if !checkFinite(c, path, p.Budget.MaxHourlyCost) {
		return
	}
	if p.Budget.MaxHourlyCost <= 0 {
		c.add(path, "must be > 0")
		return
	}
	if !p.Cost.Priced() {
		if c.broken == nil || !c.broken("cost.per_instance_hour") {
			c.add(path, "requires cost.per_instance_hour: a budget is a price times a size")
		}
		return
	}
	limit, _ := p.Budget.Cap(p.Cost)
	if c.has("min") && p.Min > limit {
		c.addf(path, "must pay for min: %d instances cost %s %s per hour, the budget pays for %d",
			p.Min, FormatMoney(p.Cost.Hourly(p.Min)), p.Cost.Currency, limit)
	}
	for i, s := range p.Schedules {
		if s.Min > limit {
			c.addf(path, "must pay for schedules[%d] (%s) min: %d instances cost %s %s per hour, the budget pays for %d",
				i, s.Name, s.Min, FormatMoney(p.Cost.Hourly(s.Min)), p.Cost.Currency, limit)
		}
	}
}

// yamlBudget renders a budget for Marshal, or nil when there is none.
func yamlBudget(b Budget) *yaml.Node {
	if b.IsZero() {
		return nil
	}
	return yamlMap("max_hourly_cost", yamlNum(b.MaxHourlyCost))
}

// FormatMoney renders an amount of money for people: to a hundredth of a
// cent, with no float noise (0.288, not 0.28800000000000003).
func FormatMoney(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64)
}
