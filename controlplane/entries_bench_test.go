package controlplane

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

var (
	entriesPolicies = flag.Int("entries.policies", 500, "policies in BenchmarkEvaluatedEntries")
	entriesRounds   = flag.Int("entries.rounds", 60, "10-second rounds BenchmarkEvaluatedEntries measures")
	entriesHistory  = flag.Duration("entries.history", 6*time.Hour, "history BenchmarkEvaluatedEntries seeds each window with, one sample per 5 minutes")
	entriesNewTerm  = flag.Bool("entries.newterm", false, "BenchmarkEvaluatedEntries starts a new term after the first round, so the kept states are decoded from the committed ones, as after a failover or a restart")
	entriesFlat     = flag.Bool("entries.flat", false, "BenchmarkEvaluatedEntries feeds values without a daily cycle (flatValue), so the models have no season")
	entriesPace     = flag.Duration("entries.pace", 0, "BenchmarkEvaluatedEntries spreads each round's evaluations over this much wall time (0: back to back) and reports the largest heap goal and heap held seen in the measured rounds")
)

// loadPolicy is the load run's policy (e2e's scalePolicy): two metrics,
// forecast-and-scale over 7 days of history, evaluated every 10 s.
func loadPolicy(tb testing.TB, id string) policy.Policy {
	tb.Helper()
	p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":1,"max":50,"warmup":"2m",` +
		`"evaluation_interval":"10s","tolerance":0.1,` +
		`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"queue","type":"queue_depth","target":50}],` +
		`"scale_out":{"cooldown":"2m"},"scale_in":{"cooldown":"10m","stabilization":"5m"},` +
		`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"},"stale_after":"1m"}`))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// loadValue is the load run's sample value (e2e's scaleValue): a daily
// cycle per policy plus a little noise.
func loadValue(policy, metric int, t time.Time) float64 {
	phase := 2*math.Pi*float64(t.Unix()%86400)/86400 + float64(policy%24)
	noise := float64((t.Unix()*7919+int64(policy)*104729)%1000) / 997
	if metric == 0 {
		return 500 + 300*math.Sin(phase) + 10*noise
	}
	return 100 + 80*math.Sin(phase) + noise
}

// flatValue is loadValue without its daily cycle: a level per policy and
// the same noise, on which `season: auto` finds no season (what a decoded
// model without one holds shows in liveB/policy with -entries.flat).
func flatValue(policy, metric int, t time.Time) float64 {
	noise := float64((t.Unix()*7919+int64(policy)*104729)%1000) / 997
	if metric == 0 {
		return 500 + float64(policy%24) + 10*noise
	}
	return 100 + noise
}

// entryCount is what the Raft log holds between two indexes: entries and
// bytes, in all and of evaluation commands (Evaluated and Evaluations
// entries), the evaluations those carry, and how many of them carry a
// decision record, a whole state or a state without models.
type entryCount struct {
	entries, bytes, evaluated, evaluatedBytes int
	evaluations, records, states, pacings     int
}

// countEntries reads the log entries in (from, to], and hands each
// evaluation they carry to each, unless it is nil.
func countEntries(tb testing.TB, logs raft.LogStore, from, to uint64, each func(store.Evaluated)) entryCount {
	tb.Helper()
	var c entryCount
	for i := from + 1; i <= to; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			tb.Fatalf("log %d: %v", i, err)
		}
		if e.Type != raft.LogCommand {
			continue
		}
		c.entries++
		c.bytes += len(e.Data)
		if len(e.Data) == 0 {
			continue
		}
		if t := store.CommandType(e.Data[0]); t != store.CmdEvaluated && t != store.CmdEvaluations {
			continue
		}
		c.evaluated++
		c.evaluatedBytes += len(e.Data)
		cmd, err := store.Decode(e.Data)
		if err != nil {
			tb.Fatalf("log %d: %v", i, err)
		}
		items := []store.Evaluated{}
		switch cmd := cmd.(type) {
		case store.Evaluated:
			items = append(items, cmd)
		case store.Evaluations:
			items = cmd.Items
		}
		for _, x := range items {
			if each != nil {
				each(x)
			}
			c.evaluations++
			if x.Record != nil {
				c.records++
			}
			if x.State != nil {
				c.states++
			}
			if x.Pacing != nil {
				c.pacings++
			}
		}
	}
	return c
}

