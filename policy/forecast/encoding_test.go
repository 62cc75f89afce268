package forecast

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// encodingSamples are models worth round-tripping: zero, Holt, seasonal
// after a warm start, and a hand-built one with extreme values.
func encodingSamples() []Model {
	var holt, hw Model
	Fit(&holt, []float64{1, 2, 3, 5, 8}, t0, time.Minute, 0, DefaultParams())
	Fit(&hw, synth(3*288, 5*time.Minute, 1, dailySine).values, t0, 5*time.Minute, 24*time.Hour, DefaultParams())
	var extreme Model
	extreme.Reset(time.Hour, 2*time.Hour)
	extreme.LastUnixNano, extreme.Level, extreme.Trend, extreme.Count = math.MinInt64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxInt32
	extreme.Season[0] = math.MaxFloat64
	return []Model{{}, holt, hw, extreme, weeklyModel(), scaledModel(false), scaledModel(true)}
}

// scaledModel is a daily model of 5-minute data whose season scales with
// the level, seeded on one day and run on two more whose level grew, with
// a weekly adjustment when week is set.
func scaledModel(week bool) Model {
	tr := synth(3*288, 5*time.Minute, 1, func(sec float64) float64 { return dailySine(sec) * (1 + sec/86400/4) })
	var m Model
	m.Seed(tr.values[:288], t0, 5*time.Minute, 24*time.Hour)
	m.ScaleSeason()
	if week {
		m.Week = NewWeek()
	}
	m.Absorb(tr.values, t0, DefaultParams())
	return m
}

// weeklyModel is a daily model of hourly data with a weekly adjustment
// that has learned, and acts on, four weeks whose weekends differ.
func weeklyModel() Model {
	tr := synth(4*7*24, time.Hour, 1, weekdayShape)
	var m Model
	Fit(&m, tr.values[:48], t0, time.Hour, 24*time.Hour, DefaultParams())
	m.Week = NewWeek()
	for i := 48; i < len(tr.values); i++ {
		m.Observe(tr.at(i), tr.values[i], DefaultParams())
	}
	return m
}

func TestEncodingRoundTrip(t *testing.T) {
	for i, m := range encodingSamples() {
		b := m.AppendBinary([]byte("prefix"))
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("sample %d: prefix lost", i)
		}
		b = append(b, "suffix"...)
		var got Model
		rest, err := got.DecodeBinary(b[len("prefix"):])
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if string(rest) != "suffix" {
			t.Errorf("sample %d: rest %q, want suffix", i, rest)
		}
		if !sameModel(got, m) {
			t.Errorf("sample %d: decoded %+v, want %+v", i, got, m)
		}
		p := DefaultParams()
		at := time.Unix(0, m.LastUnixNano).Add(5 * time.Minute)
		if f, g := m.Forecast(at, p), got.Forecast(at, p); f != g && !(math.IsNaN(f) && math.IsNaN(g)) {
			t.Errorf("sample %d: decoded model forecasts %v, original %v", i, g, f)
		}
	}
}

// sameModel compares field by field; Season by value, nil equal to empty.
func sameModel(a, b Model) bool {
	if a.LastUnixNano != b.LastUnixNano || a.Count != b.Count || a.Step != b.Step || a.Period != b.Period || a.Slot != b.Slot ||
		math.Float64bits(a.Level) != math.Float64bits(b.Level) || math.Float64bits(a.Trend) != math.Float64bits(b.Trend) ||
		math.Float32bits(a.Ref) != math.Float32bits(b.Ref) || math.Float32bits(a.Mean) != math.Float32bits(b.Mean) ||
		len(a.Season) != len(b.Season) {
		return false
	}
	for i := range a.Season {
		if math.Float64bits(a.Season[i]) != math.Float64bits(b.Season[i]) {
			return false
		}
	}
	return sameWeek(a.Week, b.Week)
}

// sameWeek compares weekly adjustments field by field, floats by their bits.
func sameWeek(a, b Week) bool {
	if (a.Slots == nil) != (b.Slots == nil) || len(a.Slots) != len(b.Slots) || a.Hour != b.Hour || a.N != b.N ||
		a.Hours != b.Hours || a.Pairs != b.Pairs || a.Active() != b.Active() {
		return false
	}
	fa := []float64{a.Sum, a.Ref, a.Held, a.MeanX, a.MeanY, a.VarX, a.VarY, a.Cov}
	fb := []float64{b.Sum, b.Ref, b.Held, b.MeanX, b.MeanY, b.VarX, b.VarY, b.Cov}
	for i := range fa {
		if math.Float64bits(fa[i]) != math.Float64bits(fb[i]) {
			return false
		}
	}
	for i := range a.Slots {
		if math.Float32bits(a.Slots[i]) != math.Float32bits(b.Slots[i]) {
			return false
		}
	}
	return true
}

