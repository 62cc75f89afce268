package controlplane

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// FSM is Capstan's replicated state machine: the Raft glue around
// store.State, which owns the state, its commands and their encodings.
// Raft calls Apply, Snapshot and Restore from its own goroutines; the API
// and the leader loop read through the accessor methods, which take a
// read lock.
type FSM struct {
	mu    sync.RWMutex
	state *store.State
	opt   store.Options
	// tokens is the API tokens sorted by name, an immutable slice replaced
	// on every token change, so checking a token on the request path
	// costs no copy.
	tokens []auth.Token
	// snapshotVersion is the encoding version snapshots are written in
	// (Config.WriteVersion): store.SnapshotVersion, or an older one while
	// a cluster is upgraded.
	snapshotVersion uint8
	// onSamples is called (outside the lock) after samples are applied, so
	// the leader loop can evaluate at once. It may be nil.
	onSamples func(policies []string)
	// applied is the index of the last entry Apply finished (0 after a
	// restore until the next). Raft's own AppliedIndex counts entries
	// handed to the FSM, which applies them a little later.
	applied atomic.Uint64
	// appliedBytes counts the bytes of the command entries this FSM has
	// applied since the node started: the log's growth, for the snapshot
	// turns by size (snapturns.go).
	appliedBytes atomic.Uint64
	// tail remembers the latest entries' sizes, for a snapshot's
	// trailing log by bytes (logtail.go).
	tail logTail
	// policyGen counts the changes to the policy set (puts and deletes
	// that took effect, restores), under mu; sched is the schedule built
	// for the latest count read (schedule.go).
	policyGen uint64
	// policyRemovals counts the deletes that took effect and the
	// restores, under mu.
	policyRemovals uint64
	sched          atomic.Pointer[policySchedule]
}

// Applied is the index of the last log entry this FSM finished applying,
// or 0 when it has applied none since it started or restored.
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// NewFSM returns an empty state machine that keeps up to maxDecisions
// decision records per policy.
func NewFSM(maxDecisions int) *FSM {
	return &FSM{state: store.New(), opt: store.Options{MaxDecisions: maxDecisions}, snapshotVersion: store.SnapshotVersion}
}

// applyResult is what Apply returns to the proposer through the
// ApplyFuture: the store's outcome and the entry's index. It is turned
// into an API error by the proposer, outside Apply.
type applyResult struct {
	res   store.Result
	index uint64
}

// failure is the API error of a refused command, nil when it took effect.
func (r applyResult) failure() error {
	if r.res.Outcome == store.OK {
		return nil
	}
	return outcomeError(r.res.Outcome, r.res.Detail)
}

// record is the policy record a CmdPutPolicy wrote.
func (r applyResult) record() api.PolicyRecord { return api.PolicyRecord(r.res.Record) }

// outcomeError maps a store outcome to the API's sentinel errors.
func outcomeError(o store.Outcome, detail string) error {
	switch o {
	case store.OK:
		return nil
	case store.NotFound:
		return fmt.Errorf("%s: %w", detail, api.ErrNotFound) // `policy "web" does not exist: not found`
	case store.PreconditionFailed:
		return fmt.Errorf("%w: %s", api.ErrPrecondition, detail) // `precondition failed: version is 3, not 9`
	case store.Conflict:
		return fmt.Errorf("%w: %s", api.ErrConflict, detail)
	}
	return fmt.Errorf("controlplane: unknown outcome %v: %s", o, detail)
}

var _ raft.FSM = (*FSM)(nil)

// Apply applies one committed log entry through store. An entry this node
// cannot understand stops the node: applying the rest of the log without
// it would silently diverge from the nodes that did understand it.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := store.Decode(l.Data)
	if err != nil {
		panic(fmt.Sprintf("controlplane: refusing log entry %d: %v; upgrade this node before restarting it", l.Index, err))
	}
	f.mu.Lock()
	res := f.state.Apply(l.Index, c, f.opt)
	if res.Outcome == store.OK && changesPolicySet(c) {
		f.policyGen++
		if removesPolicy(c) {
			f.policyRemovals++
		}
	}
	if t := c.Type(); t == store.CmdCreateToken || t == store.CmdDeleteToken {
		f.tokens = tokenList(f.state.Tokens)
	}
	f.mu.Unlock()
	f.applied.Store(l.Index)
	f.tail.add(l.Index, f.appliedBytes.Add(uint64(len(l.Data))))
	if len(res.Touched) > 0 && f.onSamples != nil {
		f.onSamples(res.Touched)
	}
	return applyResult{res: res, index: l.Index}
}

