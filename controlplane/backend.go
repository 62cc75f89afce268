package controlplane

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

var _ api.Backend = (*Node)(nil)

// Sample validation bounds: a sample must be recent enough to matter and not
// claim to come from the future (beyond clock skew).
const (
	maxSampleAge  = time.Hour
	maxSampleSkew = 5 * time.Minute
)

// PutPolicy commits a policy write; it returns once Raft has committed it.
func (n *Node) PutPolicy(ctx context.Context, p policy.Policy, ifMatch string) (api.PolicyRecord, error) {
	if err := p.Validate(); err != nil {
		return api.PolicyRecord{}, err
	}
	cmd := store.PutPolicy{Policy: p, IfMatch: ifMatch, At: n.now().UTC(), Audit: n.auditOf(ctx)}
	res, err := n.applyResult(ctx, cmd)
	auditCommitted(ctx, cmd.Audit, res)
	if err != nil {
		return api.PolicyRecord{}, err
	}
	return res.record(), nil
}

// DeletePolicy commits a policy removal.
func (n *Node) DeletePolicy(ctx context.Context, id, ifMatch string) error {
	cmd := store.DeletePolicy{ID: id, IfMatch: ifMatch, Audit: n.auditOf(ctx)}
	res, err := n.applyResult(ctx, cmd)
	auditCommitted(ctx, cmd.Audit, res)
	return err
}

// GetPolicy reads a policy from this node's state.
func (n *Node) GetPolicy(_ context.Context, id string) (api.PolicyRecord, error) {
	return n.fsm.Policy(id)
}

// ListPolicies reads every policy from this node's state.
func (n *Node) ListPolicies(context.Context) ([]api.PolicyRecord, error) {
	return n.fsm.Policies(), nil
}

// Decisions reads a policy's decision history, newest first.
func (n *Node) Decisions(_ context.Context, id string, limit int) ([]policy.Record, error) {
	return n.fsm.Decisions(id, limit)
}

// PolicyStatus reads a policy's live state.
func (n *Node) PolicyStatus(_ context.Context, id string) (api.PolicyStatus, error) {
	st, ps, err := n.fsm.status(id)
	if err != nil {
		return st, err
	}
	rec, _ := n.fsm.Policy(id)
	if !ps.LastScaleOut.IsZero() {
		if end := ps.LastScaleOut.Add(rec.Policy.ScaleOut.Cooldown.D()); end.After(n.now()) {
			st.ScaleOutCooldownUntil = &end
		}
	}
	last := ps.LastScaleIn
	if ps.LastScaleOut.After(last) {
		last = ps.LastScaleOut
	}
	if !last.IsZero() {
		if end := last.Add(rec.Policy.ScaleIn.Cooldown.D()); end.After(n.now()) {
			st.ScaleInCooldownUntil = &end
		}
	}
	if st.LastDecision != nil {
		for i := range st.Metrics {
			for _, m := range st.LastDecision.Metrics {
				if m.Name == st.Metrics[i].Name {
					st.Metrics[i].Forecast, st.Metrics[i].Skill = m.Forecast, m.Skill
				}
			}
		}
	}
	return st, nil
}

