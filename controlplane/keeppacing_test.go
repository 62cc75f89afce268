package controlplane

import (
	"reflect"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestKeepPacingSurvivesEvaluate: the state the leader keeps for a busy
// group or a failed resize is the state from before Evaluate, although
// Evaluate prunes and appends to its input's lists in place (without the
// copy, the kept rate-limit history held a duplicated change).
func TestKeepPacingSurvivesEvaluate(t *testing.T) {
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"g"},"min":1,"max":50,
"metrics":[{"name":"rps","type":"request_rate","target":10}],
"scale_out":{"max_step":{"instances":10,"period":"10m"}},
"scale_in":{"stabilization":"5m","max_step":{"instances":2,"period":"10m"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	s := policy.State{
		// The first two fall out of the 10-minute rate-limit period and
		// the 5-minute window at now: Evaluate prunes them in place.
		Changes: []policy.Change{{At: t0, From: 2, To: 4}, {At: t0.Add(30 * time.Minute), From: 4, To: 6},
			{At: now.Add(-2 * time.Minute), From: 6, To: 8}},
		Recommendations: []policy.Recommendation{{At: t0, Size: 9}, {At: now.Add(-10 * time.Minute), Size: 8},
			{At: now.Add(-time.Minute), Size: 7}},
		Reversals: []time.Time{t0, now.Add(-3 * time.Minute)},
	}
	want := policy.State{
		Changes:         append([]policy.Change(nil), s.Changes...),
		Recommendations: append([]policy.Recommendation(nil), s.Recommendations...),
		Reversals:       append([]time.Time(nil), s.Reversals...),
	}
	in := policy.Inputs{Current: 8, Ready: 8}
	in.Metrics[0] = policy.Sample{Time: now, Value: 200, Present: true}

	kept := keepPacing(s)
	d := policy.Evaluate(p, in, s, now)
	if reflect.DeepEqual(d.Next.Changes, want.Changes) && reflect.DeepEqual(d.Next.Recommendations, want.Recommendations) {
		t.Fatal("Evaluate changed neither list: the test does not exercise the in-place pruning")
	}
	for name, pair := range map[string][2]any{
		"changes":         {kept.Changes, want.Changes},
		"recommendations": {kept.Recommendations, want.Recommendations},
		"reversals":       {kept.Reversals, want.Reversals},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("kept %s = %+v after Evaluate, want the state from before it: %+v", name, pair[0], pair[1])
		}
	}
}

// TestCountActionLeavesInputUnchanged: settle counts an applied intent
// into the state the term kept, which latestState hands out without a
// copy, and may then hold the policy without keeping a new state; the
// kept state must come out as it went in, whatever room its list had.
func TestCountActionLeavesInputUnchanged(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	changes := []policy.Change{{At: t0, From: 2, To: 4}, {At: t0.Add(2 * time.Minute), From: 4, To: 6}}
	for _, tc := range []struct {
		name  string
		spare int
		in    store.Intent
	}{
		{"appended last, no room", 0, store.Intent{At: t0.Add(3 * time.Minute), From: 6, To: 8}},
		{"appended last, room", 4, store.Intent{At: t0.Add(3 * time.Minute), From: 6, To: 8}},
		{"sorted to the front, room", 4, store.Intent{At: t0.Add(-time.Minute), From: 1, To: 2}},
		{"sorted between, room", 4, store.Intent{At: t0.Add(time.Minute), From: 4, To: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept := policy.State{Changes: append(make([]policy.Change, 0, len(changes)+tc.spare), changes...)}
			s := kept
			countAction(&s, tc.in)
			if len(s.Changes) != len(changes)+1 {
				t.Fatalf("counted state has %d changes, want %d", len(s.Changes), len(changes)+1)
			}
			if !reflect.DeepEqual(kept.Changes, changes) || !kept.LastScaleOut.IsZero() || !kept.LastScaleIn.IsZero() {
				t.Errorf("kept state changed by countAction: %+v, want changes %+v", kept, changes)
			}
		})
	}
}
