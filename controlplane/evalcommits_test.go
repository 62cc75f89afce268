package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// recordingApply stands in for Node.applyResult: it records each command
// and refuses the evaluations of the policies named in refuse.
type recordingApply struct {
	mu      sync.Mutex
	entries []store.Command
	refuse  map[string]bool
}

func (r *recordingApply) apply(_ context.Context, c store.Command) (applyResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, c)
	var res store.Result
	switch c := c.(type) {
	case store.Evaluated:
		if r.refuse[c.Policy] {
			return applyResult{res: store.Result{Outcome: store.PreconditionFailed}}, outcomeError(store.PreconditionFailed, "refused")
		}
	case store.Evaluations:
		for i, x := range c.Items {
			if r.refuse[x.Policy] {
				res.Refused = append(res.Refused, i)
			}
		}
	}
	return applyResult{res: res}, nil
}

// policies lists each entry's evaluations by policy.
func (r *recordingApply) policies() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]string
	for _, c := range r.entries {
		switch c := c.(type) {
		case store.Evaluated:
			out = append(out, []string{"lone:" + c.Policy})
		case store.Evaluations:
			var ids []string
			for _, x := range c.Items {
				ids = append(ids, x.Policy)
			}
			out = append(out, ids)
		}
	}
	return out
}

// TestEvalBatcher: queued evaluations are committed together once the
// first has waited the linger, or at once when the batch is full or one
// of them is waited for; in the order queued; a lone one as a plain
// Evaluated; each learns its own outcome; and once the term ends what is
// queued, and what comes later, fails.
func TestEvalBatcher(t *testing.T) {
	type step struct {
		ids    []string
		urgent bool // the last id is committed and waited for
	}
	tests := []struct {
		name    string
		linger  time.Duration
		max     int
		refuse  []string
		steps   []step
		entries [][]string
		failed  []string // policies whose evaluation must fail
	}{
		{"queued ones go together after the linger", 50 * time.Millisecond, 10, nil,
			[]step{{ids: []string{"a", "b", "c"}}}, [][]string{{"a", "b", "c"}}, nil},
		{"a lone one is a plain entry", 50 * time.Millisecond, 10, nil,
			[]step{{ids: []string{"a"}}}, [][]string{{"lone:a"}}, nil},
		{"an urgent one goes at once, after what was queued before it", time.Hour, 10, nil,
			[]step{{ids: []string{"a", "b"}}, {ids: []string{"c"}, urgent: true}}, [][]string{{"a", "b", "c"}}, nil},
		{"a full batch goes at once, the rest with the next urgent one", time.Hour, 2, nil,
			[]step{{ids: []string{"a", "b", "c"}}, {ids: []string{"d"}, urgent: true}}, [][]string{{"a", "b"}, {"c", "d"}}, nil},
		{"a refused evaluation fails alone", 50 * time.Millisecond, 10, []string{"b"},
			[]step{{ids: []string{"a", "b", "c"}}}, [][]string{{"a", "b", "c"}}, []string{"b"}},
		{"a refused lone evaluation fails", time.Hour, 10, []string{"a"},
			[]step{{ids: []string{"a"}, urgent: true}}, [][]string{{"lone:a"}}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingApply{refuse: map[string]bool{}}
			for _, id := range tc.refuse {
				rec.refuse[id] = true
			}
			b := newEvalBatcher(rec.apply, tc.linger, tc.max, time.Now)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); b.run(ctx) }()
			defer func() { cancel(); <-done }()

			var mu sync.Mutex
			outcomes := map[string]error{}
			var wg sync.WaitGroup
			for _, st := range tc.steps {
				ids := st.ids
				if st.urgent {
					ids = ids[:len(ids)-1]
				}
				for _, id := range ids {
					wg.Add(1)
					b.add(evalCommit{cmd: store.Evaluated{Policy: id}, done: func(err error) {
						mu.Lock()
						outcomes[id] = err
						mu.Unlock()
						wg.Done()
					}}, false)
				}
				if st.urgent {
					id := st.ids[len(st.ids)-1]
					err := b.commit(ctx, store.Evaluated{Policy: id})
					mu.Lock()
					outcomes[id] = err
					mu.Unlock()
				}
			}
			waited := make(chan struct{})
			go func() { wg.Wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(10 * time.Second):
				t.Fatalf("evaluations never committed; entries %v", rec.policies())
			}
			if got := rec.policies(); !slices.EqualFunc(got, tc.entries, slices.Equal) {
				t.Fatalf("entries %v, want %v", got, tc.entries)
			}
			for _, st := range tc.steps {
				for _, id := range st.ids {
					err := outcomes[id]
					if want := slices.Contains(tc.failed, id); (err != nil) != want || (want && !errors.Is(err, api.ErrPrecondition)) {
						t.Errorf("%s: %v (want a failure: %t)", id, err, want)
					}
				}
			}
		})
	}

	t.Run("the end of the term fails what is queued and what comes later", func(t *testing.T) {
		rec := &recordingApply{}
		b := newEvalBatcher(rec.apply, time.Hour, 10, time.Now)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); b.run(ctx) }()
		failed := make(chan error, 1)
		b.add(evalCommit{cmd: store.Evaluated{Policy: "a"}, done: func(err error) { failed <- err }}, false)
		cancel()
		<-done
		if err := <-failed; !errors.Is(err, context.Canceled) {
			t.Fatalf("queued evaluation: %v, want context.Canceled", err)
		}
		if err := b.commit(context.Background(), store.Evaluated{Policy: "b"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("evaluation after the end: %v, want context.Canceled", err)
		}
		if got := rec.policies(); len(got) != 0 {
			t.Fatalf("committed after the end of the term: %v", got)
		}
	})
}

