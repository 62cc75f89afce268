package forecast

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// encodingVersion is the first byte of every encoded model. Bump it when the
// layout changes; DecodeBinary rejects versions it does not know, so an old
// node never misreads a newer node's state. Version 2 adds the weekly
// adjustment (Week); a model without one is still written as version 1,
// byte for byte as before, so only models that carry a weekly adjustment
// need a node that reads version 2. Version 3 is a model whose season
// scales with the level (Ref > 0), with or without a weekly adjustment;
// an additive one is still written as version 1 or 2, byte for byte as
// before, and AppendBinaryAdditive writes a scaled one in those versions,
// for readers that know no later.
const (
	encodingVersion       = 2
	encodingVersionNoWeek = 1
	encodingVersionScaled = 3
)

// AppendBinary appends a compact, versioned encoding of m to b and returns
// the extended slice; with enough capacity in b it does not allocate, so a
// model can be stored in replicated state on every evaluation.
//
// Layout (version 1): the version byte; LastUnixNano, Count, Step, Period and
// Slot as varints; Level and Trend as little-endian IEEE 754 float64; the
// number of seasonal slots as a uvarint followed by that many float64s.
// Version 2 (a model with a weekly adjustment) appends the adjustment:
// Week.Hour as a varint; Week.Sum as a float64; Week.N, Week.Hours and
// Week.Pairs as uvarints; Ref, Held, MeanX, MeanY, VarX, VarY and Cov as
// float64s; and the WeekSlots components as float32s (their precision in
// memory): at most 757 bytes on top of the daily model (whose 1,440
// one-minute slots take 11.5 KB).
//
// Version 3 (a season that scales with the level) is version 1's layout,
// then Ref and Mean as float32s (their precision in memory), then a byte:
// 1 when version 2's weekly adjustment follows, 0 when none does. That is
// 9 bytes more than version 1 or 2.
//
// It does not implement encoding.BinaryAppender (which also returns an
// error) because encoding a model cannot fail.
func (m *Model) AppendBinary(b []byte) []byte {
	return m.appendBinary(b, m.Ref > 0)
}

// AppendBinaryAdditive is AppendBinary in the versions before a season
// could scale with the level (1 and 2): a scaled season is written as the
// additive one it forecasts now, its components times today's factor
// (scale), from then on additive. An additive model's bytes are
// AppendBinary's. It is for a leader that writes state for readers that
// know no later version (they refuse version 3 with ErrVersion).
func (m *Model) AppendBinaryAdditive(b []byte) []byte {
	return m.appendBinary(b, false)
}

// appendBinary is AppendBinary, in version 3 when scaled is set and else
// in version 1 or 2 with the season's components times scale().
func (m *Model) appendBinary(b []byte, scaled bool) []byte {
	version := byte(encodingVersionNoWeek)
	if m.Week.Slots != nil {
		version = encodingVersion
	}
	k := m.scale()
	if scaled {
		version, k = encodingVersionScaled, 1
	}
	b = append(b, version)
	b = binary.AppendVarint(b, m.LastUnixNano)
	b = binary.AppendVarint(b, int64(m.Count))
	b = binary.AppendVarint(b, int64(m.Step))
	b = binary.AppendVarint(b, int64(m.Period))
	b = binary.AppendVarint(b, int64(m.Slot))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Level))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Trend))
	b = binary.AppendUvarint(b, uint64(len(m.Season)))
	for _, s := range m.Season {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s*k))
	}
	if scaled {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(m.Ref))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(m.Mean))
		if m.Week.Slots == nil {
			return append(b, 0)
		}
		b = append(b, 1)
	}
	if m.Week.Slots != nil {
		w := &m.Week
		b = binary.AppendVarint(b, w.Hour)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(w.Sum))
		b = binary.AppendUvarint(b, uint64(w.N))
		b = binary.AppendUvarint(b, uint64(w.Hours))
		b = binary.AppendUvarint(b, uint64(w.Pairs))
		for _, f := range [...]float64{w.Ref, w.Held, w.MeanX, w.MeanY, w.VarX, w.VarY, w.Cov} {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		for _, s := range w.Slots {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s))
		}
	}
	return b
}

