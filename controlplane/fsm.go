package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// policyEntry is everything the replicated state keeps for one policy.
type policyEntry struct {
	Record api.PolicyRecord `json:"record"`
	// State is policy.State in its binary encoding.
	State []byte `json:"state,omitempty"`
	// Decisions is the bounded decision history, oldest first.
	Decisions []policy.Record `json:"decisions,omitempty"`
	// Pending are intents committed without a result yet.
	Pending []api.Intent `json:"pending,omitempty"`
	// Samples holds the latest sample of each metric.
	Samples map[string]api.Sample `json:"samples,omitempty"`
	// Windows holds each metric's bucketed history, built from the same
	// committed samples on every node, for forecasting.
	Windows map[string]*window.Window `json:"windows,omitempty"`
	// Series holds, per metric, the newest point of each remote-write
	// series a label matcher routes to it (series.go).
	Series map[string]map[uint64]seriesPoint `json:"series,omitempty"`
	// Desired and Ready are the sizes seen at the last evaluation.
	Desired        int       `json:"desired"`
	Ready          int       `json:"ready"`
	LastEvaluation time.Time `json:"last_evaluation"`
}

// fsmData is the whole replicated state; a snapshot is its JSON encoding.
type fsmData struct {
	Policies map[string]*policyEntry `json:"policies"`
	// Nodes maps Raft server ids to HTTP addresses.
	Nodes map[string]string `json:"nodes"`
	// Actions counts applied intents per policy, for tests and metrics.
	Intents uint64 `json:"intents"`
	// Tokens are the API-created tokens (tokens.go), hashes only.
	Tokens tokenTable `json:"tokens,omitzero"`
	// Audit is the bounded audit log of API writes (audit.go), oldest first.
	Audit []api.AuditEntry `json:"audit,omitempty"`
	// AuditKept are the successful admin and membership changes, oldest
	// first, which only their like evict (auditretention.go).
	AuditKept []api.AuditEntry `json:"audit_kept,omitempty"`
}

// FSM is Capstan's replicated state machine. Raft calls Apply, Snapshot and
// Restore from its own goroutine; the API and the leader loop read through
// the accessor methods, which take a read lock.
type FSM struct {
	mu           sync.RWMutex
	data         fsmData
	maxDecisions int
	// onSamples is called (outside the lock) after samples are applied, so
	// the leader loop can evaluate at once. It may be nil.
	onSamples func(policies []string)
}

// NewFSM returns an empty state machine that keeps up to maxDecisions
// decision records per policy.
func NewFSM(maxDecisions int) *FSM {
	if maxDecisions <= 0 {
		maxDecisions = 100
	}
	return &FSM{data: emptyData(), maxDecisions: maxDecisions}
}

func emptyData() fsmData {
	return fsmData{Policies: map[string]*policyEntry{}, Nodes: map[string]string{}}
}

// applyResult is what Apply returns to the proposer through the ApplyFuture.
type applyResult struct {
	err    error
	record api.PolicyRecord
	index  uint64
}

var _ raft.FSM = (*FSM)(nil)

// Apply applies one committed log entry. An entry this node cannot
// understand stops the node: applying the rest of the log without it would
// silently diverge from the nodes that did understand it.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	t, payload, err := decodeCommand(l.Data)
	if err != nil {
		panic(fmt.Sprintf("controlplane: refusing log entry %d: %v; upgrade this node before restarting it", l.Index, err))
	}
	var res applyResult
	var notify []string
	f.mu.Lock()
	switch t {
	case CmdPutPolicy:
		res = f.applyPutPolicy(payload, l.Index)
	case CmdDeletePolicy:
		res = f.applyDeletePolicy(payload, l.Index)
	case CmdIntent:
		res = f.applyIntent(payload, l.Index)
	case CmdResult:
		res = f.applyResult(payload)
	case CmdEvaluated:
		res = f.applyEvaluated(payload)
	case CmdSamples:
		res, notify = f.applySamples(payload)
	case CmdRegisterNode:
		res = f.applyRegisterNode(payload)
	case CmdBuckets:
		res, notify = f.applyBuckets(payload)
	case CmdCreateToken:
		res = f.applyCreateToken(payload)
	case CmdDeleteToken:
		res = f.applyDeleteToken(payload)
	case CmdAudit:
		res = f.applyAudit(payload, l.Index)
	default:
		f.mu.Unlock()
		panic(fmt.Sprintf("controlplane: refusing log entry %d: %v: type %d; upgrade this node before restarting it", l.Index, ErrUnknownCommand, t))
	}
	f.mu.Unlock()
	res.index = l.Index
	if len(notify) > 0 && f.onSamples != nil {
		f.onSamples(notify)
	}
	return res
}