// PushMetrics validates each sample, commits the accepted ones in one Raft
// entry, and reports the rejected ones by index.
func (n *Node) PushMetrics(ctx context.Context, samples []api.Sample) (api.PushResult, error) {
	now := n.now()
	var res api.PushResult
	accepted := make([]api.Sample, 0, len(samples))
	// Only the policies this batch names are looked up: a cluster may hold
	// thousands, and a batch usually feeds a few.
	metrics := map[string]map[string]bool{}
	policies := map[string]policy.Policy{}
	for _, s := range samples {
		if _, seen := metrics[s.Policy]; seen {
			continue
		}
		rec, err := n.fsm.Policy(s.Policy)
		if err != nil {
			metrics[s.Policy] = nil
			continue
		}
		policies[s.Policy] = rec.Policy
		set := make(map[string]bool, len(rec.Policy.Metrics))
		for _, m := range rec.Policy.Metrics {
			set[m.Name] = true
		}
		metrics[s.Policy] = set
	}
	for i, s := range samples {
		reason := ""
		switch {
		case metrics[s.Policy] == nil:
			reason = fmt.Sprintf("policy: unknown policy %q", s.Policy)
		case !metrics[s.Policy][s.Metric]:
			reason = fmt.Sprintf("metric: policy %q has no metric %q", s.Policy, s.Metric)
		case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
			reason = "value: must be a finite number"
		case s.Time.IsZero():
			reason = "time: required"
		case s.Time.Before(now.Add(-maxSampleAge)):
			reason = fmt.Sprintf("time: more than %s in the past", maxSampleAge)
		case s.Time.After(now.Add(maxSampleSkew)):
			reason = fmt.Sprintf("time: more than %s in the future", maxSampleSkew)
		}
		if reason != "" {
			res.Rejected = append(res.Rejected, api.RejectedItem{Index: i, Reason: reason})
			continue
		}
		s.Time = s.Time.UTC()
		accepted = append(accepted, s)
	}
	if err := n.commitSamples(ctx, accepted, policies); err != nil {
		return api.PushResult{}, err
	}
	res.Accepted = len(accepted)
	return res, nil
}

// commitSamples commits accepted samples as bucket partials. Samples of
// label-matched series are first combined into group samples (series.go);
// those commits are serialized, because each reads the series points the
// previous one committed.
func (n *Node) commitSamples(ctx context.Context, samples []api.Sample, policies map[string]policy.Policy) error {
	if len(samples) == 0 {
		return nil
	}
	i := slices.IndexFunc(samples, func(s api.Sample) bool { return s.Series != 0 })
	if i < 0 {
		return n.apply(ctx, aggregate(samples, policies))
	}
	plain := make([]api.Sample, 0, len(samples))
	var series []api.Sample
	for _, s := range samples {
		if s.Series != 0 {
			series = append(series, s)
		} else {
			plain = append(plain, s)
		}
	}
	n.seriesMu.Lock()
	defer n.seriesMu.Unlock()
	group, updates := n.combineSeries(series, policies)
	cmd := aggregate(append(plain, group...), policies)
	cmd.Series = updates
	return n.apply(ctx, cmd)
}

// Cluster describes the Raft cluster from this node's view.
func (n *Node) Cluster(context.Context) (api.ClusterInfo, error) {
	addr, id := n.raft.LeaderWithID()
	info := api.ClusterInfo{
		Node: n.cfg.NodeID, Role: roleName(n.raft.State()), NodeRaftAddr: n.cfg.RaftAddr, NodeHTTPAddr: n.apiAddr(),
		LeaderID: string(id), LeaderRaftAddr: string(addr), LeaderHTTPAddr: n.fsm.nodeHTTPAddr(string(id)),
		Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.raft.AppliedIndex(),
	}
	if a := n.fsm.Applied(); a != 0 {
		// What the FSM has applied, not only been handed: a revocation
		// waits on it (waitApplied).
		info.AppliedIndex = a
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return info, fmt.Errorf("reading the raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		role := "follower"
		if s.ID == id {
			role = "leader"
		}
		if s.Suffrage != raft.Voter {
			role = "nonvoter"
		}
		info.Members = append(info.Members, api.Member{ID: string(s.ID), RaftAddr: string(s.Address),
			HTTPAddr: n.fsm.nodeHTTPAddr(string(s.ID)), Suffrage: s.Suffrage.String(), Role: role})
	}
	info.Bootstrapped = len(info.Members) > 0
	n.health.fill(&info, n.now())
	return info, nil
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Candidate:
		return "candidate"
	case raft.Shutdown:
		return "shutdown"
	default:
		return "follower"
	}
}

