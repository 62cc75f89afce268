package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// weeklyReplay evaluates every 30-minute sample of values (from t0, with
// the history up to it) under p and returns the state after the first n.
func weeklyReplay(p Policy, values []float64, n int) State {
	const step = 30 * time.Minute
	var s State
	for i, v := range values[:n] {
		now := t0.Add(time.Duration(i) * step)
		in := Inputs{Current: 10, Ready: 10}
		in.Metrics[0] = Sample{Time: now, Value: v, Present: true}
		in.History[0] = Window{Start: t0, Step: step, Values: values[:i+1]}
		s = Evaluate(p, in, s, now).Next
	}
	return s
}

// TestDecisionRecordsWeeklyPart: a decision's Weekly is exactly what the
// weekly adjustment added to the decided forecast (the forecast minus the
// same state's with the adjustment taken away, which learns and forecasts
// alike otherwise) on a new sample, between samples and on a sample older
// than a step, at full and at half anchoring; the record carries it as
// weekly and the reason text shows it. While the adjustment only learns
// (its first week) it is NaN, absent from the record and the text, and
// the forecast is the one without.
func TestDecisionRecordsWeeklyPart(t *testing.T) {
	const (
		step   = 30 * time.Minute
		perDay = 48
	)
	weekends := func(i int) float64 { // days 5 and 6 of each week are quieter
		v := 1000 + 600*math.Sin(2*math.Pi*float64(i)/perDay)
		if (i/perDay)%7 >= 5 {
			v *= 0.7
		}
		return v
	}
	p := basePolicy()
	p.EvaluationInterval = Duration(10 * time.Minute)
	p.StaleAfter = Duration(2 * step)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(30 * time.Minute), Season: Season{Period: 24 * time.Hour}, History: Duration(7 * 24 * time.Hour)}
	values := series(5*7*perDay, 20, weekends)
	// The morning of the first busy day after two quiet ones, in week 5:
	// the last sample is at n-1, and the adjustment has had four weeks.
	n := 4*7*perDay + 16
	acting := weeklyReplay(p, values, n)
	learning := weeklyReplay(p, values, 8*perDay)
	if !acting.Models[0].Model.Week.Active() || learning.Models[0].Model.Week.Active() || learning.Models[0].Model.Week.Slots == nil {
		t.Fatal("the fixtures: want an active adjustment after four weeks and a learning one after eight days")
	}
	last := t0.Add(time.Duration(n-1) * step)
	tests := []struct {
		name    string
		state   State
		persist float64 // 0: the tuned one
		sample  time.Time
		now     time.Time
		acts    bool
	}{
		{"a new sample", acting, 0, last.Add(step), last.Add(step), true},
		{"a new sample, half anchored", acting, 0.5, last.Add(step), last.Add(step), true},
		{"between samples", acting, 0, last, last.Add(10 * time.Minute), true},
		{"between samples, half anchored", acting, 0.5, last, last.Add(10 * time.Minute), true},
		{"a sample older than a step", acting, 0, last, last.Add(50 * time.Minute), true},
		{"a sample older than a step, unanchored", acting, 0.01, last, last.Add(50 * time.Minute), true},
		{"learning only", learning, 0, t0.Add(8 * perDay * step), t0.Add(8 * perDay * step), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			with, without := tc.state.Clone(), tc.state.Clone()
			without.Models[0].Model.Week = forecast.Week{}
			if tc.persist > 0 {
				with.Models[0].Persist, without.Models[0].Persist = tc.persist, tc.persist
			}
			i := int(tc.sample.Sub(t0) / step)
			in := Inputs{Current: 10, Ready: 10}
			in.Metrics[0] = Sample{Time: tc.sample, Value: values[i], Present: true}
			in.History[0] = Window{Start: t0, Step: step, Values: values[:i+1]}
			d, base := Evaluate(p, in, with, tc.now), Evaluate(p, in, without, tc.now)
			mp := d.Metrics[0]
			if math.IsNaN(mp.Forecast) || math.IsNaN(base.Metrics[0].Forecast) {
				t.Fatalf("no forecast: %v with, %v without", mp.Forecast, base.Metrics[0].Forecast)
			}
			if !math.IsNaN(base.Metrics[0].Weekly) {
				t.Fatalf("without an adjustment Weekly is %v, want NaN", base.Metrics[0].Weekly)
			}
			rec := d.Record(p)
			text := rec.Reason
			js, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.acts {
				if !math.IsNaN(mp.Weekly) || rec.Metrics[0].Weekly != nil || strings.Contains(text, "weekly") || strings.Contains(string(js), `"weekly"`) {
					t.Fatalf("a learning adjustment recorded Weekly %v, %s", mp.Weekly, js)
				}
				if math.Float64bits(mp.Forecast) != math.Float64bits(base.Metrics[0].Forecast) {
					t.Fatalf("a learning adjustment moved the forecast: %v, %v without", mp.Forecast, base.Metrics[0].Forecast)
				}
				return
			}
			added := mp.Forecast - base.Metrics[0].Forecast
			if math.IsNaN(mp.Weekly) || math.Abs(added-mp.Weekly) > 1e-9*mp.Forecast {
				t.Fatalf("Weekly %v, but the adjustment added %v (forecast %v, %v without)", mp.Weekly, added, mp.Forecast, base.Metrics[0].Forecast)
			}
			if math.Abs(mp.Weekly) < 1 {
				t.Fatalf("Weekly %v on a Monday after quieter weekends: the case tests nothing", mp.Weekly)
			}
			if rec.Metrics[0].Weekly == nil || *rec.Metrics[0].Weekly != mp.Weekly || !strings.Contains(string(js), `"weekly":`) {
				t.Fatalf("the record: %s", js)
			}
			if want := fmt.Sprintf("(weekly %+.4g)", mp.Weekly); !strings.Contains(text, want) {
				t.Fatalf("reason %q does not show %q", text, want)
			}
			t.Logf("forecast %.1f, weekly %+.1f; %s", mp.Forecast, mp.Weekly, text)
		})
	}
}

