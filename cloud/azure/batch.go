package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/capstan-io/capstan/cloud"
)

// instanceViewWorkers bounds the instance-view reads a batch describe has
// in flight at once: enough to hide ARM's latency, few enough not to
// burst through the subscription's read limit.
const instanceViewWorkers = 8

var _ cloud.BatchDescriber = (*Driver)(nil)

// DescribeBatch describes the scale sets with one VirtualMachineScaleSets
// list per resource group (all its pages, following nextLink) instead of
// a get per scale set; a resource group with only one scale set in the
// batch gets a Get instead (one call, never more than the list's). ARM's
// list carries sku.capacity, the tags and provisioningState, that is
// Desired, Min, Max and Busy. It does not carry the instances' states,
// and ARM has no batch read of instance views (the list has no $expand),
// so the batch reads an instance view only where the list cannot stand
// in for it (see steady): for a scale set whose provisioningState is
// Succeeded, every instance of sku.capacity is in service and none is
// pending, because Azure ends an update's operation only once the
// instances it adds are provisioned, and a failed one leaves the scale
// set Failed. Every other scale set (Updating, Creating, Deleting, Failed,
// or a state the driver does not know) is in transition, and its instance
// view is read, at most eight at a time, as Describe reads it. A
// refresh of 10,000 steady scale sets in 10 resource groups thus costs
// the lists' pages (100 at ARM's 100 a page), not 10,100 calls. The
// driver decodes the pages itself (listScaleSets, decodeListPage): the
// SDK's decoder cost over 50 µs a scale set.
//
// What the list cannot see: an instance that failed on its own (a host
// failure, a failed reimage) in a scale set whose last operation
// succeeded counts as in service until a Describe reads the instance
// view, which the control plane's evaluations do for a group they resize
// and settle (Describe always reads it). Power state was never counted:
// the instance view's summary holds provisioning states only.
//
// Each state is otherwise derived as Describe derives it: a scale set the
// list leaves out is cloud.ErrNotFound, a malformed bound tag is that
// scale set's cloud.ErrInvalid, and a target that fails validation gets
// its cloud.ErrInvalid without a call.
//
// A list refused for want of access to the resource group (403: read is
// granted on each scale set, not on the group) falls back to one Get per
// scale set there (and an instance view for those in transition).
// Otherwise a failed call fails the scale sets it was for: a list, its
// resource group's; an instance view, its scale set.
// When the failure is transient (throttled, unavailable, the context
// ended) it also ends the batch for the subscription, whose read budget
// ARM meters: the scale sets whose calls were not yet sent carry the same
// error, those already described keep their answers, and other
// subscriptions carry on. The whole call fails only when ctx has ended
// before the first call.
func (d *Driver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	type rgBatch struct {
		ref   cloud.GroupRef   // the first ref naming the resource group
		names []string         // lower-case scale set names, in order
		at    map[string][]int // lower-case name -> indexes into refs
	}
	var order []string
	batches := map[string]*rgBatch{}
	for i, g := range refs {
		if err := checkRef(g); err != nil {
			out[i].Err = err
			continue
		}
		// ARM names are case-insensitive.
		key := strings.ToLower(g.Subscription + "/" + g.ResourceGroup)
		b, ok := batches[key]
		if !ok {
			b = &rgBatch{ref: g, at: map[string][]int{}}
			batches[key] = b
			order = append(order, key)
		}
		name := strings.ToLower(g.ScaleSet)
		if _, seen := b.at[name]; !seen {
			b.names = append(b.names, name)
		}
		b.at[name] = append(b.at[name], i)
	}
	ended := map[string]error{} // lower-case subscription -> the error that ended its batch
	fail := func(idx []int, err error) {
		for _, i := range idx {
			out[i].Err = err
		}
	}
	for _, key := range order {
		b := batches[key]
		sub := strings.ToLower(b.ref.Subscription)
		if err := ended[sub]; err != nil {
			for _, idx := range b.at {
				fail(idx, err)
			}
			continue
		}
		c, err := d.client(b.ref.Subscription)
		if err == nil && len(b.names) == 1 {
			// One scale set: a Get is one call, never more than a
			// list of its resource group (a page or more).
			if stop := d.getEach(ctx, c, refs, b.names, b.at, out); stop != nil {
				ended[sub] = stop
			}
			continue
		}
		var sets map[string]armcompute.VirtualMachineScaleSet
		var lc *arm.Client
		if err == nil {
			lc, err = d.lister(b.ref.Subscription)
		}
		if err == nil {
			sets, err = listScaleSets(ctx, lc, b.ref)
		}
		if err != nil && listForbidden(err) {
			// Read granted on each scale set but not on its resource
			// group: get them one by one.
			d.log.Debug("azure: listing a resource group's scale sets is forbidden; reading them one by one",
				"subscription", b.ref.Subscription, "resource_group", b.ref.ResourceGroup, "err", err)
			if stop := d.getEach(ctx, c, refs, b.names, b.at, out); stop != nil {
				ended[sub] = stop
			}
			continue
		}
		if err != nil {
			if cloud.Transient(err) || ctx.Err() != nil {
				ended[sub] = err
			}
			for _, idx := range b.at {
				fail(idx, err)
			}
			continue
		}
		var moving []string // in transition: their instance views are read
		for _, name := range b.names {
			ss, ok := sets[name]
			if !ok {
				for _, i := range b.at[name] {
					out[i].Err = fmt.Errorf("azure: scale set %s is not in its resource group's list: %w", refName(refs[i]), cloud.ErrNotFound)
				}
				continue
			}
			if !steady(ss) {
				moving = append(moving, name)
				continue
			}
			gs, err := steadyState(ss)
			if err != nil {
				err = fmt.Errorf("azure: scale set %s: %w", refName(refs[b.at[name][0]]), err)
			}
			for _, i := range b.at[name] {
				out[i].State, out[i].Err = gs, err
			}
		}
		states, errs, stop := d.instanceViews(ctx, c, refs, b.at, moving, sets)
		for j, name := range moving {
			for _, i := range b.at[name] {
				out[i].State, out[i].Err = states[j], errs[j]
			}
		}
		if stop != nil {
			ended[sub] = stop
		}
	}
	return out, nil
}

