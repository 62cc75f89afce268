package store

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// testdata/binary-v2 holds four entries written in VersionBinary, before
// intents carried their fence (a policy, an intent and its result, and an
// intent left pending), and the version-2 snapshot of the state they left.
const binaryV2Dir = "testdata/binary-v2"

func binaryV2(t *testing.T) (entries [][]byte, snapshot []byte) {
	t.Helper()
	return binaryFixture(t, binaryV2Dir, 4, VersionBinary)
}

// binaryFixture reads a frozen binary fixture: n log entries, each of
// entry version v, and a snapshot of binary snapshot version v.
func binaryFixture(t *testing.T, dir string, n int, v uint8) (entries [][]byte, snapshot []byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "log", "*.bin"))
	if err != nil || len(files) != n {
		t.Fatalf("%s log: %d files, %v; want %d", dir, len(files), err, n)
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != v {
			t.Fatalf("%s is version %d, want %d", f, b[1], v)
		}
		entries = append(entries, b)
	}
	snapshot, err = os.ReadFile(filepath.Join(dir, "snapshot.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(snapshot) <= len(snapshotMagic) || snapshot[len(snapshotMagic)] != v {
		t.Fatalf("%s/snapshot.bin is not a version-%d snapshot", dir, v)
	}
	return entries, snapshot
}

// TestUnfencedEntriesStillReplay: version-2 entries and snapshots decode,
// their intents without a fence (settled at once), and give the same state
// as each other; re-encoded in the current version they replay to it too.
func TestUnfencedEntriesStillReplay(t *testing.T) {
	entries, snap := binaryV2(t)
	fromLog := replay(t, entries)
	fromSnap, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := snapshotBytes(t, fromLog), snapshotBytes(t, fromSnap); !bytes.Equal(a, b) {
		t.Fatal("the version-2 log and snapshot give different states")
	}
	pending := fromLog.Policies["web"].Pending
	if len(pending) != 1 || pending[0].ID != 4 || pending[0].To != 8 || pending[0].Term != 4 ||
		!pending[0].SendBy.IsZero() || !pending[0].Settled.IsZero() {
		t.Fatalf("pending %+v: want intent 4 (to 8, term 4) without a fence", pending)
	}
	var again [][]byte
	for _, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		// Written back in version 2, an entry has the old code's bytes.
		if v2, err := EncodeVersion(c, VersionBinary); err != nil || !bytes.Equal(v2, data) {
			t.Fatalf("%s in version 2: %x, %v; want the fixture's %x", c.Type(), v2, err, data)
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
	if a, b := snapshotBytes(t, fromLog), snapshotBytes(t, replay(t, again)); !bytes.Equal(a, b) {
		t.Fatal("the log re-encoded in the current version gives another state")
	}
}

// TestFencedIntentRoundTrips: an intent's fence survives the log entry and
// the snapshot.
func TestFencedIntentRoundTrips(t *testing.T) {
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	in := Intent{Policy: "web", Group: "fake:web", From: 2, To: 5, Term: 7, Node: "n2", At: at,
		SendBy: at.Add(10 * time.Second), Settled: at.Add(40 * time.Second)}
	b, err := Encode(PutIntent{Intent: in})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(PutIntent).Intent; !reflect.DeepEqual(got, in) {
		t.Fatalf("decoded %+v, want %+v", got, in)
	}
	entries, _ := binaryV2(t)
	s := replay(t, entries[:1])
	s.Apply(2, PutIntent{Intent: in}, legacyOptions)
	back, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID = 2
	if got := back.Policies["web"].Pending; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("after a snapshot: %+v, want %+v", got, want)
	}
}
