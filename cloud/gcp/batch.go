package gcp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/capstan-io/capstan/cloud"
)

// filterNames is how many names the batch describe puts in one list
// filter (a regular expression of alternatives, in the URL's query).
// Asked for more groups than that in one zone or region, it lists the
// location's groups whole instead: fewer calls (500 per page) than a
// filtered list per 50 names, and a URL of bounded length.
const filterNames = 50

// listPage is the maxResults the driver asks for, Compute Engine's largest.
const listPage = 500

var _ cloud.BatchDescriber = (*Driver)(nil)

// location is one zone or region of a project: the scope of a list call.
type location struct {
	project, name string
	regional      bool
}

func (l location) String() string {
	scope := "zones"
	if l.regional {
		scope = "regions"
	}
	return "projects/" + l.project + "/" + scope + "/" + l.name
}

// DescribeBatch describes the groups with list calls per zone or region
// (instanceGroupManagers.list, regionInstanceGroupManagers.list) rather
// than a get per group: filtered by name for up to 50 groups in a location,
// the location's whole list otherwise, paged 500 at a time. The bounds of
// groups with an autoscaler come from one autoscalers.list per location the
// same way. Each state is derived as Describe derives it: a group the
// lists leave out is cloud.ErrNotFound, an autoscaler linked but absent
// means no bounds, and a target that fails validation gets its
// cloud.ErrInvalid without a call.
//
// A list refused for want of a permission (403: a role that grants get
// but not list, as before batch describes) falls back to describing that
// location's groups one by one. Otherwise a failed call fails its
// location's groups. When the failure is
// transient (throttled, unavailable, the context ended) it also ends the
// batch for the project: Compute Engine meters API calls per project, so
// the project's locations not yet listed carry the same error rather than
// spend more of a budget that is gone; the groups already described keep
// their answers and other projects carry on. Other failures (a permission
// denied, say) fail that location only. The whole call fails only when ctx
// has ended before the first call.
func (d *Driver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	type locBatch struct {
		names []string
		at    map[string][]int // name -> indexes into refs
	}
	var order []location
	batches := map[location]*locBatch{}
	for i, g := range refs {
		t, err := parseRef(g)
		if err != nil {
			out[i].Err = err
			continue
		}
		l := location{project: t.project, name: t.location, regional: t.regional}
		b, ok := batches[l]
		if !ok {
			b = &locBatch{at: map[string][]int{}}
			batches[l] = b
			order = append(order, l)
		}
		if _, seen := b.at[t.name]; !seen {
			b.names = append(b.names, t.name)
		}
		b.at[t.name] = append(b.at[t.name], i)
	}
	ended := map[string]error{} // project -> the transient error that ended its batch
	for _, l := range order {
		b := batches[l]
		err := ended[l.project]
		var igms map[string]*computepb.InstanceGroupManager
		var bounds map[string]*bounds
		if err == nil {
			igms, err = d.listGroups(ctx, l, b.names)
		}
		if err == nil {
			bounds, err = d.listBounds(ctx, igms)
		}
		if err != nil && listForbidden(err) {
			// Get granted but not list (a role made before batch
			// describes): describe the location's groups one by one,
			// as Describe would.
			d.log.DebugContext(ctx, "gcp: listing is forbidden; describing the groups one by one", "location", l.String(), "err", err.Error())
			// A transient failure stops it, as it ends the project's
			// batch: the groups not yet read carry that error.
			var stop error
			for _, name := range b.names {
				var gs cloud.GroupState
				err := stop
				if err == nil {
					gs, _, err = d.describe(ctx, target{project: l.project, location: l.name, regional: l.regional, name: name})
					if err != nil && (cloud.Transient(err) || ctx.Err() != nil) {
						stop = err
					}
				}
				for _, i := range b.at[name] {
					out[i].State, out[i].Err = gs, err
				}
			}
			if stop != nil {
				ended[l.project] = stop
			}
			continue
		}
		if err != nil {
			if cloud.Transient(err) || ctx.Err() != nil {
				ended[l.project] = err
			}
			for _, idx := range b.at {
				for _, i := range idx {
					out[i].Err = err
				}
			}
			continue
		}
		for name, idx := range b.at {
			igm, ok := igms[name]
			for _, i := range idx {
				if !ok {
					t := target{project: l.project, location: l.name, regional: l.regional, name: name}
					out[i].Err = fmt.Errorf("gcp: %s: not in the list of its location: %w", t, cloud.ErrNotFound)
					continue
				}
				out[i].State = igmState(igm)
				if bd := bounds[igm.GetStatus().GetAutoscaler()]; bd != nil {
					out[i].State.Min, out[i].State.Max = bd.min, bd.max
				}
			}
		}
	}
	return out, nil
}

