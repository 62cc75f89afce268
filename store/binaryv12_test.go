package store

import (
	"bytes"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// testdata/binary-v12 holds the binary-v11 log written in VersionTimeOfDay
// and two entries more: the 33rd an evaluation of policy fine whose state
// holds its forecasting model with scores by the time of day (policy
// state version 5) and whose decision record has a metric with a negative
// recent skill and a skill at the time of day that trusts it; the 34th a
// pacing commit of fine, which the stored state's models join, scores
// and all (withStoredModels re-encodes the state). snapshot.bin is the
// version-12 snapshot of the state they leave. Written by the code of
// entry version 12 (commit 1a4490d), before policy states could hold a
// season that scales with the level (policy state version 6; entry and
// snapshot version 13).
const binaryV12Dir = "testdata/binary-v12"

// TestVersion12StillReplays: version-12 entries and snapshots give the
// same state, their first 32 entries the state the version-11 log gives;
// fine's state keeps its model's scores by the time of day and the pacing
// entry's recommendation, and is policy state version 5; its newest
// record keeps the skill at the time of day; the state the old code's
// withStoredModels wrote is what this code writes for it; each entry
// written back in version 12 has the old code's bytes, the state written
// as a version-12 snapshot is the old code's snapshot, and the log
// re-encoded in the current version replays to the same state.
func TestVersion12StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV12Dir, 34, VersionTimeOfDay)
	extendsFixture(t, entries, binaryV11Dir, 32, VersionWeeklyPart)
	fine := fromLog.Policies["fine"]
	var st policy.State
	if err := st.UnmarshalBinary(fine.EvalState); err != nil {
		t.Fatalf("fine's state: %v", err)
	}
	if fine.EvalState[0] != 5 {
		t.Fatalf("fine's state is policy state version %d, want 5", fine.EvalState[0])
	}
	if len(st.Models) != 1 || st.Models[0].Model.Week.Slots == nil || st.Models[0].Scored != 13 || st.Models[0].Model.Ref != 0 {
		t.Fatalf("fine's state lost its model: %+v", st.Models)
	}
	if sl := st.Models[0].Slots[23]; sl != (policy.SlotScore{Forecast: 11.5, Naive: 24, Scored: 33}) {
		t.Fatalf("fine's model's scores at 23:00: %+v", sl)
	}
	if len(st.Recommendations) != 3 || st.Recommendations[2].Size != 3 {
		t.Fatalf("fine's state lost the pacing entry's recommendations: %+v", st.Recommendations)
	}
	if b, err := st.MarshalBinary(); err != nil || !bytes.Equal(b, fine.EvalState) {
		t.Fatalf("fine's state re-encoded: %d bytes, %v; want the old code's %d", len(b), err, len(fine.EvalState))
	}
	ds := fine.Decisions.Records()
	if len(ds) != 3 || len(ds[2].Metrics) != 1 {
		t.Fatalf("fine's decision records: %+v", ds)
	}
	if m := ds[2].Metrics[0]; m.SlotSkill == nil || *m.SlotSkill != 0.625 || m.Skill == nil || *m.Skill != -0.25 || !m.Trusted {
		t.Fatalf("fine's newest record's metric: %+v", m)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionTimeOfDay)
}