// DecodeBinary reads one model encoded by AppendBinary from the front of b
// into m and returns the bytes after it, so several models can be stored
// back to back. It never panics: truncated input, an unknown version and a
// model that Observe or Forecast could not use safely (negative durations, a
// season that disagrees with its period and slot, non-finite state) are
// errors wrapping ErrEncoding or ErrVersion, and m is left unchanged. The
// Season's and the weekly slots' arrays are reused when they have the
// capacity; new ones are made to the size decoded, with no room to spare.
func (m *Model) DecodeBinary(b []byte) (rest []byte, err error) {
	d := decoder{b: b}
	version := d.byte()
	if d.err == nil && version != encodingVersion && version != encodingVersionNoWeek && version != encodingVersionScaled {
		return b, fmt.Errorf("forecast: version %d: %w", version, ErrVersion)
	}
	var n Model
	n.LastUnixNano = d.varint()
	count := d.varint()
	n.Step = time.Duration(d.varint())
	n.Period = time.Duration(d.varint())
	n.Slot = time.Duration(d.varint())
	n.Level = d.float()
	n.Trend = d.float()
	slots := d.uvarint()
	if d.err != nil {
		return b, d.err
	}
	switch {
	case count < 0 || count > math.MaxInt:
		return b, fmt.Errorf("forecast: count %d: %w", count, ErrEncoding)
	case n.Step < 0 || n.Period < 0 || n.Slot < 0:
		return b, fmt.Errorf("forecast: negative duration: %w", ErrEncoding)
	case slots > MaxSlots:
		return b, fmt.Errorf("forecast: %d seasonal slots: %w", slots, ErrEncoding)
	case n.Period == 0 && (slots != 0 || n.Slot != 0):
		return b, fmt.Errorf("forecast: season without a period: %w", ErrEncoding)
	case n.Period > 0 && (slots == 0 || n.Slot != n.Period/time.Duration(slots)):
		return b, fmt.Errorf("forecast: period %v, slot %v and %d slots disagree: %w", n.Period, n.Slot, slots, ErrEncoding)
	case !finite(n.Level) || !finite(n.Trend):
		return b, fmt.Errorf("forecast: non-finite level or trend: %w", ErrEncoding)
	}
	n.Count = int(count)
	// Check the whole season before touching m, so m stays unchanged on error.
	season := d.take(int(slots) * 8)
	if d.err != nil {
		return b, d.err
	}
	for i := 0; i < len(season); i += 8 {
		if !finite(math.Float64frombits(binary.LittleEndian.Uint64(season[i:]))) {
			return b, fmt.Errorf("forecast: non-finite seasonal component: %w", ErrEncoding)
		}
	}
	hasWeek := version == encodingVersion
	if version == encodingVersionScaled {
		n.Ref, n.Mean = d.float32(), d.float32()
		flag := d.byte()
		switch {
		case d.err != nil:
			return b, d.err
		case !(n.Ref > 0) || !finite(float64(n.Ref)) || !finite(float64(n.Mean)):
			return b, fmt.Errorf("forecast: scaled season's ref %v and mean %v are not a finite number > 0 and a finite number: %w", n.Ref, n.Mean, ErrEncoding)
		case n.Period == 0:
			return b, fmt.Errorf("forecast: a scaled season without a period: %w", ErrEncoding)
		case flag > 1:
			return b, fmt.Errorf("forecast: weekly flag %d is not 0 or 1: %w", flag, ErrEncoding)
		}
		hasWeek = flag == 1
	}
	var week Week
	if hasWeek {
		var err error
		if week, err = d.week(m.Week.Slots); err != nil {
			return b, err
		}
	}
	n.Season = sized(m.Season, len(season)/8)
	for i := range n.Season {
		n.Season[i] = math.Float64frombits(binary.LittleEndian.Uint64(season[8*i:]))
	}
	n.Week = week
	*m = n
	return d.b, nil
}

