package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// vals renders Values with NaN as -1 for easy comparison.
func vals(w *Window, upTo time.Time) (time.Time, []float64) {
	start, v := w.Values(upTo)
	for i := range v {
		if math.IsNaN(v[i]) {
			v[i] = -1
		}
	}
	return start, v
}

func TestAggregation(t *testing.T) {
	tests := []struct {
		agg  Agg
		want []float64
	}{
		{Mean, []float64{2, -1, 6}},
		{Max, []float64{3, -1, 7}},
		{Last, []float64{1, -1, 5}},
	}
	for _, tc := range tests {
		w := New(10*time.Second, 3, tc.agg)
		w.Add(at(1), 3)
		w.Add(at(9), 1)  // same bucket, latest
		w.Add(at(5), 2)  // same bucket, out of order: Last keeps the later one
		w.Add(at(21), 7) // bucket 2
		w.Add(at(25), 5)
		w.Add(at(29.9), math.NaN()) // dropped
		// Mean of {3,1,2} = 2; of {7,5} = 6.
		start, got := vals(w, at(29))
		if !start.Equal(t0) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("agg %d: start %v values %v, want %v %v", tc.agg, start, got, t0, tc.want)
		}
	}
}

func TestWindowSlidesAndDropsOld(t *testing.T) {
	w := New(10*time.Second, 3, Last)
	for i := 0; i < 5; i++ {
		w.Add(at(float64(i*10)), float64(i))
	}
	start, got := vals(w, at(100))
	if !start.Equal(at(20)) || !reflect.DeepEqual(got, []float64{2, 3, 4}) {
		t.Fatalf("after sliding: %v %v", start, got)
	}
	w.Add(at(5), 99) // older than the window: ignored
	if _, got := vals(w, at(100)); !reflect.DeepEqual(got, []float64{2, 3, 4}) {
		t.Fatalf("an old sample changed the window: %v", got)
	}
	w.Add(at(1000), 7) // a jump beyond the window empties it
	start, got = vals(w, at(1000))
	if !start.Equal(at(980)) || !reflect.DeepEqual(got, []float64{-1, -1, 7}) {
		t.Fatalf("after a jump: %v %v", start, got)
	}
	if _, got := vals(w, at(985)); !reflect.DeepEqual(got, []float64{-1}) {
		t.Fatalf("upTo cuts the newest buckets: %v", got)
	}
}

func TestJSONRoundTripIsExact(t *testing.T) {
	w := New(10*time.Second, 8, Mean)
	w.SetWide(true) // the JSON form restores wide windows
	for i := 0; i < 50; i++ {
		w.Add(at(float64(i)*3.7), float64(i%9)+0.1)
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var r Window
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !same(w, &r) {
		t.Fatal("restored window differs")
	}
	w.Add(at(200), 1)
	r.Add(at(200), 1)
	if !same(w, &r) {
		t.Fatal("restored window continues differently")
	}
	for _, bad := range []string{`{}`, `{"step":0}`, `{"step":10,"sum":[1],"n":[],"value":[1],"at":[1]}`, `nope`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Fatalf("%s decoded", bad)
		}
	}
}

