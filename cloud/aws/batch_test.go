package aws

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/emukit"
)

// batchRefs creates n groups named prefix-NNN (desired i%5) and returns
// their refs in region.
func batchRefs(t *testing.T, emu *awsemu.Emulator, prefix, region string, n int) []cloud.GroupRef {
	t.Helper()
	refs := make([]cloud.GroupRef, n)
	for i := range refs {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		if err := emu.CreateGroup(name, 0, 10, i%5); err != nil {
			t.Fatal(err)
		}
		refs[i] = cloud.GroupRef{Provider: "aws", Group: name, Region: region}
	}
	return refs
}

// describeCalls returns, per region, the number of names of each
// DescribeAutoScalingGroups call.
func describeCalls(emu *awsemu.Emulator) map[string][]int {
	out := map[string][]int{}
	for _, c := range emu.Calls() {
		if c.Action == awsemu.ActionDescribe {
			out[c.Region] = append(out[c.Region], len(c.Groups))
		}
	}
	return out
}

// TestDescribeBatchCalls: 100 names per call per region, each group answered
// in place, an invalid target refused without a call.
func TestDescribeBatchCalls(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	refs := batchRefs(t, h.emu, "west", "eu-west-1", 120)
	refs = append(refs, batchRefs(t, h.emu, "east", "us-east-1", 10)...)
	refs = append(refs, cloud.GroupRef{Provider: "aws", Group: "x", Region: "Not A Region"})
	got, err := h.drv.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got[:130] {
		if d.Err != nil || d.State.Desired != i%120%5 && i < 120 || i >= 120 && d.State.Desired != (i-120)%5 {
			t.Fatalf("group %d: %+v (err %v)", i, d.State, d.Err)
		}
	}
	if !errors.Is(got[130].Err, cloud.ErrInvalid) {
		t.Fatalf("invalid target: %v, want ErrInvalid", got[130].Err)
	}
	calls := describeCalls(h.emu)
	if fmt.Sprint(calls["eu-west-1"]) != "[100 20]" || fmt.Sprint(calls["us-east-1"]) != "[10]" || len(calls) != 2 {
		t.Fatalf("describe calls (names per call, by region) %v, want eu-west-1 [100 20], us-east-1 [10]", calls)
	}
}

// TestDescribeBatchCallCount: the number of calls a batch takes is the
// groups over 100, rounded up (it was over 50), every group answered.
func TestDescribeBatchCallCount(t *testing.T) {
	tests := []struct {
		groups    int
		wantCalls int
		wantLast  int // names in the last call
	}{
		{1, 1, 1},
		{100, 1, 100},
		{101, 2, 1},
		{10000, 100, 100},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.groups), func(t *testing.T) {
			h := newHarness(t, awsemu.Options{})
			refs := batchRefs(t, h.emu, "g", testRegion, tc.groups)
			got, err := h.drv.DescribeBatch(context.Background(), refs)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range got {
				if d.Err != nil || d.State.Desired != i%5 {
					t.Fatalf("group %d: %+v (err %v)", i, d.State, d.Err)
				}
			}
			calls := describeCalls(h.emu)[testRegion]
			if len(calls) != tc.wantCalls || calls[len(calls)-1] != tc.wantLast {
				t.Fatalf("%d describe calls, the last naming %d groups; want %d calls, the last naming %d",
					len(calls), calls[len(calls)-1], tc.wantCalls, tc.wantLast)
			}
			for i, n := range calls[:len(calls)-1] {
				if n != 100 {
					t.Fatalf("call %d named %d groups, want 100", i, n)
				}
			}
		})
	}
}

// TestDescribeBatchThrottleEndsRegion: a throttled call fails its groups
// and the region's groups not yet asked, sends no more calls there, keeps
// the answers already had, and leaves other regions alone.
func TestDescribeBatchThrottleEndsRegion(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	west := batchRefs(t, h.emu, "west", "eu-west-1", 120)
	east := batchRefs(t, h.emu, "east", "us-east-1", 10)
	// The second call of eu-west-1 names west-100..west-119.
	if err := h.emu.InjectFault(awsemu.Fault{Action: awsemu.ActionDescribe, Group: "west-110", Code: awsemu.CodeThrottling}); err != nil {
		t.Fatal(err)
	}
	got, err := h.drv.DescribeBatch(context.Background(), append(west, east...))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		throttled := errors.Is(d.Err, cloud.ErrThrottled)
		if want := i >= 100 && i < 120; throttled != want || !throttled && d.Err != nil {
			t.Fatalf("group %d: err %v, want throttled %v", i, d.Err, want)
		}
	}
	if calls := describeCalls(h.emu); fmt.Sprint(calls["eu-west-1"]) != "[100 20]" || fmt.Sprint(calls["us-east-1"]) != "[10]" {
		t.Fatalf("describe calls %v, want eu-west-1 [100 20], us-east-1 [10]", calls)
	}
}

