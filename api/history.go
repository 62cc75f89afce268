package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// MetricHistory is the replicated window of one policy metric: the
// fixed-step buckets prediction is fitted on, as every node holds them.
type MetricHistory struct {
	// Metric is the policy metric's name, Type its type.
	Metric string `json:"metric"`
	Type   string `json:"type"`
	// Step is the bucket width, e.g. "10s".
	Step string `json:"step"`
	// Aggregation is how a bucket combines its samples: "mean" (cpu and
	// request_rate) or "max" (queue_depth).
	Aggregation string `json:"aggregation"`
	// Buckets are the buckets that hold samples, oldest first; empty
	// buckets are left out.
	Buckets []HistoryBucket `json:"buckets"`
}

// HistoryBucket is one bucket: its start time and aggregated value (for
// cpu, the demand in percent-instances: utilization × instances in service).
type HistoryBucket struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// HistoryReader is the part of a Backend that serves metric windows.
type HistoryReader interface {
	// History returns the windows of every metric of policy id, in the
	// policy's metric order; api.ErrNotFound for an unknown policy.
	History(ctx context.Context, id string) ([]MetricHistory, error)
}

// history serves GET /v1/policies/{id}/history[?metric=NAME].
func (h *handler) history(w http.ResponseWriter, r *http.Request) error {
	out, err := h.b.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if name := r.URL.Query().Get("metric"); name != "" {
		var only []MetricHistory
		for _, m := range out {
			if m.Metric == name {
				only = append(only, m)
			}
		}
		if only == nil {
			return &apiError{status: http.StatusNotFound, code: CodeNotFound,
				msg: "policy " + r.PathValue("id") + " has no metric " + name}
		}
		out = only
	}
	if out == nil {
		out = []MetricHistory{}
	}
	h.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// History fetches the metric windows of a policy.
func (c *Client) History(ctx context.Context, id, metric string) ([]MetricHistory, error) {
	path := "/v1/policies/" + url.PathEscape(id) + "/history"
	if metric != "" {
		path += "?metric=" + url.QueryEscape(metric)
	}
	var out []MetricHistory
	err := c.do(ctx, http.MethodGet, path, nil, nil, &out)
	return out, err
}
