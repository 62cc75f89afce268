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
// missing) for a level that has risen beyond the range the model was
// chosen in: chosen are the indices [from, to) of the values the model was
// chosen on, per the number of values in a period of its season. It
// compares the mean
// of the last period of values with the means of the whole periods of
// chosen (counted back from to), and reports a rise (ok) when
//   - chosen holds at least minShiftPeriods whole periods with data, so
//     that their range shows how far the level wanders on its own. A
//     choice made on a shorter span (a young series: `season: auto`
//     chooses its daily season from a day and a half on, and a choice
//     waits for three times its evidence before the next) is judged on
//     every whole period from its start up to the last period instead,
//     the periods the model has run through since adding the evidence
//     the choice lacked; otherwise a launch days after such a choice
//     would go unfollowed until the next one, days later still;
//   - the last period's mean lies above that range by more than the
//     range's own width, a move larger than any the model was chosen on;
//   - the last period's spread (its standard deviation: the daily shape
//     and the noise) moved with the level: its log-ratio to the chosen
//     periods' mean spread is nearer the level's log-ratio than 0. A
//     launch that doubles the traffic doubles the daily amplitude too; an
//     offset (a batch job added to the same shape) moves the level alone,
//     and an additive season is then still right.
//
// It reports rises only: its one caller follows rises alone (a drop
// followed measured worse, policy.followLevelShift), and a rise-only
// check can stop at the first period whose level reaches the last one's.
//
// ref is the chosen periods' mean level and recent the last period's, the
// units and the factor a season that follows the shift starts from
// (Model.ScaleFrom). It allocates nothing and is O(len(values)) at worst,
// but reads the chosen periods' means from the latest back and stops as
// soon as the range of those read so far reaches the last period's level
// (hi + width >= recent), which no further period can undo: without a
// rise it reads the latest period or two, not the whole span, and the
// spreads only for a rise. Call it when a model's season is checked, not
// per evaluation.
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
	// The means first, alone (periodMean sums as moments does, so they
	// are the same means): most checks stop at them. The last period's
	// and the latest chosen one's are summed in one pass (periodMeans),
	// every check reads both.
	var latest float64
	latestOK := false
	if to-per >= from {
		recent, ok, latest, latestOK = periodMeans(values[n-per:], values[to-per:to])
	} else {
		recent, ok = periodMean(values[n-per:])
	}
	if !ok {
		return 0, 0, false
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	k := 0
	for end := to; end-per >= from; end -= per {
		m, ok := latest, latestOK
		if end != to {
			m, ok = periodMean(values[end-per : end])
		}
		if !ok {
			continue
		}
		lo, hi = min(lo, m), max(hi, m)
		if recent <= hi+(hi-lo) {
			// hi+width only grows as periods are read (and rounding is
			// monotone), so recent can no longer rise beyond it: no
			// rise, the answer the whole span would give. Most hourly
			// checks end here after the latest period or two instead of
			// reading every period of the chosen span.
			return 0, 0, false
		}
		k++
	}
	if k < minShiftPeriods {
		return 0, 0, false
	}
	// A rise beyond the range by more than its width: the spreads decide,
	// read now, period by period in the same order as the means.
	_, recentSD, _ := moments(values[n-per:])
	var sd float64
	for end := to; end-per >= from; end -= per {
		m, s, ok := moments(values[end-per : end])
		if !ok {
			continue
		}
		ref += m
		sd += s
	}
	ref, sd = ref/float64(k), sd/float64(k)
	if !(ref > 0) || !(recent > 0) || !(sd > 0) || !(recentSD > 0) {
		return 0, 0, false // a ratio of levels or spreads needs both positive
	}
	level, spread := math.Log(recent/ref), math.Log(recentSD/sd)
	return ref, recent, math.Abs(spread-level) < math.Abs(spread)
}

// periodMean is finiteMean, the same value bit for bit, at a third of its
// cost on a period without gaps, the common one: it sums every value first,
// with no test per value, and divides that sum when it is finite
// (meanOfSum; groupMean says why it is finiteMean's then).
func periodMean(v []float64) (float64, bool) {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return meanOfSum(v, sum)
}

// periodMeans is periodMean of a and of b, bit for bit, with both sums in
// one loop: each sum is a chain of additions, each waiting for the one
// before (in order, so the mean is finiteMean's), and two chains side by
// side take about the time of one. LevelShift reads two periods' means at
// every check, each a period of values long. a and b must be of the same
// length: it panics otherwise, rather than keep a second path for a case
// its one caller never has.
func periodMeans(a, b []float64) (ma float64, aOK bool, mb float64, bOK bool) {
	if len(a) != len(b) {
		panic("forecast: periodMeans of periods of unequal length")
	}
	b = b[:len(a)] // so the loop reads b[i] without a bounds check
	var sa, sb float64
	for i, x := range a {
		sa += x
		sb += b[i]
	}
	ma, aOK = meanOfSum(a, sa)
	mb, bOK = meanOfSum(b, sb)
	return ma, aOK, mb, bOK
}

// meanOfSum is periodMean's result from sum, the sum of v's values in
// order: groupMean's, with false (and 0, as finiteMean) for values
// without a finite one. groupMean is NaN exactly then: a mean of finite
// values is never NaN (their sum can overflow to an infinity but never
// meet the opposite one), and an empty v's sum of 0 divides to NaN. The
// shortcut is groupMean's and not the other way round because downsample
// calls it for every group, where a second call level cost about 4 %
// more instructions (BenchmarkDetectSeason*, callgrind), and LevelShift
// calls this two or three times an hourly check.
func meanOfSum(v []float64, sum float64) (float64, bool) {
	if m := groupMean(v, sum); !math.IsNaN(m) {
		return m, true
	}
	return 0, false
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
