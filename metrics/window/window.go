// Package window keeps a metric's recent history as fixed-step buckets in a
// bounded ring: what forecasting and season detection read. Every node's
// state machine aggregates the same committed samples in the same order, so
// every node holds the same window and a new leader predicts from full
// history at once.
package window

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Agg says how the samples falling into one bucket combine.
type Agg uint8

// The aggregations.
const (
	// Mean averages the samples: cpu utilization, and request rates (each
	// sample is the group's total rate, so their mean is the bucket's rate).
	Mean Agg = iota
	// Max keeps the largest: a backlog's worst moment in the bucket.
	Max
	// Last keeps the latest.
	Last
)

// String names the aggregation: "mean", "max" or "last".
func (a Agg) String() string {
	switch a {
	case Mean:
		return "mean"
	case Max:
		return "max"
	case Last:
		return "last"
	}
	return "unknown"
}

// Window is a ring of fixed-step buckets aligned to multiples of Step since
// the Unix epoch. Its memory grows with the buckets it has been through,
// up to its length: a week-long window that has seen an hour of samples
// holds an hour of buckets. It is not safe for concurrent use; its owner
// locks.
type Window struct {
	step   int64 // nanoseconds
	agg    Agg
	length int
	// slots is, once it holds length buckets, the ring: bucket index i at
	// slots[i mod length]. Before that it grows: it holds the buckets
	// head-len(slots)+1 .. head in order, and older ones are empty.
	slots []bucket
	// ats holds, for Last windows only, the time of each slot's value,
	// at the same positions; other windows do not pay for it.
	ats []int64
	// head is the bucket index (time / step) of the newest bucket; the
	// window spans head-length+1 .. head.
	head int64
	any  bool
}

// bucket is 16 bytes: its value (the sum for Mean, the max or last
// value otherwise) and its sample count. A full week of 2,016 buckets is
// 32 KB per window.
type bucket struct {
	v float64
	n uint32
}

// New returns a window of length buckets of the given step.
func New(step time.Duration, length int, agg Agg) *Window {
	if step <= 0 || length <= 0 {
		panic("window.New: step and length must be positive")
	}
	return &Window{step: int64(step), agg: agg, length: length}
}

// Step is the bucket width.
func (w *Window) Step() time.Duration { return time.Duration(w.step) }

// Aggregation is how the window combines the samples of a bucket.
func (w *Window) Aggregation() Agg { return w.agg }

// Len is the number of buckets the window spans.
func (w *Window) Len() int { return w.length }

// full reports whether the slots are the whole ring.
func (w *Window) full() bool { return len(w.slots) == w.length }

// first is the index of the oldest stored bucket.
func (w *Window) first() int64 { return w.head - int64(len(w.slots)) + 1 }

// slot returns the position of bucket idx in slots, which must be within
// the window (advance said so), making room for it while the window grows.
func (w *Window) slot(idx int64) int {
	if !w.full() && idx < w.first() {
		// A late sample older than the stored buckets: prepend empty ones.
		need := int(w.first() - idx)
		if len(w.slots)+need >= w.length {
			w.toRing()
		} else {
			w.slots = append(make([]bucket, need, need+len(w.slots)), w.slots...)
			if w.agg == Last {
				w.ats = append(make([]int64, need, need+len(w.ats)), w.ats...)
			}
		}
	}
	if w.full() {
		return mod(idx, int64(w.length))
	}
	return int(idx - w.first())
}

// get returns the bucket for idx within the window and, for Last, its
// value's time (empty where none is stored).
func (w *Window) get(idx int64) (bucket, int64) {
	pos := -1
	switch {
	case w.full():
		pos = mod(idx, int64(w.length))
	case idx >= w.first() && idx <= w.head:
		pos = int(idx - w.first())
	}
	if pos < 0 {
		return bucket{}, 0
	}
	if w.agg == Last {
		return w.slots[pos], w.ats[pos]
	}
	return w.slots[pos], 0
}

// grow appends k empty buckets to the growing slots.
func (w *Window) grow(k int64) {
	for range k {
		w.slots = append(w.slots, bucket{})
		if w.agg == Last {
			w.ats = append(w.ats, 0)
		}
	}
}

// empty clears the bucket at position pos.
func (w *Window) empty(pos int) {
	w.slots[pos] = bucket{}
	if w.agg == Last {
		w.ats[pos] = 0
	}
}

