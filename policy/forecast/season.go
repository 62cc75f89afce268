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
		acf, _, ok := d.score(c.lag, k)
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
			same, pairs, _ := d.score(c.lag, bestK)
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
	if cap(r.sums) < n+1 {
		r.means, r.sums, r.count = make([]float64, 0, n), make([]float64, 0, n+1), make([]float64, 0, n+1)
	}
	r.k = k
	r.x = downsample(d.values, k, r.means[:0])
	r.sums, r.count = prefixSums(r.x, r.sums[:0], r.count[:0])
	r.mean, r.variance = moments(r.x)
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
// rests on, and whether it is both significant and a local peak.
func (d *detector) score(lagSteps, k int) (acf float64, pairs int, ok bool) {
	r := d.at(k)
	x := r.x
	resid := d.resids[:len(x)]
	lag := min(int(math.Round(float64(lagSteps)/float64(k))), len(x)-1)
	detrend(x, r.sums, r.count, lag, resid)
	// A residual this small is rounding error (a constant or a pure trend),
	// whose autocorrelation is meaningless.
	xMean, xVar := r.mean, r.variance
	mean, variance := moments(resid)
	if !(variance > 1e-12*(xMean*xMean+xVar)) { // relative to x's mean square
		return 0, 0, false
	}
	acf, pairs = autocorrelation(resid, mean, variance, lag)
	ok = acf > max(detectMinACF, 2/math.Sqrt(float64(pairs))) && localPeak(resid, mean, variance, lag, acf)
	return acf, pairs, ok
}

// localPeak reports whether the autocorrelation at lag, acf, is higher than
// at each of detectPeakOffsets around it (at least one point away).
func localPeak(r []float64, mean, variance float64, lag int, acf float64) bool {
	for _, off := range detectPeakOffsets {
		l := int(math.Round(float64(lag) * (1 + off)))
		if l == lag {
			l += int(math.Copysign(1, off))
		}
		if a, _ := autocorrelation(r, mean, variance, l); a >= acf {
			return false
		}
	}
	return true
}

// downsample appends to out the means of consecutive groups of k values,
// skipping NaN; a group with no finite value becomes NaN.
func downsample(values []float64, k int, out []float64) []float64 {
	if k <= 1 {
		return values
	}
	for i := 0; i < len(values); i += k {
		mean, ok := finiteMean(values[i:min(i+k, len(values))])
		if !ok {
			mean = math.NaN()
		}
		out = append(out, mean)
	}
	return out
}

// prefixSums appends to sums and counts the running sums of the finite
// values of x and the running counts of them, each one longer than x, for
// O(1) window means.
func prefixSums(x, sums, counts []float64) ([]float64, []float64) {
	sums = append(sums, 0)
	counts = append(counts, 0)
	for i, v := range x {
		sums = append(sums, sums[i])
		counts = append(counts, counts[i])
		if finite(v) {
			sums[i+1] += v
			counts[i+1]++
		}
	}
	return sums, counts
}

// detrend writes x minus its trend into out (NaN where x is missing). The
// trend is the centred moving average over window points where a full window
// fits, and near the ends that average extended along its slope over the
// nearest window of centres. Cutting the window short at the ends instead
// would leave part of a steep trend in the residual, and dropping the ends
// would leave no pairs at lag window in one and a half periods of data.
func detrend(x, sums, counts []float64, window int, out []float64) {
	half := window / 2
	mean := func(i int) float64 { // needs a full window around i
		lo, hi := i-half, i-half+window
		return (sums[hi] - sums[lo]) / (counts[hi] - counts[lo])
	}
	first, last := half, len(x)-window+half // centres with a full window
	var left, right float64                 // slopes at either end
	if q := min(window, last-first); q > 0 {
		left = (mean(first+q) - mean(first)) / float64(q)
		right = (mean(last) - mean(last-q)) / float64(q)
	}
	for i, v := range x {
		var trend float64
		switch {
		case !finite(v):
			out[i] = math.NaN()
			continue
		case i < first:
			trend = mean(first) + float64(i-first)*left
		case i > last:
			trend = mean(last) + float64(i-last)*right
		default:
			trend = mean(i)
		}
		out[i] = v - trend
	}
}

// moments returns the mean and variance of the finite values of r.
func moments(r []float64) (mean, variance float64) {
	var sum, sq float64
	n := 0
	for _, v := range r {
		if finite(v) {
			sum += v
			sq += v * v
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean = sum / float64(n)
	return mean, max(0, sq/float64(n)-mean*mean)
}

// autocorrelation returns the correlation of r (of the given mean and
// variance) with itself lag points later, and the number of pairs it used.
// The lagged covariance is averaged over the pairs, not divided by len(r) as
// in the textbook estimator, because that one shrinks towards zero as the lag
// nears the series' length, which would make one and a half periods of data
// look like a third of a season.
func autocorrelation(r []float64, mean, variance float64, lag int) (acf float64, pairs int) {
	if lag <= 0 || variance <= 0 {
		return 0, 0
	}
	var cov float64
	for i := 0; i+lag < len(r); i++ {
		a, b := r[i], r[i+lag]
		if finite(a) && finite(b) {
			cov += (a - mean) * (b - mean)
			pairs++
		}
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
