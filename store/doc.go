// Package store owns what a Capstan cluster remembers: the replicated state
// model (policies and their versions, evaluation state, pending intents,
// decision history, latest samples, metric windows and series points, API
// tokens, the audit log and the node registry), the commands that change
// it, and the versioned encodings of those commands (Raft log entries) and
// of the state (snapshots).
//
// Applying a command is a deterministic function of the command, its Raft
// index and the state: no clock, no HTTP, no map-order dependence, and an
// Outcome code instead of an error message computed elsewhere. Two nodes
// that apply the same log hold byte-identical snapshots, whatever version
// of the API layer each runs.
//
// The package imports nothing from api/, net/http or controlplane/ (a test
// checks it): the API maps its wire types to these at its edge, and the
// control plane's Raft FSM delegates here.
//
// Encodings: every log entry is a type byte, a version byte and a payload
// (registry.go). Version 1 is the JSON written before this package existed;
// it still decodes, so an upgraded node replays an old log to the same
// state (golden fixtures in testdata/legacy-v1* prove it), and it can still
// be written (EncodeVersion, WriteLegacySnapshot), byte for byte as the old
// code did, while a cluster is upgraded from that version. Version 2 is a
// compact binary encoding; 3 added the intents' fence, 4 the fields of
// the decision record that 1 to 3 dropped, 5 its group age, 6 the budget
// bound, 7 (entries only) several evaluations in one entry and an
// evaluation's state without its forecasting models, 8 a policy's history
// step and group sizes, 9 compact metric windows (float32 values; a
// sample entry and a snapshot say each window's precision, and versions 1
// to 8 are wide, float64), 10 policy states whose models may carry weekly
// adjustments, 11 each forecast's weekly part in decision records, 12
// policy states whose models may carry scores by the time of day (policy
// state version 5) and each forecast's skill at the time of day in
// decision records, 13 policy states whose models' seasons may scale
// with the level (policy state version 6) and each such season's factor
// in decision records, and 14 policy states that may carry the forecast's
// cost bound's account (policy state version 7) (registry.go). Those older binary versions can be
// written too (EncodeVersion, WriteSnapshotVersion; byte for byte as
// their code did, testdata/binary-v2 to -v13), with what they have no
// place for left out, and what they cannot express at all (version 7's
// additions) refused; the policy states, the policy package's own bytes,
// are shaped for them by the leader that commits them.
//
// Decision records are kept in their binary encoding (Decisions), the
// older ones snappy-compressed in blocks (about 150 bytes of heap a
// record, 500 one slice each), since a week fills every policy's
// history. Snapshots are either the legacy JSON document or
// a versioned, checksummed binary stream (WriteSnapshot, ReadSnapshot).
// Anything of an unknown type or version is refused with ErrUnknownCommand
// or ErrUnknownSnapshot, before any of it is applied.
//
// Snapshots do not hold up Apply: View copies only the map of policies,
// and Apply copies a policy (and the audit log) the first time it changes
// it while a View is held, its windows sharing their buckets until a
// chunk of them changes (window.Clone); once every view is released
// (Release, after the snapshot is written), Apply changes in place again
// (view.go).
//
// The Raft log and stable store stay with the control plane (raft-boltdb):
// hashicorp/raft's types reach net/http through its metrics library, which
// this package must not import.
package store
