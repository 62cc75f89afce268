package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

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
// evaluation by the new leader, at the agent's default Raft timing.
// Run with -benchtime 1x.
func BenchmarkFailover(b *testing.B) {
	for it := 0; it < b.N; it++ {
		c := startCluster(b, 3, raftDefault()...)
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

// BenchmarkPushMetrics measures samples per second accepted through
// POST /v1/metrics of a three-node cluster and committed into the
// replicated windows, in batches of 1,000 sent to the leader by 8 and by 32
// concurrent clients. Everything (three agents, the clients) shares this
// machine's cores: with few clients a push waits on its Raft commit, so the
// rate is bound by latency; with more it is bound by CPU.
func BenchmarkPushMetrics(b *testing.B) {
	c := startCluster(b, 3)
	leader := c.waitLeader(5 * time.Second)
	putBenchPolicies(b, leader)
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			const batch = 1000
			runClients(b, clients, func() error {
				now := time.Now().UTC()
				samples := make([]api.Sample, batch)
				for i := range samples {
					samples[i] = api.Sample{Policy: benchPolicyIDs[i%len(benchPolicyIDs)], Metric: "rps", Time: now.Add(-time.Duration(batch-i) * time.Millisecond), Value: float64(i)}
				}
				res, err := leader.client.PushMetrics(context.Background(), samples)
				if err == nil && res.Accepted != batch {
					err = fmt.Errorf("%d of %d accepted: %+v", res.Accepted, batch, res.Rejected)
				}
				return err
			})
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkRemoteWrite is BenchmarkPushMetrics for Prometheus remote-write:
// snappy-compressed WriteRequests of 1,000 samples (ten series labelled
// capstan_policy and capstan_metric, 100 samples each), as a Prometheus
// queue shard sends them, to the leader's /api/v1/write.
func BenchmarkRemoteWrite(b *testing.B) {
	c := startCluster(b, 3)
	leader := c.waitLeader(5 * time.Second)
	putBenchPolicies(b, leader)
	secret := ""
	if c.auth != nil {
		secret = c.auth.secrets["write"]
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, clients := range []int{8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			const perSeries = 100
			runClients(b, clients, func() error {
				now := time.Now().UTC()
				var req prompb.WriteRequest
				for _, id := range benchPolicyIDs {
					ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "rps"},
						{Name: "capstan_metric", Value: "rps"}, {Name: "capstan_policy", Value: id}}}
					for i := range perSeries {
						ts.Samples = append(ts.Samples, prompb.Sample{Value: float64(i), Timestamp: now.Add(-time.Duration(perSeries-i) * time.Millisecond).UnixMilli()})
					}
					req.Timeseries = append(req.Timeseries, ts)
				}
				raw, err := req.Marshal()
				if err != nil {
					return err
				}
				hreq, err := http.NewRequest(http.MethodPost, "http://"+leader.httpAddr+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
				if err != nil {
					return err
				}
				hreq.Header.Set("Content-Type", "application/x-protobuf")
				hreq.Header.Set("Content-Encoding", "snappy")
				hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
				if secret != "" {
					hreq.Header.Set("Authorization", "Bearer "+secret)
				}
				res, err := hc.Do(hreq)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusNoContent {
					return fmt.Errorf("remote-write: %s", res.Status)
				}
				return nil
			})
			b.ReportMetric(float64(b.N*len(benchPolicyIDs)*perSeries)/b.Elapsed().Seconds(), "samples/s")
		})
	}
	// Every sample reached the windows: the last bucket of each policy's
	// rps window is filled on every node.
	for _, nd := range c.nodes {
		for _, id := range benchPolicyIDs {
			h, err := nd.client.History(context.Background(), id, "rps")
			if err != nil || len(h) != 1 || len(h[0].Buckets) == 0 {
				b.Fatalf("%s %s: history %+v %v", nd.id, id, h, err)
			}
		}
	}
}

// benchPolicyIDs are the policies the ingestion benchmarks feed.
var benchPolicyIDs = []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"}

// putBenchPolicies creates the benchmarks' policies: one request_rate
// metric each, evaluated rarely so that evaluation stays out of the numbers.
func putBenchPolicies(b *testing.B, leader *node) {
	b.Helper()
	for _, id := range benchPolicyIDs {
		body := fmt.Sprintf(`{"id":%q,"target":{"provider":"fake","group":%q},"min":0,"max":3,"evaluation_interval":"1h","metrics":[{"name":"rps","type":"request_rate","target":10}]}`, id, id)
		if _, err := leader.client.PutPolicy(context.Background(), []byte(body), "application/json", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// runClients runs send b.N times over the given number of concurrent
// clients, failing the benchmark on the first error.
func runClients(b *testing.B, clients int, send func() error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := send(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}
