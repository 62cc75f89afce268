package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud/fake"
)

// Rolling restart bounds. The policy is evaluated every second (webPolicy)
// and at once whenever fresh samples are committed, which the feeder does
// five times a second; so between two evaluations there is normally well
// under a second. A leader's SIGTERM hands leadership over (Raft's
// LeadershipTransfer: the most caught-up follower campaigns at once,
// without waiting out an election timeout), and the new leader evaluates
// every policy as soon as it has applied the log (Barrier), so the gap a
// restart adds is that handover: tens of milliseconds on loopback.
const (
	rollingInterval = time.Second
	// rollingSlack covers what one evaluation interval does not. When no
	// fresh sample arrives (a push held up by a node that is starting and
	// does not know the leader yet), evaluation falls back to the
	// interval, and the leader loop notices a due policy only on its next
	// tick (250 ms); the rest is scheduling on a loaded two-core CI
	// machine running the race detector, where gaps of up to 0.94 s were
	// measured.
	rollingSlack = 500 * time.Millisecond
	// rollingHandover bounds how long after a leader's SIGTERM another
	// node leads: the agents' heartbeat timeout (500 ms), before which no
	// follower campaigns on its own, so only a transfer can meet it.
	rollingHandover = 500 * time.Millisecond
	// rollingFeedEvery is the feeder's period.
	rollingFeedEvery = 200 * time.Millisecond
	// rollingGroupRefresh is the agents' --group-refresh: the leader
	// describes the group this often, besides at its first evaluation of
	// a term (README, "Evaluation and cloud reads").
	rollingGroupRefresh = "300ms"
)

// TestRollingRestartKeepsEvaluating restarts each node of a three-node
// cluster in turn with SIGTERM, waiting for it to rejoin before the next,
// while a policy with a one-second evaluation interval is fed fresh
// samples. Evaluations read the group from the leader's group-state cache,
// so the fake cloud's call log shows the leader at work instead: a new
// leader describes the group at its first evaluation of the term (its
// cache is empty) and every rollingGroupRefresh after, only while it
// leads. No two consecutive describes may be further apart than the
// interval plus the slack: the handover adds no more than that.
func TestRollingRestartKeepsEvaluating(t *testing.T) {
	c := startCluster(t, 3, "--group-refresh", rollingGroupRefresh)
	leader := c.waitLeader(10 * time.Second)
	putWeb(t, leader, "1s")

	feedCtx, stopFeed := context.WithCancel(context.Background())
	var feeding sync.WaitGroup
	feeding.Add(1)
	go func() { defer feeding.Done(); c.feed(feedCtx, "web", "rps", 250) }()
	defer func() { stopFeed(); feeding.Wait() }()

	// Steady state first: the policy evaluated and the group at its size.
	eventually(t, 15*time.Second, "scaled to 3", func() error {
		if d := c.groupDesired(t); d != 3 {
			return fmt.Errorf("desired %d", d)
		}
		return nil
	})
	start := time.Now()

	restarted := map[*node]bool{}
	leaderRestarts := 0
	for range c.nodes {
		// The current leader when it has not been restarted yet (to hand
		// leadership over as often as the order allows), else any node
		// still to do.
		cur := c.waitLeader(10 * time.Second)
		next := cur
		if restarted[cur] {
			for _, nd := range c.nodes {
				if !restarted[nd] {
					next = nd
					break
				}
			}
		}
		if next == cur {
			leaderRestarts++
		}
		restarted[next] = true
		c.rollingRestart(t, next)
	}
	// A few more seconds of evaluations after the last restart.
	time.Sleep(3 * time.Second)
	end := time.Now()
	stopFeed()
	feeding.Wait()

	if leaderRestarts == 0 {
		t.Fatal("no restart hit the leader; the test proved nothing about leadership transfer")
	}
	calls, err := c.fake.Calls(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	gap, at, n := longestEvaluationGap(calls, "web", start, end)
	t.Logf("rolling restart of %d nodes (%d while leading): %d describes, longest gap %s (before %s)",
		len(c.nodes), leaderRestarts, n, gap.Round(time.Millisecond), at.Format("15:04:05.000"))
	if n < int(end.Sub(start)/rollingInterval) {
		t.Fatalf("only %d describes in %s", n, end.Sub(start).Round(time.Second))
	}
	if gap > rollingInterval+rollingSlack {
		for _, call := range calls {
			if call.Group == "web" && call.Time.After(at.Add(-gap-time.Second)) && call.Time.Before(at.Add(time.Second)) {
				t.Logf("  %s %s", call.Time.Format("15:04:05.000"), call.Op)
			}
		}
		t.Fatalf("evaluation stopped for %s (before %s); at most %s allowed", gap, at.Format("15:04:05.000"), rollingInterval+rollingSlack)
	}
}

// rollingRestart stops nd with SIGTERM, as an orchestrator does, starts it
// again on its data, and waits until it is back in the cluster and has
// caught up.
func (c *cluster) rollingRestart(t *testing.T, nd *node) {
	t.Helper()
	info, _ := nd.client.Cluster(ctx(t))
	stopped := time.Now()
	c.signal(nd, syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- nd.cmd.Wait() }()
	if info.Role == "leader" {
		// Without a transfer no follower would even campaign before its
		// heartbeat timeout; with one, the chosen follower does at once.
		handover := c.waitNewLeader(t, nd, rollingHandover)
		t.Logf("%s handed leadership over in %s", nd.id, handover.Round(time.Millisecond))
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s exited with %v after SIGTERM:\n%s", nd.id, err, tail(nd.log.String(), 30))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of SIGTERM", nd.id)
	}
	// The process has exited and Wait has returned: its log is complete.
	if info.Role == "leader" && !strings.Contains(nd.log.String(), "leadership handed over before stopping") {
		t.Errorf("%s led, but its log does not say it handed leadership over:\n%s", nd.id, tail(nd.log.String(), 20))
	}
	t.Logf("%s (%s) stopped %s after SIGTERM at %s", nd.id, info.Role, time.Since(stopped).Round(time.Millisecond), stopped.Format("15:04:05.000"))
	c.restart(nd)
	eventually(t, 30*time.Second, nd.id+" rejoined", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := nd.client.Ready(ctx); err != nil {
			return err
		}
		info, err := nd.client.Cluster(ctx)
		if err != nil {
			return err
		}
		if info.LeaderID == "" || len(info.Members) != len(c.nodes) {
			return fmt.Errorf("leader %q, %d members", info.LeaderID, len(info.Members))
		}
		// Caught up with what the leader had committed by then, so the
		// next restart does not leave the cluster short of an up-to-date
		// quorum.
		for _, o := range c.nodes {
			if o.id != info.LeaderID || o == nd {
				continue
			}
			li, err := o.client.Cluster(ctx)
			if err != nil {
				return err
			}
			if info, err = nd.client.Cluster(ctx); err != nil || info.AppliedIndex < li.CommitIndex {
				return fmt.Errorf("applied %d of the leader's %d: %v", info.AppliedIndex, li.CommitIndex, err)
			}
		}
		return nil
	})
}

