package forecast

import (
	"math"
	"slices"
)

// minShiftPeriods is how many whole periods a model must have been chosen
// on before a level outside their range counts as a shift: one period's
// level is a point and two are one day's difference, which says little
// about how far a level wanders on its own. With two, a rise of crane_input1
// at 15 minutes that was the series' own made its season scale, and its
// instance-hours went over the target (BENCHMARKS.md, issue 9 "after a
// shift, the model for today").
const minShiftPeriods = 3

// LevelShift looks at a series observed every step (values, NaN for
// missing) for a level that has left the range the model was chosen in:
// chosen are the indices [from, to) of the values the model was chosen on,
// per the number of values in a period of its season. It compares the mean
// of the last period of values with the means of the whole periods of
// chosen (counted back from to), and reports a shift (ok) when
//   - chosen holds at least minShiftPeriods whole periods with data, so
//     that their range shows how far the level wanders on its own. A
//     choice made on a shorter span (a young series: `season: auto`
//     chooses its daily season from a day and a half on, and a choice
//     waits for three times its evidence before the next) is judged on
//     every whole period from its start up to the last period instead,
//     the periods the model has run through since adding the evidence
//     the choice lacked; otherwise a launch days after such a choice
//     would go unfollowed until the next one, days later still;
//   - the last period's mean lies beyond that range by more than the
//     range's own width, a move larger than any the model was chosen on;
//   - the last period's spread (its standard deviation: the daily shape
//     and the noise) moved with the level: its log-ratio to the chosen
//     periods' mean spread is nearer the level's log-ratio than 0. A
//     launch that doubles the traffic doubles the daily amplitude too; an
//     offset (a batch job added to the same shape) moves the level alone,
//     and an additive season is then still right.
//
// ref is the chosen periods' mean level and recent the last period's, the
// units and the factor a season that follows the shift starts from
// (Model.ScaleFrom). It allocates nothing and is O(len(values)) at worst,
// but reads the chosen periods from the latest back and stops as soon as
// the last period's level lies within the range of those read so far,
// which no further period can undo: without a shift it reads a few
// periods, not the whole span. Call it when a model's season is checked,
// not per evaluation.
func LevelShift(values []float64, per, from, to int) (ref, recent float64, ok bool) {
	n := len(values)
	from, to = max(from, 0), min(to, n)
	if per <= 0 || n < per {
		return 0, 0, false
	}
	if to-from < minShiftPeriods*per {
		to = max(to, n-per) // the chosen span and the periods since, up to the last
	}
	if to-from < minShiftPeriods*per {
		return 0, 0, false
	}
	recent, recentSD, ok := moments(values[n-per:])
	if !ok {
		return 0, 0, false
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var sd float64
	k := 0
	for end := to; end-per >= from; end -= per {
		m, s, ok := moments(values[end-per : end])
		if !ok {
			continue
		}
		lo, hi = min(lo, m), max(hi, m)
		if width := hi - lo; recent <= hi+width && recent >= lo-width {
			// The range only widens with more periods, and its bounds
			// hi+width and lo-width only move outwards (rounding is
			// monotone), so recent stays inside it: no shift either way,
			// the answer the whole span would give. Most hourly checks
			// end here after a few of the latest periods instead of
			// reading every period of the chosen span.
			return 0, 0, false
		}
		ref += m
		sd += s
		k++
	}
	if k < minShiftPeriods {
		return 0, 0, false
	}
	ref, sd = ref/float64(k), sd/float64(k)
	width := hi - lo
	if recent <= hi+width && recent >= lo-width {
		return 0, 0, false
	}
	if !(ref > 0) || !(recent > 0) || !(sd > 0) || !(recentSD > 0) {
		return 0, 0, false // a ratio of levels or spreads needs both positive
	}
	level, spread := math.Log(recent/ref), math.Log(recentSD/sd)
	return ref, recent, math.Abs(spread-level) < math.Abs(spread)
}

// moments returns the mean and standard deviation of the finite values of
// v, and false when it has none.
func moments(v []float64) (mean, sd float64, ok bool) {
	var sum, sq, n float64
	for _, x := range v {
		if finite(x) {
			sum += x
			sq += x * x
			n++
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	mean, variance := meanVariance(sum, sq, n)
	return mean, math.Sqrt(variance), true
}

// ScaleFrom makes an additive season scale with the level from now on
// (see Ref): its components in units of ref, the level it was learned at,
// and the factor starting at mean/ref (Mean = mean, the level of about the
// last season), after which Mean follows the level as any scaled season's
// does. It reports whether it could; like ScaleSeason it refuses a model
// without a season, one already scaled, levels that are not positive and a
// shape that takes the demand below zero at ref. A caller uses it when the
// level has moved far from the one the season was learned at and the
// daily spread moved with it (LevelShift), so the season follows a launch
// or a migration within a season instead of relearning the amplitude a
// share Gamma a day until the next rebuild.
func (m *Model) ScaleFrom(ref, mean float64) bool {
	if len(m.Season) == 0 || m.Ref > 0 || !(ref > 0) || !(mean > 0) || !finite(ref) || !finite(mean) ||
		ref+slices.Min(m.Season) < -1e-9*ref {
		return false
	}
	r, mn := float32(ref), float32(mean)
	if !(r > 0) || !(mn > 0) || math.IsInf(float64(r), 0) || math.IsInf(float64(mn), 0) { // below or beyond float32
		return false
	}
	m.Ref, m.Mean = r, mn
	return true
}
