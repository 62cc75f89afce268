package cloud

import (
	"context"
	"fmt"
)

// BatchDescriber is implemented by a Driver that can describe many groups
// with few provider calls: AWS DescribeAutoScalingGroups with up to its
// per-call limit of names, GCP's list of instance group managers per zone
// or region, Azure's list of scale sets per resource group. The leader's
// group-state cache refreshes through it, so that ten thousand groups cost
// a few hundred calls per refresh, not ten thousand.
type BatchDescriber interface {
	// DescribeBatch reports each group's state, one result per ref in the
	// order of refs. A group the provider could not describe carries its
	// own error (ErrNotFound for a missing group) and does not fail the
	// others; an error returned for the whole call means no group was
	// described.
	DescribeBatch(ctx context.Context, refs []GroupRef) ([]Described, error)
}

// Described is one group's answer in a batch describe.
type Described struct {
	// State is the group's state when Err is nil.
	State GroupState
	// Err is why this group could not be described, wrapping the
	// package's errors (ErrNotFound, ErrThrottled, ...).
	Err error
}

// DescribeAll describes refs through d's batch call when d has one, and
// with one Describe per group otherwise. Its result has one entry per ref,
// in order.
func DescribeAll(ctx context.Context, d Driver, refs []GroupRef) ([]Described, error) {
	if b, ok := d.(BatchDescriber); ok {
		out, err := b.DescribeBatch(ctx, refs)
		if err != nil {
			return nil, err
		}
		if len(out) != len(refs) {
			return nil, fmt.Errorf("cloud: batch describe answered %d groups for %d asked", len(out), len(refs))
		}
		return out, nil
	}
	out := make([]Described, len(refs))
	for i, g := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out[i].State, out[i].Err = d.Describe(ctx, g)
	}
	return out, nil
}
