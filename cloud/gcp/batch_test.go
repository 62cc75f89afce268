package gcp_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// mkGroups creates n groups named prefix-NNN in project p's zone z (desired
// i%5, an autoscaler 0..10 on every other one) and returns their refs.
func mkGroups(t *testing.T, emu *gcpemu.Emulator, p, z, prefix string, n int) []cloud.GroupRef {
	t.Helper()
	refs := make([]cloud.GroupRef, n)
	for i := range refs {
		refs[i] = cloud.GroupRef{Provider: "gcp", Project: p, Zone: z, Group: fmt.Sprintf("%s-%03d", prefix, i)}
		var as *gcpemu.Autoscaler
		if i%2 == 0 {
			as = &gcpemu.Autoscaler{Min: 0, Max: 10}
		}
		if err := emu.CreateGroup(refs[i], i%5, as); err != nil {
			t.Fatal(err)
		}
	}
	return refs
}

// listCalls counts the emulator's list calls by kind and whether they
// carried a filter.
func listCalls(emu *gcpemu.Emulator) map[string]int {
	out := map[string]int{}
	for _, c := range emu.Calls() {
		if c.Op != gcpemu.OpList && c.Op != gcpemu.OpListAutoscalers {
			continue
		}
		q, _ := url.ParseQuery(c.Query)
		k := string(c.Op)
		if q.Get("filter") != "" {
			k += "+filter"
		}
		out[k]++
	}
	return out
}

// TestDescribeBatchCalls: a few groups in a zone are listed by a name
// filter, many by listing the zone (500 a page); bounds come from one
// autoscaler list per zone; no group is read on its own.
func TestDescribeBatchCalls(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, 0)
	few := mkGroups(t, emu, testProject, "us-central1-a", "few", 5)
	many := mkGroups(t, emu, testProject, "us-central1-b", "many", 60)
	_ = mkGroups(t, emu, testProject, "us-central1-a", "other", 3) // not asked for
	got, err := d.DescribeBatch(context.Background(), append(append([]cloud.GroupRef{}, few...), many...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		j := i
		if i >= 5 {
			j = i - 5
		}
		wantMax := 0
		if j%2 == 0 {
			wantMax = 10
		}
		if r.Err != nil || r.State.Desired != j%5 || r.State.Max != wantMax {
			t.Fatalf("group %d: %+v (err %v), want desired %d, max %d", i, r.State, r.Err, j%5, wantMax)
		}
	}
	calls := listCalls(emu)
	// The 60 groups' 30 autoscalers fit one filter.
	want := map[string]int{"list+filter": 1, "list": 1, "list_autoscalers+filter": 2}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("list calls %v, want %v", calls, want)
	}
	for _, c := range emu.Calls() {
		if c.Op == gcpemu.OpGet || c.Op == gcpemu.OpGetAutoscaler {
			t.Fatalf("a batch describe read a group on its own: %+v", c)
		}
	}
}

// TestDescribeBatchThrottleEndsProject: a throttled list fails its zone's
// groups and the project's zones not yet listed, and no further call goes
// to that project; another project's groups are described.
func TestDescribeBatchThrottleEndsProject(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, 0)
	a := mkGroups(t, emu, testProject, "us-central1-a", "a", 3)
	b := mkGroups(t, emu, testProject, "us-central1-b", "b", 3)
	o := mkGroups(t, emu, "other-project", "us-central1-a", "o", 3)
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpList, Kind: gcpemu.Throttle}); err != nil {
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
			t.Fatalf("group %d (%s): err %v, want throttled %v", i, refs[i], r.Err, want)
		}
	}
	for _, c := range emu.Calls() {
		if c.Op == gcpemu.OpList && c.Status == 200 && c.Path != "/compute/v1/projects/other-project/zones/us-central1-a/instanceGroupManagers" {
			t.Fatalf("a list after the project's throttle: %+v", c)
		}
	}
}

