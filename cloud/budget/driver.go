package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// Pager is implemented by a batch-describing driver that says how its
// DescribeBatch splits groups into provider calls. Without it the budget
// pages by the provider's PageSize and PageKey.
type Pager interface {
	// BatchPages partitions the indexes of refs into pages, each the
	// groups one provider call describes; every index appears once.
	BatchPages(refs []cloud.GroupRef) [][]int
}

// activityReader is the optional activity record of a driver (the AWS
// driver's scaling activities), read when settling an in-doubt resize.
type activityReader interface {
	Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error)
}

// Driver is a cloud.Driver whose provider calls spend the budget. Wrap
// returns it, or a *BatchDriver when the wrapped driver describes in
// batches.
type Driver struct {
	d        cloud.Driver
	provider string
	p        Provider
	b        *Budget
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

// Wrap returns d with its calls spending the budget of provider (the name
// a policy's target.provider gives, which picks the rates and the batch
// pages). The result implements cloud.BatchDescriber exactly when d does.
// A provider New does not know is unlimited.
func (b *Budget) Wrap(provider string, d cloud.Driver) cloud.Driver {
	p, ok := b.providers[provider]
	if !ok {
		p = Provider{DescribeCost: 1, PageSize: 1, PageKey: func(cloud.GroupRef) string { return "" }}
	}
	bd := &Driver{d: d, provider: provider, p: p, b: b}
	if batch, ok := d.(cloud.BatchDescriber); ok {
		return &BatchDriver{Driver: bd, batch: batch}
	}
	return bd
}

// call takes cost tokens of g's account, makes the call, feeds its outcome
// back to the bucket and counts it.
func (d *Driver) call(ctx context.Context, g cloud.GroupRef, k kind, op string, cost int, fn func(context.Context) error) error {
	a := d.b.account(d.provider, Scope(g))
	granted, err := a.acquire(ctx, k, cost)
	if err != nil {
		d.b.m.count(d.provider, op, err)
		return err
	}
	err = fn(ctx)
	if a.done(k, granted, err) {
		d.b.log.Warn("cloud provider throttled: cutting the call budget", "provider", d.provider, "scope", a.name(),
			"bucket", k.String(), "op", op, "rate", a.rate(k))
	}
	d.b.m.count(d.provider, op, err)
	return err
}

// Describe takes the describe's cost in read tokens, then describes.
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	var gs cloud.GroupState
	err := d.call(ctx, g, read, "describe", max(1, d.p.DescribeCost), func(ctx context.Context) error {
		var err error
		gs, err = d.d.Describe(ctx, g)
		return err
	})
	return gs, err
}

// SetDesired takes a write token, then resizes. A resize that got no
// token was not sent: ErrWaitExceeded, not in doubt.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	return d.call(ctx, g, write, "set_desired", 1, func(ctx context.Context) error { return d.d.SetDesired(ctx, g, n) })
}

// Activities takes a read token, then reads the wrapped driver's activity
// record; a driver that keeps none gets errors.ErrUnsupported, as from
// cloud.Retrying, and spends nothing.
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	ar, ok := d.d.(activityReader)
	if !ok {
		return nil, fmt.Errorf("cloud: %T keeps no activity record: %w", d.d, errors.ErrUnsupported)
	}
	var acts []cloud.Activity
	err := d.call(ctx, g, read, "activities", 1, func(ctx context.Context) error {
		var err error
		acts, err = ar.Activities(ctx, g, since)
		return err
	})
	return acts, err
}

// DescribeBatch splits refs into pages, one provider call each, and
// describes them page by page, each after taking one read token: the
// pages are paced by the bucket like single calls, and a throttled page
// slows the pages after it. A page that fails as a whole (throttled,
// unavailable, or no token before the deadline) fails its own groups only;
// the call fails as a whole only when no page was described.
//
// Why pages here rather than a token function the drivers call: the
// decorator needs nothing from the drivers but their DescribeBatch, and a
// page is the unit a provider answers in one call (AWS: 50 names), so one
// token per page is one token per call as long as the page shape matches
// the driver's; a driver whose shape differs says so with Pager.
func (d *BatchDriver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	pages, err := d.pages(refs)
	if err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	var firstErr error
	described := false
	for _, page := range pages {
		sub := make([]cloud.GroupRef, len(page))
		for i, idx := range page {
			sub[i] = refs[idx]
		}
		var res []cloud.Described
		err := d.call(ctx, sub[0], read, "describe_batch", 1, func(ctx context.Context) error {
			var err error
			res, err = d.batch.DescribeBatch(ctx, sub)
			if err == nil && len(res) != len(sub) {
				err = fmt.Errorf("cloud: batch describe answered %d groups for %d asked", len(res), len(sub))
			}
			return err
		})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			for _, idx := range page {
				out[idx].Err = err
			}
			continue
		}
		described = true
		for i, idx := range page {
			out[idx] = res[i]
		}
	}
	if !described && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// pages is the driver's own paging when it has one, else the provider's.
func (d *BatchDriver) pages(refs []cloud.GroupRef) ([][]int, error) {
	if p, ok := d.d.(Pager); ok {
		pages := p.BatchPages(refs)
		if err := checkPages(pages, len(refs)); err != nil {
			return nil, fmt.Errorf("cloud budget: %T.BatchPages: %w", d.d, err)
		}
		return pages, nil
	}
	return pageBy(refs, d.p.PageSize, d.p.PageKey), nil
}

// pageBy groups refs by key, in the order keys first appear, and cuts each
// key's groups into pages of at most size.
func pageBy(refs []cloud.GroupRef, size int, key func(cloud.GroupRef) string) [][]int {
	size = max(1, size)
	var order []string
	byKey := map[string][]int{}
	for i, g := range refs {
		k := key(g)
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	var pages [][]int
	for _, k := range order {
		idx := byKey[k]
		for len(idx) > 0 {
			n := min(size, len(idx))
			pages = append(pages, idx[:n:n])
			idx = idx[n:]
		}
	}
	return pages
}

// checkPages reports whether pages partition 0..n-1 into non-empty pages.
func checkPages(pages [][]int, n int) error {
	seen := make([]bool, n)
	count := 0
	for _, p := range pages {
		if len(p) == 0 {
			return errors.New("an empty page")
		}
		for _, i := range p {
			if i < 0 || i >= n || seen[i] {
				return fmt.Errorf("index %d is out of range or in two pages", i)
			}
			seen[i] = true
			count++
		}
	}
	if count != n {
		return fmt.Errorf("the pages hold %d of %d groups", count, n)
	}
	return nil
}
