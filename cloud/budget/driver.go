package budget

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// activityReader is the optional activity record of a driver (the AWS
// driver's scaling activities), read when settling an in-doubt resize.
type activityReader interface {
	Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error)
}

// Driver is a cloud.Driver whose provider calls spend the budget. Wrap and
// WrapMetered return it, or a *BatchDriver when the wrapped driver
// describes in batches.
type Driver struct {
	d        cloud.Driver
	provider string
	p        Provider
	b        *Budget
	// metered: the driver's HTTP requests go through Transport, which
	// takes a token per request; otherwise the decorator takes them per
	// call.
	metered bool
}

// BatchDriver is a Driver that also implements cloud.BatchDescriber,
// because the driver it wraps does.
type BatchDriver struct {
	*Driver
	batch cloud.BatchDescriber
}

var (
	_ cloud.Driver         = (*Driver)(nil)
	_ cloud.BatchDescriber = (*BatchDriver)(nil)
	_ activityReader       = (*Driver)(nil)
)

// WrapMetered returns d with its calls spending the budget of provider
// (the name a policy's target.provider gives, which picks the rates), for
// a driver whose HTTP client sends through Transport: every request a call
// makes takes a token, the second read of a describe, each page of a batch
// and each poll of a long-running operation included, so the budget counts
// exactly what the provider counts. The result implements
// cloud.BatchDescriber exactly when d does. A provider New does not know
// is unlimited.
func (b *Budget) WrapMetered(provider string, d cloud.Driver) cloud.Driver {
	return b.wrap(provider, d, true)
}

// Wrap is WrapMetered for a driver whose requests the budget does not see:
// the decorator takes one token per call, and a batch goes in pages of
// PageSize groups, a token each. It is exact for a driver that makes one
// provider request per call and per page (the AWS driver; the fake
// cloud's client).
func (b *Budget) Wrap(provider string, d cloud.Driver) cloud.Driver {
	return b.wrap(provider, d, false)
}

func (b *Budget) wrap(provider string, d cloud.Driver, metered bool) cloud.Driver {
	p, ok := b.providers[provider]
	if !ok {
		p = Provider{PageSize: 1}
	}
	bd := &Driver{d: d, provider: provider, p: p, b: b, metered: metered}
	if batch, ok := d.(cloud.BatchDescriber); ok {
		return &BatchDriver{Driver: bd, batch: batch}
	}
	return bd
}

// call runs fn under g's account: it takes the tokens (per request through
// Transport, or one here), feeds the outcome back to the bucket and counts
// the call. outcome reduces fn's result to the error that tells the bucket
// and the counter how the provider answered (a batch's per-group
// throttles, say). Metered, the bucket told is that of the call's last
// request: the drivers stop at their first failed request, so a throttle
// is the answer to the last one (a resize's poll, a read, cuts the read
// bucket).
func (d *Driver) call(ctx context.Context, g cloud.GroupRef, k kind, op string, fn func(context.Context) error, outcome func(error) error) error {
	a := d.b.account(d.provider, Scope(g))
	var granted time.Time
	var err error
	if d.metered {
		st := &callState{a: a, kind: k}
		err = fn(context.WithValue(ctx, callKey{}, st))
		var refused error
		var wrote bool
		granted, refused, wrote, k = st.result()
		if err != nil && refused != nil && !wrote {
			// Nothing that changes the group was sent: the call is
			// known not to have happened, whatever the driver made of
			// the failed request (often "unavailable", in doubt).
			err = refused
		}
	} else {
		granted, err = a.acquire(ctx, k, 1)
		if err != nil {
			d.b.m.count(d.provider, op, err)
			return err
		}
		err = fn(ctx)
	}
	seen := err
	if outcome != nil {
		seen = outcome(err)
	}
	if !granted.IsZero() && a.done(k, granted, seen) {
		d.b.log.Warn("cloud provider throttled: cutting the call budget", "provider", d.provider, "scope", a.name(),
			"bucket", k.String(), "op", op, "rate", a.rate(k))
	}
	d.b.m.count(d.provider, op, seen)
	return err
}

// Describe spends read tokens, then describes.
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	var gs cloud.GroupState
	err := d.call(ctx, g, read, "describe", func(ctx context.Context) error {
		var err error
		gs, err = d.d.Describe(ctx, g)
		return err
	}, nil)
	return gs, err
}

// SetDesired spends a write token (reads for what the driver reads, such
// as an operation's polls), then resizes. A resize that got no token for
// its write was not sent: ErrWaitExceeded, never in doubt.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	return d.call(ctx, g, write, "set_desired", func(ctx context.Context) error { return d.d.SetDesired(ctx, g, n) }, nil)
}

