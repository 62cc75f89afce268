package controlplane

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
	"github.com/capstan-io/capstan/store"
)

// monitorLeadership follows Raft's NotifyCh (which, unlike LeaderCh, reports
// every transition) and runs the leader loop exactly while this node leads.
func (n *Node) monitorLeadership(ctx context.Context) {
	var (
		stop context.CancelFunc
		done chan struct{}
	)
	stopLoop := func() {
		if stop != nil {
			stop()
			<-done
			stop, done = nil, nil
		}
	}
	defer stopLoop()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-n.leaderCh:
			switch {
			case leader && stop == nil:
				lctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				go func() { defer close(done); n.leaderLoop(lctx) }()
			case !leader:
				stopLoop()
			}
		}
	}
}

// leaderLoop runs while this node leads. It first waits until the FSM has
// applied everything earlier leaders committed (Barrier), then reconciles
// intents they left pending, then evaluates policies when they are due and
// when fresh samples arrive. Its context is cancelled the moment leadership
// is lost; a cloud call is never started after that, and every intent is
// committed before its cloud call, so a deposed leader cannot act.
func (n *Node) leaderLoop(ctx context.Context) {
	term := n.raft.CurrentTerm()
	log := n.log.With("term", term)
	log.Info("leading")
	n.metrics.leaderChanges.Inc()
	if !n.barrier(ctx, log) {
		return
	}
	if err := n.registerSelf(ctx); err != nil && ctx.Err() == nil {
		log.Warn("registering this node failed", "err", err)
	}
	go n.watchRoundTrip(ctx, log)
	// Intents earlier leaders left pending are settled by each policy's
	// first evaluation (settle), which dueAll(true) runs at once.
	// The group-state cache lives and dies with the term: a new leader
	// describes every group afresh rather than trust an older view. Its
	// predecessor has just spent the providers' buckets this node's
	// budget knows nothing of: the budget starts from empty ones.
	if b := n.cfg.CloudBudget; b != nil {
		b.AssumeSpent()
	}
	groups := newGroupCache(n.cfg.Drivers, n.now, n.metrics, n.cfg.CloudTimeout, n.cfg.GroupRefresh)
	l := &loop{n: n, term: term, log: log, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{},
		wakes: map[string]wake{}, woken: make(chan string), groups: groups}
	defer l.stopWakes()
	// Evaluations are committed in batches (evalcommits.go) once every
	// server reads them: not while writing an older entry version.
	committed := make(chan struct{})
	if n.cfg.writeVersion() >= store.VersionBatched {
		// The linger is real time (Raft's), not the policies' clock.
		l.commits = newEvalBatcher(n.applyResult, n.cfg.Tick, evalBatchMax, time.Now)
		go func() { defer close(committed); l.commits.run(ctx) }()
	} else {
		close(committed)
	}
	defer func() { <-committed }()

	work := make(chan string)
	var wg sync.WaitGroup
	for range max(1, n.cfg.Workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				l.evaluate(ctx, id)
				l.done(id)
			}
		}()
	}
	refreshed := make(chan struct{})
	go func() { defer close(refreshed); l.refreshGroups(ctx) }()
	defer func() {
		close(work)
		wg.Wait()
		<-refreshed
		groups.wait()
		n.metrics.forgetInputs("")
		log.Info("no longer leading")
	}()

	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	dispatch := func(id string) {
		if !l.claim(id) {
			return
		}
		select {
		case work <- id:
		case <-ctx.Done():
			l.done(id)
		}
	}
	// The policies due in one tick are dispatched after their groups that
	// are not cached are asked for in one batch (groupcache.go).
	var due []string
	var refs []cloud.GroupRef
	dueAll := func(force bool) {
		due = due[:0]
		l.forDue(ctx, n.now(), force, func(id string) { due = append(due, id) })
		refs = n.fsm.groupRefs(due, refs[:0])
		if force {
			groups.first(ctx, refs) // the term's first: background reads
		} else {
			groups.prefetch(ctx, refs)
		}
		for _, id := range due {
			if ctx.Err() != nil {
				return
			}
			dispatch(id)
		}
	}
	// A new leader evaluates everything at once: the gap in evaluation
	// after a failover is then the election alone, not election plus a tick.
	dueAll(true)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-n.fresh:
			if l.ownSamples(id) {
				// The evaluation that committed them has used them.
				continue
			}
			dispatch(id)
		case id := <-l.woken:
			dispatch(id)
		case <-tick.C:
			dueAll(false)
		}
	}
}

// refreshGroups describes every policy's group, in batches, every
// GroupRefresh until ctx ends. The term's first evaluations described
// their groups (prefetch), so the first refresh is one period in.
func (l *loop) refreshGroups(ctx context.Context) {
	t := time.NewTicker(l.n.cfg.GroupRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.groups.refreshSpread(ctx, l.n.fsm.allGroupRefs(), l.log)
		}
	}
}

// Barrier retries: the first wait (Node.barrierBackoff) and its cap, and
// how many failures in a row make the leader hand leadership to another
// voter.
const (
	barrierBackoff       = 50 * time.Millisecond
	barrierMaxBackoff    = 2 * time.Second
	barrierStepDownAfter = 5
)

// barrier waits until this node's FSM has applied everything earlier
// leaders committed, and reports whether the leader loop may go on. A
// failed barrier (say an enqueue timeout while the disk stalls) does not
// end leadership, so giving up would leave a leader that never evaluates
// until the next election: it is retried with backoff while this node
// leads, and after barrierStepDownAfter failures in a row the node also
// tries to hand leadership to another voter (as Nomad retries its barrier
// in the same place). It returns false once leadership is gone.
func (n *Node) barrier(ctx context.Context, log interface{ Warn(string, ...any) }) bool {
	wait := n.barrierBackoff
	for attempt := 1; ; attempt++ {
		err := n.barrierFn(n.cfg.ApplyTimeout)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || n.raft.State() != raft.Leader {
			return false
		}
		log.Warn("barrier failed; retrying while leading", "attempt", attempt, "retry_in", wait, "err", err)
		if attempt%barrierStepDownAfter == 0 {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				log.Warn("cannot hand leadership over; still retrying the barrier", "err", err)
			} else {
				log.Warn("handed leadership over after failed barriers")
				return false
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, max(barrierMaxBackoff, n.barrierBackoff))
	}
}