// history returns each metric's window as policy.Windows, up to now, at
// the width forecasting is fitted at (store.DefaultWindowStep): a finer
// window (a policy's predictive.history_step) is read combined into
// buckets of that width, so the forecasts see what they would without it.
func (f *FSM) history(id string, now time.Time) [policy.MaxMetrics]policy.Window {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out [policy.MaxMetrics]policy.Window
	e := f.state.Policies[id]
	if e == nil {
		return out
	}
	for i, m := range e.Record.Policy.Metrics {
		if i >= policy.MaxMetrics {
			break
		}
		if w := e.Windows[m.Name]; w != nil {
			k := forecastEvery(e.Record.Policy, w.Step())
			start, values := w.ValuesEvery(now, k)
			out[i] = policy.Window{Start: start, Step: w.Step() * time.Duration(k), Values: values}
		}
	}
	return out
}

// Snapshot captures the state for Raft's snapshotting: under the lock it
// only takes the store's immutable view (a copy of the policy map); the
// encoding happens in Persist, while applies go on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	v := f.state.View()
	f.mu.Unlock()
	return &fsmSnapshot{view: v, version: f.snapshotVersion}, nil
}

// Restore replaces the state with a snapshot's, of any version the store
// reads; a snapshot it refuses leaves the state as it was.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := store.ReadSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restoring snapshot: %w", err)
	}
	tokens := tokenList(s.Tokens)
	f.mu.Lock()
	f.state, f.tokens = s, tokens
	f.policyGen++
	f.policyRemovals++
	f.mu.Unlock()
	// The index applied before belongs to the replaced state: a lagging
	// node that installs a leader's snapshot would otherwise report its
	// old, lower index until its next apply, and a revocation waiting on
	// it (waitApplied) would wait for nothing. Zero makes Cluster fall
	// back on Raft's applied index, which Raft sets to the snapshot's.
	f.applied.Store(0)
	// The old state was live while the new one was read: a collection
	// then set the next one's goal at twice both (BenchmarkRestoreOver:
	// 3.7 times the state's heap), and the heap would grow to it before
	// anything collected the old state. Collect it now, and give its
	// memory back to the system, so the goal is twice the state again.
	debug.FreeOSMemory()
	return nil
}

type fsmSnapshot struct {
	view    *store.State
	version uint8
}

// Persist streams the view's snapshot to the sink in its version: binary,
// or the version-1 JSON document while a cluster is upgraded from the
// version before store/.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	var err error
	if s.version == store.VersionJSON {
		err = s.view.WriteLegacySnapshot(sink)
	} else {
		err = s.view.WriteSnapshotVersion(sink, s.version)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("writing snapshot: %w", err)
	}
	return sink.Close()
}

// Release drops the view and tells the state, so that it stops copying
// policies on their first change.
func (s *fsmSnapshot) Release() {
	if s.view != nil {
		s.view.Release()
		s.view = nil
	}
}

// --- read accessors -------------------------------------------------------

// errNoPolicy is returned by accessors for an unknown policy id.
func errNoPolicy(id string) error { return fmt.Errorf("policy %q: %w", id, api.ErrNotFound) }

// Policy returns a policy's record.
func (f *FSM) Policy(id string) (api.PolicyRecord, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return api.PolicyRecord{}, errNoPolicy(id)
	}
	return api.PolicyRecord(e.Record), nil
}

// Policies returns every policy record sorted by id.
func (f *FSM) Policies() []api.PolicyRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]api.PolicyRecord, 0, len(f.state.Policies))
	for _, e := range f.state.Policies {
		out = append(out, api.PolicyRecord(e.Record))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Policy.ID < out[j].Policy.ID })
	return out
}

