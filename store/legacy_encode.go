package store

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/capstan-io/capstan/policy"
)

// Writing the version-1 encoding. A cluster upgrading from the version
// before store/ runs the new servers in this mode until every server runs
// the new version (controlplane's Config.WriteVersion 1): the old servers
// can then read every entry and snapshot the new ones send them. The tests
// check that it reproduces the old code's bytes exactly.

// EncodeVersion frames a command as a log entry in the given encoding
// version (CurrentVersion, VersionFenced, VersionBinary or VersionJSON).
// The older ones leave out what their readers have no place for:
// VersionBinary and VersionJSON the intents' fence (their readers settle
// such intents at once), all three the decision fields VersionDecisions
// added, all four the decision's group age (VersionGroupAge), and a decision bound by a schedule or by anti-flapping
// (or, in versions 1 to 5, by the budget) is
// written as the bound those versions know (priorRecord). What versions 1
// to 6 cannot express at all, CmdEvaluations and Evaluated.Pacing, is
// refused (ErrUnknownCommand): their writer commits each evaluation on
// its own, with its whole state. Versions 1 to 7 leave out a policy's
// history step (policyIn), 1 to 8 a sample entry's precision
// (Samples.Wide, Buckets.Wide: their entries are wide when read), 1 to
// 10 the weekly adjustment's part of a decision's forecasts
// (policy.MetricRecord.Weekly), and 1 to 13 a policy's
// predictive.max_extra (policyIn: read from them it is the default),
// refusing a policy write whose bound is not the default (priorCostBound:
// a *policy.ValidationError naming the field).
func EncodeVersion(c Command, v uint8) ([]byte, error) {
	if err := priorCostBound(c, v); err != nil {
		return nil, fmt.Errorf("%w: %s in version %d: %w", ErrUnknownCommand, c.Type(), v, err)
	}
	if v < VersionBatched && v >= VersionJSON {
		if err := batchedOnly(c); err != nil {
			return nil, fmt.Errorf("%w: %s in version %d: %w", ErrUnknownCommand, c.Type(), v, err)
		}
	}
	switch v {
	case VersionCostBound, VersionScaledSeason, VersionTimeOfDay, VersionWeeklyPart, VersionWeekly, VersionCompact, VersionHistoryStep, VersionBatched, VersionBudget, VersionGroupAge, VersionDecisions, VersionFenced, VersionBinary:
		return encodeBinary(c, v)
	case VersionJSON:
		body, err := json.Marshal(legacyCommand(c))
		if err != nil {
			return nil, fmt.Errorf("encoding %s in version %d: %w", c.Type(), v, err)
		}
		return append([]byte{byte(c.Type()), VersionJSON}, body...), nil
	}
	return nil, fmt.Errorf("%w: this node writes versions %d to %d, not %d", ErrUnknownCommand, VersionJSON, CurrentVersion, v)
}

// batchedOnly says what in c only VersionBatched and later can encode.
func batchedOnly(c Command) error {
	switch c := c.(type) {
	case Evaluations:
		return fmt.Errorf("several evaluations in one entry need version %d", VersionBatched)
	case Evaluated:
		if c.State == nil && c.Pacing != nil {
			return fmt.Errorf("a state without its models (Pacing) needs version %d", VersionBatched)
		}
	}
	return nil
}

// legacyCommand is a command's version-1 payload.
func legacyCommand(c Command) any {
	switch c := c.(type) {
	case PutPolicy:
		return legacyPutPolicy{Policy: policyIn(c.Policy, VersionJSON), IfMatch: c.IfMatch, At: c.At, Audit: legacyAuditOf(c.Audit)}
	case DeletePolicy:
		return legacyDeletePolicy{ID: c.ID, IfMatch: c.IfMatch, Audit: legacyAuditOf(c.Audit)}
	case PutIntent:
		return legacyIntentCmd{Intent: toLegacyIntent(c.Intent)}
	case IntentResult:
		return legacyResult(c)
	case Evaluations:
		panic("store: no version-1 encoding of Evaluations") // unreachable: refused by EncodeVersion
	case Evaluated:
		if c.Record != nil {
			r := priorRecord(*c.Record)
			c.Record = &r
		}
		return legacyEvaluated{Policy: c.Policy, PolicyVersion: c.PolicyVersion, State: c.State, Record: c.Record,
			Desired: c.Desired, Ready: c.Ready, At: c.At}
	case Samples:
		return legacySamples{Samples: toLegacySamples(c.Samples)}
	case RegisterNode:
		return legacyRegisterNode(c)
	case Buckets:
		out := legacyBuckets{Latest: toLegacySamples(c.Latest)}
		for _, p := range c.Partials {
			out.Partials = append(out.Partials, legacyPartial{Policy: p.Policy, Metric: p.Metric, Step: p.Step, Partial: p.Partial})
		}
		for _, u := range c.Series {
			out.Series = append(out.Series, legacySeriesUpdate(u))
		}
		return out
	case CreateToken:
		return legacyCreateToken{Token: legacyToken(c.Token)}
	case DeleteToken:
		return legacyDeleteToken(c)
	case AuditCommand:
		return legacyAuditOf(&c)
	}
	panic(fmt.Sprintf("store: no version-1 encoding of %T", c)) // unreachable: Command is sealed
}

