package window

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestValuesEveryIsTheCoarseWindow: a fine window read k buckets at a
// time holds what a window k times as wide, fed the same samples, holds:
// for every aggregation, with gaps, several samples a bucket, and a span
// whose ends fall inside a coarse bucket. Wide windows agree to 1e-9;
// compact ones round each bucket to a float32 (a coarse mean bucket
// rounds its running sum, a fine one each part of it), so they agree to
// a few float32 roundings, 1e-6.
func TestValuesEveryIsTheCoarseWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 1))
	for _, wide := range []bool{true, false} {
		tolerance := 1e-6
		if wide {
			tolerance = 1e-9
		}
		for _, agg := range []Agg{Mean, Max, Last} {
			for _, k := range []int{2, 5, 7} {
				fine := New(time.Minute, 4000, agg)
				coarse := New(time.Duration(k)*time.Minute, 4000, agg)
				fine.SetWide(wide)
				coarse.SetWide(wide)
				// Samples over about two days from a start inside a coarse
				// bucket, some minutes empty, some with several samples.
				start := t0.Add(3*time.Minute + 17*time.Second)
				for i := range 3000 {
					if rng.IntN(6) == 0 {
						continue
					}
					for range 1 + rng.IntN(3) {
						tm := start.Add(time.Duration(i)*time.Minute + time.Duration(rng.IntN(60_000))*time.Millisecond)
						v := 100 + 50*math.Sin(float64(i)/90) + rng.NormFloat64()
						fine.Add(tm, v)
						coarse.Add(tm, v)
					}
				}
				upTo := start.Add(3010 * time.Minute) // after the last sample, as now is
				gotStart, got := fine.ValuesEvery(upTo, k)
				wantStart, want := coarse.Values(upTo)
				if !gotStart.Equal(wantStart.Add(time.Duration(len(want)-len(got)) * time.Duration(k) * time.Minute)) {
					t.Fatalf("%s k=%d: starts at %v with %d buckets; the coarse window at %v with %d", agg, k, gotStart, len(got), wantStart, len(want))
				}
				want = want[len(want)-len(got):]
				for i := range got {
					if !(got[i] == want[i] || math.IsNaN(got[i]) && math.IsNaN(want[i]) || math.Abs(got[i]-want[i]) < tolerance*math.Abs(want[i])) {
						t.Fatalf("wide %v, %s k=%d: bucket %d is %v, the coarse window's %v", wide, agg, k, i, got[i], want[i])
					}
				}
				if len(got) < 3000/k {
					t.Fatalf("%s k=%d: %d buckets", agg, k, len(got))
				}
			}
		}
	}
}

// TestValuesEveryEdges: k of 1 is Values; an empty window reads nothing;
// a window whose span starts inside a coarse bucket reads that bucket
// from the part it holds.
func TestValuesEveryEdges(t *testing.T) {
	w := New(time.Minute, 10, Mean)
	if s, v := w.ValuesEvery(t0, 5); !s.IsZero() || v != nil {
		t.Fatalf("empty window: %v %v", s, v)
	}
	for i := range 12 { // minutes 0..11; the window keeps 2..11
		w.Add(t0.Add(time.Duration(i)*time.Minute), float64(i))
	}
	s1, v1 := w.ValuesEvery(t0.Add(11*time.Minute), 1)
	s0, v0 := w.Values(t0.Add(11 * time.Minute))
	if !s1.Equal(s0) || len(v1) != len(v0) {
		t.Fatalf("k=1: %v %v, Values %v %v", s1, v1, s0, v0)
	}
	s, v := w.ValuesEvery(t0.Add(11*time.Minute), 5)
	// Groups [0,4] (holding 2,3,4), [5,9], [10,11].
	want := []float64{3, 7, 10.5}
	if !s.Equal(t0) || len(v) != len(want) {
		t.Fatalf("got %v %v, want %v %v", s, v, t0, want)
	}
	for i := range want {
		if v[i] != want[i] {
			t.Fatalf("got %v, want %v", v, want)
		}
	}
	// upTo before the window: nothing.
	if s, v := w.ValuesEvery(t0, 5); !s.IsZero() || v != nil {
		t.Fatalf("before the window: %v %v", s, v)
	}
}

// BenchmarkValuesEvery reads 7 days of 1-minute buckets as 5-minute ones,
// what forecasting reads of a policy with a 1-minute history step.
func BenchmarkValuesEvery(b *testing.B) {
	w := New(time.Minute, 10_080, Mean)
	for i := range 10_080 {
		w.Add(t0.Add(time.Duration(i)*time.Minute), float64(i%97))
	}
	upTo := t0.Add(10_080 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		w.ValuesEvery(upTo, 5)
	}
}