// notifyFresh wakes the leader loop for policies with new samples; it never
// blocks Raft's apply goroutine. That goroutine starts inside raft.NewRaft,
// before NewNode sets n.raft, and a restarted node applies the entries it
// missed as soon as it learns they are committed: so the Raft is read from
// the peers' atomic pointer (set by NewNode too), never from n.raft. A node
// still inside NewNode does not lead, and the tick picks up what it missed.
func (n *Node) notifyFresh(ids []string) {
	if r := n.peers.r.Load(); r == nil || r.State() != raft.Leader {
		return
	}
	for _, id := range ids {
		select {
		case n.fresh <- id:
		default: // the tick will pick it up
		}
	}
}

// loop is one leadership term's evaluation state.
type loop struct {
	n    *Node
	term uint64
	log  interface {
		Info(string, ...any)
		Warn(string, ...any)
		Debug(string, ...any)
	}
	mu   sync.Mutex
	busy map[string]bool
	// last is when this term last evaluated each policy. Quiet evaluations
	// are not committed, so the replicated LastEvaluation can lag it.
	last map[string]time.Time
	// synced remembers when each policy's state was last committed and its
	// encoding without models, to decide when another commit is due.
	synced sync.Map
	// latest is, per policy, the state its last evaluation in this term
	// left (latestState); under mu, made on first use.
	latest map[string]latestKept
	// held is, per policy, the intent this term last recorded an in_doubt
	// decision for, so a hold is recorded once, not at every evaluation.
	held map[string]uint64
	// holding is, per policy, the hold decision this term last recorded
	// (holdKey), so that a hold repeated at every evaluation (a cooldown,
	// a stabilization window) is recorded once; under mu, made on first
	// use.
	holding map[string]string
	// commits batches the term's evaluation commits (evalcommits.go); nil
	// while the node writes an entry version without batches.
	commits *evalBatcher
	// listed is the policy schedule the last tick read, so that what the
	// term remembers of deleted policies is dropped once per removal from
	// the policy set, not at every tick. Only the loop's goroutine uses it.
	listed *policySchedule
	// queue holds the listed policies by when each is next due (due.go);
	// only the loop's goroutine uses it.
	queue dueQueue
	// wakes are the re-evaluations scheduled at an in-doubt intent's
	// Settled time (wake.go), per policy; woken delivers them to the loop.
	wakes map[string]wake
	woken chan string
	// groups is the term's group-state cache (groupcache.go).
	groups *groupCache
	// pulls is the term's cache of pulled metric sources (sources.go),
	// made on first use under mu.
	pulls *pullCache
	// selfFed counts, per policy, the commits of pulled samples its own
	// evaluations made whose fresh-sample wake-up has not come yet (under
	// mu; made on first use).
	selfFed map[string]int
	// measured is, per policy, each cpu metric's latest sample time and
	// the instances in service when this term first evaluated it
	// (measuredOver); under mu, made on first use.
	measured map[string][policy.MaxMetrics]measuredAt
}

// measuredAt is a cpu sample's time and the instances in service when the
// leader first evaluated it.
type measuredAt struct {
	at   time.Time
	over int
}

// measuredOver gives each cpu sample in in the count of instances it was
// measured over (policy.Sample.Over): the instances in service when this
// term first evaluated that sample. A sample is evaluated again until the
// next arrives; read over the instances in service at each of those
// evaluations, the utilization measured before a scale-out's instances
// became ready counts them as loaded too, and asks for another scale-out.
// A new leader starts from the count it first sees, which is as good as
// the old rule for the first evaluation and better for every later one.
func (l *loop) measuredOver(id string, p *policy.Policy, in *policy.Inputs) {
	cpu := false
	for i := range p.Metrics {
		cpu = cpu || i < policy.MaxMetrics && p.Metrics[i].Type == policy.MetricCPU && in.Metrics[i].Present
	}
	if !cpu {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.measured == nil {
		l.measured = map[string][policy.MaxMetrics]measuredAt{}
	}
	kept := l.measured[id]
	for i := range p.Metrics {
		if i >= policy.MaxMetrics || p.Metrics[i].Type != policy.MetricCPU || !in.Metrics[i].Present {
			continue
		}
		if !kept[i].at.Equal(in.Metrics[i].Time) {
			// A new sample: the count it would be read over now, as
			// Over is not set yet.
			kept[i] = measuredAt{at: in.Metrics[i].Time, over: in.MeasuredOver(in.Metrics[i])}
		}
		in.Metrics[i].Over = kept[i].over
	}
	l.measured[id] = kept
}

// feedingSelf notes that an evaluation of id is about to commit the
// samples it pulled, and returns the undo for a commit that failed.
func (l *loop) feedingSelf(id string) (undo func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.selfFed == nil {
		l.selfFed = map[string]int{}
	}
	l.selfFed[id]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.selfFed[id]--; l.selfFed[id] <= 0 {
			delete(l.selfFed, id)
		}
	}
}

// ownSamples reports whether a fresh-sample wake-up of id is the echo of
// samples one of its own evaluations pulled and committed, and consumes
// it: that evaluation already decided on them, and another one would only
// read the same values (a pulled metric is read once per interval) and
// describe nothing new, which doubled the evaluations of pulled policies.
// A wake-up of pushed samples, committed separately, still evaluates.
func (l *loop) ownSamples(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.selfFed[id] == 0 {
		return false
	}
	if l.selfFed[id]--; l.selfFed[id] == 0 {
		delete(l.selfFed, id)
	}
	return true
}

