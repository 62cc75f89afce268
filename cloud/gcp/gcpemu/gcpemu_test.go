package gcpemu_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	zref = cloud.GroupRef{Provider: "gcp", Project: "proj-1", Zone: "us-central1-a", Group: "web"}
	rref = cloud.GroupRef{Provider: "gcp", Project: "proj-1", Region: "us-central1", Group: "web"}
)

func setup(t *testing.T, opts gcpemu.Options) (*gcpemu.Emulator, *httptest.Server) {
	t.Helper()
	e := gcpemu.New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

func do(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// strict decodes body into m rejecting unknown fields: every name the
// emulator writes must exist in the SDK's own message.
func strict(t *testing.T, body []byte, m proto.Message) {
	t.Helper()
	if err := (protojson.UnmarshalOptions{}).Unmarshal(body, m); err != nil {
		t.Fatalf("%s does not decode strictly as %T: %v", body, m, err)
	}
}

func TestWireShapes(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	e, srv := setup(t, gcpemu.Options{BootDelay: time.Minute, OperationDelay: 2 * time.Second, Now: clk.Now})
	for _, tc := range []struct {
		ref   cloud.GroupRef
		scope string
	}{{zref, "zones/us-central1-a"}, {rref, "regions/us-central1"}} {
		if err := e.CreateGroup(tc.ref, 3, &gcpemu.Autoscaler{Min: 1, Max: 9}); err != nil {
			t.Fatal(err)
		}
		base := srv.URL + "/compute/v1/projects/proj-1/" + tc.scope + "/"

		code, body := do(t, "GET", base+"instanceGroupManagers/web")
		var igm computepb.InstanceGroupManager
		strict(t, body, &igm)
		if code != 200 || igm.GetTargetSize() != 3 || igm.GetCurrentActions().GetNone() != 3 || !igm.GetStatus().GetIsStable() ||
			igm.GetStatus().GetAutoscaler() != base+"autoscalers/web" || igm.GetSelfLink() != base+"instanceGroupManagers/web" {
			t.Fatalf("get: %d %s", code, body)
		}
		if (tc.ref.Zone != "") != (igm.GetZone() != "") || (tc.ref.Region != "") != (igm.GetRegion() != "") {
			t.Fatalf("get: zone %q, region %q", igm.GetZone(), igm.GetRegion())
		}

		code, body = do(t, "GET", base+"autoscalers/web")
		var as computepb.Autoscaler
		strict(t, body, &as)
		p := as.GetAutoscalingPolicy()
		if code != 200 || p.GetMinNumReplicas() != 1 || p.GetMaxNumReplicas() != 9 || p.GetMode() != "OFF" || as.GetTarget() != base+"instanceGroupManagers/web" {
			t.Fatalf("autoscaler: %d %s", code, body)
		}

		code, body = do(t, "POST", base+"instanceGroupManagers/web/resize?size=5")
		var op computepb.Operation
		strict(t, body, &op)
		if code != 200 || op.GetKind() != "compute#operation" || op.GetStatus() != computepb.Operation_RUNNING ||
			op.GetTargetLink() != base+"instanceGroupManagers/web" || op.GetSelfLink() != base+"operations/"+op.GetName() {
			t.Fatalf("resize: %d %s", code, body)
		}
		code, body = do(t, "GET", base+"instanceGroupManagers/web")
		strict(t, body, &igm)
		if igm.GetTargetSize() != 5 || igm.GetCurrentActions().GetCreating() != 2 || igm.GetStatus().GetIsStable() {
			t.Fatalf("get after resize: %d %s", code, body)
		}
		clk.Advance(2 * time.Second)
		code, body = do(t, "GET", base+"operations/"+op.GetName())
		strict(t, body, &op)
		if code != 200 || op.GetStatus() != computepb.Operation_DONE || op.GetProgress() != 100 || op.Error != nil || op.HttpErrorStatusCode != nil {
			t.Fatalf("operation: %d %s", code, body)
		}
		clk.Advance(time.Minute)
		_, body = do(t, "GET", base+"instanceGroupManagers/web")
		strict(t, body, &igm)
		if igm.GetCurrentActions().GetNone() != 5 || igm.GetCurrentActions().GetCreating() != 0 || !igm.GetStatus().GetIsStable() {
			t.Fatalf("get after the boot delay: %s", body)
		}
	}
}

func TestFailedOperationShape(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{})
	if err := e.CreateGroup(zref, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.OperationFails}); err != nil {
		t.Fatal(err)
	}
	// With no OperationDelay the resize answers with the finished operation.
	_, body := do(t, "POST", srv.URL+"/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web/resize?size=4")
	var op computepb.Operation
	strict(t, body, &op)
	if op.GetStatus() != computepb.Operation_DONE || op.GetHttpErrorStatusCode() != 500 || len(op.GetError().GetErrors()) != 1 || op.GetError().GetErrors()[0].GetCode() != "INTERNAL_ERROR" {
		t.Fatalf("failed operation: %s", body)
	}
	if n, _ := e.Desired(zref); n != 3 {
		t.Fatalf("a failed resize changed the size to %d", n)
	}
}