// TestConnectionReuse: the SDK clients the driver builds keep connections
// alive across hundreds of calls, sequential and concurrent.
func TestConnectionReuse(t *testing.T) {
	emu := gcpemu.New(gcpemu.Options{})
	srv, conns := drivertest.ConnCountingServer(t, emu)
	d, err := gcp.New(context.Background(), gcp.Options{
		Endpoint:      srv.URL,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	refs := mkGroups(t, emu, testProject, "us-central1-a", "web", 2)
	ctx := context.Background()
	for range 100 {
		if _, err := d.Describe(ctx, refs[0]); err != nil { // a get of the group and of its autoscaler
			t.Fatal(err)
		}
		if _, err := d.DescribeBatch(ctx, refs); err != nil {
			t.Fatal(err)
		}
	}
	// Three clients, each with its own pool: the SDK's groups and
	// autoscalers clients (Describe) and the driver's list client
	// (DescribeBatch): one connection each.
	if n := conns(); n > 3 {
		t.Fatalf("400 sequential calls opened %d connections, want one per client (3)", n)
	}
	// Bursts of 16 overlapping calls (each get takes 2 ms at the emulator).
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.Slow, Delay: 2 * time.Millisecond, Times: -1}); err != nil {
		t.Fatal(err)
	}
	before := conns()
	drivertest.Bursts(t, 20, 16, func() error {
		_, err := d.Describe(ctx, refs[0])
		return err
	})
	// Describe reads through two SDK clients (groups, autoscalers), each
	// with its own pool: at most 16 connections each, unless bursts dial
	// again what the last one closed.
	t.Logf("20 bursts of 16 calls opened %d connections", conns()-before)
	if n := conns() - before; n > 32 {
		t.Fatalf("20 bursts of 16 calls opened %d connections, want at most 32", n)
	}
}

// TestDescribeBatchListForbidden: with get granted but not list, the
// refused list makes the batch describe that zone's groups one by one.
func TestDescribeBatchListForbidden(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, 0)
	refs := mkGroups(t, emu, testProject, "us-central1-a", "g", 4)
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpList, Kind: gcpemu.Forbidden}); err != nil {
		t.Fatal(err)
	}
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		wantMax := 0
		if i%2 == 0 {
			wantMax = 10
		}
		if r.Err != nil || r.State.Desired != i%5 || r.State.Max != wantMax {
			t.Fatalf("group %d: %+v (err %v)", i, r.State, r.Err)
		}
	}
	var gets int
	for _, c := range emu.Calls() {
		if c.Op == gcpemu.OpGet {
			gets++
		}
	}
	if gets != 4 {
		t.Fatalf("%d gets, want one per group (4) after the refused list", gets)
	}
}

// TestDescribeBatchRateLimited: the emulator's rate limit answers 403
// rateLimitExceeded, which is a throttle, not a missing permission: the
// batch reports ErrThrottled and does not fall back to one get per group.
func TestDescribeBatchRateLimited(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{RateLimit: emukit.RateLimit{ReadsPerSecond: 0.001, Burst: 1}}, 0)
	refs := mkGroups(t, emu, testProject, "us-central1-a", "g", 4)
	refs = append(refs, mkGroups(t, emu, testProject, "us-central1-b", "h", 2)...)
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if !errors.Is(r.Err, cloud.ErrThrottled) {
			t.Fatalf("group %d: %+v (err %v), want ErrThrottled", i, r.State, r.Err)
		}
	}
	// The group list of us-central1-a used the one token; its autoscaler
	// list was throttled, which ended the project's batch.
	if calls := len(emu.Calls()); calls != 2 || emu.Throttled() != 1 {
		t.Fatalf("%d calls, %d throttled; want 2 calls, 1 throttled", calls, emu.Throttled())
	}
}

// TestDescribeBatchForbiddenThenThrottled: describing one by one after a
// refused list stops at the first throttle: the groups not yet read carry
// it, and no more gets are sent.
func TestDescribeBatchForbiddenThenThrottled(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, 0)
	refs := mkGroups(t, emu, testProject, "us-central1-a", "g", 4)
	for _, f := range []gcpemu.Fault{{Op: gcpemu.OpList, Kind: gcpemu.Forbidden}, {Op: gcpemu.OpGet, Kind: gcpemu.Throttle}} {
		if err := emu.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.DescribeBatch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if !errors.Is(r.Err, cloud.ErrThrottled) {
			t.Fatalf("group %d: %+v (err %v), want ErrThrottled", i, r.State, r.Err)
		}
	}
	var gets int
	for _, c := range emu.Calls() {
		if c.Op == gcpemu.OpGet {
			gets++
		}
	}
	if gets != 1 {
		t.Fatalf("%d gets, want 1 (none after the throttle)", gets)
	}
}
