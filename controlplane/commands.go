package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// CommandType is the leading byte of every Raft log entry Capstan writes.
type CommandType uint8

// The commands. Values are persisted in the Raft log: never renumber.
const (
	// CmdPutPolicy creates or replaces a policy.
	CmdPutPolicy CommandType = 1
	// CmdDeletePolicy removes a policy and everything kept for it.
	CmdDeletePolicy CommandType = 2
	// CmdIntent records a scaling action before the leader performs it.
	CmdIntent CommandType = 3
	// CmdResult records the outcome of an intent.
	CmdResult CommandType = 4
	// CmdEvaluated records a policy's new state and, when the evaluation
	// proposed a change, its decision record.
	CmdEvaluated CommandType = 5
	// CmdSamples records pushed metric samples.
	CmdSamples CommandType = 6
	// CmdRegisterNode records a node's HTTP address for forwarding.
	CmdRegisterNode CommandType = 7
	// CmdBuckets records a batch of pushed samples pre-aggregated by the
	// leader: the newest sample of each metric, and one partial aggregate
	// per history bucket instead of every sample.
	CmdBuckets CommandType = 8
)

// commandVersion is the second byte of every entry. A node refuses a version
// it does not know instead of guessing at its meaning.
const commandVersion = 1

// ErrUnknownCommand is how a node refuses an entry it cannot understand.
var ErrUnknownCommand = errors.New("controlplane: unknown command")

// putPolicyCmd is CmdPutPolicy's payload. IfMatch follows api.Backend's
// rules; it is checked inside Apply so that the check and the write are one
// atomic step on every node.
type putPolicyCmd struct {
	Policy  policy.Policy `json:"policy"`
	IfMatch string        `json:"if_match,omitempty"`
	At      time.Time     `json:"at"`
	// Audit is the write's audit entry, committed with it (audit.go).
	Audit *auditCmd `json:"audit,omitempty"`
}

type deletePolicyCmd struct {
	ID      string `json:"id"`
	IfMatch string `json:"if_match,omitempty"`
	// Audit is the write's audit entry, committed with it (audit.go).
	Audit *auditCmd `json:"audit,omitempty"`
}

// intentCmd is CmdIntent's payload; the FSM assigns the intent its id (the
// log index).
type intentCmd struct {
	Intent api.Intent `json:"intent"`
}

type resultCmd struct {
	Policy   string    `json:"policy"`
	IntentID uint64    `json:"intent_id"`
	Outcome  string    `json:"outcome"` // applied, failed, abandoned
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// evaluatedCmd is CmdEvaluated's payload.
type evaluatedCmd struct {
	Policy string `json:"policy"`
	// PolicyVersion guards against applying an evaluation of an older
	// version of the policy after it was replaced.
	PolicyVersion uint64 `json:"policy_version"`
	// State is policy.State's binary encoding; nil keeps the stored state.
	State   []byte         `json:"state,omitempty"`
	Record  *policy.Record `json:"record,omitempty"`
	Desired int            `json:"desired"`
	Ready   int            `json:"ready"`
	At      time.Time      `json:"at"`
}

type samplesCmd struct {
	Samples []api.Sample `json:"samples"`
}

// bucketsCmd is CmdBuckets's payload.
type bucketsCmd struct {
	Latest   []api.Sample    `json:"latest"`
	Partials []metricPartial `json:"partials"`
	// Series are the newest points of the label-matched series behind
	// the partials (series.go).
	Series []seriesUpdate `json:"series,omitempty"`
}

// metricPartial is one bucket's partial aggregate for one policy metric,
// with the bucket width the leader used (a policy change in between makes
// it not match the window, and it is dropped).
type metricPartial struct {
	Policy string `json:"policy"`
	Metric string `json:"metric"`
	Step   int64  `json:"step"`
	window.Partial
}

type registerNodeCmd struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
}

// encodeCommand frames a payload as type byte, version byte, JSON.
func encodeCommand(t CommandType, payload any) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding command %d: %w", t, err)
	}
	return append([]byte{byte(t), commandVersion}, body...), nil
}

// decodeCommand splits an entry into its type and payload, refusing unknown
// versions.
func decodeCommand(data []byte) (CommandType, []byte, error) {
	if len(data) < 2 {
		return 0, nil, fmt.Errorf("%w: entry of %d bytes", ErrUnknownCommand, len(data))
	}
	if data[1] != commandVersion {
		return 0, nil, fmt.Errorf("%w: type %d version %d (this node understands version %d)", ErrUnknownCommand, data[0], data[1], commandVersion)
	}
	return CommandType(data[0]), data[2:], nil
}
