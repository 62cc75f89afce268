// Package prom reads policy metrics from a Prometheus server: each metric's
// PromQL expression runs as an instant query and yields a single number.
// Read answers one source; ReadBatch answers many, merging queries that
// differ only in one label's value into one query (merge.go), which is how
// the leader reads every policy's query once per evaluation interval.
//
// A query either yields exactly one finite value or fails with an error that
// says why, classified by the sentinels below, so the caller can let the
// metric go stale (never guess) and operators can tell a broken query from a
// broken server.
package prom

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/capstan-io/capstan/policy"
)

// The errors a Read wraps; test for them with errors.Is.
var (
	// ErrNoData means the query matched no series (the metric is not scraped,
	// or the selector is wrong). The metric goes stale rather than reading 0.
	ErrNoData = errors.New("prometheus query returned no series")
	// ErrAmbiguous means the query returned more than one series, and
	// picking one would be a guess: the query must aggregate them.
	ErrAmbiguous = errors.New("prometheus query returned more than one series")
	// ErrBadResult means the result cannot be used as a metric value: NaN
	// or ±Inf, a range vector, a string, a native histogram, or a response
	// that is not valid Prometheus API JSON.
	ErrBadResult = errors.New("prometheus query result is not a usable value")
	// ErrUnavailable means Prometheus did not answer: a connection error, a
	// 5xx or 429 response, a timeout. Those are retried; other non-API 4xx
	// responses (401, 403, 404: a wrong URL or missing credentials) are
	// reported as ErrUnavailable too, but not retried, because asking again
	// cannot succeed.
	ErrUnavailable = errors.New("prometheus is unavailable")
	// ErrBadQuery means Prometheus rejected the query itself (HTTP 400
	// bad_data, or 422 when it cannot be executed as written); retrying the
	// same expression cannot help, so it is not retried.
	ErrBadQuery = errors.New("prometheus rejected the query")
)

// Defaults applied by NewReader to zero Options fields.
const (
	// DefaultTimeout bounds one query attempt.
	DefaultTimeout = 5 * time.Second
	// DefaultRetries is how many times a query that failed with
	// ErrUnavailable is tried again.
	DefaultRetries = 2
	// DefaultConcurrency is how many queries a ReadBatch runs at once, and
	// the size of the idle connection pool of the default transport.
	DefaultConcurrency = 8
)

// The retry backoff is short and capped: a Read happens within one
// evaluation interval, so waiting long would only delay the evaluation that
// the stale metric would hold anyway.
const (
	backoffInitial = 100 * time.Millisecond
	backoffMax     = time.Second
)

// Outcome label values of capstan_source_queries_total.
const (
	outcomeOK          = "ok"
	outcomeNoData      = "no_data"
	outcomeAmbiguous   = "ambiguous"
	outcomeBadResult   = "bad_result"
	outcomeBadQuery    = "bad_query"
	outcomeUnavailable = "unavailable"
	outcomeCanceled    = "canceled"
)

// The metric families are shared with the other pulled sources (metrics/sqs
// registers the same names with kind="sqs" on the same registry), and a
// registry refuses a second collector whose help differs, so these must stay
// identical to that package's.
const (
	queriesHelp  = "Reads of pulled metric sources, by kind and outcome."
	durationHelp = "Duration of reads of pulled metric sources, retries included, by kind."
)

