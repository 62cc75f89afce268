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
	evaluations   prometheus.Counter
	evalErrors    *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	actuations    *prometheus.CounterVec
	leaderChanges prometheus.Counter
	cloudLatency  *prometheus.HistogramVec
	sourceErrors  *prometheus.CounterVec
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
	}
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
		func() float64 { return float64(len(n.fsm.Policies())) })
	for _, c := range []prometheus.Collector{m.evaluations, m.evalErrors, m.decisions, m.actuations, m.leaderChanges, m.cloudLatency, m.sourceErrors, raftState, applied, commit, term, policies} {
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
