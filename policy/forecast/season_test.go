package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const (
	hour = time.Hour
	day  = 24 * time.Hour
	week = 7 * day
)

func TestDetectSeasonSynthetic(t *testing.T) {
	sine := func(period time.Duration, amp float64) func(float64) float64 {
		return func(sec float64) float64 { return 100 + amp*math.Sin(2*math.Pi*sec/period.Seconds()) }
	}
	randomWalk := func(n int) []float64 {
		rng := rand.New(rand.NewPCG(3, 4))
		v := make([]float64, n)
		for i := 1; i < n; i++ {
			v[i] = v[i-1] + rng.NormFloat64()
		}
		return v
	}
	withGaps := func(v []float64, every int) []float64 {
		for i := range v {
			if i%every == 0 {
				v[i] = math.NaN()
			}
		}
		return v
	}
	weekly := func(sec float64) float64 {
		v := sine(day, 40)(sec)
		if d := int(sec/86400) % 7; d >= 5 { // weekend: a third of the traffic
			v /= 3
		}
		return v
	}
	const m1, m5 = time.Minute, 5 * time.Minute
	for _, c := range []struct {
		name       string
		values     []float64
		step       time.Duration
		candidates []time.Duration
		want       time.Duration
	}{
		{"white noise", synth(7*288, m5, 10, sine(day, 0)).values, m5, nil, 0},
		{"constant", synth(7*288, m5, 0, sine(day, 0)).values, m5, nil, 0},
		{"pure linear trend", synth(7*288, m5, 0, func(s float64) float64 { return s / 60 }).values, m5, nil, 0},
		{"noisy linear trend", synth(7*288, m5, 5, func(s float64) float64 { return s / 60 }).values, m5, nil, 0},
		{"random walk", randomWalk(14 * 288), m5, nil, 0},
		{"hourly sine", synth(3*1440, m1, 5, sine(hour, 20)).values, m1, nil, hour},
		{"daily sine", synth(3*1440, m1, 5, sine(day, 40)).values, m1, nil, day},
		{"daily sine on a trend", synth(3*1440, m1, 5, func(s float64) float64 { return sine(day, 40)(s) + s/600 }).values, m1, nil, day},
		{"daily sine, every 5th sample missing", withGaps(synth(3*1440, m1, 5, sine(day, 40)).values, 5), m1, nil, day},
		{"daily sine, two weeks", synth(14*288, m5, 5, sine(day, 40)).values, m5, nil, day},
		{"daily sine with quiet weekends", synth(14*288, m5, 5, weekly).values, m5, nil, week},
		{"one and a half periods", synth(36*60, m1, 5, sine(day, 40)).values, m1, nil, day},
		{"less than one and a half periods", synth(35*60, m1, 1, sine(day, 40)).values, m1, nil, 0},
		{"white noise, one and a half days", synth(36*60, m1, 10, sine(day, 0)).values, m1, nil, 0},
		{"random walk, one and a half days", randomWalk(36 * 60), m1, nil, 0},
		{"hourly sine, one and a half hours", synth(90, m1, 5, sine(hour, 20)).values, m1, nil, hour},
		{"white noise, one and a half hours", synth(90, m1, 10, sine(hour, 0)).values, m1, nil, 0},
		{"random walk, one and a half hours", randomWalk(90), m1, nil, 0},
		{"noisy linear trend, one and a half days", synth(36*60, m1, 5, func(s float64) float64 { return s / 600 }).values, m1, nil, 0},
		{"no admissible candidate", synth(3*1440, m1, 1, sine(hour, 20)).values, m1, []time.Duration{2 * time.Minute}, 0},
		{"no step", synth(3*1440, m1, 1, sine(hour, 20)).values, 0, nil, 0},
		{"no values", nil, m1, nil, 0},
	} {
		cands := c.candidates
		if cands == nil {
			cands = DefaultCandidates()
		}
		got, strength := DetectSeason(c.values, c.step, cands)
		if got != c.want {
			t.Errorf("%s: DetectSeason = %v (strength %.3f), want %v", c.name, got, strength, c.want)
		}
		if (got == 0) != (strength == 0) || strength < 0 || strength > 1.01 {
			t.Errorf("%s: strength %v with period %v", c.name, strength, got)
		}
	}
}

