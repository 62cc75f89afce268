package controlplane

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// TestFSMUpgradesFromLegacyFixtures: the Raft log entries and snapshots
// the previous encoding wrote (store/testdata/legacy-v1*, see the README
// there) replay and restore through this FSM to the same state, and the
// audit log the API shows from it is the one the old code showed: the
// statuses of policy writes, which the store now keeps as outcomes, come
// back the same at the edge.
func TestFSMUpgradesFromLegacyFixtures(t *testing.T) {
	for _, dir := range []string{"../store/testdata/legacy-v1", "../store/testdata/legacy-v1-flood"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(dir, "log", "*.bin"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no legacy log in %s: %v", dir, err)
			}
			slices.Sort(files)
			replayed := NewFSM(10)
			for i, file := range files {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				replayed.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
			}
			raw, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
			if err != nil {
				t.Fatal(err)
			}
			restored := NewFSM(10)
			if err := restored.Restore(io.NopCloser(bytes.NewReader(raw))); err != nil {
				t.Fatal(err)
			}
			want, _ := restored.dump()
			if got, _ := replayed.dump(); !bytes.Equal(got, want) {
				t.Fatal("the legacy log replays to another state than the legacy snapshot restores")
			}
			var doc struct {
				Audit     []api.AuditEntry `json:"audit"`
				AuditKept []api.AuditEntry `json:"audit_kept"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			old := append(doc.Audit, doc.AuditKept...)
			slices.SortFunc(old, func(a, b api.AuditEntry) int { return int(b.ID) - int(a.ID) })
			if got := restored.AuditLog(100); !reflect.DeepEqual(got, old) {
				t.Fatalf("audit log at the API\n%+v\nwant what the old code showed\n%+v", got, old)
			}
		})
	}
}
