package controlplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/policy"
)

// groupBatch is how many groups one refresh call asks a batch-capable
// driver for. The driver pages within it by the provider's own limit (50
// names per AWS DescribeAutoScalingGroups call); each call has its own
// CloudTimeout, so one slow page does not cost the whole refresh.
const groupBatch = 200

// groupFetchers bounds the describe calls a cache runs at once: batches for
// batch-capable drivers, single describes for the others.
const groupFetchers = 4

// CallBudget is what the leader needs of the agent's cloud call budget
// (budget.Budget).
type CallBudget interface {
	// AssumeSpent makes the budget start every provider account from an
	// empty bucket, refilling from now.
	AssumeSpent()
}

// groupCache is one leadership term's view of the cloud groups its
// policies scale (issue 15). Evaluations read it instead of describing
// their group every time, which at 10,000 policies was a thousand calls a
// second against providers that throttle at tens. The leader loop creates
// it and drops it with the term, so a new leader never trusts what an
// earlier term (or this node in an earlier term) saw.
//
// A group's state is described:
//   - for every group of a current policy, in batches, every refresh period
//     (Config.GroupRefresh, the refresh loop);
//   - on demand when an evaluation finds it not cached, marked dirty or
//     older than maxAge; the groups due in the same tick are described in
//     one batch (prefetch);
//   - fresh, bypassing the cache, when settle needs proof of an intent's
//     outcome (describe).
//
// This term's own resize of a group marks it dirty: its next evaluation
// describes it again, and a describe that started before the resize ended
// is not kept, so a resize is never followed by an evaluation of the size
// before it.
type groupCache struct {
	drivers func(provider string) (cloud.Driver, error)
	now     func() time.Time
	metrics *nodeMetrics
	// timeout bounds each describe call (Config.CloudTimeout).
	timeout time.Duration
	// maxAge is the oldest state an evaluation may act on; older state is
	// described again first.
	maxAge time.Duration
	// backoff is how long after a throttled describe of a group
	// evaluations leave it to the refresh (one refresh period): against a
	// provider that throttles, a failed refresh must not turn into a
	// describe per evaluation, the load the cache exists to avoid.
	backoff time.Duration
	// period is the refresh period (Config.GroupRefresh), over which
	// refreshSpread spreads a refresh's calls.
	period time.Duration
	// warnedOverrun is set once a refresh that ran past its period has
	// been logged: once a term, not once a period.
	warnedOverrun atomic.Bool

	mu     sync.Mutex
	groups map[cloud.GroupRef]*cachedGroup
	// wg tracks prefetches running in the background; wait ends them.
	wg sync.WaitGroup
}

// cachedGroup is one group's entry.
type cachedGroup struct {
	state cloud.GroupState
	// at is when the describe that answered state was sent: its age is
	// counted from the oldest instant the answer can describe. Zero: never
	// described.
	at time.Time
	// gen counts this term's resizes of the group. A describe keeps its
	// answer only if no resize ended while it ran.
	gen uint64
	// dirty is set by a resize and cleared by the next describe sent
	// after it.
	dirty bool
	// fetching is closed when the describe in flight for the group ends;
	// nil when none is. Evaluations that need the group wait for it
	// instead of sending another.
	fetching chan struct{}
	// err is why the last describe failed, for those that waited on it,
	// and failed when: a throttled group is not described on its own
	// until a refresh period later (backingOff).
	err    error
	failed time.Time
}

// cachedState is a group's state as an evaluation reads it.
type cachedState struct {
	cloud.GroupState
	// Age is how old the state was when read: from when its describe was
	// sent to the reader's now.
	Age time.Duration
	// Cached says that it was read from the cache, not described for this
	// evaluation.
	Cached bool
}

func newGroupCache(drivers func(string) (cloud.Driver, error), now func() time.Time, m *nodeMetrics, timeout, refresh time.Duration) *groupCache {
	return &groupCache{drivers: drivers, now: now, metrics: m, timeout: timeout, maxAge: 2 * refresh, backoff: refresh, period: refresh,
		groups: map[cloud.GroupRef]*cachedGroup{}}
}

