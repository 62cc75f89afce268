package azemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
)

const (
	sub = "sub-1"
	rg  = "rg-1"
	api = "?api-version=2026-04-01"
)

const vmssPath = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/web"

// clock is a manual clock for boot delays and operation durations.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, opts azemu.Options) (*azemu.Emulator, *httptest.Server, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = c.now
	}
	e := azemu.New(opts)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	if err := e.CreateGroup(sub, rg, "web", 1, 8, 3); err != nil {
		t.Fatal(err)
	}
	return e, srv, c
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, method, url, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func errCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestRequestsNeedATokenAndAnAPIVersion(t *testing.T) {
	_, srv, _ := setup(t, azemu.Options{})
	if a := do(t, "GET", srv.URL+vmssPath+api, "", "Authorization", ""); a.status != 401 || errCode(a) != "AuthenticationFailed" {
		t.Fatalf("no token: %d %s", a.status, a.raw)
	}
	if a := do(t, "GET", srv.URL+vmssPath, ""); a.status != 400 || errCode(a) != "MissingApiVersionParameter" {
		t.Fatalf("no api-version: %d %s", a.status, a.raw)
	}
	if a := do(t, "DELETE", srv.URL+vmssPath+api, ""); a.status != 405 {
		t.Fatalf("DELETE: %d %s", a.status, a.raw)
	}
	if a := do(t, "GET", srv.URL+"/subscriptions/"+sub+"/resourceGroups"+api, ""); a.status != 404 {
		t.Fatalf("unserved path: %d %s", a.status, a.raw)
	}
	e2 := azemu.New(azemu.Options{Token: "right"})
	srv2 := httptest.NewServer(e2)
	defer srv2.Close()
	if a := do(t, "GET", srv2.URL+vmssPath+api, "", "Authorization", "Bearer wrong"); a.status != 401 || errCode(a) != "InvalidAuthenticationToken" {
		t.Fatalf("wrong token: %d %s", a.status, a.raw)
	}
}

func TestGetMatchesTheSDKModel(t *testing.T) {
	e, srv, _ := setup(t, azemu.Options{})
	a := do(t, "GET", srv.URL+vmssPath+api, "")
	if a.status != 200 || a.header.Get("ETag") != `"1"` {
		t.Fatalf("GET: %d, ETag %q", a.status, a.header.Get("ETag"))
	}
	var ss armcompute.VirtualMachineScaleSet
	if err := json.Unmarshal(a.raw, &ss); err != nil {
		t.Fatal(err)
	}
	if *ss.Name != "web" || *ss.Location != "eastus" || *ss.SKU.Capacity != 3 || *ss.SKU.Name != "Standard_D2s_v3" ||
		*ss.Properties.ProvisioningState != "Succeeded" || *ss.Etag != `"1"` || *ss.Tags[azure.TagMin] != "1" || *ss.Tags[azure.TagMax] != "8" ||
		!strings.HasSuffix(*ss.ID, "/virtualMachineScaleSets/web") {
		t.Fatalf("scale set %s", a.raw)
	}
	// Names are case-insensitive, as in ARM.
	if a := do(t, "GET", srv.URL+strings.ToUpper(vmssPath)+api, ""); a.status != 200 {
		t.Fatalf("upper-case path: %d", a.status)
	}
	iv := do(t, "GET", srv.URL+vmssPath+"/instanceView"+api, "")
	var view armcompute.VirtualMachineScaleSetInstanceView
	if err := json.Unmarshal(iv.raw, &view); err != nil {
		t.Fatal(err)
	}
	if s := view.VirtualMachine.StatusesSummary; len(s) != 1 || *s[0].Code != "ProvisioningState/succeeded" || *s[0].Count != 3 {
		t.Fatalf("instance view %s", iv.raw)
	}
	for path, code := range map[string]string{
		"/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/nope": "ResourceNotFound",
		"/subscriptions/" + sub + "/resourceGroups/other/providers/Microsoft.Compute/virtualMachineScaleSets/web":       "ResourceGroupNotFound",
		"/subscriptions/other/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/web":        "SubscriptionNotFound",
	} {
		if a := do(t, "GET", srv.URL+path+api, ""); a.status != 404 || errCode(a) != code {
			t.Fatalf("GET %s: %d %s, want 404 %s", path, a.status, a.raw, code)
		}
	}
	if n := len(e.Calls()); n != 6 {
		t.Fatalf("%d calls logged, want 6", n)
	}
}

