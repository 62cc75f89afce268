package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// BenchmarkPolicyWrites measures committed policy writes per second through
// the API of a three-node loopback cluster with 64 concurrent clients, either
// spread over all three nodes (followers forward to the leader) or all
// talking to the leader.
func BenchmarkPolicyWrites(b *testing.B) {
	c := startCluster(b, 3)
	leader := c.waitLeader(5 * time.Second)
	for _, mode := range []string{"spread", "leader"} {
		b.Run(mode, func(b *testing.B) {
			targets := c.nodes
			if mode == "leader" {
				targets = []*node{leader}
			}
			const clients = 64
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					nd := targets[w%len(targets)]
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						body := fmt.Sprintf(`{"id":"p%d","target":{"provider":"fake","group":"g%d"},"min":0,"max":3,"evaluation_interval":"1h","metrics":[{"name":"rps","type":"request_rate","target":10}]}`, i%5000, i%5000)
						if _, err := nd.client.PutPolicy(context.Background(), []byte(body), "application/json", ""); err != nil {
							b.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
		})
	}
}

// BenchmarkFailover kills the leader ten times (restarting it each time)
// and reports the median and maximum time from the kill to the first
// evaluation by the new leader. Run with -benchtime 1x.
func BenchmarkFailover(b *testing.B) {
	for it := 0; it < b.N; it++ {
		c := startCluster(b, 3)
		leader := c.waitLeader(5 * time.Second)
		if _, err := leader.client.PutPolicy(context.Background(), []byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":5,"evaluation_interval":"1s","metrics":[{"name":"rps","type":"request_rate","target":100}]}`), "application/json", ""); err != nil {
			b.Fatal(err)
		}
		var took []time.Duration
		for k := 0; k < 10; k++ {
			leader = c.waitLeader(10 * time.Second)
			time.Sleep(1500 * time.Millisecond) // a settled cluster and a recent evaluation
			killed := time.Now()
			c.kill(leader)
			next := c.waitLeader(10*time.Second, leader)
			for {
				st, err := next.client.State(context.Background(), "web")
				if err == nil && st.LastEvaluation != nil && st.LastEvaluation.After(killed) {
					took = append(took, st.LastEvaluation.Sub(killed))
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			c.restart(leader)
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
		b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
		b.Logf("failover times: %v", took)
		c.stopAll()
	}
}

// BenchmarkPushMetrics measures samples/s accepted by POST /v1/metrics on
// a three-node cluster: batches of 1,000 samples over 10 policies from 8
// concurrent clients talking to the leader. A batch is accepted once Raft
// has committed it, after which every node folds it into its windows.
func BenchmarkPushMetrics(b *testing.B) {
	c := startCluster(b, 3)
	leader := c.waitLeader(5 * time.Second)
	for i := 0; i < 10; i++ {
		body := fmt.Sprintf(`{"id":"p%d","target":{"provider":"fake","group":"g%d"},"min":0,"max":3,"evaluation_interval":"1h","metrics":[{"name":"rps","type":"request_rate","target":10}]}`, i, i)
		if _, err := leader.client.PutPolicy(context.Background(), []byte(body), "application/json", ""); err != nil {
			b.Fatal(err)
		}
	}
	const batch, clients = 1000, 8
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples := make([]api.Sample, batch)
			for next.Add(1) <= int64(b.N) {
				now := time.Now().UTC()
				for i := range samples {
					samples[i] = api.Sample{Policy: fmt.Sprintf("p%d", i%10), Metric: "rps", Time: now.Add(-time.Duration(batch-i) * time.Millisecond), Value: float64(i)}
				}
				res, err := leader.client.PushMetrics(context.Background(), samples)
				if err != nil || res.Accepted != batch {
					b.Errorf("push: %+v %v", res.Rejected, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "samples/s")
}
