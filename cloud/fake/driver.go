package fake

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// Driver is a cloud.Driver over a Cloud in the same process; GroupRef.Group
// names the group and the other GroupRef fields are ignored. It is what the
// demo and single-process tests use; separate processes use Client.
type Driver struct {
	c *Cloud
}

var _ cloud.Driver = (*Driver)(nil)

// NewDriver returns a driver over c.
func NewDriver(c *Cloud) *Driver { return &Driver{c: c} }

// Describe reports the group's sizes as a provider call: faults apply, the
// call is logged and unknown groups may be auto-created.
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	if g.Group == "" {
		return cloud.GroupState{}, errNoGroup()
	}
	return d.c.describe(ctx, g.Group)
}

// SetDesired asks for n instances; see Cloud.SetDesired.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	if g.Group == "" {
		return errNoGroup()
	}
	return d.c.SetDesired(ctx, g.Group, n)
}

// Activities is the fake cloud's activity record, read from its call log:
// each resize of the group that took effect and changed its size, at the
// time it took effect, newest first, from since on. It is not a provider
// call (no fault, not logged), and it sees only what the bounded call log
// still holds.
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	if g.Group == "" {
		return nil, errNoGroup()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []cloud.Activity
	for _, c := range d.c.Calls() {
		if c.Op != OpSetDesired || c.Group != g.Group || c.Err != "" || c.From == c.To || c.Done.Before(since) {
			continue
		}
		out = append(out, cloud.Activity{ID: fmt.Sprintf("fake-%d", c.Arrival), Start: c.Done, End: c.Done,
			From: c.From, To: c.To, Status: cloud.ActivitySuccessful, Description: fmt.Sprintf("resize from %d to %d", c.From, c.To)})
	}
	slices.Reverse(out)
	return out, nil
}

func errNoGroup() error {
	return fmt.Errorf("fake cloud: the group reference has no group name: %w", cloud.ErrInvalid)
}
