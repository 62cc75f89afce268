package policy

import (
	"math"
	"testing"
	"time"
)

// TestCleaningWaitsForTheSpread: the season's update is cleaned by the
// forecasts' error variance only once as many forecasts are scored as the
// spread is weighed over (cleanAfterScores, 100): before, the spread is
// too small (it starts at the first error with none) and a rise the
// season had not learned yet would be clipped as a burst
// (TestForecastCoversTheReadySample). The live model (cleaningVariance)
// and a backtest's replay (errSpread) wait alike, and then give the
// variance Spread is the square root of.
func TestCleaningWaitsForTheSpread(t *testing.T) {
	errs := []float64{30, -10, 55, 5, -40, 20, 0, 70, -25, 15}
	for _, c := range []struct {
		scored int
		cleans bool
	}{
		{minScoredForecasts, false}, // Spread speaks from here on, cleaning not yet
		{50, false},
		{99, false},
		{100, true},
		{1000, true},
	} {
		// The live model scores each error as it does in service: a
		// forecast in flight that the observation reaches (learn), so the
		// test follows learnWith's own update rather than a copy of it.
		var mm MetricModel
		mm.Model.Reset(0, time.Minute)
		var bt errSpread
		const y = 100.0 // minus an integer error: exact
		for i := range c.scored {
			e := errs[i%len(errs)]
			bt.add(e)
			tn := int64(i+1) * int64(time.Minute)
			mm.Pending = append(mm.Pending[:0], PendingForecast{At: tn, Forecast: y - e, Naive: y})
			learn(&mm, tn, y, time.Minute)
		}
		if mm.Scored != c.scored {
			t.Fatalf("the live model scored %d forecasts, want %d", mm.Scored, c.scored)
		}
		live, replay := mm.cleaningVariance(), bt.variance()
		sd, ok := mm.Spread()
		switch {
		case !ok || !(sd > 0):
			t.Fatalf("%d scored: spread %v, %v; want one", c.scored, sd, ok)
		case math.Float64bits(live) != math.Float64bits(replay):
			t.Errorf("%d scored: the live model cleans by %v, its backtest by %v", c.scored, live, replay)
		case !c.cleans && live != 0:
			t.Errorf("%d scored: cleans by a variance of %v (spread %.3g), want none before %d", c.scored, live, sd, int(cleanAfterScores))
		case c.cleans && math.Float64bits(math.Sqrt(live)) != math.Float64bits(sd):
			t.Errorf("%d scored: cleans by a variance of %v, want the spread %v squared", c.scored, live, sd)
		}
	}
}
