package forecast

import (
	"math"
	"slices"
	"time"
)

// Following a daily pattern that moved in time. A season learns each slot
// a share Gamma of its error per period, so after the pattern moves (a
// service whose users keep local time, monitored in UTC, across a clock
// change; a workload moved to another region) the old phase keeps
// (1 − Gamma)^k of its weight k periods later, and every rise arrives
// before its capacity for days. Setting the season to the pattern as it
// was, moved, follows the move at once and keeps everything else the
// model learned (its smoothing, level, weekly adjustment): nothing new is
// stored.
const (
	// maxPhaseShift is the largest move looked for, either way: a clock
	// change is an hour; two cover a move across a zone or two.
	maxPhaseShift = 2 * time.Hour
	// phaseCandidates bounds how many moves are tried each way before
	// the best is refined slot by slot, so a 1440-slot season costs about
	// 45 passes over its slots per comparison.
	phaseCandidates = 12
	// phaseGain is how much of the difference between a period's pattern
	// and the pattern of the periods before it (their slot means' squared
	// error) a move must explain before it counts. What is left without a
	// move is the series' own noise and day-to-day variation plus the
	// move's error. On the board's twelve traces as recorded the best move
	// of any day explains at most 0.80 of it (a nyc_taxi Saturday, whose
	// morning comes later; 0.78 on asg_cpu), so the bar sits clear of
	// that: at 0.75 the nyc-taxi example's season moved twice (309 → 333
	// under-provisioned samples), at 0.5, as first tried, nyc_taxi's
	// weekends and holidays moved it 34 times. An hour's move on the
	// held-out phase-shift explains 0.84-0.97 of it on crane_input14 and
	// crane_input15 once the moved rise is in the periods compared, up to
	// 0.84 on crane_input8 and 0.72 on crane_input1, whose days vary more:
	// those two are left to the season's smoothing (BENCHMARKS.md, issue 9
	// "a daily pattern that moves in time").
	phaseGain = 0.85
	// phaseCoverage is the share of the season's slots a period must have
	// observations in for its pattern to count.
	phaseCoverage = 0.9
	// phaseDays is how many periods the pattern before a move is averaged
	// over, so that one day's wobble does not set it.
	phaseDays = 3
	// phaseParts is how many equal parts of the period (quarters of a
	// day: the night, the morning, the afternoon, the evening) a move
	// is judged on one by one (movesEverywhere): a clock moves every part
	// of the day, a changed habit (a later weekend morning, an evening
	// that ends earlier) moves some and leaves the others.
	phaseParts = 4
	// phaseNoise is how many times the days' own variation (the floor:
	// what the last period's slot means would differ from the earlier
	// pattern's by if nothing had changed, judged from how the earlier
	// periods differ from each other) the error a move removes must be,
	// so that a move found in the noise between alike days is not one.
	phaseNoise = 2
	// phaseRoughGain is the bar of the rough look (mayHaveMoved) that
	// rules out most checks before the full one reads every value: well
	// below phaseGain, since one value per bin and period carries more
	// noise than the slot means do.
	phaseRoughGain = 0.5
	// phaseRoughWiden is the rough look's bin in strides of the full
	// search (20 minutes on a day of 1440 slots, 72 bins; moves of 40
	// and 70 minutes still pass, TestRoughLookKeepsTheMoves): the values
	// it reads and the bins it compares halve with each doubling. At 10
	// minutes the held-out board's three moves passed too, at twice the
	// cost (BENCHMARKS.md).
	phaseRoughWiden = 2
	// phaseRoughBins bounds the bins of the rough look, whose scratch
	// lives on the stack: a day in 10-minute bins, or a week in 2 hours.
	// A season with more is checked in full every time.
	phaseRoughBins = 144
)

