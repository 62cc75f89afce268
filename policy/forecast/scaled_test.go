package forecast

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// TestScaleSeason: a season can scale with the level only where there is
// a season and a positive level to be in units of; it then starts at
// that level, so the seeded components forecast exactly as before.
func TestScaleSeason(t *testing.T) {
	seeded := func(period time.Duration, level float64) Model {
		var m Model
		m.Seed(synth(2*288, 5*time.Minute, 0, func(sec float64) float64 { return level + 10*math.Sin(2*math.Pi*sec/86400) }).values,
			t0, 5*time.Minute, period)
		if period == 0 {
			m.Level = level // Holt is not seeded
		}
		return m
	}
	for _, c := range []struct {
		name string
		m    Model
		want bool
	}{
		{"a daily season at a positive level", seeded(24*time.Hour, 100), true},
		{"no season", seeded(0, 100), false},
		{"a level of 0", seeded(24*time.Hour, 0), false},
		{"a negative level", seeded(24*time.Hour, -50), false},
		{"a low point below zero", seeded(24*time.Hour, 5), false},
		{"a low point at zero", seeded(24*time.Hour, 10), true},
		{"nothing seeded", Model{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := time.Unix(0, c.m.LastUnixNano).Add(7 * time.Hour)
			before := c.m.Forecast(at, DefaultParams())
			ok := c.m.ScaleSeason()
			if ok != c.want || (ok && (c.m.Ref != float32(c.m.Level) || c.m.Mean != c.m.Ref)) || (!ok && c.m.Ref != 0) {
				t.Fatalf("ScaleSeason %v (ref %v, mean %v, level %v), want %v", ok, c.m.Ref, c.m.Mean, c.m.Level, c.want)
			}
			if after := c.m.Forecast(at, DefaultParams()); math.Abs(after-before) > 1e-9*math.Abs(before) &&
				!(math.IsNaN(after) && math.IsNaN(before)) {
				t.Fatalf("forecast %v after ScaleSeason, %v before", after, before)
			}
		})
	}
}

// TestScaleBounds: the components' factor is the mean level over the
// reference, within [minScale, maxScale]; 1 for an additive season.
// SeasonScale, what a decision records, is the same factor where the
// season scales and 0 for an additive one.
func TestScaleBounds(t *testing.T) {
	for _, c := range []struct {
		ref, mean float32
		want      float64
		recorded  float64
	}{
		{0, 500, 1, 0},
		{100, 100, 1, 1},
		{100, 200, 2, 2},
		{100, 50, 0.5, 0.5},
		{100, 1000, maxScale, maxScale},
		{100, 1, minScale, minScale},
		{100, -20, minScale, minScale},
	} {
		m := Model{Ref: c.ref, Mean: c.mean}
		if got := m.scale(); got != c.want {
			t.Errorf("ref %v, mean %v: scale %v, want %v", c.ref, c.mean, got, c.want)
		}
		if got := m.SeasonScale(); got != c.recorded {
			t.Errorf("ref %v, mean %v: SeasonScale %v, want %v", c.ref, c.mean, got, c.recorded)
		}
	}
}

// TestScaledSeasonFollowsALevelShift seeds a daily model of 5-minute data
// whose amplitude is 40 % of its level on two days, then doubles the level
// for three more, and compares the forecasts an hour ahead on the last day,
// additive against scaled: the additive season keeps most of the old
// amplitude (it relearns Gamma a day), the scaled one doubles it with the
// mean level.
func TestScaledSeasonFollowsALevelShift(t *testing.T) {
	const perDay = 288
	shape := func(sec float64) float64 {
		level := 100.0
		if sec >= 2*86400 {
			level = 200
		}
		return level * (1 + 0.4*math.Sin(2*math.Pi*sec/86400))
	}
	tr := synth(5*perDay, 5*time.Minute, 0.5, shape)
	p := DefaultParams()
	p.Alpha = 0.05
	errs := map[bool]float64{}
	for _, scaled := range []bool{false, true} {
		var m Model
		m.Seed(tr.values[:2*perDay], t0, 5*time.Minute, 24*time.Hour)
		if scaled && !m.ScaleSeason() {
			t.Fatal("a seeded daily season did not scale")
		}
		m.Absorb(tr.values[:2*perDay], t0, p)
		var sum float64
		n := 0
		for i := 2 * perDay; i < len(tr.values); i++ {
			if i >= 4*perDay && i+12 < len(tr.values) {
				sum += math.Abs(m.Forecast(tr.at(i+12), p) - tr.values[i+12])
				n++
			}
			m.Observe(tr.at(i), tr.values[i], p)
		}
		errs[scaled] = sum / float64(n)
	}
	t.Logf("mean absolute error an hour ahead on the last day: additive %.1f, scaled %.1f", errs[false], errs[true])
	if !(errs[true] < 0.5*errs[false]) {
		t.Errorf("scaled season's error %.1f, additive's %.1f: want under half", errs[true], errs[false])
	}
}

// TestAppendBinaryAdditive: an additive model is written as AppendBinary
// writes it; a scaled one in version 1 or 2 (as the code before scaled
// seasons wrote models), additive, with the components it forecasts now,
// so the decoded model forecasts what the scaled one does at its last
// observation.
func TestAppendBinaryAdditive(t *testing.T) {
	for i, m := range encodingSamples() {
		b := m.AppendBinaryAdditive(nil)
		if m.Ref <= 0 {
			if !bytes.Equal(b, m.AppendBinary(nil)) {
				t.Errorf("sample %d: an additive model's bytes differ from AppendBinary's", i)
			}
			continue
		}
		want := byte(encodingVersionNoWeek)
		if m.Week.Slots != nil {
			want = encodingVersion
		}
		var got Model
		if rest, err := got.DecodeBinary(b); err != nil || len(rest) != 0 || b[0] != want {
			t.Fatalf("sample %d: version %d (want %d), %v, %d bytes left", i, b[0], want, err, len(rest))
		}
		if len(b) != len(m.AppendBinary(nil))-9 || got.Ref != 0 {
			t.Errorf("sample %d: %d bytes against %d scaled, ref %v", i, len(b), len(m.AppendBinary(nil)), got.Ref)
		}
		if m.scale() == 1 {
			t.Fatalf("sample %d: the scaled model's factor is 1, the case tests nothing", i)
		}
		p := DefaultParams()
		for _, ahead := range []time.Duration{0, time.Hour, 7 * time.Hour} {
			at := time.Unix(0, m.LastUnixNano).Add(ahead)
			if a, b := m.Forecast(at, p), got.Forecast(at, p); math.Abs(a-b) > 1e-9*math.Abs(a) {
				t.Errorf("sample %d, %v ahead: additive forecast %v, scaled %v", i, ahead, b, a)
			}
		}
	}
}