// syncMark is when a policy's state was last committed (at), when its
// models are next due (nextModels: the zero time when they are due at
// once), its pacing then, and the policy version it was of: a new
// version's first state goes whole.
type syncMark struct {
	at, nextModels time.Time
	pacing         pacing
	version        uint64
}

// modelsDueAfter is when a policy's models are next due, once they were
// committed at `at`: at the first of the policy's own times after it,
// which are a period apart, at the policy's offset (modelSyncOffset) past
// a multiple of the period since the Unix epoch; so at most a period
// later. A term's first evaluations commit every policy's models in one
// round, and so do a burst of actions (models go with every action):
// when each policy's next models fell due a period after its last, they
// fell due again in one round, every period: 40 to 70 MB of states in
// one ten-second round at 10,000 week-old policies, and about 1 GB
// allocated in it on the leader (BenchmarkEvaluatedEntries at 500,
// scaled). A collection that marks while that is allocated counts it
// live, and sets its goal above it. On the policies' own times the
// commits spread evenly over the period whatever made them meet.
func modelsDueAfter(id string, at time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return at
	}
	since := (at.UnixNano() - int64(modelSyncOffset(id, period))) % int64(period)
	if since < 0 {
		since += int64(period)
	}
	return at.Add(period - time.Duration(since))
}

// modelSyncOffset is a policy's offset in [0, period): the hash of its id
// scaled to the period, so that the policies of a cluster spread evenly
// over it and each keeps its own offset in every term and on every node.
// FNV-1a alone leaves ids that differ in their last characters (s00001,
// s00002, ...) in a few clumps of its high bits (up to twice the mean
// in a tenth of a period's slots at 10,000 such ids); MurmurHash3's
// finalizer mixes them evenly.
func modelSyncOffset(id string, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	// The hash times the period, over 2^64: the high word of the product.
	off, _ := bits.Mul64(x, uint64(period))
	return time.Duration(off)
}

// seedModelsDue tells a term that has not committed a policy's state yet
// when the committed models, just decoded (s), fall due: at the first of
// the policy's own times (modelsDueAfter) after the models' own time, the
// last observation they absorbed. A new term's evaluations then commit
// the models only where its predecessor's have come due, not every
// policy's in its first round: that round, at 10,000 week-old policies,
// committed about 80 MB of states, most of them models a predecessor had
// committed less than ModelSync before, and with the models on their own
// times since (modelsDueAfter) every policy's models went twice in the
// term's first ModelSync (BenchmarkRestartPhases). A restarted cluster,
// and a follower catching up just after, replicated and applied them.
//
// The models' time is read in the leader's clock: samples stamped ahead
// of it (up to maxSampleSkew) carry the models' time ahead by as much, so
// the latest samples' lead over now is taken off. Nothing is seeded, and
// the models go at the term's first evaluation as before, when the term
// has a mark for the policy, when the batches are off (every state goes
// with its models), when a model has absorbed nothing, or when the
// models are not newer than the policy's last write (a new version's
// first state goes whole).
func (l *loop) seedModelsDue(id string, v *evalView, s *policy.State) {
	if len(s.Models) == 0 || l.commits == nil {
		return
	}
	if _, ok := l.synced.Load(id); ok {
		return
	}
	var at int64
	for i, m := range s.Models {
		if m.Model.LastUnixNano <= 0 {
			return
		}
		if i == 0 || m.Model.LastUnixNano < at {
			at = m.Model.LastUnixNano
		}
	}
	now := l.n.now()
	var ahead time.Duration
	for i, has := range v.Has {
		if has {
			ahead = max(ahead, v.Samples[i].Time.Sub(now))
		}
	}
	modelsAt := time.Unix(0, at).Add(-ahead)
	if !modelsAt.After(v.Record.UpdatedAt) {
		return
	}
	period := max(l.n.cfg.ModelSync, l.n.cfg.StateSync)
	l.synced.Store(id, syncMark{nextModels: modelsDueAfter(id, modelsAt, period), version: v.Record.Version})
}

// latestKept is the state a policy's last evaluation in this term left,
// for the policy version it was evaluated under.
type latestKept struct {
	version uint64
	state   policy.State
}

// latestState returns the state this term's last evaluation of the
// policy left, if it was of this policy version. The leader evaluates
// from it rather than from the committed state, which lags it by up to
// StateSync: every evaluation then continues the one before (the
// forecasting models see every sample, as in the simulator), and only
// what a successor needs is committed.
//
// It is not copied: the policy's evaluation (one at a time, claim) owns
// it, and nothing else reads it. An evaluation that ends before Evaluate
// keeps no new state, so until then nothing may change the kept one in
// place (countAction appends to a copy); from Evaluate on, which changes
// its input's lists and models in place, every path keeps a new state
// (commitEvaluated), and keepPacing is the one copy of the lists a path
// that keeps the state from before Evaluate needs. A deep copy here was
// half of an idle evaluation's garbage (BenchmarkIdleEvaluation).
func (l *loop) latestState(id string, version uint64) (policy.State, bool) {
	l.mu.Lock()
	k, ok := l.latest[id]
	l.mu.Unlock()
	if !ok || k.version != version {
		return policy.State{}, false
	}
	return k.state, true
}

// keepState remembers the state an evaluation left (see latestState).
func (l *loop) keepState(id string, version uint64, s policy.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest == nil {
		l.latest = map[string]latestKept{}
	}
	l.latest[id] = latestKept{version: version, state: s}
}