// decodePayload unmarshals a payload; a malformed payload of a known type is
// as fatal as an unknown type, for the same reason.
func decodePayload(payload []byte, v any) {
	if err := json.Unmarshal(payload, v); err != nil {
		panic(fmt.Sprintf("controlplane: refusing a malformed %T: %v", v, err))
	}
}

// checkIfMatch applies api.Backend's If-Match rules to the current version
// (0 when the policy does not exist).
func checkIfMatch(ifMatch string, current uint64) error {
	switch ifMatch {
	case "":
		return nil
	case "*":
		if current == 0 {
			return fmt.Errorf("%w: the policy does not exist", api.ErrPrecondition)
		}
		return nil
	}
	want, err := strconv.ParseUint(ifMatch, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: If-Match %q is not a version", api.ErrPrecondition, ifMatch)
	}
	if want != current {
		return fmt.Errorf("%w: version is %d, not %d", api.ErrPrecondition, current, want)
	}
	return nil
}

func (f *FSM) applyPutPolicy(payload []byte, index uint64) (res applyResult) {
	var c putPolicyCmd
	decodePayload(payload, &c)
	e := f.data.Policies[c.Policy.ID]
	var current uint64
	if e != nil {
		current = e.Record.Version
	}
	defer func() { f.auditPolicyWrite(c.Audit, index, current, res, http.StatusOK) }()
	if err := checkIfMatch(c.IfMatch, current); err != nil {
		return applyResult{err: err}
	}
	if e == nil {
		e = &policyEntry{Samples: map[string]api.Sample{}}
		f.data.Policies[c.Policy.ID] = e
	} else if !sameMetrics(e.Record.Policy, c.Policy) {
		// New metrics make the old forecasting models, samples and history meaningless.
		e.State, e.Samples, e.Windows, e.Series = nil, map[string]api.Sample{}, nil, nil
	}
	e.Record = api.PolicyRecord{Policy: c.Policy, Version: index, UpdatedAt: c.At}
	return applyResult{record: e.Record}
}

// sameMetrics reports whether two policies track the same metrics in the
// same order, so state kept per metric index still lines up.
func sameMetrics(a, b policy.Policy) bool {
	if len(a.Metrics) != len(b.Metrics) {
		return false
	}
	for i := range a.Metrics {
		if a.Metrics[i].Name != b.Metrics[i].Name || a.Metrics[i].Type != b.Metrics[i].Type {
			return false
		}
	}
	return true
}

func (f *FSM) applyDeletePolicy(payload []byte, index uint64) (res applyResult) {
	var c deletePolicyCmd
	decodePayload(payload, &c)
	e := f.data.Policies[c.ID]
	var current uint64
	if e != nil {
		current = e.Record.Version
	}
	defer func() { f.auditPolicyWrite(c.Audit, index, current, res, http.StatusNoContent) }()
	if e == nil {
		return applyResult{err: fmt.Errorf("policy %q: %w", c.ID, api.ErrNotFound)}
	}
	if err := checkIfMatch(c.IfMatch, e.Record.Version); err != nil {
		return applyResult{err: err}
	}
	delete(f.data.Policies, c.ID)
	return applyResult{}
}

func (f *FSM) applyIntent(payload []byte, index uint64) applyResult {
	var c intentCmd
	decodePayload(payload, &c)
	e := f.data.Policies[c.Intent.Policy]
	if e == nil {
		return applyResult{err: fmt.Errorf("policy %q: %w", c.Intent.Policy, api.ErrNotFound)}
	}
	in := c.Intent
	in.ID = index
	e.Pending = append(e.Pending, in)
	f.data.Intents++
	return applyResult{}
}

func (f *FSM) applyResult(payload []byte) applyResult {
	var c resultCmd
	decodePayload(payload, &c)
	e := f.data.Policies[c.Policy]
	if e == nil {
		return applyResult{}
	}
	kept := e.Pending[:0]
	for _, in := range e.Pending {
		if in.ID != c.IntentID {
			kept = append(kept, in)
		}
	}
	e.Pending = kept
	return applyResult{}
}

