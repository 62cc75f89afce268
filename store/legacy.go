package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// The version-1 encoding: JSON payloads and snapshots as controlplane
// wrote them before this package existed, shaped by the API's types. These
// types mirror that JSON exactly (field names and omissions) so that old
// logs and snapshots still decode; nothing writes them any more.

type legacyAuditEntry struct {
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	Node        string    `json:"node,omitempty"`
	Token       string    `json:"token"`
	Role        string    `json:"role,omitempty"`
	Source      string    `json:"source"`
	ForwardedBy string    `json:"forwarded_by,omitempty"`
	Via         string    `json:"via,omitempty"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Action      string    `json:"action"`
	Target      string    `json:"target,omitempty"`
	OldVersion  uint64    `json:"old_version,omitempty"`
	NewVersion  uint64    `json:"new_version,omitempty"`
	Status      int       `json:"status"`
	Code        string    `json:"code,omitempty"`
	Count       int       `json:"count,omitempty"`
	Last        time.Time `json:"last,omitzero"`
}

type legacyAuditCmd struct {
	Entry legacyAuditEntry `json:"entry"`
	Max   int              `json:"max"`
	Flood *legacyFlood     `json:"flood,omitempty"`
}

type legacyFlood struct {
	WindowSeconds int64 `json:"window_s"`
	PerToken      int   `json:"per_token"`
}

type legacyIntent struct {
	ID     uint64    `json:"id"`
	Policy string    `json:"policy"`
	Group  string    `json:"group"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
	Term   uint64    `json:"term"`
	Node   string    `json:"node"`
	At     time.Time `json:"at"`
}

type legacySample struct {
	Policy string    `json:"policy"`
	Metric string    `json:"metric"`
	Time   time.Time `json:"time"`
	Value  float64   `json:"value"`
}