// toRing turns the growing slots into the full ring for the same head.
func (w *Window) toRing() {
	ring := make([]bucket, w.length)
	var ats []int64
	if w.agg == Last {
		ats = make([]int64, w.length)
	}
	for i, b := range w.slots {
		if j := w.first() + int64(i); j > w.head-int64(w.length) {
			ring[mod(j, int64(w.length))] = b
			if ats != nil {
				ats[mod(j, int64(w.length))] = w.ats[i]
			}
		}
	}
	w.slots, w.ats = ring, ats
}

// Add folds one sample into its bucket. Samples older than the window are
// dropped; a newer one advances the window, emptying the buckets it passes.
// Non-finite values are dropped. It does not allocate.
func (w *Window) Add(t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	tn := t.UnixNano()
	idx := floorDiv(tn, w.step)
	if !w.advance(idx) {
		return // older than the window
	}
	pos := w.slot(idx)
	b := &w.slots[pos]
	switch w.agg {
	case Mean:
		b.v += v
	case Max:
		if b.n == 0 || v > b.v {
			b.v = v
		}
	case Last:
		if b.n == 0 || tn >= w.ats[pos] {
			b.v, w.ats[pos] = v, tn
		}
	}
	b.n++
}

// Partial is an aggregate of several samples of one bucket, so a batch of
// raw samples can travel (through Raft) as one record per bucket instead of
// one per sample. Merging a Partial gives the same bucket as adding its
// samples one by one.
type Partial struct {
	// Bucket is the bucket's index: its start time in nanoseconds / step.
	Bucket int64 `json:"bucket"`
	// Sum and N are for means; Max the largest value; Last the value of
	// the latest sample, taken at LastAt (Unix nanoseconds).
	Sum    float64 `json:"sum"`
	N      uint32  `json:"n"`
	Max    float64 `json:"max"`
	Last   float64 `json:"last"`
	LastAt int64   `json:"last_at"`
}

// Observe folds one sample into the partial.
func (p *Partial) Observe(tn int64, v float64) {
	if p.N == 0 || v > p.Max {
		p.Max = v
	}
	if p.N == 0 || tn >= p.LastAt {
		p.Last, p.LastAt = v, tn
	}
	p.Sum += v
	p.N++
}

// BucketOf is the index of the bucket holding time t for this step.
func BucketOf(t time.Time, step time.Duration) int64 { return floorDiv(t.UnixNano(), int64(step)) }