// waitNewLeader polls the nodes other than old until one of them leads,
// and returns how long that took; it fails the test after within.
func (c *cluster) waitNewLeader(t *testing.T, old *node, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		for _, nd := range c.nodes {
			if nd == old {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), within)
			info, err := nd.client.Cluster(ctx)
			cancel()
			if err == nil && info.Role == "leader" {
				return time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no other node led within %s of %s's SIGTERM: leadership was not handed over", within, old.id)
	return 0
}

// feed pushes a fresh sample every rollingFeedEvery until ctx ends, to
// whichever node answers (nodes come and go during a rolling restart).
func (c *cluster) feed(ctx context.Context, policyID, metric string, value float64) {
	t := time.NewTicker(rollingFeedEvery)
	defer t.Stop()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range c.nodes {
			nd := c.nodes[i%len(c.nodes)]
			i++
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := nd.client.PushMetrics(pctx, []api.Sample{{Policy: policyID, Metric: metric, Time: time.Now().UTC(), Value: value}})
			cancel()
			if err == nil {
				break
			}
		}
	}
}

// longestEvaluationGap returns the longest time between consecutive
// describes of group (one by one or in a batch naming it: every read
// but a resize) within [start, end], counting from start and up to end,
// and when it ended.
func longestEvaluationGap(calls []fake.Call, group string, start, end time.Time) (time.Duration, time.Time, int) {
	var times []time.Time
	for _, call := range calls {
		if call.Op != fake.OpSetDesired && call.Group == group && !call.Time.Before(start) && !call.Time.After(end) {
			times = append(times, call.Time)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	prev, longest, at := start, time.Duration(0), start
	for _, tm := range append(times, end) {
		if d := tm.Sub(prev); d > longest {
			longest, at = d, tm
		}
		prev = tm
	}
	return longest, at, len(times)
}
