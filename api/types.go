// Package api is Capstan's REST API: request and response types, the HTTP
// handlers, forwarding of writes to the Raft leader, and the client the CLI
// uses. Handlers talk to a narrow Backend declared here; the control plane
// implements it.
package api

import (
	"context"
	"errors"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// Backend is what the handlers need from the control plane. Writes must
// return only after Raft has committed them on a quorum. Implementations
// return the sentinel errors below (wrapped) so handlers can map them to
// status codes with errors.Is; a *policy.ValidationError maps to 400 with
// its field list.
type Backend interface {
	// PutPolicy creates or replaces a policy. ifMatch is "" for an
	// unconditional write, or the version (ETag value without quotes) the
	// caller last read; "*" requires that the policy exist, "0" that it not.
	PutPolicy(ctx context.Context, p policy.Policy, ifMatch string) (PolicyRecord, error)
	// DeletePolicy removes a policy, with the same ifMatch rules.
	DeletePolicy(ctx context.Context, id, ifMatch string) error
	// GetPolicy returns one policy.
	GetPolicy(ctx context.Context, id string) (PolicyRecord, error)
	// ListPolicies returns every policy, sorted by id.
	ListPolicies(ctx context.Context) ([]PolicyRecord, error)
	// Decisions returns up to limit of the policy's most recent decisions, newest first.
	Decisions(ctx context.Context, id string, limit int) ([]policy.Record, error)
	// PolicyStatus returns the policy's live state.
	PolicyStatus(ctx context.Context, id string) (PolicyStatus, error)
	// PushMetrics validates and commits samples; it reports per sample.
	PushMetrics(ctx context.Context, samples []Sample) (PushResult, error)
	// Cluster describes the Raft cluster as this node sees it.
	Cluster(ctx context.Context) (ClusterInfo, error)
	// Join adds a voter.
	Join(ctx context.Context, req JoinRequest) error
	// RemoveMember removes a server from the cluster.
	RemoveMember(ctx context.Context, id string) error
	// Ready returns nil when a leader is known and this node has applied
	// what the leader committed; otherwise an error saying why not.
	Ready(ctx context.Context) error
	// Leader reports whether this node leads and, if not, the leader's
	// HTTP address, waiting up to the given time for an election to finish.
	// It returns ErrNoLeader when none appears in time.
	Leader(ctx context.Context, wait time.Duration) (self bool, httpAddr string, err error)
	// TokenBackend keeps the tokens created through the API.
	TokenBackend
	// AuditBackend keeps the audit log of API writes.
	AuditBackend
	// HistoryReader serves the replicated metric windows.
	HistoryReader
}

// Sentinel errors a Backend returns; the handlers map them to HTTP statuses.
var (
	// ErrNotFound maps to 404.
	ErrNotFound = errors.New("not found")
	// ErrPrecondition maps to 412: If-Match did not match the current version.
	ErrPrecondition = errors.New("precondition failed")
	// ErrNoLeader maps to 503: no leader could be reached in time.
	ErrNoLeader = errors.New("no leader")
	// ErrOutcomeUnknown maps to 503 outcome_unknown: the write was handed
	// to Raft (or sent to the leader) and leadership was lost or the
	// answer did not come in time, so it may or may not have committed.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrBadRequest maps to 400 for input problems that are not policy field errors.
	ErrBadRequest = errors.New("bad request")
	// ErrConflict maps to 409, e.g. joining a node id that exists with another address.
	ErrConflict = errors.New("conflict")
)

// PolicyRecord is a stored policy with its version. The version is the Raft
// index of the write that produced it; the API sends it as the ETag.
type PolicyRecord struct {
	Policy    policy.Policy `json:"policy"`
	Version   uint64        `json:"version"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// PolicyStatus is a policy's live state.
type PolicyStatus struct {
	ID string `json:"id"`
	// Desired and Ready are the group's sizes at the last evaluation.
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	// LastEvaluation is when the leader last evaluated the policy.
	LastEvaluation *time.Time `json:"last_evaluation,omitempty"`
	// ScaleOutCooldownUntil and ScaleInCooldownUntil are when the cooldowns end (absent when not running).
	ScaleOutCooldownUntil *time.Time `json:"scale_out_cooldown_until,omitempty"`
	ScaleInCooldownUntil  *time.Time `json:"scale_in_cooldown_until,omitempty"`
	// LastDecision is the most recent recorded decision.
	LastDecision *policy.Record `json:"last_decision,omitempty"`
	// Metrics are the latest sample of each metric.
	Metrics []MetricStatus `json:"metrics"`
	// PendingIntent is a scaling action committed but not yet confirmed.
	PendingIntent *Intent `json:"pending_intent,omitempty"`
}

// MetricStatus is a metric's latest sample and forecast.
type MetricStatus struct {
	// Name is the metric's name in the policy.
	Name string `json:"name"`
	// Value and Time are its latest sample's; absent before the first.
	Value *float64   `json:"value,omitempty"`
	Time  *time.Time `json:"time,omitempty"`
	// Forecast and Skill are the metric's forecast and forecast skill as
	// the policy's last recorded decision gives them; absent when it has
	// none.
	Forecast *float64 `json:"forecast,omitempty"`
	Skill    *float64 `json:"skill,omitempty"`
}

// Intent is a scaling action the leader committed before acting on it.
type Intent struct {
	ID     uint64    `json:"id"`
	Policy string    `json:"policy"`
	Group  string    `json:"group"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
	Term   uint64    `json:"term"`
	Node   string    `json:"node"`
	At     time.Time `json:"at"`
	// SendBy is when the driver stops sending requests for it, and
	// InDoubtUntil when any request it sent has taken effect or never
	// will (docs/fencing.md); absent for intents older than fencing.
	SendBy       *time.Time `json:"send_by,omitempty"`
	InDoubtUntil *time.Time `json:"in_doubt_until,omitempty"`
}

// Sample is one pushed metric sample.
type Sample struct {
	Policy string    `json:"policy"`
	Metric string    `json:"metric"`
	Time   time.Time `json:"time"`
	Value  float64   `json:"value"`
	// Series identifies the remote-write series a sample came from when a
	// source's label matcher routed it (see remotewrite.Sample); 0 for
	// pushed samples and for series labelled capstan_policy and
	// capstan_metric. It is not part of the JSON push format.
	Series uint64 `json:"-"`
}

// PushRequest is the body of POST /v1/metrics.
type PushRequest struct {
	Samples []Sample `json:"samples"`
}

// PushResult reports which samples were accepted.
type PushResult struct {
	Accepted int            `json:"accepted"`
	Rejected []RejectedItem `json:"rejected,omitempty"`
}

// RejectedItem names a rejected sample by its index in the request and says why.
type RejectedItem struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// ClusterInfo describes the cluster as one node sees it.
type ClusterInfo struct {
	// Node is this node's id and Role its Raft state (leader, follower, candidate).
	Node string `json:"node"`
	Role string `json:"role"`
	// NodeRaftAddr and NodeHTTPAddr are this node's own addresses; fresh
	// nodes read them from their peers to bootstrap a cluster.
	NodeRaftAddr string `json:"node_raft_addr"`
	NodeHTTPAddr string `json:"node_http_addr"`
	// Version is the Capstan version this node runs.
	Version string `json:"version,omitempty"`
	// Bootstrapped is false while this node has no Raft state yet.
	Bootstrapped bool `json:"bootstrapped"`
	// LeaderID, LeaderRaftAddr and LeaderHTTPAddr name the current leader
	// (empty when unknown).
	LeaderID       string `json:"leader_id"`
	LeaderRaftAddr string `json:"leader_raft_addr"`
	LeaderHTTPAddr string `json:"leader_http_addr"`
	// Term is this node's current Raft term, CommitIndex its commit index
	// and AppliedIndex what its state machine has applied.
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// Members are the servers of the Raft configuration.
	Members []Member `json:"members"`
}

// Member is one Raft server.
type Member struct {
	// ID is the server's node id, RaftAddr and HTTPAddr its addresses
	// (HTTPAddr empty until the node has registered it).
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	// Suffrage is Raft's (Voter, Nonvoter or Staging), and Role leader,
	// follower or nonvoter.
	Suffrage string `json:"suffrage"`
	Role     string `json:"role"`
	// Health sums the fields below up: ok, degraded (Raft contact or API
	// failing), down (both failing) or unknown (nothing known yet).
	Health string `json:"health,omitempty"`
	// RaftContact is whether the leader's heartbeats reach the member, from
	// Raft's own observations: ok, failing, leader (the member leads) or
	// unknown (no leader, or its view not fetched yet). A follower shows
	// the leader's view as of its last probe of the leader.
	RaftContact string `json:"raft_contact,omitempty"`
	// LastContactSeconds is how long ago the leader last heard from the
	// member: 0 while heartbeats succeed; absent when unknown.
	LastContactSeconds *float64 `json:"last_contact_seconds,omitempty"`
	// AppliedIndex is the member's applied Raft index at its last probe,
	// and AppliedLag how far it is behind the highest commit index known
	// (absent when the member's API does not answer).
	AppliedIndex uint64  `json:"applied_index,omitempty"`
	AppliedLag   *uint64 `json:"applied_lag,omitempty"`
	// API is whether the member's API answered the last probe of this
	// node (reachable, unreachable, unknown), APIError why not, and
	// APICheckedAt when it was probed.
	API          string    `json:"api,omitempty"`
	APIError     string    `json:"api_error,omitempty"`
	APICheckedAt time.Time `json:"api_checked_at,omitzero"`
}

// JoinRequest is the body of POST /v1/cluster/join.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// ErrorBody is the one error shape every endpoint returns.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error: a stable code, a message, and the fields
// at fault for validation errors.
type ErrorDetail struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Fields  []policy.FieldError `json:"fields,omitempty"`
}
