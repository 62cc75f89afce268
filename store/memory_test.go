package store

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// weekState builds what a week-old cluster holds for n two-metric
// predictive policies (request_rate and queue_depth, history 7d, so two
// windows of 2,016 five-minute buckets each, every bucket filled with a
// daily cycle plus noise), one Samples entry per policy as e2e's seed
// does, and returns it with the time of its newest bucket.
func weekState(tb testing.TB, n int) (*State, time.Time) {
	tb.Helper()
	s := New()
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	index := uint64(0)
	var samples []Sample
	for i := range n {
		id := fmt.Sprintf("policy-%05d", i)
		p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":2,"max":50,"evaluation_interval":"10s",` +
			`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"},` +
			`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"queue","type":"queue_depth","target":30}]}`))
		if err != nil {
			tb.Fatal(err)
		}
		index++
		s.Apply(index, PutPolicy{Policy: p, At: start}, Options{})
		step, _ := WindowShape(p)
		samples = samples[:0]
		for k, t := 0, start.Add(step); !t.After(end); k, t = k+1, t.Add(step) {
			phase := 2 * math.Pi * float64(t.Unix()%86400) / 86400
			noise := float64((k*7919+i*104729)%1000) / 997
			samples = append(samples,
				Sample{Policy: id, Metric: "rps", Time: t, Value: 1000 + 400*math.Sin(phase) + 13*noise},
				Sample{Policy: id, Metric: "queue", Time: t, Value: math.Round(200 + 150*math.Sin(phase) + 40*noise)})
		}
		index++
		s.Apply(index, Samples{Samples: samples}, Options{})
	}
	return s, end
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// memPoliciesFlag is how many policies BenchmarkMemory holds; the
// issue's load is 10,000 (under a minute to build and about 1 GB of heap).
var memPoliciesFlag = flag.Int("store.mem-policies", 1000, "policies in BenchmarkMemory")

// memDecisionsFlag is how many decision records BenchmarkMemory gives
// each policy after its windows: a week-old cluster holds up to
// --max-decisions (100) per policy, which the load run's seeded state
// does not.
var memDecisionsFlag = flag.Int("store.mem-decisions", 100, "decision records per policy in BenchmarkMemory")

// addDecisions commits k decision records to each of the n policies of
// weekState, shaped like the leader's for its two-metric predictive
// policies (each metric's value, forecast, upper bound and skill, a
// reason of about 200 characters), each with an evaluation state of
// stateBytes, and returns the next index.
func addDecisions(s *State, n, k, stateBytes int, at time.Time, index uint64) uint64 {
	for i := range n {
		id := fmt.Sprintf("policy-%05d", i)
		// Each policy's own, as each entry decoded from the log carries
		// its own: one shared by all would leave the records' heap
		// understated by the states subtracted from it.
		state := bytes.Repeat([]byte{7}, stateBytes)
		for j := range k {
			r := weekRecord(i, j, at)
			index++
			s.Apply(index, Evaluated{Policy: id, PolicyVersion: s.Policies[id].Record.Version, State: state, Record: &r, Desired: 13, Ready: 12, At: r.Time}, Options{})
		}
	}
	return index
}

// weekRecord is the j-th decision record addDecisions gives the i-th
// policy, from at on.
func weekRecord(i, j int, at time.Time) policy.Record {
	f := func(x float64) *float64 { return &x }
	// Values that move as a real policy's do (a daily cycle, noise,
	// a forecast and bound off the value, a skill that drifts), so
	// that no field repeats more than a real history's would.
	t := at.Add(time.Duration(j) * 10 * time.Second)
	phase := 2 * math.Pi * float64(t.Unix()%86400) / 86400
	noise := float64((j*7919+i*104729)%1000) / 997
	rps, queue := 1000+400*math.Sin(phase)+13*noise, math.Round(200+150*math.Sin(phase)+40*noise)
	fc, up, skill := rps*1.03+7*noise, rps*1.07+11*noise, 0.3+0.2*noise
	qfc, qup, qskill := queue*0.98+3*noise, queue*1.05+5*noise, 0.1+0.1*noise
	reactive, predictive := int(math.Ceil(rps/100)), int(math.Ceil(up/100))
	return policy.Record{Time: t, Current: 12, Ready: 12, Reactive: reactive, Predictive: predictive,
		Recommended: predictive, Desired: predictive, Action: "scale-out", Bound: policy.LimitNone, Forecast: true, HourlyCost: 12.48,
		Reason: fmt.Sprintf("scale-out 12->%d: rps=%.1f (target 100) proposes %d, queue=%.0f (target 30) proposes %d, forecast %.1f proposes %d (upper bound %.1f) (skill %.2f); recommended %d, desired %d",
			predictive, rps, reactive, queue, int(math.Ceil(queue/30)), fc, predictive, up, skill, predictive, predictive),
		Metrics: []policy.MetricRecord{
			{Name: "rps", Value: f(rps), Reactive: reactive, Forecast: f(fc), Predictive: predictive, Upper: f(up), Season: policy.Duration(24 * time.Hour), Skill: f(skill), Trusted: true},
			{Name: "queue", Value: f(queue), Reactive: int(math.Ceil(queue / 30)), Forecast: f(qfc), Predictive: int(math.Ceil(qup / 30)), Upper: f(qup), Skill: f(qskill)},
		}}
}

