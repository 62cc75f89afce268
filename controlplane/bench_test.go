package controlplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluationRound measures one leader round over 10,000 policies
// and reports the CPU it takes as a share of one core at a 10 s evaluation
// interval, with the fake cloud in process or behind HTTP (a client per
// call path as the agent's --fake-cloud uses). A round is, for each
// policy: read its group's state, evaluate, commit what changed. With
// reads=describe every evaluation describes its group first, as the
// leader did before the group-state cache; with reads=cache evaluations
// read the cache, which a refresh of every group fills every
// --group-refresh (15 s by default): cpu-ms/refresh is its cost, and
// %core@10s counts a round every 10 s and a refresh every 15 s. The fake
// cloud describes one group per call, so a refresh here costs what a
// describe round does; a driver that batches (cloud.BatchDescriber) sends
// one call per 200 groups instead.
func BenchmarkEvaluationRound(b *testing.B) {
	for _, cloudKind := range []string{"inprocess", "http"} {
		for _, reads := range []string{"describe", "cache"} {
			b.Run("cloud="+cloudKind+"/reads="+reads, func(b *testing.B) { benchmarkEvaluationRound(b, cloudKind, reads == "cache") })
		}
	}
}

func benchmarkEvaluationRound(b *testing.B, cloudKind string, cached bool) {
	const policies = 10000
	var drv cloud.Driver
	if cloudKind == "http" {
		fc := fake.New(fake.Options{AutoCreate: true, DefaultMax: 1000, DefaultDesired: 2})
		srv := httptest.NewServer(fake.NewHandler(fc))
		b.Cleanup(srv.Close)
		drv = fake.NewClient(srv.URL, &http.Client{Timeout: 10 * time.Second})
	}
	// No ticks and no refreshes of the node's own leader loop: the
	// benchmark drives the rounds and the refreshes.
	n, _ := startDurableNode(b, time.Hour, func(n *Node) {
		n.cfg.GroupRefresh = time.Hour
		if drv != nil {
			n.cfg.Drivers = func(string) (cloud.Driver, error) { return drv, nil }
		}
	})
	ctx := context.Background()
	now := time.Now().UTC()
	var samples []api.Sample
	for i := 0; i < policies; i++ {
		id := fmt.Sprintf("p%05d", i)
		p, err := policy.Parse([]byte(fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":1,"max":50,"tolerance":0.1,
"metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":100}],"stale_after":"1h"}`, id, id)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.PutPolicy(ctx, p, ""); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, api.Sample{Policy: id, Metric: "cpu", Time: now, Value: 55}, api.Sample{Policy: id, Metric: "rps", Time: now, Value: 190})
		if len(samples) >= 2000 {
			if _, err := n.PushMetrics(ctx, samples); err != nil {
				b.Fatal(err)
			}
			samples = samples[:0]
		}
	}
	groups := newGroupCache(n.cfg.Drivers, n.now, n.metrics, n.cfg.CloudTimeout, n.cfg.GroupRefresh)
	l := &loop{n: n, term: n.Raft().CurrentTerm(), log: n.log, busy: map[string]bool{}, last: map[string]time.Time{}, groups: groups}
	ids := make([]string, 0, policies)
	for _, r := range n.fsm.Policies() {
		ids = append(ids, r.Policy.ID)
	}
	refs := n.fsm.allGroupRefs()
	groups.refresh(ctx, refs)
	round := func() {
		work := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < n.cfg.Workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for id := range work {
					if !cached {
						groups.invalidate(cloud.GroupRef{Provider: "fake", Group: id})
					}
					l.evaluate(ctx, id)
				}
			}()
		}
		for _, id := range ids {
			work <- id
		}
		close(work)
		wg.Wait()
	}
	// The first round of a term commits every policy, as does a round
	// every StateSync; the others commit only what changed.
	cpuFirst := cpuTime()
	round()
	commitRound := cpuTime() - cpuFirst
	b.ResetTimer()
	var refresh time.Duration
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		if cached {
			r0 := cpuTime()
			groups.refresh(ctx, refs)
			refresh += cpuTime() - r0
		}
		round()
	}
	cpu := cpuTime() - cpu0 - refresh
	perRound, perRefresh := cpu/time.Duration(b.N), refresh/time.Duration(b.N)
	b.ReportMetric(perRound.Seconds()*1000, "cpu-ms/round")
	b.ReportMetric(perRefresh.Seconds()*1000, "cpu-ms/refresh")
	b.ReportMetric(100*(perRound.Seconds()/10+perRefresh.Seconds()/15), "%core@10s")
	b.ReportMetric(time.Since(wall0).Seconds()*1000/float64(b.N), "wall-ms/round")
	b.ReportMetric(float64(commitRound.Milliseconds()), "cpu-ms/commit-round")
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