// forDue calls dispatch for every policy due at now, earliest first, or
// for every policy in id order when force, and stops when ctx ends. It
// lists the policies and rebuilds the due queue only when the policy set
// changed (due.go); between changes a tick costs O(due × log n).
func (l *loop) forDue(ctx context.Context, now time.Time, force bool, dispatch func(id string)) {
	s := l.n.fsm.schedule()
	if s != l.listed {
		if l.listed == nil || s.removals != l.listed.removals {
			l.forgetDeleted(s.list)
		}
		l.listed = s
		if !force {
			l.requeue(s, time.Time{})
		}
	}
	if !force {
		l.popDue(now, func(id string) {
			if ctx.Err() == nil {
				dispatch(id)
			}
		})
		return
	}
	l.requeue(s, now)
	for _, p := range slices.SortedFunc(slices.Values(s.list), func(a, b scheduled) int { return strings.Compare(a.ID, b.ID) }) {
		dispatch(p.ID)
		if ctx.Err() != nil {
			return
		}
	}
}

// lastEvaluation is when the policy was last evaluated, by this term or,
// before its first evaluation, by anyone (as committed).
func (l *loop) lastEvaluation(id string) time.Time {
	l.mu.Lock()
	t, ok := l.last[id]
	l.mu.Unlock()
	if ok {
		return t
	}
	if v, ok := l.n.fsm.view(id); ok {
		return v.Last
	}
	return time.Time{}
}

