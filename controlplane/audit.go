package controlplane

import (
	"context"
	"net/http"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/store"
)

// DefaultMaxAuditEntries is how many audit entries the log keeps when the
// agent's --max-audit-entries is not set.
const DefaultMaxAuditEntries = store.DefaultMaxAuditEntries

// Defaults of the audit log's flood rules (store's auditRetention):
// refusals of one token from one source are folded together over a
// minute, and one token adds at most 20 refusal entries a minute.
const (
	DefaultAuditFoldWindow = time.Minute
	DefaultAuditPerToken   = 20
)

// defaultFlood returns the rules a leader proposes with every entry; they
// travel with it so every node applies the same.
func defaultFlood() *store.AuditFlood {
	return &store.AuditFlood{WindowSeconds: int64(DefaultAuditFoldWindow / time.Second), PerToken: DefaultAuditPerToken}
}

// auditOf returns the audit entry the API hands along with a write, ready
// to commit with it, or nil when the write is not audited.
func (n *Node) auditOf(ctx context.Context) *store.AuditCommand {
	e, ok := api.AuditFromContext(ctx)
	if !ok {
		return nil
	}
	e.Time = n.now().UTC()
	return &store.AuditCommand{Entry: auditToStore(e), Max: n.maxAudit(), Flood: defaultFlood()}
}

// auditCommitted tells the API that a write's audit entry was committed
// with it: res came out of the FSM (it has an index), whatever its outcome.
func auditCommitted(ctx context.Context, a *store.AuditCommand, res applyResult) {
	if a != nil && res.index != 0 {
		api.AuditRecorded(ctx)
	}
}

func (n *Node) maxAudit() int {
	if n.cfg.MaxAuditEntries > 0 {
		return n.cfg.MaxAuditEntries
	}
	return DefaultMaxAuditEntries
}

// Audit implements api.Backend: it commits one entry through Raft.
func (n *Node) Audit(ctx context.Context, e api.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = n.now().UTC()
	}
	return n.apply(ctx, store.AuditCommand{Entry: auditToStore(e), Max: n.maxAudit(), Flood: defaultFlood()})
}

// AuditLog implements api.Backend from this node's replica.
func (n *Node) AuditLog(_ context.Context, limit int) ([]api.AuditEntry, error) {
	return n.fsm.AuditLog(limit), nil
}

// AuditLog returns up to limit audit entries, newest first: the main log
// and the kept admin and membership changes, merged by id.
func (f *FSM) AuditLog(limit int) []api.AuditEntry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	main, kept := f.state.Audit, f.state.AuditKept
	out := make([]api.AuditEntry, 0, min(limit, len(main)+len(kept)))
	for len(out) < limit && (len(main) > 0 || len(kept) > 0) {
		if len(kept) == 0 || len(main) > 0 && main[len(main)-1].ID > kept[len(kept)-1].ID {
			out = append(out, auditFromStore(main[len(main)-1]))
			main = main[:len(main)-1]
		} else {
			out = append(out, auditFromStore(kept[len(kept)-1]))
			kept = kept[:len(kept)-1]
		}
	}
	return out
}

// auditToStore maps the API's entry to the store's, at the API's edge.
func auditToStore(e api.AuditEntry) store.AuditEntry {
	return store.AuditEntry{ID: e.ID, Time: e.Time, Node: e.Node, Token: e.Token, Role: e.Role, Source: e.Source,
		ForwardedBy: e.ForwardedBy, Via: e.Via, Method: e.Method, Path: e.Path, Action: e.Action, Target: e.Target,
		OldVersion: e.OldVersion, NewVersion: e.NewVersion, Status: e.Status, Code: e.Code, Count: e.Count, Last: e.Last}
}

// auditFromStore maps a stored entry to the API's. A policy write's entry
// holds the store's outcome, not a status (Apply knows nothing of HTTP):
// the status and code the API answered with are derived here, the same
// way the API derives them for the write's own answer.
func auditFromStore(e store.AuditEntry) api.AuditEntry {
	status, code := e.Status, e.Code
	if status == 0 {
		switch {
		case e.Outcome != store.OK:
			status, code = api.AuditStatus(outcomeError(e.Outcome, ""))
		case e.Action == api.AuditPolicyDelete:
			status = http.StatusNoContent
		default:
			status = http.StatusOK
		}
	}
	return api.AuditEntry{ID: e.ID, Time: e.Time, Node: e.Node, Token: e.Token, Role: e.Role, Source: e.Source,
		ForwardedBy: e.ForwardedBy, Via: e.Via, Method: e.Method, Path: e.Path, Action: e.Action, Target: e.Target,
		OldVersion: e.OldVersion, NewVersion: e.NewVersion, Status: status, Code: code, Count: e.Count, Last: e.Last}
}
