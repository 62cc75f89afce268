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
// the Unix epoch, held in chunks of chunkLen buckets. Its memory grows with
// the buckets it has been given samples for, up to its length: a week-long
// window that has seen an hour of samples holds one chunk.
//
// A bucket's value is kept at one of two precisions. A compact window
// (New's) keeps it as a float32, rounded each time the bucket changes: 5
// bytes a bucket (a 4-byte value, a 1-byte count), so a full week of 2,016
// five-minute buckets is about 10.5 KB. A wide window (SetWide) keeps the
// float64, as every window did before compact ones: 4 bytes more a bucket.
// Which one a window is, is replicated state like its values (the store
// decides it from the log), because the rounding changes what the window
// holds. Seven significant digits are more than a metric's history needs
// for forecasting; a replicated value must still not depend on which of
// two precisions a node happens to use, hence the rule rather than a
// choice per node. Counts are exact, and cost next to nothing where a
// chunk's buckets all hold the same count (a metric sampled at a steady
// rate): a chunk of 64 buckets is 256 bytes of values, one byte of
// count when every bucket of it has the same (its head's chunk aside,
// the usual case), else 64 bytes of counts, or 256 when one of them is
// past 255. Last windows add the 8-byte time of their value.
//
// Copies (Clone) share chunks until one of them changes a chunk, which it
// then copies: a snapshot's copy of a window costs its chunk table, and
// the live window copies about one chunk (320 bytes) while the snapshot is
// written, not the whole window.
//
// It is not safe for concurrent use; its owner locks. A clone may be read
// while the window it was cloned from goes on changing.
type Window struct {
	step   int64 // nanoseconds
	agg    Agg
	length int
	// wide says the values are float64s: their low words in the chunks,
	// their high words in hi.
	wide bool
	// chunks is the ring of chunks, empty until the first sample: chunk
	// number k (the buckets k*chunkLen .. k*chunkLen+chunkLen-1) sits at
	// chunks[k mod len(chunks)], and len(chunks) is the most chunks the
	// window's span can touch (ringChunks). A nil chunk is empty buckets.
	// Every chunk from the oldest the window spans to the head's is the
	// one its position names; buckets of the oldest that are older than
	// the window are stale and never read.
	chunks []*chunk
	// The side arrays, chunk for chunk at the same positions, each nil
	// where its chunk is nil and the whole slice nil for windows that do
	// not need it. ats holds, for Last windows only, the time of each
	// bucket's value; hi, for wide windows only, the high 32 bits of
	// each value.
	ats []*[chunkLen]int64
	hi  []*[chunkLen]uint32
	// The buckets' sample counts, chunk for chunk: where same is not 0,
	// every bucket of the chunk holds that many samples (seal); else
	// full holds them when one is past 255 (full is nil until one is),
	// else bytes does.
	same  []uint8
	bytes []*[chunkLen]uint8
	full  []*[chunkLen]uint32
	// owned says which chunks (with their side arrays) this window may
	// change in place: the others may be shared with a clone, and are
	// copied before a change.
	owned []bool
	// head is the bucket index (time / step) of the newest bucket; the
	// window spans head-length+1 .. head.
	head int64
	any  bool
}

// chunkLen is how many consecutive buckets a chunk holds: a week-long
// window is 32 or 33 chunks, and copying one before a change is 256 bytes
// (and its counts).
const chunkLen = 64

// chunk is chunkLen buckets' values (the sum for Mean, the max or last
// value otherwise: a float32's bits, or a float64's low word in a wide
// window): 256 bytes, a Go size class, and no pointers for the garbage
// collector to scan. Their counts are kept apart (Window.same).
type chunk struct {
	v [chunkLen]uint32
}

// bucket is one bucket read out of its chunk.
type bucket struct {
	v  float64
	n  uint32
	at int64 // Last windows only
}

// New returns a compact window of length buckets of the given step. It
// holds no buckets until its first sample.
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

// Wide reports whether the window keeps its values as float64s rather
// than float32s.
func (w *Window) Wide() bool { return w.wide }

