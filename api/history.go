package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/capstan-io/capstan/policy"
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
	// Recording returns the policy, its metric windows and its group's
	// ready size read at one instant, for a replay; api.ErrNotFound for an
	// unknown policy.
	Recording(ctx context.Context, id string) (Recording, error)
}

// history serves GET /v1/policies/{id}/history[?metric=NAME][&format=json|csv].
func (h *handler) history(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "csv":
	default:
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg:    fmt.Sprintf("format: must be json or csv (got %q)", format),
			fields: []policy.FieldError{{Path: "format", Message: "must be json or csv"}}}
	}
	var rec Recording
	var err error
	if format == "csv" {
		rec, err = h.b.Recording(r.Context(), r.PathValue("id"))
	} else {
		rec.History, err = h.b.History(r.Context(), r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	out := rec.History
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
	if format == "csv" {
		rec.History = out
		tr, _, err := HistoryTrace(rec)
		if err != nil {
			return err
		}
		setDefaultPrices(w.Header(), rec.DefaultCosts)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+rec.Policy.Policy.ID+`-history.csv"`)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return nil
		}
		if err := WriteTraceCSV(w, tr); err != nil {
			h.log.Debug("writing the history CSV", "err", err) // the client went away; the status is sent
		}
		return nil
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

// HistoryCSV fetches the history of a policy as a trace CSV
// (GET /v1/policies/{id}/history?format=csv), which trace.Parse reads.
func (c *Client) HistoryCSV(ctx context.Context, id, metric string) ([]byte, error) {
	h, err := c.HistoryDownload(ctx, id, metric)
	return h.CSV, err
}

// HistoryCSVAnswer is the history CSV with the node's default prices.
type HistoryCSVAnswer struct {
	// CSV is the trace.
	CSV []byte
	// DefaultCosts are the node's default prices by provider (nil when
	// it has none): a replay prices a policy with no cost of its own at
	// them (policy.WithDefaultCost), as the node's decisions do.
	DefaultCosts map[string]policy.Cost
}

// HistoryDownload fetches the history of a policy as a trace CSV and the
// node's default prices its answer states (HeaderDefaultPrice).
func (c *Client) HistoryDownload(ctx context.Context, id, metric string) (HistoryCSVAnswer, error) {
	q := url.Values{"format": {"csv"}}
	if metric != "" {
		q.Set("metric", metric)
	}
	var raw rawAnswer
	if err := c.do(ctx, http.MethodGet, "/v1/policies/"+url.PathEscape(id)+"/history?"+q.Encode(), nil, nil, &raw); err != nil {
		return HistoryCSVAnswer{}, err
	}
	costs, err := defaultPrices(raw.header)
	return HistoryCSVAnswer{CSV: raw.body, DefaultCosts: costs}, err
}

// The history CSV's headers stating the node's default prices (the
// agent's --default-price and --default-price-currency), in the flags'
// own forms, so that a client replaying the history prices a policy with
// no cost of its own as the node's decisions do. Absent when the node has
// none.
const (
	HeaderDefaultPrice         = "Capstan-Default-Price"
	HeaderDefaultPriceCurrency = "Capstan-Default-Price-Currency"
)

// setDefaultPrices states costs in h. A node's default prices share one
// currency (the agent has one flag for it).
func setDefaultPrices(h http.Header, costs map[string]policy.Cost) {
	prices := policy.Prices{}
	currency := ""
	for _, p := range slices.Sorted(maps.Keys(costs)) {
		if c := costs[p]; c.Priced() && (currency == "" || c.Currency == currency) {
			prices[p], currency = c.PerInstanceHour, c.Currency
		}
	}
	if len(prices) > 0 {
		h.Set(HeaderDefaultPrice, prices.String())
		h.Set(HeaderDefaultPriceCurrency, currency)
	}
}

// defaultPrices reads what setDefaultPrices stated, by the rules of the
// agent's flags; nil when h states none.
func defaultPrices(h http.Header) (map[string]policy.Cost, error) {
	v, cur := h.Get(HeaderDefaultPrice), h.Get(HeaderDefaultPriceCurrency)
	if v == "" && cur == "" {
		return nil, nil
	}
	if v == "" {
		return nil, fmt.Errorf("the node's %s header: missing beside its %s", HeaderDefaultPrice, HeaderDefaultPriceCurrency)
	}
	prices, err := policy.ParsePrices(v)
	if err != nil {
		return nil, fmt.Errorf("the node's %s header: %w", HeaderDefaultPrice, err)
	}
	if err := policy.CheckCurrency(cur); err != nil {
		return nil, fmt.Errorf("the node's %s header: %w", HeaderDefaultPriceCurrency, err)
	}
	return prices.Costs(cur), nil
}
