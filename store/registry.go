package store

import (
	"errors"
	"fmt"
)

// CommandType is the first byte of every Raft log entry Capstan writes.
type CommandType uint8

// The command types. Values are persisted in the Raft log: never renumber,
// never reuse. This is the one place that hands them out.
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
	// CmdSamples records pushed metric samples one by one.
	CmdSamples CommandType = 6
	// CmdRegisterNode records a node's HTTP address for forwarding.
	CmdRegisterNode CommandType = 7
	// CmdBuckets records a batch of samples pre-aggregated by the leader:
	// the newest sample of each metric, one partial aggregate per history
	// bucket, and the newest point of each label-matched series.
	CmdBuckets CommandType = 8
	// CmdEvaluations records several evaluations in one entry (a leader
	// tick's), applied in order as if each were a CmdEvaluated entry.
	// Since VersionBatched.
	CmdEvaluations CommandType = 9
	// CmdCreateToken adds an API token (its hash, never its secret).
	CmdCreateToken CommandType = 20
	// CmdDeleteToken removes an API token.
	CmdDeleteToken CommandType = 21
	// CmdAudit records one audit entry on its own (a refused write, or a
	// write whose change cannot carry its entry).
	CmdAudit CommandType = 30
)

// The command encodings, the second byte of every entry.
const (
	// VersionJSON is the JSON payload written before store/ existed. It is
	// decoded, never written: old logs replay, new entries are binary.
	VersionJSON uint8 = 1
	// VersionBinary is the compact binary payload (codec.go). It is
	// decoded, and written only by EncodeVersion (rolling upgrades),
	// since VersionFenced.
	VersionBinary uint8 = 2
	// VersionFenced is VersionBinary whose intents carry their fence
	// (Intent.SendBy and Intent.Settled); every other command is encoded
	// as in VersionBinary. It is decoded, and written only by
	// EncodeVersion (rolling upgrades), since VersionDecisions.
	VersionFenced uint8 = 3
	// VersionDecisions is VersionFenced whose decision records carry
	// every field of policy.Record and policy.MetricRecord (the scale-in
	// rule, reversals, damping, the schedule, the hourly cost, each
	// metric's forecast upper bound), which versions 1 to 3 dropped.
	VersionDecisions uint8 = 4
	// VersionGroupAge is VersionDecisions whose decision records carry
	// how old the group state they were made from was
	// (policy.Record.GroupAge), which versions 1 to 4 drop.
	VersionGroupAge uint8 = 5
	// VersionBudget is VersionGroupAge whose decision records may name
	// the budget bound (policy.LimitBudget), which versions 1 to 5 do not
	// know and refuse: written in those, it becomes the bounds bound it is
	// a form of (a cap on the size). The bytes are otherwise version 5's.
	VersionBudget uint8 = 6
	// VersionBatched is VersionBudget with two additions versions 1 to 6
	// do not know: CmdEvaluations, several evaluations in one entry, and
	// Evaluated.Pacing, a state without its forecasting models that keeps
	// the stored ones. Every other command is encoded as in VersionBudget,
	// and snapshots are unchanged (SnapshotVersion stays VersionBudget).
	VersionBatched uint8 = 7
	// VersionHistoryStep is VersionBatched whose policies may set the
	// bucket width of their history (policy.Predictive.HistoryStep),
	// which changes the shape of their replicated windows (WindowShape),
	// and whose snapshots keep the group's size history (Policy.Sizes).
	// Versions 1 to 7 have no place for either: written in those, they
	// are left out, and read from those they are zero, so an old entry or
	// snapshot replays to the windows the old code kept. A server that
	// reads no version 8 refuses the entry rather than keep other windows
	// than the servers that do. The bytes are otherwise version 7's.
	VersionHistoryStep uint8 = 8
	// VersionCompact is VersionHistoryStep whose sample entries (CmdSamples
	// and CmdBuckets) say at which precision the windows they touch keep
	// their values (Samples.Wide, Buckets.Wide), and whose snapshots say
	// it of each window: compact (float32, 5 bytes a bucket in memory)
	// unless Wide. Entries of versions 1 to 8 are wide when read, so an
	// old log replays to the float64 windows the old code kept, and a
	// window becomes compact at the first entry of version 9 that touches
	// it. Written in versions 1 to 8, Wide is left out (the entry is wide
	// when read, on every node), and a snapshot of those versions holds
	// every window wide (exactly: a float32 is a float64), as it restores.
	// The bytes are otherwise version 8's.
	VersionCompact uint8 = 9
	// VersionWeekly is VersionCompact whose policy states may hold
	// forecasting models with a weekly adjustment (the model encoding's
	// version 2, forecast.Week), which servers of version 9 and before
	// cannot decode: they would keep such a state's pacing without its
	// models (withStoredModels) where newer servers keep the models, and
	// the replicated states would differ. So a leader writing versions 1 to
	// 9 commits its states without weekly adjustments, and a server that
	// reads no version 10 refuses the entries and snapshots that may hold
	// them. The bytes are otherwise version 9's.
	VersionWeekly uint8 = 10
	// VersionWeeklyPart is VersionWeekly whose decision records carry what
	// the weekly adjustment added to each metric's forecast
	// (policy.MetricRecord.Weekly), which versions 1 to 10 have no place
	// for: written in those, it is left out (the reason text, a string,
	// still shows it), so every node decodes the same record; read from
	// those, it is absent. A server that reads no version 11 refuses the
	// entries and snapshots that may hold it. The bytes are otherwise
	// version 10's.
	VersionWeeklyPart uint8 = 11
	// VersionTimeOfDay is VersionWeeklyPart whose policy states may be
	// encoded in policy state version 5, whose models carry scores by the
	// time of day (policy.SlotScores), which servers of version 11 and
	// before cannot decode: one leading would start the policy afresh,
	// its cooldowns forgotten, and they would keep a pacing commit without
	// the stored models (withStoredModels) where newer servers keep them,
	// so the replicated states would differ. So a leader writing versions 1 to 11 commits
	// its states in policy state version 4, without those scores
	// (policy.State.MarshalBinaryV4), and a server that reads no version 12
	// refuses the entries and snapshots that may hold them. A state
	// without such scores is policy state version 4 in every version, byte
	// for byte. The bytes are otherwise version 11's.
	VersionTimeOfDay uint8 = 12
	// VersionScaledSeason is VersionTimeOfDay whose policy states may be
	// encoded in policy state version 6, whose models may have a season
	// that scales with the level (the forecast model encoding's version
	// 3, forecast.Model.Ref), which servers of version 12 and before
	// cannot decode: one leading would start the policy afresh, and they
	// would keep a pacing commit without the stored models
	// (withStoredModels) where newer servers keep them, so the replicated
	// states would differ. So a leader writing version 12 commits its
	// states with every such season made additive at today's amplitude,
	// in policy state version 5 or 4 (policy.State.MarshalBinaryV5; one
	// writing 11 or older in version 4, MarshalBinaryV4), and a server
	// that reads no version 13 refuses the entries and snapshots that may
	// hold them. A state without such seasons is policy state version 4
	// or 5 in every version from 12 on, byte for byte. Its decision
	// records also carry each metric's season factor
	// (policy.MetricRecord.SeasonScale: a byte, nine where the season
	// scales with the level), which versions 1 to 12 have no place for:
	// written in those it is left out (the reason text still names it
	// where it matters), read from those it is absent. The bytes are
	// otherwise version 12's.
	VersionScaledSeason uint8 = 13
	// VersionCostBound is VersionScaledSeason whose policy states may be
	// encoded in policy state version 7, which carries the forecast's
	// cost bound's account (policy.ExtraAccount: the instance-time
	// prediction held above the reactive rule over a trailing week, and
	// the reactive rule's own size and queue it is measured against).
	// Servers of version 13 and before cannot decode such a state: one
	// leading would start the policy afresh, and they would keep a pacing
	// commit without the stored models (withStoredModels) where newer
	// servers keep them, so the replicated states would differ. So a
	// leader writing version 13 commits its states without the account,
	// in policy state version 6 or older (policy.State.MarshalBinaryV6;
	// one writing 12 MarshalBinaryV5, 11 or older MarshalBinaryV4), and a
	// server that reads no version 14 refuses the entries and snapshots
	// that may hold it. A state with an empty account is policy state
	// version 4, 5 or 6 in every version from 13 on, byte for byte. Its
	// policies may set predictive.max_extra, which versions 1 to 13 hold
	// as the default, the zero value their JSON leaves out (policyIn; a
	// write of another bound is refused in them, priorCostBound). The
	// bytes are otherwise version 13's.
	VersionCostBound uint8 = 14
	// CurrentVersion is the version Encode writes.
	CurrentVersion = VersionCostBound
)

