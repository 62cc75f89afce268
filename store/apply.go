package store

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// Options are the node's own bounds on what Apply keeps.
type Options struct {
	// MaxDecisions is how many decision records each policy keeps
	// (DefaultMaxDecisions when not positive).
	MaxDecisions int
}

// Defaults.
const (
	// DefaultMaxDecisions is the decision history kept per policy.
	DefaultMaxDecisions = 100
	// DefaultMaxAuditEntries bounds the audit log when a command does not.
	DefaultMaxAuditEntries = 10_000
)

// Apply applies one committed command at its Raft index. It is
// deterministic: the same state, index and command give the same state and
// Result on every node.
func (s *State) Apply(index uint64, c Command, opt Options) Result {
	switch c := c.(type) {
	case PutPolicy:
		return s.putPolicy(index, c)
	case DeletePolicy:
		return s.deletePolicy(index, c)
	case PutIntent:
		return s.putIntent(index, c)
	case IntentResult:
		return s.intentResult(c)
	case Evaluated:
		return s.evaluated(c, opt)
	case Evaluations:
		var res Result
		for i, x := range c.Items {
			if r := s.evaluated(x, opt); r.Outcome != OK {
				res.Refused = append(res.Refused, i)
			}
		}
		return res
	case Samples:
		return s.samples(c)
	case RegisterNode:
		s.Nodes[c.ID] = c.HTTPAddr
		return Result{}
	case Buckets:
		return s.buckets(c)
	case CreateToken:
		return s.createToken(c)
	case DeleteToken:
		return s.deleteToken(c)
	case AuditCommand:
		s.appendAudit(c, index)
		return Result{}
	}
	panic(fmt.Sprintf("store: Apply of %T", c)) // unreachable: Command is sealed
}

// checkIfMatch applies the If-Match rules to the current version (0 when
// the policy does not exist).
func checkIfMatch(ifMatch string, current uint64) (Outcome, string) {
	switch ifMatch {
	case "":
		return OK, ""
	case "*":
		if current == 0 {
			return PreconditionFailed, "the policy does not exist"
		}
		return OK, ""
	}
	want, err := strconv.ParseUint(ifMatch, 10, 64)
	if err != nil {
		return PreconditionFailed, fmt.Sprintf("If-Match %q is not a version", ifMatch)
	}
	if want != current {
		return PreconditionFailed, fmt.Sprintf("version is %d, not %d", current, want)
	}
	return OK, ""
}

func (s *State) putPolicy(index uint64, c PutPolicy) (res Result) {
	e := s.writable(c.Policy.ID)
	var current uint64
	if e != nil {
		current = e.Record.Version
	}
	defer func() { s.auditPolicyWrite(c.Audit, index, current, res) }()
	if o, detail := checkIfMatch(c.IfMatch, current); o != OK {
		return Result{Outcome: o, Detail: detail}
	}
	if e == nil {
		e = &Policy{Samples: map[string]Sample{}, epoch: s.epoch}
		s.Policies[c.Policy.ID] = e
	} else if !sameMetrics(e.Record.Policy, c.Policy) {
		// New metrics make the old forecasting models, samples and history meaningless.
		e.EvalState, e.Samples, e.Windows, e.Series = nil, map[string]Sample{}, nil, nil
	}
	if c.Policy.Predictive.HistoryStep <= 0 {
		e.Sizes = nil // kept only with a history step
	}
	e.Record = PolicyRecord{Policy: c.Policy, Version: index, UpdatedAt: c.At}
	return Result{Record: e.Record}
}

// sameMetrics reports whether two policies track the same metrics in the
// same order, so state kept per metric index still lines up.
func sameMetrics(a, b policy.Policy) bool {
	return slices.EqualFunc(a.Metrics, b.Metrics, func(x, y policy.Metric) bool { return x.Name == y.Name && x.Type == y.Type })
}

func (s *State) deletePolicy(index uint64, c DeletePolicy) (res Result) {
	e := s.Policies[c.ID]
	var current uint64
	if e != nil {
		current = e.Record.Version
	}
	defer func() { s.auditPolicyWrite(c.Audit, index, current, res) }()
	if e == nil {
		return Result{Outcome: NotFound, Detail: fmt.Sprintf("policy %q does not exist", c.ID)}
	}
	if o, detail := checkIfMatch(c.IfMatch, current); o != OK {
		return Result{Outcome: o, Detail: detail}
	}
	delete(s.Policies, c.ID)
	return Result{}
}

