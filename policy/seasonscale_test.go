package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestDecisionRecordsSeasonScale: a decision's SeasonScale is the factor
// the model that made its forecast multiplies its season by (the model
// after the evaluation, which observed the sample first), 0 for an
// additive season and without a forecast; the record carries it as
// season_scale, and the reason names it only when it lies more than 5 %
// from 1. Between two samples, where the model observes nothing, the
// forecast is exactly an additive model's whose season is the scaled one
// times that factor.
func TestDecisionRecordsSeasonScale(t *testing.T) {
	const (
		step   = 30 * time.Minute
		perDay = 48
	)
	daily := func(i int) float64 { return 1000 + 600*math.Sin(2*math.Pi*float64(i)/perDay) }
	p := basePolicy()
	p.EvaluationInterval = Duration(10 * time.Minute)
	p.StaleAfter = Duration(2 * step)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(30 * time.Minute), Season: Season{Period: 24 * time.Hour}, History: Duration(7 * 24 * time.Hour)}
	values := series(4*perDay, 20, daily)
	n := 3*perDay + 10
	base := weeklyReplay(p, values, n)
	if base.Models[0].Model.Period != 24*time.Hour || base.Models[0].Model.Ref != 0 {
		t.Fatalf("the fixture: season %v, ref %v; want an additive daily season", base.Models[0].Model.Period, base.Models[0].Model.Ref)
	}
	last := t0.Add(time.Duration(n-1) * step)
	level := float32(base.Models[0].Model.Level)
	tests := []struct {
		name     string
		ref      float32 // 0: additive; the mean is the level
		sample   time.Time
		now      time.Time
		mode     PredictiveMode
		want     float64 // the factor; 0 none, -1 the model's after the evaluation
		text     string  // in the reason; "" for no shape named
		shiftSet bool    // between samples: compare with the additive model
	}{
		{"additive", 0, last.Add(step), last.Add(step), PredictForecastAndScale, 0, "", false},
		{"additive, between samples", 0, last, last.Add(10 * time.Minute), PredictForecastAndScale, 0, "", true},
		{"scaled, at the seeded level", level, last, last.Add(10 * time.Minute), PredictForecastAndScale, 1, "", true},
		{"scaled, 4 % above", level / 1.04, last, last.Add(10 * time.Minute), PredictForecastAndScale, -1, "", true},
		{"scaled, 84 % above", level / 1.84, last, last.Add(10 * time.Minute), PredictForecastAndScale, -1, "(daily shape ×1.84)", true},
		{"scaled, halved", level * 2, last, last.Add(10 * time.Minute), PredictForecastAndScale, 0.5, "(daily shape ×0.50)", true},
		{"scaled, beyond the bound", level / 10, last, last.Add(10 * time.Minute), PredictForecastAndScale, 4, "(daily shape ×4.00)", true},
		{"scaled, a new sample", level / 1.84, last.Add(step), last.Add(step), PredictForecastAndScale, -1, "(daily shape ×1.8", false},
		{"scaled, forecast only", level / 1.84, last.Add(step), last.Add(step), PredictForecastOnly, -1, "(daily shape ×1.8", false},
		{"scaled, the sample overdue", level / 1.84, last, last.Add(3 * time.Hour), PredictForecastAndScale, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Clone()
			m := &s.Models[0].Model
			if tc.ref > 0 {
				m.Ref, m.Mean = tc.ref, level
			}
			additive := s.Clone()
			am := &additive.Models[0].Model
			for i := range am.Season {
				if k := m.SeasonScale(); k > 0 { // 0: additive already
					am.Season[i] *= k
				}
			}
			am.Ref, am.Mean = 0, 0
			pp := p
			pp.Predictive.Mode = tc.mode
			i := int(tc.sample.Sub(t0) / step)
			in := Inputs{Current: 10, Ready: 10}
			in.Metrics[0] = Sample{Time: tc.sample, Value: values[i], Present: true}
			in.History[0] = Window{Start: t0, Step: step, Values: values[:i+1]}
			d := Evaluate(pp, in, s, tc.now)
			mp := d.Metrics[0]
			want := tc.want
			if want < 0 {
				want = d.Next.Models[0].Model.SeasonScale()
			}
			if mp.SeasonScale != want {
				t.Fatalf("SeasonScale %v, want %v", mp.SeasonScale, want)
			}
			if want > 0 && math.IsNaN(mp.Forecast) {
				t.Fatal("a factor without a forecast")
			}
			if tc.name == "scaled, the sample overdue" && !math.IsNaN(mp.Forecast) {
				t.Fatalf("the fixture: forecast %v on an overdue sample, want none", mp.Forecast)
			}
			if tc.shiftSet {
				ad := Evaluate(pp, in, additive, tc.now)
				if math.Abs(ad.Metrics[0].Forecast-mp.Forecast) > 1e-9*mp.Forecast {
					t.Fatalf("forecast %v, the additive model with the season times %v forecasts %v", mp.Forecast, mp.SeasonScale, ad.Metrics[0].Forecast)
				}
			}
			rec := d.Record(pp)
			js, err := json.Marshal(rec.Metrics[0])
			if err != nil {
				t.Fatal(err)
			}
			if rec.Metrics[0].SeasonScale != want || strings.Contains(string(js), `"season_scale"`) != (want > 0) {
				t.Fatalf("the record: %s, want season_scale %v", js, want)
			}
			if tc.text == "" && strings.Contains(rec.Reason, "shape") || tc.text != "" && !strings.Contains(rec.Reason, tc.text) {
				t.Fatalf("reason %q, want %q", rec.Reason, tc.text)
			}
			t.Logf("%s", rec.Reason)
		})
	}
}

// TestShapeText: which factors a reason names and how it names the shape
// of a season other than the daily one.
func TestShapeText(t *testing.T) {
	for _, c := range []struct {
		k      float64
		season time.Duration
		want   string
	}{
		{0, 24 * time.Hour, ""},
		{1, 24 * time.Hour, ""},
		{1.04, 24 * time.Hour, ""},
		{0.96, 24 * time.Hour, ""},
		{1.06, 24 * time.Hour, " (daily shape ×1.06)"},
		{0.94, 24 * time.Hour, " (daily shape ×0.94)"},
		{0.25, time.Hour, " (1h shape ×0.25)"},
		{2, 7 * 24 * time.Hour, " (7d shape ×2.00)"},
	} {
		p := basePolicy()
		d := Decision{NumMetrics: 1}
		d.Metrics[0] = MetricProposal{Value: 1, Forecast: 100, Predictive: 1, Upper: math.NaN(), Weekly: math.NaN(),
			Skill: 0.5, SlotSkill: float32(math.NaN()), Trusted: true, Season: c.season, SeasonScale: c.k}
		text := d.Explain(p)
		if want := fmt.Sprintf("forecast 100%s proposes 1", c.want); !strings.Contains(text, want) {
			t.Errorf("factor %v: %q does not contain %q", c.k, text, want)
		}
	}
}