// BenchmarkAdd measures bucket aggregation; the target is 5,000,000
// samples/s on one core.
func BenchmarkAdd(b *testing.B) {
	w := New(10*time.Second, 2016, Mean)
	ts := make([]time.Time, 4096)
	for i := range ts {
		ts[i] = t0.Add(time.Duration(i) * 37 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Add(ts[i&4095].Add(time.Duration(i>>12)*152*time.Second), float64(i&63))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// TestMergeEqualsAdd: folding samples into partials per bucket and merging
// them gives the same window as adding the samples one by one.
func TestMergeEqualsAdd(t *testing.T) {
	for _, agg := range []Agg{Mean, Max, Last} {
		step := 10 * time.Second
		byOne, merged := New(step, 6, agg), New(step, 6, agg)
		partials := map[int64]*Partial{}
		for i := 0; i < 200; i++ {
			ts := at(float64(i) * 0.7)
			v := float64((i * 37) % 11)
			byOne.Add(ts, v*3)
			idx := BucketOf(ts, step)
			if partials[idx] == nil {
				partials[idx] = &Partial{Bucket: idx}
			}
			partials[idx].Observe(ts.UnixNano(), v)
		}
		for idx := BucketOf(at(0), step); idx <= BucketOf(at(140), step); idx++ {
			if p := partials[idx]; p != nil {
				merged.Merge(*p, 3)
			}
		}
		_, a := vals(byOne, at(200))
		_, b := vals(merged, at(200))
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-9 {
				t.Fatalf("agg %d: bucket %d: add %v, merge %v", agg, i, a, b)
			}
		}
	}
}

// TestBinaryRoundTripIsExact: every aggregation survives AppendBinary and
// UnmarshalBinary bit for bit (empty buckets included) and continues as the
// original would; malformed encodings are refused and leave the window as
// it was.
func TestBinaryRoundTripIsExact(t *testing.T) {
	for _, agg := range []Agg{Mean, Max, Last} {
		t.Run(agg.String(), func(t *testing.T) {
			w := New(10*time.Second, 8, agg)
			var empty Window
			b, _ := New(time.Second, 3, agg).AppendBinary(nil)
			if err := empty.UnmarshalBinary(b); err != nil || empty.any {
				t.Fatalf("empty window: %v", err)
			}
			for i := range 50 {
				if i%7 != 3 { // leave gaps: empty buckets
					w.Add(at(float64(i)*3.7), float64(i%9)-2.5)
				}
			}
			b, err := w.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			var r Window
			if err := r.UnmarshalBinary(b[len("prefix"):]); err != nil {
				t.Fatal(err)
			}
			same := func() bool {
				s1, v1 := vals(w, at(1e6))
				s2, v2 := vals(&r, at(1e6))
				e1, _ := w.AppendBinary(nil)
				e2, _ := r.AppendBinary(nil)
				return s1.Equal(s2) && slices.Equal(v1, v2) && bytes.Equal(e1, e2)
			}
			if !same() {
				t.Fatalf("restored window differs:\n%+v\n%+v", *w, r)
			}
			for _, sec := range []float64{200, 150, 600, 1e4} {
				w.Add(at(sec), 1)
				r.Add(at(sec), 1)
				if !same() {
					t.Fatalf("restored window continues differently after a sample at %v s", sec)
				}
			}
			good, _ := w.AppendBinary(nil)
			bad := map[string][]byte{
				"empty":           nil,
				"unknown version": append([]byte{9}, good[1:]...),
				"unknown agg":     append([]byte{good[0], 7}, good[2:]...),
				"truncated":       good[:len(good)-1],
				"trailing bytes":  append(append([]byte{}, good...), 0),
			}
			for name, data := range bad {
				before := r
				if err := r.UnmarshalBinary(data); !errors.Is(err, ErrBadWindow) {
					t.Errorf("%s: error %v, want ErrBadWindow", name, err)
				}
				if !reflect.DeepEqual(before, r) {
					t.Errorf("%s: a refused encoding changed the window", name)
				}
			}
		})
	}
}

// FuzzUnmarshalBinary: arbitrary bytes never panic, and whatever decodes
// re-encodes to bytes that decode and re-encode to themselves (compared
// as bytes: a bucket may hold NaN, which DeepEqual never finds equal).
func FuzzUnmarshalBinary(f *testing.F) {
	w := New(10*time.Second, 8, Last)
	w.Add(at(1), 2)
	good, _ := w.AppendBinary(nil)
	f.Add(good)
	f.Add(w.AppendWideBinary(nil))
	f.Add([]byte{1, 0, 20, 0, 0, 1, 0})
	f.Add([]byte{2, 0, 20, 0, 0, 1, 0})
	big := New(10*time.Second, 8, Mean)
	big.Merge(Partial{Bucket: 3, Sum: 1e3, N: 300}, 1)
	good, _ = big.AppendBinary(nil)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Window
		if err := r.UnmarshalBinary(data); err != nil {
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 Window
		if err := r2.UnmarshalBinary(again); err != nil {
			t.Fatalf("a re-encoded window does not decode: %v", err)
		}
		if third, _ := r2.AppendBinary(nil); !bytes.Equal(again, third) {
			t.Fatal("a re-encoded window does not decode to itself")
		}
	})
}

// model is a plain reference for a window: buckets by index, the newest
// index, and the length; what Values must show.
type model struct {
	agg     Agg
	length  int64
	head    int64
	any     bool
	buckets map[int64]modelBucket
}

type modelBucket struct {
	sum, value float64
	at         int64
	n          uint32
}

func (m *model) add(idx int64, tn int64, v float64) {
	if !m.any {
		m.head, m.any = idx, true
	}
	if idx <= m.head-m.length {
		return
	}
	m.head = max(m.head, idx)
	b := m.buckets[idx]
	switch m.agg {
	case Mean:
		b.sum += v
	case Max:
		if b.n == 0 || v > b.value {
			b.value = v
		}
	case Last:
		if b.n == 0 || tn >= b.at {
			b.value, b.at = v, tn
		}
	}
	b.n++
	m.buckets[idx] = b
}

func (m *model) values(step int64) []float64 {
	out := make([]float64, 0, m.length)
	for i := m.head - m.length + 1; i <= m.head; i++ {
		b, ok := m.buckets[i]
		switch {
		case !ok || b.n == 0:
			out = append(out, -1)
		case m.agg == Mean:
			out = append(out, b.sum/float64(b.n))
		default:
			out = append(out, b.value)
		}
	}
	return out
}

// TestWindowGrowsAsBucketsFill: a window holds memory for the buckets it
// has been through, not its whole length, and behaves exactly like the
// reference through growth, late samples, gaps, jumps past its length and
// the switch to a ring; both encodings round-trip it at every step.
func TestWindowGrowsAsBucketsFill(t *testing.T) {
	w := New(10*time.Second, 2016, Mean)
	for i := range 10 {
		w.Add(at(float64(i*10)), 1)
	}
	if c := held(w); c != 1 || w.ats != nil {
		t.Fatalf("a 2,016-bucket mean window holds %d chunks after 10 buckets (times: %v), want 1", c, w.ats != nil)
	}
	if size := unsafe.Sizeof(chunk{}); size != 256 {
		t.Fatalf("a chunk of %d buckets takes %d bytes, want 256", chunkLen, size)
	}
	moves := []float64{0, 10, 10, -25, 30, 5, 200, -150, 15, 10, -5, 400, 10, 10, 1000, -990, 20}
	for _, agg := range []Agg{Mean, Max, Last} {
		for _, length := range []int{1, 2, 7, 40} {
			w := New(10*time.Second, length, agg)
			m := &model{agg: agg, length: int64(length), buckets: map[int64]modelBucket{}}
			now := 1000.0
			for k, d := range moves {
				now += d
				tm := at(now)
				v := float64(k%5) + 0.25
				w.Add(tm, v)
				m.add(floorDiv(tm.UnixNano(), w.step), tm.UnixNano(), v)
				_, got := vals(w, at(1e7))
				if want := m.values(w.step); !slices.Equal(got, want) {
					t.Fatalf("%s, length %d, step %d: values\n%v, want\n%v", agg, length, k, got, want)
				}
				bin, _ := w.AppendBinary(nil)
				var r Window
				if err := r.UnmarshalBinary(bin); err != nil {
					t.Fatal(err)
				}
				again, _ := r.AppendBinary(nil)
				if _, gotB := vals(&r, at(1e7)); !slices.Equal(gotB, got) || !bytes.Equal(again, bin) {
					t.Fatalf("%s, length %d, step %d: binary round trip: %v, want %v", agg, length, k, gotB, got)
				}
				js, _ := json.Marshal(w)
				var rj Window
				if err := json.Unmarshal(js, &rj); err != nil {
					t.Fatal(err)
				}
				if _, gotJ := vals(&rj, at(1e7)); !slices.Equal(gotJ, got) {
					t.Fatalf("%s, length %d, step %d: JSON round trip: %v, want %v", agg, length, k, gotJ, got)
				}
			}
		}
	}
}

// held is how many chunks of buckets the window holds.
func held(w *Window) int {
	n := 0
	for _, c := range w.chunks {
		if c != nil {
			n++
		}
	}
	return n
}

// same reports whether two windows hold the same buckets: the same
// shape, values and both encodings, whatever their memory layout.
func same(a, b *Window) bool { return look(a).equal(look(b)) }

// seen is what same compares of a window, worked out once so that a
// window checked against several decoded copies is encoded once.
type seen struct {
	w          *Window
	start      time.Time
	values     []float64
	bin, jsonb []byte
}

func look(w *Window) seen {
	s := seen{w: w}
	s.start, s.values = vals(w, at(1e9))
	s.bin, _ = w.AppendBinary(nil)
	s.jsonb, _ = json.Marshal(w)
	return s
}

func (s seen) equal(o seen) bool {
	a, b := s.w, o.w
	return a.step == b.step && a.agg == b.agg && a.length == b.length && a.head == b.head && a.any == b.any &&
		s.start.Equal(o.start) && slices.Equal(s.values, o.values) && bytes.Equal(s.bin, o.bin) && bytes.Equal(s.jsonb, o.jsonb)
}

// fullWeek is a week-long window of five-minute buckets, every bucket
// filled.
func fullWeek() *Window {
	w := New(5*time.Minute, 2016, Mean)
	for i := range 2016 {
		w.Add(t0.Add(time.Duration(i)*5*time.Minute), float64(i%97)+0.5)
	}
	return w
}

// BenchmarkEncodeWeek measures what a snapshot and an evaluation read of
// a full week-long window: its binary encoding and its values.
func BenchmarkEncodeWeek(b *testing.B) {
	w := fullWeek()
	b.Run("append-binary", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = w.AppendBinary(buf[:0])
		}
	})
	b.Run("values", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Values(t0.Add(8 * 24 * time.Hour))
		}
	})
}

