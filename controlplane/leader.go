package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
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
	l := &loop{n: n, term: term, log: log, busy: map[string]bool{}, last: map[string]time.Time{}}
	l.reconcileAll(ctx)

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
	defer func() {
		close(work)
		wg.Wait()
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
	dueAll := func(force bool) {
		now := n.now()
		policies := n.fsm.Policies()
		l.forgetDeleted(policies)
		for _, rec := range policies {
			if force || now.Sub(l.lastEvaluation(rec.Policy.ID)) >= rec.Policy.EvaluationInterval.D() {
				dispatch(rec.Policy.ID)
			}
			if ctx.Err() != nil {
				return
			}
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
			dispatch(id)
		case <-tick.C:
			dueAll(false)
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
// blocks Raft's apply goroutine.
func (n *Node) notifyFresh(ids []string) {
	if n.raft == nil || n.raft.State() != raft.Leader {
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
}

type syncMark struct {
	at     time.Time
	pacing string
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
// exist, including their freshness metrics.
func (l *loop) forgetDeleted(policies []api.PolicyRecord) {
	live := make(map[string]bool, len(policies))
	for _, rec := range policies {
		live[rec.Policy.ID] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.last {
		if !live[id] {
			delete(l.last, id)
			l.n.metrics.forgetInputs(id)
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

// reconcileAll resolves the intents earlier leaders committed but did not
// finish: describing the group tells whether the action took effect. The
// action is never repeated; the next evaluation decides afresh.
func (l *loop) reconcileAll(ctx context.Context) {
	for _, rec := range l.n.fsm.Policies() {
		v, ok := l.n.fsm.view(rec.Policy.ID)
		if !ok {
			continue
		}
		for _, in := range v.Pending {
			outcome, detail := "abandoned", ""
			if drv, err := l.n.cfg.Drivers(rec.Policy.Target.Provider); err == nil {
				cctx, cancel := context.WithTimeout(ctx, l.n.cfg.CloudTimeout)
				gs, err := drv.Describe(cctx, groupRef(rec.Policy.Target))
				cancel()
				switch {
				case err != nil:
					detail = "describe failed: " + err.Error()
				case gs.Desired == in.To:
					outcome = "applied"
				default:
					detail = fmt.Sprintf("group is at %d, not %d", gs.Desired, in.To)
				}
			}
			l.log.Info("reconciled a pending intent", "policy", in.Policy, "intent", in.ID, "outcome", outcome, "detail", detail)
			if err := l.n.apply(ctx, store.IntentResult{Policy: in.Policy, IntentID: in.ID, Outcome: outcome, Error: detail, At: l.n.now()}); err != nil {
				return
			}
		}
	}
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
	p := v.Record.Policy
	n.metrics.evaluations.Inc()
	drv, err := n.cfg.Drivers(p.Target.Provider)
	if err != nil {
		n.metrics.evalErrors.WithLabelValues("driver").Inc()
		l.log.Warn("no driver", "policy", id, "err", err)
		l.commitEvaluated(ctx, v, nil, nil, v.Desired, v.Ready)
		return
	}
	ref := groupRef(p.Target)
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CloudTimeout)
	gs, err := timedDescribe(cctx, n.metrics, drv, ref)
	cancel()
	if err != nil {
		n.metrics.evalErrors.WithLabelValues("describe").Inc()
		l.log.Warn("describe failed", "policy", id, "group", ref.String(), "err", err)
		l.commitEvaluated(ctx, v, nil, nil, v.Desired, v.Ready)
		return
	}

	if pulled := l.readPulled(ctx, p); len(pulled) > 0 {
		for _, s := range pulled {
			v.Samples[s.Metric] = s
		}
		// Replicated like pushed samples, so the next leader and every
		// node's status see them.
		if err := n.apply(ctx, store.Samples{Samples: pulled}); err != nil && ctx.Err() == nil {
			l.log.Debug("committing pulled samples failed", "policy", id, "err", err)
		}
	}
	var state policy.State
	if len(v.State) > 0 {
		if err := state.UnmarshalBinary(v.State); err != nil {
			l.log.Warn("stored state unreadable; starting afresh", "policy", id, "err", err)
			state = policy.State{}
		}
	}
	in := policy.Inputs{Current: gs.Desired, Ready: gs.InService}
	for i, m := range p.Metrics {
		if s, ok := v.Samples[m.Name]; ok {
			in.Metrics[i] = policy.Sample{Time: s.Time, Value: s.Value, Present: true}
		}
	}
	now := n.now()
	if state.NeedsHistory(p, now) {
		in.History = n.fsm.history(id, now)
	}
	d := policy.Evaluate(p, in, state, now)
	n.metrics.observeInputs(p, in, d, now)
	n.metrics.capacity.observe(p, gs, in, d)
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
		record = &r
		n.metrics.decisions.WithLabelValues(d.Action.String()).Inc()
	}
	next := d.Next
	if desired != gs.Desired {
		if record == nil {
			r := d.Record(p)
			record = &r
		}
		if gs.Busy {
			// Do not fight an activity in progress: hold, and try again at the next evaluation.
			record.Action, record.Reason = "hold", "cloud activity in progress; "+record.Reason
			l.commitEvaluated(ctx, v, nil, record, gs.Desired, gs.InService)
			return
		}
		if err := l.act(ctx, p, ref, drv, gs.Desired, desired, d.Reason()); err != nil {
			record.Action = "failed"
			record.Reason = err.Error() + "; " + record.Reason
			// The action did not happen: keep the old state (no cooldown starts).
			l.commitEvaluated(ctx, v, nil, record, gs.Desired, gs.InService)
			return
		}
	}
	l.commitEvaluated(ctx, v, &next, record, desired, gs.InService)
}

// act commits an intent, performs the cloud call under the caller identity
// of this node and term, and commits the result.
func (l *loop) act(ctx context.Context, p policy.Policy, ref cloud.GroupRef, drv cloud.Driver, from, to int, reason string) error {
	n := l.n
	intent := store.Intent{Policy: p.ID, Group: ref.String(), From: from, To: to, Reason: reason, Term: l.term, Node: n.cfg.NodeID, At: n.now()}
	res, err := n.applyResult(ctx, store.PutIntent{Intent: intent})
	if err != nil {
		return fmt.Errorf("committing the intent: %w", err)
	}
	if ctx.Err() != nil {
		// Leadership ended after the intent was committed: the next leader
		// reconciles it by describing the group.
		return ctx.Err()
	}
	cctx, cancel := context.WithTimeout(cloud.WithCaller(ctx, cloud.Caller{Node: n.cfg.NodeID, Term: l.term}), n.cfg.CloudTimeout)
	callErr := timedSetDesired(cctx, n.metrics, drv, ref, to)
	cancel()
	outcome, detail := "applied", ""
	if callErr != nil {
		outcome, detail = "failed", callErr.Error()
		n.metrics.actuations.WithLabelValues("error").Inc()
		l.log.Warn("scaling failed", "policy", p.ID, "from", from, "to", to, "err", callErr)
	} else {
		n.metrics.actuations.WithLabelValues("ok").Inc()
		l.log.Info("scaled", "policy", p.ID, "group", ref.String(), "from", from, "to", to, "reason", reason)
	}
	if err := n.apply(ctx, store.IntentResult{Policy: p.ID, IntentID: res.index, Outcome: outcome, Error: detail, At: n.now()}); err != nil {
		l.log.Warn("committing the result failed; the next leader reconciles it", "policy", p.ID, "err", err)
	}
	return callErr
}

// commitEvaluated writes the evaluation's outcome. The state is committed
// when the decision is recorded, when pacing state (cooldowns, rate-limit
// history, stabilization window) changed, and at least every StateSync;
// forecasting models change every evaluation and are synced on that clock.
func (l *loop) commitEvaluated(ctx context.Context, v evalView, next *policy.State, record *policy.Record, desired, ready int) {
	n := l.n
	id := v.Record.Policy.ID
	cmd := store.Evaluated{Policy: id, PolicyVersion: v.Record.Version, Record: record, Desired: desired, Ready: ready, At: n.now()}
	var mark syncMark
	if next != nil {
		pacing := pacingKey(*next)
		prev, _ := l.synced.Load(id)
		pm, _ := prev.(syncMark)
		if record != nil || pacing != pm.pacing || cmd.At.Sub(pm.at) >= n.cfg.StateSync {
			b, err := next.MarshalBinary()
			if err == nil {
				cmd.State = b
				mark = syncMark{at: cmd.At, pacing: pacing}
			}
		}
	}
	l.mu.Lock()
	_, evaluatedThisTerm := l.last[id]
	l.last[id] = cmd.At
	l.mu.Unlock()
	// A quiet evaluation (nothing recorded, no state due, same sizes) is not
	// worth a Raft write; the first one of a term always is, so followers
	// see that the new leader evaluates.
	if evaluatedThisTerm && cmd.State == nil && record == nil && desired == v.Desired && ready == v.Ready &&
		cmd.At.Sub(v.Last) < n.cfg.StateSync {
		return
	}
	if err := n.apply(ctx, cmd); err != nil {
		if !errors.Is(err, api.ErrNoLeader) && ctx.Err() == nil {
			l.log.Debug("committing the evaluation failed", "policy", id, "err", err)
		}
		return
	}
	if cmd.State != nil {
		l.synced.Store(id, mark)
	}
}

// pacingKey encodes the parts of a state whose change forces a commit:
// cooldown times, the rate-limit history and the sizes in the stabilization
// window. The window's timestamps move at every evaluation; they are
// refreshed with the rest of the state at least every StateSync, so a
// failover can shorten a stabilization window by at most that much.
func pacingKey(s policy.State) string {
	p := policy.State{LastScaleOut: s.LastScaleOut, LastScaleIn: s.LastScaleIn, Changes: s.Changes}
	for _, r := range s.Recommendations {
		p.Recommendations = append(p.Recommendations, policy.Recommendation{Size: r.Size})
	}
	b, _ := p.MarshalBinary()
	return string(b)
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
