package fake

import (
	"context"
	"fmt"
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

// Activities is the fake cloud's activity record (Cloud.Activities).
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	if g.Group == "" {
		return nil, errNoGroup()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.c.Activities(g.Group, since), nil
}

func errNoGroup() error {
	return fmt.Errorf("fake cloud: the group reference has no group name: %w", cloud.ErrInvalid)
}