// PhaseShift reports by how many slots of m's season the daily pattern
// of the series has moved later (> 0) or earlier (< 0), when m's season
// has not moved with it yet; 0 when no move fits clearly better than
// none. values are observed every step from start (Unix nanoseconds), NaN
// for missing, up to now.
//
// It compares the series with itself, not with the season: a season
// learned beside a level that follows part of the daily shape sits a
// little out of phase with the series (on nyc_taxi a slot or so), as its
// forecasts need it, and judged against the season a move of a slot
// "fitted better" every week. So it averages the values per season slot
// (less the weekly adjustment at their times: a Saturday whose morning
// comes later every week is not a move) over a period and over the
// phaseDays periods before, centres both (a whole period's mean is its
// level, whatever the move), and takes the move whose earlier pattern
// moved that much later fits the period best, by the slot means' squared
// error, when it explains at least phaseGain of the error of none.
//
// The move must be found on the last period and on the period that ended
// half a period ago, the same way, against the same earlier pattern (the
// phaseDays periods before that one): a change that is not seen there
// too has lasted less than about a day and a quarter so far (a weekend
// day, a holiday, an incident), and the pattern it is measured from is
// then one the move has not reached yet. The move must then be one of
// the whole day, larger than the days' own variation (movesEverywhere):
// the share alone passes a move found in the noise between alike days,
// or one that fits one part of the day and not the others. Last, m's season moved by the
// move must fit the last period better than in place: while the periods
// before still hold the old pattern the move is found again at every
// check, and a season that followed it once must not move twice.
//
// First a rough look (mayHaveMoved: one value per stride of slots and
// period, in bins) rules out most checks, reading a tenth of the values
// and allocating nothing; only a check it cannot rule out runs the above.
// scratch holds at least 10×len(m.Season) values it may overwrite (nil
// allocates, past the rough look only); afterwards its third
// len(m.Season) hold the earlier pattern (FollowPhase). It is
// O(len(values) + len(Season)×candidates); call it when a model is
// checked (hourly), not per evaluation.
func (m *Model) PhaseShift(values []float64, start int64, step time.Duration, scratch []float64) (slots int) {
	d, _ := m.phaseShift(values, start, step, scratch)
	return d
}

// phaseShift is PhaseShift, also returning the scratch it used (scratch,
// or one it allocated when it needed more: only once the rough look
// could not rule the move out, so a check that it does allocates
// nothing).
func (m *Model) phaseShift(values []float64, start int64, step time.Duration, scratch []float64) (int, []float64) {
	n := len(m.Season)
	period, slot := int64(m.Period), int64(m.Slot)
	if n < 3 || period <= 0 || slot <= 0 || step <= 0 || int64(step) > slot || period/int64(step) > int64(len(values)) {
		return 0, nil
	}
	per := int(period / int64(step))
	if len(values) < (phaseDays+1)*per+per/2 {
		return 0, nil
	}
	st := int64(step)
	at := func(i int) int64 { return start + int64(i)*st }
	end := len(values) - per - per/2 // the earlier pattern ends where the period half a period ago begins
	stride := max(1, int(maxPhaseShift/m.Slot)/phaseCandidates)
	most := min(int(maxPhaseShift/m.Slot), (n-1)/2) / stride * stride
	var rough [4 * phaseRoughBins]float64 // on the stack: most checks end here
	if !m.mayHaveMoved(values[end-phaseDays*per:end+per], at(end-phaseDays*per), st, phaseDays*per, stride, most, rough[:]) {
		return 0, nil
	}
	if cap(scratch) < 10*n {
		scratch = make([]float64, 10*n)
	}
	last, lastN := scratch[:n], scratch[n:2*n]
	before, beforeN := scratch[2*n:3*n], scratch[3*n:4*n]
	season := scratch[4*n : 5*n]
	if !m.slotMeans(values[end-phaseDays*per:end], at(end-phaseDays*per), st, before, beforeN) {
		return 0, nil
	}
	earlier := 0
	if first := end; m.slotMeans(values[first:first+per], at(first), st, last, lastN) {
		earlier = bestMove(last, lastN, before, stride, most, phaseGain)
	}
	if earlier == 0 {
		return 0, nil
	}
	first := len(values) - per
	if !m.slotMeans(values[first:], at(first), st, last, lastN) {
		return 0, nil
	}
	d := bestMove(last, lastN, before, stride, most, phaseGain)
	if d == 0 || (d > 0) != (earlier > 0) {
		return 0, nil
	}
	if !m.movesEverywhere(values[end-phaseDays*per:end], at(end-phaseDays*per), st, per, last, lastN, before, d, scratch[5*n:10*n]) {
		return 0, nil
	}
	// The season, centred and scaled, against the last period: has it
	// moved yet?
	mean, _ := finiteMean(m.Season) // a season's slots are finite: their mean
	k := m.scale()
	for i, s := range m.Season {
		season[i] = (s - mean) * k
	}
	if movedError(last, lastN, season, d) >= movedError(last, lastN, season, 0) {
		return 0, nil
	}
	return d, scratch
}