// usable reports whether g's state may drive an evaluation at now.
func (c *groupCache) usable(g *cachedGroup, now time.Time) bool {
	return !g.at.IsZero() && !g.dirty && now.Sub(g.at) <= c.maxAge
}

// backingOff reports whether g's last describe was refused for want of
// calls (the provider throttled it, or the call budget had no token for
// it) less than a refresh period before now: evaluations then get that
// error instead of describing the group again, and the next refresh
// retries it. Other failures (unavailable, not found) are described again
// by the next evaluation, as before the cache: one evaluation's
// transient error does not hold a policy for a refresh period.
func (c *groupCache) backingOff(g *cachedGroup, now time.Time) bool {
	return g.err != nil && now.Sub(g.failed) < c.backoff &&
		(errors.Is(g.err, cloud.ErrThrottled) || errors.Is(g.err, budget.ErrWaitExceeded))
}

// entry returns ref's entry, adding it; c.mu must be held.
func (c *groupCache) entry(ref cloud.GroupRef) *cachedGroup {
	g := c.groups[ref]
	if g == nil {
		g = &cachedGroup{}
		c.groups[ref] = g
	}
	return g
}

// get returns ref's state for an evaluation: the cached state while it is
// usable, otherwise the answer of the describe in flight for it, the error
// of its last describe when that was throttled less than a refresh period
// ago, or the answer of a describe it sends. An error means there is no state
// the evaluation may act on.
func (c *groupCache) get(ctx context.Context, drv cloud.Driver, ref cloud.GroupRef) (cachedState, error) {
	waited := false
	for {
		c.mu.Lock()
		g := c.entry(ref)
		now := c.now()
		if c.usable(g, now) {
			st := cachedState{GroupState: g.state, Age: max(0, now.Sub(g.at)), Cached: !waited}
			c.mu.Unlock()
			if st.Cached {
				c.metrics.groupSaved.Inc()
			}
			c.metrics.groupAge.Observe(st.Age.Seconds())
			return st, nil
		}
		if ch := g.fetching; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return cachedState{}, ctx.Err()
			}
			c.mu.Lock()
			g, err := c.groups[ref], error(nil)
			if g != nil {
				err = g.err
			}
			usable := g != nil && c.usable(g, c.now())
			c.mu.Unlock()
			if !usable && err != nil {
				return cachedState{}, err
			}
			waited = true
			continue
		}
		if c.backingOff(g, now) {
			err := g.err
			c.mu.Unlock()
			return cachedState{}, err
		}
		ch := make(chan struct{})
		g.fetching = ch
		gen := g.gen
		c.mu.Unlock()
		c.metrics.groupDescribed.WithLabelValues("evaluation").Inc()
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		sent := c.now()
		gs, err := timedDescribe(cctx, c.metrics, drv, ref)
		cancel()
		c.finish(ref, ch, gen, sent, cloud.Described{State: gs, Err: err})
		if err != nil {
			return cachedState{}, err
		}
		age := max(0, c.now().Sub(sent))
		c.metrics.groupAge.Observe(age.Seconds())
		return cachedState{GroupState: gs, Age: age}, nil
	}
}

// finish records the answer of a describe of ref sent at sent, started
// when the group's resize count was gen, and wakes those waiting on ch.
// An answer is kept only if no resize of the group ended meanwhile, and
// never replaces a newer one.
func (c *groupCache) finish(ref cloud.GroupRef, ch chan struct{}, gen uint64, sent time.Time, d cloud.Described) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[ref]
	if g == nil {
		// Forgotten meanwhile (its policy was deleted): nobody waits
		// on an entry that is gone, but close in case one does.
		close(ch)
		return
	}
	if g.fetching == ch {
		g.fetching = nil
	}
	g.err = d.Err
	if d.Err != nil {
		g.failed = c.now()
	}
	if d.Err == nil && g.gen == gen && !sent.Before(g.at) {
		g.state, g.at, g.dirty = d.State, sent, false
	}
	close(ch)
}

