package forecast

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// shiftDays is hourly values over len(levels) days: each day a daily
// shape (a quiet night, a busy day) times that day's level plus that
// day's offset, with 1 % noise.
func shiftDays(levels, offsets []float64) []float64 {
	r := rand.New(rand.NewPCG(3, 4))
	var out []float64
	for d, l := range levels {
		for h := range 24 {
			shape := 0.5
			if h >= 8 && h < 20 {
				shape = 1.5
			}
			out = append(out, (l*shape+offsets[d])*(1+0.01*r.NormFloat64()))
		}
	}
	return out
}

// TestLevelShift: the last day's level counts as a shift only above the
// range of the days the model was chosen on by more than that range's
// width, with at least three such days, and only when the day's spread
// moved with the level (a launch, not an offset).
func TestLevelShift(t *testing.T) {
	zero := make([]float64, 8)
	for _, c := range []struct {
		name    string
		levels  []float64
		offsets []float64
		chosen  int // days the model was chosen on, from the start
		want    bool
	}{
		{"a launch doubles the level", []float64{100, 104, 98, 101, 200}, zero, 4, true},
		{"a migration halves it: a drop, not a rise", []float64{100, 104, 98, 101, 50}, zero, 4, false},
		{"an offset moves the level, not the amplitude", []float64{100, 104, 98, 101, 100}, []float64{0, 0, 0, 0, 100}, 4, false},
		{"within the days' range", []float64{100, 120, 90, 110, 118}, zero, 4, false},
		{"beyond it by less than its width", []float64{100, 120, 90, 110, 145}, zero, 4, false},
		{"beyond it by more than its width", []float64{100, 120, 90, 110, 160}, zero, 4, true},
		{"chosen on two days only", []float64{100, 101, 200}, zero, 2, false},
		{"chosen on three", []float64{100, 101, 99, 200}, zero, 3, true},
		{"chosen on one day, four days before the last", []float64{100, 104, 98, 101, 200}, zero, 1, true},
		{"chosen on one day, three days before the last", []float64{100, 104, 98, 200}, zero, 1, true},
		{"chosen on one day, two days before the last", []float64{100, 104, 200}, zero, 1, false},
		{"chosen on one day, noise since", []float64{100, 120, 90, 110, 145}, zero, 1, false},
		{"the last day is one the model was chosen on", []float64{100, 104, 98, 200}, zero, 4, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := shiftDays(c.levels, c.offsets[:len(c.levels)])
			ref, recent, ok := LevelShift(v, 24, 0, c.chosen*24)
			if ok != c.want {
				t.Fatalf("shift %v (ref %.1f, recent %.1f), want %v", ok, ref, recent, c.want)
			}
			if !ok {
				return
			}
			last := c.levels[len(c.levels)-1]
			// The range: the days chosen on, or with fewer than three,
			// every day before the last.
			judged := c.levels[:c.chosen]
			if c.chosen < 3 {
				judged = c.levels[:len(c.levels)-1]
			}
			var chosen float64
			for _, l := range judged {
				chosen += l
			}
			chosen /= float64(len(judged))
			// The shape's daily mean is 1.
			if math.Abs(ref-chosen) > 0.01*chosen || math.Abs(recent-last) > 0.01*last {
				t.Fatalf("ref %.2f, recent %.2f; want about %.2f and %.2f", ref, recent, chosen, last)
			}
		})
	}
}

