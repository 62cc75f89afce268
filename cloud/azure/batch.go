package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

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
// a get per scale set, then one instance view per scale set; a resource
// group with only one scale set in the batch gets a plain Describe (two
// calls, never more than the list's). ARM's list
// carries sku.capacity, the tags and provisioningState, that is Desired,
// Min, Max and Busy; it does not carry the instances' states, and ARM has
// no batch read of instance views (the list has no $expand), so
// InService and Pending still cost one GetInstanceView each, at most
// eight at a time. A batch of N scale sets in one resource group thus
// makes N+pages calls instead of Describe's 2N. Each state is derived as
// Describe derives it: a scale set the list leaves out is
// cloud.ErrNotFound, a malformed bound tag is that scale set's
// cloud.ErrInvalid, and a target that fails validation gets its
// cloud.ErrInvalid without a call.
//
// A list refused for want of access to the resource group (403: read is
// granted on each scale set, not on the group) falls back to one Describe
// per scale set there. Otherwise a failed call fails the scale sets it
// was for: a list, its resource group's; an instance view, its scale set.
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
		if len(b.names) == 1 {
			// One scale set: Get and GetInstanceView are two calls,
			// never more than a list of its resource group (a page
			// or more) and the instance view.
			if stop := d.describeEach(ctx, refs, b.names, b.at, out); stop != nil {
				ended[sub] = stop
			}
			continue
		}
		c, err := d.client(b.ref.Subscription)
		var sets map[string]armcompute.VirtualMachineScaleSet
		if err == nil {
			sets, err = listScaleSets(ctx, c, b.ref)
		}
		if err != nil && listForbidden(err) {
			// Read granted on each scale set but not on its resource
			// group: describe them one by one, as Describe would.
			d.log.Debug("azure: listing a resource group's scale sets is forbidden; describing them one by one",
				"subscription", b.ref.Subscription, "resource_group", b.ref.ResourceGroup, "err", err)
			if stop := d.describeEach(ctx, refs, b.names, b.at, out); stop != nil {
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
		var found []string
		for _, name := range b.names {
			if _, ok := sets[name]; ok {
				found = append(found, name)
				continue
			}
			for _, i := range b.at[name] {
				out[i].Err = fmt.Errorf("azure: scale set %s is not in its resource group's list: %w", refName(refs[i]), cloud.ErrNotFound)
			}
		}
		states, errs, stop := d.instanceViews(ctx, c, refs, b.at, found, sets)
		for j, name := range found {
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

// describeEach describes the scale sets one by one, as Describe does,
// into out. A transient failure stops it: the scale sets not yet read
// carry that error, which it returns.
func (d *Driver) describeEach(ctx context.Context, refs []cloud.GroupRef, names []string, at map[string][]int, out []cloud.Described) (stop error) {
	for _, name := range names {
		var gs cloud.GroupState
		err := stop
		if err == nil {
			gs, err = d.Describe(ctx, refs[at[name][0]])
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

// listScaleSets lists a resource group's scale sets, every page, keyed by
// lower-case name.
func listScaleSets(ctx context.Context, c *armcompute.VirtualMachineScaleSetsClient, g cloud.GroupRef) (map[string]armcompute.VirtualMachineScaleSet, error) {
	out := map[string]armcompute.VirtualMachineScaleSet{}
	pager := c.NewListPager(g.ResourceGroup, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			rg := cloud.GroupRef{Subscription: g.Subscription, ResourceGroup: g.ResourceGroup, ScaleSet: "*"}
			return nil, callErr(ctx, "listing the scale sets of", rg, err)
		}
		for _, ss := range page.Value {
			if ss != nil && ss.Name != nil {
				out[strings.ToLower(*ss.Name)] = *ss
			}
		}
	}
	return out, nil
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
