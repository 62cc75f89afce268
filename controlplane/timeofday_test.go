package controlplane

import (
	"bytes"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// plantScored is plantWeekly with scores by the time of day in every slot
// of the planted model; it returns the state the leader keeps.
func plantScored(t *testing.T, r *evalRig) (at time.Time, value func(time.Time) float64, kept policy.State) {
	t.Helper()
	at, value = plantWeekly(t, r)
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	k := r.l.latest["p"]
	k.state.Models[0].Slots = new(policy.SlotScores)
	for i := range k.state.Models[0].Slots {
		k.state.Models[0].Slots[i] = policy.SlotScore{Forecast: 1, Naive: 4, Scored: 30}
	}
	r.l.latest["p"] = k
	return at, value, k.state
}

// keptState is the state r's leader keeps for policy p.
func keptState(r *evalRig) policy.State {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	return r.l.latest["p"].state
}

// evaluateScored has a leader writing entry version v (its snapshots in
// the matching snapshot version) evaluate policy p once with a planted
// model scored in every slot (plantScored). It returns the rig, the state
// planted and the state committed, checked to be policy state version
// want with one model, as bytes and decoded.
func evaluateScored(t *testing.T, v uint8, want byte) (r *evalRig, planted policy.State, committed []byte, st policy.State) {
	t.Helper()
	return evaluateScoredSpec(t, v, want, weeklySpec, nil)
}

// evaluateScoredSpec is evaluateScored for the policy spec, with prepare
// (when not nil) run on the rig just before the evaluation, given the
// evaluation's time: to plant more of the leader's state, or to note the
// log's last index.
func evaluateScoredSpec(t *testing.T, v uint8, want byte, spec string, prepare func(r *evalRig, at time.Time)) (r *evalRig, planted policy.State, committed []byte, st policy.State) {
	t.Helper()
	r = newEvalRig(t, spec, func(n *Node) {
		n.cfg.WriteVersion = int(v)
		n.fsm.snapshotVersion = min(v, store.SnapshotVersion)
	})
	at, value, planted := plantScored(t, r)
	if prepare != nil {
		prepare(r, at)
	}
	r.evaluate(t, value(at))
	view, _ := r.n.fsm.view("p")
	committed = view.State
	if len(committed) == 0 || committed[0] != want {
		t.Fatalf("the committed state is policy state version %v, want %d", committed[:min(len(committed), 1)], want)
	}
	if err := st.UnmarshalBinary(committed); err != nil || len(st.Models) != 1 {
		t.Fatalf("the committed state: %+v, %v; want one model", st.Models, err)
	}
	return r, planted, committed, st
}

// snapshotHolds checks that r's node snapshots in the snapshot version of
// entry version v, and that the snapshot holds committed as p's state.
func snapshotHolds(t *testing.T, r *evalRig, v uint8, committed []byte) {
	t.Helper()
	snap, restored := snapshotRoundTrip(t, r.n.fsm)
	if want := store.SnapshotVersionFor(v); snap[len(binarySnapshotMagic)] != want {
		t.Fatalf("snapshot version %d, want %d", snap[len(binarySnapshotMagic)], want)
	}
	if rv, _ := restored.view("p"); !bytes.Equal(rv.State, committed) {
		t.Fatal("the snapshot holds another state than the one committed")
	}
}

// TestScoresByTimeOfDayOnlyInVersion12: a leader writing entry version 12
// or 13 commits a state whose model has scores by the time of day in
// policy state version 5 or later, with them (6 in version 13: the
// planted model's season scales with the level, which version 12 writes
// additive, see TestScaledSeasonOnlyInVersion13); one started with
// --raft-write-version 11 (or older) commits it in policy state version 4
// without them (servers of version 11 cannot decode version 5: one
// leading would start the policy afresh, and they would keep a later
// pacing commit without the stored models, so the replicated states would
// differ), still without the weekly adjustment below version 10. The
// state the leader keeps in memory keeps its scores. The node's snapshot,
// in the snapshot version of its write version, holds the committed
// bytes: none with scores below version 12. The leader's model is planted
// (plantScored) with scores in every slot.
func TestScoresByTimeOfDayOnlyInVersion12(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		version       uint8
		state         byte // the committed state's policy state version
		scores, weeks bool
	}{
		{"version 13 keeps the scores", store.VersionScaledSeason, 6, true, true},
		{"version 12 keeps the scores", store.VersionTimeOfDay, 5, true, true},
		{"version 11 leaves them out", store.VersionWeeklyPart, 4, false, true},
		{"version 10 leaves them out", store.VersionWeekly, 4, false, true},
		{"version 9 leaves them and the weekly adjustment out", store.VersionCompact, 4, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _, committed, st := evaluateScored(t, tc.version, tc.state)
			if got := !st.Models[0].Slots.Empty(); got != tc.scores {
				t.Fatalf("the committed model has scores by the time of day: %v, want %v", got, tc.scores)
			}
			if got := st.Models[0].Model.Week.Slots != nil; got != tc.weeks {
				t.Fatalf("the committed model has a weekly adjustment: %v, want %v", got, tc.weeks)
			}
			if keptState(r).Models[0].Slots.Empty() {
				t.Fatal("the state the leader keeps lost its scores by the time of day")
			}
			snapshotHolds(t, r, tc.version, committed)
		})
	}
}