// TestLevelShiftGaps: missing values are skipped, a period without any
// is not counted among the chosen ones, and indices outside the values
// are clamped rather than panicking.
func TestLevelShiftGaps(t *testing.T) {
	v := shiftDays([]float64{100, 104, 98, 101, 200}, make([]float64, 5))
	for i := 0; i < len(v); i += 7 {
		v[i] = math.NaN()
	}
	if _, _, ok := LevelShift(v, 24, -50, 4*24); !ok {
		t.Fatal("a launch with gaps is not a shift")
	}
	for i := 24; i < 48; i++ {
		v[i] = math.NaN() // day 1 entirely missing: three chosen days left
	}
	if _, _, ok := LevelShift(v, 24, 0, 4*24); !ok {
		t.Fatal("three chosen days with data are enough")
	}
	for i := 48; i < 72; i++ {
		v[i] = math.NaN() // and day 2: two left
	}
	if _, _, ok := LevelShift(v, 24, 0, 4*24); ok {
		t.Fatal("two chosen days with data made a shift")
	}
	if _, _, ok := LevelShift(v[:10], 24, 0, 1000); ok {
		t.Fatal("less than a period of values made a shift")
	}
}

// TestScaleFrom: an additive season starts scaling with the level in
// units of ref, its forecasts multiplying the shape by mean/ref from then
// on; ScaleFrom refuses what ScaleSeason refuses, and a season already
// scaled.
func TestScaleFrom(t *testing.T) {
	p := DefaultParams()
	fitted := func() Model {
		var m Model
		Fit(&m, shiftDays([]float64{100, 100, 100}, make([]float64, 3)), time.Unix(0, 0), time.Hour, 24*time.Hour, p)
		return m
	}
	m := fitted()
	at := time.Unix(0, m.LastUnixNano).Add(13 * time.Hour)
	additive, trend := m.Forecast(at, p), trendPart(&m, at, p)
	season := additive - m.Level - trend
	if !m.ScaleFrom(100, 200) {
		t.Fatal("refused")
	}
	if m.Ref != 100 || m.Mean != 200 || m.SeasonScale() != 2 {
		t.Fatalf("ref %v mean %v factor %v; want 100, 200, 2", m.Ref, m.Mean, m.SeasonScale())
	}
	// The seasonal part of the forecast doubles; the level and trend stay.
	if got, want := m.Forecast(at, p), m.Level+trend+2*season; math.Abs(got-want) > 1e-9*math.Abs(want) || math.Abs(season) < 10 {
		t.Fatalf("scaled forecast %v, want %v (additive %v, its season %v)", got, want, additive, season)
	}
	if m.ScaleFrom(100, 300) || m.Mean != 200 {
		t.Fatal("a season already scaled was scaled again")
	}
	for name, f := range map[string]func(*Model) bool{
		"no season":        func(m *Model) bool { m.Reset(0, time.Hour); return m.ScaleFrom(100, 200) },
		"ref not positive": func(m *Model) bool { return m.ScaleFrom(0, 200) },
		"mean NaN":         func(m *Model) bool { return m.ScaleFrom(100, math.NaN()) },
		"ref beyond float32": func(m *Model) bool {
			return m.ScaleFrom(1e300, 1e300)
		},
		"a shape below zero at ref": func(m *Model) bool { return m.ScaleFrom(10, 20) },
	} {
		m := fitted()
		if f(&m) || m.Ref != 0 || m.Mean != 0 {
			t.Errorf("%s: scaled (ref %v, mean %v)", name, m.Ref, m.Mean)
		}
	}
}

// trendPart is the damped trend's share of m's forecast at t.
func trendPart(m *Model, t time.Time, p Params) float64 {
	flat := *m
	flat.Trend = 0
	return m.Forecast(t, p) - flat.Forecast(t, p)
}

