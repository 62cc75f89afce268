package budget

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
)

// Results of a call, the result label of capstan_cloud_calls_total.
const (
	ResultOK                 = "ok"
	ResultThrottled          = "throttled"
	ResultError              = "error"
	ResultBudgetWaitExceeded = "budget_wait_exceeded"
)

// metrics are the budget's Prometheus series, registered only on the
// registerer given to New.
type metrics struct {
	calls      *prometheus.CounterVec
	rate       *prometheus.GaugeVec
	configured *prometheus.GaugeVec
	waiting    *prometheus.GaugeVec
	spent      *prometheus.CounterVec
}

// accountGauges are one bucket's series.
type accountGauges struct {
	rate, configured, waiting prometheus.Gauge
	spent                     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	bucketLabels := []string{"provider", "scope", "bucket"}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_cloud_calls_total",
			Help: "Provider API calls by result: ok, throttled (the provider said slow down), error (any other failure), budget_wait_exceeded (no token of the call budget before the caller's deadline: never sent). A batch describe counts one call per page."},
			[]string{"provider", "op", "result"}),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_cloud_budget_rate",
			Help: "Current refill rate (calls per second) of a call budget bucket; below capstan_cloud_budget_configured_rate after the provider throttled."},
			bucketLabels),
		configured: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_cloud_budget_configured_rate",
			Help: "Configured rate (calls per second) of a call budget bucket, the most its rate grows back to."},
			bucketLabels),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_cloud_budget_waiting",
			Help: "Calls waiting for a token of a call budget bucket (reads also wait while writes wait)."},
			bucketLabels),
		spent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_cloud_budget_tokens_total",
			Help: "Tokens taken from a call budget bucket: the provider requests sent (for the HTTP drivers, every request, pages and operation polls included)."},
			bucketLabels),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.calls, m.rate, m.configured, m.waiting, m.spent} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) gauges(provider, scope string, k kind) accountGauges {
	l := prometheus.Labels{"provider": provider, "scope": scope, "bucket": k.String()}
	return accountGauges{rate: m.rate.With(l), configured: m.configured.With(l), waiting: m.waiting.With(l), spent: m.spent.With(l)}
}

// count records one provider call's result.
func (m *metrics) count(provider, op string, err error) {
	m.calls.WithLabelValues(provider, op, result(err)).Inc()
}

func result(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrWaitExceeded):
		return ResultBudgetWaitExceeded
	case errors.Is(err, cloud.ErrThrottled):
		return ResultThrottled
	default:
		return ResultError
	}
}
