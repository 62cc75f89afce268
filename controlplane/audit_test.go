package controlplane

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/store"
)

func TestFSMAuditLogIsBoundedAndNewestFirst(t *testing.T) {
	a := &applier{f: NewFSM(10)}
	for i := range 5 {
		e := api.AuditEntry{Token: "ops", Action: api.AuditClusterRemove, Target: string(rune('a' + i)), Status: 403, Code: "forbidden"}
		if res := a.apply(t, store.AuditCommand{Entry: auditToStore(e), Max: 3}); res.failure() != nil {
			t.Fatal(res.failure())
		}
	}
	tests := []struct {
		limit   int
		targets string
	}{
		{10, "edc"}, // the bound dropped the two oldest
		{3, "edc"},
		{2, "ed"},
		{1, "e"},
	}
	for _, tc := range tests {
		got := a.f.AuditLog(tc.limit)
		var targets string
		for _, e := range got {
			targets += e.Target
		}
		if targets != tc.targets {
			t.Errorf("AuditLog(%d) targets %q, want %q", tc.limit, targets, tc.targets)
		}
	}
	got := a.f.AuditLog(10)
	if got[0].ID != 5 || got[2].ID != 3 || got[0].Status != 403 || got[0].Code != "forbidden" {
		t.Errorf("entries %+v: want ids 5..3 (the log index) with the status kept", got)
	}
	// A later leader with a larger bound keeps more; one with a smaller
	// bound trims at once.
	a.apply(t, store.AuditCommand{Entry: store.AuditEntry{Target: "f"}, Max: 10})
	if n := len(a.f.AuditLog(100)); n != 4 {
		t.Errorf("after a larger bound: %d entries, want 4", n)
	}
	a.apply(t, store.AuditCommand{Entry: store.AuditEntry{Target: "g"}, Max: 2})
	if got := a.f.AuditLog(100); len(got) != 2 || got[0].Target != "g" || got[1].Target != "f" {
		t.Errorf("after a smaller bound: %+v, want g, f", got)
	}
	// No bound in the command means the default.
	b := &applier{f: NewFSM(10)}
	for range DefaultMaxAuditEntries + 5 {
		b.apply(t, store.AuditCommand{Entry: store.AuditEntry{Target: "x"}})
	}
	if got := b.f.AuditLog(DefaultMaxAuditEntries * 2); len(got) != DefaultMaxAuditEntries || got[0].ID != DefaultMaxAuditEntries+5 {
		t.Errorf("default bound: %d entries, newest %d; want %d, newest %d", len(got), got[0].ID, DefaultMaxAuditEntries, DefaultMaxAuditEntries+5)
	}
}

