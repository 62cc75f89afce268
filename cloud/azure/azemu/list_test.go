package azemu_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/emukit"
)

const listPath = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets"

// TestList: a resource group's scale sets, sorted by name, in pages linked
// by nextLink, decoded by the SDK's own list type; ARM's 404s for an
// unknown subscription or resource group; a bad skip token refused.
func TestList(t *testing.T) {
	e, srv, _ := setup(t, azemu.Options{PageSize: 3})
	for i := range 6 {
		if err := e.CreateGroup(sub, rg, fmt.Sprintf("set-%d", i), 0, 10, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.CreateGroup(sub, "rg-2", "elsewhere", 0, 10, 1); err != nil {
		t.Fatal(err)
	}
	var names []string
	var pages []int
	next := srv.URL + listPath + api
	for next != "" {
		a := do(t, http.MethodGet, next, "")
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
		var page armcompute.VirtualMachineScaleSetListResult
		if err := json.Unmarshal(a.raw, &page); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(page.Value))
		for _, ss := range page.Value {
			names = append(names, *ss.Name)
			if *ss.SKU.Capacity < 0 || ss.Tags[azure.TagMin] == nil {
				t.Fatalf("scale set %s: %+v", *ss.Name, ss)
			}
		}
		next = ""
		if page.NextLink != nil {
			next = *page.NextLink
		}
	}
	want := []string{"set-0", "set-1", "set-2", "set-3", "set-4", "set-5", "web"}
	if !slices.Equal(names, want) || !slices.Equal(pages, []int{3, 3, 1}) {
		t.Fatalf("listed %v in pages %v, want %v in [3 3 1]", names, pages, want)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown resource group", "/subscriptions/" + sub + "/resourceGroups/nope/providers/Microsoft.Compute/virtualMachineScaleSets" + api, 404, "ResourceGroupNotFound"},
		{"unknown subscription", "/subscriptions/nope/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets" + api, 404, "SubscriptionNotFound"},
		{"bad skip token", listPath + api + "&$skiptoken=x", 400, "InvalidSkipToken"},
		{"skip token past the end", listPath + api + "&$skiptoken=99", 400, "InvalidSkipToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, http.MethodGet, srv.URL+tc.path, "")
			if a.status != tc.status || errCode(a) != tc.code {
				t.Fatalf("status %d %s, want %d %s", a.status, a.raw, tc.status, tc.code)
			}
		})
	}
	if calls := e.Calls(); calls[len(calls)-1].Op != azemu.OpList {
		t.Fatalf("the last call is logged as %q, want %q", calls[len(calls)-1].Op, azemu.OpList)
	}
}

// TestRateLimit: each subscription has its own buckets; over the limit a
// request is answered 429 with Retry-After and the Compute provider's
// throttling body, changes nothing, consumes no fault, and is logged and
// counted as throttled.
func TestRateLimit(t *testing.T) {
	e, srv, clk := setup(t, azemu.Options{RateLimit: emukit.RateLimit{ReadsPerSecond: 1, WritesPerSecond: 1, Burst: 1}})
	if err := e.CreateGroup("sub-2", rg, "web", 1, 8, 3); err != nil {
		t.Fatal(err)
	}
	get := srv.URL + vmssPath + api
	if a := do(t, http.MethodGet, get, ""); a.status != http.StatusOK {
		t.Fatalf("first get: %d", a.status)
	}
	if err := e.InjectFault(azemu.Fault{Kind: azemu.Busy, Op: azemu.OpSetDesired}); err != nil {
		t.Fatal(err)
	}
	a := do(t, http.MethodGet, srv.URL+listPath+api, "")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || errCode(a) != "OperationNotAllowed" {
		t.Fatalf("list over the read limit: %d %v %s, want 429 OperationNotAllowed with Retry-After", a.status, a.header, a.raw)
	}
	if a := do(t, http.MethodGet, srv.URL+"/subscriptions/sub-2/resourceGroups/"+rg+"/providers/Microsoft.Compute/virtualMachineScaleSets/web"+api, ""); a.status != http.StatusOK {
		t.Fatalf("another subscription: %d", a.status)
	}
	patch := `{"sku":{"capacity":5}}`
	if a := do(t, http.MethodPatch, get, patch); a.status != http.StatusConflict {
		t.Fatalf("first update: %d, want the injected 409", a.status)
	}
	if a := do(t, http.MethodPatch, get, `{"sku":{"capacity":6}}`); a.status != http.StatusTooManyRequests {
		t.Fatalf("second update: %d, want 429", a.status)
	}
	if n, _ := e.Desired(sub, rg, "web"); n != 3 {
		t.Fatalf("capacity %d after a refused and a throttled update, want 3", n)
	}
	clk.add(time.Second)
	if a := do(t, http.MethodPatch, get, patch); a.status != http.StatusOK {
		t.Fatalf("update after the refill: %d %s", a.status, a.raw)
	}
	if e.Throttled() != 2 {
		t.Fatalf("Throttled() = %d, want 2", e.Throttled())
	}
	var logged int
	for _, c := range e.Calls() {
		if c.Throttled {
			logged++
			if c.Status != http.StatusTooManyRequests {
				t.Fatalf("throttled call logged with status %d", c.Status)
			}
		}
	}
	if logged != 2 {
		t.Fatalf("%d throttled calls logged, want 2", logged)
	}
}