// SetWide makes the window wide (float64 values) or compact (float32
// values, each rounded to the nearest float32). Widening is exact;
// compacting rounds every value once, the same way on every node. The
// chunks are copied, never changed in place, so a clone keeps what it
// held.
func (w *Window) SetWide(wide bool) {
	if w.wide == wide {
		return
	}
	vals := make([]*[chunkLen]float64, len(w.chunks))
	for pos, c := range w.chunks {
		if c != nil {
			var v [chunkLen]float64
			for off := range v {
				v[off] = w.value(c, pos, off)
			}
			vals[pos] = &v
		}
	}
	w.wide = wide
	w.hi = nil
	if wide && w.chunks != nil {
		w.hi = make([]*[chunkLen]uint32, len(w.chunks))
	}
	for pos, c := range w.chunks {
		if c == nil {
			continue
		}
		nc := new(chunk)
		w.chunks[pos] = nc
		if !w.owned[pos] {
			w.ownSides(pos)
		}
		if wide {
			w.hi[pos] = new([chunkLen]uint32)
		}
		w.owned[pos] = true
		for off, v := range vals[pos] {
			w.setValue(nc, pos, off, v)
		}
	}
}

// value is the value at offset off of chunk c, at ring position pos.
func (w *Window) value(c *chunk, pos, off int) float64 {
	if w.wide {
		return math.Float64frombits(uint64(w.hi[pos][off])<<32 | uint64(c.v[off]))
	}
	return float64(math.Float32frombits(c.v[off]))
}

// setValue stores v at offset off of chunk c, at ring position pos, which
// this window owns: rounded to a float32 unless the window is wide.
func (w *Window) setValue(c *chunk, pos, off int, v float64) {
	if w.wide {
		bits := math.Float64bits(v)
		c.v[off], w.hi[pos][off] = uint32(bits), uint32(bits>>32)
		return
	}
	c.v[off] = math.Float32bits(float32(v))
}

// ringChunks is how many chunks a span of length buckets can touch: one
// more than it fills when it does not start at a chunk's first bucket.
func ringChunks(length int) int { return 1 + (length+chunkLen-2)/chunkLen }

// first is the index of the oldest bucket the window spans.
func (w *Window) first() int64 { return w.head - int64(w.length) + 1 }

// locate returns the position in the ring of bucket idx's chunk and idx's
// offset in that chunk.
func (w *Window) locate(idx int64) (pos, off int) {
	k := floorDiv(idx, chunkLen)
	return mod(k, int64(len(w.chunks))), int(idx - k*chunkLen)
}

// get returns bucket idx, empty when it is outside the window or holds
// no samples.
func (w *Window) get(idx int64) bucket {
	if !w.any || idx < w.first() || idx > w.head {
		return bucket{}
	}
	pos, off := w.locate(idx)
	c := w.chunks[pos]
	if c == nil {
		return bucket{}
	}
	b := bucket{v: w.value(c, pos, off), n: w.count(c, pos, off)}
	if w.agg == Last {
		b.at = w.ats[pos][off]
	}
	return b
}

// count is the sample count at offset off of chunk c, at ring position
// pos.
func (w *Window) count(c *chunk, pos, off int) uint32 {
	switch {
	case w.same[pos] != 0:
		return uint32(w.same[pos])
	case w.full != nil && w.full[pos] != nil:
		return w.full[pos][off]
	}
	return uint32(w.bytes[pos][off])
}

// setCount stores the count at offset off of the chunk at ring position
// pos, which this window owns.
func (w *Window) setCount(pos, off int, n uint32) {
	if s := w.same[pos]; s != 0 {
		if uint32(s) == n {
			return
		}
		b := new([chunkLen]uint8)
		for i := range b {
			b[i] = s
		}
		w.same[pos], w.bytes[pos] = 0, b
	}
	switch {
	case w.full != nil && w.full[pos] != nil:
	case n > math.MaxUint8:
		if w.full == nil {
			w.full = make([]*[chunkLen]uint32, len(w.chunks))
		}
		f := new([chunkLen]uint32)
		for i, x := range w.bytes[pos] {
			f[i] = uint32(x)
		}
		w.full[pos], w.bytes[pos] = f, nil
	default:
		w.bytes[pos][off] = uint8(n)
		return
	}
	w.full[pos][off] = n
}

// load reads the values and counts of chunk c, at ring position pos,
// into v and n: the readers' loops then index two arrays instead of
// asking, bucket by bucket, how this chunk keeps them.
func (w *Window) load(c *chunk, pos int, v *[chunkLen]float64, n *[chunkLen]uint32) {
	if w.wide {
		hi := w.hi[pos]
		for i, lo := range c.v {
			v[i] = math.Float64frombits(uint64(hi[i])<<32 | uint64(lo))
		}
	} else {
		for i, bits := range c.v {
			v[i] = float64(math.Float32frombits(bits))
		}
	}
	w.loadCounts(pos, n)
}

