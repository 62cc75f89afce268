package policy

import (
	"math"
	"strconv"
	"testing"
)

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

// TestRecordLeavesOutWhatIsNotANumber: a record carries each optional
// number of a proposal (finiteRef) when it is finite, and leaves it out
// (nil, absent from the JSON) when it is NaN or infinite, as a proposal
// says "none"; a stale sample's value is left out whatever it is.
func TestRecordLeavesOutWhatIsNotANumber(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ptr := func(f *float64) string {
		if f == nil {
			return "nil"
		}
		return strconv.FormatFloat(*f, 'g', -1, 64)
	}
	for _, c := range []struct {
		name string
		m    MetricProposal
		want [6]string // value, forecast, upper, weekly, skill, slot skill
	}{
		{"all finite", MetricProposal{Value: 50, Forecast: 60, Upper: 70, Weekly: -2, Skill: 0.3, SlotSkill: 0.5},
			[6]string{"50", "60", "70", "-2", "0.3", "0.5"}},
		{"none yet", MetricProposal{Value: 50, Forecast: nan, Upper: nan, Weekly: nan, Skill: nan, SlotSkill: float32(nan)},
			[6]string{"50", "nil", "nil", "nil", "nil", "nil"}},
		{"infinities", MetricProposal{Value: inf, Forecast: -inf, Upper: inf, Weekly: 0, Skill: -inf, SlotSkill: float32(inf)},
			[6]string{"nil", "nil", "nil", "0", "nil", "nil"}},
		{"stale", MetricProposal{Value: 50, Stale: true, Forecast: 60, Upper: nan, Weekly: nan, Skill: 0, SlotSkill: float32(nan)},
			[6]string{"nil", "60", "nil", "nil", "0", "nil"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d Decision
			d.Metrics[0], d.NumMetrics = c.m, 1
			mr := d.Record(Policy{Metrics: []Metric{{Name: "m"}}}).Metrics[0]
			got := [6]string{ptr(mr.Value), ptr(mr.Forecast), ptr(mr.Upper), ptr(mr.Weekly), ptr(mr.Skill), ptr(mr.SlotSkill)}
			if got != c.want {
				t.Errorf("record's value, forecast, upper, weekly, skill, slot skill = %v, want %v", got, c.want)
			}
		})
	}
}