func legacyAuditOf(a *AuditCommand) *legacyAuditCmd {
	if a == nil {
		return nil
	}
	out := &legacyAuditCmd{Entry: legacyEntry(a.Entry, false), Max: a.Max}
	if a.Flood != nil {
		out.Flood = &legacyFlood{WindowSeconds: a.Flood.WindowSeconds, PerToken: a.Flood.PerToken}
	}
	return out
}

// legacyEntry is an entry as version 1 stored it. In a snapshot, a policy
// write's outcome becomes the status and code the old code recorded
// (legacyOutcome, reversed); in a command the entry is as the API made it.
func legacyEntry(e AuditEntry, inSnapshot bool) legacyAuditEntry {
	status, code := e.Status, e.Code
	if inSnapshot && status == 0 && (e.Action == legacyActionPolicyPut || e.Action == legacyActionPolicyDelete) {
		switch e.Outcome {
		case OK:
			status = 200
			if e.Action == legacyActionPolicyDelete {
				status = 204
			}
		case NotFound:
			status, code = 404, "not_found"
		case PreconditionFailed:
			status, code = 412, "precondition_failed"
		}
	}
	return legacyAuditEntry{ID: e.ID, Time: e.Time, Node: e.Node, Token: e.Token, Role: e.Role, Source: e.Source,
		ForwardedBy: e.ForwardedBy, Via: e.Via, Method: e.Method, Path: e.Path, Action: e.Action, Target: e.Target,
		OldVersion: e.OldVersion, NewVersion: e.NewVersion, Status: status, Code: code, Count: e.Count, Last: e.Last}
}

func toLegacySamples(in []Sample) []legacySample {
	if in == nil {
		return nil
	}
	out := make([]legacySample, 0, len(in))
	for _, s := range in {
		out = append(out, legacySample{Policy: s.Policy, Metric: s.Metric, Time: s.Time, Value: s.Value})
	}
	return out
}

// WriteLegacySnapshot writes the state as a version-1 snapshot (the JSON
// document servers before store/ read), for the rolling-upgrade mode.
func (s *State) WriteLegacySnapshot(w io.Writer) error {
	doc := legacySnapshot{Policies: make(map[string]*legacyPolicyEntry, len(s.Policies)), Nodes: s.Nodes, Intents: s.Intents}
	for id, p := range s.Policies {
		e := &legacyPolicyEntry{State: p.EvalState, Decisions: priorRecords(p.Decisions.Records()), Windows: p.Windows,
			Desired: p.Desired, Ready: p.Ready, LastEvaluation: p.LastEvaluation}
		e.Record.Policy, e.Record.Version, e.Record.UpdatedAt = policyIn(p.Record.Policy, VersionJSON), p.Record.Version, p.Record.UpdatedAt
		for _, in := range p.Pending {
			e.Pending = append(e.Pending, toLegacyIntent(in))
		}
		if len(p.Samples) > 0 {
			e.Samples = make(map[string]legacySample, len(p.Samples))
			for m, x := range p.Samples {
				e.Samples[m] = legacySample{Policy: x.Policy, Metric: x.Metric, Time: x.Time, Value: x.Value}
			}
		}
		if p.Series != nil {
			e.Series = make(map[string]map[uint64]legacySeriesPoint, len(p.Series))
			for m, pts := range p.Series {
				e.Series[m] = make(map[uint64]legacySeriesPoint, len(pts))
				for id, pt := range pts {
					e.Series[m][id] = legacySeriesPoint(pt)
				}
			}
		}
		doc.Policies[id] = e
	}
	if len(s.Tokens) > 0 {
		doc.Tokens = make(map[string]legacyToken, len(s.Tokens))
		for name, t := range s.Tokens {
			doc.Tokens[name] = legacyToken(t)
		}
	}
	for _, a := range s.Audit {
		doc.Audit = append(doc.Audit, legacyEntry(a, true))
	}
	for _, a := range s.AuditKept {
		doc.AuditKept = append(doc.AuditKept, legacyEntry(a, true))
	}
	b, err := json.Marshal(&doc)
	if err != nil {
		return fmt.Errorf("writing a version-1 snapshot: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing a version-1 snapshot: %w", err)
	}
	return nil
}

// priorRecords is a decision history as version 1 holds it (priorRecord).
func priorRecords(rs []policy.Record) []policy.Record {
	if rs == nil {
		return nil
	}
	out := make([]policy.Record, len(rs))
	for i, r := range rs {
		out[i] = priorRecord(r)
	}
	return out
}

// toLegacyIntent is an intent in version 1, which has no fence.
func toLegacyIntent(in Intent) legacyIntent {
	return legacyIntent{ID: in.ID, Policy: in.Policy, Group: in.Group, From: in.From, To: in.To, Reason: in.Reason,
		Term: in.Term, Node: in.Node, At: in.At}
}
