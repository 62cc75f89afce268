package azure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/emukit"
)

// mkSets creates n scale sets named prefix-NNN (capacity i%5, max 10) in
// the resource group and returns their refs.
func mkSets(t *testing.T, e *azemu.Emulator, sub, rg, prefix string, n int) []cloud.GroupRef {
	t.Helper()
	refs := make([]cloud.GroupRef, n)
	for i := range refs {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		if err := e.CreateGroup(sub, rg, name, 0, 10, i%5); err != nil {
			t.Fatal(err)
		}
		refs[i] = cloud.GroupRef{Provider: "azure", Subscription: sub, ResourceGroup: rg, ScaleSet: name}
	}
	return refs
}

// callKinds counts the emulator's calls: lists, and instance views and
// plain gets apart.
func callKinds(e *azemu.Emulator) map[string]int {
	out := map[string]int{}
	for _, c := range e.Calls() {
		k := c.Op
		if strings.HasSuffix(c.Path, "/instanceView") {
			k = "instance_view"
		}
		out[k]++
	}
	return out
}

// TestDescribeBatchCalls: one list per resource group (its pages) and,
// for steady scale sets, nothing else: no plain get, no instance view.
func TestDescribeBatchCalls(t *testing.T) {
	e, d := serve(t, azemu.Options{PageSize: 10}, nil)
	refs := mkSets(t, e, testSub, testRG, "a", 25)
	refs = append(refs, mkSets(t, e, testSub, "other-rg", "b", 5)...)
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		j := i
		if i >= 25 {
			j = i - 25
		}
		if r.Err != nil || r.State.Desired != j%5 || r.State.InService != j%5 || r.State.Max != 10 {
			t.Fatalf("scale set %d: %+v (err %v)", i, r.State, r.Err)
		}
	}
	// 25 sets in pages of 10 and 5 in one: 4 list pages.
	if got, want := fmt.Sprint(callKinds(e)), fmt.Sprint(map[string]int{azemu.OpList: 4}); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
}

// TestDescribeBatchThrottleEndsSubscription: a throttled list fails its
// resource group's scale sets and the subscription's resource groups not
// yet listed; another subscription's are described.
func TestDescribeBatchThrottleEndsSubscription(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	const otherSub = "11111111-1111-1111-1111-111111111111"
	a := mkSets(t, e, testSub, testRG, "a", 3)
	o := mkSets(t, e, otherSub, testRG, "o", 3)
	b := mkSets(t, e, testSub, "other-rg", "b", 3)
	if err := e.InjectFault(azemu.Fault{Kind: azemu.Throttle, Op: azemu.OpList}); err != nil {
		t.Fatal(err)
	}
	refs := append(append(append([]cloud.GroupRef{}, a...), o...), b...)
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		want := i < 3 || i >= 6
		if throttled := errors.Is(r.Err, cloud.ErrThrottled); throttled != want || !want && r.Err != nil {
			t.Fatalf("scale set %d: err %v, want throttled %v", i, r.Err, want)
		}
	}
	if n := callKinds(e)[azemu.OpList]; n != 2 {
		t.Fatalf("%d lists, want 2 (the throttled one and the other subscription's)", n)
	}
}