// TestFSMPolicyWritesCarryTheirAuditEntry checks that a policy write's
// entry is recorded in the write's own log entry, with the outcome the
// FSM decided there: versions before and after, status and code.
func TestFSMPolicyWritesCarryTheirAuditEntry(t *testing.T) {
	a := &applier{f: NewFSM(10)}
	audit := func(action string) *store.AuditCommand {
		return &store.AuditCommand{Entry: store.AuditEntry{Token: "deployer", Source: "10.0.0.9:5555", Action: action, Target: "web"}, Max: 100}
	}
	tests := []struct {
		name     string
		payload  store.Command
		wantErr  error
		status   int
		code     string
		old, new uint64
	}{
		{"create", store.PutPolicy{Policy: testPolicy("web"), Audit: audit(api.AuditPolicyPut)}, nil, 200, "", 0, 1},
		{"replace", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "1", Audit: audit(api.AuditPolicyPut)}, nil, 200, "", 1, 2},
		{"stale If-Match", store.PutPolicy{Policy: testPolicy("web"), IfMatch: "1", Audit: audit(api.AuditPolicyPut)}, api.ErrPrecondition, 412, api.CodePreconditionFailed, 2, 2},
		{"stale delete", store.DeletePolicy{ID: "web", IfMatch: "1", Audit: audit(api.AuditPolicyDelete)}, api.ErrPrecondition, 412, api.CodePreconditionFailed, 2, 2},
		{"delete", store.DeletePolicy{ID: "web", IfMatch: "2", Audit: audit(api.AuditPolicyDelete)}, nil, 204, "", 2, 0},
		{"delete a missing policy", store.DeletePolicy{ID: "web", Audit: audit(api.AuditPolicyDelete)}, api.ErrNotFound, 404, api.CodeNotFound, 0, 0},
	}
	for _, tc := range tests {
		res := a.apply(t, tc.payload)
		if !errors.Is(res.failure(), tc.wantErr) || (tc.wantErr == nil && res.failure() != nil) {
			t.Fatalf("%s: error %v, want %v", tc.name, res.failure(), tc.wantErr)
		}
		got := a.f.AuditLog(1)
		if len(got) != 1 {
			t.Fatalf("%s: no audit entry", tc.name)
		}
		e := got[0]
		if e.ID != a.index || e.Status != tc.status || e.Code != tc.code || e.OldVersion != tc.old || e.NewVersion != tc.new ||
			e.Token != "deployer" || e.Source != "10.0.0.9:5555" || e.Target != "web" {
			t.Errorf("%s: entry %+v; want id %d, status %d %q, versions %d->%d", tc.name, e, a.index, tc.status, tc.code, tc.old, tc.new)
		}
	}
	// A write without an audit entry (the leader's own, or an old log's)
	// records none.
	before := len(a.f.AuditLog(100))
	a.apply(t, store.PutPolicy{Policy: testPolicy("api")})
	if after := len(a.f.AuditLog(100)); after != before {
		t.Errorf("an unaudited write added %d entries", after-before)
	}
}

// TestNodeCommitsAPolicyWriteWithItsAuditEntry goes through the Backend:
// the entry the API hands along in the context is committed with the
// write, and the API is told so (it must not record the write again).
func TestNodeCommitsAPolicyWriteWithItsAuditEntry(t *testing.T) {
	t.Parallel()
	// Set before the node runs: its leader loop reads the config.
	n, _ := startSingleNode(t, time.Hour, func(n *Node) { n.cfg.MaxAuditEntries = 2 })
	base := context.Background()
	entry := api.AuditEntry{Token: "deployer", Source: "192.0.2.1:4000", Method: "PUT", Path: "/v1/policies/web",
		Action: api.AuditPolicyPut, Target: "web"}
	ctx := api.WithAuditEntry(base, entry)
	rec, err := n.PutPolicy(ctx, testPolicy("web"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, pending := api.AuditFromContext(ctx); pending {
		t.Error("the API was not told the entry was committed with the write")
	}
	got, _ := n.AuditLog(base, 10)
	if len(got) != 1 || got[0].ID != rec.Version || got[0].NewVersion != rec.Version || got[0].Status != 200 ||
		got[0].Token != "deployer" || got[0].Time.IsZero() || got[0].Time.Location() != time.UTC {
		t.Fatalf("audit log %+v: want one entry committed with version %d", got, rec.Version)
	}
	// A refused delete still commits its entry, with the refusal.
	ctx = api.WithAuditEntry(base, api.AuditEntry{Token: "deployer", Action: api.AuditPolicyDelete, Target: "web"})
	if err := n.DeletePolicy(ctx, "web", "999"); !errors.Is(err, api.ErrPrecondition) {
		t.Fatalf("stale delete: %v", err)
	}
	if _, pending := api.AuditFromContext(ctx); pending {
		t.Error("refused delete: the API was not told the entry was committed")
	}
	// A separate entry, and the node's bound.
	if err := n.Audit(base, api.AuditEntry{Token: "viewer", Action: api.AuditTokenCreate, Status: 403, Code: "forbidden"}); err != nil {
		t.Fatal(err)
	}
	got, _ = n.AuditLog(base, 10)
	if len(got) != 2 || got[0].Token != "viewer" || got[1].Status != 412 || got[1].OldVersion != rec.Version {
		t.Fatalf("audit log %+v: want the 403, then the 412, and no more (bound 2)", got)
	}
}
