package forecast

import (
	"math"
	"slices"
	"time"
)

// DefaultCandidates returns the season lengths worth looking for in
// operational metrics: hourly jobs, the daily cycle and the weekly cycle.
func DefaultCandidates() []time.Duration {
	return []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
}

// Detection tuning; each constant is explained where it is used.
const (
	detectPointsPerPeriod = 24  // a candidate is judged on this many bucket means per period
	detectMinLag          = 4   // a "period" of fewer steps is noise, not a season
	detectMinACF          = 0.3 // a weaker correlation is not worth a seasonal model
	detectLongerShare     = 0.5 // a longer period must leave at most this share of a shorter one's 1-ACF
	// detectMinCycles is how many periods of data a candidate needs: one
	// and a half, the least on which the local-peak test still has pairs
	// at every offset (at P+20 %, 0.3 P of them, 7 detection buckets).
	// The significance threshold 2/√pairs already asks more of a short
	// history, and the backtest that follows chooses between the season
	// and the trend-only model on the same data, so waiting for two full
	// periods only kept a new policy without its daily shape for half a
	// day longer (the held-out board's halves: app_cpu's second half
	// 0.62× → 0.55× the reference's under-provisioning, BENCHMARKS.md).
	detectMinCycles = 1.5
)

// detectPeakOffsets are the relative lag offsets at which the
// autocorrelation must be lower than at the candidate lag itself.
var detectPeakOffsets = [...]float64{-0.2, -0.1, 0.1, 0.2}

// DetectSeason looks for the candidate period that best explains values
// (observed every step, NaN for missing) and returns it with its strength,
// the autocorrelation at that lag; it returns 0, 0 when no candidate is
// significant. It allocates and is O(len(values) × len(candidates)); call it
// when a model is (re)built, not per evaluation.
//
// Each candidate P with at least one and a half periods of data is judged on its
// own time scale: the values are first averaged into 24 buckets per period
// (hourly buckets for 24h, 7-hour buckets for 7d). That averages away sample
// noise that hides a slow cycle in a noisy series, keeps the work small (a
// week of 10-second samples becomes about 4,000 points for the 1h candidate
// and fewer for longer ones), and stops a faster cycle from passing for a
// slower one: hourly spikes vanish in hourly buckets, so they are not
// reported as a daily season. Then it
//   - removes the trend with a centred moving average of length P (extended
//     linearly at the ends), which erases a season of length P from the
//     average but leaves it in the residual, so level shifts and ramps do
//     not look periodic;
//   - computes the autocorrelation of the residual at lag P (pairs with a
//     missing side are skipped);
//   - accepts P when that exceeds max(0.3, 2/√pairs) and is a local peak,
//     higher than at P±10 % and P±20 %, because a smooth residual
//     correlates at every nearby lag, not only at a true period.
//
// A series with period P also correlates at 2P, 3P, …, so among accepted
// candidates the shortest wins unless a longer one leaves at most half of
// the shorter one's unexplained part (1-ACF): a daily cycle is reported as
// 24h, and as 7d only when weekdays and weekends differ enough to matter.
// That comparison measures the longer candidate at the shorter one's
// resolution, because coarser buckets average away more noise and would
// otherwise favour the longer period whatever the data.
func DetectSeason(values []float64, step time.Duration, candidates []time.Duration) (period time.Duration, strength float64) {
	if step <= 0 {
		return 0, 0
	}
	type cand struct {
		period time.Duration
		lag    int // in steps
	}
	var cands []cand
	for _, c := range candidates {
		lag := int(math.Round(float64(c) / float64(step)))
		if lag >= detectMinLag && detectMinCycles*float64(lag) <= float64(len(values)) {
			cands = append(cands, cand{c, lag})
		}
	}
	if len(cands) == 0 {
		return 0, 0
	}
	slices.SortFunc(cands, func(a, b cand) int { return a.lag - b.lag })

	d := newDetector(values, max(1, cands[0].lag/detectPointsPerPeriod))
	bestK := 0 // bucket size of the accepted period
	for _, c := range cands {
		k := max(1, c.lag/detectPointsPerPeriod)
		acf, _, ok := d.score(c.lag, k, true)
		if !ok {
			continue
		}
		if period != 0 {
			// A longer candidate that holds whole cycles of the accepted
			// one contains its shape too: a 24 h model with 1-minute slots
			// carries an hourly pattern. It wins when it explains at least as
			// much at the shorter one's resolution, rather than having to
			// explain far more; otherwise two significant seasons swap
			// whenever noise tips the balance, and every swap rebuilds the
			// model. A longer one that does not contain the shorter (or
			// cannot resolve it in MaxSlots slots) must still leave at most
			// detectLongerShare of the shorter one's unexplained part.
			same, pairs, _ := d.score(c.lag, bestK, false)
			need := 1 - detectLongerShare*(1-strength)
			if contains(c.period, period) && pairs > 0 {
				// At least as much, give or take the autocorrelation's
				// sampling error (about 1/√pairs; two of them, like the
				// significance threshold).
				need = strength - 2/math.Sqrt(float64(pairs))
			}
			if same < need {
				continue
			}
		}
		period, strength, bestK = c.period, acf, k
	}
	return period, strength
}

