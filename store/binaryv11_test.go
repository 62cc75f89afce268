package store

import (
	"bytes"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// testdata/binary-v11 holds the binary-v10 log written in VersionWeeklyPart
// and two entries more: the 31st an evaluation of policy fine whose state
// holds its forecasting model with a weekly adjustment, scored, and whose
// decision record has a forecast with a weekly part; the 32nd a pacing
// commit of fine (its state without models), which the stored state's
// models join (withStoredModels re-encodes the state). snapshot.bin is the
// version-11 snapshot of the state they leave. Written by the code of
// entry version 11 (commit aeff958), before policy states could carry
// scores by the time of day (policy state version 5; entry and snapshot
// version 12).
const binaryV11Dir = "testdata/binary-v11"

// TestVersion11StillReplays: version-11 entries and snapshots give the
// same state, their first 30 entries the state the version-10 log gives;
// fine's state keeps its model's weekly adjustment and the pacing entry's
// recommendations, and its newest record the forecast's weekly part; the
// state the old code's withStoredModels wrote is what this code writes for
// it (the snapshot below holds those bytes); each entry written back in
// version 11 has the old code's bytes, the state written as a version-11
// snapshot is the old code's snapshot, and the log re-encoded in the
// current version replays to the same state.
func TestVersion11StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV11Dir, 32, VersionWeeklyPart)
	extendsFixture(t, entries, binaryV10Dir, 30, VersionWeekly)
	fine := fromLog.Policies["fine"]
	var st policy.State
	if err := st.UnmarshalBinary(fine.EvalState); err != nil {
		t.Fatalf("fine's state: %v", err)
	}
	if len(st.Models) != 1 || st.Models[0].Model.Week.Slots == nil || st.Models[0].Model.Week.Slots[23] != 23*0.25 || st.Models[0].Scored != 12 {
		t.Fatalf("fine's state lost its model: %+v", st.Models)
	}
	if len(st.Recommendations) != 2 || st.Recommendations[1].Size != 2 {
		t.Fatalf("fine's state lost the pacing entry's recommendations: %+v", st.Recommendations)
	}
	if b, err := st.MarshalBinary(); err != nil || !bytes.Equal(b, fine.EvalState) {
		t.Fatalf("fine's state re-encoded: %d bytes, %v; want the old code's %d", len(b), err, len(fine.EvalState))
	}
	ds := fine.Decisions.Records()
	if len(ds) != 2 || len(ds[1].Metrics) != 1 || ds[1].Metrics[0].Weekly == nil || *ds[1].Metrics[0].Weekly != 5.5 {
		t.Fatalf("fine's decision records: %+v", ds)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionWeeklyPart)
}
