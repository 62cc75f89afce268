package store

import (
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// testdata/binary-v10 holds the binary-v9 log written in VersionWeekly and
// a 30th entry, an evaluation of policy fine whose state holds a
// forecasting model with a weekly adjustment and whose decision record has
// a forecast; and snapshot.bin, the version-10 snapshot of the state they
// leave. Written by the code of entry version 10 (commit 17579cf), before
// decision records carried the weekly adjustment's part of each forecast
// (entry and snapshot version 11).
const binaryV10Dir = "testdata/binary-v10"

// TestVersion10StillReplays: version-10 entries and snapshots give the
// same state, their first 29 entries the state the version-9 log gives;
// fine's state keeps its model's weekly adjustment and its record the
// forecast without a weekly part; each entry written back in version 10
// has the old code's bytes, the state written as a version-10 snapshot is
// the old code's snapshot, and the log re-encoded in the current version
// replays to the same state.
func TestVersion10StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV10Dir, 30, VersionWeekly)
	extendsFixture(t, entries, binaryV9Dir, 29, VersionCompact)
	fine := fromLog.Policies["fine"]
	var st policy.State
	if err := st.UnmarshalBinary(fine.EvalState); err != nil {
		t.Fatalf("fine's state: %v", err)
	}
	if len(st.Models) != 1 || st.Models[0].Model.Week.Slots == nil || st.Models[0].Model.Week.Slots[23] != 23*0.25 {
		t.Fatalf("fine's state lost its weekly adjustment: %+v", st.Models)
	}
	ds := fine.Decisions.Records()
	if len(ds) != 1 || len(ds[0].Metrics) != 1 || ds[0].Metrics[0].Forecast == nil || *ds[0].Metrics[0].Forecast != 130.5 {
		t.Fatalf("fine's decision records: %+v", ds)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionWeekly)
}
