package policy

import "go.yaml.in/yaml/v3"

// Cost prices a policy's instances so that decisions, simulations and
// recommendations can speak in money as well as instance-hours. The zero
// value means the policy is not priced.
type Cost struct {
	// PerInstanceHour is what one instance costs per hour, in Currency.
	PerInstanceHour float64 `json:"per_instance_hour" yaml:"per_instance_hour"`
	// Currency is an ISO 4217-style code: three uppercase letters (USD, EUR).
	Currency string `json:"currency" yaml:"currency"`
}

// IsZero reports whether no cost was written.
func (c Cost) IsZero() bool { return c.PerInstanceHour == 0 && c.Currency == "" }

// Priced reports whether the cost is set, i.e. whether money figures mean
// anything.
func (c Cost) Priced() bool { return c.PerInstanceHour > 0 }

// Hourly is the cost per hour of a group of size instances; 0 when not priced.
func (c Cost) Hourly(size int) float64 {
	if !c.Priced() || size <= 0 {
		return 0
	}
	return c.PerInstanceHour * float64(size)
}

// Of is the cost of instanceHours instance-hours; 0 when not priced.
func (c Cost) Of(instanceHours float64) float64 {
	if !c.Priced() {
		return 0
	}
	return c.PerInstanceHour * instanceHours
}

// maxPerInstanceHour bounds a price: far above any real instance (the
// largest cloud machines cost a few hundred per hour), low enough to catch
// a price written in cents or per month.
const maxPerInstanceHour = 10000

func (c *ruleChecker) cost(k Cost) {
	if k.IsZero() {
		return
	}
	const price = "cost.per_instance_hour"
	if checkFinite(c, price, k.PerInstanceHour) && (k.PerInstanceHour <= 0 || k.PerInstanceHour > maxPerInstanceHour) {
		c.addf(price, "must be a price > 0 and <= %d per instance-hour", maxPerInstanceHour)
	}
	const cur = "cost.currency"
	if k.Currency == "" {
		c.add(cur, "required when cost is set: a three-letter currency code such as USD")
		return
	}
	if !isCurrencyCode(k.Currency) {
		c.add(cur, "must be a three-letter uppercase currency code (ISO 4217), such as USD or EUR")
	}
}

// isCurrencyCode reports whether s looks like an ISO 4217 code. The list
// of codes itself changes; its shape does not.
func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// yamlCost renders a cost for Marshal, or nil when unpriced.
func yamlCost(c Cost) *yaml.Node {
	if c.IsZero() {
		return nil
	}
	return yamlMap("per_instance_hour", yamlNum(c.PerInstanceHour), "currency", yamlStr(c.Currency))
}
