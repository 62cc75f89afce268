package policy

import (
	"math"

	"github.com/capstan-io/capstan/policy/forecast"
)

// followPhase moves the running model's season in time when the
// series' daily pattern has moved (forecast.Model.FollowPhase: the last
// period's pattern, and the one of the period that ended half a period
// ago, fit the pattern of the periods before clearly better moved by a
// whole number of slots than in place): a service whose users keep local
// time, monitored in UTC, moves by an hour at each clock change, and a
// season that relearns a share Gamma of each slot a day follows the move
// for days, a model chosen again only when its retune falls due
// (BENCHMARKS.md, issue 9 "a daily pattern that moves in time"). The
// scores by the time of day move with the season, by the nearest whole
// number of their slots, so that "the forecast at 08:00 beat persistence
// at 08:00" still speaks of the same part of the day. It runs at the
// hourly check, where the model is kept, and reports whether it moved the
// season.
//
// It looks only at the hourly checks that fall in every phaseCheckHours-th
// hour since the Unix epoch (the history's end is the check's time): the
// look reads values spread over four days of history, about a cache miss
// each, and at every hourly check it cost about a quarter of a replay's
// time (BENCHMARKS.md, issue 9 "a daily pattern that moves in time", its
// cost), while a move is found a day after it happens at the earliest, so
// a few hours more change little.
// phaseCheckHours is how often, in hours, followPhase looks for a move.
const phaseCheckHours = 6

func followPhase(mm *MetricModel, hist Window) bool {
	m := &mm.Model
	if m.Period <= 0 || m.Slot <= 0 || hist.Step <= 0 || hist.Start.IsZero() {
		return false
	}
	if hour := hist.End().Unix() / 3600; hour%phaseCheckHours != 0 {
		return false
	}
	// hist is the history up to now (configureSeason trims it).
	d := m.FollowPhase(hist.Values, hist.Start.UnixNano(), hist.Step, nil)
	if d == 0 {
		return false
	}
	if mm.Slots != nil {
		width := float64(m.Period) / TimeOfDaySlots
		forecast.Rotate(mm.Slots[:], int(math.Round(float64(d)*float64(m.Slot)/width)))
	}
	return true
}
