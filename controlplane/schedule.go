package controlplane

import (
	"time"

	"github.com/capstan-io/capstan/store"
)

// scheduled is what the leader loop's tick needs of one policy to know
// whether it is due.
type scheduled struct {
	ID       string
	Interval time.Duration
}

// policySchedule is every policy's id and evaluation interval, in no
// particular order (the leader's due queue orders them), as of one
// version of the policy set. It is never changed once
// built: readers share it without a lock.
type policySchedule struct {
	gen uint64
	// removals counts the changes that may have removed a policy (deletes,
	// restores), so the leader forgets deleted policies only after one.
	removals uint64
	list     []scheduled
}

// removesPolicy reports whether a command that took effect removed a
// policy.
func removesPolicy(c store.Command) bool {
	_, ok := c.(store.DeletePolicy)
	return ok
}

// changesPolicySet reports whether a command that took effect may have
// added, removed or re-timed a policy. Every other command (samples,
// buckets, evaluations, intents) leaves the schedule as it was.
func changesPolicySet(c store.Command) bool {
	switch c.(type) {
	case store.PutPolicy, store.DeletePolicy:
		return true
	}
	return false
}

// schedule returns the policies' schedule. It is rebuilt only after the
// policy set changed (a put, a delete or a restore), so the leader's tick,
// which reads it every Tick, holds the FSM's lock for O(1) work in the
// steady state instead of copying and sorting every record (18 % of the
// leader's CPU at 10,000 policies in the load run). A rebuild copies the
// ids and intervals under the read lock; it does not sort them, which
// would double its cost (BenchmarkDueTickAfterWrite).
func (f *FSM) schedule() *policySchedule {
	f.mu.RLock()
	gen, removals := f.policyGen, f.policyRemovals
	if s := f.sched.Load(); s != nil && s.gen == gen {
		f.mu.RUnlock()
		return s
	}
	list := make([]scheduled, 0, len(f.state.Policies))
	for id, e := range f.state.Policies {
		list = append(list, scheduled{ID: id, Interval: e.Record.Policy.EvaluationInterval.D()})
	}
	f.mu.RUnlock()
	s := &policySchedule{gen: gen, removals: removals, list: list}
	// Two readers may rebuild the same version at once, and an older
	// rebuild may finish after a newer one: keep the newest.
	for {
		old := f.sched.Load()
		if old != nil && old.gen >= gen {
			return s
		}
		if f.sched.CompareAndSwap(old, s) {
			return s
		}
	}
}

// policyCount is the number of policies in the state.
func (f *FSM) policyCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.state.Policies)
}
