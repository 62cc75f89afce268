package fake

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/capstan-io/capstan/cloud"
)

// OpDescribeBatch is a provider-side read of many groups in one call
// (Driver.DescribeBatch, Client.DescribeBatch, POST /v1/describe).
const OpDescribeBatch = "describe_batch"

// MaxBatch is how many groups one batch describe call may name, as a real
// provider bounds its list calls; DescribeBatch splits larger batches.
const MaxBatch = 100

var (
	_ cloud.BatchDescriber = (*Driver)(nil)
	_ cloud.BatchDescriber = (*Client)(nil)
)

// DescribeBatch describes the groups MaxBatch at a time, one provider call
// each (faults with Op OpDescribeBatch apply, the call is logged once with
// every name). See describeInCalls for how failures are reported.
func (d *Driver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	return describeInCalls(ctx, refs, d.c.describeBatch)
}

// describeInCalls answers refs with calls of at most MaxBatch names: a ref
// without a group name gets cloud.ErrInvalid without a call; a group the
// cloud does not have gets cloud.ErrNotFound (unless the cloud auto-creates
// it). A failed call (throttled, unavailable, the context ended) ends the
// batch: its groups and those of the calls not yet made carry its error,
// the groups already described keep their answers. Like a real provider's
// throttle, the fake's is account-wide, and the calls left would only
// spend more of it. The whole call fails only when ctx has ended before
// the first call.
func describeInCalls(ctx context.Context, refs []cloud.GroupRef, call func(context.Context, []string) ([]cloud.Described, error)) ([]cloud.Described, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	var names []string
	var at []int // index in refs of each name
	for i, g := range refs {
		if g.Group == "" {
			out[i].Err = errNoGroup()
			continue
		}
		names = append(names, g.Group)
		at = append(at, i)
	}
	for start := 0; start < len(names); start += MaxBatch {
		end := min(start+MaxBatch, len(names))
		got, err := call(ctx, names[start:end])
		if err == nil && len(got) != end-start {
			err = fmt.Errorf("fake cloud: a batch describe answered %d groups for %d asked: %w", len(got), end-start, cloud.ErrUnavailable)
		}
		if err != nil {
			for _, i := range at[start:] {
				out[i].Err = err
			}
			break
		}
		for j, d := range got {
			out[at[start+j]] = d
		}
	}
	return out, nil
}

// describeBatch is one batch describe as a provider call: the rate limit
// and faults apply to the call as a whole (a fault aimed at a group hits
// every call naming it), it is logged once with every name, and each
// group is answered as a single describe would be, missing groups with
// cloud.ErrNotFound.
func (c *Cloud) describeBatch(ctx context.Context, names []string) ([]cloud.Described, error) {
	if len(names) > MaxBatch {
		return nil, fmt.Errorf("fake cloud: a batch describe may name at most %d groups (got %d): %w", MaxBatch, len(names), cloud.ErrInvalid)
	}
	caller, _ := cloud.CallerFrom(ctx)
	entry := Call{Time: c.now(), Op: OpDescribeBatch, Groups: slices.Clone(names), Caller: caller}
	match := func(f Fault) bool {
		return (f.Group == "" || slices.Contains(names, f.Group)) && (f.Op == "" || f.Op == OpDescribeBatch)
	}
	var out []cloud.Described
	err := c.provide(ctx, &entry, match, func(f *Fault) error {
		if f != nil && f.Err != nil {
			return fmt.Errorf("fake cloud: injected fault on %s of %d groups: %w", OpDescribeBatch, len(names), f.Err)
		}
		out = make([]cloud.Described, len(names))
		for i, name := range names {
			var e Call
			out[i].State, out[i].Err = c.apply(OpDescribe, name, 0, &e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// throttle applies Options.RateLimit to a call about to be made: over the
// limit, the call is logged as throttled and fails with cloud.ErrThrottled
// without consuming a fault or changing anything.
func (c *Cloud) throttle(entry *Call) error {
	if c.limiter.Allow("", entry.Op == OpSetDesired, entry.Time) {
		return nil
	}
	err := fmt.Errorf("fake cloud: rate exceeded for %s: %w", entry.Op, cloud.ErrThrottled)
	entry.Throttled, entry.Err, entry.Done = true, err.Error(), entry.Time
	c.calls.Done(entry.Arrival, *entry)
	if c.opts.OnCall != nil {
		c.opts.OnCall(*entry)
	}
	return err
}

// Throttled is how many calls Options.RateLimit has refused; unlike the
// bounded call log it counts every one.
func (c *Cloud) Throttled() uint64 { return c.limiter.Throttled() }

// Batch describe wire bodies.
type (
	batchBody struct {
		Groups []string `json:"groups"`
	}
	batchAnswer struct {
		Groups []batchEntry `json:"groups"`
	}
	// batchEntry is one group's answer: a state, or an error.
	batchEntry struct {
		State *cloud.GroupState `json:"state,omitempty"`
		Error *errorDetail      `json:"error,omitempty"`
	}
)

func (h *handler) describeBatch(w http.ResponseWriter, r *http.Request) {
	ctx, err := callerContext(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var b batchBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case b.Groups == nil:
		writeError(w, invalidf("body must give groups, a list of group names"))
		return
	case len(b.Groups) > MaxBatch:
		writeError(w, invalidf("groups must name at most %d groups (got %d)", MaxBatch, len(b.Groups)))
		return
	}
	for i, name := range b.Groups {
		if name == "" {
			writeError(w, invalidf("groups[%d] must not be empty", i))
			return
		}
	}
	got, err := h.c.describeBatch(ctx, b.Groups)
	if err != nil {
		writeError(w, err)
		return
	}
	ans := batchAnswer{Groups: make([]batchEntry, len(got))}
	for i, d := range got {
		if d.Err != nil {
			detail, _ := wireError(d.Err)
			ans.Groups[i].Error = &detail
			continue
		}
		ans.Groups[i].State = &d.State
	}
	writeJSON(w, http.StatusOK, ans)
}

// DescribeBatch describes the groups through POST /v1/describe, MaxBatch
// names per request; failures are reported as Driver.DescribeBatch reports
// them.
func (c *Client) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	return describeInCalls(ctx, refs, func(ctx context.Context, names []string) ([]cloud.Described, error) {
		var ans batchAnswer
		if err := c.do(ctx, http.MethodPost, "/v1/describe", batchBody{Groups: names}, &ans); err != nil {
			return nil, err
		}
		out := make([]cloud.Described, len(ans.Groups))
		for i, e := range ans.Groups {
			switch {
			case e.Error != nil:
				sentinel := SentinelFor(e.Error.Code)
				if sentinel == nil {
					sentinel = cloud.ErrUnavailable
				}
				out[i].Err = fmt.Errorf("fake cloud: %s: %w", e.Error.Message, sentinel)
			case e.State != nil:
				out[i].State = *e.State
			default:
				out[i].Err = fmt.Errorf("fake cloud: batch describe answer %d has neither a state nor an error: %w", i, cloud.ErrUnavailable)
			}
		}
		return out, nil
	})
}
