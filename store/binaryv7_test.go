package store

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// testdata/binary-v7 holds the binary-v6 log written in VersionBatched and
// a 25th entry, an evaluations entry (a pacing-only state, a decision
// record, and a policy that does not exist); and snapshot.bin, the
// snapshot of the state they leave, which entry version 7's servers write
// in version 6. Written by the code of entry version 7, before a policy
// could set its history step (entry and snapshot version 8).
const binaryV7Dir = "testdata/binary-v7"

// TestVersion7StillReplays: version-7 entries decode to the state the
// version-6 log gives and then the batch's; the snapshot agrees; each
// entry written back in version 7 has the old code's bytes, the state
// written as entry version 7's snapshot is the old code's snapshot, and
// the log re-encoded in the current version replays to the same state.
func TestVersion7StillReplays(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(binaryV7Dir, "log", "*.bin"))
	if err != nil || len(files) != 25 {
		t.Fatalf("%d files, %v", len(files), err)
	}
	slices.Sort(files)
	var entries [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != VersionBatched {
			t.Fatalf("%s is version %d", f, b[1])
		}
		entries = append(entries, b)
	}
	snap, err := os.ReadFile(filepath.Join(binaryV7Dir, "snapshot.bin"))
	if err != nil {
		t.Fatal(err)
	}
	fromLog := replay(t, entries)
	fromSnap, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromLog, fromSnap) {
		t.Fatal("the version-7 log and snapshot give different states")
	}
	extendsFixture(t, entries, binaryV6Dir, 24, VersionBudget)
	web := fromLog.Policies["web"]
	if web.Desired != 5 || web.Ready != 5 || web.Decisions.At(web.Decisions.Len()-1).Action != "hold" || web.Sizes != nil {
		t.Fatalf("after the batch: desired %d ready %d, sizes %v", web.Desired, web.Ready, web.Sizes)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionBatched)
}
