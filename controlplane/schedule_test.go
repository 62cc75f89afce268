package controlplane

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/store"
)

// TestPolicySchedule applies commands one after the other and checks after
// each whether the schedule was rebuilt (a new value) and what it lists:
// only a put or delete that took effect, or a restore, rebuilds it; only
// a delete or a restore counts as a removal.
func TestPolicySchedule(t *testing.T) {
	f := NewFSM(10)
	at := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	steps := []struct {
		name    string
		cmd     store.Command // nil: restore f from its own snapshot
		rebuilt bool
		want    []scheduled
	}{
		{"first policy", store.PutPolicy{Policy: twoMetricPolicy(t, "web", "10s")}, true,
			[]scheduled{{"web", 10 * time.Second}}},
		{"second policy", store.PutPolicy{Policy: twoMetricPolicy(t, "api", "30s")}, true,
			[]scheduled{{"api", 30 * time.Second}, {"web", 10 * time.Second}}},
		{"samples", store.Samples{Samples: []store.Sample{{Policy: "web", Metric: "rps", Time: at, Value: 5}}}, false,
			[]scheduled{{"api", 30 * time.Second}, {"web", 10 * time.Second}}},
		{"evaluation", store.Evaluated{Policy: "web", Desired: 2, Ready: 2, At: at}, false,
			[]scheduled{{"api", 30 * time.Second}, {"web", 10 * time.Second}}},
		{"new interval", store.PutPolicy{Policy: twoMetricPolicy(t, "web", "1m")}, true,
			[]scheduled{{"api", 30 * time.Second}, {"web", time.Minute}}},
		{"put refused by If-Match", store.PutPolicy{Policy: twoMetricPolicy(t, "web", "5s"), IfMatch: "999"}, false,
			[]scheduled{{"api", 30 * time.Second}, {"web", time.Minute}}},
		{"delete of a missing policy", store.DeletePolicy{ID: "nope"}, false,
			[]scheduled{{"api", 30 * time.Second}, {"web", time.Minute}}},
		{"delete", store.DeletePolicy{ID: "api"}, true,
			[]scheduled{{"web", time.Minute}}},
		{"restore", nil, true,
			[]scheduled{{"web", time.Minute}}},
	}
	prev := f.schedule()
	if len(prev.list) != 0 {
		t.Fatalf("empty FSM schedules %v", prev.list)
	}
	for i, st := range steps {
		if st.cmd == nil {
			b, err := f.dump()
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
				t.Fatal(err)
			}
		} else {
			data, err := store.Encode(st.cmd)
			if err != nil {
				t.Fatal(err)
			}
			f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
		}
		got := f.schedule()
		if rebuilt := got != prev; rebuilt != st.rebuilt {
			t.Errorf("%s: rebuilt = %v, want %v", st.name, rebuilt, st.rebuilt)
		}
		list := slices.SortedFunc(slices.Values(got.list), func(a, b scheduled) int { return strings.Compare(a.ID, b.ID) })
		if !slices.Equal(list, st.want) {
			t.Errorf("%s: schedule %v, want %v", st.name, list, st.want)
		}
		wantRemoval := st.name == "delete" || st.name == "restore"
		if removed := got.removals != prev.removals; removed != wantRemoval {
			t.Errorf("%s: counted as a removal = %v, want %v", st.name, removed, wantRemoval)
		}
		if again := f.schedule(); again != got {
			t.Errorf("%s: a second read rebuilt the schedule", st.name)
		}
		prev = got
	}
}

// TestForDue checks which policies a tick dispatches: those whose last
// evaluation is at least their interval old, earliest due first (or all
// in id order, when forced); and that a policy deleted since the last tick is dispatched no
// more and forgotten by the term (with any in-doubt intent it was held by).
func TestForDue(t *testing.T) {
	now := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		last    map[string]time.Duration // age of each policy's last evaluation this term
		force   bool
		deleted string
		want    []string
	}{
		{"none due", map[string]time.Duration{"a": 5 * time.Second, "b": 29 * time.Second, "c": 59 * time.Second}, false, "", nil},
		{"interval reached, earliest first", map[string]time.Duration{"a": 10 * time.Second, "b": 31 * time.Second, "c": 59 * time.Second}, false, "", []string{"b", "a"}},
		{"never evaluated", map[string]time.Duration{"a": time.Second}, false, "", []string{"b", "c"}},
		{"forced", map[string]time.Duration{"a": 0, "b": 0, "c": 0}, true, "", []string{"a", "b", "c"}},
		{"deleted", map[string]time.Duration{"a": time.Minute, "b": time.Minute, "c": time.Minute}, false, "b", []string{"a", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM(10)
			for i, p := range []struct{ id, every string }{{"c", "1m"}, {"a", "10s"}, {"b", "30s"}} {
				applyCmd(t, f, uint64(i+1), store.PutPolicy{Policy: twoMetricPolicy(t, p.id, p.every)})
			}
			n := &Node{fsm: f}
			m, err := newNodeMetrics(prometheus.NewRegistry(), n)
			if err != nil {
				t.Fatal(err)
			}
			n.metrics = m
			l := &loop{n: n, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}, wakes: map[string]wake{}}
			for id, age := range tc.last {
				l.last[id] = now.Add(-age)
				l.held[id] = 7 // each was held by an in-doubt intent this term, with a wake-up at its settle time
				l.wakes[id] = wake{intent: 7, timer: time.AfterFunc(time.Hour, func() {})}
			}
			l.forDue(context.Background(), now.Add(-time.Hour), false, func(string) {}) // an earlier tick lists the set
			if tc.deleted != "" {
				applyCmd(t, f, 10, store.DeletePolicy{ID: tc.deleted})
			}
			var got []string
			l.forDue(context.Background(), now, tc.force, func(id string) { got = append(got, id) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("dispatched %v, want %v", got, tc.want)
			}
			if _, kept := l.last[tc.deleted]; tc.deleted != "" && kept {
				t.Errorf("the term still remembers deleted policy %q", tc.deleted)
			}
			if _, kept := l.held[tc.deleted]; tc.deleted != "" && kept {
				t.Errorf("the term still remembers the in-doubt intent of deleted policy %q", tc.deleted)
			}
			for id := range tc.last {
				if _, kept := l.held[id]; !kept && id != tc.deleted {
					t.Errorf("the term forgot the in-doubt intent of live policy %q", id)
				}
				_, woken := l.wakes[id]
				if woken == (id == tc.deleted) {
					t.Errorf("policy %q (deleted %v) has a pending wake-up: %v", id, id == tc.deleted, woken)
				}
			}
			for _, w := range l.wakes {
				w.timer.Stop()
			}
		})
	}
}

