package simulate

import (
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// weeklyInstanceHours is the instance-hours of the desired sizes over each
// trailing week ending at a day's boundary from the second week on, one
// trace step per sample.
func weeklyInstanceHours(r *Result) []float64 {
	const week = int64(7 * 24 * time.Hour)
	var out []float64
	start := r.Times[0]
	for end := start + week; end <= r.Times[len(r.Times)-1]; end += int64(24 * time.Hour) {
		var h float64
		for i, at := range r.Times {
			if at >= end-week && at < end && i+1 < len(r.Times) {
				h += float64(r.Desired[i]) * time.Duration(r.Times[i+1]-at).Hours()
			}
		}
		out = append(out, h)
	}
	return out
}

// TestReplayExtraWithinShare replays the nyc-taxi example (four years of
// 30-minute samples), whose forecast raises ahead of every daily rise, and
// compares each trailing week's instance-hours with the same policy's
// without prediction. Without the bound the forecast holds up to 12 % more
// (93 of 208 weeks above 5 %). With the default bound (5 %) the worst week
// holds 6.1 % more and 21 weeks more than 5 %: the account measures the
// forecast against a shadow of the reactive rule kept inside the run, not
// against a second run without prediction, and that shadow sees the
// forecast run's own cooldowns and damping; the share holds to about a
// point. The test holds it to that: no week above 6.5 %, and at most a
// third as many weeks above 5 % as without the bound.
//
// The bound was 6 % until the season learned cleaned observations (a
// burst's or a lull's error clipped to two spreads: BENCHMARKS.md, issue 9
// "bursts not learned into the season, kept"). Over Christmas 2014 a
// season that learns the lull's full error forecasts less on the next
// days; one that learns it clipped keeps more of the usual day, so
// without the bound the worst week (to 2014-12-31) held 11.0 % more before
// and 12.1 % now, and 80 weeks were above 5 %, now 93. The bound takes off
// more of it than before (to 6.14 % in the week to 2014-12-30, against
// 5.91 %; 21 weeks above 5 %, against 23): its overshoot grows with what
// the forecast asks for. That week moves by tenths of a point with any
// change to what the season learns (cleaning from the 50th score on:
// 5.85 %, without the bound 9.8 %; from the 200th: 6.26 % and 11.9 %),
// hence the half point of room.
func TestReplayExtraWithinShare(t *testing.T) {
	p, s := loadExample(t, examples[1])
	run := func(mode policy.PredictiveMode, maxExtra policy.ExtraBound) []float64 {
		q := p
		q.Predictive.Mode, q.Predictive.MaxExtra = mode, maxExtra
		res, err := Run(Config{Policy: q}, s)
		if err != nil {
			t.Fatal(err)
		}
		return weeklyInstanceHours(res)
	}
	off := run(policy.PredictOff, policy.NoMaxExtra)
	bounded := run(policy.PredictForecastAndScale, 0)
	free := run(policy.PredictForecastAndScale, policy.NoMaxExtra)
	worstB, worstF, overB, overF := 0.0, 0.0, 0, 0
	for i := range off {
		worstB, worstF = max(worstB, bounded[i]/off[i]), max(worstF, free[i]/off[i])
		if bounded[i] > 1.05*off[i] {
			overB++
		}
		if free[i] > 1.05*off[i] {
			overF++
		}
	}
	if worstB > 1.065 || 3*overB > overF || worstF <= 1.06 {
		t.Fatalf("%d weeks: the worst week at %.4fx prediction off's instance-hours with the bound (want at most 1.065x), %.4fx without; above 1.05x: %d with, %d without (want at most a third)", len(off), worstB, worstF, overB, overF)
	}
	t.Logf("%d weeks: the worst week at %.4fx prediction off's instance-hours with the bound, %.4fx without; above 1.05x: %d with, %d without", len(off), worstB, worstF, overB, overF)
}
