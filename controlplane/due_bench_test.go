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
// listing at 10,000 policies evaluated every 10 s, the work the leader
// does every Tick (250 ms by default) whatever the load. idle: every
// policy was evaluated 5 s ago, none is due. steady: the clock moves by a
// tick each time and the last evaluations are spread over the interval,
// so a fortieth of the policies (250) is due at each tick; dispatch
// records the evaluation as a worker would.
func BenchmarkDueTick(b *testing.B) {
	const policies, tick = 10_000, 250 * time.Millisecond
	start := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	for _, steady := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "steady"}[steady]
		b.Run(name, func(b *testing.B) {
			f, _ := fsmWithPolicies(b, policies)
			l := &loop{n: &Node{fsm: f}, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}}
			for i := range policies {
				age := 5 * time.Second
				if steady {
					age = time.Duration(i%40) * tick
				}
				l.last[fmt.Sprintf("p%05d", i)] = start.Add(-age)
			}
			ctx := context.Background()
			now := start
			dispatched := 0
			evaluate := func(id string) {
				dispatched++
				l.last[id] = now
			}
			// The first tick after a change of the policy set lists it;
			// the benchmark measures the ticks between changes.
			l.forDue(ctx, now, false, evaluate)
			dispatched = 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if steady {
					now = now.Add(tick)
				}
				l.forDue(ctx, now, false, evaluate)
			}
			b.StopTimer()
			want := 0
			if steady {
				want = b.N * policies / 40
			}
			if dispatched != want {
				b.Fatalf("%d policies dispatched in %d ticks, want %d", dispatched, b.N, want)
			}
		})
	}
}

// BenchmarkDueTickAfterWrite measures the tick that follows a policy
// write at 10,000 policies: the write's Apply, then a tick that lists the
// policy set again and rebuilds the due queue (none due), the most a
// flood of policy writes costs the tick.
func BenchmarkDueTickAfterWrite(b *testing.B) {
	const policies = 10_000
	now := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	f, index := fsmWithPolicies(b, policies)
	l := &loop{n: &Node{fsm: f}, busy: map[string]bool{}, last: map[string]time.Time{}, held: map[string]uint64{}}
	for i := range policies {
		l.last[fmt.Sprintf("p%05d", i)] = now.Add(-5 * time.Second)
	}
	write := store.PutPolicy{Policy: twoMetricPolicy(b, "p00000", "10s")}
	ctx := context.Background()
	dispatched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		applyCmd(b, f, index, write)
		index++
		l.forDue(ctx, now, false, func(string) { dispatched++ })
	}
	b.StopTimer()
	if dispatched != 0 {
		b.Fatalf("%d policies dispatched, want none due", dispatched)
	}
}
