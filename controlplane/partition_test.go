package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
)

// TestPartitionDuringSlowResize is the Jepsen-style check of issue 11 on
// the in-process cluster (raft's InmemTransport), repeated: the leader's
// resize is slow (the fake cloud applies it after its caller gave up, as
// real providers do), the leader is cut off while it is in flight, and the
// new leader then has reason to scale out again. Each run is checked on
// the fake cloud's log in EFFECT order and on the Raft log:
//   - terms never go back on the group (fake.CheckResizes);
//   - no action is repeated: every resize that took effect is one
//     committed intent's, and no intent is sent twice;
//   - no cooldown is shortened: the new leader's scale-out is decided, and
//     reaches the cloud, no earlier than the cooldown after the old
//     leader's intent, whose outcome it first waited for;
//   - no acknowledged write is lost: a policy written on the new leader
//     during the partition is on every node after it heals, at its version.
//
// The timing: the slow resize lands about 1.5 s after its intent, later
// than a new leader is elected and first evaluates (so without the fence's
// hold it would act first and be undone by the old term's resize), and
// at least 0.5 s before the intent settles (2.3 s: the bound the fence
// relies on, with room for a loaded machine). The cooldown (3 s) outlasts
// Settled, so a new leader that did not count the settled intent would
// scale out again too early. The runs share nothing and run side by
// side: about 5 s in all.
func TestPartitionDuringSlowResize(t *testing.T) {
	t.Parallel() // waits on fake-cloud delays and deadlines, alongside the other waiting tests (main_test.go)
	const (
		runs         = 6
		cloudTimeout = 300 * time.Millisecond
		delay        = 1500 * time.Millisecond
		cloudSettle  = 2 * time.Second
		cooldown     = 3 * time.Second
	)
	for run := range runs {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle})
			if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: delay}); err != nil {
				t.Fatal(err)
			}
			p, err := policy.Parse([]byte(fmt.Sprintf(`id: web
target: {provider: fake, group: web}
min: 5
max: 10
evaluation_interval: 1s
scale_out: {cooldown: %s, max_step: {instances: 10, percent: 500, period: 1m}}
metrics: [{name: rps, type: request_rate, target: 100}]
`, cooldown)))
			if err != nil {
				t.Fatal(err)
			}
			// The group is at 2, the minimum 5: the leader resizes at once,
			// and the resize is slow.
			c.onLeader(nil, func(n *Node) error { _, err := n.PutPolicy(ctx, p, ""); return err })
			var sender string
			c.waitFor("the intent", func() bool {
				for _, n := range c.nodes {
					if v, _ := n.fsm.view("web"); len(v.Pending) > 0 {
						sender = v.Pending[0].Node
						return true
					}
				}
				return false
			})
			li := slices.IndexFunc(c.nodes, func(n *Node) bool { return n.cfg.NodeID == sender })
			// Vary where the cut falls: before the call is sent, while it
			// is in flight, after its deadline.
			time.Sleep(time.Duration(run) * 80 * time.Millisecond)
			c.isolate(li)

			other := webPolicy(t, 1)
			other.ID, other.Target.Group = "api", "api"
			var acked api.PolicyRecord
			c.onLeader(others(li), func(n *Node) error { acked, err = n.PutPolicy(ctx, other, ""); return err })
			// Demand for 8: the new leader wants to scale out again, once
			// it knows the old intent's outcome and its cooldown is over.
			c.onLeader(others(li), func(n *Node) error {
				_, err := n.PushMetrics(ctx, []api.Sample{{Policy: "web", Metric: "rps", Time: time.Now(), Value: 800}})
				return err
			})
			c.waitFor("the new leader's scale-out", c.groupAt(8))
			time.Sleep(200 * time.Millisecond) // room for a late or repeated call
			c.heal(li)
			c.converged(0, 1, 2)

			calls := c.cloud.Calls() // effect order
			if err := fake.CheckResizes(calls); err != nil {
				t.Fatal(err)
			}
			intents := c.intents(others(li)[0], "web")
			var sets []fake.Call
			sent := map[string]int{}
			for _, call := range calls {
				if call.Op != fake.OpSetDesired || call.Group != "web" {
					continue
				}
				key := fmt.Sprintf("%s/%d/%d", call.Caller.Node, call.Caller.Term, call.To)
				sent[key]++
				if sent[key] > 1 {
					t.Fatalf("intent %s sent twice: %+v", key, calls)
				}
				if call.Err == "" {
					sets = append(sets, call)
				}
			}
			if len(sets) != 2 || sets[0].To != 5 || sets[1].To != 8 || len(intents) != 2 {
				t.Fatalf("resizes that took effect %+v, intents %+v: want 2 -> 5 and 5 -> 8, one intent each", sets, intents)
			}
			for i, s := range sets {
				in := intents[i]
				if s.Caller.Node != in.Node || s.Caller.Term != in.Term || s.To != in.To {
					t.Fatalf("resize %+v is not intent %+v's", s, in)
				}
			}
			if gap := intents[1].At.Sub(intents[0].At); gap < cooldown {
				t.Fatalf("the second scale-out was decided %s after the first, under the %s cooldown", gap, cooldown)
			}
			if gap := sets[1].Time.Sub(intents[0].At); gap < cooldown {
				t.Fatalf("the second scale-out reached the cloud %s after the first was decided, under the %s cooldown", gap, cooldown)
			}
			for i, n := range c.nodes {
				rec, err := n.fsm.Policy("api")
				if err != nil || rec.Version != acked.Version {
					t.Fatalf("node %d: the acknowledged write (version %d) is %+v, %v", i, acked.Version, rec, err)
				}
			}
		})
	}
}

// onLeader runs f on a leader among the given nodes (all when none), and
// again on whichever leads next when leadership moves under it (as it may
// on a loaded -race run: the write is then not acknowledged), until f
// succeeds or fails otherwise, which fails the test.
func (c *cluster) onLeader(among []int, f func(n *Node) error) {
	c.t.Helper()
	var err error
	c.waitFor("a leader to take the write", func() bool {
		_, n := c.leader(among...)
		err = f(n)
		return err == nil || !(errors.Is(err, api.ErrNoLeader) || errors.Is(err, api.ErrOutcomeUnknown))
	})
	if err != nil {
		c.t.Fatal(err)
	}
}
