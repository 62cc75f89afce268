package controlplane

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/store"
)

// TestPolicySchedule applies commands one after the other and checks after
// each whether the schedule was rebuilt (a new value) and what it lists:
// only a put or delete that took effect, or a restore, rebuilds it.
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
		{"second policy, sorted by id", store.PutPolicy{Policy: twoMetricPolicy(t, "api", "30s")}, true,
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
		if !slices.Equal(got.list, st.want) {
			t.Errorf("%s: schedule %v, want %v", st.name, got.list, st.want)
		}
		if again := f.schedule(); again != got {
			t.Errorf("%s: a second read rebuilt the schedule", st.name)
		}
		prev = got
	}
}

// TestForDue checks which policies a tick dispatches: those whose last
// evaluation is at least their interval old (or all, when forced), in id
// order; and that a policy deleted since the last tick is dispatched no
// more and forgotten by the term.
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
		{"interval reached", map[string]time.Duration{"a": 10 * time.Second, "b": 31 * time.Second, "c": 59 * time.Second}, false, "", []string{"a", "b"}},
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
			l := &loop{n: n, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}}
			for id, age := range tc.last {
				l.last[id] = now.Add(-age)
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
		})
	}
}