// Untested returns the longest candidate season of which n values, observed
// every step, hold at least one whole period but fewer than DetectSeason
// needs to judge it (one and a half periods), that a window of at most
// most values will let it judge, and that contains detected (what
// DetectSeason found on the same values, 0 for nothing); 0 when there is
// none. Such a season's first period is there to seed a model from before
// detection can say whether it repeats (a daily shape on a policy's second
// day), and detection will say so within half a period. A candidate the
// window can never judge (a week in a week's window) is never untested:
// it would stand unjudged for good.
func Untested(n, most int, step time.Duration, candidates []time.Duration, detected time.Duration) time.Duration {
	if step <= 0 {
		return 0
	}
	var u time.Duration
	for _, c := range candidates {
		lag := int(math.Round(float64(c) / float64(step)))
		if lag >= detectMinLag && lag <= n && detectMinCycles*float64(lag) > float64(n) && detectMinCycles*float64(lag) <= float64(most) &&
			(detected == 0 || contains(c, detected)) && c > u {
			u = c
		}
	}
	return u
}

// Judgeable reports whether n values observed every step are enough for
// DetectSeason to judge a season of the given period.
func Judgeable(n int, step, period time.Duration) bool {
	return step > 0 && detectMinCycles*math.Round(float64(period)/float64(step)) <= float64(n)
}

// contains reports whether a season of length long carries one of length
// short as part of its own shape: it holds whole short cycles; each short
// cycle fits in one of the long season's detection buckets, so that the
// short pattern is a detail within the long shape (an hourly pattern within
// the day) rather than the long shape being a repetition of the short one
// (a week of days, which the stricter detectLongerShare rule judges); and
// the long season's MaxSlots slots resolve the short cycle as finely as
// detection does (detectPointsPerPeriod slots per cycle).
func contains(long, short time.Duration) bool {
	return short > 0 && long%short == 0 && long/short >= detectPointsPerPeriod &&
		long/MaxSlots <= short/detectPointsPerPeriod
}

// detector holds the series and buffers that DetectSeason reuses for every
// candidate and resolution.
type detector struct {
	values []float64
	resids []float64
	// res keeps the series at the two resolutions scored last: a longer
	// candidate is scored at its own and then at the accepted one's
	// (DetectSeason's containment check), so the bucketing, its prefix
	// sums and moments are worked out once per resolution, not per score.
	res  [2]resolution
	last int // the index in res used last
}

// resolution is the series in buckets of k steps (k 0: not filled), with
// the prefix sums and moments every score at that resolution needs.
type resolution struct {
	k                  int
	means, sums, count []float64
	x                  []float64 // means, or the values themselves for k 1
	mean, variance     float64
}

// at returns the series in buckets of k steps, reusing what is kept.
func (d *detector) at(k int) *resolution {
	for i := range d.res {
		if d.res[i].k == k {
			d.last = i
			return &d.res[i]
		}
	}
	d.last = 1 - d.last // replace the one used less recently
	r := &d.res[d.last]
	n := (len(d.values) + k - 1) / k
	if cap(r.sums) < n+1 { // count is allocated only for a series with gaps (prefixSums)
		r.means, r.sums = make([]float64, 0, n), make([]float64, 0, n+1)
	}
	r.k = k
	r.x = downsample(d.values, k, r.means[:0])
	r.sums, r.count, r.mean, r.variance = prefixSums(r.x, r.sums[:0], r.count[:0])
	return r
}

