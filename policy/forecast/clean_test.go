package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// sqrtCleaned is cleaned as it was first written, on the spread itself:
// the reference the squares' shortcut must match bit for bit.
func sqrtCleaned(y, pred, spread float64) float64 {
	if !(spread > 0) {
		return y
	}
	d := huberK * spread
	switch r := y - pred; {
	case r > d:
		return pred + d
	case r < -d:
		return pred - d
	}
	return y
}

// TestCleanedAsOnTheSpread: cleaned, which decides on the squares whether
// an error is within the bound and works out the spread's square root only
// when it is not, returns what the clip on the spread returns, bit for
// bit: for errors at the bound, one ulp either side of it, well within and
// well beyond, for variances from 1e-280 to 1e280, and for a variance of
// zero and values that are not finite.
func TestCleanedAsOnTheSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	check := func(y, pred, v float64) {
		t.Helper()
		got, want := cleaned(y, pred, v), sqrtCleaned(y, pred, math.Sqrt(v))
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("cleaned(%v, %v, variance %v) = %v, on the spread %v", y, pred, v, got, want)
		}
	}
	for _, v := range []float64{1e-280, 1e-30, 1e-3, 0.25, 1, 2, 3, 1e3, 1e12, 1e30, 1e280} {
		d := huberK * math.Sqrt(v)
		for range 2000 {
			pred := (rng.Float64() - 0.5) * 1e3 * math.Sqrt(v)
			for _, r := range []float64{d, -d, rng.NormFloat64() * d, 3 * rng.NormFloat64() * d, 0} {
				y := pred + r
				check(y, pred, v)
				check(math.Nextafter(y, math.Inf(1)), pred, v)
				check(math.Nextafter(y, math.Inf(-1)), pred, v)
			}
		}
	}
	for _, c := range [][3]float64{
		{5, 1, 0}, {5, 1, -1}, {5, 1, math.NaN()}, {math.NaN(), 1, 1}, {5, math.NaN(), 1},
		{math.Inf(1), 1, 1}, {math.Inf(-1), 1, 1}, {5, 1, math.Inf(1)}, {1e300, -1e300, 1},
	} {
		check(c[0], c[1], c[2])
	}
}

// TestSeasonLearnsABurstBounded: with the forecasts' error variance given,
// what the season learns from an observation far from the one-step
// prediction does not depend on how far (the error is clipped to huberK
// spreads), while the level still follows the observation itself; an
// observation within the bound is learned exactly as without a variance;
// without one (0) the season learns all of a burst.
func TestSeasonLearnsABurstBounded(t *testing.T) {
	p := Params{Alpha: 0.3, Beta: 0.05, Gamma: 0.3, Phi: 0.9}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	const errVar = 4.0 // a spread of 2: the bound is 4 from the prediction
	warm := func() (*Model, int64) {
		var m Model
		m.Reset(time.Hour, time.Minute)
		tn := start.UnixNano()
		for i := range 5 * 60 {
			m.Observe(time.Unix(0, tn), 100+20*math.Sin(2*math.Pi*float64(i)/60), p)
			tn += int64(time.Minute)
		}
		return &m, tn
	}
	after := func(y, v float64) *Model {
		m, tn := warm()
		m.ObserveNanos(tn, y, p, v)
		return m
	}
	sameSeason := func(a, b *Model) bool {
		for i := range a.Season {
			if math.Float64bits(a.Season[i]) != math.Float64bits(b.Season[i]) {
				return false
			}
		}
		return true
	}
	m, tn := warm()
	expected := m.Forecast(time.Unix(0, tn), p) // about the one-step prediction
	for _, c := range []struct {
		name        string
		small, big  float64 // two observations beyond the bound, one far beyond
		sameAsNoVar bool
	}{
		{"a burst", expected + 50, expected + 5000, false},
		{"a dip", expected - 50, expected - 5000, false},
		{"within the bound", expected + 1, expected - 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			small, big := after(c.small, errVar), after(c.big, errVar)
			smallRaw, bigRaw := after(c.small, 0), after(c.big, 0)
			if c.sameAsNoVar {
				if !sameSeason(small, smallRaw) || !sameSeason(big, bigRaw) || small.Level != smallRaw.Level {
					t.Fatal("an observation within the bound was learned otherwise than without a variance")
				}
				return
			}
			if !sameSeason(small, big) {
				t.Error("the season learned more from the larger error: not clipped")
			}
			if sameSeason(smallRaw, bigRaw) {
				t.Error("without a variance the season learned the same from both: the test tells nothing")
			}
			if small.Level != smallRaw.Level || big.Level != bigRaw.Level || small.Level == big.Level {
				t.Errorf("the level did not follow the observation: %v, %v with the variance, %v, %v without",
					small.Level, big.Level, smallRaw.Level, bigRaw.Level)
			}
		})
	}
}