func TestDetectSeasonLeavesCandidatesAlone(t *testing.T) {
	cands := []time.Duration{week, hour, day}
	DetectSeason(synth(3*1440, time.Minute, 1, dailySine).values, time.Minute, cands)
	if !slices.Equal(cands, []time.Duration{week, hour, day}) {
		t.Errorf("candidates reordered: %v", cands)
	}
}

// The recorded traces. asg_cpu_utilization has no daily cycle, but it does
// have an hourly one: CPU jumps from about 32 % to 76 % at minute 9 of every
// hour (a scheduled job), so with the default candidates 1h is the right
// answer, and with only daily and weekly candidates there is none.
func TestDetectSeasonTraces(t *testing.T) {
	for _, c := range []struct {
		name       string
		days       int // 0: the whole trace
		candidates []time.Duration
		want       []time.Duration // any of these
	}{
		{"app_cpu_usage_1min.csv", 0, nil, []time.Duration{day}},
		{"app_cpu_usage_1min.csv", 2, nil, []time.Duration{day}},
		{"nyc_taxi_passengers_30min.csv", 14, nil, []time.Duration{day}},
		{"nyc_taxi_passengers_30min.csv", 0, nil, []time.Duration{week}},
		{"asg_cpu_utilization_5min.csv", 0, nil, []time.Duration{hour}},
		{"asg_cpu_utilization_5min.csv", 0, []time.Duration{day, week}, []time.Duration{0}},
		{"elb_request_count_5min.csv", 0, nil, []time.Duration{day}},
		{"batch_queue_depth_5min.csv", 0, nil, []time.Duration{0}},
	} {
		tr := loadTrace(t, c.name)
		values := tr.values
		if c.days > 0 {
			values = values[:int(time.Duration(c.days)*day/tr.step)]
		}
		cands := c.candidates
		if cands == nil {
			cands = DefaultCandidates()
		}
		got, strength := DetectSeason(values, tr.step, cands)
		t.Logf("%s (%d values, candidates %v): %v, strength %.3f", c.name, len(values), cands, got, strength)
		if !slices.Contains(c.want, got) {
			t.Errorf("%s: DetectSeason = %v, want one of %v", c.name, got, c.want)
		}
	}
}

// BenchmarkDetectSeason runs detection over 7 days of 10-second buckets,
// the longest history a policy keeps.
func BenchmarkDetectSeason(b *testing.B) {
	values := synth(60480, 10*time.Second, 5, dailySine).values
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := DetectSeason(values, 10*time.Second, DefaultCandidates()); p != day {
			b.Fatalf("detected %v", p)
		}
	}
}

// TestDetectSeasonPrefersContainingSeason: a daily shape with a sharp
// half-hourly job on top is significant at both 1 h and 24 h. The 24 h
// season at 1-minute slots carries the hourly pattern too, so detection
// answers 24h, and keeps answering it as the window slides hour by hour
// instead of swapping whenever noise tips the balance (each swap rebuilds
// the model).
func TestDetectSeasonPrefersContainingSeason(t *testing.T) {
	for _, c := range []struct {
		name  string
		spike float64 // height of the job's load at :04 and :34
	}{
		{"small job", 10},
		{"job as tall as the daily swing", 40},
		{"job taller than the daily swing", 80},
	} {
		shape := func(sec float64) float64 {
			v := dailySine(sec)
			if m := int(sec/60) % 30; m >= 4 && m < 9 { // five minutes from :04 and :34
				v += c.spike
			}
			return v
		}
		tr := synth(6*1440, time.Minute, 5, shape)
		swaps, last := 0, time.Duration(-1)
		for end := 3 * 1440; end <= len(tr.values); end += 60 {
			got, _ := DetectSeason(tr.values[:end], time.Minute, DefaultCandidates())
			if got != day {
				t.Errorf("%s: window of %d minutes: DetectSeason = %v, want 24h", c.name, end, got)
			}
			if last >= 0 && got != last {
				swaps++
			}
			last = got
		}
		if swaps > 0 {
			t.Errorf("%s: %d swaps over three days of hourly rechecks", c.name, swaps)
		}
	}
}

