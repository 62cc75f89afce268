package policy

import (
	"math"
	"testing"
	"time"
)

// firstSamplePolicy forecasts one request_rate metric from 10 s buckets,
// as the control plane's windows hold them.
func firstSamplePolicy() Policy {
	p := basePolicy()
	p.Predictive = Predictive{Mode: PredictForecastOnly, Lead: Duration(20 * time.Second), History: Duration(time.Hour)}
	return p
}

// TestFirstEvaluationCountsSampleOnce: the model a first evaluation builds
// from the history window holds the latest sample once, whether the sample
// is inside the window's last bucket (on its start or after it), or outside
// the fitted history (its bucket missing or not yet in the window) and so
// fed as a new reading.
func TestFirstEvaluationCountsSampleOnce(t *testing.T) {
	const step = 10 * time.Second
	bucket := t0 // the start of the sample's bucket
	tests := []struct {
		name   string
		offset time.Duration // the sample's distance from its bucket's start
		values []float64     // the window, its last value the sample's bucket
		want   int           // observations in the model
	}{
		{"on the bucket's start", 0, []float64{100, 110, 120}, 3},
		{"inside the bucket", 4 * time.Second, []float64{100, 110, 120}, 3},
		{"at the bucket's last instant", step - time.Nanosecond, []float64{100, 110, 120}, 3},
		{"its bucket empty", 4 * time.Second, []float64{100, 110, math.NaN()}, 3},
		{"its bucket not yet in the window", 4 * time.Second, []float64{90, 100, 110}, 4},
	}
	p := firstSamplePolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := bucket.Add(-time.Duration(len(tc.values)-1) * step)
			if tc.name == "its bucket not yet in the window" {
				start = start.Add(-step) // the window ends at the sample's bucket's start
			}
			at := bucket.Add(tc.offset)
			in := Inputs{Current: 2, Ready: 2}
			in.Metrics[0] = Sample{Time: at, Value: 120, Present: true}
			in.History[0] = Window{Start: start, Step: step, Values: tc.values}
			d := Evaluate(p, in, State{}, at)
			if got := d.Next.Models[0].Model.Count; got != tc.want {
				t.Fatalf("model holds %d observations from a window of %v and a sample %v into its bucket; want %d",
					got, tc.values, tc.offset, tc.want)
			}
		})
	}
}

// TestFirstForecastWhateverOffset runs evaluations 10 s apart from the
// first sample on, with the history window handed over when the state asks
// for it (as the control plane does): the first forecast, and the first
// scored one, come at the same evaluation wherever in its bucket the first
// sample falls.
func TestFirstForecastWhateverOffset(t *testing.T) {
	const step = 10 * time.Second
	p := firstSamplePolicy()
	// run returns the first evaluation with a forecast and the first after
	// which one is scored.
	run := func(offset time.Duration) (forecastAt, scoredAt int) {
		forecastAt, scoredAt = -1, -1
		start := t0 // the first sample's bucket
		var values []float64
		var s State
		for i := range 12 {
			at := start.Add(offset + time.Duration(i)*step)
			y := float64(150 + 10*(i%3))
			values = append(values, y) // one sample a bucket: the bucket's value is the sample
			in := Inputs{Current: 2, Ready: 2}
			in.Metrics[0] = Sample{Time: at, Value: y, Present: true}
			if s.NeedsHistory(p, at) {
				in.History[0] = Window{Start: start, Step: step, Values: values}
			}
			d := Evaluate(p, in, s, at)
			s = d.Next
			if forecastAt < 0 && !math.IsNaN(d.Metrics[0].Forecast) {
				forecastAt = i
			}
			if scoredAt < 0 && s.Models[0].Scored > 0 {
				scoredAt = i
			}
		}
		return forecastAt, scoredAt
	}
	wantForecast, wantScored := run(0)
	if wantForecast < 0 || wantScored < 0 {
		t.Fatalf("sample on a bucket's start: first forecast at %d, first scored at %d; want both within 12 evaluations", wantForecast, wantScored)
	}
	for _, offset := range []time.Duration{time.Second, 4 * time.Second, 5 * time.Second, step - time.Millisecond} {
		if f, sc := run(offset); f != wantForecast || sc != wantScored {
			t.Errorf("first sample %v into its bucket: first forecast at evaluation %d, first scored at %d; on the bucket's start %d and %d",
				offset, f, sc, wantForecast, wantScored)
		}
	}
}
