package store

import (
	"bytes"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// testdata/binary-v13 holds the binary-v12 log written in
// VersionScaledSeason and two entries more: the 35th an evaluation of
// policy fine whose state holds its forecasting model with a season that
// scales with the level (Ref 100, Mean 125: today's factor 1.25; policy
// state version 6) and whose decision record has a metric with that
// season's factor (season_scale 1.25); the 36th a pacing commit of fine,
// which the stored state's models join, scaled season and all
// (withStoredModels re-encodes the state). snapshot.bin is the version-13
// snapshot of the state they leave. Written by the code of entry version
// 13 (commit f382c3e), before policy states could carry the forecast's
// cost account (policy state version 7; entry and snapshot version 14).
const binaryV13Dir = "testdata/binary-v13"

// TestVersion13StillReplays: version-13 entries and snapshots give the
// same state, their first 34 entries the state the version-12 log gives;
// fine's state keeps its model's scaled season and the pacing entry's
// recommendation, and is policy state version 6; its newest record keeps
// the season's factor; the state the old code's withStoredModels wrote is
// what this code writes for it; each entry written back in version 13 has
// the old code's bytes, the state written as a version-13 snapshot is the
// old code's snapshot, and the log re-encoded in the current version
// replays to the same state.
func TestVersion13StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV13Dir, 36, VersionScaledSeason)
	extendsFixture(t, entries, binaryV12Dir, 34, VersionTimeOfDay)
	fine := fromLog.Policies["fine"]
	var st policy.State
	if err := st.UnmarshalBinary(fine.EvalState); err != nil {
		t.Fatalf("fine's state: %v", err)
	}
	if fine.EvalState[0] != 6 {
		t.Fatalf("fine's state is policy state version %d, want 6", fine.EvalState[0])
	}
	if len(st.Models) != 1 || st.Models[0].Model.Ref != 100 || st.Models[0].Model.Mean != 125 || st.Models[0].Slots == nil {
		t.Fatalf("fine's state lost its model's scaled season: %+v", st.Models)
	}
	if len(st.Recommendations) != 5 || st.Recommendations[4].Size != 3 || !st.Recommendations[4].At.After(st.Recommendations[3].At) {
		t.Fatalf("fine's state lost the pacing entry's recommendation: %+v", st.Recommendations)
	}
	if b, err := st.MarshalBinary(); err != nil || !bytes.Equal(b, fine.EvalState) {
		t.Fatalf("fine's state re-encoded: %d bytes, %v; want the old code's %d", len(b), err, len(fine.EvalState))
	}
	ds := fine.Decisions.Records()
	if len(ds) != 4 || len(ds[3].Metrics) != 1 {
		t.Fatalf("fine's decision records: %+v", ds)
	}
	if m := ds[3].Metrics[0]; m.SeasonScale != 1.25 || m.SlotSkill == nil || *m.SlotSkill != 0.625 || !m.Trusted {
		t.Fatalf("fine's newest record's metric: %+v", m)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionScaledSeason)
}