// listForbidden reports whether a list was refused for want of a
// permission (403 and not a rate limit).
func listForbidden(err error) bool {
	code, reasons, ok := apiErrorFacts(err)
	return ok && code == http.StatusForbidden && !slices.ContainsFunc(reasons, throttleReason)
}

// nameFilter is a list filter matching exactly the names (RFC 1035
// labels, so nothing in them needs escaping), or "" when there are more
// than filterNames of them: then the whole location is listed.
func nameFilter(names []string) string {
	if len(names) > filterNames {
		return ""
	}
	return `name eq "(?:` + strings.Join(names, "|") + `)"`
}

// listGroups lists the location's groups named in names (or all of them,
// see nameFilter), keyed by name.
func (d *Driver) listGroups(ctx context.Context, l location, names []string) (map[string]*computepb.InstanceGroupManager, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := make(map[string]*computepb.InstanceGroupManager, len(names))
	err := eachPage(ctx, func(ctx context.Context, token string) ([]*computepb.InstanceGroupManager, string, error) {
		return d.lists.groups(ctx, l, nameFilter(names), token)
	}, func(igm *computepb.InstanceGroupManager) {
		if want[igm.GetName()] {
			out[igm.GetName()] = igm
		}
	})
	if err != nil {
		return nil, classify(ctx, "list instance group managers in "+l.String(), err)
	}
	return out, nil
}

// eachPage calls f with every item of every page fetch returns,
// following the pages' tokens, until a page has none or a fetch fails.
func eachPage[T any](ctx context.Context, fetch func(ctx context.Context, token string) ([]T, string, error), f func(T)) error {
	token := ""
	for {
		items, next, err := fetch(ctx, token)
		if err != nil {
			return err
		}
		for _, it := range items {
			f(it)
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

// listBounds reads the bounds of the groups' autoscalers with one
// autoscalers.list per location they live in, keyed by the link each
// group's status.autoscaler holds. A link that does not parse fails the
// call, as it fails Describe.
func (d *Driver) listBounds(ctx context.Context, igms map[string]*computepb.InstanceGroupManager) (map[string]*bounds, error) {
	type want struct {
		names []string
		links map[string]string // autoscaler name -> link
	}
	var order []location
	byLoc := map[location]*want{}
	for _, igm := range igms {
		link := igm.GetStatus().GetAutoscaler()
		if link == "" {
			continue
		}
		ref, err := parseAutoscalerLink(link)
		if err != nil {
			return nil, fmt.Errorf("%w (group %s)", err, igm.GetName())
		}
		l := location{project: ref.project, name: ref.location, regional: ref.regional}
		w, ok := byLoc[l]
		if !ok {
			w = &want{links: map[string]string{}}
			byLoc[l] = w
			order = append(order, l)
		}
		if _, seen := w.links[ref.name]; !seen {
			w.names = append(w.names, ref.name)
		}
		w.links[ref.name] = link
	}
	out := map[string]*bounds{}
	for _, l := range order {
		w := byLoc[l]
		err := eachPage(ctx, func(ctx context.Context, token string) ([]*computepb.Autoscaler, string, error) {
			return d.lists.autoscalers(ctx, l, nameFilter(w.names), token)
		}, func(as *computepb.Autoscaler) {
			if link, ok := w.links[as.GetName()]; ok {
				out[link] = autoscalerBounds(as, as.GetName())
			}
		})
		if err != nil {
			return nil, classify(ctx, "list autoscalers in "+l.String(), err)
		}
	}
	return out, nil
}

// igmState is what Describe reports of a group, bounds aside (see the
// package comment).
func igmState(igm *computepb.InstanceGroupManager) cloud.GroupState {
	a := igm.GetCurrentActions()
	return cloud.GroupState{
		Desired:   int(igm.GetTargetSize()),
		InService: int(a.GetNone() + a.GetRefreshing()),
		Pending: int(a.GetCreating() + a.GetCreatingWithoutRetries() + a.GetRecreating() +
			a.GetRestarting() + a.GetStarting() + a.GetResuming() + a.GetVerifying()),
		Busy: !igm.GetStatus().GetIsStable(),
	}
}

// autoscalerBounds reads an autoscaler's bounds and mode.
func autoscalerBounds(as *computepb.Autoscaler, name string) *bounds {
	p := as.GetAutoscalingPolicy()
	mode := p.GetMode()
	if mode == "" {
		// The API's default mode.
		mode = computepb.AutoscalingPolicy_ON.String()
	}
	return &bounds{name: name, min: int(p.GetMinNumReplicas()), max: int(p.GetMaxNumReplicas()), mode: mode}
}
