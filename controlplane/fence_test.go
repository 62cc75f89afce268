package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
)

// TestOwnResizeInDoubt: the leader's own resize outlives its deadline. Its
// outcome is unknown, so the leader records an in_doubt decision saying
// until when, starts the cooldown, and does not send it again; once the
// intent settles, the describe proves it applied.
//
// The resize lands well after its deadline (SendBy) and before the
// intent's Settled time, and a fresh sample has the policy evaluated
// before it lands: settle must hold there, until Settled, and the hold
// records no second in_doubt decision. A settle that did not wait
// (settle.go's Settled check bypassed) describes the group before the
// resize lands, finds no activity, calls the intent not applied and
// resizes a second time: the test sees a second intent and resize.
func TestOwnResizeInDoubt(t *testing.T) {
	t.Parallel()
	const (
		cloudTimeout = 200 * time.Millisecond
		// The resize lands 1 s after it is sent, long after the
		// evaluation the sample below triggers at about 250 ms.
		delay = time.Second
		// Settled is 1.7 s after the intent: the resize lands by then with
		// 700 ms to spare on a loaded machine.
		cloudSettle = 1500 * time.Millisecond
	)
	ctx := context.Background()
	c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle})
	li, l := c.leader()
	if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: delay}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutPolicy(ctx, webPolicy(t, 5), ""); err != nil {
		t.Fatal(err)
	}
	c.waitDecision(l, "web", "the in_doubt decision", func(d policy.Record) bool { return d.Action == "in_doubt" })
	// A fresh sample: the policy is evaluated now, while its resize is
	// still on its way (the sample asks for no more than min).
	if res, err := l.PushMetrics(ctx, []api.Sample{{Policy: "web", Metric: "rps", Time: l.now(), Value: 100}}); err != nil || res.Accepted != 1 {
		t.Fatalf("push: %+v, %v", res, err)
	}
	c.waitFor("the intent to settle", func() bool {
		v, _ := l.fsm.view("web")
		return c.groupAt(5)() && len(v.Pending) == 0
	})
	// Room for a wrong second action: the first call may land until its
	// intent's Settled time (the fake cloud logs a call when it lands).
	first := c.intents(li, "web")[0]
	time.Sleep(time.Until(first.Settled) + 300*time.Millisecond)
	if intents := c.intents(li, "web"); len(intents) != 1 {
		t.Fatalf("intents %+v: want the one, not repeated", intents)
	}
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
	// Settled no earlier than the intent says, on the node's own clock.
	for _, d := range decisions {
		if d.Action == "settled" && d.Time.Before(first.Settled) {
			t.Fatalf("settled at %s, before the intent's Settled time %s: %q", d.Time, first.Settled, d.Reason)
		}
	}
	_, st, err := l.fsm.status("web")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScaleOut.IsZero() {
		t.Fatal("the resize in doubt did not start the cooldown")
	}
}