// FollowPhase is PhaseShift, and when it finds a move d, sets m's season
// to the earlier pattern PhaseShift measured it from (phaseDays periods
// averaged, less the weekly adjustment) moved d slots later, in the
// season's units and keeping its mean, and reports d; a slot that pattern
// has no value for takes the season's own, moved. Not the season itself
// moved: found a day or more after the move, the season has learned that
// much of the new pattern already, a share Gamma a day, and moved with
// the rest that part would sit d slots beyond it (on a series moved an
// hour earlier, its evening fall two hours early: 0.43-0.51× the
// reference's under-provisioning where the earlier pattern gives
// 0.03-0.06×). The pattern is the series' as observed, as a rebuild
// seeds a season from (Fit), and the season goes on learning from there.
func (m *Model) FollowPhase(values []float64, start int64, step time.Duration, scratch []float64) int {
	n := len(m.Season)
	d, scratch := m.phaseShift(values, start, step, scratch)
	if d == 0 {
		return 0
	}
	mean, _ := finiteMean(m.Season) // a season's slots are finite: their mean
	k := m.scale()
	before := scratch[2*n : 3*n]
	Rotate(m.Season, d)
	for i := range m.Season {
		if v := before[wrap(i-d, n)]; finite(v) {
			m.Season[i] = mean + v/k
		}
	}
	return d
}

// movesEverywhere reports whether the move d that the last period's
// slot means (last, their counts lastN) fit the earlier pattern (before,
// the slot means of values, the phaseDays periods of per values from t0)
// by is a move of the whole period and not the noise between alike
// days: the error it removes is at least phaseNoise times the floor,
// and in none of the phaseParts parts of the period does the moved
// pattern fit worse than the unmoved one by more than that part's floor.
//
// The floor of a slot is the variance of the earlier periods' own slot
// means around each other, times 1 + 1/phaseDays (a period against the
// mean of phaseDays others, when nothing changed), weighted by the last
// period's counts as the errors are. The share of the difference a move
// explains (phaseGain) cannot tell a move from these on its own: between
// alike days the difference is the noise, and the best of the moves tried
// can explain most of it (0.975 on asg_cpu's 15-minute variant, whose
// rough bins hid it); and a habit that changed in one part of the day
// (nyc_taxi's weekends and holidays, a morning later and an evening
// unchanged) is explained at 0.75-0.77 overall while the move makes the
// parts that did not move fit worse, by 4-11 floors (BENCHMARKS.md,
// issue 9 "the detector's margin").
//
// scratch holds at least 5×len(last) values it may overwrite. It runs
// only once a move passed every other test, so its pass over the earlier
// periods is rare, and it reads them again, period by period, rather than
// have phaseShift keep each period's sums while it pools them into
// before: on the board and the held-out board together 1,150 of 19,254
// hourly checks pooled the earlier periods and 7 came here, so keeping
// the periods' sums would cost every pooled pass a second store per value
// (and 6×len(last) more scratch) to save seven passes. Nor can before be
// summed from the periods' means: a pooled slot's sum is one chain of
// additions in time order, and three periods' sums added together round
// differently.
func (m *Model) movesEverywhere(values []float64, t0, step int64, per int, last, lastN, before []float64, d int, scratch []float64) bool {
	n := len(last)
	sum, sumSq, days := scratch[:n], scratch[n:2*n], scratch[2*n:3*n]
	day, dayN := scratch[3*n:4*n], scratch[4*n:5*n]
	clear(sum)
	clear(sumSq)
	clear(days)
	for j := range phaseDays {
		// A period with too few slots seen still adds the slots it has.
		m.slotMeans(values[j*per:(j+1)*per], t0+int64(j*per)*step, step, day, dayN)
		for k, v := range day {
			if finite(v) {
				sum[k] += v
				sumSq[k] += v * v
				days[k]++
			}
		}
	}
	const alone = 1 + 1.0/phaseDays // a period against the mean of phaseDays others
	var removed, floor float64
	for p := range phaseParts {
		lo, hi := p*n/phaseParts, (p+1)*n/phaseParts
		inPlace := movedErrorOver(last, lastN, before, 0, lo, hi)
		moved := movedErrorOver(last, lastN, before, d, lo, hi)
		var partFloor float64
		for k := lo; k < hi; k++ {
			if days[k] > 1 {
				variance := max(0, sumSq[k]-sum[k]*sum[k]/days[k]) / (days[k] - 1)
				partFloor += lastN[k] * variance * alone
			}
		}
		if moved > inPlace+partFloor {
			return false
		}
		removed += inPlace - moved
		floor += partFloor
	}
	return removed >= phaseNoise*floor
}

