package aws

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// TestActivities reads the emulator's scaling activities through the real
// SDK: one per resize that took effect, newest first, sizes from the cause,
// in progress while a scale-out boots, cut at since, paged, and faults
// classified.
func TestActivities(t *testing.T) {
	type want struct {
		from, to int
		status   cloud.ActivityStatus
	}
	cases := []struct {
		name    string
		resizes []int         // from 2, one per second
		after   time.Duration // clock advance after the last resize
		since   time.Duration // since = start + this
		fault   *awsemu.Fault
		want    []want
		wantErr error
	}{
		{name: "none", want: nil},
		{name: "scale out in progress", resizes: []int{5}, after: time.Second,
			want: []want{{2, 5, cloud.ActivityInProgress}}},
		{name: "scale out booted", resizes: []int{5}, after: time.Minute,
			want: []want{{2, 5, cloud.ActivitySuccessful}}},
		{name: "newest first, scale in ends at once", resizes: []int{5, 3}, after: time.Minute,
			want: []want{{5, 3, cloud.ActivitySuccessful}, {2, 5, cloud.ActivitySuccessful}}},
		{name: "a no-op resize records nothing", resizes: []int{2, 4, 4}, after: time.Minute,
			want: []want{{2, 4, cloud.ActivitySuccessful}}},
		{name: "since cuts older ones", resizes: []int{5, 3, 6}, after: time.Minute, since: 2500 * time.Millisecond,
			want: []want{{3, 6, cloud.ActivitySuccessful}}},
		{name: "throttled", resizes: []int{5}, fault: &awsemu.Fault{Action: awsemu.ActionActivities, Code: awsemu.CodeThrottling}, wantErr: cloud.ErrThrottled},
		{name: "unavailable", resizes: []int{5}, fault: &awsemu.Fault{Action: awsemu.ActionActivities, Code: awsemu.CodeServiceUnavailable}, wantErr: cloud.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			start := clk.Now()
			h := newHarness(t, awsemu.Options{Now: clk.Now, BootDelay: 30 * time.Second})
			if err := h.emu.CreateGroup("grp", 0, 10, 2); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, n := range tc.resizes {
				clk.Advance(time.Second)
				if err := h.drv.SetDesired(ctx, ref("grp"), n); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(tc.after)
			if tc.fault != nil {
				if err := h.emu.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			got, err := h.drv.Activities(ctx, ref("grp"), start.Add(tc.since))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d activities %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				a := got[i]
				if a.From != w.from || a.To != w.to || a.Status != w.status || a.ID == "" || a.Start.IsZero() {
					t.Errorf("activity %d = %+v, want %d -> %d %s", i, a, w.from, w.to, w.status)
				}
				if (a.Status == cloud.ActivityInProgress) != a.End.IsZero() {
					t.Errorf("activity %d: status %s with end %v", i, a.Status, a.End)
				}
			}
		})
	}
}

// TestActivitiesPaged: more activities than one page are read across pages
// (the SDK's paginator with NextToken), and no more than the bound.
func TestActivitiesPaged(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	h := newHarness(t, awsemu.Options{Now: clk.Now})
	if err := h.emu.CreateGroup("grp", 0, 10, 0); err != nil {
		t.Fatal(err)
	}
	total := activitiesPageSize*activitiesMaxPages + 30
	for i := range total {
		clk.Advance(time.Second)
		if err := h.drv.SetDesired(context.Background(), ref("grp"), 1+i%2); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.drv.Activities(context.Background(), ref("grp"), start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != activitiesPageSize*activitiesMaxPages {
		t.Fatalf("got %d activities, want the bound %d", len(got), activitiesPageSize*activitiesMaxPages)
	}
	if !got[0].Start.After(got[len(got)-1].Start) {
		t.Errorf("not newest first: %v then %v", got[0].Start, got[len(got)-1].Start)
	}
	pages := 0
	for _, c := range h.emu.Calls() {
		if c.Action == awsemu.ActionActivities {
			pages++
		}
	}
	if pages != activitiesMaxPages {
		t.Errorf("%d DescribeScalingActivities calls, want %d", pages, activitiesMaxPages)
	}
}

// FuzzActivityCause: any Cause parses without panicking into both sizes
// or neither, and a cause worded as AWS words it gives back its sizes.
func FuzzActivityCause(f *testing.F) {
	f.Add("At 2026-03-01T12:00:00Z a user request explicitly set group desired capacity changing the desired capacity from 2 to 5.", uint32(2), uint32(5))
	f.Add("an instance was started in response to a difference between desired and actual capacity", uint32(0), uint32(1))
	f.Add("changing the desired capacity from 99999999999999999999 to 1", uint32(7), uint32(0))
	f.Fuzz(func(t *testing.T, cause string, from, to uint32) {
		a := activity(types.Activity{Cause: &cause})
		if (a.From < 0) != (a.To < 0) || a.From < -1 || a.To < -1 {
			t.Fatalf("cause %q: from %d, to %d", cause, a.From, a.To)
		}
		worded := fmt.Sprintf("At noon a user request changing the desired capacity from %d to %d.", from, to)
		if b := activity(types.Activity{Cause: &worded}); b.From != int(from) || b.To != int(to) {
			t.Fatalf("cause %q: from %d, to %d", worded, b.From, b.To)
		}
	})
}
