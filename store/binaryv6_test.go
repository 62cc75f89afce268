package store

import (
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// testdata/binary-v6 holds the binary-v5 log written in VersionBudget and
// a 24th entry, an evaluation whose decision record names the budget
// bound; and snapshot.bin, the version-6 snapshot of the state they leave.
// Written before an entry could carry several evaluations or a state
// without its models (entry version 7).
const binaryV6Dir = "testdata/binary-v6"

// TestVersion6StillReplays: version-6 entries and snapshots decode to the
// same state, their first 23 entries to the state the version-5 log gives,
// the 24th's record bound by the budget; each entry written back in
// version 6 has the old code's bytes, the state written as a version-6
// snapshot is the old code's snapshot, and the log re-encoded in the
// current version replays to the same state.
func TestVersion6StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV6Dir, 24, VersionBudget)
	extendsFixture(t, entries, binaryV5Dir, 23, VersionGroupAge)
	ds := fromLog.Policies["web"].Decisions.Records()
	if last := ds[len(ds)-1]; last.Bound != policy.LimitBudget || last.GroupAge == 0 {
		t.Fatalf("the version-6 decision record: %+v", last)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionBudget)
}
