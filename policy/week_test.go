package policy

import (
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// TestWeeklyAdjustmentAcrossRebuilds replays five weeks of 30-minute
// samples (as nyc_taxi's) through Evaluate with a week of history, as the
// simulator and the leader loop give it, so the model is rebuilt from that
// history several times. The history never shows a weekly shape; the weekly adjustment is
// learned across the rebuilds (its learned hours never go back, whatever
// smoothing and season a rebuild chooses), exists only once a daily season
// has, acts where the weekends differ and not where every day is alike,
// and survives the state's binary encoding. Where it acts, the decisions'
// forecasts over the last week are better than those of the same replay
// with the adjustment taken away before every evaluation (the engine before
// it).
func TestWeeklyAdjustmentAcrossRebuilds(t *testing.T) {
	const (
		step   = 30 * time.Minute
		perDay = 48
		ahead  = 2 // samples from one to the decided forecast's time: the step plus the lead
	)
	daily := func(i int) float64 { return 1000 + 600*math.Sin(2*math.Pi*float64(i)/perDay) }
	weekends := func(i int) float64 { // days 5 and 6 of each week are quieter
		if (i/perDay)%7 >= 5 {
			return 0.7 * daily(i)
		}
		return daily(i)
	}
	for _, c := range []struct {
		name       string
		season     Season
		f          func(int) float64
		wantWeek   bool
		wantActive bool
	}{
		{"a configured daily season, weekends differ", Season{Period: 24 * time.Hour}, weekends, true, true},
		{"a detected season, weekends differ", Season{Auto: true}, weekends, true, true},
		{"a configured daily season, every day alike", Season{Period: 24 * time.Hour}, daily, true, false},
		{"an hourly season: no weekly adjustment", Season{Period: time.Hour}, weekends, false, false},
		{"no season: no weekly adjustment", Season{}, weekends, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(step)
			p.StaleAfter = Duration(2 * step)
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(30 * time.Minute), Season: c.season, History: Duration(7 * 24 * time.Hour)}
			values := series(5*7*perDay, 20, c.f)
			start := t0
			// replay evaluates every sample, without the weekly adjustment
			// when strip is set, and returns the final state and the mean
			// absolute error of the last week's decided forecasts (for the
			// sample's time plus the step plus the lead: 4 samples on).
			rebuilds, hours := 0, 0
			replay := func(strip bool) (State, float64) {
				var s State
				var tunedAt time.Time
				var sum float64
				n := 0
				for i, v := range values {
					now := start.Add(time.Duration(i) * step)
					in := Inputs{Current: 10, Ready: 10}
					in.Metrics[0] = Sample{Time: now, Value: v, Present: true}
					in.History[0] = Window{Start: start, Step: step, Values: values[:i+1]}
					if strip && len(s.Models) == 1 {
						s.Models[0].Model.Week = forecast.Week{}
					}
					d := Evaluate(p, in, s, now)
					s = d.Next
					if f := d.Metrics[0].Forecast; i >= len(values)-7*perDay && i+ahead < len(values) && isFinite(f) {
						sum += math.Abs(f - values[i+ahead])
						n++
					}
					if strip {
						continue
					}
					mm := &s.Models[0]
					if !mm.TunedAt.Equal(tunedAt) {
						rebuilds++
						tunedAt = mm.TunedAt
					}
					if mm.Model.Week.Hours < hours {
						t.Fatalf("at %v a rebuild dropped the weekly adjustment's %d learned hours (now %d)", now, hours, mm.Model.Week.Hours)
					}
					hours = mm.Model.Week.Hours
				}
				return s, sum / float64(n)
			}
			s, errWeek := replay(false)
			mm := &s.Models[0]
			if got := mm.Model.Week.Slots != nil; got != c.wantWeek || mm.Model.Week.Active() != c.wantActive {
				corr, pairs := mm.Model.Week.Correlation()
				t.Fatalf("season %v: weekly adjustment present %v, active %v (correlation %.3f over %d pairs, explained %.3f, alpha %v); want %v, %v",
					mm.Model.Period, got, mm.Model.Week.Active(), corr, pairs, mm.Model.Week.Explained(), mm.Params.Alpha, c.wantWeek, c.wantActive)
			}
			if c.wantWeek && rebuilds < 3 {
				t.Fatalf("only %d rebuilds: the replay does not test carrying the adjustment across them", rebuilds)
			}
			if c.wantActive && hours < 2*7*24 {
				t.Errorf("%d hours learned, want at least two weeks' for an active adjustment", hours)
			}
			if c.wantActive {
				// Modest: the noise (mean absolute value 16) is half the
				// error, and the level takes in a weekend within hours. On
				// 5-minute samples with a 15-minute lead it takes it in
				// within the lead, and the adjustment gains nothing there
				// (BENCHMARKS.md). A season that scales with the level
				// (chosen on the configured season's histories: the
				// weekends are 0.7 times the weekdays, amplitude and all)
				// takes in most of the weekends' smaller amplitude itself,
				// and the adjustment on top of it then costs a little:
				// 30.1 with it against 29.1 without, where the additive
				// season had 32.9 against 33.6 (BENCHMARKS.md, issue 9 "a
				// daily shape that scales with the level"). There it may
				// cost at most 5 %.
				_, errDaily := replay(true)
				switch scaled := mm.Model.Ref > 0; {
				case !scaled && !(errWeek < 0.99*errDaily):
					t.Errorf("last week's forecasts: mean absolute error %.1f with the adjustment, %.1f without; want at least 1 %% lower", errWeek, errDaily)
				case scaled && !(errWeek <= 1.05*errDaily):
					t.Errorf("last week's forecasts on a scaled season: mean absolute error %.1f with the adjustment, %.1f without; want at most 5 %% higher", errWeek, errDaily)
				default:
					t.Logf("last week's forecasts: mean absolute error %.1f with the adjustment, %.1f without (season scaled %v)", errWeek, errDaily, scaled)
				}
			}
			// The state round-trips with its adjustment and decides alike.
			got, b := roundTrip(t, s)
			now := start.Add(time.Duration(len(values)) * step)
			in := Inputs{Current: 10, Ready: 10}
			in.Metrics[0] = Sample{Time: now, Value: c.f(len(values)), Present: true}
			a, e := Evaluate(p, in, s.Clone(), now), Evaluate(p, in, got, now)
			if math.Float64bits(a.Metrics[0].Forecast) != math.Float64bits(e.Metrics[0].Forecast) || a.Desired != e.Desired {
				t.Fatalf("decoded state forecasts %v (desired %d), original %v (%d)", e.Metrics[0].Forecast, e.Desired, a.Metrics[0].Forecast, a.Desired)
			}
			t.Logf("season %v, %d rebuilds, %d hours learned, active %v; state %d bytes", mm.Model.Period, rebuilds, hours, mm.Model.Week.Active(), len(b))
		})
	}
}