// TestDescribeBatchInstanceViewThrottled: a throttled instance view fails
// its scale set and stops the reads not yet sent; the list's answers and
// the instance views already read stand.
func TestDescribeBatchInstanceViewThrottled(t *testing.T) {
	// A read budget of 21 (refilled once in a thousand seconds): the list
	// and 20 instance views.
	e, d := serve(t, azemu.Options{RateLimit: emukit.RateLimit{ReadsPerSecond: 0.001, Burst: 21}}, nil)
	refs := mkSets(t, e, testSub, testRG, "a", 40)
	for _, r := range refs { // in transition: their instance views are read
		if err := e.SetProvisioningState(testSub, testRG, r.ScaleSet, "Updating"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	var ok, throttled int
	for i, r := range got {
		switch {
		case r.Err == nil:
			ok++
		case errors.Is(r.Err, cloud.ErrThrottled):
			throttled++
		default:
			t.Fatalf("scale set %d: %v", i, r.Err)
		}
	}
	views := callKinds(e)["instance_view"]
	if ok != 20 || throttled != 20 || views > 20+8 {
		t.Fatalf("%d described, %d throttled, %d instance views sent; want 20, 20 and at most 28 (the reads in flight when the throttle came)", ok, throttled, views)
	}
}

// TestConnectionReuse: the SDK pipeline the driver builds keeps
// connections alive across hundreds of calls, sequential and concurrent.
func TestConnectionReuse(t *testing.T) {
	e := azemu.New(azemu.Options{})
	srv, conns := drivertest.ConnCountingServer(t, e)
	d, err := azure.New(context.Background(), e.DriverOptions(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	refs := mkSets(t, e, testSub, testRG, "web", 2)
	ctx := context.Background()
	for range 50 {
		if _, err := d.Describe(ctx, refs[0]); err != nil { // a get and an instance view
			t.Fatal(err)
		}
		if _, err := d.DescribeBatch(ctx, refs); err != nil { // a list (steady sets: no instance view)
			t.Fatal(err)
		}
	}
	if n := conns(); n > 8+1 {
		t.Fatalf("150 calls opened %d connections, want at most 9", n)
	}
	// Bursts of 16 overlapping calls (each read takes 2 ms at the emulator).
	if err := e.InjectFault(azemu.Fault{Kind: azemu.Slow, Op: azemu.OpDescribe, Delay: 2 * time.Millisecond, Times: -1}); err != nil {
		t.Fatal(err)
	}
	before := conns()
	drivertest.Bursts(t, 10, 16, func() error {
		_, err := d.Describe(ctx, refs[0])
		return err
	})
	t.Logf("10 bursts of 16 calls opened %d connections", conns()-before)
	if n := conns() - before; n > 32 {
		t.Fatalf("10 bursts of 16 calls opened %d connections, want at most 32", n)
	}
}

// TestDescribeBatchListForbidden: where read is granted on each scale set
// but not on its resource group, the list's 403 makes the batch describe
// those scale sets one by one (a Get each: they are steady, so no instance
// view); other resource groups are still listed.
func TestDescribeBatchListForbidden(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	refs := mkSets(t, e, testSub, testRG, "a", 3)
	refs = append(refs, mkSets(t, e, testSub, "other-rg", "b", 2)...)
	if err := e.InjectFault(azemu.Fault{Kind: azemu.Error, Op: azemu.OpList, Status: 403, Code: "AuthorizationFailed",
		Message: "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachineScaleSets/read' over scope '/subscriptions/.../resourceGroups/capstan-rg'."}); err != nil {
		t.Fatal(err)
	}
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		j := i
		if i >= 3 {
			j = i - 3
		}
		if r.Err != nil || r.State.Desired != j%5 || r.State.Max != 10 {
			t.Fatalf("scale set %d: %+v (err %v)", i, r.State, r.Err)
		}
	}
	// Two lists (one refused) and three gets.
	if got, want := fmt.Sprint(callKinds(e)), fmt.Sprint(map[string]int{azemu.OpDescribe: 3, azemu.OpList: 2}); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
}

// TestDescribeBatchOneSetInAGroup: a resource group with one scale set in
// the batch is read with a Get (it is steady: no instance view), not a
// list of the whole group.
func TestDescribeBatchOneSetInAGroup(t *testing.T) {
	e, d := serve(t, azemu.Options{PageSize: 2}, nil)
	_ = mkSets(t, e, testSub, testRG, "other", 5) // in the group, not asked for
	refs := mkSets(t, e, testSub, testRG, "a", 1)
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Err != nil || got[0].State.Max != 10 {
		t.Fatalf("scale set: %+v (err %v)", got[0].State, got[0].Err)
	}
	if got, want := fmt.Sprint(callKinds(e)), fmt.Sprint(map[string]int{azemu.OpDescribe: 1}); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
}

// TestDescribeBatchInstanceViewsInTransition: the batch reads the instance
// view of a scale set in transition (any provisioningState but Succeeded),
// and only of those, through the list and through the one-set Get alike;
// every answer is Describe's.
func TestDescribeBatchInstanceViewsInTransition(t *testing.T) {
	for _, tc := range []struct {
		state string
		view  bool // the batch reads its instance view
	}{
		{"Succeeded", false},
		{"succeeded", false},
		{"Updating", true},
		{"Creating", true},
		{"Deleting", true},
		{"Failed", true},
		{"Canceled", true},
		{"", true},
	} {
		for _, n := range []int{1, 4} { // the Get of a lone set; a list
			t.Run(fmt.Sprintf("%q/%d sets", tc.state, n), func(t *testing.T) {
				clk := &manualClock{t: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
				e, d := serve(t, azemu.Options{PageSize: 2, BootDelay: time.Hour, Now: clk.now},
					func(o *azure.Options) { o.OperationWait = 20 * time.Millisecond })
				refs := mkSets(t, e, testSub, testRG, "a", n)
				// The last set scales out: 2 of its instances creating.
				last := refs[n-1]
				if err := d.SetDesired(context.Background(), last, 6); err != nil {
					t.Fatal(err)
				}
				for _, r := range refs {
					if err := e.SetProvisioningState(testSub, testRG, r.ScaleSet, tc.state); err != nil {
						t.Fatal(err)
					}
				}
				before := callKinds(e)
				got, err := d.DescribeBatch(context.Background(), refs)
				if err != nil {
					t.Fatal(err)
				}
				views := callKinds(e)["instance_view"] - before["instance_view"]
				if want := map[bool]int{true: n}[tc.view]; views != want {
					t.Errorf("%d instance views read, want %d", views, want)
				}
				for i, r := range refs {
					want, err := d.Describe(context.Background(), r)
					if err != nil {
						t.Fatal(err)
					}
					if got[i].Err != nil || got[i].State != want {
						if !tc.view && r == last {
							continue // see below
						}
						t.Errorf("set %d: batch %+v (err %v), Describe %+v", i, got[i].State, got[i].Err, want)
					}
				}
				// A set forced to Succeeded while instances create (the
				// emulator never does that itself) shows what the list
				// cannot see: all of sku.capacity in service.
				if !tc.view {
					if s := got[n-1].State; s.Desired != 6 || s.InService != 6 || s.Pending != 0 {
						t.Errorf("steady set from the list: %+v, want 6 in service, none pending", s)
					}
				}
			})
		}
	}
}
