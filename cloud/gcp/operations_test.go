package gcp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// TestActivities: the group's resize operations through the SDK, newest
// first, cut at since, with the request id the resize carried, their
// status (in progress, done, failed), zonal and regional; another group's
// operations are not listed; faults are classified.
func TestActivities(t *testing.T) {
	for _, s := range []scope{zonal, regional} {
		t.Run(fmt.Sprint(s.zone, s.region), func(t *testing.T) {
			clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
			d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: 10 * time.Second, Now: clk.Now}, time.Millisecond)
			g, other := s.ref("web"), s.ref("api")
			for _, ref := range []cloud.GroupRef{g, other} {
				if err := emu.CreateGroup(ref, 2, nil); err != nil {
					t.Fatal(err)
				}
			}
			ctx := testCtx(t)
			// A resize stops waiting for its operation once the resize
			// call has been answered (the emulator's clock, not time,
			// ends the operation): it landed.
			resize := func(ref cloud.GroupRef, n int, req string) {
				t.Helper()
				c := ctx
				if req != "" {
					c = cloud.WithRequest(ctx, req)
				}
				c, cancel := context.WithCancel(c)
				defer cancel()
				before := countOps(emu.Calls(), gcpemu.OpResize)
				done := make(chan struct{})
				go func() { defer close(done); _ = d.SetDesired(c, ref, n) }()
				deadline := time.Now().Add(5 * time.Second)
				for countOps(emu.Calls(), gcpemu.OpResize) == before {
					if time.Now().After(deadline) {
						t.Fatal("the resize was never sent")
					}
					time.Sleep(time.Millisecond)
				}
				cancel()
				<-done
			}
			old, reqA, reqB := cloud.RequestID("web", 1), cloud.RequestID("web", 2), cloud.RequestID("web", 3)
			resize(g, 3, old)
			clk.Advance(time.Minute)
			since := clk.Now()
			resize(g, 5, reqA)
			resize(other, 7, "")
			clk.Advance(11 * time.Second) // reqA's operation is DONE
			if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.OperationFails}); err != nil {
				t.Fatal(err)
			}
			resize(g, 6, reqB)
			clk.Advance(11 * time.Second)
			resize(g, 8, "")

			acts, err := d.Activities(ctx, g, since)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range acts {
				got = append(got, fmt.Sprintf("%s %s %d/%d", a.Request, a.Status, a.From, a.To))
				if !strings.Contains(strings.ToLower(a.Description), "instancegroupmanagers.resize") || a.ID == "" || a.Start.Before(since) {
					t.Errorf("activity %+v", a)
				}
			}
			want := []string{" InProgress -1/-1", reqB + " Failed -1/-1", reqA + " Successful -1/-1"}
			if strings.Join(got, "; ") != strings.Join(want, "; ") {
				t.Fatalf("activities\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if !acts[1].End.After(acts[1].Start) || !acts[0].End.IsZero() {
				t.Fatalf("end times %v, %v", acts[1].End, acts[0].End)
			}
		})
	}
	t.Run("no operations", func(t *testing.T) {
		d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
		g := zonal.ref("web")
		if err := emu.CreateGroup(g, 2, nil); err != nil {
			t.Fatal(err)
		}
		if acts, err := d.Activities(testCtx(t), g, time.Time{}); err != nil || len(acts) != 0 {
			t.Fatalf("activities %+v, %v: want none", acts, err)
		}
	})
	t.Run("faults", func(t *testing.T) {
		for _, tc := range []struct {
			fault gcpemu.Fault
			want  error
		}{
			{gcpemu.Fault{Op: gcpemu.OpListOperations, Kind: gcpemu.Throttle}, cloud.ErrThrottled},
			{gcpemu.Fault{Op: gcpemu.OpListOperations, Kind: gcpemu.ServerError}, cloud.ErrUnavailable},
			{gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.NotFound}, cloud.ErrNotFound},
		} {
			d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
			g := zonal.ref("web")
			if err := emu.CreateGroup(g, 2, nil); err != nil {
				t.Fatal(err)
			}
			if err := emu.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Activities(testCtx(t), g, time.Time{}); !errors.Is(err, tc.want) {
				t.Errorf("fault %+v: err %v, want %v", tc.fault, err, tc.want)
			}
		}
	})
}

// TestRetriedResizeLandsOnce: cloud.Retrying sends a second attempt of a
// resize whose first timed out; both carry the intent's request id, so
// Compute Engine carries it out once, even when the first attempt lands
// after a newer resize.
func TestRetriedResizeLandsOnce(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
	g := zonal.ref("web")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	// The first attempt has 500 ms to be sent (a read and the resize,
	// under -race on a loaded machine) and lands a second after that.
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Slow, Delay: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx := cloud.WithRequest(testCtx(t), cloud.RequestID("web", 9))
	first, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_ = d.SetDesired(first, g, 5) // gives up; lands later
	cancel()
	if err := d.SetDesired(ctx, g, 5); err != nil { // the retry
		t.Fatal(err)
	}
	if err := d.SetDesired(testCtx(t), g, 3); err != nil { // a newer resize
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for countOps(emu.Calls(), gcpemu.OpResize) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the slow attempt never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, _ := emu.Desired(g); n != 3 {
		t.Fatalf("group at %d: the late attempt undid the newer resize, want 3", n)
	}
}