func (s *State) putIntent(index uint64, c PutIntent) Result {
	e := s.writable(c.Intent.Policy)
	if e == nil {
		return Result{Outcome: NotFound, Detail: fmt.Sprintf("policy %q does not exist", c.Intent.Policy)}
	}
	in := c.Intent
	in.ID = index
	e.Pending = append(e.Pending, in)
	s.Intents++
	return Result{}
}

func (s *State) intentResult(c IntentResult) Result {
	if e := s.writable(c.Policy); e != nil {
		e.Pending = slices.DeleteFunc(e.Pending, func(in Intent) bool { return in.ID == c.IntentID })
	}
	return Result{}
}

func (s *State) evaluated(c Evaluated, opt Options) Result {
	e := s.writable(c.Policy)
	if e == nil || e.Record.Version != c.PolicyVersion {
		return Result{Outcome: PreconditionFailed, Detail: fmt.Sprintf("policy %q changed while it was evaluated", c.Policy)}
	}
	switch {
	case c.State != nil:
		e.EvalState = c.State
	case c.Pacing != nil:
		e.EvalState = withStoredModels(c.Pacing, e.EvalState)
	}
	if c.Record != nil {
		limit := opt.MaxDecisions
		if limit <= 0 {
			limit = DefaultMaxDecisions
		}
		e.Decisions = e.Decisions.appended(*c.Record, limit)
	}
	e.recordSize(c.Ready, c.At)
	e.Desired, e.Ready, e.LastEvaluation = c.Desired, c.Ready, c.At
	return Result{}
}

// recordSize adds the ready size committed at to the policy's size
// history when it has a history step and the size changed, and forgets
// the points the history no longer needs: those older than the policy's
// predictive.history before at, but the newest of them (the size at the
// history's start), and any beyond policy.MaxHistoryBuckets. Points are
// appended and the history resliced, never changed in place, so a View
// sharing the array keeps what it saw.
func (e *Policy) recordSize(ready int, at time.Time) {
	p := e.Record.Policy
	if p.Predictive.HistoryStep <= 0 {
		e.Sizes = nil
		return
	}
	if n := len(e.Sizes); n > 0 && (e.Sizes[n-1].Ready == ready || at.Before(e.Sizes[n-1].At)) {
		return
	}
	e.Sizes = append(e.Sizes, SizePoint{At: at, Ready: ready})
	history := p.Predictive.History.D()
	if history <= 0 {
		history = time.Hour
	}
	cut := at.Add(-history)
	drop := 0
	for drop+1 < len(e.Sizes) && !e.Sizes[drop+1].At.After(cut) {
		drop++
	}
	drop = max(drop, len(e.Sizes)-policy.MaxHistoryBuckets)
	e.Sizes = e.Sizes[drop:]
}

// withStoredModels is the state pacing (encoded without its models) with
// the forecasting models of the stored state. A stored state that does not
// decode has no models to keep, and one that does not decode either is
// kept as sent: either way every node does the same with the same bytes.
func withStoredModels(pacing, stored []byte) []byte {
	var old, next policy.State
	if len(stored) == 0 || old.UnmarshalBinary(stored) != nil || len(old.Models) == 0 {
		return pacing
	}
	if next.UnmarshalBinary(pacing) != nil {
		return pacing
	}
	next.Models = old.Models
	b, err := next.MarshalBinary()
	if err != nil {
		return pacing
	}
	// Kept until the next commit of the policy's state: without the
	// room MarshalBinary's appends left (up to as much again).
	return slices.Clone(b)
}

func (s *State) samples(c Samples) Result {
	for _, x := range c.Samples {
		if e := s.writable(x.Policy); e != nil {
			if w, factor := e.metricWindow(x.Metric, c.Wide); w != nil {
				w.Add(x.Time, x.Value*factor)
			}
		}
	}
	return Result{Touched: s.keepLatest(c.Samples)}
}

// keepLatest records each sample that is newer than its metric's latest and
// returns the policies that got one.
func (s *State) keepLatest(samples []Sample) []string {
	var touched []string
	for _, x := range samples {
		e := s.writable(x.Policy)
		if e == nil {
			continue
		}
		if e.Samples == nil {
			e.Samples = map[string]Sample{}
		}
		if old, ok := e.Samples[x.Metric]; ok && !x.Time.After(old.Time) {
			continue
		}
		x.Series = 0 // not part of the state
		e.Samples[x.Metric] = x
		if len(touched) == 0 || touched[len(touched)-1] != x.Policy {
			touched = append(touched, x.Policy)
		}
	}
	return touched
}