// TestDetectSeasonSlidingOnTraces reruns detection hourly over the last
// 7 days, as season: auto does, on a recorded trace where both the hourly and
// the daily season are significant: the answer settles on 24h.
func TestDetectSeasonSlidingOnTraces(t *testing.T) {
	tr := loadTrace(t, "crane_input1_1min.csv")
	hist := int(7 * day / tr.step)
	swaps, last := 0, time.Duration(-1)
	for end := int(2 * day / tr.step); end <= len(tr.values); end += int(hour / tr.step) {
		got, _ := DetectSeason(tr.values[max(0, end-hist):end], tr.step, DefaultCandidates())
		if last >= 0 && got != last {
			swaps++
		}
		last = got
	}
	if swaps > 2 || last != day {
		t.Errorf("%d season swaps over %d days of hourly rechecks, ending on %v; want at most 2, ending on 24h", swaps, len(tr.values)*int(tr.step)/int(day), last)
	}
}

// TestFinite: the one-comparison finite agrees with IsNaN and IsInf on
// every kind of value, signalling and negative NaNs included.
func TestFinite(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1e308, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
		math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000000)} {
		if want := !math.IsNaN(v) && !math.IsInf(v, 0); finite(v) != want {
			t.Errorf("finite(%v) = %v, want %v", v, finite(v), want)
		}
	}
}

// TestDetectSeasonFalsePositivesAtFirstChance: a candidate is judged from
// one and a half periods of history, so that is when a series without a
// season is most likely to be given one. Over 200 random walks and 200
// white noises of 1-minute samples, at 90 minutes (the hourly candidate's
// first chance) and 36 hours (the daily one's), detection reports a season
// about as often as it did at two periods, the earlier first chance:
// random walks 25 and 15 of 200 (two periods: 23 and 12), white noise 4
// and 3 (4 and 3). Each spurious season must then still beat the
// trend-only model in the backtest before a model uses it.
func TestDetectSeasonFalsePositivesAtFirstChance(t *testing.T) {
	for _, c := range []struct {
		minutes           int
		maxWalk, maxNoise int
	}{
		{90, 30, 6},
		{36 * 60, 20, 5},
	} {
		walks, noises := 0, 0
		for seed := range 200 {
			rng := rand.New(rand.NewPCG(uint64(seed), 99))
			walk, noise := make([]float64, c.minutes), make([]float64, c.minutes)
			for i := 1; i < c.minutes; i++ {
				walk[i] = walk[i-1] + rng.NormFloat64()
				noise[i] = 100 + 10*rng.NormFloat64()
			}
			if p, _ := DetectSeason(walk, time.Minute, DefaultCandidates()); p != 0 {
				walks++
			}
			if p, _ := DetectSeason(noise, time.Minute, DefaultCandidates()); p != 0 {
				noises++
			}
		}
		if walks > c.maxWalk || noises > c.maxNoise {
			t.Errorf("%d minutes: a season in %d of 200 random walks (at most %d) and %d of 200 white noises (at most %d)",
				c.minutes, walks, c.maxWalk, noises, c.maxNoise)
		}
	}
}

// BenchmarkDetectSeasonTraces runs detection as `season: auto` does, over
// the last 7 days of recorded traces of each step (elb has gaps; crane_input15
// is the finest, 15 s).
func BenchmarkDetectSeasonTraces(b *testing.B) {
	for _, name := range []string{"app_cpu_usage_1min.csv", "crane_input15_15s.csv", "elb_request_count_5min.csv", "nyc_taxi_passengers_30min.csv"} {
		tr := loadTrace(b, name)
		values := tr.values[max(0, len(tr.values)-int(week/tr.step)):]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DetectSeason(values, tr.step, DefaultCandidates())
			}
		})
	}
}