// newDetector sizes the buffers for the finest resolution used, buckets of
// kMin steps, so that a week of 10-second samples needs kilobytes, not
// megabytes.
func newDetector(values []float64, kMin int) *detector {
	n := len(values)
	if kMin > 1 {
		n = (n + kMin - 1) / kMin
	}
	return &detector{values: values, resids: make([]float64, n)}
}

// score averages the values into buckets of k steps, detrends them over lag
// steps and returns the autocorrelation at that lag, the number of pairs it
// rests on, and, when judge is set, whether it is both significant and a
// local peak (ok is false otherwise: a caller that reads only the
// autocorrelation saves the four more that the local-peak check costs).
func (d *detector) score(lagSteps, k int, judge bool) (acf float64, pairs int, ok bool) {
	r := d.at(k)
	x := r.x
	resid := d.resids[:len(x)]
	lag := min(int(math.Round(float64(lagSteps)/float64(k))), len(x)-1)
	mean, variance := detrend(x, r.sums, r.count, lag, resid)
	// A residual this small is rounding error (a constant or a pure trend),
	// whose autocorrelation is meaningless.
	xMean, xVar := r.mean, r.variance
	if !(variance > 1e-12*(xMean*xMean+xVar)) { // relative to x's mean square
		return 0, 0, false
	}
	// Five autocorrelations of the same residual follow (at the lag and
	// around it): subtract its mean once, not in each.
	gaps := centre(resid, mean)
	acf, pairs = autocorrelation(resid, gaps, variance, lag)
	ok = judge && acf > max(detectMinACF, 2/math.Sqrt(float64(pairs))) && localPeak(resid, gaps, variance, lag, acf)
	return acf, pairs, ok
}

// localPeak reports whether the autocorrelation of the centred residual c
// at lag, acf, is higher than at each of detectPeakOffsets around it (at
// least one point away).
func localPeak(c []float64, gaps bool, variance float64, lag int, acf float64) bool {
	var lags [len(detectPeakOffsets)]int
	for k, off := range detectPeakOffsets {
		l := int(math.Round(float64(lag) * (1 + off)))
		if l == lag {
			l += int(math.Copysign(1, off))
		}
		lags[k] = l
	}
	if acfs, ok := autocorrelations(c, gaps, variance, lags); ok {
		for _, a := range acfs {
			if a >= acf {
				return false
			}
		}
		return true
	}
	for _, l := range lags {
		if a, _ := autocorrelation(c, gaps, variance, l); a >= acf {
			return false
		}
	}
	return true
}

// autocorrelations returns autocorrelation(c, false, variance, l) for each
// of the lags, bit for bit, in one pass over c rather than four: each lag's
// sum is its own accumulator, added to in the same order as alone, so the
// four additions of a step do not wait on each other (alone, each addition
// waits for the one before). ok is false, and nothing computed, when c has
// gaps or a lag is not within (0, len(c)): the caller takes them one at a
// time then.
func autocorrelations(c []float64, gaps bool, variance float64, lags [4]int) (acfs [4]float64, ok bool) {
	n := len(c)
	if gaps || variance <= 0 {
		return acfs, false
	}
	longest := 0
	for _, l := range lags {
		if l <= 0 || l >= n {
			return acfs, false
		}
		longest = max(longest, l)
	}
	// Every lag has a pair at each i below n-longest; the shorter lags'
	// remaining pairs follow, in order, in their own loops.
	m := n - longest
	l0, l1, l2, l3 := lags[0], lags[1], lags[2], lags[3]
	a, b0, b1, b2, b3 := c[:m], c[l0:l0+m], c[l1:l1+m], c[l2:l2+m], c[l3:l3+m]
	s0, s1, s2, s3 := 0.0, 0.0, 0.0, 0.0
	for i, x := range a {
		s0 += x * b0[i]
		s1 += x * b1[i]
		s2 += x * b2[i]
		s3 += x * b3[i]
	}
	s := [4]float64{s0, s1, s2, s3}
	for k, l := range lags {
		sum := s[k]
		for i := m; i < n-l; i++ {
			sum += c[i] * c[i+l]
		}
		acfs[k] = sum / float64(n-l) / variance
	}
	return acfs, true
}