func raftErr(what string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%s: %w: %w", what, api.ErrNoLeader, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readyLag is how many entries a node may trail the leader's commit index
// by and still be ready: a busy cluster commits samples continuously, so
// a node is never exactly caught up, but a restarted one is thousands of
// entries behind.
const readyLag = 64

// readyAsk bounds the question to the leader (its commit index).
const readyAsk = time.Second

// Ready reports whether this node serves current data: it knows a leader,
// and it has applied the log up to the commit index the leader reports,
// within readyLag. A follower's own commit index is no measure of that
// (right after a restart it is whatever its own log holds), so it asks the
// leader. The error says why not.
func (n *Node) Ready(ctx context.Context) error {
	id := n.raftLeader()
	if id == "" {
		return fmt.Errorf("%w: no leader is known", api.ErrNoLeader)
	}
	applied := n.raft.AppliedIndex()
	if a := n.fsm.Applied(); a != 0 {
		applied = a
	}
	if n.raft.State() == raft.Leader {
		if commit := n.raft.CommitIndex(); applied+readyLag < commit {
			return fmt.Errorf("catching up: applied %d of %d committed entries", applied, commit)
		}
		return nil
	}
	addr := n.fsm.nodeHTTPAddr(id)
	if addr == "" {
		return fmt.Errorf("catching up: applied %d entries, and the leader %s's API address is not among them yet", applied, id)
	}
	actx, cancel := context.WithTimeout(ctx, readyAsk)
	defer cancel()
	info, err := n.peerInfo(actx, addr)
	if err != nil {
		return fmt.Errorf("cannot learn the leader %s's commit index: %w", id, err)
	}
	if applied+readyLag < info.CommitIndex {
		return fmt.Errorf("catching up: applied %d entries, the leader %s has committed %d", applied, id, info.CommitIndex)
	}
	return nil
}

// Leader reports whether this node leads, or where the leader's API is,
// waiting up to wait for an election to produce one.
func (n *Node) Leader(ctx context.Context, wait time.Duration) (bool, string, error) {
	deadline := time.Now().Add(wait)
	for {
		if n.raft.State() == raft.Leader {
			return true, "", nil
		}
		if id := n.raftLeader(); id != "" {
			if addr := n.fsm.nodeHTTPAddr(id); addr != "" {
				return false, addr, nil
			}
		}
		if time.Now().After(deadline) {
			return false, "", fmt.Errorf("%w: no Raft leader with a known API address within %s; retry", api.ErrNoLeader, wait)
		}
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// aggregate turns a batch of accepted samples into what the FSM needs: the
// newest sample of each metric, and one partial aggregate per history
// bucket. A batch of 1,000 samples of a few metrics becomes a handful of
// records, so Raft carries (and every FSM decodes) far less than the raw
// batch, with the same resulting windows.
func aggregate(samples []api.Sample, policies map[string]policy.Policy) store.Buckets {
	type metricKey struct{ policy, metric string }
	type bucketKey struct {
		metricKey
		bucket int64
	}
	latest := map[metricKey]api.Sample{}
	partials := map[bucketKey]*store.MetricPartial{}
	var order []bucketKey
	for _, s := range samples {
		mk := metricKey{s.Policy, s.Metric}
		if old, ok := latest[mk]; !ok || s.Time.After(old.Time) {
			latest[mk] = s
		}
		step, _ := store.WindowShape(policies[s.Policy])
		bk := bucketKey{mk, window.BucketOf(s.Time, step)}
		p := partials[bk]
		if p == nil {
			p = &store.MetricPartial{Policy: s.Policy, Metric: s.Metric, Step: int64(step), Partial: window.Partial{Bucket: bk.bucket}}
			partials[bk] = p
			order = append(order, bk)
		}
		p.Partial.Observe(s.Time.UnixNano(), s.Value)
	}
	var c store.Buckets
	for _, bk := range order {
		c.Partials = append(c.Partials, *partials[bk])
	}
	for _, s := range samples { // in batch order, each metric once
		mk := metricKey{s.Policy, s.Metric}
		if l, ok := latest[mk]; ok {
			c.Latest = append(c.Latest, store.Sample(l))
			delete(latest, mk)
		}
	}
	return c
}
