package controlplane

import (
	"context"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// MetricReader reads the current value of a pulled metric source (a
// Prometheus query, a queue's depth). The leader reads pulled sources
// through its pull cache (pullcache.go): once per evaluation interval for
// all the policies that share a source, in batches when the reader is
// also a BatchReader.
type MetricReader interface {
	Read(ctx context.Context, src policy.Source) (value float64, at time.Time, err error)
}

// readPulled reads every pulled metric of a policy for an evaluation. have
// is the policy's newest committed sample per metric. Samples it gets are
// returned for the evaluation and for replication, except one the policy
// already has (a value the cache served before), which would only be
// committed twice. A failed read leaves the metric's previous sample to
// age, so it goes stale (and, by policy, never scales in) rather than
// being guessed.
func (l *loop) readPulled(ctx context.Context, p policy.Policy, have *evalView) []store.Sample {
	n := l.n
	if n.cfg.Readers == nil {
		return nil
	}
	cache := l.pullCache()
	now := n.now()
	var out []store.Sample
	for _, m := range p.Metrics {
		kind := m.Source.EffectiveKind()
		if kind == policy.SourcePush {
			continue
		}
		r, err := n.cfg.Readers(kind)
		if err != nil {
			n.metrics.sourceErrors.WithLabelValues(string(kind)).Inc()
			l.log.Warn("no reader for the metric source", "policy", p.ID, "metric", m.Name, "kind", kind, "err", err)
			continue
		}
		got, ok := cache.read(ctx, r, m.Source, p.EvaluationInterval.D(), now)
		if !ok {
			return out // leadership ended
		}
		if got.err != nil {
			// The refresh logged the failure once for every policy
			// reading the source.
			n.metrics.sourceErrors.WithLabelValues(string(kind)).Inc()
			l.log.Debug("reading the metric failed; it will go stale", "policy", p.ID, "metric", m.Name, "kind", kind, "err", got.err)
			continue
		}
		at := got.at.UTC()
		if s, ok := have.Sample(m.Name); ok && s.Time.Equal(at) && s.Value == got.value {
			continue
		}
		out = append(out, store.Sample{Policy: p.ID, Metric: m.Name, Time: at, Value: got.value})
	}
	return out
}

// pullCache returns the term's pull cache, made on first use: a new
// leader starts with an empty one.
func (l *loop) pullCache() *pullCache {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pulls == nil {
		l.pulls = newPullCache(l.n.fsm.pulledSources, l.n.cfg.CloudTimeout, l.log, l.n.metrics.pull)
	}
	return l.pulls
}