// Activities spends read tokens, then reads the wrapped driver's activity
// record; a driver that keeps none gets errors.ErrUnsupported, as from
// cloud.Retrying, and spends nothing.
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	ar, ok := d.d.(activityReader)
	if !ok {
		return nil, fmt.Errorf("cloud: %T keeps no activity record: %w", d.d, errors.ErrUnsupported)
	}
	var acts []cloud.Activity
	err := d.call(ctx, g, read, "activities", func(ctx context.Context) error {
		var err error
		acts, err = ar.Activities(ctx, g, since)
		return err
	}, nil)
	return acts, err
}

// DescribeBatch describes refs through the wrapped driver's batch call,
// spending read tokens per provider call. Metered (WrapMetered), each
// request the driver makes takes its token when it goes out, so the pages
// and lists of a batch are paced by the bucket like single calls, and a
// throttled page slows the pages after it. Unmetered (Wrap), the batch is
// cut into pages of PageSize groups, one token and one call of the
// wrapped driver each, which is one provider call each when PageSize is
// what the driver puts in one call (AWS: 100 names per
// DescribeAutoScalingGroups).
//
// Why both: a token per request at the transport is exact whatever the
// batch's shape, and the GCP and Azure batches have irregular shapes (GCP:
// a filtered list per location for a few groups, the location's whole
// list for many, the autoscalers' list beside it; Azure: a resource
// group's list, then an instance view per scale set in transition). The
// AWS driver's batch is regular, one call per 100 names, and metering its
// requests would mean giving the SDK a client of ours, which loses the
// SDK's own (AWS_CA_BUNDLE, for one); so it is paged here instead.
//
// A batch is also split by scope (region, project, subscription), so that
// each part spends its own account's budget; the drivers split the same
// way. A part (a scope, or a page) that fails as a whole fails its own
// groups; the call fails as a whole only when every part did. The
// bucket hears of a part's whole-call error, else of a throttle one of
// its groups carries (the drivers end a batch at its first throttled
// call).
func (d *BatchDriver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	var order []string
	byScope := map[string][]int{}
	for i, g := range refs {
		s := Scope(g)
		if _, ok := byScope[s]; !ok {
			order = append(order, s)
		}
		byScope[s] = append(byScope[s], i)
	}
	if len(order) <= 1 {
		return d.describeScope(ctx, refs)
	}
	out := make([]cloud.Described, len(refs))
	var firstErr error
	described := false
	for _, s := range order {
		idx := byScope[s]
		part := make([]cloud.GroupRef, len(idx))
		for i, j := range idx {
			part[i] = refs[j]
		}
		res, err := d.describeScope(ctx, part)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			for _, j := range idx {
				out[j].Err = err
			}
			continue
		}
		described = true
		for i, j := range idx {
			out[j] = res[i]
		}
	}
	if !described {
		return nil, firstErr
	}
	return out, nil
}

// describeScope describes refs of one scope: metered, with one call of the
// wrapped driver; unmetered, page by page.
func (d *BatchDriver) describeScope(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	if len(refs) == 0 {
		return d.batch.DescribeBatch(ctx, refs)
	}
	if d.metered {
		return d.describePart(ctx, refs)
	}
	size := max(1, d.p.PageSize)
	out := make([]cloud.Described, len(refs))
	var firstErr error
	described := false
	for start := 0; start < len(refs); start += size {
		page := refs[start:min(start+size, len(refs))]
		res, err := d.describePart(ctx, page)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			for i := range page {
				out[start+i].Err = err
			}
			continue
		}
		described = true
		copy(out[start:], res)
	}
	if !described {
		return nil, firstErr
	}
	return out, nil
}

// describePart describes refs with one call of the wrapped driver, after
// one token (unmetered) or a token per request (metered).
func (d *BatchDriver) describePart(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	var out []cloud.Described
	err := d.call(ctx, refs[0], read, "describe_batch", func(ctx context.Context) error {
		var err error
		out, err = d.batch.DescribeBatch(ctx, refs)
		if err == nil && len(out) != len(refs) {
			err = fmt.Errorf("cloud: batch describe answered %d groups for %d asked", len(out), len(refs))
		}
		return err
	}, func(err error) error {
		if err != nil {
			return err
		}
		for _, r := range out {
			if errors.Is(r.Err, cloud.ErrThrottled) || errors.Is(r.Err, ErrWaitExceeded) {
				return r.Err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
