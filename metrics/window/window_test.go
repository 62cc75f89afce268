package window

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
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
	if !reflect.DeepEqual(*w, r) {
		t.Fatal("restored window differs")
	}
	w.Add(at(200), 1)
	r.Add(at(200), 1)
	if !reflect.DeepEqual(*w, r) {
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
			if !reflect.DeepEqual(*w, r) {
				t.Fatalf("restored window differs:\n%+v\n%+v", *w, r)
			}
			w.Add(at(200), 1)
			r.Add(at(200), 1)
			if !reflect.DeepEqual(*w, r) {
				t.Fatal("restored window continues differently")
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
	f.Add([]byte{1, 0, 20, 0, 0, 1, 0})
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