func TestErrorFormat(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{MaxZonalSize: 10})
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/"
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.Throttle}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, url string
		code        int
		reason      string
	}{
		{"GET", base + "instanceGroupManagers/web", 429, "rateLimitExceeded"},
		{"GET", base + "instanceGroupManagers/nope", 404, "notFound"},
		{"GET", base + "autoscalers/web", 404, "notFound"},
		{"GET", base + "operations/operation-1", 404, "notFound"},
		{"POST", base + "instanceGroupManagers/web/resize?size=-1", 400, "invalid"},
		{"POST", base + "instanceGroupManagers/web/resize?size=11", 400, "invalid"},
		{"POST", base + "instanceGroupManagers/web/resize", 400, "required"},
		{"GET", srv.URL + "/compute/v1/projects/proj-1/global/instanceGroupManagers/web/x", 404, "notFound"},
	} {
		code, body := do(t, tc.method, tc.url)
		res := &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader(string(body)))}
		err := googleapi.CheckResponse(res)
		gerr, ok := err.(*googleapi.Error)
		if !ok || gerr.Code != tc.code || len(gerr.Errors) != 1 || gerr.Errors[0].Reason != tc.reason || gerr.Message == "" {
			t.Errorf("%s %s: %d %s, want %d %s in Google's format", tc.method, tc.url, code, body, tc.code, tc.reason)
		}
	}
	if n, _ := e.Desired(zref); n != 1 {
		t.Fatalf("refused resizes changed the size to %d", n)
	}
}

func TestFaults(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{})
	other := zref
	other.Group = "other"
	for _, g := range []cloud.GroupRef{zref, other} {
		if err := e.CreateGroup(g, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	url := func(name string) string {
		return srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/" + name
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Group: "web", Kind: gcpemu.ServerError, Times: 2}); err != nil {
		t.Fatal(err)
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.NotReady, Times: -1}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, name := range []string{"other", "web", "web", "web", "other"} {
		code, _ := do(t, "GET", url(name))
		got = append(got, code)
	}
	want := []int{400, 503, 503, 400, 400}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	e.ClearFaults()
	if code, _ := do(t, "GET", url("web")); code != 200 {
		t.Fatalf("after ClearFaults: %d", code)
	}
	calls := e.Calls()
	if len(calls) != 6 || calls[1].Fault != gcpemu.ServerError || calls[1].Status != 503 || calls[5].Fault != 0 {
		t.Fatalf("calls %+v", calls)
	}

	for _, bad := range []gcpemu.Fault{
		{Op: "delete", Kind: gcpemu.Throttle},
		{Op: gcpemu.OpGet, Kind: 99},
		{Op: gcpemu.OpGet, Kind: gcpemu.OperationFails},
	} {
		if err := e.InjectFault(bad); err == nil {
			t.Errorf("fault %+v accepted", bad)
		}
	}
}

func TestSlowHonoursTheClient(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{})
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.Slow, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web", nil)
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a slow answer arrived")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s", took)
	}
	// srv.Close in Cleanup returns only once the handler has: a handler
	// stuck for the hour would hang the test.
}