// loadCounts reads the counts of the chunk at ring position pos into n.
func (w *Window) loadCounts(pos int, n *[chunkLen]uint32) {
	switch {
	case w.same[pos] != 0:
		for i := range n {
			n[i] = uint32(w.same[pos])
		}
	case w.full != nil && w.full[pos] != nil:
		*n = *w.full[pos]
	default:
		for i, x := range w.bytes[pos] {
			n[i] = uint32(x)
		}
	}
}

// seal keeps the counts of the chunk at ring position pos as one byte
// when every bucket of it holds the same number of samples, under 256.
// It changes only this window's tables, never an array a clone may share.
func (w *Window) seal(pos int) {
	b := w.bytes[pos]
	if w.chunks[pos] == nil || b == nil || b[0] == 0 {
		return
	}
	for _, x := range b {
		if x != b[0] {
			return
		}
	}
	w.same[pos], w.bytes[pos] = b[0], nil
}

// set stores bucket idx, which must be within the window, copying or
// creating its chunk first when this window does not own it.
func (w *Window) set(idx int64, b bucket) {
	pos, off := w.locate(idx)
	c := w.own(pos)
	w.setValue(c, pos, off, b.v)
	w.setCount(pos, off, b.n)
	if w.agg == Last {
		w.ats[pos][off] = b.at
	}
}

// own returns the chunk at ring position pos for a change: created when
// there is none, copied with its side arrays when it may be shared.
func (w *Window) own(pos int) *chunk {
	c := w.chunks[pos]
	switch {
	case c == nil:
		c = new(chunk)
		w.chunks[pos] = c
		if w.agg == Last {
			w.ats[pos] = new([chunkLen]int64)
		}
		if w.wide {
			w.hi[pos] = new([chunkLen]uint32)
		}
		w.same[pos], w.bytes[pos] = 0, new([chunkLen]uint8)
		w.owned[pos] = true
	case !w.owned[pos]:
		cp := *c
		c = &cp
		w.chunks[pos] = c
		if w.wide {
			hi := *w.hi[pos]
			w.hi[pos] = &hi
		}
		w.ownSides(pos)
		w.owned[pos] = true
	}
	return c
}

// ownSides copies the side arrays of times and counts of the chunk at
// ring position pos, which may be shared with a clone.
func (w *Window) ownSides(pos int) {
	if w.ats != nil {
		at := *w.ats[pos]
		w.ats[pos] = &at
	}
	if b := w.bytes[pos]; b != nil {
		cp := *b
		w.bytes[pos] = &cp
	}
	if w.full != nil && w.full[pos] != nil {
		cp := *w.full[pos]
		w.full[pos] = &cp
	}
}

// start makes the ring for the first sample, at bucket idx.
func (w *Window) start(idx int64) {
	n := ringChunks(w.length)
	w.chunks, w.owned, w.ats, w.hi = make([]*chunk, n), make([]bool, n), nil, nil
	w.same, w.bytes, w.full = make([]uint8, n), make([]*[chunkLen]uint8, n), nil
	if w.agg == Last {
		w.ats = make([]*[chunkLen]int64, n)
	}
	if w.wide {
		w.hi = make([]*[chunkLen]uint32, n)
	}
	w.head, w.any = idx, true
}

// drop empties the chunk at ring position pos.
func (w *Window) drop(pos int) {
	w.chunks[pos], w.owned[pos], w.same[pos], w.bytes[pos] = nil, false, 0, nil
	for _, side := range [...][]*[chunkLen]uint32{w.hi, w.full} {
		if side != nil {
			side[pos] = nil
		}
	}
	if w.ats != nil {
		w.ats[pos] = nil
	}
}