// Merge folds a partial aggregate into its bucket, scaling its values by
// factor (a cpu window records utilization × instances). Like Add, it
// advances the window for a newer bucket and ignores one older than the window.
func (w *Window) Merge(p Partial, factor float64) {
	if p.N == 0 || !finite(p.Sum*factor) || !finite(p.Max*factor) || !finite(p.Last*factor) {
		return
	}
	if !w.advance(p.Bucket) {
		return
	}
	pos := w.slot(p.Bucket)
	b := &w.slots[pos]
	switch w.agg {
	case Mean:
		b.v += p.Sum * factor
	case Max:
		if b.n == 0 || p.Max*factor > b.v {
			b.v = p.Max * factor
		}
	case Last:
		if b.n == 0 || p.LastAt >= w.ats[pos] {
			b.v, w.ats[pos] = p.Last*factor, p.LastAt
		}
	}
	b.n += p.N
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// advance moves the window so it holds bucket idx, and reports false when
// idx is older than the window.
func (w *Window) advance(idx int64) bool {
	n := int64(w.length)
	switch {
	case !w.any:
		w.head, w.any = idx, true
		w.slots, w.ats = w.slots[:0], w.ats[:0]
		w.grow(1)
		if w.length == 1 {
			w.toRing()
		}
	case idx > w.head:
		if !w.full() && int64(len(w.slots))+idx-w.head < n {
			w.grow(idx - w.head)
			w.head = idx
			break
		}
		if !w.full() {
			w.toRing() // growing past the length: from now on a ring
		}
		if idx-w.head >= n {
			clear(w.slots)
			clear(w.ats)
		} else {
			for i := w.head + 1; i <= idx; i++ {
				w.empty(mod(i, n))
			}
		}
		w.head = idx
	case idx <= w.head-n:
		return false
	}
	return true
}

// Values returns the buckets from the oldest to the one holding upTo
// (inclusive), NaN where a bucket has no samples, and the start time of the
// first. Buckets after upTo (there are none unless samples came from the
// future) are left out. It allocates the slice it returns.
func (w *Window) Values(upTo time.Time) (start time.Time, values []float64) {
	if !w.any {
		return time.Time{}, nil
	}
	n := int64(w.length)
	last := min(w.head, floorDiv(upTo.UnixNano(), w.step))
	first := w.head - n + 1
	if last < first {
		return time.Time{}, nil
	}
	values = make([]float64, 0, last-first+1)
	for i := first; i <= last; i++ {
		b, _ := w.get(i)
		switch {
		case b.n == 0:
			values = append(values, math.NaN())
		case w.agg == Mean:
			values = append(values, b.v/float64(b.n))
		default:
			values = append(values, b.v)
		}
	}
	return time.Unix(0, first*w.step).UTC(), values
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func mod(a, n int64) int {
	r := a % n
	if r < 0 {
		r += n
	}
	return int(r)
}

// wire is the window's JSON form in snapshots: exact, so a restored window
// continues as the original would.
type wire struct {
	Step  int64     `json:"step"`
	Agg   Agg       `json:"agg"`
	Head  int64     `json:"head"`
	Any   bool      `json:"any"`
	Sum   []float64 `json:"sum"`
	N     []uint32  `json:"n"`
	Value []float64 `json:"value"`
	At    []int64   `json:"at"`
}

// ErrBadWindow is returned when a window's JSON does not decode into a
// consistent window.
var ErrBadWindow = errors.New("window: malformed encoding")

// MarshalJSON encodes the window exactly.
func (w *Window) MarshalJSON() ([]byte, error) {
	x := wire{Step: w.step, Agg: w.agg, Head: w.head, Any: w.any}
	c := w
	if !w.full() {
		c = w.Clone()
		if c.any {
			c.toRing()
		} else {
			c.slots = make([]bucket, c.length)
			c.ats = make([]int64, c.length)
		}
	}
	for i, b := range c.slots {
		sum, value, at := 0.0, b.v, int64(0)
		if c.agg == Mean {
			sum, value = b.v, 0
		}
		if c.agg == Last {
			at = c.ats[i]
		}
		x.Sum, x.N, x.Value, x.At = append(x.Sum, sum), append(x.N, b.n), append(x.Value, value), append(x.At, at)
	}
	return json.Marshal(x)
}

// UnmarshalJSON restores a window MarshalJSON encoded.
func (w *Window) UnmarshalJSON(data []byte) error {
	var x wire
	if err := json.Unmarshal(data, &x); err != nil {
		return fmt.Errorf("%w: %w", ErrBadWindow, err)
	}
	n := len(x.Sum)
	if x.Step <= 0 || n == 0 || len(x.N) != n || len(x.Value) != n || len(x.At) != n || x.Agg > Last {
		return ErrBadWindow
	}
	*w = Window{step: x.Step, agg: x.Agg, length: n, head: x.Head, any: x.Any, slots: make([]bucket, n)}
	if w.agg == Last {
		w.ats = slices.Clone(x.At)
	}
	for i := range w.slots {
		// A Mean bucket's value is its sum; the other arrays are zero.
		w.slots[i] = bucket{v: x.Value[i], n: x.N[i]}
		if w.agg == Mean {
			w.slots[i].v = x.Sum[i]
		}
	}
	w.compact()
	return nil
}

// binaryVersion is the first byte of the window's binary encoding.
const binaryVersion = 1

// maxBinaryBuckets bounds a decoded window so that a corrupt length cannot
// make the decoder allocate without limit (2,016 buckets is the most the
// control plane uses).
const maxBinaryBuckets = 1 << 20

// AppendBinary appends the window's exact, compact binary encoding to b
// (encoding.BinaryAppender): varints for the shape, then per bucket its
// sample count and, when it has samples, its one value (the sum for Mean,
// else the max or last value) as 8 bytes and, for Last, the sample time.
// A run of empty buckets costs one byte each. Snapshots of 7 days of
// windows are mostly this, so it is several times smaller than the JSON.
func (w *Window) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, binaryVersion, byte(w.agg))
	b = binary.AppendVarint(b, w.step)
	b = binary.AppendVarint(b, w.head)
	if w.any {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(w.length))
	// Canonical: the buckets from the oldest holding samples to the head,
	// oldest first, however they are laid out in memory, so equal windows
	// encode equally and a restored one holds only what it needs.
	lo := w.oldestFilled()
	b = binary.AppendUvarint(b, uint64(w.head-lo+1))
	for i := lo; w.any && i <= w.head; i++ {
		s, at := w.get(i)
		b = binary.AppendUvarint(b, uint64(s.n))
		if s.n == 0 {
			continue
		}
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.v))
		if w.agg == Last {
			b = binary.AppendVarint(b, at)
		}
	}
	return b, nil
}