// TestSlowResizeLandsAfterTheClientLeaves: Compute Engine carries out a
// resize it has received even if the client stops waiting; the log shows
// it after a later resize that took effect first.
func TestSlowResizeLandsAfterTheClientLeaves(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{MaxCalls: 3})
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Slow, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web/resize?size="
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"7", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a slow answer arrived")
	}
	if d, _ := e.Desired(zref); d != 1 {
		t.Fatalf("size %d before the slow resize lands, want 1", d)
	}
	if code, body := do(t, "POST", base+"4"); code != 200 {
		t.Fatalf("resize: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	// The call is logged just after it takes effect: wait for both.
	for d, _ := e.Desired(zref); d != 7 || len(e.Calls()) < 2; d, _ = e.Desired(zref) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned resize never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	calls := e.Calls()
	if len(calls) != 2 || calls[0].Query != "size=4" || calls[1].Query != "size=7" || calls[1].Arrival != 1 || calls[0].Arrival != 2 {
		t.Fatalf("log %+v: want size=4 (second to arrive) then size=7 (first)", calls)
	}
	for range 5 {
		do(t, "GET", srv.URL+"/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web")
	}
	if n := len(e.Calls()); n != 3 {
		t.Fatalf("log holds %d calls, want the bound of 3", n)
	}
}

func TestScaleInRemovesBootingFirst(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	e, srv := setup(t, gcpemu.Options{BootDelay: time.Minute, Now: clk.Now})
	if err := e.CreateGroup(rref, 2, nil); err != nil {
		t.Fatal(err)
	}
	resize := func(n string) {
		if code, body := do(t, "POST", srv.URL+"/compute/v1/projects/proj-1/regions/us-central1/instanceGroupManagers/web/resize?size="+n); code != 200 {
			t.Fatalf("resize: %d %s", code, body)
		}
	}
	resize("6")
	resize("3")
	st, err := e.Group(rref)
	if err != nil {
		t.Fatal(err)
	}
	if st.TargetSize != 3 || st.Running != 2 || st.Creating != 1 || st.Stable {
		t.Fatalf("after 2 → 6 → 3: %+v, want the two running kept and one booting", st)
	}
	clk.Advance(time.Minute)
	if st, _ = e.Group(rref); st.Running != 3 || !st.Stable {
		t.Fatalf("after the boot delay: %+v", st)
	}
}

func TestWaitEndpoint(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{OperationDelay: 30 * time.Millisecond})
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/"
	_, body := do(t, "POST", base+"instanceGroupManagers/web/resize?size=2")
	var op computepb.Operation
	strict(t, body, &op)
	_, body = do(t, "POST", base+"operations/"+op.GetName()+"/wait")
	strict(t, body, &op)
	if op.GetStatus() != computepb.Operation_DONE {
		t.Fatalf("wait returned %s", body)
	}
}

func TestCreateGroupChecks(t *testing.T) {
	e := gcpemu.New(gcpemu.Options{})
	for _, g := range []cloud.GroupRef{
		{Project: "p", Group: "g"},
		{Project: "p", Zone: "z", Region: "r", Group: "g"},
		{Zone: "z", Group: "g"},
	} {
		if err := e.CreateGroup(g, 1, nil); err == nil {
			t.Errorf("%+v accepted", g)
		}
	}
	if err := e.CreateGroup(zref, -1, nil); err == nil {
		t.Error("negative size accepted")
	}
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateGroup(zref, 1, nil); err == nil {
		t.Error("duplicate accepted")
	}
	// The same name in a region is another group.
	if err := e.CreateGroup(rref, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Desired(cloud.GroupRef{Project: "p", Zone: "z", Group: "nope"}); err == nil {
		t.Error("Desired of a missing group")
	}
}

func TestOperationFaultFollowsTheGroup(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{OperationDelay: time.Hour})
	other := zref
	other.Group = "other"
	for _, g := range []cloud.GroupRef{zref, other} {
		if err := e.CreateGroup(g, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGetOperation, Group: "web", Kind: gcpemu.Throttle, Times: -1}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/"
	for name, want := range map[string]int{"other": 200, "web": 429} {
		_, body := do(t, "POST", base+"instanceGroupManagers/"+name+"/resize?size=2")
		var op computepb.Operation
		strict(t, body, &op)
		if code, body := do(t, "GET", base+"operations/"+op.GetName()); code != want {
			t.Errorf("operation of %s: %d %s, want %d", name, code, body, want)
		}
	}
}