// TestWindowAcrossChunks: windows longer than a chunk, and of lengths
// around a chunk's, behave exactly like the reference model through
// random moves of the head (within a chunk, across several, past the
// whole window), late samples and merges, and round-trip through both
// encodings at every step.
func TestWindowAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, agg := range []Agg{Mean, Max, Last} {
		for _, length := range []int{63, 64, 65, 129, 300, 2016} {
			w := New(10*time.Second, length, agg)
			m := &model{agg: agg, length: int64(length), buckets: map[int64]modelBucket{}}
			now := 1e5
			for k := range 600 {
				switch r := rng.IntN(100); {
				case r < 60:
					now += rng.Float64() * 40 // the next few buckets
				case r < 80:
					now -= rng.Float64() * float64(length) * 12 // late, sometimes older than the window
				case r < 95:
					now += rng.Float64() * 700 * 10 // across chunks
				default:
					now += float64(length) * 10 * (1 + rng.Float64()) // past the whole window
				}
				tm := at(now)
				v := float64(rng.IntN(1000))/8 - 20
				w.Add(tm, v)
				m.add(floorDiv(tm.UnixNano(), w.step), tm.UnixNano(), v)
				_, got := vals(w, at(1e9))
				if want := m.values(w.step); !slices.Equal(got, want) {
					t.Fatalf("%s, length %d, step %d: values differ from the model", agg, length, k)
				}
				if k%25 == 0 {
					ws := look(w)
					var r Window
					if err := r.UnmarshalBinary(ws.bin); err != nil {
						t.Fatal(err)
					}
					var rj Window
					if err := json.Unmarshal(ws.jsonb, &rj); err != nil {
						t.Fatal(err)
					}
					rj.SetWide(false) // the JSON form restores a wide window
					if !ws.equal(look(&r)) || !ws.equal(look(&rj)) {
						t.Fatalf("%s, length %d, step %d: a decoded window differs", agg, length, k)
					}
				}
			}
			if c, limit := held(w), ringChunks(length); c > limit {
				t.Fatalf("%s, length %d: %d chunks held, at most %d", agg, length, c, limit)
			}
		}
	}
}