// Add folds one sample into its bucket. Samples older than the window are
// dropped; a newer one advances the window, emptying the buckets it passes.
// Non-finite values are dropped. It allocates only the first time a chunk
// of buckets gets a sample, or is changed after a Clone.
func (w *Window) Add(t time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	tn := t.UnixNano()
	idx := floorDiv(tn, w.step)
	if !w.advance(idx) {
		return // older than the window
	}
	b := w.get(idx)
	switch w.agg {
	case Mean:
		b.v += v
	case Max:
		if b.n == 0 || v > b.v {
			b.v = v
		}
	case Last:
		if b.n == 0 || tn >= b.at {
			b.v, b.at = v, tn
		}
	}
	b.n++
	w.set(idx, b)
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
	b := w.get(p.Bucket)
	switch w.agg {
	case Mean:
		b.v += p.Sum * factor
	case Max:
		if b.n == 0 || p.Max*factor > b.v {
			b.v = p.Max * factor
		}
	case Last:
		if b.n == 0 || p.LastAt >= b.at {
			b.v, b.at = p.Last*factor, p.LastAt
		}
	}
	b.n += p.N
	w.set(p.Bucket, b)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// advance moves the window so it holds bucket idx, and reports false when
// idx is older than the window.
func (w *Window) advance(idx int64) bool {
	switch {
	case !w.any:
		w.start(idx)
	case idx > w.head:
		from, to := floorDiv(w.head, chunkLen), floorDiv(idx, chunkLen)
		// The chunks the head moves into held chunks older than the
		// window: empty them. Buckets after the old head in its own
		// chunk have never had a sample.
		if n := int64(len(w.chunks)); to-from >= n {
			for pos := range w.chunks {
				w.drop(pos)
			}
		} else {
			if to > from {
				w.seal(mod(from, n)) // the head leaves it: it is full, or as full as it gets
			}
			for k := from + 1; k <= to; k++ {
				w.drop(mod(k, n))
			}
		}
		w.head = idx
	case idx < w.first():
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
	for i := first; i <= last; {
		// A chunk at a time.
		pos, off := w.locate(i)
		end := min(last, i+int64(chunkLen-1-off))
		c := w.chunks[pos]
		if c == nil {
			for ; i <= end; i++ {
				values = append(values, math.NaN())
			}
			continue
		}
		var v [chunkLen]float64
		var cnt [chunkLen]uint32
		w.load(c, pos, &v, &cnt)
		for ; i <= end; i, off = i+1, off+1 {
			switch n := cnt[off]; {
			case n == 0:
				values = append(values, math.NaN())
			case w.agg == Mean:
				values = append(values, v[off]/float64(n))
			default:
				values = append(values, v[off])
			}
		}
	}
	return time.Unix(0, first*w.step).UTC(), values
}

// ValuesEvery is Values read k buckets at a time: each run of k
// consecutive buckets, aligned to multiples of k × Step since the Unix
// epoch as buckets are to Step, reads as one bucket of width k × Step
// holding what a window of that width would hold of the same samples
// (the mean of all their samples for Mean, the largest for Max, the
// latest for Last; NaN when none has a sample). The first and the last
// may span fewer than k buckets of the window. Forecasting reads a fine
// window this way at the width it is fitted at, so a finer history does
// not change, nor multiply the cost of, what it sees. k of 1 or less is
// Values.
func (w *Window) ValuesEvery(upTo time.Time, k int) (start time.Time, values []float64) {
	if k <= 1 {
		return w.Values(upTo)
	}
	if !w.any {
		return time.Time{}, nil
	}
	first := w.first()
	last := min(w.head, floorDiv(upTo.UnixNano(), w.step))
	if last < first {
		return time.Time{}, nil
	}
	kk := int64(k)
	lo, hi := floorDiv(first, kk), floorDiv(last, kk)
	values = make([]float64, 0, hi-lo+1)
	var (
		acc float64
		n   uint64
		at  int64
	)
	flush := func() {
		switch {
		case n == 0:
			values = append(values, math.NaN())
		case w.agg == Mean:
			values = append(values, acc/float64(n))
		default:
			values = append(values, acc)
		}
		acc, n, at = 0, 0, 0
	}
	r := first - lo*kk // the position of bucket i in its group
	for i := first; i <= last; {
		// A chunk at a time, as Values reads.
		pos, off := w.locate(i)
		end := min(last, i+int64(chunkLen-1-off))
		c := w.chunks[pos]
		var vs [chunkLen]float64
		var cnt [chunkLen]uint32
		if c != nil {
			w.load(c, pos, &vs, &cnt)
		}
		for ; i <= end; i, off, r = i+1, off+1, r+1 {
			if r == kk {
				flush()
				r = 0
			}
			bn := cnt[off]
			if bn == 0 {
				continue
			}
			v := vs[off]
			switch {
			case w.agg == Mean:
				acc += v
			case w.agg == Last:
				if t := w.ats[pos][off]; n == 0 || t >= at {
					acc, at = v, t
				}
			case n == 0 || v > acc: // Max
				acc = v
			}
			n += uint64(bn)
		}
	}
	flush()
	return time.Unix(0, lo*kk*w.step).UTC(), values
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

// MarshalJSON encodes the window exactly: every array as long as the
// window, bucket idx at position idx mod length (the ring this encoding
// was first written from), zeros where there is no bucket. It is the
// legacy snapshot's form, which knows no compact windows: a compact
// window's values are written as the float64s they are exactly, and
// UnmarshalJSON restores a wide window.
func (w *Window) MarshalJSON() ([]byte, error) {
	x := wire{Step: w.step, Agg: w.agg, Head: w.head, Any: w.any,
		Sum: make([]float64, w.length), N: make([]uint32, w.length), Value: make([]float64, w.length), At: make([]int64, w.length)}
	for i := w.first(); w.any && i <= w.head; i++ {
		b, pos := w.get(i), mod(i, int64(w.length))
		x.N[pos], x.Value[pos], x.At[pos] = b.n, b.v, b.at
		if w.agg == Mean {
			x.Sum[pos], x.Value[pos] = b.v, 0
		}
	}
	return json.Marshal(x)
}

// UnmarshalJSON restores a window MarshalJSON encoded, as a wide window.
func (w *Window) UnmarshalJSON(data []byte) error {
	var x wire
	if err := json.Unmarshal(data, &x); err != nil {
		return fmt.Errorf("%w: %w", ErrBadWindow, err)
	}
	n := len(x.Sum)
	if x.Step <= 0 || n == 0 || len(x.N) != n || len(x.Value) != n || len(x.At) != n || x.Agg > Last {
		return ErrBadWindow
	}
	r := Window{step: x.Step, agg: x.Agg, length: n, head: x.Head, wide: true}
	if x.Any {
		r.start(x.Head)
		// From the oldest bucket holding samples: older ones are empty.
		lo := r.first()
		for lo < r.head && x.N[mod(lo, int64(n))] == 0 {
			lo++
		}
		for i := lo; i <= r.head; i++ {
			pos := mod(i, int64(n))
			// A Mean bucket's value is its sum; the other arrays are zero.
			b := bucket{v: x.Value[pos], n: x.N[pos]}
			if r.agg == Mean {
				b.v = x.Sum[pos]
			}
			if r.agg == Last {
				b.at = x.At[pos]
			}
			if b != (bucket{}) {
				r.set(i, b)
			}
		}
		for pos := range r.chunks {
			r.seal(pos)
		}
	}
	*w = r
	return nil
}

// The first byte of the window's binary encoding: wide windows are
// version 1, whose values take 8 bytes, compact ones version 2, whose
// values take 4.
const (
	binaryWide    = 1
	binaryCompact = 2
)

// maxBinaryBuckets bounds a decoded window so that a corrupt length cannot
// make the decoder allocate without limit (10,080 buckets is the most the
// control plane uses).
const maxBinaryBuckets = 1 << 20

// AppendBinary appends the window's exact, compact binary encoding to b
// (encoding.BinaryAppender): a version byte (1 for a wide window, 2 for a
// compact one), varints for the shape, then per bucket its sample count
// and, when it has samples, its one value (the sum for Mean, else the max
// or last value: 8 bytes in version 1, 4 in version 2) and, for Last, the
// sample time. A run of empty buckets costs one byte each. Snapshots of
// 7 days of windows are mostly this, so it is several times smaller than
// the JSON.
func (w *Window) AppendBinary(b []byte) ([]byte, error) { return w.appendBinary(b, w.wide), nil }

// AppendWideBinary appends the window's version-1 encoding, the one a
// wide window has, whatever the window's precision: a compact window's
// values are written as the float64s they are exactly, and decode as a
// wide window. It is what snapshots of versions that know no compact
// windows hold.
func (w *Window) AppendWideBinary(b []byte) []byte { return w.appendBinary(b, true) }

func (w *Window) appendBinary(b []byte, wide bool) []byte {
	version := byte(binaryCompact)
	if wide {
		version = binaryWide
	}
	b = append(b, version, byte(w.agg))
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
	// A chunk at a time: snapshots are mostly this loop.
	for i := lo; w.any && i <= w.head; {
		pos, off := w.locate(i)
		end := min(w.head, i+int64(chunkLen-1-off))
		c := w.chunks[pos]
		if c == nil {
			for ; i <= end; i++ {
				b = append(b, 0) // an empty bucket: its count, 0
			}
			continue
		}
		if n := w.same[pos]; n != 0 && !wide && w.agg != Last {
			// A sealed chunk of a compact window, the usual case: the
			// same count before every value.
			for ; i <= end; i, off = i+1, off+1 {
				b = binary.LittleEndian.AppendUint32(binary.AppendUvarint(b, uint64(n)), c.v[off])
			}
			continue
		}
		var cnt [chunkLen]uint32
		w.loadCounts(pos, &cnt)
		for ; i <= end; i, off = i+1, off+1 {
			n := cnt[off]
			b = binary.AppendUvarint(b, uint64(n))
			if n == 0 {
				continue
			}
			switch {
			case !wide:
				b = binary.LittleEndian.AppendUint32(b, c.v[off])
			default:
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(w.value(c, pos, off)))
			}
			if w.agg == Last {
				b = binary.AppendVarint(b, w.ats[pos][off])
			}
		}
	}
	return b
}

// UnmarshalBinary restores a window AppendBinary (or AppendWideBinary)
// encoded, wide from version 1, compact from version 2; it refuses
// trailing bytes, an unknown version and an inconsistent shape.
func (w *Window) UnmarshalBinary(data []byte) error {
	d := data
	fail := func(what string) error { return fmt.Errorf("%w: %s", ErrBadWindow, what) }
	if len(d) < 2 {
		return fail("short header")
	}
	if d[0] != binaryWide && d[0] != binaryCompact {
		return fail(fmt.Sprintf("version %d (this code reads %d and %d)", d[0], binaryWide, binaryCompact))
	}
	wide := d[0] == binaryWide
	size := 4 // bytes a value
	if wide {
		size = 8
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
	x := Window{step: step, agg: agg, length: int(length), head: head, wide: wide}
	if anyData {
		x.start(head)
	}
	// The stored buckets, oldest first, end at the head. Restoring a
	// snapshot is mostly this loop: it fills each chunk directly.
	var c *chunk
	pos := 0
	cur := int64(math.MinInt64) // the chunk number c holds
	for i := head - int64(n) + 1; i <= head && n > 0; i++ {
		cnt, ok := uvarint()
		if !ok || cnt > math.MaxUint32 {
			return fail("bad bucket count")
		}
		if cnt == 0 {
			continue
		}
		if len(d) < size {
			return fail("short bucket")
		}
		if k := floorDiv(i, chunkLen); k != cur {
			pos, _ = x.locate(i)
			c, cur = x.own(pos), k
		}
		off := int(i - cur*chunkLen)
		if wide {
			bits := binary.LittleEndian.Uint64(d)
			c.v[off], x.hi[pos][off] = uint32(bits), uint32(bits>>32)
		} else {
			c.v[off] = binary.LittleEndian.Uint32(d)
		}
		d = d[size:]
		x.setCount(pos, off, uint32(cnt))
		if agg == Last {
			at, ok := varint()
			if !ok {
				return fail("bad bucket time")
			}
			x.ats[pos][off] = at
		}
	}
	if len(d) != 0 {
		return fail(fmt.Sprintf("%d trailing bytes", len(d)))
	}
	for pos := range x.chunks {
		x.seal(pos)
	}
	*w = x
	return nil
}

// oldestFilled is the index of the oldest bucket holding samples (the
// head when none does, or after it before the first sample).
func (w *Window) oldestFilled() int64 {
	if !w.any {
		return w.head + 1
	}
	for i := w.first(); i < w.head; {
		pos, off := w.locate(i)
		end := min(w.head-1, i+int64(chunkLen-1-off))
		if c := w.chunks[pos]; c != nil {
			for ; i <= end; i, off = i+1, off+1 {
				if w.count(c, pos, off) > 0 {
					return i
				}
			}
		}
		i = end + 1
	}
	return w.head
}

// Clone returns a copy of the window that shares its chunks of buckets
// with w until either changes one, which it then copies: the copy costs
// the chunk table, not the buckets. Clone marks w's chunks as shared, so
// it must not run concurrently with another Clone, Add, Merge or SetWide
// of w; reading w (Values, the encodings) while it runs is safe.
func (w *Window) Clone() *Window {
	c := *w
	c.chunks, c.ats, c.hi = slices.Clone(w.chunks), slices.Clone(w.ats), slices.Clone(w.hi)
	c.same, c.bytes, c.full = slices.Clone(w.same), slices.Clone(w.bytes), slices.Clone(w.full)
	if w.owned != nil {
		c.owned = make([]bool, len(w.owned))
		clear(w.owned)
	}
	return &c
}