// momentsOf is the mean and variance of the finite values of r, two plain
// passes: what the fused sums of prefixSums and detrend must equal.
func momentsOf(r []float64) (mean, variance float64) {
	var sum, sq float64
	n := 0
	for _, v := range r {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
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

// acfOf is the autocorrelation at lag of r (not centred) by the textbook
// loop, skipping pairs with a missing side: the reference for autocorrelation.
func acfOf(r []float64, mean, variance float64, lag int) (float64, int) {
	var cov float64
	pairs := 0
	for i := 0; i+lag < len(r); i++ {
		a, b := r[i], r[i+lag]
		if !math.IsNaN(a) && !math.IsInf(a, 0) && !math.IsNaN(b) && !math.IsInf(b, 0) {
			cov += (a - mean) * (b - mean)
			pairs++
		}
	}
	if lag <= 0 || variance <= 0 || pairs == 0 {
		return 0, 0
	}
	return cov / float64(pairs) / variance, pairs
}

// seasonSeries are the shapes detection's helpers meet: noisy cycles with
// and without gaps, a constant, a ramp, a stretch with no value at all (an
// empty detrending window), and tiny and huge magnitudes.
func seasonSeries() map[string][]float64 {
	cycle := synth(3*1440, time.Minute, 7, dailySine).values
	gappy := slices.Clone(cycle)
	for i := range gappy {
		if i%97 < 3 || (i >= 2000 && i < 2300) {
			gappy[i] = math.NaN()
		}
	}
	withInf := slices.Clone(cycle)
	withInf[10], withInf[500] = math.Inf(1), math.Inf(-1)
	ramp, constant, tiny, huge := make([]float64, 600), make([]float64, 600), make([]float64, 600), make([]float64, 600)
	for i := range ramp {
		ramp[i] = float64(i) * 0.37
		constant[i] = 42
		tiny[i] = 1e-300 * math.Sin(float64(i))
		huge[i] = 1e150 * (2 + math.Sin(float64(i)/10))
	}
	overflow := slices.Repeat([]float64{1e308, 1e308, 1e308, -1e308, 1, math.NaN(), math.NaN(), math.NaN(), 2, math.Copysign(0, -1)}, 5)
	return map[string][]float64{"cycle": cycle, "gaps": gappy, "infinities": withInf, "ramp": ramp,
		"constant": constant, "tiny": tiny, "huge": huge, "overflow": overflow, "empty": {}}
}

// TestDownsampleMatchesGroupMeans: the buckets are bit for bit the means
// of each group's finite values (NaN for a group with none), whether the
// group takes the unchecked sum or, with a gap or an overflow, the checked one.
func TestDownsampleMatchesGroupMeans(t *testing.T) {
	series := seasonSeries()
	for name, x := range seasonSeries() {
		if len(x) > 0 { // and a last group shorter than the others
			series[name+", one value shorter"] = x[:len(x)-1]
		}
	}
	for name, x := range series {
		for _, k := range []int{2, 3, 8, 10, 60} {
			got := downsample(x, k, nil)
			var want []float64
			for i := 0; i < len(x); i += k {
				m, ok := finiteMean(x[i:min(i+k, len(x))])
				if !ok {
					m = math.NaN()
				}
				want = append(want, m)
			}
			if len(got) != len(want) {
				t.Fatalf("%s, k %d: %d buckets, want %d", name, k, len(got), len(want))
			}
			for i := range got {
				if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
					t.Errorf("%s, k %d: bucket %d is %v, want %v", name, k, i, got[i], want[i])
				}
			}
		}
	}
}

// TestSeasonSumsMatchTwoPasses: prefixSums' and detrend's moments, summed
// in the pass that fills their output, are bit for bit those of a second
// pass over it, and the centred autocorrelation (with or without the
// per-pair check) is bit for bit the textbook one. Detection's choices
// rest on these numbers, so faster code must not move them by an ulp.
func TestSeasonSumsMatchTwoPasses(t *testing.T) {
	for name, x := range seasonSeries() {
		t.Run(name, func(t *testing.T) {
			sums, counts, mean, variance := prefixSums(x, nil, nil)
			if wm, wv := momentsOf(x); math.Float64bits(mean) != math.Float64bits(wm) || math.Float64bits(variance) != math.Float64bits(wv) {
				t.Errorf("prefixSums moments %v, %v; two passes %v, %v", mean, variance, wm, wv)
			}
			gaps := slices.ContainsFunc(x, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
			if len(sums) != len(x)+1 || (gaps && len(counts) != len(x)+1) || (!gaps && len(counts) != 0) {
				t.Fatalf("prefix sums of %d values (gaps %v): %d sums, %d counts", len(x), gaps, len(sums), len(counts))
			}
			finiteSoFar := 0
			for i := range counts { // with gaps: the running count of finite values
				if counts[i] != float64(finiteSoFar) {
					t.Fatalf("counts[%d] = %v, want %d", i, counts[i], finiteSoFar)
				}
				if i < len(x) && !math.IsNaN(x[i]) && !math.IsInf(x[i], 0) {
					finiteSoFar++
				}
			}
			for _, window := range []int{4, 60, len(x) / 3} {
				if window < 2 || 2*window > len(x) {
					continue
				}
				resid := make([]float64, len(x))
				rm, rv := detrend(x, sums, counts, window, resid)
				wm, wv := momentsOf(resid)
				if math.Float64bits(rm) != math.Float64bits(wm) || math.Float64bits(rv) != math.Float64bits(wv) {
					t.Errorf("window %d: detrend moments %v, %v; two passes %v, %v", window, rm, rv, wm, wv)
				}
				c := slices.Clone(resid)
				gaps := centre(c, rm)
				if want := slices.ContainsFunc(resid, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }); gaps != want {
					t.Errorf("window %d: centre reports gaps %v, want %v", window, gaps, want)
				}
				for _, lag := range []int{0, 1, window, window + 1, len(x) - 1, len(x), len(x) + 5} {
					got, gotPairs := autocorrelation(c, gaps, rv, lag)
					want, wantPairs := acfOf(resid, rm, rv, lag)
					if math.Float64bits(got) != math.Float64bits(want) || gotPairs != wantPairs {
						t.Errorf("window %d lag %d: autocorrelation %v over %d pairs, textbook %v over %d", window, lag, got, gotPairs, want, wantPairs)
					}
					if !gaps { // the checked loop agrees with the unchecked one
						if a, p := autocorrelation(c, true, rv, lag); math.Float64bits(a) != math.Float64bits(got) || p != gotPairs {
							t.Errorf("window %d lag %d: checked loop %v over %d pairs, unchecked %v over %d", window, lag, a, p, got, gotPairs)
						}
					}
				}
			}
		})
	}
}

// TestAutocorrelationsMatchOneAtATime: the four lags of the local-peak
// check, summed in one pass, are bit for bit each lag's autocorrelation
// alone; and the pass declines (the caller then goes one lag at a time)
// for a series with gaps, a lag outside the series or no variance.
func TestAutocorrelationsMatchOneAtATime(t *testing.T) {
	cycle := synth(3*1440, time.Minute, 7, dailySine).values
	mean, variance := momentsOf(cycle)
	c := slices.Clone(cycle)
	centre(c, mean)
	gappy := slices.Clone(c)
	gappy[100] = math.NaN()
	tests := []struct {
		name     string
		c        []float64
		gaps     bool
		variance float64
		lags     [4]int
		ok       bool
	}{
		{"peak offsets around a day", c, false, variance, [4]int{1152, 1296, 1584, 1728}, true},
		{"lags out of order, one repeated", c, false, variance, [4]int{50, 3, 50, 4000}, true},
		{"the longest lag leaves one pair", c, false, variance, [4]int{1, 2, 3, len(c) - 1}, true},
		{"gaps", gappy, true, variance, [4]int{10, 20, 30, 40}, false},
		{"a zero lag", c, false, variance, [4]int{0, 20, 30, 40}, false},
		{"a lag past the end", c, false, variance, [4]int{10, 20, 30, len(c)}, false},
		{"no variance", c, false, 0, [4]int{10, 20, 30, 40}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acfs, ok := autocorrelations(tc.c, tc.gaps, tc.variance, tc.lags)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			for k, l := range tc.lags {
				want, _ := autocorrelation(tc.c, false, tc.variance, l)
				if math.Float64bits(acfs[k]) != math.Float64bits(want) {
					t.Errorf("lag %d: %v in one pass, %v alone", l, acfs[k], want)
				}
			}
		})
	}
}

