package controlplane

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
)

// nodeMetrics are the node's own Prometheus metrics, registered only on the
// registerer the node was given.
type nodeMetrics struct {
	evaluations prometheus.Counter
	// evalCommits counts evaluations by whether and why the leader wrote
	// them to the Raft log (commitReason), one counter per reason.
	evalCommits   [commitReasons]prometheus.Counter
	evalErrors    *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	actuations    *prometheus.CounterVec
	leaderChanges prometheus.Counter
	cloudLatency  *prometheus.HistogramVec
	sourceErrors  *prometheus.CounterVec
	// roundTrip is the leader's last measured Raft quorum round trip.
	roundTrip prometheus.Gauge
	// groupDescribed counts groups described for the leader's group-state
	// cache, by why; groupSaved counts evaluations that read cached state
	// instead (each was a describe call before the cache).
	groupDescribed *prometheus.CounterVec
	groupSaved     prometheus.Counter
	// groupAge is how old the group state each evaluation read was;
	// groupOldest and groupsCached describe the cache after each refresh;
	// groupRefresh is how long a refresh of every group took.
	groupAge     prometheus.Histogram
	groupOldest  prometheus.Gauge
	groupsCached prometheus.Gauge
	groupRefresh prometheus.Histogram
	// groupOverrun is how far the last periodic refresh ran past its
	// period (groupcache.go, refreshSpread).
	groupOverrun prometheus.Gauge
	// policies holds the per-policy series (capacity.go): the freshness
	// of each metric and the gauges of capacity against demand of the
	// leader's last evaluation of each policy. Only the leader sets them,
	// and it clears them when it stops leading, so a cluster exports one
	// value per series.
	policies *policySeries
	// pull counts the pull cache's reads and refreshes (pullcache.go).
	pull pullMetrics
}

func newNodeMetrics(reg prometheus.Registerer, n *Node) (*nodeMetrics, error) {
	m := &nodeMetrics{
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstan_evaluations_total", Help: "Policy evaluations run by this node while leading."}),
		evalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_evaluation_errors_total", Help: "Evaluations that could not run, by stage."}, []string{"stage"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_decisions_total", Help: "Recorded decisions (proposed changes, acted on or held), by action."}, []string{"action"}),
		actuations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_actuations_total", Help: "Cloud resize calls, by outcome."}, []string{"outcome"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstan_leadership_acquired_total", Help: "Times this node became the Raft leader."}),
		cloudLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "capstan_cloud_request_duration_seconds", Help: "Cloud API call latency.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"provider", "operation", "outcome"}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_source_errors_total", Help: "Failed reads of pulled metric sources, by kind; the metric goes stale."}, []string{"kind"}),
		roundTrip: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstan_raft_round_trip_seconds", Help: "The leader's last measured Raft round trip to a quorum (a heartbeat round, every 2 s); compare with --leader-lease-timeout."}),
		groupDescribed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_group_describes_total", Help: "Groups the leader described for its group-state cache, by reason: refresh (the periodic batch), prefetch (due and not cached, batched per tick), evaluation (one group on demand), settle (proof of an intent's outcome)."},
			[]string{"reason"}),
		groupSaved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "capstan_group_describes_saved_total", Help: "Evaluations that read their group's state from the leader's cache instead of describing the group."}),
		groupAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "capstan_group_state_age_seconds", Help: "Age of the group state each evaluation read, from when its describe was sent.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120}}),
		groupOldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstan_group_state_oldest_seconds", Help: "Age of the oldest group state in the leader's cache after its last refresh; compare with twice --group-refresh, beyond which no evaluation acts on it."}),
		groupsCached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstan_group_cache_groups", Help: "Groups in the leader's group-state cache after its last refresh."}),
		groupRefresh: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "capstan_group_refresh_duration_seconds", Help: "How long the leader took to describe every group of its policies, in batches.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10)}),
		groupOverrun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "capstan_group_refresh_overrun_seconds", Help: "How far the leader's last refresh of every group ran past --group-refresh (0: it fit); above 0 the provider's read budget cannot describe every group that often."}),
	}
	commits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "capstan_evaluation_commits_total", Help: "Evaluations by whether and why the leader wrote them to the Raft log: quiet (not written), record (a decision), pacing (cooldowns, rate-limit history or the binding stabilization size changed), state_sync (the state's periodic refresh), sizes (the group's size changed), first_of_term, heartbeat."},
		[]string{"reason"})
	for r := range commitReasons {
		m.evalCommits[r] = commits.WithLabelValues(r.String())
	}
	m.policies = newPolicySeries()
	m.pull = newPullMetrics()
	raftState := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstan_raft_leader", Help: "1 when this node is the Raft leader."},
		func() float64 {
			if n.raft != nil && n.raft.State() == raft.Leader {
				return 1
			}
			return 0
		})
	applied := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstan_raft_applied_index", Help: "Last Raft index applied to the FSM."},
		func() float64 {
			if n.raft == nil {
				return 0
			}
			return float64(n.raft.AppliedIndex())
		})
	commit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstan_raft_commit_index", Help: "Last Raft index known committed."},
		func() float64 {
			if n.raft == nil {
				return 0
			}
			return float64(n.raft.CommitIndex())
		})
	term := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstan_raft_term", Help: "Current Raft term."},
		func() float64 {
			if n.raft == nil {
				return 0
			}
			return float64(n.raft.CurrentTerm())
		})
	policies := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "capstan_policies", Help: "Policies in the replicated state."},
		func() float64 { return float64(n.fsm.policyCount()) })
	for _, c := range append(m.pull.collectors(), m.policies, m.evaluations, commits, m.evalErrors, m.decisions, m.actuations, m.leaderChanges, m.cloudLatency, m.sourceErrors, m.roundTrip,
		m.groupDescribed, m.groupSaved, m.groupAge, m.groupOldest, m.groupsCached, m.groupRefresh, m.groupOverrun, raftState, applied, commit, term, policies, newHealthCollector(n)) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observeCloud records one cloud call.
func (m *nodeMetrics) observeCloud(provider, op string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, cloud.ErrThrottled):
		outcome = "throttled"
	case errors.Is(err, cloud.ErrNotFound):
		outcome = "not_found"
	case errors.Is(err, cloud.ErrInvalid):
		outcome = "invalid"
	case errors.Is(err, cloud.ErrConflict):
		outcome = "conflict"
	default:
		outcome = "error"
	}
	m.cloudLatency.WithLabelValues(provider, op, outcome).Observe(time.Since(start).Seconds())
}

// forgetInputs drops the per-policy series of the given policy, or of
// every policy (and the group cache's gauges) when id is empty.
func (m *nodeMetrics) forgetInputs(id string) {
	m.policies.forget(id)
	if id == "" {
		m.groupOldest.Set(0)
		m.groupsCached.Set(0)
		m.groupOverrun.Set(0)
	}
}