func (f *FSM) applyEvaluated(payload []byte) applyResult {
	var c evaluatedCmd
	decodePayload(payload, &c)
	e := f.data.Policies[c.Policy]
	if e == nil || e.Record.Version != c.PolicyVersion {
		return applyResult{err: fmt.Errorf("policy %q changed while it was evaluated: %w", c.Policy, api.ErrPrecondition)}
	}
	if c.State != nil {
		e.State = c.State
	}
	if c.Record != nil {
		e.Decisions = append(e.Decisions, *c.Record)
		if over := len(e.Decisions) - f.maxDecisions; over > 0 {
			e.Decisions = append(e.Decisions[:0:0], e.Decisions[over:]...)
		}
	}
	e.Desired, e.Ready, e.LastEvaluation = c.Desired, c.Ready, c.At
	return applyResult{}
}

func (f *FSM) applySamples(payload []byte) (applyResult, []string) {
	var c samplesCmd
	decodePayload(payload, &c)
	for _, s := range c.Samples {
		if e := f.data.Policies[s.Policy]; e != nil {
			f.addToWindow(e, s)
		}
	}
	return applyResult{}, f.keepLatest(c.Samples)
}

// keepLatest records each sample that is newer than its metric's latest and
// returns the policies that got one, for the leader loop to evaluate.
func (f *FSM) keepLatest(samples []api.Sample) []string {
	var touched []string
	for _, s := range samples {
		e := f.data.Policies[s.Policy]
		if e == nil {
			continue
		}
		if e.Samples == nil {
			e.Samples = map[string]api.Sample{}
		}
		if old, ok := e.Samples[s.Metric]; ok && !s.Time.After(old.Time) {
			continue
		}
		e.Samples[s.Metric] = s
		if len(touched) == 0 || touched[len(touched)-1] != s.Policy {
			touched = append(touched, s.Policy)
		}
	}
	return touched
}

// History windows: buckets wide enough that a policy's whole prediction
// history fits in maxWindowBuckets (7 days → 5-minute buckets, the
// resolution of a daily season's slots), never narrower than the policy's
// evaluation interval.
const maxWindowBuckets = 2016

// windowShape is the bucket width and count for a policy's history.
func windowShape(p policy.Policy) (time.Duration, int) {
	history := p.Predictive.History.D()
	if history <= 0 {
		history = time.Hour
	}
	step := max(p.EvaluationInterval.D(), (history+maxWindowBuckets-1)/maxWindowBuckets)
	step = step.Round(time.Second)
	if step < time.Second {
		step = time.Second
	}
	return step, int(min(int64(maxWindowBuckets), int64(history/step)+1))
}

// metricWindow returns the metric's history window, creating or reshaping
// it to the policy's current shape, and the factor samples are scaled by: a
// cpu window records demand (utilization × in-service instances, the last
// size committed), because forecasts are of demand; every node computes it
// from the same replicated values.
func (f *FSM) metricWindow(e *policyEntry, metric string) (*window.Window, float64) {
	var m *policy.Metric
	for i := range e.Record.Policy.Metrics {
		if e.Record.Policy.Metrics[i].Name == metric {
			m = &e.Record.Policy.Metrics[i]
		}
	}
	if m == nil {
		return nil, 0
	}
	step, length := windowShape(e.Record.Policy)
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
	factor := 1.0
	if m.Type == policy.MetricCPU {
		factor = float64(max(e.Ready, 1))
	}
	return w, factor
}

// addToWindow folds a sample into its metric's history.
func (f *FSM) addToWindow(e *policyEntry, s api.Sample) {
	if w, factor := f.metricWindow(e, s.Metric); w != nil {
		w.Add(s.Time, s.Value*factor)
	}
}

// applyBuckets merges the leader's pre-aggregated partials into the windows
// and keeps the newest sample of each metric.
func (f *FSM) applyBuckets(payload []byte) (applyResult, []string) {
	var c bucketsCmd
	decodePayload(payload, &c)
	for _, p := range c.Partials {
		e := f.data.Policies[p.Policy]
		if e == nil {
			continue
		}
		if w, factor := f.metricWindow(e, p.Metric); w != nil && int64(w.Step()) == p.Step {
			w.Merge(p.Partial, factor)
		}
	}
	f.applySeries(c.Series)
	return applyResult{}, f.keepLatest(c.Latest)
}

// history returns each metric's window as policy.Windows, up to now.
func (f *FSM) history(id string, now time.Time) [policy.MaxMetrics]policy.Window {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out [policy.MaxMetrics]policy.Window
	e := f.data.Policies[id]
	if e == nil {
		return out
	}
	for i, m := range e.Record.Policy.Metrics {
		if i >= policy.MaxMetrics {
			break
		}
		if w := e.Windows[m.Name]; w != nil {
			start, values := w.Values(now)
			out[i] = policy.Window{Start: start, Step: w.Step(), Values: values}
		}
	}
	return out
}

