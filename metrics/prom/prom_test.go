package prom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/capstan-io/capstan/policy"
)

// fakeProm speaks the instant-query endpoint of Prometheus's HTTP API. Each
// call gets the next response from answers (the last one repeats).
type fakeProm struct {
	t       *testing.T
	srv     *httptest.Server
	calls   atomic.Int32
	answers []answer
	// lastForm is the last request's parameters, for assertions.
	lastForm atomic.Pointer[map[string]string]
	// first is the first request's parameters and when its handler
	// began, for assertions that bound what the request carried by when
	// it arrived.
	first atomic.Pointer[arrival]
}

// arrival is a request's parameters and when the fake began to serve it.
type arrival struct {
	form map[string]string
	at   time.Time
}

type answer struct {
	status int
	body   string
	// hang, when set, blocks the handler until the request is abandoned.
	hang bool
}

func newFakeProm(t *testing.T, answers ...answer) *fakeProm {
	t.Helper()
	f := &fakeProm{t: t, answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProm) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	n := int(f.calls.Add(1)) - 1
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := map[string]string{"query": r.Form.Get("query"), "time": r.Form.Get("time"), "timeout": r.Form.Get("timeout"),
		"x-test": r.Header.Get("X-Test")}
	f.lastForm.Store(&form)
	f.first.CompareAndSwap(nil, &arrival{form: form, at: at})
	// Prometheus parses timeout as float seconds or a Prometheus duration
	// and answers 400 otherwise; the fake does the same, so the tests
	// catch a timeout the real server would reject.
	if to := form["timeout"]; to != "" {
		if _, err := strconv.ParseFloat(to, 64); err != nil {
			if _, err := model.ParseDuration(to); err != nil {
				writeJSON(w, 400, fmt.Sprintf(`{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse %q to a valid duration"}`, to))
				return
			}
		}
	}
	a := f.answers[min(n, len(f.answers)-1)]
	if a.hang {
		<-r.Context().Done()
		return
	}
	writeJSON(w, a.status, a.body)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fakeProm) form() map[string]string {
	if p := f.lastForm.Load(); p != nil {
		return *p
	}
	return nil
}

func success(data string) answer {
	return answer{status: 200, body: `{"status":"success","data":` + data + `}`}
}

func vector(samples ...string) answer {
	return success(`{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}`)
}

var (
	badData     = answer{status: 400, body: `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`}
	execErr     = answer{status: 422, body: `{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}`}
	unavailable = answer{status: 503, body: `{"status":"error","errorType":"unavailable","error":"TSDB not ready"}`}
)

func promSource(q string) policy.Source {
	return policy.Source{Kind: policy.SourcePrometheus, Query: q}
}

