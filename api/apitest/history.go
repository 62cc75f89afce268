package apitest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// historyStep is the fake's bucket width: the cluster's default.
const historyStep = 10 * time.Second

// History buckets the accepted samples of each of the policy's metrics by
// 10 s, averaging them (the fake does not distinguish metric types).
func (b *Backend) History(_ context.Context, id string) ([]api.MetricHistory, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.policies[id]
	if !ok {
		return nil, fmt.Errorf("policy %q: %w", id, api.ErrNotFound)
	}
	out := make([]api.MetricHistory, 0, len(rec.Policy.Metrics))
	for _, m := range rec.Policy.Metrics {
		type acc struct {
			sum float64
			n   int
		}
		buckets := map[time.Time]*acc{}
		for _, s := range b.samples {
			if s.Policy != id || s.Metric != m.Name {
				continue
			}
			t := s.Time.UTC().Truncate(historyStep)
			if buckets[t] == nil {
				buckets[t] = &acc{}
			}
			buckets[t].sum += s.Value
			buckets[t].n++
		}
		h := api.MetricHistory{Metric: m.Name, Type: string(m.Type), Step: historyStep.String(), Aggregation: "mean", Buckets: []api.HistoryBucket{}}
		for t, a := range buckets {
			h.Buckets = append(h.Buckets, api.HistoryBucket{Time: t, Value: a.sum / float64(a.n)})
		}
		sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].Time.Before(h.Buckets[j].Time) })
		out = append(out, h)
	}
	return out, nil
}

// Recording is the policy, its History and the ready size SetStatus gave
// it (0 when none was set).
func (b *Backend) Recording(ctx context.Context, id string) (api.Recording, error) {
	hist, err := b.History(ctx, id)
	if err != nil {
		return api.Recording{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return api.Recording{Policy: b.policies[id], History: hist, Ready: b.status[id].Ready, DefaultCosts: b.defaultCosts}, nil
}

// SetDefaultCosts sets the agent's default prices by provider, which
// Recording reports as a node reports its --default-price.
func (b *Backend) SetDefaultCosts(costs map[string]policy.Cost) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.defaultCosts = costs
}