func TestUpdateIsALongRunningOperation(t *testing.T) {
	e, srv, c := setup(t, azemu.Options{OperationDuration: time.Minute, BootDelay: 2 * time.Minute})
	a := do(t, "PATCH", srv.URL+vmssPath+api, `{"sku":{"name":"Standard_D2s_v3","tier":"Standard","capacity":5}}`, "If-Match", `"1"`)
	if a.status != 200 {
		t.Fatalf("PATCH: %d %s", a.status, a.raw)
	}
	async := a.header.Get("Azure-AsyncOperation")
	if !strings.HasPrefix(async, srv.URL+"/subscriptions/"+sub+"/providers/Microsoft.Compute/locations/eastus/operations/") ||
		!strings.Contains(async, "api-version=2026-04-01") || a.header.Get("Location") == "" {
		t.Fatalf("Azure-AsyncOperation %q, Location %q", async, a.header.Get("Location"))
	}
	props := a.body["properties"].(map[string]any)
	if props["provisioningState"] != "Updating" {
		t.Fatalf("PATCH body %s: the poller stops at once unless the state is non-terminal", a.raw)
	}
	if p := do(t, "GET", async, ""); p.status != 200 || p.body["status"] != "InProgress" {
		t.Fatalf("poll: %d %s", p.status, p.raw)
	}
	if p := do(t, "GET", a.header.Get("Location"), ""); p.status != 202 {
		t.Fatalf("location poll: %d %s", p.status, p.raw)
	}
	// The new capacity shows at once, with the update in progress.
	gs, _ := e.State(sub, rg, "web")
	if gs.Desired != 5 || !gs.Busy || gs.InService != 3 || gs.Pending != 2 {
		t.Fatalf("during the update: %+v", gs)
	}
	if p := do(t, "PATCH", srv.URL+vmssPath+api, `{"sku":{"capacity":6}}`); p.status != 409 || errCode(p) != "Conflict" {
		t.Fatalf("second update during the first: %d %s", p.status, p.raw)
	}
	// The operation's duration has passed, but the new instances are
	// still creating: as with Azure, a scale-out runs until they are
	// provisioned.
	c.add(time.Minute)
	if p := do(t, "GET", async, ""); p.body["status"] != "InProgress" {
		t.Fatalf("poll after the duration, instances still creating: %s", p.raw)
	}
	if gs, _ := e.State(sub, rg, "web"); !gs.Busy || gs.InService != 3 || gs.Pending != 2 {
		t.Fatalf("after the duration, before boot: %+v", gs)
	}
	c.add(time.Minute)
	if p := do(t, "GET", async, ""); p.body["status"] != "Succeeded" || p.body["endTime"] == nil {
		t.Fatalf("poll after boot: %s", p.raw)
	}
	if p := do(t, "GET", a.header.Get("Location"), ""); p.status != 200 {
		t.Fatalf("location poll after: %d", p.status)
	}
	if gs, _ := e.State(sub, rg, "web"); gs.Busy || gs.InService != 5 || gs.Pending != 0 {
		t.Fatalf("after boot: %+v", gs)
	}
	if g := do(t, "GET", srv.URL+vmssPath+api, ""); g.header.Get("ETag") != `"2"` {
		t.Fatalf("etag after one update: %q", g.header.Get("ETag"))
	}
}

