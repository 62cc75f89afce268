package policy

import "testing"

// TestDecisionNamesReadBack: every Limit and ScaleInRule a decision record
// can carry is written by its name and reads back as itself (byName), and
// a name that is none of them is refused.
func TestDecisionNamesReadBack(t *testing.T) {
	for _, l := range []Limit{LimitNone, LimitTolerance, LimitStaleData, LimitStabilization, LimitCooldown,
		LimitRateLimit, LimitBounds, LimitFlapping, LimitSchedule, LimitBudget} {
		b, _ := l.MarshalText()
		var back Limit
		if err := back.UnmarshalText(b); err != nil || back != l {
			t.Errorf("limit %q read back as %v, %v", b, back, err)
		}
	}
	for _, r := range []ScaleInRule{RuleNone, RuleForecastRelease, RuleForecastHold, RuleNoiseRelease} {
		b, _ := r.MarshalText()
		var back ScaleInRule
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("rule %q read back as %v, %v", b, back, err)
		}
	}
	for _, bad := range []string{"", "None", "budgets", "forecast", "limit(10)"} {
		if err := new(Limit).UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("limit %q read, want an error", bad)
		}
		if err := new(ScaleInRule).UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("rule %q read, want an error", bad)
		}
	}
}
