package controlplane

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/remotewrite"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// Series routed by a source's label matchers feed a metric together: many
// per-instance rate series make one group rate. The leader keeps, in
// replicated state, the newest point of each series feeding a metric, and
// turns each timestamp of incoming series samples into one group sample:
// the sum (request_rate, queue_depth) or the mean (cpu) of the newest
// points not older than the policy's stale_after. Those group samples then
// go into the windows like pushed ones, so a request_rate bucket holds the
// mean over the bucket of the summed series rates ("sum-rate"). A series
// that stops reporting drops out after stale_after, as a vanished target
// drops out of a PromQL sum after its lookback.

// seriesPoints copies the points of the series feeding a metric.
func (f *FSM) seriesPoints(id, metric string) map[uint64]store.SeriesPoint {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[uint64]store.SeriesPoint{}
	if e := f.state.Policies[id]; e != nil {
		for sid, p := range e.Series[metric] {
			out[sid] = p
		}
	}
	return out
}

// combineSeries turns the series samples of a batch into group samples and
// the series updates to commit with them. It reads the committed points of
// each metric it touches; the caller holds Node.seriesMu so that no other
// batch commits points in between.
func (n *Node) combineSeries(samples []api.Sample, policies map[string]policy.Policy) ([]api.Sample, []store.SeriesUpdate) {
	type key struct{ policy, metric string }
	byMetric := map[key][]api.Sample{}
	var order []key
	for _, s := range samples {
		k := key{s.Policy, s.Metric}
		if _, ok := byMetric[k]; !ok {
			order = append(order, k)
		}
		byMetric[k] = append(byMetric[k], s)
	}
	var group []api.Sample
	var updates []store.SeriesUpdate
	for _, k := range order {
		p := policies[k.policy]
		var typ policy.MetricType
		for _, m := range p.Metrics {
			if m.Name == k.metric {
				typ = m.Type
			}
		}
		pts := n.fsm.seriesPoints(k.policy, k.metric)
		batch := byMetric[k]
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].Time.Before(batch[j].Time) })
		for i := 0; i < len(batch); {
			at := batch[i].Time
			for ; i < len(batch) && batch[i].Time.Equal(at); i++ {
				if old, ok := pts[batch[i].Series]; !ok || at.UnixNano() >= old.T {
					pts[batch[i].Series] = store.SeriesPoint{T: at.UnixNano(), V: batch[i].Value}
				}
			}
			group = append(group, api.Sample{Policy: k.policy, Metric: k.metric, Time: at,
				Value: combinePoints(pts, at.Add(-p.StaleAfter.D()).UnixNano(), typ)})
		}
		ids := make([]uint64, 0, len(pts))
		for id := range pts {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			updates = append(updates, store.SeriesUpdate{Policy: k.policy, Metric: k.metric, ID: id, T: pts[id].T, V: pts[id].V})
		}
	}
	return group, updates
}

// combinePoints is the group value of the points at or after since: the
// mean for cpu (each series an instance's utilization), else the sum.
func combinePoints(pts map[uint64]store.SeriesPoint, since int64, typ policy.MetricType) float64 {
	// Summing in a fixed order keeps the result independent of map order.
	ids := make([]uint64, 0, len(pts))
	for id, p := range pts {
		if p.T >= since {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	sum := 0.0
	for _, id := range ids {
		sum += pts[id].V
	}
	if typ == policy.MetricCPU && len(ids) > 0 {
		return sum / float64(len(ids))
	}
	return sum
}

// seriesIndex is the compiled label matchers of every push source, for one
// set of policies.
type seriesIndex struct {
	// gen is the FSM's policy-set generation (policyGen) the index was
	// built for: it moves on every put, delete and restore.
	gen     uint64
	entries []matcherEntry
}

type matcherEntry struct {
	target   remotewrite.Target
	matchers []*labels.Matcher
}

// SeriesRouter returns the router of remote-write series by the label
// matchers of the current policies (api.SeriesRouter).
func (n *Node) SeriesRouter() remotewrite.Router {
	idx := n.currentSeriesIndex()
	if len(idx.entries) == 0 {
		return nil
	}
	return func(series labels.Labels) []remotewrite.Target {
		var out []remotewrite.Target
		for _, e := range idx.entries {
			if matchesAll(e.matchers, series) {
				out = append(out, e.target)
			}
		}
		return out
	}
}

func matchesAll(ms []*labels.Matcher, series labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(series.Get(m.Name)) {
			return false
		}
	}
	return true
}

// currentSeriesIndex returns the index for the policies the FSM holds,
// rebuilding it when they changed.
func (n *Node) currentSeriesIndex() *seriesIndex {
	gen := n.fsm.policySetGen()
	if idx := n.seriesIdx.Load(); idx != nil && idx.gen == gen {
		return idx
	}
	idx := &seriesIndex{gen: gen}
	for _, r := range n.fsm.Policies() {
		for _, m := range r.Policy.Metrics {
			if !m.Source.Matches() || m.Source.EffectiveKind() != policy.SourcePush {
				continue
			}
			ms, err := compileMatchers(m.Source)
			if err != nil {
				// Validation refuses such a policy; one restored from an
				// older version routes nothing rather than everything.
				n.log.Warn("label matcher does not compile; routing nothing to it", "policy", r.Policy.ID, "metric", m.Name, "err", err)
				continue
			}
			idx.entries = append(idx.entries, matcherEntry{target: remotewrite.Target{Policy: r.Policy.ID, Metric: m.Name}, matchers: ms})
		}
	}
	n.seriesIdx.Store(idx)
	return idx
}

// policySetGen is the policy-set generation the series index is keyed by:
// every remote-write request asks, so it reads a counter, not the policies.
func (f *FSM) policySetGen() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.policyGen
}

// compileMatchers builds Prometheus label matchers from a source, in a
// fixed order (equality first, by label name).
func compileMatchers(s policy.Source) ([]*labels.Matcher, error) {
	var ms []*labels.Matcher
	add := func(t labels.MatchType, m map[string]string) error {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			lm, err := labels.NewMatcher(t, name, m[name])
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			ms = append(ms, lm)
		}
		return nil
	}
	if err := add(labels.MatchEqual, s.Match); err != nil {
		return nil, err
	}
	if err := add(labels.MatchRegexp, s.MatchRE); err != nil {
		return nil, err
	}
	return ms, nil
}