// TestCloneSharesUntilChanged: a clone shares the chunks and keeps what
// it held however the original moves on (and the other way round), and a
// change after a clone copies one chunk, not the window.
func TestCloneSharesUntilChanged(t *testing.T) {
	moves := []struct {
		name string
		d    time.Duration // from the head's time
	}{
		{"same bucket", 0},
		{"late, in an older chunk", -3 * 24 * time.Hour},
		{"next bucket", 5 * time.Minute},
		{"next chunk", 64 * 5 * time.Minute},
		{"past the window", 8 * 24 * time.Hour},
	}
	head := t0.Add(2015 * 5 * time.Minute)
	for _, mv := range moves {
		for _, changeClone := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/change clone %v", mv.name, changeClone), func(t *testing.T) {
				w := fullWeek()
				c := w.Clone()
				before, _ := w.AppendBinary(nil)
				changed, kept := w, c
				if changeClone {
					changed, kept = c, w
				}
				changed.Add(head.Add(mv.d), 1e6)
				if after, _ := kept.AppendBinary(nil); !bytes.Equal(before, after) {
					t.Fatal("a change to one copy showed in the other")
				}
				if got, _ := changed.AppendBinary(nil); bytes.Equal(got, before) {
					t.Fatal("the change did not take")
				}
				copied := 0
				for i := range changed.chunks {
					if changed.chunks[i] != nil && changed.chunks[i] != kept.chunks[i] {
						copied++
					}
				}
				if copied > 1 {
					t.Fatalf("%d chunks copied for one sample, want at most 1", copied)
				}
			})
		}
	}
}