// TestRepeatedHoldRecordedOnce: a policy held at every evaluation (here
// by its max: the load asks for more than it allows) records its hold
// once, not at every evaluation; a different hold (another proposal) is
// recorded, and so is the same hold again after an evaluation that
// proposed nothing.
func TestRepeatedHoldRecordedOnce(t *testing.T) {
	t.Parallel()
	r := newEvalRig(t, `{"id":"p","target":{"provider":"fake","group":"g"},"min":2,"max":2,"evaluation_interval":"10s",
"metrics":[{"name":"rps","type":"request_rate","target":100}],"stale_after":"1m"}`, nil)
	// rps per evaluation: 2 instances are kept at 200 (no proposal); more
	// asks for more than max 2 allows.
	load := []float64{500, 500, 500, 800, 800, 200, 500, 500}
	var recorded []string
	for i, v := range load {
		before, _ := r.n.fsm.Decisions("p", 1000)
		r.evaluate(t, v)
		after, _ := r.n.fsm.Decisions("p", 1000)
		if len(after) > len(before) {
			d := after[0]
			recorded = append(recorded, fmt.Sprintf("%d:%s->%d", i, d.Action, d.Recommended))
		}
		r.advance(10 * time.Second)
	}
	want := []string{"0:hold->5", "3:hold->8", "6:hold->5"}
	if !slices.Equal(recorded, want) {
		t.Fatalf("decisions recorded %v, want %v", recorded, want)
	}
}

