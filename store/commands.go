package store

import (
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// Command is a change to the state, as it travels through the Raft log.
type Command interface {
	// Type is the command's registry type (registry.go).
	Type() CommandType
	// sealed keeps the set of commands to this package, so Apply's switch
	// is exhaustive.
	sealed()
}

// PutPolicy creates or replaces a policy. IfMatch is checked inside Apply,
// so the check and the write are one atomic step on every node: "" always
// writes, "*" requires the policy to exist, a decimal version requires
// that version ("0": that the policy does not exist).
type PutPolicy struct {
	Policy  policy.Policy
	IfMatch string
	At      time.Time
	// Audit is the write's audit entry, committed with it; nil when the
	// write is not audited.
	Audit *AuditCommand
}

// DeletePolicy removes a policy; IfMatch as for PutPolicy.
type DeletePolicy struct {
	ID      string
	IfMatch string
	Audit   *AuditCommand
}

// PutIntent records a scaling action; Apply assigns its ID (the index).
type PutIntent struct{ Intent Intent }

// IntentResult records the outcome of an intent and clears it.
type IntentResult struct {
	Policy   string
	IntentID uint64
	Outcome  string // applied, failed, abandoned
	Error    string
	At       time.Time
}

// Evaluated records a policy's evaluation.
type Evaluated struct {
	Policy string
	// PolicyVersion refuses an evaluation of a replaced policy version.
	PolicyVersion uint64
	// State is policy.State's binary encoding; nil keeps the stored one.
	State []byte
	// Pacing is policy.State's binary encoding without its forecasting
	// models (Models nil): it replaces the stored state, whose models are
	// kept. A commit forced by a pacing change then does not carry the
	// models, most of a week-old state's bytes. Ignored when State is
	// set; VersionBatched on (EncodeVersion refuses it in older ones).
	Pacing  []byte
	Record  *policy.Record
	Desired int
	Ready   int
	At      time.Time
}

// Evaluations records several evaluations in one entry, applied in order,
// each as its Evaluated would be on its own: one refused (its policy
// changed) does not stop the others. VersionBatched on.
type Evaluations struct{ Items []Evaluated }

// Samples records samples one by one.
type Samples struct {
	Samples []Sample
	// Wide keeps the windows the samples touch at float64 precision, as
	// entry versions 1 to 8 did; otherwise they are compact (float32).
	// Read from those versions it is true (VersionCompact).
	Wide bool
}

// RegisterNode records a node's HTTP address.
type RegisterNode struct {
	ID       string
	HTTPAddr string
}

// MetricPartial is one bucket's partial aggregate of one policy metric,
// with the bucket width the leader used: a policy change in between makes
// it not match the window, and it is dropped.
type MetricPartial struct {
	Policy  string
	Metric  string
	Step    int64
	Partial window.Partial
}

// SeriesUpdate sets a series' newest point.
type SeriesUpdate struct {
	Policy string
	Metric string
	ID     uint64
	T      int64
	V      float64
}

// Buckets records a batch pre-aggregated by the leader.
type Buckets struct {
	Latest   []Sample
	Partials []MetricPartial
	Series   []SeriesUpdate
	// Wide keeps the windows the partials touch at float64 precision, as
	// entry versions 1 to 8 did; otherwise they are compact (float32).
	// Read from those versions it is true (VersionCompact).
	Wide bool
}

// CreateToken adds an API token.
type CreateToken struct{ Token Token }

// DeleteToken removes an API token.
type DeleteToken struct{ Name string }

// AuditCommand records one audit entry. Max is the proposing leader's
// bound on the log: it travels with each entry so every node trims at the
// same point, whatever its own configuration says.
type AuditCommand struct {
	Entry AuditEntry
	Max   int
	// Flood carries the proposing leader's flood rules, for the same
	// reason; entries committed before they existed have none and apply
	// as they always did (appended, oldest dropped).
	Flood *AuditFlood
}

// AuditFlood are the flood rules an audit entry is recorded under
// (auditRetention): refusals of one token, source and kind within
// WindowSeconds fold into one entry, and one token adds at most PerToken
// refusal entries in that window.
type AuditFlood struct {
	WindowSeconds int64
	PerToken      int
}

// Type implements Command.
func (PutPolicy) Type() CommandType { return CmdPutPolicy }

// Type implements Command.
func (DeletePolicy) Type() CommandType { return CmdDeletePolicy }

// Type implements Command.
func (PutIntent) Type() CommandType { return CmdIntent }

// Type implements Command.
func (IntentResult) Type() CommandType { return CmdResult }

// Type implements Command.
func (Evaluated) Type() CommandType { return CmdEvaluated }

// Type implements Command.
func (Evaluations) Type() CommandType { return CmdEvaluations }

// Type implements Command.
func (Samples) Type() CommandType { return CmdSamples }

// Type implements Command.
func (RegisterNode) Type() CommandType { return CmdRegisterNode }

// Type implements Command.
func (Buckets) Type() CommandType { return CmdBuckets }

// Type implements Command.
func (CreateToken) Type() CommandType { return CmdCreateToken }

// Type implements Command.
func (DeleteToken) Type() CommandType { return CmdDeleteToken }

// Type implements Command.
func (AuditCommand) Type() CommandType { return CmdAudit }

func (PutPolicy) sealed()    {}
func (DeletePolicy) sealed() {}
func (PutIntent) sealed()    {}
func (IntentResult) sealed() {}
func (Evaluated) sealed()    {}
func (Evaluations) sealed()  {}
func (Samples) sealed()      {}
func (RegisterNode) sealed() {}
func (Buckets) sealed()      {}
func (CreateToken) sealed()  {}
func (DeleteToken) sealed()  {}
func (AuditCommand) sealed() {}
