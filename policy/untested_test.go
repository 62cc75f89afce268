package policy

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestDailyShapeFromTheSecondDay replays three days of 5-minute samples
// through Evaluate from a cold start, as a new policy with `season: auto`
// sees them. Detection can judge a daily season from 36 hours on; before
// that the model used to have no daily shape (or an hourly one), so the
// second morning's rise came as unforeseen as the first. Now a daily
// season is seeded from the first day as soon as it is complete: on the
// second morning (before 36 hours) the model forecasts with it and a
// forecast scales out ahead of the rise. Once detection can judge, the
// backtest chooses the model again, on a daily series with the season,
// and on one without a daily cycle without it.
func TestDailyShapeFromTheSecondDay(t *testing.T) {
	const (
		step   = 5 * time.Minute
		perDay = int(24 * time.Hour / step)
		days   = 3
	)
	midnight := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(4, 2))
	daily := make([]float64, days*perDay)
	noise := make([]float64, days*perDay)
	for i := range daily {
		h := float64(i%perDay) / float64(perDay) * 24
		// Night at 1000, a rise from 06:00 to a peak of 1800 at noon.
		daily[i] = 1000 + 800*max(0, math.Sin(2*math.Pi*(h-6)/24)) + 20*rng.NormFloat64()
		noise[i] = 1000 + 100*rng.NormFloat64()
	}
	type seen struct {
		secondMorning, withDaily, raised int // evaluations in [25 h, 36 h)
		afterJudged                      time.Duration
		judgedSpan                       time.Duration
	}
	replay := func(values []float64) seen {
		p := basePolicy()
		p.EvaluationInterval = Duration(step)
		p.StaleAfter = Duration(2 * step)
		p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(15 * time.Minute), Season: Season{Auto: true}, History: Duration(7 * 24 * time.Hour)}
		var s State
		var got seen
		for i, v := range values {
			now := midnight.Add(time.Duration(i) * step)
			in := Inputs{Current: 10, Ready: 10}
			in.Metrics[0] = Sample{Time: now, Value: v, Present: true}
			in.History[0] = Window{Start: midnight, Step: step, Values: values[:i+1]}
			d := Evaluate(p, in, s, now)
			s = d.Next
			switch el := now.Sub(midnight); {
			case el >= 25*time.Hour && el < 36*time.Hour:
				got.secondMorning++
				if d.Metrics[0].Season == 24*time.Hour {
					got.withDaily++
				}
				if d.UsedForecast {
					got.raised++
				}
			case el == 38*time.Hour:
				got.afterJudged, got.judgedSpan = s.Models[0].Model.Period, s.Models[0].TunedSpan
			}
		}
		return got
	}

	d := replay(daily)
	if d.withDaily != d.secondMorning {
		t.Errorf("daily series: %d of %d evaluations between 25 h and 36 h forecast with a daily season; want all: the first complete day seeds it", d.withDaily, d.secondMorning)
	}
	if d.raised == 0 {
		t.Errorf("daily series: no forecast raised a decision on the second morning")
	}
	if d.afterJudged != 24*time.Hour || d.judgedSpan < 36*time.Hour {
		t.Errorf("daily series at 38 h: season %v chosen on %v of history; want 24h, chosen again by the backtest once detection could judge it (36 h or more)", d.afterJudged, d.judgedSpan)
	}

	n := replay(noise)
	if n.withDaily == 0 {
		t.Errorf("noise: no evaluation between 25 h and 36 h had the seeded daily season")
	}
	if n.afterJudged == 24*time.Hour {
		t.Errorf("noise at 38 h: the seeded daily season still stands; want it dropped once detection can judge it")
	}
}
