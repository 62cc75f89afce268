package store

import (
	"bytes"
	"reflect"
	"testing"
)

// testdata/binary-v4 holds the binary-v3 log written in VersionDecisions
// and a 22nd entry, an evaluation whose decision record sets every field
// version 4 holds (a schedule bound, the scale-in rule, reversals, damping,
// the schedule, the hourly cost, a metric's forecast upper bound); and
// snapshot.bin, the version-4 snapshot of the state they leave. Written
// before decisions carried their group age (entry and snapshot version 5).
const binaryV4Dir = "testdata/binary-v4"

func binaryV4(t *testing.T) (entries [][]byte, snapshot []byte) {
	t.Helper()
	return binaryFixture(t, binaryV4Dir, 22, VersionDecisions)
}

// TestVersion4StillReplays: version-4 entries and snapshots decode to the
// same state, their first 21 entries to the state the version-3 log gives,
// the full decision record with no group age; each entry written back in
// version 4 has the old code's bytes, the state written as a version-4
// snapshot is the old code's snapshot, and the log re-encoded in the
// current version replays to the same state.
func TestVersion4StillReplays(t *testing.T) {
	entries, snap := binaryV4(t)
	fromLog := replay(t, entries)
	fromSnap, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromLog, fromSnap) {
		t.Fatal("the version-4 log and snapshot give different states")
	}
	v3, _ := binaryV3(t)
	if !reflect.DeepEqual(replay(t, entries[:21]), replay(t, v3)) {
		t.Fatal("the version-4 log gives another state than the version-3 log")
	}
	ds := fromLog.Policies["web"].Decisions.Records()
	last := ds[len(ds)-1]
	if last.Schedule != "business-hours" || last.Metrics[0].Upper == nil || last.GroupAge != 0 {
		t.Fatalf("the version-4 decision record: %+v", last)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionDecisions)
}