// UnmarshalBinary restores a window AppendBinary encoded; it refuses
// trailing bytes, an unknown version and an inconsistent shape.
func (w *Window) UnmarshalBinary(data []byte) error {
	d := data
	fail := func(what string) error { return fmt.Errorf("%w: %s", ErrBadWindow, what) }
	if len(d) < 2 {
		return fail("short header")
	}
	if d[0] != binaryVersion {
		return fail(fmt.Sprintf("version %d (this code reads %d)", d[0], binaryVersion))
	}
	agg := Agg(d[1])
	if agg > Last {
		return fail(fmt.Sprintf("aggregation %d", d[1]))
	}
	d = d[2:]
	varint := func() (int64, bool) {
		v, n := binary.Varint(d)
		if n <= 0 {
			return 0, false
		}
		d = d[n:]
		return v, true
	}
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(d)
		if n <= 0 {
			return 0, false
		}
		d = d[n:]
		return v, true
	}
	step, ok1 := varint()
	head, ok2 := varint()
	if !ok1 || !ok2 || step <= 0 || len(d) < 1 || d[0] > 1 {
		return fail("bad shape")
	}
	anyData := d[0] == 1
	d = d[1:]
	length, ok := uvarint()
	if !ok || length == 0 || length > maxBinaryBuckets {
		return fail("bad length")
	}
	n, ok := uvarint()
	// Stored buckets: none before the first sample, else from one to the
	// whole ring.
	if !ok || n > length || n > uint64(len(d)) || (n == 0) == anyData {
		return fail("bad bucket count")
	}
	x := Window{step: step, agg: agg, length: int(length), head: head, any: anyData}
	if n > 0 {
		x.slots = make([]bucket, n) // oldest first; a ring once n == length, below
		if agg == Last {
			x.ats = make([]int64, n)
		}
	}
	for i := range x.slots {
		cnt, ok := uvarint()
		if !ok || cnt > math.MaxUint32 {
			return fail("bad bucket count")
		}
		if cnt == 0 {
			continue
		}
		if len(d) < 8 {
			return fail("short bucket")
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(d))
		d = d[8:]
		x.slots[i] = bucket{v: v, n: uint32(cnt)}
		if agg == Last {
			at, ok := varint()
			if !ok {
				return fail("bad bucket time")
			}
			x.ats[i] = at
		}
	}
	if len(d) != 0 {
		return fail(fmt.Sprintf("%d trailing bytes", len(d)))
	}
	if x.full() {
		x.toRing() // the buckets head-length+1 .. head, into ring positions
	}
	*w = x
	return nil
}

// oldestFilled is the index of the oldest bucket holding samples (the
// head when none does, or before the first sample).
func (w *Window) oldestFilled() int64 {
	if !w.any {
		return w.head + 1
	}
	for i := w.head - int64(len(w.slots)) + 1; i < w.head; i++ {
		if b, _ := w.get(i); b.n > 0 {
			return i
		}
	}
	return w.head
}

// compact drops the empty buckets older than the oldest holding samples,
// so a decoded window holds only what it needs, as a grown one does.
func (w *Window) compact() {
	if !w.any {
		w.slots, w.ats = nil, nil
		return
	}
	lo := w.oldestFilled()
	if k := w.head - lo + 1; k < int64(w.length) {
		out := make([]bucket, k)
		var ats []int64
		if w.agg == Last {
			ats = make([]int64, k)
		}
		for i := range out {
			b, at := w.get(lo + int64(i))
			out[i] = b
			if ats != nil {
				ats[i] = at
			}
		}
		w.slots, w.ats = out, ats
	}
}

// Clone returns an independent copy of the window.
func (w *Window) Clone() *Window {
	c := *w
	c.slots, c.ats = slices.Clone(w.slots), slices.Clone(w.ats)
	return &c
}