// BenchmarkApplyEvaluated measures committing a decision record to a
// policy whose history is full (--max-decisions, 100, by default): what
// every node pays at every recorded evaluation.
func BenchmarkApplyEvaluated(b *testing.B) {
	s, end := weekState(b, 1)
	index := addDecisions(s, 1, DefaultMaxDecisions, 5000, end, 1<<30)
	state := bytes.Repeat([]byte{7}, 5000)
	version := s.Policies["policy-00000"].Record.Version
	// Records made beforehand: the benchmark is what Apply does with one.
	recs := make([]policy.Record, 256)
	for j := range recs {
		recs[j] = weekRecord(0, DefaultMaxDecisions+j, end)
	}
	b.ReportAllocs()
	j := 0
	for b.Loop() {
		r := &recs[j%len(recs)]
		index++
		j++
		s.Apply(index, Evaluated{Policy: "policy-00000", PolicyVersion: version, State: state, Record: r, Desired: r.Desired, Ready: 12, At: r.Time}, Options{})
	}
}

// BenchmarkMemory measures what the state of memPolicies week-old
// two-metric policies holds (heap after a full GC, per policy-metric-day)
// and what a snapshot adds while it is written: the view is taken, every
// policy gets a sample in its newest bucket while Persist runs (as under
// the load, where every policy is fed every 10 s and Persist takes
// seconds), then the view is released. persist-peak-bytes is the highest
// heap seen during that (sampled every millisecond) above the live heap
// before it; cow-bytes is the live heap with the view held and the round
// applied, above the live heap before: what the copy-on-write kept,
// measured once Persist is done and before the view is released;
// restore-s is reading the snapshot back into a new state.
//
//	go test -run '^$' -bench Memory -benchtime 1x ./store/
//	go test -run '^$' -bench Memory -benchtime 1x ./store/ -args -store.mem-policies=10000
func BenchmarkMemory(b *testing.B) {
	n := *memPoliciesFlag
	before := liveHeap()
	s, end := weekState(b, n)
	held := liveHeap() - before
	// A week's decision records and evaluation states (5 KB, as a
	// week-old forecasting policy's), measured apart.
	beforeDecisions := liveHeap()
	addDecisions(s, n, *memDecisionsFlag, 5000, end, 1<<30)
	decisions := liveHeap() - beforeDecisions

	var persisted atomic.Int64
	var peak uint64
	for b.Loop() {
		base := liveHeap()
		v := s.View()
		done := make(chan struct{})
		var sampler, writer sync.WaitGroup
		sampler.Add(1)
		go func() { // the sampler
			defer sampler.Done()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base {
					peak = max(peak, m.HeapAlloc-base)
				}
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		var werr error
		writer.Add(1)
		start := time.Now()
		var took time.Duration
		go func() { // Persist
			defer writer.Done()
			cw := &countingWriter{}
			werr = v.WriteSnapshot(cw)
			took = time.Since(start)
			persisted.Store(cw.n)
		}()
		index := uint64(1 << 40)
		for i := range n {
			index++
			id := fmt.Sprintf("policy-%05d", i)
			s.Apply(index, Samples{Samples: []Sample{{Policy: id, Metric: "rps", Time: end, Value: 1}, {Policy: id, Metric: "queue", Time: end, Value: 2}}}, Options{})
		}
		writer.Wait() // Persist done
		close(done)
		sampler.Wait()
		cow := liveHeap() - base // the view still held
		v.Release()
		if werr != nil {
			b.Fatal(werr)
		}
		b.ReportMetric(float64(cow), "cow-bytes")
		b.ReportMetric(took.Seconds(), "persist-s")
	}
	// Restoring that snapshot, as a restarting node does first.
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	restoreStart := time.Now()
	if _, err := ReadSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(restoreStart).Seconds(), "restore-s")
	// Reported after the loop: b.Loop's first call resets the metrics.
	days, metrics := 7.0, 2.0
	b.ReportMetric(float64(held)/(float64(n)*metrics*days), "bytes/policy-metric-day")
	b.ReportMetric(float64(held)/float64(n), "heap-bytes/policy")
	b.ReportMetric(float64(held)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(decisions)/(1<<20), "decisions-MiB")
	if k := *memDecisionsFlag; k > 0 {
		// The states' heap as allocated (5,000 bytes take a 5,376-byte
		// size class), measured apart.
		beforeStates := liveHeap()
		states := make([][]byte, n)
		for i := range states {
			states[i] = bytes.Repeat([]byte{7}, 5000)
		}
		statesHeld := liveHeap() - beforeStates
		runtime.KeepAlive(states)
		b.ReportMetric(float64(decisions-statesHeld)/float64(n*k), "bytes/decision")
	}
	b.ReportMetric(float64(peak), "persist-peak-bytes")
	b.ReportMetric(float64(persisted.Load()), "snapshot-bytes")
	runtime.KeepAlive(s)
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return io.Discard.Write(p)
}