// invalidate marks ref dirty: after this term's resize of it ended,
// whatever its outcome, or when it was busy with an activity. The next
// evaluation describes the group again, and the answer of a describe in
// flight now is not kept.
func (c *groupCache) invalidate(ref cloud.GroupRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.entry(ref)
	g.gen++
	g.dirty = true
}

// describe sends a describe of ref now, bypassing the cache, as settle
// needs to prove an intent's outcome; its answer also refreshes the cache.
func (c *groupCache) describe(ctx context.Context, drv cloud.Driver, ref cloud.GroupRef) (cloud.GroupState, error) {
	c.mu.Lock()
	gen := c.entry(ref).gen
	c.mu.Unlock()
	c.metrics.groupDescribed.WithLabelValues("settle").Inc()
	sent := c.now()
	gs, err := timedDescribe(ctx, c.metrics, drv, ref)
	if err == nil {
		c.mu.Lock()
		if g := c.groups[ref]; g != nil && g.gen == gen && !sent.Before(g.at) {
			g.state, g.at, g.dirty, g.err = gs, sent, false, nil
		}
		c.mu.Unlock()
	}
	return gs, err
}

// prefetch starts describing, in batches and in the background, those of
// refs that an evaluation could not read from the cache now and that no
// describe is in flight for. The evaluations that need them wait for the
// answers in get.
func (c *groupCache) prefetch(ctx context.Context, refs []cloud.GroupRef) {
	c.prefetchWithin(ctx, refs, c.timeout)
}

// prefetchWithin is prefetch with each call bounded by timeout.
func (c *groupCache) prefetchWithin(ctx context.Context, refs []cloud.GroupRef, timeout time.Duration) {
	jobs := c.claim(refs, func(g *cachedGroup, now time.Time) bool { return !c.usable(g, now) && !c.backingOff(g, now) })
	if len(jobs) == 0 {
		return
	}
	c.metrics.groupDescribed.WithLabelValues("prefetch").Add(float64(len(jobs)))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.fetch(ctx, jobs, timeout)
	}()
}

// first is the term's first prefetch, of the groups of every policy (the
// new leader evaluates them all at once): prefetch with its calls as
// background reads (budget.Background). After Config.CloudBudget's
// AssumeSpent they start from an empty bucket, so they go at the budget's
// rate and leave its reserve, and every other read goes before them: a
// settle's describe, a resize's own reads, an evaluation's describe of a
// group outside them. A new leader that described every group at once in
// the foreground, from a full bucket of its own, sent a burst into the
// provider's bucket its predecessor had just spent: the provider throttled
// it, and the evaluations of those groups failed to describe them for a
// refresh period (BENCHMARKS.md, cloud load run, Azure run 2). The calls
// take as long as a refresh at the budget's rate, which fits in the
// refresh period whenever the periodic refresh does. Each call is bounded
// by that period rather than CloudTimeout: its background reads wait
// behind every other read and behind the calls before it (groupFetchers
// at once from an empty bucket, taking turns), and a call that waited
// past CloudTimeout would fail its groups, whose evaluations would then
// fail to describe them for a refresh period. (Before the budget's
// background reads took turns they raced for each token, and under a 1 s
// bound TestFirstDescribes lost 6 of 102 groups so.)
func (c *groupCache) first(ctx context.Context, refs []cloud.GroupRef) {
	c.prefetchWithin(budget.Background(ctx), refs, max(c.timeout, c.period))
}

// refresh describes, in batches, every group in refs (the groups of the
// current policies) that no describe is in flight for, and forgets the
// groups not in refs. Its calls go out at once, as background reads (see
// budget.Background); it returns when every answer is in.
func (c *groupCache) refresh(ctx context.Context, refs []cloud.GroupRef) {
	c.refreshOver(ctx, refs, 0, nil)
}