// forgetDeleted drops what this term remembers of policies that no longer
// exist, including their freshness metrics, the in-doubt intents they were
// held by and their pending wake-ups (a long term would otherwise keep them
// until it ends).
func (l *loop) forgetDeleted(policies []scheduled) {
	live := make(map[string]bool, len(policies))
	for _, p := range policies {
		live[p.ID] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.last {
		if !live[id] {
			delete(l.last, id)
			delete(l.latest, id)
			delete(l.holding, id)
			delete(l.measured, id)
			l.n.metrics.forgetInputs(id)
		}
	}
	for id := range l.held {
		if !live[id] {
			delete(l.held, id)
		}
	}
	for id, w := range l.wakes {
		if !live[id] {
			w.timer.Stop()
			delete(l.wakes, id)
		}
	}
}

func (l *loop) claim(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[id] {
		return false
	}
	l.busy[id] = true
	return true
}

func (l *loop) done(id string) {
	l.mu.Lock()
	delete(l.busy, id)
	l.mu.Unlock()
}

// Intent outcomes, as IntentResult records them. outcomeAbandoned is only
// in entries written before fencing: an intent is no longer given up on
// because the group was not at its size when a new leader looked.
const (
	outcomeApplied    = "applied"
	outcomeFailed     = "failed"
	outcomeNotApplied = "not_applied"
)

// countAction makes a resize count in the policy's pacing state as if this
// evaluation had made it: its cooldown starts when the intent was made and
// it joins the rate-limit history, unless the state already holds it.
func countAction(s *policy.State, in store.Intent) {
	if in.To == in.From {
		return
	}
	for _, c := range s.Changes {
		if c.At.Equal(in.At) && c.To == in.To {
			return
		}
	}
	if in.To > in.From && in.At.After(s.LastScaleOut) {
		s.LastScaleOut = in.At
	}
	if in.To < in.From && in.At.After(s.LastScaleIn) {
		s.LastScaleIn = in.At
	}
	// Onto a copy: s may be the state the term kept (latestState), which
	// a hold after this must find unchanged; the sort below would
	// otherwise reorder its array in place.
	s.Changes = append(slices.Clip(s.Changes), policy.Change{At: in.At, From: in.From, To: in.To})
	slices.SortFunc(s.Changes, func(a, b policy.Change) int { return a.At.Compare(b.At) })
}

// groupRef converts a policy target into a driver's group reference.
func groupRef(t policy.Target) cloud.GroupRef {
	return cloud.GroupRef{Provider: t.Provider, Group: t.Group, Region: t.Region, Zone: t.Zone, Project: t.Project,
		Subscription: t.Subscription, ResourceGroup: t.ResourceGroup, ScaleSet: t.ScaleSet}
}

// evaluate runs one policy through policy.Evaluate and carries out the
// decision: intent, cloud call, result, state.
func (l *loop) evaluate(ctx context.Context, id string) {
	n := l.n
	v, ok := n.fsm.view(id)
	if !ok || ctx.Err() != nil {
		return
	}
	p := policy.WithDefaultCost(v.Record.Policy, n.cfg.DefaultCosts)
	n.metrics.evaluations.Inc()
	drv, err := n.cfg.Drivers(p.Target.Provider)
	if err != nil {
		n.metrics.evalErrors.WithLabelValues("driver").Inc()
		l.log.Warn("no driver", "policy", id, "err", err)
		l.commitEvaluated(ctx, v, nil, nil, v.Desired, v.Ready)
		return
	}
	ref := groupRef(p.Target)
	state, ok := l.latestState(id, v.Record.Version)
	if !ok && len(v.State) > 0 {
		if err := state.UnmarshalBinary(v.State); err != nil {
			l.log.Warn("stored state unreadable; starting afresh", "policy", id, "err", err)
			state = policy.State{}
		} else {
			l.seedModelsDue(id, &v, &state)
		}
	}
	if in, why := l.settle(ctx, v, drv, ref, &state); in != nil {
		l.hold(ctx, v, in, why)
		return
	}
	// Cached state, unless it is missing, older than twice GroupRefresh or
	// from before this term's resize: then the group is described first.
	cs, err := l.groups.get(ctx, drv, ref)
	gs := cs.GroupState
	if err != nil {
		n.metrics.evalErrors.WithLabelValues("describe").Inc()
		l.log.Warn("describe failed", "policy", id, "group", ref.String(), "err", err)
		// state, not nil: it may hold an intent settle just counted.
		l.commitEvaluated(ctx, v, &state, nil, v.Desired, v.Ready)
		return
	}

	if pulled := l.readPulled(ctx, p, &v); len(pulled) > 0 {
		for _, s := range pulled {
			for i, m := range p.Metrics {
				if i < policy.MaxMetrics && m.Name == s.Metric {
					v.Samples[i], v.Has[i] = s, true
				}
			}
		}
		// Replicated like pushed samples, so the next leader and every
		// node's status see them.
		undo := l.feedingSelf(id)
		if err := n.apply(ctx, store.Samples{Samples: pulled}); err != nil {
			undo()
			if ctx.Err() == nil {
				l.log.Debug("committing pulled samples failed", "policy", id, "err", err)
			}
		}
	}
	in := policy.Inputs{Current: gs.Desired, Ready: gs.InService}
	for i := range p.Metrics {
		if i < policy.MaxMetrics && v.Has[i] {
			in.Metrics[i] = policy.Sample{Time: v.Samples[i].Time, Value: v.Samples[i].Value, Present: true}
		}
	}
	l.measuredOver(id, &p, &in)
	now := n.now()
	if state.NeedsHistory(p, now) {
		in.History = n.fsm.history(id, now)
	}
	// Evaluate reuses the state's buffers (it takes ownership, like
	// append), and the paths below that keep the state from before it (a
	// busy group, a failed resize) commit it: they get a copy of its
	// pacing lists, which Evaluate prunes in place and would otherwise
	// leave duplicated or overwritten.
	before := keepPacing(state)
	d := policy.Evaluate(p, in, state, now)
	state = before
	n.metrics.policies.observe(p, gs, in, d, now)
	desired := d.Desired
	// The provider's own bounds win: asking for more than its max fails.
	if gs.Max > 0 && desired > gs.Max {
		desired = gs.Max
	}
	if desired < gs.Min {
		desired = gs.Min
	}
	proposed := d.Recommended != d.Current || desired != d.Current
	var record *policy.Record
	if proposed {
		r := d.Record(p)
		r.Desired = desired
		r.GroupAge = groupAge(cs.Age)
		record = &r
		n.metrics.decisions.WithLabelValues(d.Action.String()).Inc()
	}
	next := d.Next
	if desired != gs.Desired {
		if record == nil {
			r := d.Record(p)
			r.GroupAge = groupAge(cs.Age)
			record = &r
		}
		if gs.Busy {
			// Do not fight an activity in progress: hold, and try again at
			// the next evaluation, which describes the group again rather
			// than read the busy state until the next refresh.
			l.groups.invalidate(ref)
			record.Action, record.Reason = "hold", "cloud activity in progress; "+record.Reason
			l.commitEvaluated(ctx, v, &state, record, gs.Desired, gs.InService)
			return
		}
		intent, err := l.act(ctx, p, ref, drv, gs.Desired, desired, d.Reason(), now)
		// Whatever came of it, the cached state is from before the
		// resize: the next evaluation describes the group again.
		l.groups.invalidate(ref)
		switch {
		case errors.Is(err, errInDoubt):
			l.wakeAtSettled(ctx, id, intent.ID, intent.Settled)
			// This is the intent's in_doubt decision: the holds that
			// follow until it settles are quiet (hold).
			l.mu.Lock()
			l.held[id] = intent.ID
			l.mu.Unlock()
			// It may have happened: it counts (the cooldown starts)
			// until it is settled.
			record.Action = "in_doubt"
			record.Reason = err.Error() + "; " + record.Reason
			l.commitEvaluated(ctx, v, &next, record, gs.Desired, gs.InService)
			return
		case err != nil:
			// The action did not happen (a known failure), nothing was
			// called (the intent was not committed), or leadership ended
			// after the intent was committed (the next leader settles
			// it): keep the old state (no cooldown starts), with what
			// settle counted. A known failure then ends the intent.
			record.Action = "failed"
			record.Reason = err.Error() + "; " + record.Reason
			committed := l.commitEvaluated(ctx, v, &state, record, gs.Desired, gs.InService)
			var failed *callFailed
			if errors.As(err, &failed) && committed == nil {
				l.commitResult(ctx, intent, outcomeFailed, failed.err.Error())
			}
			return
		}
		// The state that counts the action (its cooldown, its rate-limit
		// change) is committed before the result that ends the intent.
		// The other way round, a leadership lost between the two left a
		// successor with no pending intent to settle and a state without
		// the cooldown (invariant 2). Now a lost result leaves the intent
		// pending: the successor settles it, and countAction finds the
		// change already counted (the intent's At is the evaluation's).
		if l.commitEvaluated(ctx, v, &next, record, desired, gs.InService) == nil {
			l.commitResult(ctx, intent, outcomeApplied, "")
		}
		return
	}
	l.commitEvaluated(ctx, v, &next, record, desired, gs.InService)
}

// withoutWeeks returns models without their weekly adjustments, for a
// state committed in an entry version before store.VersionWeekly, whose
// readers cannot decode them (see there); models itself is unchanged, and
// returned as it is when none has one.
func withoutWeeks(models []policy.MetricModel) []policy.MetricModel {
	if !slices.ContainsFunc(models, func(m policy.MetricModel) bool { return m.Model.Week.Slots != nil }) {
		return models
	}
	out := slices.Clone(models)
	for i := range out {
		out[i].Model.Week = forecast.Week{}
	}
	return out
}

// callFailed is a cloud call's known failure (a refusal, a failed
// operation): the resize did not happen and the intent can end.
type callFailed struct{ err error }

func (e *callFailed) Error() string { return e.err.Error() }
func (e *callFailed) Unwrap() error { return e.err }

// commitResult commits the known outcome of an intent's call, which ends
// the intent. A result that cannot be committed leaves the intent
// pending: the next evaluation, or the next leader, settles it.
func (l *loop) commitResult(ctx context.Context, intent store.Intent, outcome, detail string) {
	n := l.n
	if err := n.apply(ctx, store.IntentResult{Policy: intent.Policy, IntentID: intent.ID, Outcome: outcome, Error: detail, At: n.now()}); err != nil {
		l.log.Warn("committing the result failed; the next evaluation settles it", "policy", intent.Policy, "err", err)
	}
}

// keepPacing returns s with its own copies of the lists Evaluate changes
// in place: rate-limit changes, the stabilization window and reversals.
// The forecasting models stay shared: what they learned from the sample
// stays learned whatever the cloud call does.
func keepPacing(s policy.State) policy.State {
	s.Changes = slices.Clone(s.Changes)
	s.Recommendations = slices.Clone(s.Recommendations)
	s.Reversals = slices.Clone(s.Reversals)
	return s
}

// errInDoubt says that a resize may or may not take effect: the request
// may have reached the provider, and the answer did not come back.
var errInDoubt = errors.New("the outcome is unknown")

// inDoubt reports whether a failed call may still have taken effect: the
// caller gave up (deadline, cancelled leadership) or the provider was
// unavailable mid-request. Refusals (throttled, invalid, conflict, not
// found) and a failed long-running operation are known failures.
func inDoubt(err error) bool {
	switch {
	case errors.Is(err, cloud.ErrOperationFailed):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, cloud.ErrUnavailable):
		return true
	}
	return false
}

