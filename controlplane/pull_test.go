package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/metrics/prom"
	"github.com/capstan-io/capstan/policy"
)

// jobProm is a Prometheus that knows one series per job, job "svc-N"
// having the value N, and answers any instant query by the jobs its job
// matcher names: job="svc-1", or job=~"svc-1|svc-2" as a merged query has
// it. It counts the queries it answers, and fails them with 503 while down.
type jobProm struct {
	srv     *httptest.Server
	queries atomic.Int64
	down    atomic.Bool
}

var jobMatcher = regexp.MustCompile(`job=~?"([^"]*)"`)

func newJobProm(tb testing.TB) *jobProm {
	tb.Helper()
	p := &jobProm{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.queries.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if p.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"error","errorType":"unavailable","error":"down for the test"}`)
			return
		}
		r.ParseForm()
		m := jobMatcher.FindStringSubmatch(r.Form.Get("query"))
		var series []string
		if m != nil {
			for _, job := range strings.Split(m[1], "|") {
				n, err := strconv.Atoi(strings.TrimPrefix(job, "svc-"))
				if err != nil {
					continue
				}
				series = append(series, fmt.Sprintf(`{"metric":{"job":%q},"value":[%s,"%d"]}`, job, r.Form.Get("time"), n))
			}
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(series, ","))
	}))
	tb.Cleanup(p.srv.Close)
	return p
}

// pullPolicy is a policy whose one metric is pulled from Prometheus: the
// request rate of job svc-i.
func pullPolicy(tb testing.TB, i int, interval string) policy.Policy {
	tb.Helper()
	id := fmt.Sprintf("p%04d", i)
	p, err := policy.Parse([]byte(fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":1,"max":1000,
"evaluation_interval":%q,"metrics":[{"name":"rps","type":"request_rate","target":100,
"source":{"kind":"prometheus","query":"sum(rate(http_requests_total{job=\"svc-%d\"}[1m]))"}}]}`, id, id, interval, i)))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// pullNode is a leading single node whose prometheus sources read jp.
func pullNode(tb testing.TB, jp *jobProm) *Node {
	tb.Helper()
	r, err := prom.NewReader(prom.Options{Address: jp.srv.URL, Retries: -1})
	if err != nil {
		tb.Fatal(err)
	}
	n, _ := startSingleNode(tb, 20*time.Millisecond, func(n *Node) {
		n.cfg.Readers = func(kind policy.SourceKind) (MetricReader, error) {
			if kind != policy.SourcePrometheus {
				return nil, fmt.Errorf("no %s reader", kind)
			}
			return r, nil
		}
	})
	return n
}

// pulledValue is the newest committed value and time of a policy's rps.
func pulledValue(n *Node, id string) (float64, time.Time, bool) {
	v, ok := n.fsm.view(id)
	if !ok {
		return 0, time.Time{}, false
	}
	s, ok := v.Sample("rps")
	return s.Value, s.Time, ok
}

// TestPulledSourcesBatched: forty policies pulling one query shape for
// forty jobs each get their own job's value, from one merged query per
// interval (the leader queried once per policy and evaluation before);
// while Prometheus is down every policy's metric stops moving (no sample is
// committed, so it ages towards stale), and it moves again after.
func TestPulledSourcesBatched(t *testing.T) {
	t.Parallel()
	const policies = 40
	jp := newJobProm(t)
	n := pullNode(t, jp)
	ctx := context.Background()
	for i := range policies {
		if _, err := n.PutPolicy(ctx, pullPolicy(t, i, "1s"), ""); err != nil {
			t.Fatal(err)
		}
	}
	waitAll := func(what string, cond func(id string, v float64, at time.Time) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for i := 0; i < policies; i++ {
			id := fmt.Sprintf("p%04d", i)
			for v, at, ok := pulledValue(n, id); !ok || !cond(id, v, at); v, at, ok = pulledValue(n, id) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: policy %s has %v at %v (%v)", what, id, v, at, ok)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	waitAll("every policy's own value", func(id string, v float64, _ time.Time) bool {
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "p"))
		return v == float64(i)
	})
	// Measure steady state over a window a little under two intervals,
	// its length read from the clock rather than assumed: a loaded
	// machine may wake the test late, and the bounds are the scheduler's
	// over the window that really passed. The window stays open until
	// every policy could have been evaluated once (a generous deadline
	// for a starved machine): that is the liveness asserted.
	t0 := time.Now()
	evals0, q0 := testutil.ToFloat64(n.metrics.evaluations), jp.queries.Load()
	time.Sleep(1900 * time.Millisecond)
	for deadline := time.Now().Add(15 * time.Second); testutil.ToFloat64(n.metrics.evaluations)-evals0 < policies; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %v evaluations of %d policies in %s", testutil.ToFloat64(n.metrics.evaluations)-evals0, policies, time.Since(t0))
		}
	}
	evals, queries := testutil.ToFloat64(n.metrics.evaluations)-evals0, jp.queries.Load()-q0
	window := time.Since(t0)
	t.Logf("%s: %v evaluations of %d policies, %d queries", window, evals, policies, queries)
	// About one evaluation per policy per 1 s interval: the commit of a
	// pulled sample does not wake its policy for another (it did, 1.6-1.9
	// evaluations per interval). A policy is due an interval after its
	// last evaluation ended, so its evaluations in the window are more
	// than an interval apart: at most window/interval + 1 each (2 in a
	// window under 2 s).
	if most := policies * (int(window/time.Second) + 1); evals > float64(most) {
		t.Fatalf("%v evaluations of %d policies in %s at a 1 s interval, want at most %d", evals, policies, window, most)
	}
	// One query per 1 s slot the window touches; a slot boundary inside
	// a refresh may cost one more.
	if most := int64((window+time.Second-1)/time.Second) + 2; queries > most {
		t.Fatalf("%d queries for %v evaluations in %s, want at most %d", queries, evals, window, most)
	}

	errs := func() float64 { return testutil.ToFloat64(n.metrics.sourceErrors.WithLabelValues("prometheus")) }
	errs0 := errs()
	jp.down.Store(true)
	// Once every policy has seen the outage, no refresh from before it
	// can still commit a sample.
	for deadline := time.Now().Add(10 * time.Second); errs()-errs0 < policies; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v failed reads counted after the outage began, want one per policy evaluation (>= %d)", errs()-errs0, policies)
		}
	}
	frozen := map[string]time.Time{}
	for i := range policies {
		id := fmt.Sprintf("p%04d", i)
		_, frozen[id], _ = pulledValue(n, id)
	}
	time.Sleep(1200 * time.Millisecond)
	for id, at := range frozen {
		if _, now, _ := pulledValue(n, id); !now.Equal(at) {
			t.Fatalf("policy %s got a sample at %v while prometheus was down", id, now)
		}
	}
	jp.down.Store(false)
	waitAll("samples after the outage", func(id string, _ float64, at time.Time) bool { return at.After(frozen[id]) })
}