// BenchmarkLevelShift: a week of 1-minute values, the model chosen on the
// first six days, as the hourly season check reads it (beside
// DetectSeason on the same history under `season: auto`): with a shift on
// the last day, where every chosen period is read, and without one, the
// usual check, which stops after the latest few.
func BenchmarkLevelShift(b *testing.B) {
	for _, c := range []struct {
		name string
		last float64
		want bool
	}{{"shift", 200, true}, {"none", 102, false}} {
		b.Run(c.name, func(b *testing.B) {
			levels := []float64{100, 104, 98, 101, 103, 99, c.last}
			var v []float64
			for _, h := range shiftDays(levels, make([]float64, len(levels))) {
				for range 60 {
					v = append(v, h)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := LevelShift(v, 1440, 0, 6*1440); ok != c.want {
					b.Fatalf("shift %v, want %v", ok, c.want)
				}
			}
		})
	}
}

// levelShiftWhole is LevelShift as it was before it stopped early: every
// whole period of the span read, then the range judged, a drop reported as
// well as a rise. TestLevelShiftStopsExactly compares the two on rises.
func levelShiftWhole(values []float64, per, from, to int) (ref, recent float64, ok bool) {
	n := len(values)
	from, to = max(from, 0), min(to, n)
	if per <= 0 || n < per {
		return 0, 0, false
	}
	if to-from < minShiftPeriods*per {
		to = max(to, n-per)
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
		return 0, 0, false
	}
	level, spread := math.Log(recent/ref), math.Log(recentSD/sd)
	return ref, recent, math.Abs(spread-level) < math.Abs(spread)
}

// TestLevelShiftStopsExactly: LevelShift stops reading periods once the
// range of those read so far reaches the last one's level, and returns
// exactly what reading the whole span returns for a rise, and no shift for
// a drop: on rises just above and just within the range's width (the bound
// an early exit that forgot the width would get wrong), on drops, on
// series without a shift, on noisy ones whose periods wander, with gaps,
// and with the chosen span shorter than three periods.
func TestLevelShiftStopsExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	series := func(days, noise float64, levels []float64) []float64 {
		var out []float64
		for d := range int(days) {
			l := levels[min(d, len(levels)-1)]
			for h := range 24 {
				shape := 0.5
				if h >= 8 && h < 20 {
					shape = 1.5
				}
				out = append(out, l*shape*(1+noise*r.NormFloat64()))
			}
		}
		return out
	}
	type tc struct {
		name     string
		v        []float64
		from, to int
	}
	var cases []tc
	base := []float64{100, 120, 90, 110, 105, 95} // a range of 90-120, width 30
	for _, last := range []float64{30, 55, 59, 61, 65, 90, 100, 118, 125, 145, 149, 151, 155, 200, 400} {
		levels := append(append([]float64(nil), base...), last)
		for _, chosen := range []int{1, 2, 3, 4, 6} {
			cases = append(cases, tc{
				name: "range 90-120, last " + strconv.FormatFloat(last, 'f', -1, 64) + ", chosen on " + strconv.Itoa(chosen),
				v:    series(float64(len(levels)), 0.01, levels), from: 0, to: chosen * 24,
			})
		}
	}
	for i := range 200 {
		days := 4 + r.IntN(12)
		levels := make([]float64, days)
		for d := range levels {
			levels[d] = 100 * math.Exp(0.3*r.NormFloat64()) // periods that wander
		}
		if i%3 == 0 {
			levels[days-1] *= 1 + 3*r.Float64() // a rise
		}
		v := series(float64(days), 0.2*r.Float64(), levels)
		if i%4 == 0 { // gaps, a whole missing period among them
			for j := range v {
				if r.Float64() < 0.1 || (j >= 24 && j < 48) {
					v[j] = math.NaN()
				}
			}
		}
		from := r.IntN(3*24) - 24
		to := from + r.IntN(len(v))
		cases = append(cases, tc{name: "noisy " + strconv.Itoa(i), v: v, from: from, to: to})
	}
	for _, c := range cases {
		for _, per := range []int{24, 12} {
			ref, recent, ok := LevelShift(c.v, per, c.from, c.to)
			wRef, wRecent, wOK := levelShiftWhole(c.v, per, c.from, c.to)
			if !wOK || !(wRecent > wRef) { // no shift, or a drop: not a rise
				wRef, wRecent, wOK = 0, 0, false
			}
			if ok != wOK || ref != wRef || recent != wRecent {
				t.Errorf("%s, period %d: (%v, %v, %v), the whole span (%v, %v, %v)",
					c.name, per, ref, recent, ok, wRef, wRecent, wOK)
			}
		}
	}
}

