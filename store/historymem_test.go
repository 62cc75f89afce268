package store

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// historyStepFlag is the predictive.history_step of BenchmarkHistoryMemory's
// policies ("" for none: the default rule's 5-minute buckets).
var historyStepFlag = flag.String("store.history-step", "1m", "predictive.history_step of BenchmarkHistoryMemory's policies; empty for the default")

// BenchmarkHistoryMemory measures what a week of history costs at a
// history step: memPolicies three-metric policies (request_rate, cpu,
// queue_depth; history 7d) with every bucket of every window filled, one
// sample a bucket (a bucket costs the same whatever it holds), and the
// group resized every 10 minutes (1,008 sizes a week, which a policy
// with a history step keeps). It reports
// the live heap of the whole state, per policy-metric-day, the binary
// snapshot's size and the time to write and to read it back.
//
//	go test -run '^$' -bench HistoryMemory -benchtime 1x ./store/
//	go test -run '^$' -bench HistoryMemory -benchtime 1x ./store/ -args -store.history-step=
func BenchmarkHistoryMemory(b *testing.B) {
	n := *memPoliciesFlag
	stepField := ""
	if *historyStepFlag != "" {
		stepField = `,"history_step":"` + *historyStepFlag + `"`
	}
	before := liveHeap()
	s := New()
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	index := uint64(0)
	var samples []Sample
	buckets := 0
	for i := range n {
		id := fmt.Sprintf("policy-%05d", i)
		p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":2,"max":50,"evaluation_interval":"10s",` +
			`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"` + stepField + `},` +
			`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"cpu","type":"cpu","target":60},{"name":"queue","type":"queue_depth","target":30}]}`))
		if err != nil {
			b.Fatal(err)
		}
		index++
		s.Apply(index, PutPolicy{Policy: p, At: start}, Options{})
		step, length := WindowShape(p)
		buckets = length
		samples = samples[:0]
		for k, t := 0, start.Add(step); !t.After(end); k, t = k+1, t.Add(step) {
			phase := 2 * math.Pi * float64(t.Unix()%86400) / 86400
			noise := float64((k*7919+i*104729)%1000) / 997
			samples = append(samples,
				Sample{Policy: id, Metric: "rps", Time: t, Value: 1000 + 400*math.Sin(phase) + 13*noise},
				Sample{Policy: id, Metric: "cpu", Time: t, Value: 55 + 20*math.Sin(phase) + 3*noise},
				Sample{Policy: id, Metric: "queue", Time: t, Value: math.Round(200 + 150*math.Sin(phase) + 40*noise)})
		}
		index++
		s.Apply(index, Samples{Samples: samples}, Options{})
		version := s.Policies[id].Record.Version
		for k, t := 0, start; t.Before(end); k, t = k+1, t.Add(10*time.Minute) {
			index++
			s.Apply(index, Evaluated{Policy: id, PolicyVersion: version, Desired: 10 + k%5, Ready: 10 + k%5, At: t}, Options{})
		}
	}
	held := liveHeap() - before
	var snap bytes.Buffer
	var write time.Duration
	for b.Loop() {
		snap.Reset()
		t0 := time.Now()
		if err := s.WriteSnapshot(&snap); err != nil {
			b.Fatal(err)
		}
		write = time.Since(t0)
	}
	t0 := time.Now()
	if _, err := ReadSnapshot(bytes.NewReader(snap.Bytes())); err != nil {
		b.Fatal(err)
	}
	restore := time.Since(t0)
	const metrics, days = 3.0, 7.0
	b.ReportMetric(float64(buckets), "buckets/window")
	b.ReportMetric(float64(len(s.Policies["policy-00000"].Sizes)), "sizes/policy")
	b.ReportMetric(float64(held)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(held)/(float64(n)*metrics*days), "heap-bytes/metric-day")
	b.ReportMetric(float64(snap.Len())/(1<<20), "snapshot-MiB")
	b.ReportMetric(float64(snap.Len())/(float64(n)*metrics*days), "snapshot-bytes/metric-day")
	b.ReportMetric(write.Seconds(), "persist-s")
	b.ReportMetric(restore.Seconds(), "restore-s")
}
