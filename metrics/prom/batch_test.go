package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/policy"
)

// queryProm answers instant queries by their query text, as recorded from
// a real server, and counts queries, connections and queries in flight.
type queryProm struct {
	srv     *httptest.Server
	answers map[string]answer
	delay   time.Duration

	mu      sync.Mutex
	asked   []string
	conns   atomic.Int32 // connections the server accepted
	active  atomic.Int32
	maxBusy atomic.Int32
}

func newQueryProm(t *testing.T, answers map[string]answer) *queryProm {
	t.Helper()
	f := &queryProm{answers: answers}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *queryProm) serve(w http.ResponseWriter, r *http.Request) {
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		m := f.maxBusy.Load()
		if n <= m || f.maxBusy.CompareAndSwap(m, n) {
			break
		}
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form.Get("query")
	f.mu.Lock()
	f.asked = append(f.asked, q)
	f.mu.Unlock()
	time.Sleep(f.delay)
	a, ok := f.answers[q]
	if !ok {
		a = vector(`{"metric":{},"value":[1700000000,"1"]}`)
	}
	writeJSON(w, a.status, a.body)
}

func (f *queryProm) queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// got is what ReadBatch reported for one source.
type got struct {
	v     float64
	at    time.Time
	err   error
	calls int
}

func readBatch(t *testing.T, r *Reader, srcs []policy.Source) []got {
	t.Helper()
	out := make([]got, len(srcs))
	r.ReadBatch(context.Background(), srcs, func(i int, v float64, at time.Time, err error) {
		out[i].v, out[i].at, out[i].err = v, at, err
		out[i].calls++
	})
	for i, g := range out {
		if g.calls != 1 {
			t.Fatalf("source %d reported %d times", i, g.calls)
		}
	}
	return out
}