// TestDescribeBatchCancelled: a context already done fails the whole call.
func TestDescribeBatchCancelled(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	refs := batchRefs(t, h.emu, "g", testRegion, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.drv.DescribeBatch(ctx, refs); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if n := len(h.emu.Calls()); n != 0 {
		t.Fatalf("%d calls sent with a cancelled context", n)
	}
}

// TestConnectionReuse: the driver's HTTP client keeps connections alive,
// so hundreds of calls, sequential and eight at a time, open a handful.
func TestConnectionReuse(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	if err := emu.CreateGroup("web", 0, 100, 1); err != nil {
		t.Fatal(err)
	}
	srv, conns := drivertest.ConnCountingServer(t, emu)
	drv, err := New(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 200 {
		if _, err := drv.Describe(ctx, ref("web")); err != nil {
			t.Fatal(err)
		}
		if err := drv.SetDesired(ctx, ref("web"), 1+i%2); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns(); n > 2 {
		t.Fatalf("400 sequential calls opened %d connections, want 1 (2 at most)", n)
	}
	// Bursts of 16 overlapping calls (each takes 2 ms at the emulator).
	if err := emu.InjectFault(awsemu.Fault{Action: awsemu.ActionDescribe, Delay: 2 * time.Millisecond, Times: -1}); err != nil {
		t.Fatal(err)
	}
	before := conns()
	drivertest.Bursts(t, 10, 16, func() error {
		_, err := drv.Describe(ctx, ref("web"))
		return err
	})
	t.Logf("10 bursts of 16 calls opened %d connections", conns()-before)
	if n := conns() - before; n > 32 {
		t.Fatalf("10 bursts of 16 calls opened %d connections, want at most 32", n)
	}
}

// TestDescribeBatchRateLimited: against an emulator that enforces a read
// rate, as AWS does per account and region, the calls within the budget
// answer their groups and the first throttled call ends the region's
// batch: its groups and the later ones are ErrThrottled, nothing more is
// sent there.
func TestDescribeBatchRateLimited(t *testing.T) {
	clk := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, awsemu.Options{Now: func() time.Time { return clk }, RateLimit: emukit.RateLimit{ReadsPerSecond: 1, Burst: 2}})
	refs := batchRefs(t, h.emu, "g", testRegion, 350) // four calls: 100, 100, 100, 50
	got, err := h.drv.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if throttled := errors.Is(r.Err, cloud.ErrThrottled); throttled != (i >= 200) || i < 200 && r.Err != nil {
			t.Fatalf("group %d: err %v, want throttled %v", i, r.Err, i >= 200)
		}
	}
	if n, calls := h.emu.Throttled(), describeCalls(h.emu)[testRegion]; n != 1 || len(calls) != 3 {
		t.Fatalf("%d throttled of %d calls, want 1 of 3", n, len(calls))
	}
}

// TestDescribeBatchFollowsNextToken: when AWS answers a call in several
// pages, the driver follows NextToken and answers every group.
func TestDescribeBatchFollowsNextToken(t *testing.T) {
	h := newHarness(t, awsemu.Options{PageSize: 7})
	refs := batchRefs(t, h.emu, "g", testRegion, 20)
	got, err := h.drv.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Err != nil || r.State.Desired != i%5 {
			t.Fatalf("group %d: %+v (err %v)", i, r.State, r.Err)
		}
	}
	// One call's three pages: each a request naming the same 20 groups.
	if calls := describeCalls(h.emu)[testRegion]; fmt.Sprint(calls) != "[20 20 20]" {
		t.Fatalf("describe requests (names in each) %v, want [20 20 20]", calls)
	}
}
