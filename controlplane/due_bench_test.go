package controlplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// fsmWithPolicies returns an FSM holding n two-metric policies evaluated
// every 10 s, applied at indexes 1..n, and the next free index.
func fsmWithPolicies(tb testing.TB, n int) (*FSM, uint64) {
	tb.Helper()
	f := NewFSM(10)
	index := uint64(0)
	for i := range n {
		index++
		applyCmd(tb, f, index, store.PutPolicy{Policy: twoMetricPolicy(tb, fmt.Sprintf("p%05d", i), "10s")})
	}
	return f, index + 1
}

// twoMetricPolicy is a predictive policy with two metrics, evaluated at
// the given interval.
func twoMetricPolicy(tb testing.TB, id, interval string) policy.Policy {
	tb.Helper()
	p, err := policy.Parse([]byte(fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":1,"max":50,
"evaluation_interval":%q,
"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"queue","type":"queue_depth","target":10}],
"predictive":{"mode":"forecast-and-scale","history":"1d"}}`, id, id, interval)))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// applyCmd applies one command to f at index and fails on a refusal.
func applyCmd(tb testing.TB, f *FSM, index uint64, c store.Command) {
	tb.Helper()
	data, err := store.Encode(c)
	if err != nil {
		tb.Fatal(err)
	}
	if res, ok := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(applyResult); ok && res.failure() != nil {
		tb.Fatal(res.failure())
	}
}

// BenchmarkDueTick measures one tick of the leader loop's due-policy
// listing at 10,000 policies, every one evaluated by this term 5 s ago,
// so none is due: the steady-state cost the leader pays every Tick
// (250 ms by default) whatever the load.
func BenchmarkDueTick(b *testing.B) {
	const policies = 10_000
	f, _ := fsmWithPolicies(b, policies)
	now := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	l := &loop{n: &Node{fsm: f}, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}}
	for i := range policies {
		l.last[fmt.Sprintf("p%05d", i)] = now.Add(-5 * time.Second)
	}
	ctx := context.Background()
	dispatched := 0
	// The first tick after a change of the policy set lists it; the
	// benchmark measures the ticks between changes.
	l.forDue(ctx, now, false, func(string) { dispatched++ })
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.forDue(ctx, now, false, func(string) { dispatched++ })
	}
	if dispatched != 0 {
		b.Fatalf("%d policies dispatched, want none due", dispatched)
	}
}