// refreshSpread is the leader's periodic refresh: refresh with its calls
// spread evenly over the refresh period instead of sent in one burst, the
// i-th of n starting i/n of a period in. Each call claims its groups only
// when it starts, so a group due to be evaluated before its call starts is
// described on demand (a foreground read) instead of waiting for the
// refresh. A refresh that ends after its period (the provider's read
// budget cannot describe every group that often) sets
// capstan_group_refresh_overrun_seconds and is logged once a term.
func (c *groupCache) refreshSpread(ctx context.Context, refs []cloud.GroupRef, log warner) {
	c.refreshOver(ctx, refs, c.period, log)
}

// warner is the log a refresh that overran its period is told to.
type warner interface {
	Warn(msg string, args ...any)
}

// refreshOver refreshes refs with its calls spread over the duration over
// (0: all at once).
func (c *groupCache) refreshOver(ctx context.Context, refs []cloud.GroupRef, over time.Duration, log warner) {
	start := time.Now()
	keep := make(map[cloud.GroupRef]bool, len(refs))
	for _, r := range refs {
		keep[r] = true
	}
	c.mu.Lock()
	for r, g := range c.groups {
		if !keep[r] && g.fetching == nil {
			delete(c.groups, r)
		}
	}
	c.mu.Unlock()
	// No evaluation waits for these reads: they go after every other
	// read of the account (cloud/budget).
	ctx = budget.Background(ctx)
	planned := make([]fetchJob, 0, len(keep))
	for _, r := range refs {
		if keep[r] {
			planned = append(planned, fetchJob{ref: r})
			delete(keep, r) // once each
		}
	}
	calls := c.plan(planned)
	described := 0
	c.run(ctx, calls, c.timeout, func(i int) ([]fetchJob, bool) {
		if over > 0 && len(calls) > 1 {
			at := start.Add(over * time.Duration(i) / time.Duration(len(calls)))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return nil, false
				}
			}
		}
		cl := calls[i]
		refs := make([]cloud.GroupRef, len(cl.jobs))
		for j, job := range cl.jobs {
			refs[j] = job.ref
		}
		jobs := c.claim(refs, func(*cachedGroup, time.Time) bool { return true })
		described += len(jobs)
		return jobs, true
	})
	c.metrics.groupDescribed.WithLabelValues("refresh").Add(float64(described))
	took := time.Since(start)
	c.metrics.groupRefresh.Observe(took.Seconds())
	if over > 0 && ctx.Err() == nil {
		overrun := max(0, took-over)
		c.metrics.groupOverrun.Set(overrun.Seconds())
		if overrun > 0 && log != nil && !c.warnedOverrun.Swap(true) {
			log.Warn("a refresh of every group took longer than --group-refresh: group state grows older than the period, and is described on demand once older than twice it; raise --group-refresh, or the provider's --cloud-read-rate if its account allows (README, Sizing the read rate)",
				"took", took.Round(time.Millisecond), "group_refresh", over, "groups", len(planned), "calls", len(calls))
		}
	}
	c.observeOldest()
}

// observeOldest sets the gauge of the oldest cached state.
func (c *groupCache) observeOldest() {
	c.mu.Lock()
	now, oldest, n := c.now(), time.Duration(0), len(c.groups)
	for _, g := range c.groups {
		if !g.at.IsZero() {
			oldest = max(oldest, now.Sub(g.at))
		}
	}
	c.mu.Unlock()
	c.metrics.groupOldest.Set(oldest.Seconds())
	c.metrics.groupsCached.Set(float64(n))
}

// fetchJob is one group a fetch describes.
type fetchJob struct {
	ref cloud.GroupRef
	ch  chan struct{}
	gen uint64
}