// act commits an intent with its fence, made at now (the evaluation's
// time, so that the intent and the change the evaluation counted carry
// the same instant), and performs the cloud call under the caller
// identity of this node and term with the fence's SendBy as its deadline.
// It does not end the intent: on success, or on a known failure
// (*callFailed), the caller commits the policy's state and then the
// result (commitResult). A call whose outcome is unknown leaves the
// intent pending, and returns an error wrapping errInDoubt: the policy's
// next evaluation (or the next leader's) settles it once its Settled time
// has passed.
func (l *loop) act(ctx context.Context, p policy.Policy, ref cloud.GroupRef, drv cloud.Driver, from, to int, reason string, now time.Time) (store.Intent, error) {
	n := l.n
	intent := store.Intent{Policy: p.ID, Group: ref.String(), From: from, To: to, Reason: reason, Term: l.term, Node: n.cfg.NodeID,
		At: now, SendBy: now.Add(n.cfg.CloudTimeout), Settled: now.Add(n.cfg.CloudTimeout + n.cfg.CloudSettle)}
	res, err := n.applyResult(ctx, store.PutIntent{Intent: intent})
	if err != nil {
		return intent, fmt.Errorf("committing the intent: %w", err)
	}
	intent.ID = res.index
	if ctx.Err() != nil {
		// Leadership ended after the intent was committed: the next leader
		// settles it once its fence has passed.
		return intent, ctx.Err()
	}
	// The fence: the call's deadline is the intent's SendBy, on the
	// node's clock (the wall clock, not the monotonic one, so that the
	// deadline is the instant written in the intent).
	// The request id names the intent at providers that take one
	// (Compute Engine: its retries land once, and its operation record
	// names the intent when the intent is settled).
	cctx := cloud.WithRequest(cloud.WithCaller(ctx, cloud.Caller{Node: n.cfg.NodeID, Term: l.term}), cloud.RequestID(p.ID, intent.ID))
	cctx, cancel := context.WithDeadline(cctx, intent.SendBy)
	callErr := timedSetDesired(cctx, n.metrics, drv, ref, to)
	cancel()
	switch {
	case callErr == nil:
		n.metrics.actuations.WithLabelValues("ok").Inc()
		l.log.Info("scaled", "policy", p.ID, "group", ref.String(), "from", from, "to", to, "reason", reason)
		return intent, nil
	case inDoubt(callErr):
		n.metrics.actuations.WithLabelValues("in_doubt").Inc()
		l.log.Warn("scaling outcome unknown; the group is in doubt", "policy", p.ID, "from", from, "to", to,
			"until", intent.Settled, "err", callErr)
		return intent, fmt.Errorf("%w until %s: %w", errInDoubt, intent.Settled.UTC().Format(time.RFC3339Nano), callErr)
	default:
		n.metrics.actuations.WithLabelValues("error").Inc()
		l.log.Warn("scaling failed", "policy", p.ID, "from", from, "to", to, "err", callErr)
		return intent, &callFailed{err: callErr}
	}
}

// hold records that a policy is held while an intent is in doubt. The
// decision (action in_doubt, and why and until when in its reason) is
// recorded once per intent and term; later holds are quiet evaluations.
func (l *loop) hold(ctx context.Context, v evalView, in *store.Intent, why string) {
	id := v.Record.Policy.ID
	l.mu.Lock()
	first := l.held[id] != in.ID
	l.held[id] = in.ID
	l.mu.Unlock()
	l.wakeAtSettled(ctx, id, in.ID, in.Settled)
	var record *policy.Record
	if first {
		l.log.Info("holding: group in doubt", "policy", id, "intent", in.ID, "why", why)
		record = &policy.Record{Time: l.n.now(), Action: "in_doubt", Current: v.Desired, Ready: v.Ready, Desired: in.To, Reason: why}
	}
	l.commitEvaluated(ctx, v, nil, record, v.Desired, v.Ready)
}

// commitReason is why commitEvaluated writes an evaluation, or that it
// does not (commitQuiet). The reasons are checked in this order and the
// first that holds is counted (capstan_evaluation_commits_total).
type commitReason uint8

const (
	commitQuiet     commitReason = iota // nothing worth a Raft write
	commitRecord                        // a decision is recorded
	commitPacing                        // the pacing state changed
	commitStateSync                     // the state was last committed StateSync ago
	commitSizes                         // the group's desired or ready size changed
	commitFirst                         // the term's first evaluation of the policy
	commitHeartbeat                     // the policy's LastEvaluation is StateSync old
	commitReasons                       // the number of reasons
)

// commitReasonNames label capstan_evaluation_commits_total.
var commitReasonNames = [commitReasons]string{"quiet", "record", "pacing", "state_sync", "sizes", "first_of_term", "heartbeat"}

func (r commitReason) String() string { return commitReasonNames[r] }