func (s *State) buckets(c Buckets) Result {
	for _, p := range c.Partials {
		e := s.writable(p.Policy)
		if e == nil {
			continue
		}
		if w, factor := e.metricWindow(p.Metric, c.Wide); w != nil && int64(w.Step()) == p.Step {
			w.Merge(p.Partial, factor)
		}
	}
	s.applySeries(c.Series)
	return Result{Touched: s.keepLatest(c.Latest)}
}

// MaxWindowBuckets bounds a history window by default: buckets are wide
// enough that a policy's whole prediction history fits (7 days → 5-minute
// buckets, the resolution of a daily season's slots), never narrower than
// the policy's evaluation interval.
const MaxWindowBuckets = 2016

// WindowShape is the bucket width and count of a policy's history windows,
// a function of the policy alone so that every node derives the same
// shape from the log. A policy's predictive.history_step sets the width
// (policy.MaxHistoryBuckets bounds the count, 10,080: 7 days of 1-minute
// buckets); without one, the width is the default rule's. Policies read
// from entries and snapshots of versions 1 to 6 have no history step
// (VersionHistoryStep), so their windows keep the shape the old code gave.
func WindowShape(p policy.Policy) (time.Duration, int) {
	history := p.Predictive.History.D()
	if history <= 0 {
		history = time.Hour
	}
	if st := p.Predictive.HistoryStep.D().Round(time.Second); st > 0 {
		// Validation keeps history/st within the bound; an unvalidated
		// policy is held to it too.
		st = max(st, (history+policy.MaxHistoryBuckets-1)/policy.MaxHistoryBuckets)
		return st, int(min(int64(policy.MaxHistoryBuckets), int64(history/st)+1))
	}
	step := DefaultWindowStep(p)
	return step, int(min(int64(MaxWindowBuckets), int64(history/step)+1))
}

// DefaultWindowStep is the bucket width of a policy's windows by the
// default rule, whatever its history step: the width forecasting reads
// the history at (a finer window is read combined into buckets of this
// width), so that a history step changes what is kept and replayed, not
// what the forecasts see.
func DefaultWindowStep(p policy.Policy) time.Duration {
	history := p.Predictive.History.D()
	if history <= 0 {
		history = time.Hour
	}
	step := max(p.EvaluationInterval.D(), (history+MaxWindowBuckets-1)/MaxWindowBuckets)
	step = step.Round(time.Second)
	if step < time.Second {
		step = time.Second
	}
	return step
}

// metricWindow returns the metric's history window, creating or reshaping
// it to the policy's current shape and setting it to the entry's precision
// (wide: float64 values; else compact, float32), and the factor samples
// are scaled by: a cpu window records demand (utilization × in-service
// instances, the last size committed), because forecasts are of demand.
// The precision follows the entries, so that an old log replays to the
// old windows and every node converts a window at the same entry.
func (e *Policy) metricWindow(metric string, wide bool) (*window.Window, float64) {
	i := slices.IndexFunc(e.Record.Policy.Metrics, func(m policy.Metric) bool { return m.Name == metric })
	if i < 0 {
		return nil, 0
	}
	m := e.Record.Policy.Metrics[i]
	step, length := WindowShape(e.Record.Policy)
	if e.Windows == nil {
		e.Windows = map[string]*window.Window{}
	}
	w := e.Windows[metric]
	if w == nil || w.Step() != step || w.Len() != length {
		agg := window.Mean
		if m.Type == policy.MetricQueueDepth {
			agg = window.Max
		}
		w = window.New(step, length, agg)
		e.Windows[metric] = w
	}
	w.SetWide(wide)
	factor := 1.0
	if m.Type == policy.MetricCPU {
		factor = float64(max(e.Ready, 1))
	}
	return w, factor
}