// TestModelDecodesVersions decodes golden bytes of both encodings: version
// 1 (testdata/model-v1.hex, byte for byte what the encoder wrote before
// the weekly adjustment) loads without one and is still written as version
// 1; version 2 (model-v2.hex) loads with its adjustment, active as its
// moments say; version 3 (model-v3.hex, version 2's model with a season
// that scales with the level) loads with its reference and mean level, 9
// bytes more than version 2. All re-encode to the same bytes.
func TestModelDecodesVersions(t *testing.T) {
	for _, c := range []struct {
		file            string
		version         byte
		wantWeek        bool
		wantActive      bool
		wantRef, wantMn float32
	}{
		{"testdata/model-v1.hex", 1, false, false, 0, 0},
		{"testdata/model-v2.hex", 2, true, true, 0, 0},
		{"testdata/model-v3.hex", 3, true, true, 8, 9.5},
	} {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != c.version {
				t.Fatalf("fixture is version %d, want %d", b[0], c.version)
			}
			var m Model
			rest, err := m.DecodeBinary(b)
			if err != nil || len(rest) != 0 {
				t.Fatalf("decode: %v, %d bytes left", err, len(rest))
			}
			if m.Period != time.Hour || len(m.Season) != 3 || m.Season[1] != 0.25 || m.Count != 42 || m.Level != 10.5 {
				t.Fatalf("decoded %+v", m)
			}
			if got := m.Week.Slots != nil; got != c.wantWeek || m.Week.Active() != c.wantActive {
				t.Fatalf("weekly adjustment present %v, active %v; want %v, %v", got, m.Week.Active(), c.wantWeek, c.wantActive)
			}
			if m.Ref != c.wantRef || m.Mean != c.wantMn {
				t.Fatalf("reference level %v and mean %v, want %v and %v", m.Ref, m.Mean, c.wantRef, c.wantMn)
			}
			if c.wantWeek && (m.Week.Pairs != 232 || m.Week.Slots[167] != 16.7 || m.Week.Cov != 1.2 || m.Week.Ref != 9.75 || m.Week.Held != -0.5) {
				t.Fatalf("decoded weekly adjustment %+v", m.Week)
			}
			if again := m.AppendBinary(nil); !bytes.Equal(again, b) {
				t.Fatalf("re-encoded to other bytes:\n%x\nwant\n%x", again, b)
			}
		})
	}
}

func TestEncodingSize(t *testing.T) {
	var m Model
	Fit(&m, synth(3*1440, time.Minute, 1, dailySine).values, t0, time.Minute, 24*time.Hour, DefaultParams())
	// A daily season of 1-minute data has MaxSlots (1,440) one-minute
	// slots; their float64 components dominate and the header must stay
	// small: under 11,600 bytes in all, as the package documents.
	n := len(m.AppendBinary(nil))
	if len(m.Season) != 1440 || n > 1440*8+64 {
		t.Errorf("daily model of 1-minute data: %d slots encode to %d bytes", len(m.Season), n)
	}
	t.Logf("a 24h model with %d slots encodes to %d bytes", len(m.Season), n)
	// The weekly adjustment adds its WeekSlots components and a small
	// header: at most 768 bytes (757 with every count at its largest).
	m.Week = NewWeek()
	m.Week.Hours, m.Week.Pairs, m.Week.Hour = math.MaxInt32, math.MaxInt32, math.MaxInt64
	w := len(m.AppendBinary(nil))
	if w-n > WeekSlots*4+96 {
		t.Errorf("the weekly adjustment adds %d bytes", w-n)
	}
	t.Logf("with a weekly adjustment: %d bytes (+%d)", w, w-n)
}

// scaledBytes is the version 3 encoding of a scaled model that f has
// edited (and whose encoding's last byte, the weekly flag, is flag when
// one is given), written field by field so that no check of the encoder
// stands in the way.
func scaledBytes(f func(*Model), flag ...byte) []byte {
	m := scaledModel(false)
	f(&m)
	ref, mean := m.Ref, m.Mean
	m.Ref = 0
	b := m.AppendBinary(nil)
	if m.Week.Slots != nil {
		panic("scaledBytes: no weekly adjustment expected")
	}
	b[0] = encodingVersionScaled
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(ref))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(mean))
	if len(flag) > 0 {
		return append(b, flag[0])
	}
	return append(b, 0)
}