// claim marks the groups of refs that want a describe (and have none in
// flight) as being fetched, once each, and returns them.
func (c *groupCache) claim(refs []cloud.GroupRef, want func(*cachedGroup, time.Time) bool) []fetchJob {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var jobs []fetchJob
	for _, r := range refs {
		g := c.entry(r)
		if g.fetching != nil || !want(g, now) {
			continue
		}
		g.fetching = make(chan struct{})
		jobs = append(jobs, fetchJob{ref: r, ch: g.fetching, gen: g.gen})
	}
	return jobs
}

// fetch describes the claimed groups: per provider, in the calls
// batchJobs makes, at most groupFetchers calls at a time, each bounded by
// timeout. Every job is finished, answered or not.
func (c *groupCache) fetch(ctx context.Context, jobs []fetchJob, timeout time.Duration) {
	calls := c.plan(jobs)
	c.run(ctx, calls, timeout, func(i int) ([]fetchJob, bool) { return calls[i].jobs, true })
}

// fetchCall is one describe call a fetch or a refresh makes, or, with
// err set, the groups of a provider without a driver, which fail with it.
type fetchCall struct {
	drv   cloud.Driver
	batch bool
	jobs  []fetchJob
	err   error
}

// plan splits jobs into describe calls: per provider, in the calls
// batchJobs makes; the jobs of a provider without a driver make one call
// that run fails with the driver's error.
func (c *groupCache) plan(jobs []fetchJob) []fetchCall {
	byProvider := map[string][]fetchJob{}
	var order []string
	for _, j := range jobs {
		if _, ok := byProvider[j.ref.Provider]; !ok {
			order = append(order, j.ref.Provider)
		}
		byProvider[j.ref.Provider] = append(byProvider[j.ref.Provider], j)
	}
	var calls []fetchCall
	for _, prov := range order {
		js := byProvider[prov]
		drv, err := c.drivers(prov)
		if err != nil {
			calls = append(calls, fetchCall{jobs: js, err: err})
			continue
		}
		_, batch := drv.(cloud.BatchDescriber)
		for _, b := range batchJobs(js, batch) {
			calls = append(calls, fetchCall{drv: drv, batch: batch, jobs: b})
		}
	}
	return calls
}

// run makes calls, at most groupFetchers at a time, each bounded by
// timeout, in order: next(i)
// returns the jobs of the i-th call when it is due (false: stop, the
// context ended), which are finished, answered or not.
func (c *groupCache) run(ctx context.Context, calls []fetchCall, timeout time.Duration, next func(i int) ([]fetchJob, bool)) {
	work := make(chan fetchCall)
	var wg sync.WaitGroup
	for range min(groupFetchers, len(calls)) {
		wg.Go(func() {
			for cl := range work {
				if cl.err != nil {
					for _, j := range cl.jobs {
						c.finish(j.ref, j.ch, j.gen, time.Time{}, cloud.Described{Err: cl.err})
					}
					continue
				}
				c.fetchBatch(ctx, cl.drv, cl.batch, cl.jobs, timeout)
			}
		})
	}
	for i, cl := range calls {
		jobs, ok := next(i)
		if !ok {
			break
		}
		if len(jobs) == 0 {
			continue
		}
		cl.jobs = jobs
		work <- cl
	}
	close(work)
	wg.Wait()
}

// batchJobs splits one provider's jobs into describe calls: one group a
// call to a driver that does not batch; otherwise, for GCP and Azure, one
// call per location with all of its groups, and for the others calls of up
// to groupBatch groups. The GCP driver lists a whole zone or region (and
// its autoscalers) once it is asked for more than 50 of its groups, and the
// Azure driver lists a resource group's scale sets: split into calls of
// 200 spread over every location, a refresh of 10,000 GCP groups listed
// each location once per call (about 400 lists instead of 40) and fell
// behind a 20 reads/s budget (BENCHMARKS.md, cloud load run).
func batchJobs(js []fetchJob, batch bool) [][]fetchJob {
	if !batch {
		out := make([][]fetchJob, len(js))
		for i := range js {
			out[i] = js[i : i+1]
		}
		return out
	}
	var out [][]fetchJob
	if p := js[0].ref.Provider; p == "gcp" || p == "azure" {
		byLocation := map[string]int{}
		for _, j := range js {
			key := locationOf(j.ref)
			i, ok := byLocation[key]
			if !ok {
				i = len(out)
				byLocation[key] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], j)
		}
		return out
	}
	for len(js) > 0 {
		n := min(groupBatch, len(js))
		out = append(out, js[:n])
		js = js[n:]
	}
	return out
}