// TestCountsBeyondAByte: a bucket's sample count is exact beyond the 8
// bits a chunk keeps (and beyond 16), in wide and compact windows,
// through merges, adds, both encodings, a clone and the window sliding
// past the buckets; the other buckets of such a chunk keep theirs.
func TestCountsBeyondAByte(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run(fmt.Sprintf("wide %v", wide), func(t *testing.T) {
			step := 10 * time.Second
			w := New(step, 100, Mean)
			w.SetWide(wide)
			idx := BucketOf(at(5), step)
			w.Add(at(-5), 4) // the bucket before: one sample
			w.Merge(Partial{Bucket: idx, Sum: 70_000 * 2, N: 70_000}, 1)
			w.Add(at(5), 2)
			w.Merge(Partial{Bucket: idx + 1, Sum: 255, N: 255}, 1)
			w.Add(at(15), 1) // 256: just past 8 bits
			if _, v := w.Values(at(20)); len(v) != 100 || v[97] != 4 || v[98] != 2 || v[99] != 1 {
				t.Fatalf("means %v, want 4, 2 and 1 at the end", v[97:])
			}
			counts := func(w *Window) [3]uint32 { return [3]uint32{w.get(idx - 1).n, w.get(idx).n, w.get(idx + 1).n} }
			if got := counts(w); got != [3]uint32{1, 70_001, 256} {
				t.Fatalf("counts %v, want 1, 70,001 and 256", got)
			}
			bin, _ := w.AppendBinary(nil)
			js, _ := json.Marshal(w)
			var r, rj Window
			if err := r.UnmarshalBinary(bin); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, &rj); err != nil {
				t.Fatal(err)
			}
			rj.SetWide(wide)
			if !same(w, &r) || !same(w, &rj) || counts(&r) != counts(w) || counts(&rj) != counts(w) {
				t.Fatal("a decoded window lost the full counts")
			}
			c := w.Clone()
			w.Add(at(25), 1) // a change to the shared chunk copies its counts
			if counts(c) != [3]uint32{1, 70_001, 256} || w.get(idx+2).n != 1 {
				t.Fatal("a change after a clone showed in the clone")
			}
			w.Add(at(1e4), 1) // the window slides past the buckets
			if w.full[0] != nil || w.full[1] != nil {
				t.Fatalf("full counts of buckets out of the window kept")
			}
			if counts(c) != [3]uint32{1, 70_001, 256} {
				t.Fatal("the clone lost its full counts")
			}
		})
	}
}

