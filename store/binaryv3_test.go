package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// testdata/binary-v3 holds the legacy-v1 log written in VersionFenced (21
// entries: the 20 legacy ones and a fenced intent left pending) and the
// version-3 snapshot of the state they leave, written before decisions
// carried every field of policy.Record.
const binaryV3Dir = "testdata/binary-v3"

func binaryV3(t *testing.T) (entries [][]byte, snapshot []byte) {
	t.Helper()
	return binaryFixture(t, binaryV3Dir, 21, VersionFenced)
}

// TestVersion3StillReplays: version-3 entries and snapshots decode to the
// state the legacy log gives (plus the fenced intent), log and snapshot
// agree, each entry written back in version 3 has the old code's bytes,
// and the log re-encoded in the current version replays to the same state.
func TestVersion3StillReplays(t *testing.T) {
	entries, snap := binaryV3(t)
	fromLog := replay(t, entries)
	fromSnap, err := ReadSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromLog, fromSnap) {
		t.Fatal("the version-3 log and snapshot give different states")
	}
	legacy := replay(t, legacyEntries(t))
	at := time.Unix(1_780_000_100, 0).UTC()
	legacy.Apply(21, PutIntent{Intent: Intent{Policy: "web", Group: "fake:web", From: 4, To: 6, Reason: "scale-out",
		Term: 5, Node: "n1", At: at, SendBy: at.Add(10 * time.Second), Settled: at.Add(40 * time.Second)}}, legacyOptions)
	if !reflect.DeepEqual(fromLog, legacy) {
		t.Fatal("the version-3 log gives another state than the legacy log and the same fenced intent")
	}
	var again [][]byte
	for i, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		if v3, err := EncodeVersion(c, VersionFenced); err != nil || !bytes.Equal(v3, data) {
			t.Fatalf("entry %d (%s) in version 3: %x, %v; want the fixture's %x", i+1, c.Type(), v3, err, data)
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
}

// TestOlderSnapshotVersionsAreTheOldCodes: written in an older binary
// version, a snapshot has the bytes the old code wrote (the frozen
// fixtures), whether the state came from that snapshot or from replaying
// the log; an unknown version is refused.
func TestOlderSnapshotVersionsAreTheOldCodes(t *testing.T) {
	v2entries, v2snap := binaryV2(t)
	v3entries, v3snap := binaryV3(t)
	tests := []struct {
		name    string
		v       uint8
		entries [][]byte
		want    []byte
	}{
		{"version 2", 2, v2entries, v2snap},
		{"version 3", 3, v3entries, v3snap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			restored, err := ReadSnapshot(bytes.NewReader(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			for name, s := range map[string]*State{"restored": restored, "replayed": replay(t, tc.entries)} {
				var b bytes.Buffer
				if err := s.WriteSnapshotVersion(&b, tc.v); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b.Bytes(), tc.want) {
					t.Errorf("%s state in version %d: %d bytes, not the fixture's %d", name, tc.v, b.Len(), len(tc.want))
				}
			}
		})
	}
	for _, v := range []uint8{0, 1, SnapshotVersion + 1} {
		if err := New().WriteSnapshotVersion(new(bytes.Buffer), v); !errors.Is(err, ErrUnknownSnapshot) {
			t.Errorf("writing binary snapshot version %d: %v, want ErrUnknownSnapshot", v, err)
		}
	}
}
