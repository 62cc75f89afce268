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

// TestRetuneCountsSampleOnce: a running model chosen again on the history
// window (here after three times the hour it was chosen on) is rebuilt from
// the window, which holds the latest sample in its last bucket: the
// rebuilt model holds each of the window's values once and the sample not
// again, wherever in its bucket it falls.
func TestRetuneCountsSampleOnce(t *testing.T) {
	const step = 10 * time.Second
	p := firstSamplePolicy()
	values := series(360, 5, func(i int) float64 { return 1000 + float64(i) })
	start := t0.Add(-time.Duration(len(values)-1) * step) // the last bucket starts at t0
	for _, offset := range []time.Duration{0, 4 * time.Second, step - time.Nanosecond} {
		at := t0.Add(offset)
		mm := MetricModel{CheckedAt: at.Add(-3 * time.Hour), TunedAt: at.Add(-3 * time.Hour), TunedSpan: time.Hour}
		resetModel(&mm, 0, step)
		mm.Model.Observe(at.Add(-step), 990, mm.Params)
		s := State{Models: []MetricModel{mm}}
		if !s.NeedsHistory(p, at) {
			t.Fatal("no retune due: the test does not test a rebuild")
		}
		in := Inputs{Current: 2, Ready: 2}
		in.Metrics[0] = Sample{Time: at, Value: values[len(values)-1], Present: true}
		in.History[0] = Window{Start: start, Step: step, Values: values}
		d := Evaluate(p, in, s, at)
		got := d.Next.Models[0]
		if !got.TunedAt.Equal(at) {
			t.Fatalf("sample %v into its bucket: tuned at %v, want a retune at %v", offset, got.TunedAt, at)
		}
		if got.Model.Count != len(values) {
			t.Errorf("sample %v into its bucket: the rebuilt model holds %d observations from a window of %d values",
				offset, got.Model.Count, len(values))
		}
	}
}

// TestWindowHolds: a window holds a time when the bucket it falls in is
// inside the window and has a value.
func TestWindowHolds(t *testing.T) {
	const step = 10 * time.Second
	w := Window{Start: t0, Step: step, Values: []float64{1, math.NaN(), 3}}
	tests := []struct {
		name string
		w    Window
		at   time.Time
		want bool
	}{
		{"first bucket's start", w, t0, true},
		{"inside the first bucket", w, t0.Add(4 * time.Second), true},
		{"last bucket's last instant", w, t0.Add(3*step - time.Nanosecond), true},
		{"a missing bucket", w, t0.Add(step + time.Second), false},
		{"before the window", w, t0.Add(-time.Nanosecond), false},
		{"at the window's end", w, t0.Add(3 * step), false},
		{"an empty window", Window{}, t0, false},
		{"no step", Window{Start: t0, Values: []float64{1}}, t0, false},
	}
	for _, tc := range tests {
		if got := tc.w.holds(tc.at); got != tc.want {
			t.Errorf("%s: holds %v, want %v", tc.name, got, tc.want)
		}
	}
}