func TestReadBatchAnswersEachSource(t *testing.T) {
	const merged = `sum by (job) (rate(http_requests_total{job=~"api|idle|web"}[1m]))`
	f := newQueryProm(t, map[string]answer{
		merged: vector(
			`{"metric":{"job":"web"},"value":[1700000000.5,"5"]}`,
			`{"metric":{"job":"api"},"value":[1700000000.5,"7"]}`,
			`{"metric":{"job":"other"},"value":[1700000000.5,"9"]}`),
		`sum(up) / 2`: success(`{"resultType":"scalar","result":[1700000000.5,"3"]}`),
	})
	reg := prometheus.NewPedanticRegistry()
	r, err := NewReader(Options{Address: f.srv.URL, Retries: -1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	rate := func(job string) policy.Source {
		return promSource(`sum(rate(http_requests_total{job="` + job + `"}[1m]))`)
	}
	srcs := []policy.Source{rate("web"), rate("api"), rate("idle"), rate("web"), promSource(" sum(up) / 2 "), promSource(" "), {Kind: policy.SourceSQS}}
	res := readBatch(t, r, srcs)
	at := time.UnixMilli(1700000000500)
	for i, want := range []float64{5, 7, 0, 5, 3} {
		if i == 2 {
			continue
		}
		if res[i].err != nil || res[i].v != want || !res[i].at.Equal(at) {
			t.Errorf("source %d: got %v at %v (%v), want %v at %v", i, res[i].v, res[i].at, res[i].err, want, at)
		}
	}
	if !errors.Is(res[2].err, ErrNoData) || !strings.Contains(res[2].err.Error(), strconv.Quote(srcs[2].Query)) {
		t.Errorf("a value the merged answer lacks: %v, want ErrNoData naming the policy's query", res[2].err)
	}
	for _, i := range []int{5, 6} {
		if !errors.Is(res[i].err, ErrBadQuery) {
			t.Errorf("invalid source %d: %v, want ErrBadQuery", i, res[i].err)
		}
	}
	asked := f.queries()
	slices.Sort(asked)
	if want := []string{merged, `sum(up) / 2`}; !slices.Equal(asked, want) {
		t.Fatalf("queries sent %q, want %q", asked, want)
	}
	// The counter counts queries (and refused sources), not sources served.
	want := `
# HELP capstan_source_queries_total Reads of pulled metric sources, by kind and outcome.
# TYPE capstan_source_queries_total counter
capstan_source_queries_total{kind="prometheus",outcome="bad_query"} 2
capstan_source_queries_total{kind="prometheus",outcome="ok"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "capstan_source_queries_total"); err != nil {
		t.Fatal(err)
	}
}

func TestReadBatchAmbiguousAndBadValuesPerSource(t *testing.T) {
	const merged = `depth{queue=~"a|b|c"}`
	f := newQueryProm(t, map[string]answer{merged: vector(
		`{"metric":{"__name__":"depth","queue":"a","pod":"1"},"value":[1,"1"]}`,
		`{"metric":{"__name__":"depth","queue":"a","pod":"2"},"value":[1,"2"]}`,
		`{"metric":{"__name__":"depth","queue":"b"},"value":[1,"NaN"]}`,
		`{"metric":{"__name__":"depth","queue":"c"},"value":[1,"4"]}`)})
	r, err := NewReader(Options{Address: f.srv.URL, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	res := readBatch(t, r, []policy.Source{promSource(`depth{queue="a"}`), promSource(`depth{queue="b"}`), promSource(`depth{queue="c"}`)})
	if !errors.Is(res[0].err, ErrAmbiguous) || !errors.Is(res[1].err, ErrBadResult) || res[2].err != nil || res[2].v != 4 {
		t.Fatalf("got %+v", res)
	}
}

// TestReadBatchFailedMergedQuery: an unavailable server fails every source
// of a merged query without asking again one by one; a merged query the
// server refuses is asked again as single queries.
func TestReadBatchFailedMergedQuery(t *testing.T) {
	const merged = `sum by (job) (x{job=~"a|b"})`
	srcs := []policy.Source{promSource(`sum(x{job="a"})`), promSource(`sum(x{job="b"})`)}
	cases := []struct {
		name  string
		reply answer
		sent  int
		err   error
	}{
		{"unavailable", unavailable, 1, ErrUnavailable},
		{"too many samples", answer{status: 422, body: `{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}`}, 3, nil},
		{"not a vector", success(`{"resultType":"scalar","result":[1,"2"]}`), 3, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newQueryProm(t, map[string]answer{merged: c.reply})
			r, err := NewReader(Options{Address: f.srv.URL, Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			res := readBatch(t, r, srcs)
			if n := len(f.queries()); n != c.sent {
				t.Fatalf("%d queries sent (%q), want %d", n, f.queries(), c.sent)
			}
			for i, g := range res {
				if c.err == nil {
					if g.err != nil || g.v != 1 {
						t.Errorf("source %d after falling back: %v, %v", i, g.v, g.err)
					}
					continue
				}
				if !errors.Is(g.err, c.err) || !strings.Contains(g.err.Error(), strconv.Quote(srcs[i].Query)) {
					t.Errorf("source %d: %v, want %v naming the source's query", i, g.err, c.err)
				}
			}
		})
	}
}

func TestReadBatchBoundsConcurrency(t *testing.T) {
	f := newQueryProm(t, nil)
	f.delay = 20 * time.Millisecond
	r, err := NewReader(Options{Address: f.srv.URL, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []policy.Source
	for i := range 12 {
		srcs = append(srcs, promSource(`vector(`+string(rune('0'+i%10))+`) + `+string(rune('0'+i/10))))
	}
	readBatch(t, r, srcs)
	if n := len(f.queries()); n != 12 {
		t.Fatalf("%d queries, want 12", n)
	}
	// At most three; more than one shows they do run in parallel (a
	// loaded machine may not always reach three).
	if m := f.maxBusy.Load(); m > 3 || m < 2 {
		t.Fatalf("at most %d queries in flight, want 2 or 3", m)
	}
}

// TestConnectionsAreReused counts the connections the server accepts over
// 200 reads: one when they come one after another, at most the
// concurrency when batches run them in parallel, round after round as the
// leader does every interval. With the client library's default transport
// (two idle connections per host) each round opens most of its
// connections anew.
func TestConnectionsAreReused(t *testing.T) {
	const rounds, perRound = 25, DefaultConcurrency
	cases := []struct {
		name    string
		rt      http.RoundTripper
		batch   bool
		atMost  int32
		atLeast int32
	}{
		// net/http hands a connection back to its pool from another
		// goroutine just after the response is read, and dials when a
		// request finds the pool empty meanwhile: a loaded machine may see
		// one or two connections more than needed, never dozens.
		{name: "sequential reads", atMost: 3},
		{name: "parallel batches", batch: true, atMost: DefaultConcurrency + 2},
		{name: "parallel batches, library default transport", rt: api.DefaultRoundTripper, batch: true, atLeast: 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newQueryProm(t, nil)
			if c.batch {
				// A slow answer keeps a batch's reads in flight together,
				// so they need their own connections. Reads one after the
				// other never overlap: for them the delay only added a
				// second of waiting (200 reads).
				f.delay = 5 * time.Millisecond
			}
			r, err := NewReader(Options{Address: f.srv.URL, RoundTripper: c.rt})
			if err != nil {
				t.Fatal(err)
			}
			for round := range rounds {
				var srcs []policy.Source
				for i := range perRound {
					srcs = append(srcs, promSource(fmt.Sprintf("vector(%d) + %d", round, i)))
				}
				if c.batch {
					readBatch(t, r, srcs)
					continue
				}
				for _, s := range srcs {
					if _, _, err := r.Read(context.Background(), s); err != nil {
						t.Fatal(err)
					}
				}
			}
			n := f.conns.Load()
			t.Logf("%d reads, %d connections", len(f.queries()), n)
			if len(f.queries()) != rounds*perRound {
				t.Fatalf("%d queries", len(f.queries()))
			}
			if (c.atMost > 0 && n > c.atMost) || n < c.atLeast {
				t.Fatalf("%d connections, want between %d and %d", n, c.atLeast, c.atMost)
			}
		})
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}
