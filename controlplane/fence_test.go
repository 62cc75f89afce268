package controlplane

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/fake"
)

// Fencing on the in-process cluster, Jepsen style: a resize is slow (the
// fake cloud carries it out after its caller gave up, as real providers
// do), and the leader that sent it is cut off while it is in flight. The
// run is repeated, and each is checked on the cloud's call log in EFFECT
// order, the order that decides the group's size:
//   - the terms of the resizes that took effect never go back;
//   - no action is repeated: one intent, one resize;
//   - the new leader counts the old one's action (no second resize under
//     its cooldown);
//   - a policy write acknowledged before the cut is on every node after.
//
// The slow resize outlives its deadline (cloudTimeout) but lands before its
// intent settles (cloudTimeout + cloudSettle), which is the bound the
// fence relies on (docs/fencing.md).
func TestFencingUnderSlowResizeAndPartition(t *testing.T) {
	const (
		runs         = 3
		cloudTimeout = 200 * time.Millisecond
		delay        = 450 * time.Millisecond
		cloudSettle  = 500 * time.Millisecond
	)
	ctx := context.Background()
	for run := range runs {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle})
			li, l := c.leader()
			if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: delay}); err != nil {
				t.Fatal(err)
			}
			// The group is at 2; the policy's minimum is 5: the leader
			// resizes at once, and the resize is slow.
			if _, err := l.PutPolicy(ctx, webPolicy(t, 5), ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the intent", func() bool { v, _ := l.fsm.view("web"); return len(v.Pending) > 0 })
			// The resize is sent right after; vary where the cut falls.
			time.Sleep(20*time.Millisecond + time.Duration(run)*40*time.Millisecond)
			c.isolate(li)
			ni, nl := c.leader(others(li)...)
			// The acknowledged write made before the cut survives it.
			other := webPolicy(t, 1)
			other.ID, other.Target.Group = "api", "api"
			if _, err := nl.PutPolicy(ctx, other, ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the slow resize to land", c.groupAt(5))
			c.waitFor("the new leader to settle the intent", func() bool { v, _ := nl.fsm.view("web"); return len(v.Pending) == 0 })
			time.Sleep(300 * time.Millisecond) // room for a wrong second action
			c.heal(li)
			c.converged(0, 1, 2)

			calls := c.cloud.Calls() // effect order
			if err := fake.CheckResizes(calls); err != nil {
				t.Fatal(err)
			}
			var sets []fake.Call
			for _, call := range calls {
				if call.Op == fake.OpSetDesired && call.Group == "web" && call.Err == "" {
					sets = append(sets, call)
				}
			}
			if len(sets) != 1 {
				t.Fatalf("%d resizes took effect, want the one intent's: %+v", len(sets), sets)
			}
			if intents := c.committedIntents(ni); len(intents) != 1 {
				t.Fatalf("intents %v: the new leader acted again", intents)
			}
			for i, n := range c.nodes {
				if len(n.fsm.Policies()) != 2 {
					t.Fatalf("node %d holds %d policies, want 2: an acknowledged write was lost", i, len(n.fsm.Policies()))
				}
				if v, _ := n.fsm.view("web"); len(v.Pending) != 0 {
					t.Fatalf("node %d: intent still pending after it settled", i)
				}
			}
			// The resize counted: its cooldown started when it was decided.
			_, st, err := nl.fsm.status("web")
			if err != nil {
				t.Fatal(err)
			}
			if st.LastScaleOut.IsZero() {
				t.Fatal("the settled resize does not count for the cooldown")
			}
		})
	}
}

// TestOwnResizeInDoubt: the leader's own resize outlives its deadline. Its
// outcome is unknown, so the leader records an in_doubt decision saying
// until when, starts the cooldown, and does not send it again; once the
// intent settles, the describe proves it applied.
func TestOwnResizeInDoubt(t *testing.T) {
	const (
		cloudTimeout = 200 * time.Millisecond
		delay        = 450 * time.Millisecond
		cloudSettle  = 500 * time.Millisecond
	)
	ctx := context.Background()
	c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle})
	_, l := c.leader()
	if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: delay}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutPolicy(ctx, webPolicy(t, 5), ""); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the intent to settle", func() bool {
		v, _ := l.fsm.view("web")
		return c.groupAt(5)() && len(v.Pending) == 0
	})
	time.Sleep(300 * time.Millisecond) // room for a wrong second action
	var sets []fake.Call
	for _, call := range c.cloud.Calls() {
		if call.Op == fake.OpSetDesired && call.Group == "web" {
			sets = append(sets, call)
		}
	}
	if len(sets) != 1 {
		t.Fatalf("resizes %+v: want the one, not repeated", sets)
	}
	decisions, err := l.fsm.Decisions("web", 100)
	if err != nil {
		t.Fatal(err)
	}
	var inDoubt, settled int
	for _, d := range decisions {
		switch d.Action {
		case "settled":
			// The fake driver keeps an activity record: it decides.
			settled++
			if !strings.Contains(d.Reason, "applied: settled by scaling activity fake-") {
				t.Fatalf("settled decision %q: want applied, by the fake cloud's activity", d.Reason)
			}
		case "in_doubt":
			inDoubt++
			if !strings.Contains(d.Reason, "until") {
				t.Fatalf("in_doubt decision %q does not say until when", d.Reason)
			}
		case "failed":
			t.Fatalf("decision %+v: a resize of unknown outcome is not a failure", d)
		}
	}
	if inDoubt != 1 || settled != 1 {
		t.Fatalf("%d in_doubt and %d settled decisions, want 1 each: %+v", inDoubt, settled, decisions)
	}
	_, st, err := l.fsm.status("web")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScaleOut.IsZero() {
		t.Fatal("the resize in doubt did not start the cooldown")
	}
}