// commandNames names every known type; a type missing here is unknown.
var commandNames = [...]string{
	CmdPutPolicy:    "put-policy",
	CmdDeletePolicy: "delete-policy",
	CmdIntent:       "intent",
	CmdResult:       "result",
	CmdEvaluated:    "evaluated",
	CmdSamples:      "samples",
	CmdRegisterNode: "register-node",
	CmdBuckets:      "buckets",
	CmdEvaluations:  "evaluations",
	CmdCreateToken:  "create-token",
	CmdDeleteToken:  "delete-token",
	CmdAudit:        "audit",
}

// String names the command type, or says it is unknown.
func (t CommandType) String() string {
	if int(t) < len(commandNames) && commandNames[t] != "" {
		return commandNames[t]
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// Known reports whether this code understands the type.
func (t CommandType) Known() bool { return int(t) < len(commandNames) && commandNames[t] != "" }

// Errors. A node that meets ErrUnknownCommand or ErrUnknownSnapshot must
// stop rather than skip: the nodes that understood the entry would hold a
// different state.
var (
	// ErrUnknownCommand refuses an entry of a type or version this code
	// does not know, or one whose payload does not decode.
	ErrUnknownCommand = errors.New("store: unknown or malformed command")
	// ErrUnknownSnapshot refuses a snapshot of a version this code does
	// not know, or one that does not decode.
	ErrUnknownSnapshot = errors.New("store: unknown or malformed snapshot")
)