// downsample appends to out the means of consecutive groups of k values,
// skipping NaN; a group with no finite value becomes NaN.
//
// Most groups have no gap, so a group is first summed without a check per
// value; a gap makes that sum NaN or infinite, and then the group is summed
// again skipping its missing values (a group of finite values whose sum
// overflows gets the same sum both ways). Four groups of 8 or more are
// summed side by side: each sum is a chain of additions in the group's own
// order, so the result is the same as one group at a time, but the four
// chains overlap instead of each addition waiting on the one before.
func downsample(values []float64, k int, out []float64) []float64 {
	if k <= 1 {
		return values
	}
	i := 0
	// (Short groups are summed one at a time: their chains are short, and
	// the four-way loop's overhead measured a few per cent slower at k 2.)
	for ; k >= 8 && i+4*k <= len(values); i += 4 * k {
		g0 := values[i : i+k]
		g1, g2, g3 := values[i+k:i+2*k], values[i+2*k:i+3*k], values[i+3*k:i+4*k]
		g1, g2, g3 = g1[:len(g0)], g2[:len(g0)], g3[:len(g0)]
		var s0, s1, s2, s3 float64
		for t, v := range g0 {
			s0 += v
			s1 += g1[t]
			s2 += g2[t]
			s3 += g3[t]
		}
		out = append(out, groupMean(g0, s0), groupMean(g1, s1), groupMean(g2, s2), groupMean(g3, s3))
	}
	if k == 2 { // 1-minute data's hourly candidate: no group slicing or inner loop
		for ; i+2 <= len(values); i += 2 {
			var sum float64
			sum += values[i]
			sum += values[i+1]
			if finite(sum) {
				out = append(out, sum/2)
			} else {
				out = append(out, groupMean(values[i:i+2], sum))
			}
		}
	}
	for ; i < len(values); i += k {
		group := values[i:min(i+k, len(values))]
		var sum float64
		for _, v := range group {
			sum += v
		}
		if finite(sum) { // written out, not groupMean: a call per group of 2 costs more than the sum
			out = append(out, sum/float64(len(group)))
		} else {
			out = append(out, groupMean(group, sum))
		}
	}
	return out
}

// groupMean is the mean of group's finite values (NaN when it has none),
// finiteMean's bit for bit, given sum, its values summed in order without
// a check: a finite sum means every value was finite (a NaN or an
// infinity would have stayed in it), so it is finiteMean's sum and only
// needs dividing; otherwise finiteMean sums the finite values again. It
// is the one shortcut of every mean that sums first: the season
// detector's downsample, which calls it for every group, and through
// meanOfSum LevelShift's period means.
func groupMean(group []float64, sum float64) float64 {
	if finite(sum) {
		return sum / float64(len(group))
	}
	mean, ok := finiteMean(group)
	if !ok {
		return math.NaN()
	}
	return mean
}

// prefixSums appends to sums the running sums of the finite values of x,
// one longer than x, for O(1) window means, and to counts the running
// counts of them, but only when x has a non-finite value: without one the
// count of a window is its length, and it returns counts empty (saving a
// quarter of the detector's memory, allocated at every detection). It also
// returns the mean and variance of those values, summed in the same pass.
func prefixSums(x, sums, counts []float64) (_, _ []float64, mean, variance float64) {
	n := len(x)
	sums = slices.Grow(sums, n+1)[:n+1]
	var sum, sq float64
	sums[0] = 0
	i := 0
	for ; i < n; i++ { // up to the first gap: no counts
		v := x[i]
		if !finite(v) {
			break
		}
		sum += v
		sq += v * v
		sums[i+1] = sum
	}
	if i == n {
		mean, variance = meanVariance(sum, sq, float64(n))
		return sums, counts[:0], mean, variance
	}
	counts = slices.Grow(counts[:0], n+1)[:n+1]
	for j := 0; j <= i; j++ { // every value before the first gap counted
		counts[j] = float64(j)
	}
	c := float64(i)
	for ; i < n; i++ {
		if v := x[i]; finite(v) {
			sum += v
			sq += v * v
			c++
		}
		sums[i+1], counts[i+1] = sum, c
	}
	mean, variance = meanVariance(sum, sq, c)
	return sums, counts, mean, variance
}

