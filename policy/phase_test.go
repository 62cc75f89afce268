package policy

import (
	"testing"
	"time"
)

// TestSeasonFollowsAPhaseMove: a model chosen with a daily season on five
// days keeps running, not chosen again, when 42 more hours come; when
// the daily pattern in them arrives an hour later, the hourly season
// check moves its season by an hour (it forecasts the next morning's
// rise at 09:00 of dayShape's day, not 08:00) and its scores by the time of day by one
// slot, with its smoothing, persistence and recent scores kept
// (followPhase). The same hours unmoved leave the season and the scores
// as they were. The check an hour before, at 05:00, off the grid of
// every phaseCheckHours-th hour, does not look.
func TestSeasonFollowsAPhaseMove(t *testing.T) {
	const perDay = 1440
	p := basePolicy()
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(3 * time.Minute), Season: Season{Auto: true}, History: Duration(7 * 24 * time.Hour)}
	start := t0.Add(-5 * 24 * time.Hour) // t0 is 12:00
	for _, c := range []struct {
		name  string
		moved bool
	}{
		{"unmoved", false},
		{"an hour later", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 5*perDay + 42*60 // ends at 06:00, a phaseCheckHours hour
			values := series(n, 2, func(i int) float64 {
				if c.moved && i >= 5*perDay {
					return 100 * dayShape(i-60)
				}
				return 100 * dayShape(i)
			})
			var mm MetricModel
			configureSeason(&p, &mm, Window{Start: start, Step: time.Minute, Values: values[:5*perDay]}, newInstant(t0))
			if mm.Model.Period != 24*time.Hour {
				t.Fatalf("chose season %v; want a daily one", mm.Model.Period)
			}
			for i := range mm.Slots {
				mm.Slots[i].Scored = uint32(i + 1)
			}
			for i := 5 * perDay; i < n; i++ {
				mm.Model.Observe(start.Add(time.Duration(i)*time.Minute), values[i], mm.Params)
			}
			before := mm
			before.Model = mm.Model.Clone()
			early := mm
			early.Model = mm.Model.Clone()
			if followPhase(&early, Window{Start: start, Step: time.Minute, Values: values[:n-60]}) {
				t.Errorf("the check at 05:00 moved the season; want a look only every %d hours", phaseCheckHours)
			}
			now := start.Add(time.Duration(n) * time.Minute)
			if fitted := configureSeason(&p, &mm, Window{Start: start, Step: time.Minute, Values: values}, newInstant(now)); len(fitted.Values) != 0 || !mm.TunedAt.Equal(t0) ||
				mm.Params != before.Params || mm.Persist != before.Persist || mm.Scored != before.Scored {
				t.Fatalf("chosen again (tuned at %v, %v); want the running model kept", mm.TunedAt, mm.Params)
			}
			next := start.Add(7 * 24 * time.Hour) // dayShape's day starts at start's time of day
			at0845, at0945 := mm.Model.Forecast(next.Add(8*time.Hour+45*time.Minute), mm.Params), mm.Model.Forecast(next.Add(9*time.Hour+45*time.Minute), mm.Params)
			if moved := at0845 < 100 && at0945 > 100; moved != c.moved {
				t.Errorf("forecast %.0f at 08:45 and %.0f at 09:45; want the rise moved %v", at0845, at0945, c.moved)
			}
			shift := 0
			if c.moved {
				shift = 1
			}
			for i := range mm.Slots {
				if want := uint32((i-shift+TimeOfDaySlots)%TimeOfDaySlots + 1); mm.Slots[i].Scored != want {
					t.Fatalf("slot %d's scores are slot %d's, want slot %d's", i, mm.Slots[i].Scored-1, want-1)
				}
			}
		})
	}
}