type legacyToken struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      string    `json:"hash"`
	Rate      float64   `json:"rate,omitempty"`
	Burst     int       `json:"burst,omitempty"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

type legacyPartial struct {
	Policy string `json:"policy"`
	Metric string `json:"metric"`
	Step   int64  `json:"step"`
	window.Partial
}

type legacySeriesUpdate struct {
	Policy string  `json:"policy"`
	Metric string  `json:"metric"`
	ID     uint64  `json:"id"`
	T      int64   `json:"t"`
	V      float64 `json:"v"`
}

// The legacy audit actions of policy writes, whose entries Apply now
// completes with an Outcome instead of an HTTP status (see legacyOutcome).
const (
	legacyActionPolicyPut    = "policy.put"
	legacyActionPolicyDelete = "policy.delete"
)

// legacyOutcome maps the status and code a version-1 node stored in a
// policy write's audit entry to the Outcome this version stores, so that an
// old snapshot and a replay of the old log give the same state. These
// numbers are the old encoding's data, not this package's answer to
// anything. Other entries keep their status and code as data.
func legacyOutcome(a legacyAuditEntry) (Outcome, bool) {
	if a.Action != legacyActionPolicyPut && a.Action != legacyActionPolicyDelete {
		return OK, false
	}
	switch {
	case a.Status == 200 && a.Code == "" && a.Action == legacyActionPolicyPut,
		a.Status == 204 && a.Code == "" && a.Action == legacyActionPolicyDelete:
		return OK, true
	case a.Status == 404 && a.Code == "not_found":
		return NotFound, true
	case a.Status == 412 && a.Code == "precondition_failed":
		return PreconditionFailed, true
	}
	return OK, false
}

func (a legacyAuditEntry) entry(inSnapshot bool) AuditEntry {
	e := AuditEntry{ID: a.ID, Time: a.Time, Node: a.Node, Token: a.Token, Role: a.Role, Source: a.Source,
		ForwardedBy: a.ForwardedBy, Via: a.Via, Method: a.Method, Path: a.Path, Action: a.Action, Target: a.Target,
		OldVersion: a.OldVersion, NewVersion: a.NewVersion, Status: a.Status, Code: a.Code, Count: a.Count, Last: a.Last}
	if o, ok := legacyOutcome(a); ok && inSnapshot {
		e.Outcome, e.Status, e.Code = o, 0, ""
	}
	return e
}

func (a *legacyAuditCmd) command() *AuditCommand {
	if a == nil {
		return nil
	}
	c := &AuditCommand{Entry: a.Entry.entry(false), Max: a.Max}
	if a.Flood != nil {
		c.Flood = &AuditFlood{WindowSeconds: a.Flood.WindowSeconds, PerToken: a.Flood.PerToken}
	}
	return c
}

func (in legacyIntent) intent() Intent {
	return Intent{ID: in.ID, Policy: in.Policy, Group: in.Group, From: in.From, To: in.To, Reason: in.Reason,
		Term: in.Term, Node: in.Node, At: in.At}
}

func (s legacySample) sample() Sample {
	return Sample{Policy: s.Policy, Metric: s.Metric, Time: s.Time, Value: s.Value}
}

func fromLegacySamples(in []legacySample) []Sample {
	var out []Sample
	for _, s := range in {
		out = append(out, s.sample())
	}
	return out
}

func (t legacyToken) token() Token { return Token(t) }

// The version-1 payloads, field for field and tag for tag as the old code
// declared them, so that encoding one gives the bytes the old code wrote
// (the fixture tests check it) and an old node reads what a new one writes
// in this version.
type (
	legacyPutPolicy struct {
		Policy  policy.Policy   `json:"policy"`
		IfMatch string          `json:"if_match,omitempty"`
		At      time.Time       `json:"at"`
		Audit   *legacyAuditCmd `json:"audit,omitempty"`
	}
	legacyDeletePolicy struct {
		ID      string          `json:"id"`
		IfMatch string          `json:"if_match,omitempty"`
		Audit   *legacyAuditCmd `json:"audit,omitempty"`
	}
	legacyIntentCmd struct {
		Intent legacyIntent `json:"intent"`
	}
	legacyResult struct {
		Policy   string    `json:"policy"`
		IntentID uint64    `json:"intent_id"`
		Outcome  string    `json:"outcome"`
		Error    string    `json:"error,omitempty"`
		At       time.Time `json:"at"`
	}
	legacyEvaluated struct {
		Policy        string         `json:"policy"`
		PolicyVersion uint64         `json:"policy_version"`
		State         []byte         `json:"state,omitempty"`
		Record        *policy.Record `json:"record,omitempty"`
		Desired       int            `json:"desired"`
		Ready         int            `json:"ready"`
		At            time.Time      `json:"at"`
	}
	legacySamples struct {
		Samples []legacySample `json:"samples"`
	}
	legacyRegisterNode struct {
		ID       string `json:"id"`
		HTTPAddr string `json:"http_addr"`
	}
	legacyBuckets struct {
		Latest   []legacySample       `json:"latest"`
		Partials []legacyPartial      `json:"partials"`
		Series   []legacySeriesUpdate `json:"series,omitempty"`
	}
	legacyCreateToken struct {
		Token legacyToken `json:"token"`
	}
	legacyDeleteToken struct {
		Name string `json:"name"`
	}
)

// decodeLegacyCommand decodes a version-1 payload. Like the code that
// wrote it, it ignores fields it does not know.
func decodeLegacyCommand(t CommandType, payload []byte) (Command, error) {
	unmarshal := func(v any) error {
		if err := json.Unmarshal(payload, v); err != nil {
			return fmt.Errorf("json: %w", err)
		}
		return nil
	}
	switch t {
	case CmdPutPolicy:
		var c legacyPutPolicy
		err := unmarshal(&c)
		return PutPolicy{Policy: policyIn(c.Policy, VersionJSON), IfMatch: c.IfMatch, At: c.At, Audit: c.Audit.command()}, err
	case CmdDeletePolicy:
		var c legacyDeletePolicy
		err := unmarshal(&c)
		return DeletePolicy{ID: c.ID, IfMatch: c.IfMatch, Audit: c.Audit.command()}, err
	case CmdIntent:
		var c legacyIntentCmd
		err := unmarshal(&c)
		return PutIntent{Intent: c.Intent.intent()}, err
	case CmdResult:
		var c legacyResult
		err := unmarshal(&c)
		return IntentResult(c), err
	case CmdEvaluated:
		var c legacyEvaluated
		err := unmarshal(&c)
		return Evaluated{Policy: c.Policy, PolicyVersion: c.PolicyVersion, State: c.State, Record: c.Record,
			Desired: c.Desired, Ready: c.Ready, At: c.At}, err
	case CmdSamples:
		var c legacySamples
		err := unmarshal(&c)
		return Samples{Samples: fromLegacySamples(c.Samples), Wide: true}, err
	case CmdRegisterNode:
		var c legacyRegisterNode
		err := unmarshal(&c)
		return RegisterNode(c), err
	case CmdBuckets:
		var c legacyBuckets
		err := unmarshal(&c)
		out := Buckets{Latest: fromLegacySamples(c.Latest), Wide: true}
		for _, p := range c.Partials {
			out.Partials = append(out.Partials, MetricPartial{Policy: p.Policy, Metric: p.Metric, Step: p.Step, Partial: p.Partial})
		}
		for _, s := range c.Series {
			out.Series = append(out.Series, SeriesUpdate(s))
		}
		return out, err
	case CmdCreateToken:
		var c legacyCreateToken
		err := unmarshal(&c)
		return CreateToken{Token: c.Token.token()}, err
	case CmdDeleteToken:
		var c legacyDeleteToken
		err := unmarshal(&c)
		return DeleteToken(c), err
	case CmdAudit:
		var c legacyAuditCmd
		err := unmarshal(&c)
		return *c.command(), err
	}
	return nil, fmt.Errorf("no version-1 decoder for %s", t)
}

// legacySnapshot is the version-1 snapshot document, tag for tag as the
// old code declared it.
type legacySnapshot struct {
	Policies map[string]*legacyPolicyEntry `json:"policies"`
	Nodes    map[string]string             `json:"nodes"`
	Intents  uint64                        `json:"intents"`
	Tokens   map[string]legacyToken        `json:"tokens,omitempty"`
	Audit    []legacyAuditEntry            `json:"audit,omitempty"`
	// AuditKept came with the audit log's flood rules.
	AuditKept []legacyAuditEntry `json:"audit_kept,omitempty"`
}

type legacyPolicyEntry struct {
	Record struct {
		Policy    policy.Policy `json:"policy"`
		Version   uint64        `json:"version"`
		UpdatedAt time.Time     `json:"updated_at"`
	} `json:"record"`
	State          []byte                                  `json:"state,omitempty"`
	Decisions      []policy.Record                         `json:"decisions,omitempty"`
	Pending        []legacyIntent                          `json:"pending,omitempty"`
	Samples        map[string]legacySample                 `json:"samples,omitempty"`
	Windows        map[string]*window.Window               `json:"windows,omitempty"`
	Series         map[string]map[uint64]legacySeriesPoint `json:"series,omitempty"`
	Desired        int                                     `json:"desired"`
	Ready          int                                     `json:"ready"`
	LastEvaluation time.Time                               `json:"last_evaluation"`
}

type legacySeriesPoint struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// decodeLegacySnapshot reads a version-1 snapshot into a new state.
func decodeLegacySnapshot(data []byte) (*State, error) {
	var l legacySnapshot
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	s := New()
	for id, p := range l.Policies {
		if p == nil {
			return nil, fmt.Errorf("policy %q: null", id)
		}
		e := &Policy{Record: PolicyRecord{Policy: policyIn(p.Record.Policy, VersionJSON), Version: p.Record.Version, UpdatedAt: p.Record.UpdatedAt},
			EvalState: p.State, Decisions: DecisionsOf(p.Decisions), Windows: p.Windows,
			Desired: p.Desired, Ready: p.Ready, LastEvaluation: p.LastEvaluation}
		for _, in := range p.Pending {
			e.Pending = append(e.Pending, in.intent())
		}
		e.Samples = make(map[string]Sample, len(p.Samples))
		for m, x := range p.Samples {
			e.Samples[m] = x.sample()
		}
		if p.Series != nil {
			e.Series = make(map[string]map[uint64]SeriesPoint, len(p.Series))
			for m, pts := range p.Series {
				e.Series[m] = make(map[uint64]SeriesPoint, len(pts))
				for sid, pt := range pts {
					e.Series[m][sid] = SeriesPoint(pt)
				}
			}
		}
		s.Policies[id] = e
	}
	for k, v := range l.Nodes {
		s.Nodes[k] = v
	}
	s.Intents = l.Intents
	for k, t := range l.Tokens {
		s.Tokens[k] = t.token()
	}
	for _, a := range l.Audit {
		s.Audit = append(s.Audit, a.entry(true))
	}
	for _, a := range l.AuditKept {
		s.AuditKept = append(s.AuditKept, a.entry(true))
	}
	return s, nil
}
