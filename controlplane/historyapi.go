package controlplane

import (
	"context"
	"math"
	"time"

	"github.com/capstan-io/capstan/api"
)

// History returns the replicated metric windows of a policy as this node
// holds them, up to now; every node answers the same once it has applied
// the same entries.
func (n *Node) History(_ context.Context, id string) ([]api.MetricHistory, error) {
	return n.fsm.historyOf(id, n.now())
}

func (f *FSM) historyOf(id string, now time.Time) ([]api.MetricHistory, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return nil, errNoPolicy(id)
	}
	out := make([]api.MetricHistory, 0, len(e.Record.Policy.Metrics))
	for _, m := range e.Record.Policy.Metrics {
		h := api.MetricHistory{Metric: m.Name, Type: string(m.Type), Buckets: []api.HistoryBucket{}}
		if w := e.Windows[m.Name]; w != nil {
			h.Step, h.Aggregation = w.Step().String(), w.Aggregation().String()
			start, values := w.Values(now)
			for i, v := range values {
				if !math.IsNaN(v) {
					h.Buckets = append(h.Buckets, api.HistoryBucket{Time: start.Add(w.Step() * time.Duration(i)), Value: v})
				}
			}
		}
		out = append(out, h)
	}
	return out, nil
}