func (f *FSM) applyRegisterNode(payload []byte) applyResult {
	var c registerNodeCmd
	decodePayload(payload, &c)
	f.data.Nodes[c.ID] = c.HTTPAddr
	return applyResult{}
}

// Snapshot captures the state for Raft's snapshotting. It copies under the
// read lock; the encoding happens in Persist, off Raft's apply path.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(&f.data)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &fsmSnapshot{data: b}, nil
}

// Restore replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	d := emptyData()
	dec := json.NewDecoder(rc)
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("restoring snapshot: %w", err)
	}
	if d.Policies == nil {
		d.Policies = map[string]*policyEntry{}
	}
	if d.Nodes == nil {
		d.Nodes = map[string]string{}
	}
	f.mu.Lock()
	f.data = d
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("writing snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// --- read accessors -------------------------------------------------------

// errNoPolicy is returned by accessors for an unknown policy id.
func errNoPolicy(id string) error { return fmt.Errorf("policy %q: %w", id, api.ErrNotFound) }

// Policy returns a policy's record.
func (f *FSM) Policy(id string) (api.PolicyRecord, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.data.Policies[id]
	if e == nil {
		return api.PolicyRecord{}, errNoPolicy(id)
	}
	return e.Record, nil
}

// Policies returns every policy record sorted by id.
func (f *FSM) Policies() []api.PolicyRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]api.PolicyRecord, 0, len(f.data.Policies))
	for _, e := range f.data.Policies {
		out = append(out, e.Record)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Policy.ID < out[j].Policy.ID })
	return out
}

// Decisions returns up to limit records, newest first.
func (f *FSM) Decisions(id string, limit int) ([]policy.Record, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.data.Policies[id]
	if e == nil {
		return nil, errNoPolicy(id)
	}
	out := make([]policy.Record, 0, min(limit, len(e.Decisions)))
	for i := len(e.Decisions) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, e.Decisions[i])
	}
	return out, nil
}

// evalView is what the leader loop needs to evaluate one policy.
type evalView struct {
	Record  api.PolicyRecord
	State   []byte
	Samples map[string]api.Sample
	Pending []api.Intent
	Last    time.Time
	// Desired and Ready are the sizes last committed.
	Desired, Ready int
}

// view copies what evaluating a policy needs.
func (f *FSM) view(id string) (evalView, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.data.Policies[id]
	if e == nil {
		return evalView{}, false
	}
	v := evalView{Record: e.Record, State: e.State, Pending: append([]api.Intent(nil), e.Pending...), Last: e.LastEvaluation,
		Desired: e.Desired, Ready: e.Ready,
		Samples: make(map[string]api.Sample, len(e.Samples))}
	for k, s := range e.Samples {
		v.Samples[k] = s
	}
	return v, true
}

// status builds a policy's API status.
func (f *FSM) status(id string) (api.PolicyStatus, policy.State, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.data.Policies[id]
	if e == nil {
		return api.PolicyStatus{}, policy.State{}, errNoPolicy(id)
	}
	st := api.PolicyStatus{ID: id, Desired: e.Desired, Ready: e.Ready}
	if !e.LastEvaluation.IsZero() {
		t := e.LastEvaluation
		st.LastEvaluation = &t
	}
	if n := len(e.Decisions); n > 0 {
		d := e.Decisions[n-1]
		st.LastDecision = &d
	}
	if n := len(e.Pending); n > 0 {
		in := e.Pending[n-1]
		st.PendingIntent = &in
	}
	for _, m := range e.Record.Policy.Metrics {
		ms := api.MetricStatus{Name: m.Name}
		if s, ok := e.Samples[m.Name]; ok {
			v, t := s.Value, s.Time
			ms.Value, ms.Time = &v, &t
		}
		st.Metrics = append(st.Metrics, ms)
	}
	var ps policy.State
	if len(e.State) > 0 {
		if err := ps.UnmarshalBinary(e.State); err != nil {
			return st, ps, fmt.Errorf("policy %q: %w", id, err)
		}
	}
	return st, ps, nil
}

// nodeHTTPAddr returns the registered HTTP address of a server.
func (f *FSM) nodeHTTPAddr(id string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Nodes[id]
}

// intentCount is the number of intents ever committed.
func (f *FSM) intentCount() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Intents
}

// dump returns a deep copy of the state, for tests that compare nodes.
func (f *FSM) dump() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return json.Marshal(&f.data)
}

// errorFrom extracts the error an Apply returned, if any.
func errorFrom(resp any) (applyResult, error) {
	r, ok := resp.(applyResult)
	if !ok {
		return applyResult{}, errors.New("controlplane: unexpected apply response")
	}
	return r, r.err
}