// TestModelsCommittedApart: with entry version 7 a policy's state is
// committed at every StateSync without its forecasting models, which go
// every ModelSync (every node keeps the models it holds in between), at
// the policy's own times (modelsDueAfter: a minute apart here, 14.9 s past
// each minute for "p"), the first of them on the term's first evaluation;
// in version 6 every state commit carries them.
func TestModelsCommittedApart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version uint8
		// every: the models go with every state; else the evaluations
		// after which the stored models are the leader's latest are the
		// first and those that pass one of p's times.
		every bool
	}{
		{"version 7: models every ModelSync, at the policy's own times", store.CurrentVersion, false},
		{"version 6: models with every state", store.VersionBudget, true},
	}
	off := modelSyncOffset("p", time.Minute)
	if off.Round(100*time.Millisecond) != 14900*time.Millisecond {
		t.Fatalf(`modelSyncOffset("p", 1m) = %s, want 14.9 s`, off)
	}
	// passed is how many of p's times (14.9 s past each minute) are not
	// after t.
	passed := func(t time.Time) int64 {
		return (t.UnixNano() - int64(off)) / int64(time.Minute)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newEvalRig(t, `{"id":"p","target":{"provider":"fake","group":"g"},"min":2,"max":2,"evaluation_interval":"10s",
"metrics":[{"name":"rps","type":"request_rate","target":100}],"predictive":{"mode":"forecast-only","lead":"20s","history":"1h"},"stale_after":"1m"}`,
				func(n *Node) {
					n.cfg.StateSync, n.cfg.ModelSync = 10*time.Second, time.Minute
					n.cfg.WriteVersion = int(tc.version)
				})
			var fresh, want []int
			var last time.Time
			for i := range 13 {
				at := r.evaluate(t, float64(150+10*(i%3)))
				if tc.every || i == 0 || passed(at) > passed(last) {
					want, last = append(want, i), at
				}
				v, _ := r.n.fsm.view("p")
				kept, _ := r.l.latestState("p", v.Record.Version)
				var stored policy.State
				if err := stored.UnmarshalBinary(v.State); err != nil {
					t.Fatal(err)
				}
				// The state is committed at every evaluation (StateSync
				// is the interval): its evidence is the round's sample.
				if !stored.Evidence.Equal(at) || len(stored.Models) != 1 {
					t.Fatalf("round %d: stored evidence %s (want %s), %d models", i, stored.Evidence, at, len(stored.Models))
				}
				a, _ := policy.State{Models: stored.Models}.MarshalBinary()
				b, _ := policy.State{Models: kept.Models}.MarshalBinary()
				if bytes.Equal(a, b) {
					fresh = append(fresh, i)
				}
				r.advance(10 * time.Second)
			}
			if !slices.Equal(fresh, want) {
				t.Fatalf("the stored models were the latest after evaluations %v, want %v", fresh, want)
			}
			if !tc.every && (len(want) != 3 || want[2]-want[1] != 6 || want[1] > 6) {
				t.Fatalf("models after evaluations %v: want the first, one within a minute, one a minute later", want)
			}
		})
	}
}

// evalRig is one node whose leader loop the test drives itself, on a
// clock it moves: it pushes a sample, waits until it is applied, and
// evaluates (the node's own loop evaluates nothing).
type evalRig struct {
	n     *Node
	l     *loop
	mu    sync.Mutex
	clock time.Time
}

// newEvalRig starts the node with setup applied, writes the policy spec
// and makes the loop, with the term's batches when the node writes them.
func newEvalRig(t *testing.T, spec string, setup func(*Node)) *evalRig {
	t.Helper()
	// The clock starts mid-bucket, not at the wall clock's second, so that
	// every run feeds the same samples to the same 10 s buckets (the first
	// forecast no longer depends on a sample's place in its bucket:
	// TestEvaluationsContinue checks both).
	r := &evalRig{clock: time.Now().UTC().Truncate(10 * time.Second).Add(5 * time.Second)}
	// The node does not Run: the test evaluates through its own loop, and
	// the node's, starting when it first leads, would evaluate the policy
	// too (its first round evaluates every policy) and commit a state the
	// test did not make (seen under -race beside the package's other
	// tests).
	n, _ := newSingleNode(t, time.Hour, func(n *Node) {
		n.now = r.now
		n.cfg.GroupRefresh = time.Hour
		if setup != nil {
			setup(n)
		}
	}, inmemRaft)
	bootstrapAlone(t, n)
	p, err := policy.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	r.n = n
	r.newTerm(t)
	return r
}

