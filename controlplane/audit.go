package controlplane

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/capstan-io/capstan/api"
)

// CmdAudit records one audit entry on its own: a refused write, or a
// write whose change cannot carry its entry (membership, tokens). Policy
// writes carry theirs in the same entry (putPolicyCmd.Audit), so a
// committed change always has its audit entry. Persisted: never renumber.
const CmdAudit CommandType = 30

// DefaultMaxAuditEntries is how many audit entries the log keeps when the
// agent's --max-audit-entries is not set.
const DefaultMaxAuditEntries = 10_000

// Defaults of the audit log's flood rules (auditRetention): refusals of
// one token from one source are folded together over a minute, and one
// token adds at most 20 refusal entries a minute.
const (
	DefaultAuditFoldWindow = time.Minute
	DefaultAuditPerToken   = 20
)

// auditCmd is CmdAudit's payload, and the optional audit of a policy
// write.
type auditCmd struct {
	Entry api.AuditEntry `json:"entry"`
	// Max is the proposing leader's bound. It travels with each entry so
	// that every node trims its log at the same point and all logs (and
	// snapshots) stay identical, whatever each node's own flag says.
	Max int `json:"max"`
	// Flood carries the proposing leader's flood rules, for the same
	// reason; entries committed before it existed have none and apply as
	// they always did (appended, oldest dropped).
	Flood *auditFlood `json:"flood,omitempty"`
}

// auditFlood are the flood rules an entry is recorded under.
type auditFlood struct {
	WindowSeconds int64 `json:"window_s"`
	PerToken      int   `json:"per_token"`
}

// defaultFlood is the rules a leader proposes.
var defaultFlood = auditFlood{WindowSeconds: int64(DefaultAuditFoldWindow / time.Second), PerToken: DefaultAuditPerToken}

// retention is the audit retention of an entry's rules, over API entries.
func (a *auditCmd) retention() auditRetention[api.AuditEntry] {
	return auditRetention[api.AuditEntry]{Max: a.Max, Window: time.Duration(a.Flood.WindowSeconds) * time.Second,
		PerToken: a.Flood.PerToken, Facts: auditEntryFacts, Fold: foldAuditEntry}
}

// auditEntryFacts is what the retention rules read of an API entry.
func auditEntryFacts(e api.AuditEntry) auditFacts {
	source := e.Source
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	f := auditFacts{Token: e.Token, Source: source, Time: e.Time, Refusal: e.Status >= 400,
		Kind: fmt.Sprintf("%s %s %d %s", e.Action, e.Target, e.Status, e.Code)}
	switch e.Action {
	case api.AuditClusterJoin, api.AuditClusterRemove, api.AuditTokenCreate, api.AuditTokenDelete:
		f.Privileged = !f.Refusal
	}
	return f
}

// foldAuditEntry counts one more refusal, made at, into e.
func foldAuditEntry(e *api.AuditEntry, at time.Time) {
	e.Count = max(e.Count, 1) + 1
	if at.After(e.Last) {
		e.Last = at
	}
}

// auditOf returns the audit entry the API hands along with a write, ready
// to commit with it, or nil when the write is not audited.
func (n *Node) auditOf(ctx context.Context) *auditCmd {
	e, ok := api.AuditFromContext(ctx)
	if !ok {
		return nil
	}
	e.Time = n.now().UTC()
	return &auditCmd{Entry: e, Max: n.maxAudit(), Flood: &defaultFlood}
}

// auditCommitted tells the API that a write's audit entry was committed
// with it: res came out of the FSM (it has an index), whatever its error.
func auditCommitted(ctx context.Context, a *auditCmd, res applyResult) {
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
	return n.apply(ctx, CmdAudit, auditCmd{Entry: e, Max: n.maxAudit(), Flood: &defaultFlood})
}

// AuditLog implements api.Backend from this node's replica.
func (n *Node) AuditLog(_ context.Context, limit int) ([]api.AuditEntry, error) {
	return n.fsm.AuditLog(limit), nil
}

func (f *FSM) applyAudit(payload []byte, index uint64) applyResult {
	var c auditCmd
	decodePayload(payload, &c)
	f.appendAudit(&c, index, c.Entry.Status, c.Entry.Code)
	return applyResult{}
}

// auditPolicyWrite records a policy write's audit entry, when it carries
// one, with the write's outcome: the versions before and after (the same
// when the write was refused; 0 where the policy does not exist), and the
// status the API answers with. Every node computes the same from the same
// entry.
func (f *FSM) auditPolicyWrite(a *auditCmd, index, before uint64, res applyResult, okStatus int) {
	if a == nil {
		return
	}
	a.Entry.OldVersion = before
	status, code := okStatus, ""
	switch {
	case res.err != nil:
		// Refused: the version stays what it was.
		status, code = api.AuditStatus(res.err)
		a.Entry.NewVersion = before
	default:
		a.Entry.NewVersion = res.record.Version // 0 after a delete
	}
	f.appendAudit(a, index, status, code)
}

// appendAudit adds an entry under index and drops the oldest beyond the
// command's bound. Reslicing keeps appends amortized O(1): the backing
// array is copied only when append grows it.
func (f *FSM) appendAudit(a *auditCmd, index uint64, status int, code string) {
	e := a.Entry
	e.ID, e.Status, e.Code = index, status, code
	if a.Flood != nil {
		l := a.retention().Add(auditLogs[api.AuditEntry]{Main: f.data.Audit, Kept: f.data.AuditKept}, e)
		f.data.Audit, f.data.AuditKept = l.Main, l.Kept
		return
	}
	f.data.Audit = append(f.data.Audit, e)
	limit := a.Max
	if limit <= 0 {
		limit = DefaultMaxAuditEntries
	}
	if over := len(f.data.Audit) - limit; over > 0 {
		f.data.Audit = f.data.Audit[over:]
	}
}

// AuditLog returns up to limit audit entries, newest first: the main log
// and the kept admin and membership changes, merged by id.
func (f *FSM) AuditLog(limit int) []api.AuditEntry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	main, kept := f.data.Audit, f.data.AuditKept
	out := make([]api.AuditEntry, 0, min(limit, len(main)+len(kept)))
	for len(out) < limit && (len(main) > 0 || len(kept) > 0) {
		if len(kept) == 0 || len(main) > 0 && main[len(main)-1].ID > kept[len(kept)-1].ID {
			out = append(out, main[len(main)-1])
			main = main[:len(main)-1]
		} else {
			out = append(out, kept[len(kept)-1])
			kept = kept[:len(kept)-1]
		}
	}
	return out
}
