package policy

import (
	"math"
	"strings"
	"testing"
	"time"
)

// outcome is one scored forecast: f made when the latest value was naive,
// and the value y that came.
type outcome struct{ f, naive, y float64 }

// repeat is the outcomes o, n times over.
func repeat(n int, o ...outcome) []outcome {
	var out []outcome
	for i := 0; i < n; i++ {
		out = append(out, o...)
	}
	return out
}

// TestRaiseGain checks the measure of whether a forecast's raises above
// persistence paid in capacity: raises that came true gain, raises into the
// troughs of a bursty series lose even when bursts come too, a forecast
// never above persistence neither gains nor loses, and nothing is claimed
// before enough forecasts are scored or when holding lost nothing.
func TestRaiseGain(t *testing.T) {
	trough := outcome{f: 12, naive: 10, y: 10} // raised 2, nothing came: 2 idle
	burst := outcome{f: 12, naive: 10, y: 20}  // raised 2, 8 short instead of 10
	tests := []struct {
		name     string
		outcomes []outcome
		want     string // "+", "-", "0" or "NaN"
	}{
		{"raises that came true gain", repeat(20, outcome{f: 12, naive: 10, y: 12}, outcome{f: 10, naive: 10, y: 11}), "+"},
		{"a burst now and then pays for a few troughs", repeat(100, trough, trough, burst), "+"},
		{"raises into many troughs lose despite the bursts", repeat(100, trough, trough, trough, trough, trough, trough, trough, trough, burst), "-"},
		{"a forecast never above persistence is neutral", repeat(20, outcome{f: 8, naive: 10, y: 9}), "0"},
		{"holding lost nothing: no claim", repeat(20, trough), "NaN"},
		{"too few scored: no claim", repeat(minScoredForecasts-1, trough), "NaN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mm MetricModel
			resetModel(&mm, 0, time.Minute)
			for i, o := range tc.outcomes {
				tn := t0.Add(time.Duration(i) * time.Minute).UnixNano()
				mm.Pending = append(mm.Pending[:0], PendingForecast{At: tn, Forecast: o.f, Naive: o.naive})
				observe(&mm, tn, o.y, 0)
			}
			g := mm.RaiseGain()
			var got string
			switch {
			case math.IsNaN(g):
				got = "NaN"
			case g > 0:
				got = "+"
			case g < 0:
				got = "-"
			default:
				got = "0"
			}
			if got != tc.want {
				t.Fatalf("raise gain %v (raise loss %v, hold loss %v), want %s", g, mm.RaiseLoss, mm.HoldLoss, tc.want)
			}
		})
	}
}

// TestRaiseGainGatesTheForecast checks that a forecast with skill acts
// only while its raises have not cost more capacity than they saved: on a
// clean rise the forecast raises the recommendation above the reactive
// proposal, unless the model's record says its raises lost, and then the
// decision says why.
func TestRaiseGainGatesTheForecast(t *testing.T) {
	tests := []struct {
		name        string
		raise, hold float64
		wantRaise   bool
	}{
		// Large, so that the one forecast the decision's sample scores
		// (weight skillWeight) does not turn the record around.
		{"raises paid", 1000, 2000, true},
		{"raises cost more than they saved", 3000, 2000, false},
		{"no raise lately", 2000, 2000, true},
		{"no record yet (a state from version 3)", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute)
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
			const current = 30
			s := trainRamp(p, 120, 1000, 20, 0, current)
			s.Models[0].RaiseLoss, s.Models[0].HoldLoss = tc.raise, tc.hold
			now := t0.Add(120 * time.Minute)
			in := Inputs{Current: current, Ready: current}
			in.Metrics[0] = Sample{Time: now, Value: 1000 + 20*120, Present: true}
			d := Evaluate(p, in, s, now)
			mp := d.Metrics[0]
			if !(mp.Skill > 0) || !(mp.Predictive > mp.Reactive) {
				t.Fatalf("skill %v, predictive %d, reactive %d: the test needs a skilled forecast above the reactive proposal", mp.Skill, mp.Predictive, mp.Reactive)
			}
			if d.UsedForecast != tc.wantRaise || mp.Trusted != tc.wantRaise {
				t.Fatalf("used forecast %v trusted %v (gain %v), want %v: %s", d.UsedForecast, mp.Trusted, mp.RaiseGain, tc.wantRaise, d.Explain(p))
			}
			if want := d.Reactive; !tc.wantRaise && d.Recommended != want {
				t.Fatalf("recommended %d, want the reactive %d", d.Recommended, want)
			}
			if why := "raises cost more capacity than they saved"; tc.wantRaise == strings.Contains(d.Explain(p), why) {
				t.Fatalf("explanation %q: says %q %v, want %v", d.Explain(p), why, !tc.wantRaise, !tc.wantRaise)
			}
		})
	}
}