// TestSeasonRise: how much higher the daily season is at one time than at
// another, as Forecast's seasonal components differ, scaled with the level
// for a scaled season; 0 for a fall and without a season.
func TestSeasonRise(t *testing.T) {
	hour := int64(time.Hour)
	model := func(ref, mean float32, slots ...float64) Model {
		var m Model
		m.Reset(time.Hour, 15*time.Minute) // slots centred at :07:30, :22:30, :37:30, :52:30
		copy(m.Season, slots)
		m.Level, m.Count, m.Ref, m.Mean = 1000, 10, ref, mean
		return m
	}
	minute := int64(time.Minute)
	tests := []struct {
		name    string
		m       Model
		tn, ref int64
		want    float64
	}{
		{"centre to centre", model(0, 0, 100, 0, 0, 0), 7*minute + minute/2, 22*minute + minute/2, 100},
		{"between centres", model(0, 0, 100, 0, 0, 0), 10 * minute, 20 * minute, 100*(1-2.5/15) - 100*(1-12.5/15)},
		{"a fall is no rise", model(0, 0, 100, 0, 0, 0), 20 * minute, 10 * minute, 0},
		{"around the wrap", model(0, 0, 0, 0, 0, 300), 59 * minute, hour + 30*minute, 300 * (1 - 6.5/15)},
		{"scaled with the level", model(1000, 2000, 100, 0, 0, 0), 7*minute + minute/2, 22*minute + minute/2, 200},
		{"no season", Model{Level: 1000, Count: 10}, 0, 10 * minute, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.SeasonRise(tc.tn, tc.ref)
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("rise %v, want %v", got, tc.want)
			}
			p := DefaultParams()
			if d := tc.m.Forecast(time.Unix(0, tc.tn), p) - tc.m.Forecast(time.Unix(0, tc.ref), p); math.Abs(max(d, 0)-got) > 1e-9 && tc.m.Trend == 0 {
				t.Fatalf("rise %v, but the forecasts differ by %v", got, d)
			}
		})
	}
}

