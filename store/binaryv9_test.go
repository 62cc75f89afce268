package store

import "testing"

// testdata/binary-v9 holds the binary-v8 log written in VersionCompact (29
// entries; their sample entries say Wide, as read from version 8) and snapshot.bin,
// the version-9 snapshot of the state they leave. Written by the code of
// entry version 9 (commit 10362cc), before states could carry models with
// weekly adjustments (entry and snapshot version 10).
const binaryV9Dir = "testdata/binary-v9"

// TestVersion9StillReplays: version-9 entries and snapshots give the same
// state, with the windows wide as their sample entries say; each entry
// written back in version 9 has the old code's bytes, the state written as
// a version-9 snapshot is the old code's snapshot, and the log re-encoded
// in the current version replays to the same state.
func TestVersion9StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV9Dir, 29, VersionCompact)
	for id, p := range fromLog.Policies {
		for m, w := range p.Windows {
			if !w.Wide() {
				t.Errorf("%s/%s: a compact window from entries that say Wide", id, m)
			}
		}
	}
	if len(fromLog.Policies) == 0 || fromLog.Policies["fine"] == nil {
		t.Fatalf("policies %v: want the fixture's, fine among them", len(fromLog.Policies))
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionCompact)
}
