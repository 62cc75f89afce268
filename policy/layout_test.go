package policy

import (
	"math"
	"testing"
	"time"
	"unsafe"
)

// TestMetricModelSize: a decoded model keeps its scores by the time of day
// out of line (MetricModel.Slots), so that two models fit a 1,152-byte
// allocation instead of 1,792 (Go's size classes) and a model without a
// season carries no 288 bytes of empty scores. It fails if the scores, or
// another array of their size, move back inline.
func TestMetricModelSize(t *testing.T) {
	if n := unsafe.Sizeof(MetricModel{}); n > 576 {
		t.Fatalf("MetricModel takes %d bytes, want at most 576", n)
	}
}

// TestSlotScoresOnlyWithSeason replays a daily series through Evaluate
// with and without a season: a model with a season allocates its scores by
// the time of day and fills them, one without has none; a clone's scores
// are its own (scoring the clone leaves the original's as they were); a
// state whose models have no scores decodes with none and re-encodes to
// the same bytes.
func TestSlotScoresOnlyWithSeason(t *testing.T) {
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	const perDay = 288 // 5-minute samples
	values := make([]float64, 3*perDay)
	for i := range values {
		values[i] = 1000 + 500*math.Sin(2*math.Pi*float64(i)/perDay)
	}
	for _, tc := range []struct {
		name   string
		season Season
		scores bool
	}{
		{"no season", Season{}, false},
		{"a daily season", Season{Period: 24 * time.Hour}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(5 * time.Minute)
			p.StaleAfter = Duration(10 * time.Minute)
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(10 * time.Minute), Season: tc.season, History: Duration(7 * 24 * time.Hour)}
			var s State
			for i, v := range values {
				now := start.Add(time.Duration(i) * 5 * time.Minute)
				in := Inputs{Current: 10, Ready: 10}
				in.Metrics[0] = Sample{Time: now, Value: v, Present: true}
				in.History[0] = Window{Start: start, Step: 5 * time.Minute, Values: values[:i+1]}
				s = Evaluate(p, in, s, now).Next
			}
			mm := &s.Models[0]
			if got := mm.Slots != nil; got != tc.scores {
				t.Fatalf("scores by the time of day allocated: %v, want %v (season %v)", got, tc.scores, mm.Model.Period)
			}
			if got := !mm.Slots.Empty(); got != tc.scores {
				t.Fatalf("scores by the time of day filled: %v, want %v", got, tc.scores)
			}
			// Without the forecast's cost bound's account (version 7),
			// which the default bound keeps here: the version is the
			// scores' to decide.
			enc, err := s.MarshalBinaryV6()
			if err != nil {
				t.Fatal(err)
			}
			if want := byte(plainStateVersion); !tc.scores && enc[0] != want {
				t.Fatalf("a state without scores encodes as version %d, want %d", enc[0], want)
			}
			var back State
			if err := back.UnmarshalBinary(enc); err != nil {
				t.Fatal(err)
			}
			if got := back.Models[0].Slots != nil; got != tc.scores {
				t.Fatalf("decoded scores allocated: %v, want %v", got, tc.scores)
			}
			if again, _ := back.MarshalBinary(); string(again) != string(enc) {
				t.Fatal("the decoded state re-encodes to other bytes")
			}
			if !tc.scores {
				return
			}
			c := s.Clone()
			before := *mm.Slots
			c.Models[0].Slots[0].Scored++
			if *mm.Slots != before {
				t.Fatal("changing a clone's scores changed the original's")
			}
		})
	}
}

// TestSlotOfKeepsSpan: slotOf, which keeps the span of the last slot it
// divided for, gives the slot a fresh division gives for every time, in
// any order: ascending a step at a time across slot and day boundaries,
// jumping back, far ahead, at the ends of int64 (where the span overflows
// and is not kept), and for a season whose period TimeOfDaySlots does not
// divide (no span kept).
func TestSlotOfKeepsSpan(t *testing.T) {
	day := int64(24 * time.Hour)
	times := []int64{0, 1, day/24 - 1, day / 24, day - 1, day, 5*day + 7, 3 * day, 3*day + 1, math.MaxInt64 - 1, math.MaxInt64, 2 * day}
	for tn := 10 * day; tn < 12*day; tn += int64(time.Minute) {
		times = append(times, tn)
	}
	for _, period := range []time.Duration{24 * time.Hour, 24*time.Hour + 1} {
		var c horizonCache
		c.slotRates(period, time.Minute, 3*time.Minute)
		for _, tn := range times {
			fresh := c
			fresh.slotLo, fresh.slotHi = 0, 0
			want := int(tn % int64(period) / fresh.slotWidth)
			if fresh.slotExact {
				want = int(tn / fresh.slotWidth % TimeOfDaySlots)
			}
			want = min(want, TimeOfDaySlots-1)
			if got := c.slotOf(tn); got != want {
				t.Fatalf("period %v: slot of %d is %d, a division says %d", period, tn, got, want)
			}
		}
		if exact := period == 24*time.Hour; c.slotExact != exact || (c.slotHi != 0) != exact {
			t.Fatalf("period %v: exact %v, span kept up to %d", period, c.slotExact, c.slotHi)
		}
	}
}

// TestSettled: Evaluate skips configureSeason when the model is settled:
// configured, not due for retuning, with the configured season, and, when
// it has a season (auto or configured), checked within the hour; each
// other case rebuilds or checks. A configured season is checked hourly as
// auto is, so that it follows a level shift (followLevelShift); a policy
// configured with no season has nothing to check.
func TestSettled(t *testing.T) {
	day := 24 * time.Hour
	checked := t0.Add(-30 * time.Minute)
	for _, tc := range []struct {
		name    string
		season  Season
		period  time.Duration
		checked time.Time
		tuned   time.Time
		want    bool
	}{
		{"never configured", Season{Period: day}, day, time.Time{}, time.Time{}, false},
		{"the configured season in place", Season{Period: day}, day, checked, checked, true},
		{"another season configured", Season{Period: day}, time.Hour, checked, checked, false},
		{"due for retuning", Season{Period: day}, day, checked, t0.Add(-7 * day), false},
		{"auto, checked within the hour", Season{Auto: true}, time.Hour, checked, checked, true},
		{"auto, checked an hour ago", Season{Auto: true}, day, t0.Add(-time.Hour), t0.Add(-time.Hour), false},
		{"configured, checked an hour ago", Season{Period: day}, day, t0.Add(-time.Hour), t0.Add(-time.Hour), false},
		{"configured none, checked an hour ago", Season{}, 0, t0.Add(-time.Hour), t0.Add(-time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(3 * time.Minute), Season: tc.season, History: Duration(7 * day)}
			mm := MetricModel{CheckedAt: tc.checked, TunedAt: tc.tuned, TunedSpan: 2 * day}
			mm.Model.Period = tc.period
			at := newInstant(t0)
			if got := mm.settled(&p, &at); got != tc.want {
				t.Fatalf("settled: %v, want %v", got, tc.want)
			}
		})
	}
}