// Options configures a Reader.
type Options struct {
	// Address is the Prometheus base URL (http or https), for example
	// http://prometheus:9090; required.
	Address string
	// Timeout bounds each query attempt and is passed to Prometheus as the
	// query's evaluation timeout, so it stops work nobody waits for.
	// Default DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times a query failing with ErrUnavailable is
	// retried, with a short capped backoff. 0 means DefaultRetries; a
	// negative value disables retries.
	Retries int
	// RoundTripper carries the HTTP requests (for TLS settings or
	// authentication); nil means a transport that keeps up to Concurrency
	// idle connections to the server alive for reuse (the client library's
	// default keeps two, so concurrent queries would keep opening and
	// closing connections).
	RoundTripper http.RoundTripper
	// Concurrency bounds how many queries one ReadBatch runs at once;
	// 0 means DefaultConcurrency.
	Concurrency int
	// MaxMerge bounds how many distinct label values one merged query of a
	// ReadBatch selects; 0 means DefaultMaxMerge.
	MaxMerge int
	// Registerer, if set, receives the reader's metrics; nothing is
	// registered anywhere else.
	Registerer prometheus.Registerer
	// Logger receives API warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Reader runs Prometheus instant queries for metric sources of kind
// prometheus. It is safe for concurrent use.
type Reader struct {
	api      v1.API
	timeout  time.Duration
	workers  int
	maxMerge int
	tries    uint
	log      *slog.Logger
	queries  *prometheus.CounterVec
	duration prometheus.Histogram
}

// NewReader validates opts and returns a Reader. It does not contact
// Prometheus: a server that is down at start-up is an ErrUnavailable on the
// first Read, not a failure to start.
func NewReader(opts Options) (*Reader, error) {
	u, err := url.Parse(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("prometheus address %q: %w", opts.Address, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus address %q: want an http or https URL such as http://prometheus:9090", opts.Address)
	}
	timeout := opts.Timeout
	if timeout < 0 {
		return nil, fmt.Errorf("prometheus query timeout %s: must not be negative", timeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	retries := opts.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	if opts.Concurrency < 0 || opts.MaxMerge < 0 {
		return nil, fmt.Errorf("prometheus concurrency (%d) and max merge (%d): must not be negative", opts.Concurrency, opts.MaxMerge)
	}
	workers := cmp.Or(opts.Concurrency, DefaultConcurrency)
	rt := opts.RoundTripper
	if rt == nil {
		rt = keepAliveTransport(workers)
	}
	// The transport is wrapped to learn each response's HTTP status: the
	// client library folds 429 into a generic client error, and the status
	// is what separates retryable failures from final ones.
	client, err := api.NewClient(api.Config{Address: opts.Address, RoundTripper: statusTransport{next: rt}})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %q: %w", opts.Address, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Reader{
		api:      v1.NewAPI(client),
		timeout:  timeout,
		workers:  workers,
		maxMerge: cmp.Or(opts.MaxMerge, DefaultMaxMerge),
		tries:    uint(retries) + 1,
		log:      log.With("source", "prometheus"),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "capstan_source_queries_total",
			Help:        queriesHelp,
			ConstLabels: prometheus.Labels{"kind": string(policy.SourcePrometheus)},
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "capstan_source_query_duration_seconds",
			Help:        durationHelp,
			ConstLabels: prometheus.Labels{"kind": string(policy.SourcePrometheus)},
			// The same layout as metrics/sqs's, so the shared family has
			// one; the leader bounds a read by --cloud-timeout (10s).
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.queries, r.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering prometheus source metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Read runs src.Query as an instant query evaluated now and returns its
// single value and the sample's timestamp. The query must yield a scalar or
// a vector of exactly one series; anything else is an error wrapping one of
// the package's sentinels. Failures with ErrUnavailable are retried within
// ctx; a ctx that ends stops the retries and the error wraps ctx.Err().
func (r *Reader) Read(ctx context.Context, src policy.Source) (float64, time.Time, error) {
	start := time.Now()
	v, at, err := r.read(ctx, src)
	r.observe(ctx, start, err)
	return v, at, err
}

// observe counts one query that started at start and ended with err.
func (r *Reader) observe(ctx context.Context, start time.Time, err error) {
	r.duration.Observe(time.Since(start).Seconds())
	r.queries.WithLabelValues(outcome(ctx, err)).Inc()
}

// sample is one query's answer.
type sample struct {
	v  float64
	at time.Time
}

func (r *Reader) read(ctx context.Context, src policy.Source) (float64, time.Time, error) {
	q, err := sourceQuery(src)
	if err != nil {
		return 0, time.Time{}, err
	}
	val, err := r.query(ctx, q)
	if err != nil {
		return 0, time.Time{}, err
	}
	s, err := single(q, val)
	return s.v, s.at, err
}

// sourceQuery checks that src is a prometheus source with a query and
// returns the query as sent.
func sourceQuery(src policy.Source) (string, error) {
	if k := src.EffectiveKind(); k != policy.SourcePrometheus {
		return "", fmt.Errorf("%w: source kind %q is not %q", ErrBadQuery, k, policy.SourcePrometheus)
	}
	q := strings.TrimSpace(src.Query)
	if q == "" {
		return "", fmt.Errorf("%w: the source has no query", ErrBadQuery)
	}
	return q, nil
}

// query runs q as an instant query evaluated now, retrying failures with
// ErrUnavailable within ctx, and returns Prometheus's answer as it is.
func (r *Reader) query(ctx context.Context, q string) (model.Value, error) {
	// Retry's own result drops the last attempt's error when ctx ends, so
	// the attempt keeps it: the caller should learn both why the query
	// failed and that it stopped trying.
	var last error
	val, err := backoff.Retry(ctx, func() (model.Value, error) {
		val, retry, err := r.attempt(ctx, q)
		last = err
		if err != nil && !retry {
			return val, backoff.Permanent(err)
		}
		return val, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     backoffInitial,
			RandomizationFactor: 0.2,
			Multiplier:          2,
			MaxInterval:         backoffMax,
		}),
		backoff.WithMaxTries(r.tries),
		// ctx and MaxTries bound the retries; an elapsed-time cap would only
		// be a second, less visible limit.
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			r.log.Debug("retrying the prometheus query", "query", q, "in", wait, "err", err)
		}),
	)
	if err == nil {
		return val, nil
	}
	if last == nil {
		last = err
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(last, cerr) {
		return nil, fmt.Errorf("%w (gave up: %w)", last, cerr)
	}
	return nil, last
}

// attempt runs the query once. retry says whether a failure is transient.
func (r *Reader) attempt(ctx context.Context, q string) (model.Value, bool, error) {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	// Prometheus gets the time actually left, which a caller's shorter
	// deadline may cut below the configured timeout, so it stops evaluating
	// once nobody waits for the answer.
	evalTimeout := r.timeout
	if dl, ok := actx.Deadline(); ok {
		evalTimeout = promDuration(time.Until(dl))
	}
	if evalTimeout <= 0 {
		return nil, false, fmt.Errorf("%w: query %q: %w", ErrUnavailable, q, context.DeadlineExceeded)
	}
	rec := &statusRecorder{}
	actx = context.WithValue(actx, statusKey{}, rec)
	// The evaluation time is the local clock's now, so the sample's
	// timestamp is on the same clock that later judges its staleness.
	val, warnings, _, err := r.api.Query(actx, q, time.Now(), v1.WithTimeout(evalTimeout))
	if len(warnings) > 0 {
		r.log.Warn("prometheus returned warnings for the query", "query", q, "warnings", []string(warnings))
	}
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up (err wraps its context's error): trying
			// again cannot help, and classifying by status would blame
			// Prometheus for a cut-off request.
			return nil, false, fmt.Errorf("%w: query %q: %w", ErrUnavailable, q, err)
		}
		retry, err := classify(err, rec)
		return nil, retry, fmt.Errorf("query %q: %w", q, err)
	}
	return val, false, nil
}

// promDuration rounds d down to a duration whose String form Prometheus
// accepts as a query parameter. The client formats it with
// time.Duration.String, and Prometheus rejects fractional units such as
// "4.999s" with a 400, so whole seconds (or whole milliseconds below one
// second) are sent; stopping up to a second early costs nothing.
func promDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Truncate(time.Second)
	}
	return d.Truncate(time.Millisecond)
}