// bestMove returns the move in slots (a multiple of stride up to most
// either way, then refined slot by slot around it) whose ref moved that
// much later fits y best, when it leaves at most 1 − gain of the error of
// none; 0 otherwise.
//
// It runs at every hourly check and almost always finds none, so a
// candidate is given up as soon as its partial error passes the most a
// winner may leave (movedErrorBelow): the terms are never negative, so
// its full error could only be larger. The result is the full search's,
// candidate for candidate: a move that leaves too much never counted,
// and among those that leave little enough the first smallest wins, as
// before.
func bestMove(y, count, ref []float64, stride, most int, gain float64) int {
	inPlace := movedError(y, count, ref, 0)
	if !(inPlace > 0) {
		return 0
	}
	// bound is the most a winner may leave: at first the gain's bar
	// (inclusive), then the best so far (strictly below).
	best, bound, strict := 0, (1-gain)*inPlace, false
	try := func(c int) {
		if e, ok := movedErrorBelow(y, count, ref, c, bound); ok && (e < bound || !strict) {
			best, bound, strict = c, e, true
		}
	}
	for d := stride; d <= most; d += stride {
		try(d)
		try(-d)
	}
	if best == 0 {
		return 0
	}
	coarse := best
	for c := coarse - stride + 1; c < coarse+stride; c++ {
		if c != 0 && c != coarse {
			try(c)
		}
	}
	return best
}

// mayHaveMoved is a rough look at the period that ended half a period ago
// against the periods before it, values[split:] against values[:split],
// that rules out most hourly checks cheaply: it reads one value per bin
// of phaseRoughWiden strides of the full search and period (at one minute
// a step, 288 values of the 5,760 the full check reads, in 20-minute
// bins, less the weekly adjustment at their times), and says no only
// when no move of whole bins up to most slots (rounded up) either way
// explains phaseRoughGain of the difference. The full check finds a move
// only when it explains phaseGain at full resolution; too few bins seen
// says yes. scratch is what it may overwrite; one shorter than 4 bins
// says yes.
func (m *Model) mayHaveMoved(values []float64, t0, step int64, split, stride, most int, scratch []float64) bool {
	binSlots := stride * phaseRoughWiden
	width := int64(binSlots) * int64(m.Slot)
	bins := int(int64(m.Period) / width)
	every := max(1, int(width/step))
	if bins < 3 || every == 1 || 4*bins > len(scratch) {
		return true // nothing to save (the full check reads as many values), or no room
	}
	y, yN := scratch[:bins], scratch[bins:2*bins]
	ref, refN := scratch[2*bins:3*bins], scratch[3*bins:4*bins]
	if !m.binMeans(values[split:], t0+int64(split)*step, step, every, width, y, yN) ||
		!m.binMeans(values[:split], t0, step, every, width, ref, refN) {
		return true
	}
	return bestMove(y, yN, ref, 1, (most+binSlots-1)/binSlots, phaseRoughGain) != 0
}

// slotAverage divides each sum in mean by its count (NaN where there is none)
// and centres the means on their weighted mean; it reports whether at
// least phaseCoverage of them have observations.
func slotAverage(mean, count []float64) bool {
	n := len(mean)
	var total, seen float64
	covered := 0
	for k := range mean {
		if count[k] > 0 {
			total += mean[k]
			seen += count[k]
			mean[k] /= count[k]
			covered++
		} else {
			mean[k] = math.NaN()
		}
	}
	if covered == 0 || float64(covered) < phaseCoverage*float64(n) {
		return false
	}
	total /= seen
	for k := range mean {
		mean[k] -= total // NaN stays NaN
	}
	return true
}

// slotMeans averages values (observed every step nanoseconds from t0),
// less m's weekly adjustment at their times, per slot of m's season into
// mean (NaN for a slot without observations), with their counts in
// count, and centres the means on their weighted mean. It reports whether
// at least phaseCoverage of the slots have observations. It is binMeans
// reading every value, a bin a slot: the full look's.
func (m *Model) slotMeans(values []float64, t0, step int64, mean, count []float64) bool {
	return m.binMeans(values, t0, step, 1, int64(m.Slot), mean, count)
}

