package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/fake"
)

// TestSlowResizeWithPausedLeader is the operator's bad day of issue 11 on
// real agent processes: the fake cloud's resize is slow (it lands 1.8 s
// after it arrives, whatever its caller does), and the leader is paused
// with SIGSTOP right after sending it. Checked on the cloud's call log in
// EFFECT order: the terms of resizes never go back, the action is not
// repeated by the new leader, whose decisions say in_doubt until the
// intent settles, and the cooldown holds; the intent is settled by the
// fake cloud's activity record, read over HTTP. Bounded: about 10 s.
func TestSlowResizeWithPausedLeader(t *testing.T) {
	c := startCluster(t, 3, "--cloud-timeout", "1s", "--cloud-settle", "1500ms")
	if err := c.fake.CreateGroup(ctx(t), "web", 0, 100, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.fake.InjectFault(ctx(t), fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: 1800 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	leader := c.waitLeader(5 * time.Second)
	f := c.follower(leader)
	putWeb(t, f, "30s")
	push(t, f, 500) // the leader resizes 2 -> 5 at once; the call is slow
	// The leader commits the intent, then sends the call at once: paused
	// before its intent is committed, it would send nothing, and the test
	// would see another day (its successor's own resize). Waited for on
	// the leader, however long the evaluation and the commit take on a
	// loaded machine; the pause after it leaves the send its time.
	eventually(t, 15*time.Second, "the leader's intent", func() error {
		st, err := leader.client.State(ctx(t), "web")
		if err != nil {
			return err
		}
		if st.PendingIntent == nil {
			return fmt.Errorf("no intent pending at desired %d", c.groupDesired(t))
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	c.signal(leader, syscall.SIGSTOP)
	next := c.waitLeader(5*time.Second, leader)
	eventually(t, 8*time.Second, "the slow resize to land and its intent to settle", func() error {
		if d := c.groupDesired(t); d != 5 {
			return fmt.Errorf("desired %d", d)
		}
		st, err := next.client.State(ctx(t), "web")
		if err != nil {
			return err
		}
		if st.PendingIntent != nil {
			return fmt.Errorf("intent %d still pending", st.PendingIntent.ID)
		}
		return nil
	})
	// Demand rises: the cooldown from the old term's resize holds (a
	// resize would come before the decision; only the first SetDesired
	// is slow).
	pushed := time.Now()
	push(t, next, 900)
	decidedOn(t, next, "web", pushed, 900)
	c.signal(leader, syscall.SIGCONT)
	waitFollowing(t, leader, next) // the old leader wakes up deposed

	calls, err := c.fake.Calls(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var sets []fake.Call // effect order
	for _, call := range calls {
		if call.Op == fake.OpSetDesired && call.Group == "web" {
			sets = append(sets, call)
		}
	}
	checkNoDeposedCalls(t, calls) // by effect order the terms never go back
	if len(sets) != 1 {
		t.Fatalf("%d resizes of web, want the one (not repeated, cooldown held): %+v", len(sets), sets)
	}
	recs, err := next.client.Decisions(ctx(t), "web", 100)
	if err != nil {
		t.Fatal(err)
	}
	settled := 0
	for _, r := range recs {
		switch r.Action {
		case "failed":
			t.Fatalf("decision %+v: a resize of unknown outcome was called failed", r)
		case "settled":
			// The agents read the shared fake cloud's activity record
			// (--fake-cloud): the resize is proven by it, not by a
			// describe alone.
			settled++
			if !strings.Contains(r.Reason, "applied: settled by scaling activity fake-") {
				t.Fatalf("settled decision %q: want applied, by the fake cloud's activity record", r.Reason)
			}
		}
	}
	if settled != 1 {
		t.Fatalf("%d settled decisions, want the intent's one: %+v", settled, recs)
	}
}