// BenchmarkEvaluatedEntries measures what the leader's evaluations write
// to the Raft log under the load run's feed (make bench-scale): policies
// like its own, each metric given one sample every 10 s, every policy
// evaluated once per 10 s round, on a virtual clock so that a round takes
// what its work takes. Each window first gets -entries.history of
// history. It reports, per round after the term's first, the evaluation
// entries and their bytes, the share of evaluations committed for each
// reason (commitReason), the entries and bytes per second the same
// feed would commit at 10,000 policies, and the bytes of the round that
// committed the most (peakMB/round@10k: a burst when most policies' models
// fall due in one round); in two sub-benchmarks, the node
// writing entry version 6 (each evaluation its own entry, with its whole
// state) and the current version (batches, pacing states without models).
//
// A round's evaluations run as fast as they can, not spread over its 10
// seconds, so the batches here hold more than a real 250 ms tick does:
// entries/s@10k scales the measured entries linearly, which is right for
// version 6 and not for batches (see BENCHMARKS.md).
//
// With -entries.flat the values have no daily cycle, so the models have
// no season. With -entries.newterm a new term starts after the first round
// (a failover): the rounds measured evaluate from states decoded from the
// committed ones, as a leader's after a failover or a restart.
//
//	go test -run '^$' -bench EvaluatedEntries -benchtime 1x ./controlplane/ -args -entries.policies=500
func BenchmarkEvaluatedEntries(b *testing.B) {
	for _, v := range []uint8{store.VersionBudget, store.CurrentVersion} {
		b.Run(fmt.Sprintf("version=%d", v), func(b *testing.B) {
			for range b.N {
				benchmarkEvaluatedEntries(b, *entriesPolicies, *entriesRounds, *entriesHistory, v)
			}
		})
	}
}

func benchmarkEvaluatedEntries(b *testing.B, policies, rounds int, history time.Duration, version uint8) {
	b.StopTimer()
	value := loadValue
	if *entriesFlat {
		value = flatValue
	}
	r := newLoadRig(b, policies, history, value, func(n *Node) { n.cfg.WriteVersion = int(version) })
	n := r.n
	r.round(b) // the term's first evaluations commit every policy
	if *entriesNewTerm {
		// A failover: the next term's loop keeps nothing yet, and its
		// first evaluations decode every committed state.
		r.startTerm()
		r.round(b)
	}
	l := r.l
	r.pace = *entriesPace
	var before [commitReasons]float64
	for reason := range commitReasons {
		before[reason] = testutil.ToFloat64(n.metrics.evalCommits[reason])
	}
	first := n.Raft().LastIndex()
	b.StartTimer()
	// The most one round commits in evaluation entries (peakMB/round@10k).
	var peak int
	stopWatch := func() {}
	if r.pace > 0 {
		stopWatch = watchHeap(b)
	}
	for range rounds {
		from := n.Raft().LastIndex()
		r.round(b)
		if r.pace == 0 { // reading the round's entries would add to the heap watched
			b.StopTimer()
			peak = max(peak, countEntries(b, n.storage.Logs, from, n.Raft().LastIndex(), nil).evaluatedBytes)
			b.StartTimer()
		}
	}
	stopWatch()
	b.StopTimer()
	c := countEntries(b, n.storage.Logs, first, n.Raft().LastIndex(), nil)
	// The heap the term's kept states hold (latestState), and the whole
	// live heap: the leader's state, its kept states and the node.
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	b.ReportMetric(float64(with.HeapAlloc)/float64(policies), "liveB/policy")
	if path := *entriesHeapProfile; path != "" {
		writeHeapProfile(b, path)
	}
	l.mu.Lock()
	l.latest = nil
	l.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric((float64(with.HeapAlloc)-float64(without.HeapAlloc))/float64(policies), "keptB/policy")
	// The committed states every node holds (store.Policy.EvalState).
	committed := 0
	n.fsm.mu.RLock()
	for _, p := range n.fsm.state.Policies {
		committed += cap(p.EvalState)
	}
	n.fsm.mu.RUnlock()
	b.ReportMetric(float64(committed)/float64(policies), "committedB/policy")
	evals := float64(rounds * policies)
	for r := range commitReasons {
		b.ReportMetric(100*(testutil.ToFloat64(n.metrics.evalCommits[r])-before[r])/evals, "%"+r.String())
	}
	// The rounds' closing evaluations are not the leader's.
	c.evaluations -= rounds
	perRound := float64(c.evaluated) / float64(rounds)
	scale := 10000 / float64(policies)
	b.ReportMetric(perRound, "evaluated/round")
	b.ReportMetric(float64(c.evaluations)/float64(rounds)/10*scale, "evaluations/s@10k")
	b.ReportMetric(float64(c.evaluations)/max(1, float64(c.evaluated)), "evaluations/entry")
	b.ReportMetric(100*float64(c.records)/evals, "%with_record")
	b.ReportMetric(100*float64(c.states)/evals, "%with_state")
	b.ReportMetric(100*float64(c.pacings)/evals, "%with_pacing")
	b.ReportMetric(float64(c.evaluatedBytes)/max(1, float64(c.evaluated)), "B/evaluated")
	b.ReportMetric(perRound/10*scale, "evaluated/s@10k")
	b.ReportMetric(float64(c.evaluatedBytes)/float64(rounds)/10*scale/1e6, "evaluatedMB/s@10k")
	b.ReportMetric(float64(peak)*scale/1e6, "peakMB/round@10k")
	b.ReportMetric(float64(c.entries)/float64(rounds)/10*scale, "entries/s@10k")
	b.ReportMetric(float64(c.bytes)/float64(rounds)/10*scale/1e6, "MB/s@10k")
}

