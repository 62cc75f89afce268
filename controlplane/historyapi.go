package controlplane

import (
	"context"
	"math"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// History returns the replicated metric windows of a policy as this node
// holds them, up to now; every node answers the same once it has applied
// the same entries.
func (n *Node) History(_ context.Context, id string) ([]api.MetricHistory, error) {
	return n.fsm.historyOf(id, n.now())
}

// Recording returns a policy, its metric windows up to now and its
// group's ready size as this node holds them, read under one lock so that
// they belong together, and the node's default prices: what a what-if
// replay needs.
func (n *Node) Recording(_ context.Context, id string) (api.Recording, error) {
	rec, err := n.fsm.recordingOf(id, n.now())
	// The prices decisions are made at, so that a replay is priced alike.
	rec.DefaultCosts = n.cfg.DefaultCosts
	return rec, err
}

func (f *FSM) recordingOf(id string, now time.Time) (api.Recording, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return api.Recording{}, errNoPolicy(id)
	}
	rec := api.Recording{Policy: api.PolicyRecord(e.Record), History: windowsOf(e, now), Ready: e.Ready}
	for _, x := range e.Sizes {
		rec.Sizes = append(rec.Sizes, api.SizeAt{Time: x.At, Ready: x.Ready})
	}
	return rec, nil
}

func (f *FSM) historyOf(id string, now time.Time) ([]api.MetricHistory, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.state.Policies[id]
	if e == nil {
		return nil, errNoPolicy(id)
	}
	return windowsOf(e, now), nil
}

// forecastEvery is how many of a policy's buckets of width step
// forecasting reads as one: the default rule's width over step when that
// is a whole number above 1, else 1 (the window is read as it is).
func forecastEvery(p policy.Policy, step time.Duration) int {
	def := store.DefaultWindowStep(p)
	if step <= 0 || def <= step || def%step != 0 {
		return 1
	}
	return int(def / step)
}

// windowsOf lists a policy's windows up to now, in its metric order; the
// caller holds the FSM's lock.
func windowsOf(e *store.Policy, now time.Time) []api.MetricHistory {
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
	return out
}