// commitEvaluated writes the evaluation's outcome and keeps next as the
// state the policy's next evaluation in this term starts from. The state
// is committed when its pacing (type pacing) changed and at least every
// StateSync; forecasting models change every evaluation and go with it
// every ModelSync, at the policy's own times (modelsDueAfter), and with
// every action (entry version 7 on; in older versions with every state).
// A decision record, a change of the group's sizes, the term's first
// evaluation of the policy and, every StateSync, its LastEvaluation are
// committed without the state unless it is due.
// All but actions are committed in the term's batches (evalcommits.go).
//
// It returns the error of a commit it waited for (an action's, its
// failure's or its doubt's), nil otherwise.
func (l *loop) commitEvaluated(ctx context.Context, v evalView, next *policy.State, record *policy.Record, desired, ready int) error {
	n := l.n
	id := v.Record.Policy.ID
	cmd := store.Evaluated{Policy: id, PolicyVersion: v.Record.Version, Record: record, Desired: desired, Ready: ready, At: n.now()}
	l.mu.Lock()
	_, evaluatedThisTerm := l.last[id]
	l.last[id] = cmd.At
	if l.repeatsHold(id, record) {
		record, cmd.Record = nil, nil
	}
	l.mu.Unlock()
	check := commitCheck{recorded: record != nil, sizesChanged: desired != v.Desired || ready != v.Ready,
		firstOfTerm: !evaluatedThisTerm, sinceCommit: cmd.At.Sub(v.Last), stateSync: n.cfg.StateSync}
	// An action, its failure or its doubt is committed before the
	// evaluation returns, like the intent and the result before it, and
	// with the whole state: a successor resumes from the models it acted
	// on.
	urgent := l.commits == nil || (record != nil && record.Action != policy.ActionHold.String())
	var mark syncMark
	if next != nil {
		l.keepState(id, v.Record.Version, *next)
		prev, _ := l.synced.Load(id)
		pm, _ := prev.(syncMark)
		if pm.version != v.Record.Version {
			pm = syncMark{}
		}
		mark = syncMark{at: cmd.At, version: v.Record.Version}
		check.hasState, check.pacingChanged, check.sinceStateSync = true, !pm.pacing.matches(next), cmd.At.Sub(pm.at)
		due := !cmd.At.Before(pm.nextModels)
		mark.nextModels = modelsDueAfter(id, cmd.At, max(n.cfg.ModelSync, n.cfg.StateSync))
		if !due && len(next.Models) > 0 && !urgent {
			// The models, most of a week-old state's bytes, are not due:
			// if the state goes, it goes without them.
			check.pacingOnly, mark.nextModels = true, pm.nextModels
		}
		// Models that are due go at once, not with the next state due by
		// StateSync: a term's states fall due together, every StateSync,
		// and would take the models back into one round. (Before entry
		// version 7 every state goes with its models, and none goes for
		// them.)
		check.modelsDue = due && len(next.Models) > 0 && l.commits != nil
	}
	reason, withState := check.decide()
	if withState {
		// Copied now: the next evaluation reuses next's lists.
		mark.pacing = pacingOf(next)
		s := *next
		if check.pacingOnly {
			s.Models = nil
		} else if n.cfg.writeVersion() < store.VersionWeekly {
			// The models are the policy package's own bytes, which the
			// entry version does not shape. The record needs no such
			// step: store encodes it field by field and leaves out what
			// the version written has no place for (each metric's
			// weekly part before store.VersionWeeklyPart).
			s.Models = withoutWeeks(s.Models)
		}
		var (
			b   []byte
			err error
		)
		switch wv := n.cfg.writeVersion(); {
		case wv < store.VersionTimeOfDay:
			// Policy state version 4, without the models' scores by the
			// time of day, which servers before store.VersionTimeOfDay
			// cannot decode (see there), and with every season that
			// scales with the level made additive; the kept state keeps
			// both. A pacing state has no models and is version 4 either
			// way.
			b, err = s.MarshalBinaryV4()
		case wv < store.VersionScaledSeason:
			// Policy state version 4 or 5, with every season that scales
			// with the level made additive at today's amplitude, which
			// servers before store.VersionScaledSeason cannot decode (see
			// there); the kept state keeps scaling.
			b, err = s.MarshalBinaryV5()
		case wv < store.VersionCostBound:
			// Policy state version 6 or older, without the forecast's
			// cost bound's account, which servers before
			// store.VersionCostBound cannot decode (see there); the kept
			// state keeps it, and a new leader after a failover starts
			// the account afresh.
			b, err = s.MarshalBinaryV6()
		default:
			b, err = s.MarshalBinary()
		}
		if err != nil {
			l.log.Warn("encoding the state failed; committing without it", "policy", id, "err", err)
			check.hasState = false
			reason, withState = check.decide()
		}
		if check.pacingOnly {
			cmd.Pacing = b
		} else {
			cmd.State = b
		}
	}
	n.metrics.evalCommits[reason].Inc()
	if reason == commitQuiet {
		return nil
	}
	// The closure takes a copy: were it to capture mark itself, mark
	// would be on the heap at every evaluation, quiet ones included.
	committed := mark
	done := func(err error) {
		if err != nil {
			if !errors.Is(err, api.ErrNoLeader) && !errors.Is(err, api.ErrOutcomeUnknown) && ctx.Err() == nil {
				l.log.Debug("committing the evaluation failed", "policy", id, "err", err)
			}
			return
		}
		if withState {
			l.synced.Store(id, committed)
		}
	}
	if urgent {
		err := l.commitNow(ctx, cmd)
		done(err)
		return err
	}
	l.commits.add(evalCommit{cmd: cmd, done: done}, false)
	return nil
}

// repeatsHold reports whether record is a hold this term already recorded
// for the policy at its previous recorded evaluation (holdKey), and
// remembers it; any other evaluation ends the episode, so the next hold is
// recorded again. A policy held by its cooldown or its stabilization
// window recorded the same hold at every evaluation, about one evaluation
// in ten under the load run, each a Raft write and a slot of the
// policy's bounded decision history. Under l.mu.
func (l *loop) repeatsHold(id string, record *policy.Record) bool {
	if record == nil || record.Action != policy.ActionHold.String() {
		delete(l.holding, id)
		return false
	}
	if l.holding == nil {
		l.holding = map[string]string{}
	}
	key := holdKey(*record)
	same := l.holding[id] == key
	l.holding[id] = key
	return same
}