// applySeries records series points and forgets the points of each updated
// metric older than the policy's stale_after before its newest: the same
// cut on every node, since it depends only on the committed points.
func (s *State) applySeries(updates []SeriesUpdate) {
	type key struct{ policy, metric string }
	var touched []key
	for _, u := range updates {
		e := s.writable(u.Policy)
		if e == nil || !slices.ContainsFunc(e.Record.Policy.Metrics, func(m policy.Metric) bool { return m.Name == u.Metric }) {
			continue
		}
		if e.Series == nil {
			e.Series = map[string]map[uint64]SeriesPoint{}
		}
		pts := e.Series[u.Metric]
		if pts == nil {
			pts = map[uint64]SeriesPoint{}
			e.Series[u.Metric] = pts
		}
		if old, ok := pts[u.ID]; !ok || u.T >= old.T {
			pts[u.ID] = SeriesPoint{T: u.T, V: u.V}
		}
		if k := (key{u.Policy, u.Metric}); !slices.Contains(touched, k) {
			touched = append(touched, k)
		}
	}
	for _, k := range touched {
		e := s.Policies[k.policy]
		pts := e.Series[k.metric]
		newest := int64(0)
		for _, p := range pts {
			newest = max(newest, p.T)
		}
		cut := newest - int64(e.Record.Policy.StaleAfter.D())
		for id, p := range pts {
			if p.T < cut {
				delete(pts, id)
			}
		}
	}
}

func (s *State) createToken(c CreateToken) Result {
	if _, ok := s.Tokens[c.Token.Name]; ok {
		return Result{Outcome: Conflict, Detail: fmt.Sprintf("an API token is already named %q", c.Token.Name)}
	}
	c.Token.Origin = OriginAPI
	s.Tokens[c.Token.Name] = c.Token
	return Result{}
}

func (s *State) deleteToken(c DeleteToken) Result {
	if _, ok := s.Tokens[c.Name]; !ok {
		return Result{Outcome: NotFound, Detail: fmt.Sprintf("API token %q does not exist", c.Name)}
	}
	delete(s.Tokens, c.Name)
	return Result{}
}

// auditPolicyWrite records a policy write's audit entry, when it carries
// one, with the write's outcome and the versions before and after (the
// same when the write was refused; 0 where the policy does not exist).
func (s *State) auditPolicyWrite(a *AuditCommand, index, before uint64, res Result) {
	if a == nil {
		return
	}
	c := *a
	c.Entry.OldVersion, c.Entry.NewVersion = before, res.Record.Version // 0 after a delete
	if res.Outcome != OK {
		c.Entry.NewVersion = before
	}
	c.Entry.Outcome, c.Entry.Status, c.Entry.Code = res.Outcome, 0, ""
	s.appendAudit(c, index)
}

// appendAudit adds an entry under index: under the command's flood rules
// when it has them, else appended with the oldest beyond the command's
// bound dropped. Reslicing keeps appends amortized O(1).
func (s *State) appendAudit(c AuditCommand, index uint64) {
	e := c.Entry
	e.ID = index
	if c.Flood != nil {
		// The flood rules fold repeats into entries in place: a view may
		// hold them.
		s.writableAudit()
		r := auditRetention[AuditEntry]{Max: c.Max, Window: time.Duration(c.Flood.WindowSeconds) * time.Second,
			PerToken: c.Flood.PerToken, Facts: auditEntryFacts, Fold: foldAuditEntry}
		l := r.Add(auditLogs[AuditEntry]{Main: s.Audit, Kept: s.AuditKept}, e)
		s.Audit, s.AuditKept = l.Main, l.Kept
		return
	}
	s.Audit = append(s.Audit, e)
	limit := c.Max
	if limit <= 0 {
		limit = DefaultMaxAuditEntries
	}
	if over := len(s.Audit) - limit; over > 0 {
		s.Audit = s.Audit[over:]
	}
}

// The audit actions whose successful entries the flood rules keep apart:
// admin and membership changes. They are the API's action names, kept in
// the replicated entries as data.
var privilegedAuditActions = []string{"cluster.join", "cluster.remove", "token.create", "token.delete"}

// auditEntryFacts is what the retention rules read of an entry. A policy
// write's entry is a refusal by its Outcome, any other by the status the
// API recorded; its kind names both, so a repeat is the same refusal.
func auditEntryFacts(e AuditEntry) auditFacts {
	source := e.Source
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	f := auditFacts{Token: e.Token, Source: source, Time: e.Time, Refusal: e.Status >= 400 || e.Outcome != OK,
		Kind: fmt.Sprintf("%s %s %d %s %d", e.Action, e.Target, e.Status, e.Code, e.Outcome)}
	f.Privileged = !f.Refusal && slices.Contains(privilegedAuditActions, e.Action)
	return f
}

// foldAuditEntry counts one more refusal, made at, into e.
func foldAuditEntry(e *AuditEntry, at time.Time) {
	e.Count = max(e.Count, 1) + 1
	if at.After(e.Last) {
		e.Last = at
	}
}