// TestDecodeBinaryExactCapacity checks that a decoded model's season and
// weekly slots hold no room beyond their values, and that a model decoded
// over one with room enough keeps its arrays. A leader keeps every
// policy's decoded models for its whole term after a failover or a
// restart; grown by append from nothing, a 288-slot season took a 512-slot
// array and the weekly adjustment's 168 slots a 256-slot one.
func TestDecodeBinaryExactCapacity(t *testing.T) {
	daily := func(step time.Duration) Model {
		var m Model
		m.Reset(24*time.Hour, step)
		for i := range m.Season {
			m.Season[i] = float64(i)
		}
		m.Week = NewWeek()
		return m
	}
	roomy := Model{Season: make([]float64, 0, MaxSlots), Week: Week{Slots: make([]float32, 0, 2*WeekSlots)}}
	for _, c := range []struct {
		name            string
		m, into         Model
		season, week    int // cap of the decoded season and weekly slots
		keepsIntoArrays bool
	}{
		{name: "5-minute daily season with a week", m: daily(5 * time.Minute), season: 288, week: WeekSlots},
		{name: "1-minute daily season with a week", m: daily(time.Minute), season: 1440, week: WeekSlots},
		{name: "scaled season", m: scaledModel(true), season: 288, week: WeekSlots},
		{name: "Holt", m: encodingSamples()[1], season: 0, week: 0},
		{name: "into a model with room", m: daily(5 * time.Minute), into: roomy, season: MaxSlots, week: 2 * WeekSlots, keepsIntoArrays: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.into
			if _, err := got.DecodeBinary(c.m.AppendBinary(nil)); err != nil {
				t.Fatal(err)
			}
			if !sameModel(got, c.m) {
				t.Fatalf("decoded %+v, want %+v", got, c.m)
			}
			if cap(got.Season) != c.season || cap(got.Week.Slots) != c.week {
				t.Errorf("capacity: season %d (%d values), weekly slots %d (%d values); want %d and %d",
					cap(got.Season), len(got.Season), cap(got.Week.Slots), len(got.Week.Slots), c.season, c.week)
			}
			if c.keepsIntoArrays && (&got.Season[0] != &c.into.Season[:1][0] || &got.Week.Slots[0] != &c.into.Week.Slots[:1][0]) {
				t.Error("decoding into a model with room made new arrays")
			}
		})
	}
}