// steady reports whether a scale set's last operation succeeded and none
// runs, so that its instances are sku.capacity instances, all
// provisioned: what lets a batch describe do without its instance view.
func steady(ss armcompute.VirtualMachineScaleSet) bool {
	return strings.EqualFold(provisioningState(ss), "Succeeded")
}

// steadyState is a steady scale set's state without its instance view:
// every instance in service.
func steadyState(ss armcompute.VirtualMachineScaleSet) (cloud.GroupState, error) {
	gs, err := groupState(ss, armcompute.VirtualMachineScaleSetInstanceView{})
	gs.InService = gs.Desired
	return gs, err
}

// getEach reads the scale sets one by one with a Get each, and the
// instance view of those in transition, into out. A transient failure
// stops it: the scale sets not yet read carry that error, which it
// returns.
func (d *Driver) getEach(ctx context.Context, c *armcompute.VirtualMachineScaleSetsClient, refs []cloud.GroupRef,
	names []string, at map[string][]int, out []cloud.Described,
) (stop error) {
	for _, name := range names {
		g := refs[at[name][0]]
		var gs cloud.GroupState
		err := stop
		if err == nil {
			gs, err = d.describe(ctx, c, g, false)
			if err != nil && (cloud.Transient(err) || ctx.Err() != nil) {
				stop = err
			}
		}
		for _, i := range at[name] {
			out[i].State, out[i].Err = gs, err
		}
	}
	return stop
}

// listForbidden reports whether a list failed for want of read access to
// the resource group (403), as when a role is assigned on each scale set.
func listForbidden(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusForbidden
}

// The list requests' api-version: armcompute's own for scale sets
// (TestListUsesTheSDKsAPIVersion), and the module name and version the
// list client's telemetry reports.
const (
	listAPIVersion = "2026-04-01"
	listerModule   = "github.com/capstan-io/capstan/cloud/azure"
	listerVersion  = "v1.0.0"
)