// TestWithin: a position moved on by d is (r + d) mod period, worked out
// without a division, also where r + d would overflow an int64; d outside
// [0, period) is refused, so that the caller divides.
func TestWithin(t *testing.T) {
	const maxP = math.MaxInt64
	tests := []struct {
		name         string
		r, d, period int64
		want         int64
		ok           bool
	}{
		{"inside", 10, 20, 100, 30, true},
		{"to the period's end", 10, 89, 100, 99, true},
		{"onto the wrap", 10, 90, 100, 0, true},
		{"past the wrap", 60, 90, 100, 50, true},
		{"no distance", 42, 0, 100, 42, true},
		{"a whole period", 10, 100, 100, 0, false},
		{"more than a period", 10, 250, 100, 0, false},
		{"backwards", 10, -1, 100, 0, false},
		{"r + d beyond int64", maxP - 10, maxP - 5, maxP, maxP - 15, true},
		{"r + d at int64's end", maxP - 1, 1, maxP, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := within(tc.r, tc.d, tc.period)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("within(%d, %d, %d) = %d, %v; want %d, %v", tc.r, tc.d, tc.period, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSeasonRiseAsTwoReadings: SeasonRise reads ref's position from tn's
// when ref is less than a period later; it is bit for bit the difference
// of the two positions each read on its own (blendOn), whatever the
// distance, its sign and the times' sign.
func TestSeasonRiseAsTwoReadings(t *testing.T) {
	var m Model
	m.Reset(24*time.Hour, time.Minute)
	for i := range m.Season {
		m.Season[i] = 100 * math.Sin(float64(i)*0.37) * math.Cos(float64(i)*0.011)
	}
	m.Level, m.Count = 1000, 10
	twoReadings := func(tn, ref int64) float64 {
		p, sl, n := int64(m.Period), int64(m.Slot), len(m.Season)
		i, j, w := blendOn(tn, p, sl, n)
		a := m.Season[i] + w*(m.Season[j]-m.Season[i])
		i, j, w = blendOn(ref, p, sl, n)
		if d := a - (m.Season[i] + w*(m.Season[j]-m.Season[i])); d > 0 {
			return d * m.scale()
		}
		return 0
	}
	day := int64(24 * time.Hour)
	base := time.Date(2024, 3, 5, 23, 58, 17, 123, time.UTC).UnixNano()
	for _, scaled := range []bool{false, true} {
		if scaled {
			m.Ref, m.Mean = 900, 1300
		}
		for _, tn := range []int64{base, -base, 0, day - 1, -1, math.MaxInt64 - day/2, math.MinInt64 + 5} {
			for _, d := range []int64{0, 1, int64(3 * time.Minute), int64(4*time.Minute) + 7, day - 1, day, day + 5, 3 * day, -int64(time.Minute), -day - 3} {
				ref := tn + d // may wrap around int64 at the extremes: both readings see the same ref
				got, want := m.SeasonRise(tn, ref), twoReadings(tn, ref)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Errorf("scaled %v, tn %d, ref %d: %v, read apart %v", scaled, tn, ref, got, want)
				}
			}
		}
	}
}

// TestUntested: a candidate is untested from its first whole period until
// DetectSeason can judge it (one and a half periods), only if the window
// will ever let detection judge it, and only if it contains what detection
// found; Judgeable says where detection takes over.
func TestUntested(t *testing.T) {
	day, hour, week := 24*time.Hour, time.Hour, 7*24*time.Hour
	cands := DefaultCandidates()
	const perDay = 1440 // 1-minute values a day
	weekWindow := 7 * perDay
	for _, c := range []struct {
		name     string
		n, most  int
		detected time.Duration
		want     time.Duration
	}{
		{"less than a day", perDay - 1, weekWindow, 0, 0},
		{"one whole day", perDay, weekWindow, 0, day},
		{"a day and a third", perDay * 4 / 3, weekWindow, 0, day},
		{"a day and a half: detection judges", perDay * 3 / 2, weekWindow, 0, 0},
		{"an hourly season found: the day contains it", perDay + 60, weekWindow, hour, day},
		{"a window too short to ever judge a day", perDay + 60, perDay + 120, 0, 0},
		{"a week in a week's window is never judged", weekWindow, weekWindow, 0, 0},
		{"a week in a fortnight's window", weekWindow, 2 * weekWindow, 0, week},
		{"a week does not contain a found day", weekWindow, 2 * weekWindow, day, 0},
		{"an hour and a quarter", 75, weekWindow, 0, hour},
	} {
		if got := Untested(c.n, c.most, time.Minute, cands, c.detected); got != c.want {
			t.Errorf("%s: Untested(%d values) = %v, want %v", c.name, c.n, got, c.want)
		}
		if c.want > 0 && Judgeable(c.n, time.Minute, c.want) {
			t.Errorf("%s: Judgeable(%d values, %v) = true for an untested season", c.name, c.n, c.want)
		}
	}
	if !Judgeable(perDay*3/2, time.Minute, day) || Judgeable(perDay*3/2-1, time.Minute, day) {
		t.Errorf("Judgeable: want true from one and a half days of values on, not before")
	}
	if got := Untested(perDay, weekWindow, 0, cands, 0); got != 0 {
		t.Errorf("Untested with no step = %v, want 0", got)
	}
}