// holdKey is what makes two hold decisions the same hold: the sizes
// proposed and kept and the rule that bound them. The metric values, the
// forecast and the reason text, which move at every evaluation, are left
// out: the first record of the episode shows them.
func holdKey(r policy.Record) string {
	return fmt.Sprintf("%d %d %d %s %t %d %s", r.Current, r.Recommended, r.Desired, r.Bound, r.Stale, r.ScaleInRule, r.Schedule)
}

// commitCheck is what decides whether an evaluation is committed, and
// with its state or without.
type commitCheck struct {
	// recorded: the evaluation recorded a decision.
	recorded bool
	// hasState: the evaluation left a state; pacingChanged: its pacing
	// differs from the last one this term committed; sinceStateSync: how
	// long ago this term last committed the policy's state (the zero
	// time when never, so always long).
	hasState, pacingChanged bool
	sinceStateSync          time.Duration
	// pacingOnly: if the state goes, it goes without its models (they
	// are not due: modelsDueAfter). modelsDue: they are, and the state
	// goes for them.
	pacingOnly, modelsDue bool
	// sizesChanged: the group's desired or ready size differs from the
	// committed one; firstOfTerm: this term had not evaluated the policy.
	sizesChanged, firstOfTerm bool
	// sinceCommit is the age of the committed LastEvaluation.
	sinceCommit time.Duration
	stateSync   time.Duration
}

// decide returns why the evaluation is committed (commitQuiet: it is
// not) and whether the state goes with it: only when its pacing changed,
// it was last committed StateSync ago or its models are due, whatever
// else forces the commit. A quiet evaluation (nothing recorded, no state
// due, same sizes) is not worth a Raft write; the first one of a term
// always is, so followers see that the new leader evaluates, and
// LastEvaluation is refreshed at least every StateSync.
func (c commitCheck) decide() (reason commitReason, withState bool) {
	withState = c.hasState && (c.pacingChanged || c.sinceStateSync >= c.stateSync || c.modelsDue)
	switch {
	case c.recorded:
		reason = commitRecord
	case withState && c.pacingChanged:
		reason = commitPacing
	case withState:
		reason = commitStateSync
	case c.sizesChanged:
		reason = commitSizes
	case c.firstOfTerm:
		reason = commitFirst
	case c.sinceCommit >= c.stateSync:
		reason = commitHeartbeat
	}
	return reason, withState
}

// pacing is the part of a state whose change forces a commit: cooldown
// times, the rate-limit history, the anti-flapping state (last action,
// reversals, last forecast scale-out) and the sizes in the stabilization
// window. The window's timestamps move at every evaluation; they are
// refreshed with the rest of the state at least every StateSync, so a
// failover can shorten a stabilization window by at most that much.
// Evidence and the models are left out: a successor that starts from them
// StateSync old enters a sample again or forecasts from an older model,
// and decides no pacing differently.
//
// Times are kept as the state's encoding keeps them (Unix nanoseconds, 0
// for the zero time), so two states match exactly when their encodings
// of these parts would. Every evaluation compares its state with the last
// one committed (matches, which allocates nothing); only a commit takes a
// copy (pacingOf). Encoding the parts at every evaluation to compare them
// was most of an idle evaluation's garbage (BenchmarkIdleEvaluation).
type pacing struct {
	set                              bool // false: matches no state
	lastOut, lastIn, lastForecastOut int64
	lastAction                       policy.Action
	changes                          []policy.Change
	reversals                        []int64
	sizes                            []int
}

// pacingOf copies the pacing of s.
func pacingOf(s *policy.State) pacing {
	p := pacing{set: true, lastOut: unixKey(s.LastScaleOut), lastIn: unixKey(s.LastScaleIn),
		lastForecastOut: unixKey(s.LastForecastScaleOut), lastAction: s.LastAction,
		changes: slices.Clone(s.Changes)}
	for _, r := range s.Reversals {
		p.reversals = append(p.reversals, unixKey(r))
	}
	for _, r := range s.Recommendations {
		p.sizes = append(p.sizes, r.Size)
	}
	return p
}

// matches reports whether s has this pacing.
func (p *pacing) matches(s *policy.State) bool {
	if !p.set || p.lastOut != unixKey(s.LastScaleOut) || p.lastIn != unixKey(s.LastScaleIn) ||
		p.lastForecastOut != unixKey(s.LastForecastScaleOut) || p.lastAction != s.LastAction ||
		len(p.changes) != len(s.Changes) || len(p.reversals) != len(s.Reversals) || len(p.sizes) != len(s.Recommendations) {
		return false
	}
	for i, c := range s.Changes {
		if unixKey(c.At) != unixKey(p.changes[i].At) || c.From != p.changes[i].From || c.To != p.changes[i].To {
			return false
		}
	}
	for i, r := range s.Reversals {
		if unixKey(r) != p.reversals[i] {
			return false
		}
	}
	for i, r := range s.Recommendations {
		if r.Size != p.sizes[i] {
			return false
		}
	}
	return true
}

// unixKey is a time as the state's encoding keeps it.
func unixKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timedDescribe and timedSetDesired record cloud latency and outcome.
func timedDescribe(ctx context.Context, m *nodeMetrics, d cloud.Driver, g cloud.GroupRef) (cloud.GroupState, error) {
	start := time.Now()
	gs, err := d.Describe(ctx, g)
	m.observeCloud(g.Provider, "describe", start, err)
	return gs, err
}

func timedSetDesired(ctx context.Context, m *nodeMetrics, d cloud.Driver, g cloud.GroupRef, to int) error {
	start := time.Now()
	err := d.SetDesired(ctx, g, to)
	m.observeCloud(g.Provider, "set_desired", start, err)
	return err
}
