package controlplane

import (
	"context"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// MetricReader reads the current value of a pulled metric source (a
// Prometheus query, a queue's depth). The leader calls it before each
// evaluation of a policy whose metric names such a source.
type MetricReader interface {
	Read(ctx context.Context, src policy.Source) (value float64, at time.Time, err error)
}

// readPulled reads every pulled metric of a policy. Samples it gets are
// returned for the evaluation and for replication; a failed read leaves the
// metric's previous sample to age, so it goes stale (and, by policy, never
// scales in) rather than being guessed.
func (l *loop) readPulled(ctx context.Context, p policy.Policy) []store.Sample {
	n := l.n
	if n.cfg.Readers == nil {
		return nil
	}
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
		rctx, cancel := context.WithTimeout(ctx, n.cfg.CloudTimeout)
		v, at, err := r.Read(rctx, m.Source)
		cancel()
		if err != nil {
			n.metrics.sourceErrors.WithLabelValues(string(kind)).Inc()
			l.log.Warn("reading the metric failed; it will go stale", "policy", p.ID, "metric", m.Name, "kind", kind, "err", err)
			continue
		}
		out = append(out, store.Sample{Policy: p.ID, Metric: m.Name, Time: at.UTC(), Value: v})
	}
	return out
}
