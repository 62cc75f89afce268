package controlplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// BenchmarkBucketRound10kSeries measures what replicating one 10 s bucket
// round of 10,000 series costs (5,000 policies with two metrics, each
// series sampled every second, so 100,000 samples per round): the leader's
// aggregation and encoding, the bytes of the Raft entry every follower
// receives and stores, and the CPU of applying it to an FSM, which every
// node spends.
func BenchmarkBucketRound10kSeries(b *testing.B) {
	const policies, perSeries = 5000, 10
	f := NewFSM(10)
	index := uint64(0)
	apply := func(c store.Command) int {
		data, err := store.Encode(c)
		if err != nil {
			b.Fatal(err)
		}
		index++
		if res, ok := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(applyResult); ok && res.failure() != nil {
			b.Fatal(res.failure())
		}
		return len(data)
	}
	byID := map[string]policy.Policy{}
	for i := range policies {
		id := fmt.Sprintf("p%05d", i)
		p, err := policy.Parse([]byte(fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":1,"max":50,
"metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":100}],
"predictive":{"mode":"forecast-and-scale","history":"1d"}}`, id, id)))
		if err != nil {
			b.Fatal(err)
		}
		apply(store.PutPolicy{Policy: p})
		byID[id] = p
	}
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	round := func(r int) []api.Sample {
		samples := make([]api.Sample, 0, policies*2*perSeries)
		t0 := start.Add(time.Duration(r) * 10 * time.Second)
		for s := range perSeries {
			ts := t0.Add(time.Duration(s) * time.Second)
			for i := range policies {
				id := fmt.Sprintf("p%05d", i)
				samples = append(samples, api.Sample{Policy: id, Metric: "cpu", Time: ts, Value: float64(40 + i%30)},
					api.Sample{Policy: id, Metric: "rps", Time: ts, Value: float64(100 + i%200)})
			}
		}
		return samples
	}
	rounds := make([][]api.Sample, 8)
	for i := range rounds {
		rounds[i] = round(i)
	}
	var leaderCPU, applyCPU time.Duration
	var bytes int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples := rounds[i%len(rounds)]
		t0 := time.Now()
		cmd := aggregate(samples, byID)
		data, err := store.Encode(cmd)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		index++
		f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
		applyCPU += time.Since(t1)
		leaderCPU += t1.Sub(t0)
		bytes += len(data)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "raft-bytes/round")
	b.ReportMetric(float64(leaderCPU.Microseconds())/1000/float64(b.N), "leader-ms/round")
	b.ReportMetric(float64(applyCPU.Microseconds())/1000/float64(b.N), "apply-ms/round")
}