// week reads a weekly adjustment (DecodeBinary's version 2 tail), reusing
// buf for its slots, and checks that every figure is one the adjustment
// can have made: counts within int32, finite sums and components,
// variances not negative.
func (d *decoder) week(buf []float32) (Week, error) {
	var w Week
	w.Hour = d.varint()
	w.Sum = d.float()
	n, hours, pairs := d.uvarint(), d.uvarint(), d.uvarint()
	w.Ref, w.Held = d.float(), d.float()
	w.MeanX, w.MeanY, w.VarX, w.VarY, w.Cov = d.float(), d.float(), d.float(), d.float(), d.float()
	slots := d.take(WeekSlots * 4)
	if d.err != nil {
		return Week{}, d.err
	}
	for _, c := range [...]struct {
		name string
		v    uint64
	}{{"n", n}, {"hours", hours}, {"pairs", pairs}} {
		if c.v > math.MaxInt32 {
			return Week{}, fmt.Errorf("forecast: weekly %s %d above %d: %w", c.name, c.v, math.MaxInt32, ErrEncoding)
		}
	}
	for _, c := range [...]struct {
		name     string
		v        float64
		positive bool // a variance: not negative either
	}{{"sum", w.Sum, false}, {"ref", w.Ref, false}, {"held", w.Held, false}, {"mean x", w.MeanX, false},
		{"mean y", w.MeanY, false}, {"variance x", w.VarX, true}, {"variance y", w.VarY, true}, {"covariance", w.Cov, false}} {
		if !finite(c.v) || (c.positive && c.v < 0) {
			rule := "a finite number"
			if c.positive {
				rule += " ≥ 0"
			}
			return Week{}, fmt.Errorf("forecast: weekly %s %v is not %s: %w", c.name, c.v, rule, ErrEncoding)
		}
	}
	w.N, w.Hours, w.Pairs = int(n), int(hours), int(pairs)
	for i := 0; i < len(slots); i += 4 {
		if v := float64(math.Float32frombits(binary.LittleEndian.Uint32(slots[i:]))); !finite(v) {
			return Week{}, fmt.Errorf("forecast: weekly component %d is %v, not a finite number: %w", i/4, v, ErrEncoding)
		}
	}
	w.Slots = sized(buf, WeekSlots)
	for i := range w.Slots {
		w.Slots[i] = math.Float32frombits(binary.LittleEndian.Uint32(slots[4*i:]))
	}
	w.active = w.judge()
	return w, nil
}

// sized returns buf resliced to n elements when it has the capacity, else
// a new slice of exactly n. A decoded model lives as long as the leader
// keeps it (its kept state after a failover or a restart), so its slots
// get no room to grow into: appended one by one from nothing, a 288-slot
// season took a 512-slot array and the weekly adjustment's 168 slots a
// 256-slot one, 4.2 KB more a two-metric policy than the values need
// (TestDecodeBinaryExactCapacity). Every element is overwritten by the
// caller.
func sized[T float32 | float64](buf []T, n int) []T {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]T, n)
}

// finite reports whether x is neither NaN nor infinite. One comparison of
// |x| (a NaN compares false) instead of IsNaN and IsInf's three: season
// detection calls it on every value of every pass, where it was a third of
// the time.
func finite(x float64) bool { return math.Abs(x) <= math.MaxFloat64 }

// decoder reads from b and remembers the first error, so DecodeBinary can
// read every field and check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("forecast: truncated %s: %w", what, ErrEncoding)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail("data")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) float32() float32 {
	if p := d.take(4); p != nil {
		return math.Float32frombits(binary.LittleEndian.Uint32(p))
	}
	return 0
}

func (d *decoder) float() float64 {
	if p := d.take(8); p != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(p))
	}
	return 0
}