// TestForDueAcrossTicks follows one policy evaluated every 10 s through
// ticks: a dispatch whose evaluation is not recorded (it failed, or is
// still running) is dispatched again at the next tick; an evaluation run
// early (fresh samples) moves the next due time; a new interval counts
// from the last evaluation.
func TestForDueAcrossTicks(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	f := NewFSM(10)
	applyCmd(t, f, 1, store.PutPolicy{Policy: twoMetricPolicy(t, "web", "10s")})
	l := &loop{n: &Node{fsm: f}, busy: map[string]bool{}, last: map[string]time.Time{"web": t0}, held: map[string]uint64{}}
	steps := []struct {
		name     string
		at       time.Duration // the tick's time after t0
		before   func()        // what happens before the tick
		want     bool          // dispatched
		evaluate bool          // the dispatched evaluation is recorded at the tick's time
	}{
		{"not due", 9 * time.Second, nil, false, false},
		{"due, evaluation fails", 10 * time.Second, nil, true, false},
		{"again at the next tick", 10250 * time.Millisecond, nil, true, true},
		{"evaluated 250 ms ago", 10500 * time.Millisecond, nil, false, false},
		{"evaluated early for fresh samples", 15 * time.Second, func() { l.last["web"] = t0.Add(15 * time.Second) }, false, false},
		{"not due at the old due time", 20250 * time.Millisecond, nil, false, false},
		{"due 10 s after the early evaluation", 25 * time.Second, nil, true, true},
		{"interval now 1m", 26 * time.Second, func() { applyCmd(t, f, 2, store.PutPolicy{Policy: twoMetricPolicy(t, "web", "1m")}) }, false, false},
		{"not due at 10 s", 35 * time.Second, nil, false, false},
		{"due at 1m", 85 * time.Second, nil, true, true},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		now := t0.Add(st.at)
		got := false
		l.forDue(context.Background(), now, false, func(id string) {
			got = true
			if st.evaluate {
				l.last[id] = now
			}
		})
		if got != st.want {
			t.Errorf("%s (t0+%v): dispatched = %v, want %v", st.name, st.at, got, st.want)
		}
	}
}

// TestForDueAfterForcedTick: a new term's forced tick dispatches every
// policy; the next tick dispatches again only those whose evaluation was
// not recorded, and the others come due an interval after theirs.
func TestForDueAfterForcedTick(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	f := NewFSM(10)
	for i, id := range []string{"c", "a", "b"} {
		applyCmd(t, f, uint64(i+1), store.PutPolicy{Policy: twoMetricPolicy(t, id, "10s")})
	}
	l := &loop{n: &Node{fsm: f}, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}}
	ticks := []struct {
		at     time.Duration
		force  bool
		record []string // evaluations recorded at this tick
		want   []string
	}{
		{0, true, []string{"a", "b"}, []string{"a", "b", "c"}},
		{250 * time.Millisecond, false, []string{"c"}, []string{"c"}},
		{500 * time.Millisecond, false, nil, nil},
		{10 * time.Second, false, []string{"a", "b"}, []string{"a", "b"}},
		{10250 * time.Millisecond, false, []string{"c"}, []string{"c"}},
	}
	for _, tk := range ticks {
		now := t0.Add(tk.at)
		var got []string
		l.forDue(context.Background(), now, tk.force, func(id string) { got = append(got, id) })
		if !slices.Equal(got, tk.want) {
			t.Errorf("tick at t0+%v: dispatched %v, want %v", tk.at, got, tk.want)
		}
		for _, id := range tk.record {
			l.last[id] = now
		}
	}
}
