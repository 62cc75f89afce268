package emukit_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/emukit"
)

func TestLogKeepsEffectOrderAndItsBound(t *testing.T) {
	tests := []struct {
		name       string
		max, calls int
		wantFirst  int // the oldest call kept
		wantLen    int
	}{
		{"under the bound", 5, 3, 0, 3},
		{"at the bound", 5, 5, 0, 5},
		{"past twice the bound", 5, 12, 7, 5},
		{"zero means the default", 0, 3, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := emukit.NewLog[int](tc.max)
			for i := range tc.calls {
				l.Done(l.Arrive(), i)
			}
			recs := l.Records()
			if len(recs) != tc.wantLen || recs[0].Call != tc.wantFirst {
				t.Fatalf("kept %d from %d, want %d from %d", len(recs), recs[0].Call, tc.wantLen, tc.wantFirst)
			}
			for i, r := range recs {
				if r.Effect != uint64(tc.wantFirst+i+1) || r.Arrival != r.Effect {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		})
	}
	// Arrival and effect order differ when an earlier call finishes later.
	l := emukit.NewLog[string](0)
	a, b := l.Arrive(), l.Arrive()
	l.Done(b, "second")
	l.Done(a, "first")
	recs := l.Records()
	if recs[0].Call != "second" || recs[0].Arrival != 2 || recs[0].Effect != 1 || recs[1].Arrival != 1 || recs[1].Effect != 2 {
		t.Fatalf("records %+v", recs)
	}
	calls := l.Calls()
	calls[0] = "changed"
	if l.Calls()[0] != "second" {
		t.Fatal("Calls shares its slice with the log")
	}
}

func TestFaultsAreConsumedInOrder(t *testing.T) {
	var q emukit.Faults[string]
	q.Add("a-once", 0)
	q.Add("a-twice", 2)
	q.Add("b-always", -1)
	isA := func(f string) bool { return f[0] == 'a' }
	isB := func(f string) bool { return f[0] == 'b' }
	var got []string
	for range 4 {
		f, ok := q.Take(isA)
		if !ok {
			f = "none"
		}
		got = append(got, f)
	}
	want := []string{"a-once", "a-twice", "a-twice", "none"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("took %v, want %v", got, want)
		}
	}
	for range 3 {
		if f, ok := q.Take(isB); !ok || f != "b-always" {
			t.Fatalf("unlimited fault: %q %v", f, ok)
		}
	}
	if q.Len() != 1 {
		t.Fatalf("%d queued, want the unlimited one", q.Len())
	}
	q.Clear()
	if _, ok := q.Take(isB); ok {
		t.Fatal("a cleared fault was taken")
	}
}

func TestSlowLandsAfterTheCallerGivesUp(t *testing.T) {
	var landed atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	done, err := emukit.Slow(ctx, 500*time.Millisecond, func() error { landed.Store(true); return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("err %v after %s: want the caller's deadline, before the effect", err, time.Since(start))
	}
	if landed.Load() {
		t.Fatal("landed before its delay")
	}
	<-done
	if !landed.Load() {
		t.Fatal("the effect did not land after the caller gave up")
	}
	// A caller who waits gets the effect's own answer.
	boom := errors.New("boom")
	if _, err := emukit.Slow(context.Background(), time.Millisecond, func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want the effect's", err)
	}
}
