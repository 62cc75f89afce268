package controlplane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestHeldPolicyWakesWhenItsDoubtClears: a policy held by an intent in
// doubt is evaluated again at the intent's Settled time, not at its next
// evaluation interval (a minute here): the settled decision comes within
// milliseconds of Settled (3 s allowed for a loaded machine), both for the leader's own resize in doubt and for a
// new leader that holds an intent its predecessor left pending.
func TestHeldPolicyWakesWhenItsDoubtClears(t *testing.T) {
	t.Parallel() // waits on fake-cloud delays and deadlines, alongside the other waiting tests (main_test.go)
	const (
		cloudTimeout = 200 * time.Millisecond
		cloudSettle  = 500 * time.Millisecond
		slack        = 3 * time.Second // milliseconds when idle; far below the one-minute interval either way
	)
	slowPolicy := func(t *testing.T) policy.Policy {
		p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 5
max: 10
evaluation_interval: 1m
metrics: [{name: rps, type: request_rate, target: 100}]
`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		// start makes an intent in doubt and returns the node that will
		// settle it and the intent's Settled time.
		start func(t *testing.T, c *cluster) (*Node, time.Time)
	}{
		{"the leader's own resize in doubt", func(t *testing.T, c *cluster) (*Node, time.Time) {
			_, l := c.leader()
			if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: 450 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.PutPolicy(context.Background(), slowPolicy(t), ""); err != nil {
				t.Fatal(err)
			}
			var settled time.Time
			c.waitFor("the intent", func() bool {
				v, _ := l.fsm.view("web")
				if len(v.Pending) > 0 {
					settled = v.Pending[0].Settled
				}
				return len(v.Pending) > 0
			})
			return l, settled
		}},
		{"a new leader holding its predecessor's intent", func(t *testing.T, c *cluster) (*Node, time.Time) {
			ctx := context.Background()
			li, l := c.leader()
			p := slowPolicy(t)
			p.Min = 2 // the group's size: nothing to do but settle
			if _, err := l.PutPolicy(ctx, p, ""); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			in := store.Intent{Policy: "web", Group: "fake:web", From: 2, To: 5, Term: l.raft.CurrentTerm(), Node: l.cfg.NodeID,
				At: now, SendBy: now.Add(cloudTimeout), Settled: now.Add(cloudTimeout + 4*cloudSettle)} // room for the election
			if err := l.apply(ctx, store.PutIntent{Intent: in}); err != nil {
				t.Fatal(err)
			}
			c.isolate(li)
			_, nl := c.leader(others(li)...)
			c.waitDecision(nl, "web", "the new leader to hold", func(d policy.Record) bool { return d.Action == "in_doubt" })
			return nl, in.Settled
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle})
			n, settledAt := tc.start(t, c)
			var got *policy.Record
			c.waitFor("the settled decision", func() bool {
				ds, _ := n.fsm.Decisions("web", 100)
				for i := range ds {
					if ds[i].Action == "settled" {
						got = &ds[i]
						return true
					}
				}
				return false
			})
			late := got.Time.Sub(settledAt)
			t.Logf("settled %s after the intent's Settled time", late)
			if late < 0 || late > slack {
				t.Fatalf("settled at %s, %s after the intent's Settled time %s: want within %s (%s)",
					got.Time.Format(time.RFC3339Nano), late, settledAt.Format(time.RFC3339Nano), slack, fmt.Sprint(got.Reason))
			}
		})
	}
}