// TestPeriodMean: periodMean returns finiteMean's mean bit for bit, with
// gaps or without, with infinities, a sum that overflows, and nothing.
func TestPeriodMean(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	noisy := make([]float64, 1440)
	for i := range noisy {
		noisy[i] = 100 * math.Exp(r.NormFloat64())
	}
	gapped := append([]float64(nil), noisy...)
	gapped[7], gapped[900] = math.NaN(), math.NaN()
	for _, c := range []struct {
		name string
		v    []float64
	}{
		{"no gaps", noisy},
		{"gaps", gapped},
		{"all missing", []float64{math.NaN(), math.NaN()}},
		{"an infinity", []float64{1, math.Inf(1), 3}},
		{"infinities of both signs", []float64{math.Inf(-1), 2, math.Inf(1)}},
		{"a sum that overflows", []float64{math.MaxFloat64, math.MaxFloat64, 1}},
		// finiteMean's sum overflows too: a mean that is infinite, never
		// NaN (meanOfSum reads NaN as no values).
		{"an overflow beside a gap", []float64{math.MaxFloat64, math.MaxFloat64, math.NaN()}},
		{"an overflow, then values the other way", []float64{math.MaxFloat64, math.MaxFloat64, -math.MaxFloat64, -math.MaxFloat64, math.NaN()}},
		{"empty", nil},
	} {
		got, gotOK := periodMean(c.v)
		want, wantOK := finiteMean(c.v)
		if gotOK != wantOK || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: (%v, %v), finiteMean (%v, %v)", c.name, got, gotOK, want, wantOK)
		}
	}
}

// TestPeriodMeansMatchesPeriodMean: the two means summed side by side are
// bit for bit periodMean's, with and without gaps and with infinities.
func TestPeriodMeansMatchesPeriodMean(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 9))
	values := func(n int, holes float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			switch x := r.Float64(); {
			case x < holes:
				v[i] = math.NaN()
			case x < holes*1.1:
				v[i] = math.Inf(1)
			default:
				v[i] = 1e3*r.NormFloat64() + 1e6*r.Float64()
			}
		}
		return v
	}
	for trial := range 2000 {
		n := r.IntN(300)
		holes := []float64{0, 0, 0.01, 0.5, 1}[trial%5]
		a, b := values(n, holes), values(n, holes*r.Float64())
		ma, aOK, mb, bOK := periodMeans(a, b)
		wa, waOK := periodMean(a)
		wb, wbOK := periodMean(b)
		if math.Float64bits(ma) != math.Float64bits(wa) || aOK != waOK ||
			math.Float64bits(mb) != math.Float64bits(wb) || bOK != wbOK {
			t.Fatalf("trial %d: periodMeans = %v %v, %v %v; want %v %v, %v %v", trial, ma, aOK, mb, bOK, wa, waOK, wb, wbOK)
		}
	}
}

// TestPeriodMeansWantsEqualLengths: periodMeans is for two periods of the
// same length (LevelShift's last period and latest chosen one) and says
// so by panicking on any other pair, a longer b as well as a shorter one,
// instead of falling back to two separate means no caller needs.
func TestPeriodMeansWantsEqualLengths(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b int
		want bool // a panic
	}{
		{"equal", 5, 5, false},
		{"both empty", 0, 0, false},
		{"b shorter", 5, 4, true},
		{"b longer", 4, 5, true},
		{"a empty", 0, 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := make([]float64, c.a), make([]float64, c.b)
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				periodMeans(a, b)
				return false
			}()
			if panicked != c.want {
				t.Errorf("periodMeans(len %d, len %d) panicked %v, want %v", c.a, c.b, panicked, c.want)
			}
		})
	}
}