func TestDecodeBinaryErrors(t *testing.T) {
	var hw Model
	Fit(&hw, synth(2*24, time.Hour, 1, dailySine).values, t0, time.Hour, 24*time.Hour, DefaultParams())
	valid := hw.AppendBinary(nil)
	// withWeek encodes hw with a weekly adjustment that f has edited.
	withWeek := func(f func(*Week)) []byte {
		m := hw.Clone()
		m.Week = NewWeek()
		f(&m.Week)
		return m.AppendBinary(nil)
	}
	// reencode builds an encoding from a model that bypasses Reset.
	reencode := func(f func(*Model)) []byte {
		m := hw.Clone()
		f(&m)
		return m.AppendBinary(nil)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrEncoding},
		{"unknown version", append([]byte{99}, valid[1:]...), ErrVersion},
		{"truncated header", valid[:5], ErrEncoding},
		{"truncated season", valid[:len(valid)-1], ErrEncoding},
		{"negative count", reencode(func(m *Model) { m.Count = -1 }), ErrEncoding},
		{"negative step", reencode(func(m *Model) { m.Step = -time.Second }), ErrEncoding},
		{"slot disagrees with period", reencode(func(m *Model) { m.Slot = time.Minute }), ErrEncoding},
		{"season without a period", reencode(func(m *Model) { m.Period, m.Slot = 0, 0 }), ErrEncoding},
		{"period without a season", reencode(func(m *Model) { m.Season = nil }), ErrEncoding},
		{"too many slots", reencode(func(m *Model) {
			m.Season = make([]float64, MaxSlots+1)
			m.Slot = m.Period / time.Duration(MaxSlots+1)
		}), ErrEncoding},
		{"NaN level", reencode(func(m *Model) { m.Level = math.NaN() }), ErrEncoding},
		{"infinite trend", reencode(func(m *Model) { m.Trend = math.Inf(-1) }), ErrEncoding},
		{"NaN seasonal component", reencode(func(m *Model) { m.Season[3] = math.NaN() }), ErrEncoding},
		{"overlong varint", append([]byte{1}, bytes.Repeat([]byte{0xff}, 11)...), ErrEncoding},
		{"version 2 without its weekly adjustment", append([]byte{2}, valid[1:]...), ErrEncoding},
		{"truncated weekly adjustment", withWeek(func(w *Week) {})[:len(valid)+40], ErrEncoding},
		{"NaN weekly component", withWeek(func(w *Week) { w.Slots[7] = float32(math.NaN()) }), ErrEncoding},
		{"infinite weekly sum", withWeek(func(w *Week) { w.Sum = math.Inf(1) }), ErrEncoding},
		{"NaN weekly reference", withWeek(func(w *Week) { w.Ref = math.NaN() }), ErrEncoding},
		{"infinite held part", withWeek(func(w *Week) { w.Held = math.Inf(-1) }), ErrEncoding},
		{"negative weekly variance", withWeek(func(w *Week) { w.VarY = -1 }), ErrEncoding},
		{"NaN weekly covariance", withWeek(func(w *Week) { w.Cov = math.NaN() }), ErrEncoding},
		{"weekly count beyond int32", withWeek(func(w *Week) { w.Pairs = math.MaxInt32 + 1 }), ErrEncoding},
		{"negative weekly count", withWeek(func(w *Week) { w.N = -1 }), ErrEncoding},
		{"scaled: reference 0", scaledBytes(func(m *Model) { m.Ref = 0 }), ErrEncoding},
		{"scaled: negative reference", scaledBytes(func(m *Model) { m.Ref = -1 }), ErrEncoding},
		{"scaled: NaN reference", scaledBytes(func(m *Model) { m.Ref = float32(math.NaN()) }), ErrEncoding},
		{"scaled: infinite mean", scaledBytes(func(m *Model) { m.Mean = float32(math.Inf(1)) }), ErrEncoding},
		{"scaled: weekly flag 2", scaledBytes(func(m *Model) { m.Week = Week{} }, 2), ErrEncoding},
		{"scaled: weekly flag without the adjustment", scaledBytes(func(m *Model) { m.Week = Week{} }, 1), ErrEncoding},
		{"scaled: without a period", scaledBytes(func(m *Model) { m.Period, m.Slot, m.Season = 0, 0, nil }), ErrEncoding},
	} {
		m := hw.Clone()
		rest, err := m.DecodeBinary(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if !bytes.Equal(rest, c.b) {
			t.Errorf("%s: rest has %d bytes, want the input back", c.name, len(rest))
		}
		if !sameModel(m, hw) {
			t.Errorf("%s: model changed on error", c.name)
		}
	}
	// A refusal names the field and the rule.
	var m Model
	if _, err := m.DecodeBinary(withWeek(func(w *Week) { w.VarY = -1 })); err == nil ||
		!strings.Contains(err.Error(), "weekly variance y -1 is not a finite number ≥ 0") {
		t.Errorf("negative weekly variance: error %v does not name the field and the rule", err)
	}
	// Every truncation of a valid encoding, with a weekly adjustment or
	// without, scaled or not, fails cleanly.
	s, sw := scaledModel(false), scaledModel(true)
	for _, v := range [][]byte{valid, withWeek(func(*Week) {}), s.AppendBinary(nil), sw.AppendBinary(nil)} {
		for n := range len(v) {
			var m Model
			if _, err := m.DecodeBinary(v[:n]); !errors.Is(err, ErrEncoding) {
				t.Fatalf("truncated to %d of %d bytes: err %v", n, len(v), err)
			}
		}
	}
}

func TestEncodingDoesNotAllocate(t *testing.T) {
	var m Model
	Fit(&m, synth(3*1440, time.Minute, 1, dailySine).values, t0, time.Minute, 24*time.Hour, DefaultParams())
	m.Week = NewWeek()
	buf := m.AppendBinary(nil)
	dst := m.Clone()
	allocs := testing.AllocsPerRun(100, func() {
		buf = m.AppendBinary(buf[:0])
		if _, err := dst.DecodeBinary(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendBinary+DecodeBinary allocated %v times", allocs)
	}
}

func FuzzDecodeBinary(f *testing.F) {
	for _, m := range encodingSamples() {
		f.Add(m.AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Model
		rest, err := m.DecodeBinary(b)
		if err != nil {
			if !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unexpected error %v", err)
			}
			if !sameModel(m, Model{}) || !bytes.Equal(rest, b) {
				t.Fatalf("failed decode changed the model or consumed input")
			}
			return
		}
		if len(rest) > len(b) || !bytes.Equal(rest, b[len(b)-len(rest):]) {
			t.Fatalf("rest is not a suffix of the input")
		}
		// A decoded model re-encodes to one that decodes identically, and
		// is safe to use on the hot path.
		var again Model
		if _, err := again.DecodeBinary(m.AppendBinary(nil)); err != nil || !sameModel(again, m) {
			t.Fatalf("re-encoding failed: %v", err)
		}
		p := DefaultParams()
		at := time.Unix(0, m.LastUnixNano)
		m.Forecast(at.Add(time.Minute), p)
		m.Observe(at.Add(time.Minute), 1, p)
		m.Forecast(at.Add(time.Hour), p)
	})
}