// classify turns a failed query into an error wrapping a sentinel, and says
// whether trying again may succeed.
func classify(err error, rec *statusRecorder) (bool, error) {
	status := int(rec.status.Load())
	var apiErr *v1.Error
	isAPI := errors.As(err, &apiErr)
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return false, fmt.Errorf("%w (HTTP %d): %w", ErrBadQuery, status, err)
	case status == http.StatusTooManyRequests || status >= 500:
		return true, fmt.Errorf("%w (HTTP %d): %w", ErrUnavailable, status, withDetail(err, apiErr))
	case status >= 400:
		return false, fmt.Errorf("%w (HTTP %d): %w", ErrUnavailable, status, withDetail(err, apiErr))
	case isAPI:
		switch apiErr.Type {
		case v1.ErrBadData, v1.ErrExec:
			return false, fmt.Errorf("%w: %w", ErrBadQuery, err)
		case v1.ErrBadResponse:
			return false, fmt.Errorf("%w: %w", ErrBadResult, err)
		case v1.ErrClient:
			return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		default: // timeout, canceled, server_error
			return true, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	default:
		// No response: connection refused, DNS, TLS, or the attempt's
		// timeout.
		return true, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// withDetail adds a generic HTTP error's response body, which the client
// keeps apart from its message, so a 503's reason reaches the log.
func withDetail(err error, apiErr *v1.Error) error {
	if apiErr == nil || apiErr.Detail == "" {
		return err
	}
	d := strings.TrimSpace(apiErr.Detail)
	if len(d) > 200 {
		d = d[:200] + "…"
	}
	return fmt.Errorf("%w: %s", err, d)
}

// single extracts the one finite value a metric needs from a query result.
func single(q string, val model.Value) (sample, error) {
	var s sample
	switch v := val.(type) {
	case *model.Scalar:
		s = sample{v: float64(v.Value), at: v.Timestamp.Time()}
	case model.Vector:
		switch len(v) {
		case 0:
			return sample{}, fmt.Errorf("%w: %q matched nothing at evaluation time (is the series scraped, and does the selector match its labels?)", ErrNoData, q)
		case 1:
		default:
			return sample{}, fmt.Errorf("%w: %q returned %d series (first %s); aggregate them into one, e.g. sum(%s) or avg(%s)",
				ErrAmbiguous, q, len(v), v[0].Metric, q, q)
		}
		if v[0].Histogram != nil {
			return sample{}, fmt.Errorf("%w: %q returned a native histogram, not a number (use histogram_quantile or histogram_sum)", ErrBadResult, q)
		}
		s = sample{v: float64(v[0].Value), at: v[0].Timestamp.Time()}
	case nil:
		return sample{}, fmt.Errorf("%w: %q returned no result", ErrBadResult, q)
	default:
		return sample{}, fmt.Errorf("%w: %q returned a %s; a metric needs an instant vector of one series or a scalar", ErrBadResult, q, val.Type())
	}
	if math.IsNaN(s.v) || math.IsInf(s.v, 0) {
		return sample{}, fmt.Errorf("%w: %q evaluated to %v", ErrBadResult, q, s.v)
	}
	return s, nil
}

// outcome is the capstan_source_queries_total label for a Read's result.
func outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return outcomeCanceled
	case errors.Is(err, ErrNoData):
		return outcomeNoData
	case errors.Is(err, ErrAmbiguous):
		return outcomeAmbiguous
	case errors.Is(err, ErrBadResult):
		return outcomeBadResult
	case errors.Is(err, ErrBadQuery):
		return outcomeBadQuery
	default:
		return outcomeUnavailable
	}
}

// keepAliveTransport is the default transport with an idle pool of idle
// connections per host, so that up to idle concurrent queries reuse their
// connections instead of each opening a new one (and leaving a socket in
// TIME_WAIT) when the pool of two that net/http keeps by default is full.
func keepAliveTransport(idle int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = idle
	t.MaxIdleConnsPerHost = idle
	return t
}

// statusKey is the context key under which an attempt's statusRecorder
// travels to statusTransport.
type statusKey struct{}

// statusRecorder holds the HTTP status of the last response of one attempt.
// It is atomic because a caller-supplied RoundTripper may run on another
// goroutine.
type statusRecorder struct{ status atomic.Int32 }

// statusTransport records each response's status in the request's
// statusRecorder, if it carries one.
type statusTransport struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		if rec, ok := req.Context().Value(statusKey{}).(*statusRecorder); ok {
			rec.status.Store(int32(resp.StatusCode))
		}
	}
	return resp, err
}
