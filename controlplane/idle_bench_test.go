package controlplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/api"
)

// BenchmarkIdleEvaluation measures one evaluation of an idle policy on the
// leader: the load run's policy (two metrics, forecast-and-scale), its
// group's state in the cache and no new sample since the last evaluation,
// so nothing is decided and nothing is committed. That is what the leader
// does about a thousand times a second at idle with 10,000 policies at a
// 10 s interval, and its allocations are most of the leader's garbage
// then (issue 15). Run with -benchmem:
//
//	go test -run '^$' -bench IdleEvaluation -benchmem ./controlplane/
func BenchmarkIdleEvaluation(b *testing.B) {
	const policies = 100
	n, _ := startDurableNode(b, time.Hour, func(n *Node) { n.cfg.GroupRefresh = time.Hour })
	ctx := context.Background()
	now := n.now()
	ids := make([]string, policies)
	var samples []api.Sample
	for i := range ids {
		ids[i] = fmt.Sprintf("s%05d", i)
		if _, err := n.PutPolicy(ctx, loadPolicy(b, ids[i]), ""); err != nil {
			b.Fatal(err)
		}
		// Values that hold the fake cloud's groups at their 2 instances
		// (rps 150 at 100 per instance, a backlog of 80 at 50).
		samples = append(samples, api.Sample{Policy: ids[i], Metric: "rps", Time: now, Value: 150},
			api.Sample{Policy: ids[i], Metric: "queue", Time: now, Value: 80})
	}
	if _, err := n.PushMetrics(ctx, samples); err != nil {
		b.Fatal(err)
	}
	groups := newGroupCache(n.cfg.Drivers, n.now, n.metrics, n.cfg.CloudTimeout, n.cfg.GroupRefresh)
	l := &loop{n: n, term: n.Raft().CurrentTerm(), log: n.log, busy: map[string]bool{}, last: map[string]time.Time{},
		held: map[string]uint64{}, groups: groups}
	groups.refresh(ctx, n.fsm.allGroupRefs())
	// Twice: the first evaluation of a term builds the models and commits;
	// the second enters the sample; from then on each one is idle.
	for range 2 {
		for _, id := range ids {
			l.evaluate(ctx, id)
		}
	}
	quiet := testutil.ToFloat64(n.metrics.evalCommits[commitQuiet])
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		l.evaluate(ctx, ids[i%policies])
		i++
	}
	b.StopTimer()
	// Every measured evaluation must have been quiet, or this measured
	// decisions and commits rather than idle.
	if got := testutil.ToFloat64(n.metrics.evalCommits[commitQuiet]) - quiet; int(got) != i {
		b.Fatalf("%v of %d evaluations were quiet; the rest committed something", got, i)
	}
}