// Decisions returns up to limit records, newest first.
func (f *FSM) Decisions(id string, limit int) ([]policy.Record, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return nil, errNoPolicy(id)
	}
	out := make([]policy.Record, 0, min(limit, e.Decisions.Len()))
	for i := e.Decisions.Len() - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, e.Decisions.At(i))
	}
	return out, nil
}

// evalView is what the leader loop needs to evaluate one policy.
type evalView struct {
	Record store.PolicyRecord
	State  []byte
	// Samples holds the latest sample of each of the policy's metrics, at
	// the metric's index in Record.Policy.Metrics, where Has is set. An
	// array rather than the map the FSM keeps: copying that map was a
	// quarter of an idle evaluation (BenchmarkIdleEvaluation).
	Samples [policy.MaxMetrics]store.Sample
	Has     [policy.MaxMetrics]bool
	Pending []store.Intent
	Last    time.Time
	// Desired and Ready are the sizes last committed.
	Desired, Ready int
}

// Sample returns the latest sample of the policy's metric name.
func (v *evalView) Sample(name string) (store.Sample, bool) {
	for i, m := range v.Record.Policy.Metrics {
		if i < policy.MaxMetrics && m.Name == name && v.Has[i] {
			return v.Samples[i], true
		}
	}
	return store.Sample{}, false
}

// view copies what evaluating a policy needs.
func (f *FSM) view(id string) (evalView, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return evalView{}, false
	}
	v := evalView{Record: e.Record, State: e.EvalState, Pending: slices.Clone(e.Pending), Last: e.LastEvaluation,
		Desired: e.Desired, Ready: e.Ready}
	for i, m := range e.Record.Policy.Metrics {
		if i >= policy.MaxMetrics {
			break
		}
		v.Samples[i], v.Has[i] = e.Samples[m.Name]
	}
	return v, true
}

// status builds a policy's API status.
func (f *FSM) status(id string) (api.PolicyStatus, policy.State, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return api.PolicyStatus{}, policy.State{}, errNoPolicy(id)
	}
	st := api.PolicyStatus{ID: id, Desired: e.Desired, Ready: e.Ready}
	if !e.LastEvaluation.IsZero() {
		t := e.LastEvaluation
		st.LastEvaluation = &t
	}
	if n := e.Decisions.Len(); n > 0 {
		d := e.Decisions.At(n - 1)
		st.LastDecision = &d
	}
	if n := len(e.Pending); n > 0 {
		st.PendingIntent = apiIntent(e.Pending[n-1])
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
	if len(e.EvalState) > 0 {
		if err := ps.UnmarshalBinary(e.EvalState); err != nil {
			return st, ps, fmt.Errorf("policy %q: %w", id, err)
		}
	}
	return st, ps, nil
}

// nodeHTTPAddr returns the registered HTTP address of a server.
func (f *FSM) nodeHTTPAddr(id string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Nodes[id]
}

// intentCount is the number of intents ever committed.
func (f *FSM) intentCount() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Intents
}

// dump returns the state's canonical snapshot bytes, for tests that
// compare nodes.
func (f *FSM) dump() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var b strings.Builder
	err := f.state.WriteSnapshot(&b)
	return []byte(b.String()), err
}

// errorFrom extracts the result and the API error of an Apply.
func errorFrom(resp any) (applyResult, error) {
	r, ok := resp.(applyResult)
	if !ok {
		return applyResult{}, errors.New("controlplane: unexpected apply response")
	}
	return r, r.failure()
}

// apiIntent is an intent as the API shows it.
func apiIntent(in store.Intent) *api.Intent {
	out := &api.Intent{ID: in.ID, Policy: in.Policy, Group: in.Group, From: in.From, To: in.To, Reason: in.Reason,
		Term: in.Term, Node: in.Node, At: in.At}
	if !in.Settled.IsZero() {
		sendBy, settled := in.SendBy, in.Settled
		out.SendBy, out.InDoubtUntil = &sendBy, &settled
	}
	return out
}
