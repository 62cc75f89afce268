package store

import (
	"bytes"
	"reflect"
	"testing"
)

// testdata/binary-v5 holds the binary-v4 log written in VersionGroupAge
// and a 23rd entry, an evaluation whose decision record has a group age;
// and snapshot.bin, the version-5 snapshot of the state they leave.
// Written before decision records could name the budget bound (entry and
// snapshot version 6).
const binaryV5Dir = "testdata/binary-v5"

// TestVersion5StillReplays: version-5 entries and snapshots decode to the
// same state, their first 22 entries to the state the version-4 log
// gives, the 23rd's record with its group age; each entry written back in
// version 5 has the old code's bytes, the state written as a version-5
// snapshot is the old code's snapshot, and the log re-encoded in the
// current version replays to the same state.
func TestVersion5StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV5Dir, 23, VersionGroupAge)
	extendsFixture(t, entries, binaryV4Dir, 22, VersionDecisions)
	ds := fromLog.Policies["web"].Decisions.Records()
	if last := ds[len(ds)-1]; last.GroupAge == 0 || last.Schedule != "business-hours" {
		t.Fatalf("the version-5 decision record: %+v", last)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionGroupAge)
}

// frozenReplay reads the frozen fixture in dir (n log entries of version
// v and its snapshot: binaryFixture), requires that its log and snapshot
// give the same state, and returns that state with them.
func frozenReplay(t *testing.T, dir string, n int, v uint8) (fromLog *State, entries [][]byte, snap []byte) {
	t.Helper()
	entries, snap = binaryFixture(t, dir, n, v)
	fromLog = replay(t, entries)
	fromSnap, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromLog, fromSnap) {
		t.Fatalf("the version-%d log and snapshot give different states", v)
	}
	return fromLog, entries, snap
}

// extendsFixture requires that the first n of entries give the state the
// older frozen fixture in dir (n log entries of version v) gives: a
// fixture's log is the one before it written in its own version, and
// entries of its own.
func extendsFixture(t *testing.T, entries [][]byte, dir string, n int, v uint8) {
	t.Helper()
	older, _ := binaryFixture(t, dir, n, v)
	if !reflect.DeepEqual(replay(t, entries[:n]), replay(t, older)) {
		t.Fatalf("the version-%d log gives another state than the version-%d log", entries[0][1], v)
	}
}

// writesBackAsFrozen checks a frozen fixture of version v against the
// state its log gives: each entry written back in v has the fixture's
// bytes, the state written as a version-v snapshot is the fixture's
// snapshot, and the log re-encoded in the current version replays to the
// same state.
func writesBackAsFrozen(t *testing.T, fromLog *State, entries [][]byte, snap []byte, v uint8) {
	t.Helper()
	var again [][]byte
	for i, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		if b, err := EncodeVersion(c, v); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("entry %d (%s) in version %d: %x, %v; want the fixture's %x", i+1, c.Type(), v, b, err, data)
		}
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != CurrentVersion {
			t.Fatalf("re-encoded in version %d", b[1])
		}
		again = append(again, b)
	}
	if !reflect.DeepEqual(replay(t, again), fromLog) {
		t.Fatal("the log re-encoded in the current version gives another state")
	}
	var b bytes.Buffer
	if err := fromLog.WriteSnapshotVersion(&b, v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), snap) {
		t.Fatalf("the state in version %d: %d bytes, not the fixture's %d", v, b.Len(), len(snap))
	}
}