// TestPrecision: a compact window keeps each bucket's value rounded to a
// float32 at every change (the running sum of a mean too), a wide one
// keeps the float64; SetWide converts either way without changing a
// clone, compacting rounds once and widening is exact; each decodes to
// the precision it was encoded in; and the widened encoding of a compact
// window decodes to the window SetWide(true) gives.
func TestPrecision(t *testing.T) {
	third := 1.0 / 3
	r32 := func(x float64) float64 { return float64(float32(x)) }
	tests := []struct {
		agg          Agg
		wide, narrow float64 // the bucket's value after samples third and 2*third
		n            float64 // what a bucket stores is its value times n (a mean's sum)
	}{
		{Mean, (third + 2*third) / 2, r32(r32(third)+2*third) / 2, 2},
		{Max, 2 * third, r32(2 * third), 1},
		{Last, 2 * third, r32(2 * third), 1},
	}
	for _, tc := range tests {
		t.Run(tc.agg.String(), func(t *testing.T) {
			value := func(w *Window) float64 { _, v := w.Values(at(100)); return v[len(v)-1] }
			compact, wide := New(10*time.Second, 8, tc.agg), New(10*time.Second, 8, tc.agg)
			wide.SetWide(true)
			for _, w := range []*Window{compact, wide} {
				w.Add(at(1), third)
				w.Add(at(2), 2*third)
			}
			if got := value(compact); got != tc.narrow || compact.Wide() {
				t.Fatalf("compact: %v, want %v", got, tc.narrow)
			}
			if got := value(wide); got != tc.wide || !wide.Wide() {
				t.Fatalf("wide: %v, want %v", got, tc.wide)
			}
			// Compacting rounds once; a clone keeps the wide values.
			c := wide.Clone()
			wide.SetWide(false)
			if got, want := value(wide), r32(tc.wide*tc.n)/tc.n; got != want || wide.Wide() {
				t.Fatalf("compacted: %v, want %v", got, want)
			}
			if value(c) != tc.wide || !c.Wide() {
				t.Fatal("compacting changed a clone")
			}
			// Widening is exact.
			before := value(compact)
			w2 := compact.Clone()
			w2.SetWide(true)
			if value(w2) != before || !w2.Wide() || compact.Wide() {
				t.Fatal("widening changed a value or the clone's precision")
			}
			// Each decodes as it was encoded; the widened encoding of a
			// compact window decodes as SetWide(true) gives.
			for _, w := range []*Window{compact, c} {
				b, _ := w.AppendBinary(nil)
				var r Window
				if err := r.UnmarshalBinary(b); err != nil || r.Wide() != w.Wide() || !same(&r, w) {
					t.Fatalf("wide %v: decoded as wide %v, %v", w.Wide(), r.Wide(), err)
				}
			}
			b := compact.AppendWideBinary(nil)
			var r Window
			if err := r.UnmarshalBinary(b); err != nil || !r.Wide() || !same(&r, w2) {
				t.Fatalf("the widened encoding: wide %v, %v", r.Wide(), err)
			}
			if b2, _ := w2.AppendBinary(nil); !bytes.Equal(b, b2) {
				t.Fatal("the widened encoding is not the widened window's")
			}
		})
	}
}

// TestCountsSealed: once the head has left a chunk whose buckets all hold
// the same count, the chunk keeps one byte of count instead of 64, and
// so does a decoded window; a chunk with a gap or another count keeps
// each; a change to a sealed chunk, in a window or its clone, gives each
// bucket its count again without changing the other copy.
func TestCountsSealed(t *testing.T) {
	w := New(time.Minute, 300, Mean)
	// Two samples a bucket for 256 buckets (chunks 0 to 3 of the ring
	// from t0, which is a chunk's start), but one of chunk 2 gets three.
	for i := range 256 {
		for k := range 2 {
			w.Add(t0.Add(time.Duration(i)*time.Minute+time.Duration(k)*time.Second), 1)
		}
	}
	w.Add(t0.Add(130*time.Minute+30*time.Second), 1)
	sealed := func(w *Window) []bool {
		var out []bool
		for pos := range 4 {
			p, _ := w.locate(int64(pos*chunkLen) + floorDiv(t0.UnixNano(), w.step))
			out = append(out, w.same[p] != 0 && w.bytes[p] == nil)
		}
		return out
	}
	if got := sealed(w); !slices.Equal(got, []bool{true, true, false, false}) {
		t.Fatalf("sealed chunks %v, want the first two (the third has a bucket of 3, the fourth holds the head)", got)
	}
	bin, _ := w.AppendBinary(nil)
	var r Window
	if err := r.UnmarshalBinary(bin); err != nil {
		t.Fatal(err)
	}
	if got := sealed(&r); !slices.Equal(got, []bool{true, true, false, true}) || !same(w, &r) {
		t.Fatalf("decoded: sealed chunks %v, want all but the third", got)
	}
	c := r.Clone()
	r.Add(t0.Add(5*time.Minute), 1) // into a sealed chunk
	if got := r.get(floorDiv(t0.UnixNano(), r.step) + 5).n; got != 3 {
		t.Fatalf("count %d after a sample into a sealed chunk, want 3", got)
	}
	if !same(c, w) {
		t.Fatal("a change to a sealed chunk showed in the clone")
	}
	start, v := r.Values(t0.Add(time.Hour))
	if k := int(t0.Sub(start) / time.Minute); v[k+5] != 1 || v[k+6] != 1 {
		t.Fatalf("means %v", v[k:k+8])
	}
}
