package store

import (
	"sync/atomic"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// PolicyRecord is a policy with its version: the Raft index of the write
// that last set it (the API's ETag), and when that write was served.
type PolicyRecord struct {
	Policy    policy.Policy
	Version   uint64
	UpdatedAt time.Time
}

// Intent is a scaling action committed before the leader performs it. ID is
// the Raft index of its entry; Term the proposing leader's.
//
// SendBy and Settled are its fence (docs/fencing.md): the driver sends no
// request for it after SendBy, and by Settled any request it did send has
// taken effect or never will. Until Settled the intent's outcome may be
// unknown, and the group is in doubt. Both are zero for intents committed
// before fencing existed: those are settled at once.
type Intent struct {
	ID      uint64
	Policy  string
	Group   string
	From    int
	To      int
	Reason  string
	Term    uint64
	Node    string
	At      time.Time
	SendBy  time.Time
	Settled time.Time
}

// Sample is one metric sample of a policy. Series identifies the
// remote-write series it came from when a label matcher routed it (0
// otherwise); it is not kept in the state.
type Sample struct {
	Policy string
	Metric string
	Time   time.Time
	Value  float64
	Series uint64
}

// SeriesPoint is the newest sample of one remote-write series.
type SeriesPoint struct {
	T int64 // Unix nanoseconds
	V float64
}

// SizePoint is the group's ready size from At on, as an evaluation
// committed it (the size cpu samples from then on are demand over).
type SizePoint struct {
	At    time.Time
	Ready int
}

// Token is an API-created token: its hash, never its secret.
type Token struct {
	// Name identifies the token; Role is read, write or admin.
	Name string
	Role string
	// Hash is the hash of the token's secret, which is never stored.
	Hash string
	// Rate (requests per second) and Burst override the agents' default
	// request rate limit for the token; 0 keeps the default.
	Rate  float64
	Burst int
	// Origin is OriginAPI; CreatedAt is when the token was created.
	Origin    string
	CreatedAt time.Time
}

// OriginAPI is the Origin of every token the state holds.
const OriginAPI = "api"

// AuditEntry is one audited API write. Entries relayed by the API carry
// the API's answer (Status, Code) as data; a policy write's entry is
// completed by Apply with its Outcome and versions, and the API maps that
// Outcome to its answer when it reads the entry (Status is then 0).
type AuditEntry struct {
	ID          uint64
	Time        time.Time
	Node        string
	Token       string
	Role        string
	Source      string
	ForwardedBy string
	Via         string
	Method      string
	Path        string
	Action      string
	Target      string
	OldVersion  uint64
	NewVersion  uint64
	Outcome     Outcome
	Status      int
	Code        string
	// Count is how many refusals the entry stands for when the flood
	// rules folded repeats into it (0 or 1: just itself), and Last the
	// time of the latest.
	Count int
	Last  time.Time
}

// Policy is everything the state keeps for one policy.
type Policy struct {
	Record PolicyRecord
	// EvalState is policy.State in its own binary encoding.
	EvalState []byte
	// Decisions is the bounded decision history, oldest first.
	Decisions Decisions
	// Pending are intents committed without a result yet, oldest first.
	Pending []Intent
	// Samples holds the newest sample of each metric.
	Samples map[string]Sample
	// Windows holds each metric's bucketed history.
	Windows map[string]*window.Window
	// Series holds, per metric, the newest point of each label-matched
	// remote-write series feeding it.
	Series map[string]map[uint64]SeriesPoint
	// Sizes is the group's ready size over the policy's history, oldest
	// first, one point per change: kept only for a policy with a
	// predictive.history_step, so that a replay of its history knows the
	// sizes the group had (recordSize).
	Sizes []SizePoint
	// Desired and Ready are the sizes seen at the last evaluation.
	Desired, Ready int
	// LastEvaluation is when the policy was last evaluated.
	LastEvaluation time.Time

	// epoch is the State's epoch when this copy was made: older copies
	// may be shared with a View and are copied before a change (view.go).
	epoch uint64
}

// State is the whole replicated state. Its zero value is not ready: use
// New. It is not safe for concurrent use; the control plane's FSM locks.
type State struct {
	// Policies by id.
	Policies map[string]*Policy
	// Nodes maps Raft server ids to HTTP addresses.
	Nodes map[string]string
	// Intents counts the intents ever committed.
	Intents uint64
	// Tokens are the API-created tokens by name.
	Tokens map[string]Token
	// Audit is the bounded audit log, oldest first.
	Audit []AuditEntry
	// AuditKept are the successful admin and membership changes, oldest
	// first, which only their like evict (auditretention.go).
	AuditKept []AuditEntry

	// epoch counts the Views taken (view.go); auditEpoch is the epoch at
	// which the audit logs were last copied.
	epoch, auditEpoch uint64
	// views counts the Views taken from this state and not yet released;
	// a view holds the same counter in origin. Released views share
	// nothing any more, so Apply changes in place again (view.go).
	views *atomic.Int64
	// origin is, in a view, its state's views counter; nil once released.
	origin *atomic.Int64
}

// New returns an empty state.
func New() *State {
	return &State{Policies: map[string]*Policy{}, Nodes: map[string]string{}, Tokens: map[string]Token{}}
}