// listScaleSets lists a resource group's scale sets, every page, keyed by
// lower-case name. It sends the requests armcompute's list pager sends,
// through the same pipeline options, and decodes the pages itself
// (decodeListPage), with the SDK's decoder for a page outside ARM's plain
// shape.
func listScaleSets(ctx context.Context, c *arm.Client, g cloud.GroupRef) (map[string]armcompute.VirtualMachineScaleSet, error) {
	out := map[string]armcompute.VirtualMachineScaleSet{}
	next := ""
	for first := true; first || next != ""; first = false {
		sets, nextLink, err := listPage(ctx, c, g, next)
		if err != nil {
			rg := cloud.GroupRef{Subscription: g.Subscription, ResourceGroup: g.ResourceGroup, ScaleSet: "*"}
			return nil, callErr(ctx, "listing the scale sets of", rg, err)
		}
		for _, ss := range sets {
			if ss.Name != nil {
				out[strings.ToLower(*ss.Name)] = ss
			}
		}
		next = nextLink
	}
	return out, nil
}

// listPage reads one page of a resource group's scale sets: the first
// when nextLink is empty, else the one it names.
func listPage(ctx context.Context, c *arm.Client, g cloud.GroupRef, nextLink string) ([]armcompute.VirtualMachineScaleSet, string, error) {
	var req *policy.Request
	var err error
	if nextLink == "" {
		path := "/subscriptions/" + url.PathEscape(g.Subscription) + "/resourceGroups/" + url.PathEscape(g.ResourceGroup) +
			"/providers/Microsoft.Compute/virtualMachineScaleSets"
		req, err = runtime.NewRequest(ctx, http.MethodGet, runtime.JoinPaths(c.Endpoint(), path))
		if err != nil {
			return nil, "", err
		}
		q := req.Raw().URL.Query()
		q.Set("api-version", listAPIVersion)
		req.Raw().URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		req.Raw().Header["Accept"] = []string{"application/json"}
	} else if req, err = runtime.NewRequestForNextLink(ctx, http.MethodGet, c.Endpoint(), nextLink); err != nil {
		return nil, "", err
	}
	resp, err := c.Pipeline().Do(req)
	if err != nil {
		return nil, "", err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return nil, "", runtime.NewResponseError(resp)
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return nil, "", err
	}
	if sets, next, ok := decodeListPage(body); ok {
		return sets, next, nil
	}
	var page armcompute.VirtualMachineScaleSetListResult
	if err := runtime.UnmarshalAsJSON(resp, &page); err != nil {
		return nil, "", err
	}
	sets := make([]armcompute.VirtualMachineScaleSet, 0, len(page.Value))
	for _, ss := range page.Value {
		if ss != nil {
			sets = append(sets, *ss)
		}
	}
	next := ""
	if page.NextLink != nil {
		next = *page.NextLink
	}
	return sets, next, nil
}

// instanceViews reads the instance view of each scale set in names (at
// most instanceViewWorkers at a time) and derives its state. After a
// transient failure no further read is sent: the scale sets not yet read
// carry that error, which is returned as stop.
func (d *Driver) instanceViews(ctx context.Context, c *armcompute.VirtualMachineScaleSetsClient, refs []cloud.GroupRef,
	at map[string][]int, names []string, sets map[string]armcompute.VirtualMachineScaleSet,
) (states []cloud.GroupState, errs []error, stop error) {
	states = make([]cloud.GroupState, len(names))
	errs = make([]error, len(names))
	var mu sync.Mutex // guards stop
	sem := make(chan struct{}, instanceViewWorkers)
	var wg sync.WaitGroup
	for j, name := range names {
		sem <- struct{}{}
		mu.Lock()
		stopped := stop
		mu.Unlock()
		if stopped != nil {
			<-sem
			errs[j] = stopped
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			g := refs[at[name][0]]
			iv, err := c.GetInstanceView(ctx, g.ResourceGroup, g.ScaleSet, nil)
			if err != nil {
				errs[j] = callErr(ctx, "reading the instance view of scale set", g, err)
				if cloud.Transient(errs[j]) || ctx.Err() != nil {
					mu.Lock()
					if stop == nil {
						stop = errs[j]
					}
					mu.Unlock()
				}
				return
			}
			gs, err := groupState(sets[name], iv.VirtualMachineScaleSetInstanceView)
			if err != nil {
				errs[j] = fmt.Errorf("azure: scale set %s: %w", refName(g), err)
				return
			}
			states[j] = gs
		})
	}
	wg.Wait()
	return states, errs, stop
}