// locationOf is what a GCP or Azure driver lists in one go: a project's
// zone or region, a subscription's resource group.
func locationOf(g cloud.GroupRef) string {
	if g.Provider == "azure" {
		return g.Subscription + "/" + g.ResourceGroup
	}
	return g.Project + "/" + g.Zone + "/" + g.Region
}

// fetchBatch describes jobs in one DescribeAll call (one DescribeBatch
// when batch, else one Describe per job) bounded by timeout, and records
// each answer. A
// batch of one is a Describe: no provider describes one group cheaper in
// a list.
func (c *groupCache) fetchBatch(ctx context.Context, drv cloud.Driver, batch bool, jobs []fetchJob, timeout time.Duration) {
	refs := make([]cloud.GroupRef, len(jobs))
	for i, j := range jobs {
		refs[i] = j.ref
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	sent := c.now()
	var out []cloud.Described
	var err error
	if len(refs) == 1 {
		var d cloud.Described
		d.State, d.Err = timedDescribe(cctx, c.metrics, drv, refs[0])
		out = []cloud.Described{d}
	} else {
		start := time.Now()
		out, err = cloud.DescribeAll(cctx, drv, refs)
		op := "describe"
		if batch {
			op = "describe_batch"
		}
		c.metrics.observeCloud(refs[0].Provider, op, start, err)
	}
	cancel()
	for i, j := range jobs {
		d := cloud.Described{Err: err}
		if err == nil {
			d = out[i]
		}
		if d.Err != nil {
			d.Err = fmt.Errorf("describing %s: %w", j.ref, d.Err)
		}
		c.finish(j.ref, j.ch, j.gen, sent, d)
	}
}

// wait returns when the background prefetches have ended; the leader
// loop calls it after cancelling their context.
func (c *groupCache) wait() { c.wg.Wait() }

// groupAge is a group state's age as a decision records it: to the
// millisecond, and at least one, since zero means unknown.
func groupAge(age time.Duration) policy.Duration {
	return policy.Duration(max(time.Millisecond, age.Round(time.Millisecond)))
}

// groupRefs appends the group of each policy of ids that exists to out.
func (f *FSM) groupRefs(ids []string, out []cloud.GroupRef) []cloud.GroupRef {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, id := range ids {
		if e := f.state.Policies[id]; e != nil {
			out = append(out, groupRef(e.Record.Policy.Target))
		}
	}
	return out
}

// allGroupRefs returns the group of every policy, once each, in
// compareRefs order: so that every refresh puts the same groups in the
// same batch calls, whose answers at idle are then the ones before (the
// AWS driver serves an answer it has seen from its memo instead of
// decoding it again; in the policy map's order the batches changed at
// every refresh and no answer repeated).
func (f *FSM) allGroupRefs() []cloud.GroupRef {
	f.mu.RLock()
	seen := make(map[cloud.GroupRef]bool, len(f.state.Policies))
	out := make([]cloud.GroupRef, 0, len(f.state.Policies))
	for _, e := range f.state.Policies {
		r := groupRef(e.Record.Policy.Target)
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	f.mu.RUnlock()
	slices.SortFunc(out, compareRefs)
	return out
}

// compareRefs orders group references field by field.
func compareRefs(a, b cloud.GroupRef) int {
	return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Zone, b.Zone),
		cmp.Compare(a.Project, b.Project), cmp.Compare(a.Subscription, b.Subscription), cmp.Compare(a.ResourceGroup, b.ResourceGroup),
		cmp.Compare(a.Group, b.Group), cmp.Compare(a.ScaleSet, b.ScaleSet))
}
