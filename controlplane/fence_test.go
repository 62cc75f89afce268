package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/fake"
)

// TestOwnResizeInDoubt: the leader's own resize outlives its deadline. Its
// outcome is unknown, so the leader records an in_doubt decision saying
// until when, starts the cooldown, and does not send it again; once the
// intent settles, the describe proves it applied.
func TestOwnResizeInDoubt(t *testing.T) {
	t.Parallel()
	const (
		cloudTimeout = 200 * time.Millisecond
		delay        = 450 * time.Millisecond
		cloudSettle  = time.Second // the resize lands by 650 ms: a wide margin for a loaded machine
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
