package azure_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
)

// TestETagFencesALateUpdate: the ETag is Azure's fence. A deposed
// leader's update (sent with If-Match on the ETag it read) is slow: its
// caller gives up, and ARM carries it out later. Meanwhile the new leader
// reads the same ETag and updates. Checked on the emulator's log in EFFECT
// order: whichever update takes effect second was based on a stale read
// and is refused with 412, because If-Match is evaluated when the update
// takes effect, not when it arrives, so a late write never overwrites a
// newer one, and the scale set ends at the size of the write that took
// effect.
func TestETagFencesALateUpdate(t *testing.T) {
	cases := []struct {
		name     string
		delay    time.Duration // of the deposed leader's update
		newDelay time.Duration // of the new leader's
		want     int
		refused  string // whose update is refused: "old" or "new"
	}{
		{name: "the late update lands after the new leader's", delay: 1200 * time.Millisecond, want: 3, refused: "old"},
		{name: "the late update lands first", delay: 500 * time.Millisecond, newDelay: 1200 * time.Millisecond, want: 5, refused: "new"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, d := serve(t, azemu.Options{}, nil)
			g := ref("web")
			if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
				t.Fatal(err)
			}
			if err := e.InjectFault(azemu.Fault{Kind: azemu.Slow, Op: azemu.OpSetDesired, Delay: tc.delay}); err != nil {
				t.Fatal(err)
			}
			if tc.newDelay > 0 {
				if err := e.InjectFault(azemu.Fault{Kind: azemu.Slow, Op: azemu.OpSetDesired, Delay: tc.newDelay}); err != nil {
					t.Fatal(err)
				}
			}
			// 300 ms to read and send (under -race on a loaded machine);
			// the update itself lands later.
			old, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
			defer cancel()
			if err := d.SetDesired(old, g, 5); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the deposed leader's update: %v, want its deadline", err)
			}
			// The new leader reads the scale set before the late update
			// lands (same ETag); in the second case its own update is
			// slow too and takes effect after the late one.
			newErr := d.SetDesired(ctxT(t), g, 3)
			for deadline := time.Now().Add(5 * time.Second); calls(e, azemu.OpSetDesired) < 2; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d updates logged, want 2", calls(e, azemu.OpSetDesired))
				}
			}
			var order []string
			var updates []azemu.Call
			for _, c := range e.Calls() { // effect order
				if c.Op == azemu.OpSetDesired {
					updates = append(updates, c)
					who := "new"
					if c.Arrival == firstUpdate(e) {
						who = "old"
					}
					order = append(order, fmt.Sprintf("%s (arrived #%d, If-Match %s): %d", who, c.Arrival, c.IfMatch, c.Status))
				}
			}
			summary := strings.Join(order, "; ")
			if updates[0].IfMatch == "" || updates[0].IfMatch != updates[1].IfMatch {
				t.Fatalf("both updates must carry the ETag both leaders read: %s", summary)
			}
			last := updates[1]
			lastIsOld := last.Arrival == firstUpdate(e)
			if last.Status != http.StatusPreconditionFailed || lastIsOld != (tc.refused == "old") || updates[0].Status/100 != 2 {
				t.Fatalf("effect order %s: want the %s leader's update to take effect second and be refused with 412", summary, tc.refused)
			}
			if tc.refused == "new" && !errors.Is(newErr, cloud.ErrConflict) {
				t.Fatalf("the new leader's refused update: %v, want ErrConflict", newErr)
			}
			if tc.refused == "old" && newErr != nil {
				t.Fatalf("the new leader's update: %v", newErr)
			}
			if n, _ := e.Desired(testSub, testRG, "web"); n != tc.want {
				t.Fatalf("capacity %d, want %d (%s)", n, tc.want, summary)
			}
		})
	}
}

// firstUpdate is the arrival number of the first update the emulator
// received: the deposed leader's.
func firstUpdate(e *azemu.Emulator) uint64 {
	first := ^uint64(0)
	for _, c := range e.Calls() {
		if c.Op == azemu.OpSetDesired && c.Arrival < first {
			first = c.Arrival
		}
	}
	return first
}