// detrend writes x minus its trend into out (NaN where x is missing). The
// trend is the centred moving average over window points where a full window
// fits, and near the ends that average extended along its slope over the
// nearest window of centres. Cutting the window short at the ends instead
// would leave part of a steep trend in the residual, and dropping the ends
// would leave no pairs at lag window in one and a half periods of data.
//
// It returns the mean and variance of out's finite values, summed as it
// goes rather than in a second pass.
//
// counts is prefixSums': empty when x has no gaps.
func detrend(x, sums, counts []float64, window int, out []float64) (mean, variance float64) {
	half := window / 2
	full := float64(window)             // a window's count when counts is empty: no gaps
	windowMean := func(i int) float64 { // needs a full window around i
		lo, hi := i-half, i-half+window
		if len(counts) == 0 {
			return (sums[hi] - sums[lo]) / full
		}
		return (sums[hi] - sums[lo]) / (counts[hi] - counts[lo])
	}
	first, last := half, len(x)-window+half // centres with a full window
	var left, right float64                 // slopes at either end
	if q := min(window, last-first); q > 0 {
		left = (windowMean(first+q) - windowMean(first)) / float64(q)
		right = (windowMean(last) - windowMean(last-q)) / float64(q)
	}
	var sum, sq, n float64
	for i, v := range x {
		var trend float64
		switch {
		case !finite(v):
			out[i] = math.NaN()
			continue
		case i < first:
			trend = windowMean(first) + float64(i-first)*left
		case i > last:
			trend = windowMean(last) + float64(i-last)*right
		default:
			trend = windowMean(i)
		}
		r := v - trend
		out[i] = r
		if finite(r) { // an empty window's mean is NaN
			sum += r
			sq += r * r
			n++
		}
	}
	return meanVariance(sum, sq, n)
}

// meanVariance is the mean and variance of n values from their sum and
// sum of squares; 0, 0 for none.
func meanVariance(sum, sq, n float64) (mean, variance float64) {
	if n == 0 {
		return 0, 0
	}
	mean = sum / n
	return mean, max(0, sq/n-mean*mean)
}

// centre subtracts mean from every value of r in place (a missing one
// stays NaN) and reports whether r has a gap, a non-finite value.
func centre(r []float64, mean float64) (gaps bool) {
	for i, v := range r {
		gaps = gaps || !finite(v)
		r[i] = v - mean
	}
	return gaps
}

// autocorrelation returns the correlation of c, a series already centred
// (its mean subtracted) of the given variance, with itself lag points
// later, and the number of pairs it used; gaps says whether c has
// non-finite values, whose pairs are skipped (a series without any, the
// common case, needs no check per pair).
// The lagged covariance is averaged over the pairs, not divided by len(c) as
// in the textbook estimator, because that one shrinks towards zero as the lag
// nears the series' length, which would make one and a half periods of data
// look like a third of a season.
func autocorrelation(c []float64, gaps bool, variance float64, lag int) (acf float64, pairs int) {
	if lag <= 0 || variance <= 0 || lag >= len(c) {
		return 0, 0
	}
	var cov float64
	a, b := c[:len(c)-lag], c[lag:]
	if gaps {
		for i, x := range a {
			if y := b[i]; finite(x) && finite(y) {
				cov += x * y
				pairs++
			}
		}
	} else {
		for i, x := range a {
			cov += x * b[i]
		}
		pairs = len(a)
	}
	if pairs == 0 {
		return 0, 0
	}
	return cov / float64(pairs) / variance, pairs
}

// finiteMean returns the mean of the finite values and whether there were any.
func finiteMean(vs []float64) (float64, bool) {
	var sum float64
	n := 0
	for _, v := range vs {
		if finite(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}