// TestClampedPart: the part of a forecast that reaches the decided
// forecast max(f, 0), whatever side of zero f and f without the part lie.
func TestClampedPart(t *testing.T) {
	for _, c := range []struct{ f, part, want float64 }{
		{100, 20, 20},   // both above zero: all of it
		{100, -20, -20}, // a lowering part above zero
		{10, 30, 10},    // without it the forecast would be -20, clamped to 0
		{-10, -30, -20}, // it lowered the forecast from 20 to below zero
		{-10, 5, 0},     // below zero with it and without
		{0, 0, 0},
	} {
		if got := clampedPart(c.f, c.part); got != c.want {
			t.Errorf("clampedPart(%v, %v) = %v, want %v", c.f, c.part, got, c.want)
		}
		if got, want := clampedPart(c.f, c.part), max(c.f, 0)-max(c.f-c.part, 0); got != want {
			t.Errorf("clampedPart(%v, %v) = %v, but max(f, 0) - max(f-part, 0) = %v", c.f, c.part, got, want)
		}
	}
}

// BenchmarkWeeklyPart measures what working out a decision's weekly part
// costs when the adjustment acts (two lookups of the weekly deviation);
// while it does not, Evaluate skips it after an inline test.
func BenchmarkWeeklyPart(b *testing.B) {
	const perDay = 48
	p := basePolicy()
	p.EvaluationInterval = Duration(10 * time.Minute)
	p.StaleAfter = Duration(time.Hour)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(30 * time.Minute), Season: Season{Period: 24 * time.Hour}, History: Duration(7 * 24 * time.Hour)}
	values := series(4*7*perDay+16, 20, func(i int) float64 {
		v := 1000 + 600*math.Sin(2*math.Pi*float64(i)/perDay)
		if (i/perDay)%7 >= 5 {
			v *= 0.7
		}
		return v
	})
	s := weeklyReplay(p, values, len(values))
	mm := &s.Models[0]
	if !mm.Model.Week.Active() {
		b.Fatal("the adjustment does not act")
	}
	last := t0.Add(time.Duration(len(values)-1) * 30 * time.Minute)
	at := newInstant(last.Add(10 * time.Minute))
	b.ReportAllocs()
	b.ResetTimer()
	var sum float64
	for range b.N {
		sum += weeklyPart(mm, last, &at, 30*time.Minute, 1500)
	}
	if math.IsNaN(sum) {
		b.Fatal("NaN")
	}
}