// TestKeepWeek: a rebuilt model keeps the weekly adjustment it replaces,
// whatever its season; one with a daily season starts one; other seasons
// get none.
func TestKeepWeek(t *testing.T) {
	learned := forecast.NewWeek()
	learned.Hours, learned.Slots[3] = 500, 7
	for _, c := range []struct {
		name      string
		period    time.Duration
		old       forecast.Week
		wantSlots bool
		wantHours int
	}{
		{"daily: kept", 24 * time.Hour, learned, true, 500},
		{"daily, none before: started", 24 * time.Hour, forecast.Week{}, true, 0},
		{"hourly: kept", time.Hour, learned, true, 500},
		{"no season: kept", 0, learned, true, 500},
		{"hourly, none before: none", time.Hour, forecast.Week{}, false, 0},
		{"no season, none before: none", 0, forecast.Week{}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mm MetricModel
			resetModel(&mm, c.period, 5*time.Minute)
			keepWeek(&mm, c.old.Clone())
			w := mm.Model.Week
			if (w.Slots != nil) != c.wantSlots || w.Hours != c.wantHours {
				t.Fatalf("slots %v, hours %d; want slots %v, hours %d", w.Slots != nil, w.Hours, c.wantSlots, c.wantHours)
			}
			if c.wantHours > 0 && w.Slots[3] != 7 {
				t.Errorf("kept adjustment lost its slots")
			}
		})
	}
}

// roundTrip encodes s, decodes it, checks that the decoded state encodes
// to the same bytes, and returns it with its encoding.
func roundTrip(t *testing.T, s State) (State, []byte) {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if again, _ := got.MarshalBinary(); string(again) != string(b) {
		t.Fatal("re-encoding a decoded state changed its bytes")
	}
	return got, b
}