func newReader(t *testing.T, f *fakeProm, opts Options) *Reader {
	t.Helper()
	opts.Address = f.srv.URL
	r, err := NewReader(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadResultShapes(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	unix := strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', -1, 64)
	one := `{"metric":{"job":"web"},"value":[` + unix + `,"3.5"]}`
	other := `{"metric":{"job":"api"},"value":[` + unix + `,"1"]}`
	cases := []struct {
		name   string
		answer answer
		want   float64
		err    error
		msg    []string // substrings the error must contain
	}{
		{name: "scalar", answer: success(`{"resultType":"scalar","result":[` + unix + `,"42"]}`), want: 42},
		{name: "one series", answer: vector(one), want: 3.5},
		{name: "negative zero and exponent", answer: vector(`{"metric":{},"value":[` + unix + `,"-1.5e3"]}`), want: -1500},
		{name: "empty vector", answer: vector(), err: ErrNoData, msg: []string{"up"}},
		{name: "two series", answer: vector(one, other), err: ErrAmbiguous, msg: []string{"2 series", "sum(up)", "avg(up)"}},
		{name: "NaN", answer: vector(`{"metric":{},"value":[` + unix + `,"NaN"]}`), err: ErrBadResult, msg: []string{"NaN"}},
		{name: "+Inf", answer: vector(`{"metric":{},"value":[` + unix + `,"+Inf"]}`), err: ErrBadResult},
		{name: "-Inf scalar", answer: success(`{"resultType":"scalar","result":[` + unix + `,"-Inf"]}`), err: ErrBadResult},
		{name: "matrix", answer: success(`{"resultType":"matrix","result":[{"metric":{},"values":[[` + unix + `,"1"]]}]}`), err: ErrBadResult, msg: []string{"matrix"}},
		{name: "string", answer: success(`{"resultType":"string","result":[` + unix + `,"hello"]}`), err: ErrBadResult, msg: []string{"string"}},
		{name: "native histogram", answer: vector(`{"metric":{},"histogram":[` + unix + `,{"count":"2","sum":"3","buckets":[[0,"0","1","2"]]}]}`), err: ErrBadResult, msg: []string{"histogram"}},
		{name: "not JSON", answer: answer{status: 200, body: `<html>proxy login</html>`}, err: ErrBadResult},
		{name: "bad_data 400", answer: badData, err: ErrBadQuery, msg: []string{"parse error"}},
		{name: "execution 422", answer: execErr, err: ErrBadQuery, msg: []string{"duplicate series"}},
		{name: "503", answer: unavailable, err: ErrUnavailable, msg: []string{"503", "TSDB not ready"}},
		{name: "500 plain", answer: answer{status: 500, body: "boom"}, err: ErrUnavailable},
		{name: "404 wrong path", answer: answer{status: 404, body: "404 page not found"}, err: ErrUnavailable, msg: []string{"404"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeProm(t, c.answer)
			r := newReader(t, f, Options{Retries: -1})
			v, at, err := r.Read(context.Background(), promSource("up"))
			if c.err != nil {
				t.Logf("error: %v", err)
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				for _, m := range c.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != c.want || !at.Equal(ts) {
				t.Fatalf("got %v at %v, want %v at %v", v, at, c.want, ts)
			}
		})
	}
}

func TestReadSendsQueryTimeAndTimeout(t *testing.T) {
	f := newFakeProm(t, vector(`{"metric":{},"value":[1,"1"]}`))
	r := newReader(t, f, Options{Timeout: 3 * time.Second})
	before := time.Now()
	if _, _, err := r.Read(context.Background(), promSource(`  sum(rate(http_requests_total{job="web"}[1m])) `)); err != nil {
		t.Fatal(err)
	}
	form := f.form()
	if form["query"] != `sum(rate(http_requests_total{job="web"}[1m]))` {
		t.Errorf("query %q", form["query"])
	}
	sec, err := strconv.ParseFloat(form["time"], 64)
	if err != nil || math.Abs(sec-float64(before.UnixNano())/1e9) > 2 {
		t.Errorf("time %q, want about now (%v)", form["time"], err)
	}
	// The deadline left is just under 3s; it must go out as whole seconds.
	if form["timeout"] != "2s" && form["timeout"] != "3s" {
		t.Errorf("timeout %q, want 2s or 3s", form["timeout"])
	}
}

func TestPromDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		4999 * time.Millisecond:                 "4s",
		5 * time.Second:                         "5s",
		90*time.Second + time.Millisecond:       "1m30s",
		999*time.Millisecond + time.Microsecond: "999ms",
		time.Microsecond:                        "0s",
	} {
		got := promDuration(in).String()
		if got != want {
			t.Errorf("promDuration(%s) = %s, want %s", in, got, want)
		}
		if got != "0s" {
			if _, err := model.ParseDuration(got); err != nil {
				t.Errorf("Prometheus cannot parse %s: %v", got, err)
			}
		}
	}
}

func TestRetriesTransientFailuresThenSucceeds(t *testing.T) {
	for _, a := range []answer{unavailable, {status: 429, body: "slow down"}, {status: 502, body: "bad gateway"}} {
		t.Run(strconv.Itoa(a.status), func(t *testing.T) {
			f := newFakeProm(t, a, a, vector(`{"metric":{},"value":[1,"7"]}`))
			r := newReader(t, f, Options{})
			v, _, err := r.Read(context.Background(), promSource("q"))
			if err != nil || v != 7 {
				t.Fatalf("got %v, %v; want 7 after retries", v, err)
			}
			if n := f.calls.Load(); n != 3 {
				t.Fatalf("%d calls, want 3", n)
			}
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	for _, c := range []struct {
		retries int
		calls   int32
	}{{0, 1 + DefaultRetries}, {-1, 1}, {4, 5}} {
		f := newFakeProm(t, unavailable)
		r := newReader(t, f, Options{Retries: c.retries})
		_, _, err := r.Read(context.Background(), promSource("q"))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("retries %d: error %v", c.retries, err)
		}
		if n := f.calls.Load(); n != c.calls {
			t.Fatalf("retries %d: %d calls, want %d", c.retries, n, c.calls)
		}
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	for _, a := range []answer{badData, execErr, {status: 401, body: "unauthorized"}, vector(), {status: 200, body: "{"}} {
		f := newFakeProm(t, a, vector(`{"metric":{},"value":[1,"7"]}`))
		r := newReader(t, f, Options{Retries: 5})
		if _, _, err := r.Read(context.Background(), promSource("q")); err == nil {
			t.Fatalf("status %d: no error", a.status)
		}
		if n := f.calls.Load(); n != 1 {
			t.Fatalf("status %d body %s: %d calls, want 1", a.status, a.body, n)
		}
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	f := newFakeProm(t, answer{hang: true}, vector(`{"metric":{},"value":[1,"9"]}`))
	r := newReader(t, f, Options{Timeout: 200 * time.Millisecond})
	start := time.Now()
	v, _, err := r.Read(context.Background(), promSource("q"))
	if err != nil || v != 9 {
		t.Fatalf("got %v, %v", v, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
	// Each attempt tells Prometheus the time it has left: its 200 ms, less
	// what passed between the attempt's start and the request's making,
	// rounded down to the millisecond. For the first attempt that is
	// bounded by when its request arrived (the attempt began after start);
	// a loaded machine can delay the request by a few milliseconds (197ms
	// once in 30 runs under two CPU spinners), which is the time left.
	first := f.first.Load()
	to, err := model.ParseDuration(first.form["timeout"])
	if d, least := time.Duration(to), 200*time.Millisecond-first.at.Sub(start)-time.Millisecond; err != nil || d > 200*time.Millisecond || d < least {
		t.Errorf("first attempt's timeout parameter %q (%v), want at most 200ms and at least %s (200ms less the %s its request took to arrive)",
			first.form["timeout"], err, least, first.at.Sub(start))
	}
	// The retry's too is the time it had left, no more than its 200 ms.
	if to, err := model.ParseDuration(f.form()["timeout"]); err != nil || time.Duration(to) > 200*time.Millisecond || to <= 0 {
		t.Errorf("retry's timeout parameter %q (%v), want 200ms or less", f.form()["timeout"], err)
	}
}

func TestContextCancellationStopsAtOnce(t *testing.T) {
	f := newFakeProm(t, answer{hang: true})
	reg := prometheus.NewPedanticRegistry()
	r := newReader(t, f, Options{Timeout: time.Minute, Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := r.Read(ctx, promSource("q"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancellation took %s", d)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d calls after cancellation, want 1", n)
	}
	if got := testutil.ToFloat64(r.queries.WithLabelValues(outcomeCanceled)); got != 1 {
		t.Fatalf("canceled outcomes %v", got)
	}
}

func TestCallerDeadlineEndsRetries(t *testing.T) {
	f := newFakeProm(t, unavailable)
	r := newReader(t, f, Options{Retries: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := r.Read(ctx, promSource("q"))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q lost the last attempt's reason", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s past a 500ms deadline", d)
	}
}

func TestWarningsAreLoggedNotFatal(t *testing.T) {
	f := newFakeProm(t, answer{status: 200, body: `{"status":"success","warnings":["partial response: store down"],"data":{"resultType":"scalar","result":[1,"5"]}}`})
	var buf bytes.Buffer
	r := newReader(t, f, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	v, _, err := r.Read(context.Background(), promSource("q"))
	if err != nil || v != 5 {
		t.Fatalf("got %v, %v", v, err)
	}
	if !strings.Contains(buf.String(), "partial response: store down") {
		t.Fatalf("warning not logged: %q", buf.String())
	}
}

func TestRoundTripperIsUsed(t *testing.T) {
	f := newFakeProm(t, vector(`{"metric":{},"value":[1,"1"]}`))
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		req = req.Clone(req.Context())
		req.Header.Set("X-Test", "yes")
		return http.DefaultTransport.RoundTrip(req)
	})
	r := newReader(t, f, Options{RoundTripper: rt})
	if _, _, err := r.Read(context.Background(), promSource("q")); err != nil {
		t.Fatal(err)
	}
	if f.form()["x-test"] != "yes" {
		t.Fatal("the request did not go through the given RoundTripper")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBadSources(t *testing.T) {
	f := newFakeProm(t, vector())
	r := newReader(t, f, Options{})
	for _, src := range []policy.Source{{}, {Kind: policy.SourceSQS, Query: "up"}, {Kind: policy.SourcePrometheus, Query: "  "}} {
		if _, _, err := r.Read(context.Background(), src); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%+v: error %v, want ErrBadQuery", src, err)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("%d calls for invalid sources", n)
	}
}

func TestNewReaderValidates(t *testing.T) {
	for _, o := range []Options{
		{},
		{Address: "localhost:9090"},
		{Address: "ftp://prom:9090"},
		{Address: "http://"},
		{Address: "http://prom:9090", Timeout: -time.Second},
	} {
		if _, err := NewReader(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	for _, a := range []string{"http://prom:9090", "https://prom.example.com/prometheus"} {
		if _, err := NewReader(Options{Address: a}); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestMetricsRegisteredOnlyOnTheGivenRegistry(t *testing.T) {
	f := newFakeProm(t, vector(`{"metric":{},"value":[1,"1"]}`), vector(), badData, unavailable)
	reg := prometheus.NewPedanticRegistry()
	r := newReader(t, f, Options{Registerer: reg, Retries: -1})
	for range 4 {
		r.Read(context.Background(), promSource("q"))
	}
	want := `
# HELP capstan_source_queries_total Reads of pulled metric sources, by kind and outcome.
# TYPE capstan_source_queries_total counter
capstan_source_queries_total{kind="prometheus",outcome="bad_query"} 1
capstan_source_queries_total{kind="prometheus",outcome="no_data"} 1
capstan_source_queries_total{kind="prometheus",outcome="ok"} 1
capstan_source_queries_total{kind="prometheus",outcome="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "capstan_source_queries_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "capstan_source_query_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("duration histogram: %d series, %v", n, err)
	}
	if c := testutil.CollectAndCount(r.duration); c != 1 {
		t.Fatalf("duration collected %d", c)
	}
	// Nothing leaks into the global registry.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "capstan_source_") {
			t.Fatalf("%s registered globally", mf.GetName())
		}
	}
	// Another source kind (metrics/sqs) shares the families on the same
	// registry; that works only while the help texts are identical, which
	// is why they are spelled out here rather than taken from the package.
	sqsKind := prometheus.Labels{"kind": "sqs"}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstan_source_queries_total",
			Help: "Reads of pulled metric sources, by kind and outcome.", ConstLabels: sqsKind}, []string{"outcome"}),
		prometheus.NewHistogram(prometheus.HistogramOpts{Name: "capstan_source_query_duration_seconds",
			Help: "Duration of reads of pulled metric sources, retries included, by kind.", ConstLabels: sqsKind}),
	} {
		if err := reg.Register(c); err != nil {
			t.Fatalf("another source kind cannot share the family: %v", err)
		}
	}
}
