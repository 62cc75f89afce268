package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// TestLeaderKillMidStreamLosesNoWindow streams samples into a cluster,
// SIGKILLs the leader halfway, keeps streaming (every batch retried until
// some node acknowledges it) and then checks every node's replicated
// window bucket by bucket against the samples sent, including the killed
// node's after it restarts. The metric is a queue depth (max per bucket)
// with values rising over time, so a retried batch that was committed
// twice leaves the same window and every bucket's expected value is known.
func TestLeaderKillMidStreamLosesNoWindow(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	ctx := context.Background()
	const pol = `{"id":"stream","target":{"provider":"fake","group":"stream"},"min":1,"max":5,"evaluation_interval":"10s",
"metrics":[{"name":"jobs","type":"queue_depth","target":1000000}],"predictive":{"mode":"forecast-only","history":"1h"}}`
	if _, err := leader.client.PutPolicy(ctx, []byte(pol), "application/json", ""); err != nil {
		t.Fatal(err)
	}

	const batches, perBatch = 40, 250
	step := 40 * time.Millisecond // 10,000 samples over 400 s of recent past
	start := time.Now().UTC().Add(-10 * time.Minute).Truncate(10 * time.Second)
	expect := map[time.Time]float64{} // bucket start -> max value sent
	var killed *node
	for b := 0; b < batches; b++ {
		samples := make([]api.Sample, perBatch)
		for i := range samples {
			k := b*perBatch + i
			at := start.Add(time.Duration(k) * step)
			samples[i] = api.Sample{Policy: "stream", Metric: "jobs", Time: at, Value: float64(k)}
			expect[at.Truncate(10*time.Second)] = float64(k)
		}
		if b == batches/2 {
			killed = c.waitLeader(5 * time.Second)
			c.kill(killed)
			t.Logf("killed leader %s after %d batches", killed.id, b)
		}
		pushUntilAcked(t, c, killed, samples)
	}

	check := func(nd *node) error {
		hist, err := nd.client.History(ctx, "stream", "jobs")
		if err != nil {
			return err
		}
		got := map[time.Time]float64{}
		for _, bk := range hist[0].Buckets {
			got[bk.Time] = bk.Value
		}
		if len(got) != len(expect) {
			return fmt.Errorf("%s holds %d buckets, want %d", nd.id, len(got), len(expect))
		}
		for at, want := range expect {
			if got[at] != want {
				return fmt.Errorf("%s bucket %s = %v, want %v", nd.id, at.Format(time.RFC3339), got[at], want)
			}
		}
		return nil
	}
	for _, nd := range c.nodes {
		if nd != killed {
			eventually(t, 10*time.Second, nd.id+" window complete", func() error { return check(nd) })
		}
	}
	c.restart(killed)
	eventually(t, 20*time.Second, killed.id+" window complete after restart", func() error { return check(killed) })
}

// pushUntilAcked sends a batch to live nodes, a random one each try, until
// one acknowledges every sample: during an election pushes fail with 503,
// and an acknowledged push is committed.
func pushUntilAcked(t *testing.T, c *cluster, dead *node, samples []api.Sample) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		nd := c.nodes[rand.IntN(len(c.nodes))]
		if nd == dead {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := nd.client.PushMetrics(ctx, samples)
		cancel()
		if err == nil && res.Accepted == len(samples) {
			return
		}
		if err == nil {
			t.Fatalf("push to %s: %d of %d accepted: %+v", nd.id, res.Accepted, len(samples), res.Rejected)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node acknowledged a batch within 15s; last error from %s: %v", nd.id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