func TestUpdateRefusals(t *testing.T) {
	_, srv, _ := setup(t, azemu.Options{})
	for _, tc := range []struct {
		body, ifMatch string
		status        int
		code          string
	}{
		{`{"sku":{"capacity":9}}`, "", 400, "InvalidParameter"},
		{`{"sku":{"capacity":0}}`, "", 400, "InvalidParameter"},
		{`{"sku":{"capacity":1001}}`, "", 400, "InvalidParameter"},
		{`{"sku":`, "", 400, "InvalidRequestContent"},
		{`{"sku":{"capacity":4}}`, `"0"`, 412, "PreconditionFailed"},
	} {
		a := do(t, "PATCH", srv.URL+vmssPath+api, tc.body, "If-Match", tc.ifMatch)
		if a.status != tc.status || errCode(a) != tc.code {
			t.Fatalf("PATCH %s (If-Match %q): %d %s, want %d %s", tc.body, tc.ifMatch, a.status, a.raw, tc.status, tc.code)
		}
	}
}

func TestFaults(t *testing.T) {
	e, srv, c := setup(t, azemu.Options{OperationDuration: time.Second})
	must := func(f azemu.Fault) {
		t.Helper()
		if err := e.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	must(azemu.Fault{Kind: azemu.Throttle, Op: azemu.OpDescribe, RetryAfter: 17 * time.Second})
	a := do(t, "GET", srv.URL+vmssPath+api, "")
	details, _ := a.body["error"].(map[string]any)["details"].([]any)
	if a.status != 429 || a.header.Get("Retry-After") != "17" || errCode(a) != "OperationNotAllowed" || len(details) != 1 {
		t.Fatalf("throttled: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
	if a := do(t, "GET", srv.URL+vmssPath+api, ""); a.status != 200 {
		t.Fatalf("a once fault fired twice: %d", a.status)
	}
	must(azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpSetDesired, Status: 503, Times: 2})
	for range 2 {
		if a := do(t, "PATCH", srv.URL+vmssPath+api, `{"sku":{"capacity":4}}`); a.status != 503 || errCode(a) != "ServiceUnavailable" {
			t.Fatalf("server error: %d %s", a.status, a.raw)
		}
	}
	must(azemu.Fault{Kind: azemu.OperationFails, Op: azemu.OpSetDesired, Code: "InternalExecutionError", Message: "boom"})
	a = do(t, "PATCH", srv.URL+vmssPath+api, `{"sku":{"capacity":4}}`)
	if a.status != 200 {
		t.Fatalf("the failing update must be accepted first: %d %s", a.status, a.raw)
	}
	c.add(time.Second)
	p := do(t, "GET", a.header.Get("Azure-AsyncOperation"), "")
	if p.body["status"] != "Failed" || errCode(p) != "InternalExecutionError" {
		t.Fatalf("failed operation: %s", p.raw)
	}
	if gs, _ := e.State(sub, rg, "web"); gs.Desired != 3 || gs.Busy {
		t.Fatalf("after the failed update: %+v, want the old capacity back", gs)
	}
	if g := do(t, "GET", srv.URL+vmssPath+api, ""); g.body["properties"].(map[string]any)["provisioningState"] != "Failed" {
		t.Fatalf("provisioning state after the failure: %s", g.raw)
	}
	must(azemu.Fault{Kind: azemu.Error, Status: 403, Code: "AuthorizationFailed", Message: "no"})
	if a := do(t, "GET", srv.URL+vmssPath+"/instanceView"+api, ""); a.status != 403 || errCode(a) != "AuthorizationFailed" {
		t.Fatalf("error fault: %d %s", a.status, a.raw)
	}
	for _, bad := range []azemu.Fault{
		{Kind: azemu.OperationFails, Op: azemu.OpDescribe},
		{Kind: azemu.Slow},
		{Kind: azemu.Error, Status: 200, Code: "X"},
		{Kind: azemu.ServerError, Status: 404},
		{Kind: azemu.Throttle, Op: "resize"},
		{Kind: 99},
	} {
		if err := e.InjectFault(bad); err == nil {
			t.Fatalf("fault %+v accepted", bad)
		}
	}
}

// TestSlowUpdateLandsAfterTheClientLeaves: the handler ends with its
// client, but ARM carries out an update it has accepted, so the update
// takes effect when the delay is over and is logged then.
func TestSlowUpdateLandsAfterTheClientLeaves(t *testing.T) {
	e, srv, _ := setup(t, azemu.Options{})
	const delay = time.Second
	if err := e.InjectFault(azemu.Fault{Kind: azemu.Slow, Op: azemu.OpSetDesired, Delay: delay}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "PATCH", srv.URL+vmssPath+api, strings.NewReader(`{"sku":{"capacity":4}}`))
	req.Header.Set("Authorization", "Bearer tok")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a slow answer arrived")
	}
	start := time.Now()
	srv.Close() // waits for the handler
	if took := time.Since(start); took > delay/2 {
		t.Fatalf("the handler outlived its client by %s", took)
	}
	if n, _ := e.Desired(sub, rg, "web"); n != 3 {
		t.Fatalf("desired %d before the delay is over, want 3", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n, _ := e.Desired(sub, rg, "web"); n != 4; n, _ = e.Desired(sub, rg, "web") {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned update never took effect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The call log is written just after the update takes effect: wait
	// for it too (under load the test read it in between, empty).
	for {
		calls := e.Calls()
		if len(calls) > 0 {
			if last := calls[len(calls)-1]; last.Op != azemu.OpSetDesired || last.Status/100 != 2 || last.Token != "tok" {
				t.Fatalf("last call %+v, want the accepted set_desired with the token", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned update took effect and was never logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDriverOptionsAndCreateGroup(t *testing.T) {
	e := azemu.New(azemu.Options{})
	o := e.DriverOptions("http://127.0.0.1:8080/")
	rm := o.Cloud.Services["resourceManager"]
	if rm.Endpoint != "http://127.0.0.1:8080" || rm.Audience == "" || !o.InsecureAllowCredentialWithHTTP || o.Credential == nil {
		t.Fatalf("driver options %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][3]int{{-1, 5, 2}, {3, 2, 2}, {0, 5, 6}, {2, 5, 1}} {
		if err := e.CreateGroup(sub, rg, "x", bad[0], bad[1], bad[2]); err == nil {
			t.Fatalf("sizes %v accepted", bad)
		}
	}
	if err := e.CreateGroup(sub, rg, "x", 0, 0, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateGroup(sub, rg, "X", 0, 0, 3); err == nil {
		t.Fatal("a duplicate (names are case-insensitive) was created")
	}
}

// TestScaleOutRunsUntilProvisioned: an update's operation ends after
// OperationDuration, and a scale-out's not before its new instances are
// provisioned (BootDelay), as Azure's does; so a Succeeded scale set never
// has an instance still creating.
func TestScaleOutRunsUntilProvisioned(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dur, boot time.Duration
		to        int64
		ends      time.Duration // when the scale set stops being busy
	}{
		{"scale-out, boot longer than the operation", time.Minute, 2 * time.Minute, 5, 2 * time.Minute},
		{"scale-out, operation longer than the boot", 2 * time.Minute, time.Minute, 5, 2 * time.Minute},
		{"scale-in does not wait for boots", time.Minute, 2 * time.Minute, 2, time.Minute},
		{"no capacity change", time.Minute, 2 * time.Minute, 3, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, srv, c := setup(t, azemu.Options{OperationDuration: tc.dur, BootDelay: tc.boot})
			if a := do(t, "PATCH", srv.URL+vmssPath+api, fmt.Sprintf(`{"sku":{"capacity":%d}}`, tc.to)); a.status != 200 {
				t.Fatalf("PATCH: %d %s", a.status, a.raw)
			}
			c.add(tc.ends - time.Second)
			if gs, _ := e.State(sub, rg, "web"); !gs.Busy {
				t.Fatalf("a second before %s: %+v, want busy", tc.ends, gs)
			}
			c.add(time.Second)
			gs, _ := e.State(sub, rg, "web")
			if gs.Busy || gs.Pending != 0 || gs.InService != int(tc.to) {
				t.Fatalf("at %s: %+v, want not busy, every instance in service", tc.ends, gs)
			}
		})
	}
}