// binMeans averages every every-th value of values (observed every step
// nanoseconds from t0), less m's weekly adjustment at their times, per
// bin of width nanoseconds of m's period into mean (len(mean) bins, the
// last also taking what is left of a period that is not a whole number
// of them; NaN for a bin without observations), with their counts in
// count, and centres the means on their weighted mean (slotAverage). It
// reports whether at least phaseCoverage of the bins have observations.
//
// It is the one pass over the values behind both looks of the phase
// detector: the full one (slotMeans: every value, a season slot a bin)
// and the rough one (mayHaveMoved: one value a bin, bins of several
// slots), which were two copies of it, so that both put a value in the
// bin its time falls in, (t0 + i×step) mod period / width, the same way.
// It runs over four periods of values at every hourly check, so the bin
// is never divided out per value: when each value read is a bin after
// the one before (the rough look's usual case, and the full look's when
// the data step is the slot) it is counted on, and otherwise the
// position in the period is followed value by value and the bin moved on
// as the position passes its end. The weekly adjustment is looked up
// only while it acts (weekly is 0 otherwise).
func (m *Model) binMeans(values []float64, t0, step int64, every int, width int64, mean, count []float64) bool {
	n, period := len(mean), int64(m.Period)
	clear(mean)
	clear(count)
	weekly := m.Week.active && m.Period == weekPeriod/7
	stride := int64(every) * step // between two values read
	pos := position(t0, period)   // within the period, of the value read
	if stride == width && int64(n)*width == period {
		mean, count = mean[:n], count[:n]
		for i, k := 0, int(pos/width); i < len(values); i += every {
			if v := values[i]; finite(v) {
				if weekly {
					v -= m.weekly(t0 + int64(i)*step)
				}
				mean[k] += v
				count[k]++
			}
			if k++; k == n {
				k = 0
			}
		}
		return slotAverage(mean, count)
	}
	k := pos / width        // bin of pos, uncapped
	next := (k + 1) * width // where bin k+1 begins
	for i := 0; i < len(values); i += every {
		if v := values[i]; finite(v) {
			j := min(int(k), n-1)
			if weekly {
				v -= m.weekly(t0 + int64(i)*step)
			}
			mean[j] += v
			count[j]++
		}
		// On to the next value read (past the last, harmlessly).
		if pos += stride; pos >= period {
			pos %= period
			k, next = pos/width, (pos/width+1)*width
		}
		for pos >= next {
			k, next = k+1, next+width
		}
	}
	return slotAverage(mean, count)
}

// movedError is the squared error, weighted by y's counts, of ref moved d
// slots later against y, over the slots where both have a value.
func movedError(y, count, ref []float64, d int) float64 {
	return movedErrorOver(y, count, ref, d, 0, len(y))
}

// movedErrorOver is movedError over y's slots lo to hi (not included)
// only: movesEverywhere judges a move part by part of the period.
func movedErrorOver(y, count, ref []float64, d, lo, hi int) float64 {
	n := len(y)
	var e float64
	for k := lo; k < hi; k++ {
		if x := y[k] - ref[wrap(k-d, n)]; finite(x) {
			e += count[k] * x * x
		}
	}
	return e
}

// movedErrorBelow is movedError, given up (false) as soon as its partial
// sum passes bound: every term is at least 0 and a float sum of such
// terms never falls, so the full error would pass it too. When it
// completes the error is movedError's to the bit (the same terms added in
// the same order).
func movedErrorBelow(y, count, ref []float64, d int, bound float64) (float64, bool) {
	n := len(y)
	var e float64
	for k := range n {
		j := wrap(k-d, n)
		if x := y[k] - ref[j]; finite(x) {
			e += count[k] * x * x
			if e > bound {
				return e, false
			}
		}
	}
	return e, true
}

// wrap returns i modulo n for i in (−n, 2n).
func wrap(i, n int) int {
	switch {
	case i < 0:
		return i + n
	case i >= n:
		return i - n
	}
	return i
}

// Rotate moves the elements of s d places towards its end (towards its
// start for d < 0), those that fall off the end coming back at the start,
// in place and without allocating.
func Rotate[T any](s []T, d int) {
	n := len(s)
	if n == 0 {
		return
	}
	d %= n
	if d < 0 {
		d += n
	}
	if d == 0 {
		return
	}
	slices.Reverse(s)
	slices.Reverse(s[:d])
	slices.Reverse(s[d:])
}