// entriesHeapProfile is where BenchmarkEvaluatedEntries writes a heap
// profile of the leader after its rounds, kept states and all (go tool
// pprof -sample_index=inuse_space): what each part of a leader's state
// holds.
var entriesHeapProfile = flag.String("entries.heapprofile", "", "write a heap profile of the leader after the rounds to this file")

// writeHeapProfile writes the heap profile, as of the last collection, to path.
func writeHeapProfile(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// loadRig is one durable leading node holding the load run's policies
// (loadPolicy) with history, whose leader loop the caller drives a 10 s
// round at a time on a virtual clock (round): every policy gets one
// sample per metric and is evaluated once, and the round's evaluations
// are in the log when it returns.
type loadRig struct {
	n     *Node
	ids   []string
	value func(policy, metric int, t time.Time) float64
	clock atomic.Int64
	l     *loop
	end   func() // ends l's term
	// pace spreads a round's evaluations over this much wall time (0:
	// back to back).
	pace time.Duration
	// ahead stamps the round's samples this far ahead of the clock, as
	// a source whose clock runs fast does (at most maxSampleSkew).
	ahead time.Duration
}

// newLoadRig starts the node (setup adjusts it before it runs), writes
// policies load-run policies, seeds each window with history (one sample
// per 5 minutes, of value) and starts a term's loop. The node is shut
// down when tb ends.
func newLoadRig(tb testing.TB, policies int, history time.Duration, value func(policy, metric int, t time.Time) float64, setup func(*Node)) *loadRig {
	tb.Helper()
	r := &loadRig{value: value}
	// Real time at the start: intents carry deadlines the fake cloud
	// honours on the wall clock.
	start := time.Now().UTC().Truncate(time.Second)
	r.clock.Store(start.UnixNano())
	n, _ := startDurableNode(tb, time.Hour, func(n *Node) {
		n.now = r.now
		n.cfg.GroupRefresh = time.Hour
		// The rig evaluates; the node's own loop must not.
		n.fresh = nil
		// Nor snapshot at its turns: the caller reads the rounds' entries
		// back from the log, which a snapshot compacts (2,000 week-old
		// policies pass the 64 MiB of SnapshotBytes in about 50 rounds).
		n.cfg.SnapshotThreshold, n.cfg.SnapshotBytes = 0, 0
		if setup != nil {
			setup(n)
		}
	})
	r.n = n
	ctx := context.Background()
	r.ids = make([]string, policies)
	for i := range r.ids {
		r.ids[i] = fmt.Sprintf("s%05d", i)
		if _, err := n.PutPolicy(ctx, loadPolicy(tb, r.ids[i]), ""); err != nil {
			tb.Fatal(err)
		}
	}
	// History, one sample per metric per 5 minutes, committed directly
	// (the API refuses samples older than an hour).
	var seed []store.Sample
	for t := start.Add(-history); t.Before(start); t = t.Add(5 * time.Minute) {
		for i, id := range r.ids {
			seed = append(seed, store.Sample{Policy: id, Metric: "rps", Time: t, Value: value(i, 0, t)},
				store.Sample{Policy: id, Metric: "queue", Time: t, Value: value(i, 1, t)})
		}
		if len(seed) >= 20000 {
			if err := n.apply(ctx, store.Samples{Samples: seed}); err != nil {
				tb.Fatal(err)
			}
			seed = seed[:0]
		}
	}
	if len(seed) > 0 {
		if err := n.apply(ctx, store.Samples{Samples: seed}); err != nil {
			tb.Fatal(err)
		}
	}
	r.startTerm()
	tb.Cleanup(func() { r.end() })
	return r
}

// now is the rig's virtual clock.
func (r *loadRig) now() time.Time { return time.Unix(0, r.clock.Load()).UTC() }

// startTerm ends the running term's loop, if any, and starts a new
// term's (nothing kept).
func (r *loadRig) startTerm() {
	if r.end != nil {
		r.end()
	}
	n := r.n
	groups := newGroupCache(n.cfg.Drivers, n.now, n.metrics, n.cfg.CloudTimeout, n.cfg.GroupRefresh)
	l := &loop{n: n, term: n.Raft().CurrentTerm(), log: n.log, busy: map[string]bool{}, last: map[string]time.Time{},
		held: map[string]uint64{}, wakes: map[string]wake{}, woken: make(chan string, len(r.ids)), groups: groups}
	r.l = l
	if n.cfg.writeVersion() < store.VersionBatched {
		r.end = l.stopWakes
		return
	}
	bctx, stop := context.WithCancel(context.Background())
	l.commits = newEvalBatcher(n.applyResult, n.cfg.Tick, evalBatchMax, time.Now)
	done := make(chan struct{})
	go func() { defer close(done); l.commits.run(bctx) }()
	r.end = func() { l.stopWakes(); stop(); <-done }
}

// round pushes one sample per metric of every policy, evaluates every
// policy once (n.cfg.Workers at a time), waits until the round's
// evaluations are in the log, and moves the clock 10 s on.
func (r *loadRig) round(tb testing.TB) {
	tb.Helper()
	n, l, ctx := r.n, r.l, context.Background()
	t := r.now().Add(r.ahead)
	var samples []api.Sample
	for i, id := range r.ids {
		samples = append(samples, api.Sample{Policy: id, Metric: "rps", Time: t, Value: r.value(i, 0, t)},
			api.Sample{Policy: id, Metric: "queue", Time: t, Value: r.value(i, 1, t)})
	}
	for len(samples) > 0 {
		k := min(len(samples), 500)
		if _, err := n.PushMetrics(ctx, samples[:k]); err != nil {
			tb.Fatal(err)
		}
		samples = samples[k:]
	}
	start := time.Now()
	work := make(chan string)
	var wg sync.WaitGroup
	for range n.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				l.evaluate(ctx, id)
			}
		}()
	}
	for i, id := range r.ids {
		if r.pace > 0 {
			// The i-th evaluation at its share of the round's wall time,
			// as a leader's are spread over the round by the samples.
			if wait := time.Until(start.Add(r.pace * time.Duration(i) / time.Duration(len(r.ids)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if l.commits != nil {
		// The round's batches are in the log before the next round
		// (and before the count).
		if err := l.commits.commit(ctx, store.Evaluated{Policy: r.ids[0], PolicyVersion: math.MaxUint64}); err == nil {
			tb.Fatal("the round's closing evaluation of no version was committed")
		}
	}
	r.clock.Add(int64(10 * time.Second))
}

// watchHeap samples the heap's goal and the heap memory held from the
// system (mapped and not released: what the heap adds to RSS) every 10 ms
// until the returned function is called, which reports their largest
// values in MB (goalMB, heldMB). Meaningful only when the evaluations are
// spread over the rounds (-entries.pace): back to back, the collector
// marks while they allocate and counts what they allocate as live.
func watchHeap(b *testing.B) (stop func()) {
	samples := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	var goal, held uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			goal = max(goal, samples[0].Value.Uint64())
			held = max(held, samples[1].Value.Uint64()+samples[2].Value.Uint64()+samples[3].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		b.ReportMetric(float64(goal)/1e6, "goalMB")
		b.ReportMetric(float64(held)/1e6, "heldMB")
	}
}