// newTerm gives the rig a new leader loop, as a new term starts one: it
// keeps no state yet, so its first evaluation of the policy starts from
// the committed one. The loop before it is left alone (its batches are
// flushed at every evaluate).
func (r *evalRig) newTerm(t *testing.T) {
	t.Helper()
	n := r.n
	groups := newGroupCache(n.cfg.Drivers, n.now, n.metrics, n.cfg.CloudTimeout, n.cfg.GroupRefresh)
	l := &loop{n: n, term: n.Raft().CurrentTerm(), log: n.log, busy: map[string]bool{}, last: map[string]time.Time{},
		held: map[string]uint64{}, wakes: map[string]wake{}, woken: make(chan string, 1), groups: groups}
	t.Cleanup(l.stopWakes)
	if n.cfg.writeVersion() >= store.VersionBatched {
		ctx, stop := context.WithCancel(context.Background())
		l.commits = newEvalBatcher(n.applyResult, time.Hour, evalBatchMax, time.Now)
		done := make(chan struct{})
		go func() { defer close(done); l.commits.run(ctx) }()
		t.Cleanup(func() { stop(); <-done })
	}
	r.l = l
}

func (r *evalRig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock
}

// advance moves the clock.
func (r *evalRig) advance(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

// evaluate pushes one sample of policy p's metric rps at the clock's
// time, waits until it is applied (an evaluation that finds the previous
// sample enters no new evidence), evaluates p, and commits what the term
// queued: everything is applied when it returns.
func (r *evalRig) evaluate(t *testing.T, v float64) time.Time {
	t.Helper()
	ctx := context.Background()
	at := r.now()
	if _, err := r.n.PushMetrics(ctx, []api.Sample{{Policy: "p", Metric: "rps", Time: at, Value: v}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if v, ok := r.n.fsm.view("p"); ok {
			if s, _ := v.Sample("rps"); s.Time.Equal(at) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sample at %s was never applied", at)
		}
		time.Sleep(time.Millisecond)
	}
	r.l.evaluate(ctx, "p")
	if r.l.commits != nil {
		// Everything queued is applied before this refused one.
		if err := r.l.commits.commit(ctx, store.Evaluated{Policy: "p"}); !errors.Is(err, api.ErrPrecondition) {
			t.Fatalf("the closing evaluation: %v", err)
		}
	}
	return at
}

// TestNewPolicyVersionCommitsModels: the first state committed for a new
// policy version carries its models, however recently the old version's
// went: the stored models are the old version's otherwise.
func TestNewPolicyVersionCommitsModels(t *testing.T) {
	t.Parallel()
	spec := `{"id":"p","target":{"provider":"fake","group":"g"},"min":2,"max":%d,"evaluation_interval":"10s",
"metrics":[{"name":"rps","type":"request_rate","target":100}],"predictive":{"mode":"forecast-only","lead":"20s","history":"1h"},"stale_after":"1m"}`
	r := newEvalRig(t, fmt.Sprintf(spec, 2), func(n *Node) { n.cfg.StateSync, n.cfg.ModelSync = 10*time.Second, time.Hour })
	fresh := func() bool {
		v, _ := r.n.fsm.view("p")
		kept, ok := r.l.latestState("p", v.Record.Version)
		var stored policy.State
		if err := stored.UnmarshalBinary(v.State); err != nil || !ok {
			t.Fatalf("stored state: %v; kept: %v", err, ok)
		}
		a, _ := policy.State{Models: stored.Models}.MarshalBinary()
		b, _ := policy.State{Models: kept.Models}.MarshalBinary()
		return bytes.Equal(a, b)
	}
	for i := range 3 {
		r.evaluate(t, float64(150+10*i))
		if got := fresh(); got != (i == 0) {
			t.Fatalf("evaluation %d: stored models the latest: %t", i, got)
		}
		r.advance(10 * time.Second)
	}
	p, err := policy.Parse([]byte(fmt.Sprintf(spec, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.n.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	r.evaluate(t, 180)
	if !fresh() {
		t.Fatal("the new version's first state went without its models")
	}
}
