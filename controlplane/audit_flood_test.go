package controlplane

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/store"
)

// TestFSMAuditFloodRules: entries committed with the flood rules keep the
// admin and membership changes apart from a flood of refusals, fold the
// refusals (count, first and last time), serve both parts merged newest
// first, and survive a snapshot; an entry committed without the rules (an
// old log) is appended as it always was.
func TestFSMAuditFloodRules(t *testing.T) {
	a := &applier{f: NewFSM(10)}
	at := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	record := func(e api.AuditEntry, flood *store.AuditFlood) {
		t.Helper()
		if res := a.apply(t, store.AuditCommand{Entry: auditToStore(e), Max: 5, Flood: flood}); res.failure() != nil {
			t.Fatal(res.failure())
		}
	}
	record(api.AuditEntry{Time: at, Token: "boss", Action: api.AuditTokenCreate, Target: "ci", Status: 201}, defaultFlood())
	record(api.AuditEntry{Time: at, Token: "boss", Action: api.AuditClusterJoin, Target: "n4", Status: 204}, defaultFlood())
	for i := range 100 {
		record(api.AuditEntry{Time: at.Add(time.Duration(i) * 100 * time.Millisecond), Token: "reader", Source: fmt.Sprintf("10.0.0.%d:%d", i%3, 40000+i),
			Action: api.AuditPolicyDelete, Target: "web", Status: 403, Code: "forbidden"}, defaultFlood())
	}
	got := a.f.AuditLog(100)
	var kinds []string
	total := 0
	for _, e := range got {
		kinds = append(kinds, fmt.Sprintf("%s/%d", e.Action, e.Status))
		if e.Status == 403 {
			total += max(e.Count, 1)
			if e.Count != 34 && e.Count != 33 || !e.Last.After(e.Time) {
				t.Errorf("folded refusal %+v: want 33 or 34 refusals, last after first", e)
			}
		}
	}
	want := []string{"policy.delete/403", "policy.delete/403", "policy.delete/403", "cluster.join/204", "token.create/201"}
	if !reflect.DeepEqual(kinds, want) || total != 100 {
		t.Fatalf("log %v counting %d refusals, want %v counting 100", kinds, total, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID {
			t.Fatalf("not newest first: %d before %d", got[i-1].ID, got[i].ID)
		}
	}
	if l := a.f.AuditLog(2); len(l) != 2 || l[1].Action != api.AuditPolicyDelete {
		t.Fatalf("AuditLog(2) = %+v, want the two newest", l)
	}
	_, restored := snapshotRoundTrip(t, a.f)
	if r := restored.AuditLog(100); !reflect.DeepEqual(r, got) {
		t.Fatalf("after a snapshot: %+v\nwant %+v", r, got)
	}
	// An entry of an old log: no rules, appended, bounded by its Max.
	record(api.AuditEntry{Time: at, Token: "reader", Source: "10.0.0.0:1", Action: api.AuditPolicyDelete, Target: "web", Status: 403}, nil)
	if l := a.f.AuditLog(1); l[0].Count != 0 || l[0].ID != a.index {
		t.Fatalf("an entry without rules was folded: %+v", l[0])
	}
}