// BenchmarkPulledQueries runs 1,000 policies with a pulled source on a
// leading node for three 5 s intervals, and reports the reads their
// sources answered and the evaluations run per interval (BENCHMARKS.md,
// issue 15). prometheus: one query shape for 1,000 jobs, through
// metrics/prom against an HTTP fake; queue: 250 queues, four policies each,
// through a reader with no ReadBatch (the shape of SQS, one call per
// queue). b.N is ignored: one run is the measurement.
func BenchmarkPulledQueries(b *testing.B) {
	const (
		policies  = 1000
		queues    = 250
		interval  = 5 * time.Second
		intervals = 3
	)
	measure := func(b *testing.B, n *Node, reads func() int64, policy func(i int) policy.Policy) {
		ctx := context.Background()
		for i := range policies {
			if _, err := n.PutPolicy(ctx, policy(i), ""); err != nil {
				b.Fatal(err)
			}
		}
		// Let every policy be evaluated once, then measure.
		time.Sleep(interval)
		evals0, r0 := testutil.ToFloat64(n.metrics.evaluations), reads()
		time.Sleep(intervals * interval)
		evals, r := testutil.ToFloat64(n.metrics.evaluations)-evals0, reads()-r0
		b.ReportMetric(float64(r)/intervals, "reads/interval")
		b.ReportMetric(evals/intervals, "evaluations/interval")
	}
	b.Run("prometheus", func(b *testing.B) {
		jp := newJobProm(b)
		measure(b, pullNode(b, jp), jp.queries.Load, func(i int) policy.Policy { return pullPolicy(b, i, interval.String()) })
	})
	b.Run("queue", func(b *testing.B) {
		var calls atomic.Int64
		r := queueReader{calls: &calls}
		n, _ := startSingleNode(b, 20*time.Millisecond, func(n *Node) {
			n.cfg.Readers = func(policy.SourceKind) (MetricReader, error) { return r, nil }
		})
		measure(b, n, calls.Load, func(i int) policy.Policy {
			id := fmt.Sprintf("p%04d", i)
			p, err := policy.Parse([]byte(fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":1,"max":1000,
"evaluation_interval":%q,"metrics":[{"name":"backlog","type":"queue_depth","target":100,
"source":{"kind":"sqs","queue_url":"https://sqs.us-east-1.amazonaws.com/123456789012/q%d","region":"us-east-1"}}]}`,
				id, id, interval.String(), i%queues)))
			if err != nil {
				b.Fatal(err)
			}
			return p
		})
	})
}

// queueReader answers every queue with depth 10, as one call each.
type queueReader struct{ calls *atomic.Int64 }

func (q queueReader) Read(context.Context, policy.Source) (float64, time.Time, error) {
	q.calls.Add(1)
	return 10, time.Now(), nil
}

// TestPulledSampleCommitsDoNotReevaluate: a policy's evaluation commits
// the value it pulled, and that commit's fresh-sample wake-up is its own
// echo: it must not run the policy again within the interval (it did, 1.8
// evaluations per interval in BenchmarkPulledQueries).
func TestPulledSampleCommitsDoNotReevaluate(t *testing.T) {
	t.Parallel()
	const (
		policies  = 20
		interval  = 2 * time.Second
		intervals = 2
	)
	jp := newJobProm(t)
	n := pullNode(t, jp)
	ctx := context.Background()
	for i := range policies {
		if _, err := n.PutPolicy(ctx, pullPolicy(t, i, interval.String()), ""); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(interval)
	// The window is a little under two intervals, its length read from
	// the clock: a policy is due an interval after its last evaluation
	// ended, so in a window of w it runs at most w/interval + 1 times (2
	// here), whenever the test wakes. With the echo (ownSamples never
	// consuming a wake-up) 2.6 to 4 per policy were measured here.
	t0 := time.Now()
	evals0 := testutil.ToFloat64(n.metrics.evaluations)
	time.Sleep(intervals*interval - interval/20)
	evals := testutil.ToFloat64(n.metrics.evaluations) - evals0
	window := time.Since(t0)
	most := policies * (int(window/interval) + 1)
	t.Logf("%v evaluations of %d policies in %s at a %s interval", evals, policies, window, interval)
	if evals > float64(most) {
		t.Fatalf("%v evaluations of %d policies in %s at a %s interval, want at most %d", evals, policies, window, interval, most)
	}
}
