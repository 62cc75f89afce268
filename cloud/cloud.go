// Package cloud defines what Capstan needs from a cloud provider to resize an
// instance group, and the errors drivers report. Provider drivers live in
// subpackages (fake, and later aws, azure, gcp); the control plane picks one
// by an explicit switch on the policy's target.provider.
package cloud

import (
	"context"
	"errors"
)

// Driver resizes one provider's instance groups. Implementations must be
// safe for concurrent use.
type Driver interface {
	// Describe reports the group's current sizes.
	Describe(ctx context.Context, g GroupRef) (GroupState, error)
	// SetDesired asks for n instances. It is idempotent: asking for the
	// current desired size again is a no-op success.
	SetDesired(ctx context.Context, g GroupRef, n int) error
}

// GroupRef names a group at a provider. The fields used depend on the
// provider (see policy.Target).
type GroupRef struct {
	Provider      string `json:"provider"`
	Group         string `json:"group,omitempty"`
	Region        string `json:"region,omitempty"`
	Zone          string `json:"zone,omitempty"`
	Project       string `json:"project,omitempty"`
	Subscription  string `json:"subscription,omitempty"`
	ResourceGroup string `json:"resource_group,omitempty"`
	ScaleSet      string `json:"scale_set,omitempty"`
}

// String is a short human-readable name of the group.
func (g GroupRef) String() string {
	switch {
	case g.ScaleSet != "":
		return g.Provider + ":" + g.ResourceGroup + "/" + g.ScaleSet
	case g.Project != "":
		return g.Provider + ":" + g.Project + "/" + g.Zone + g.Region + "/" + g.Group
	default:
		return g.Provider + ":" + g.Group
	}
}

// GroupState is a group's sizes as the provider reports them.
type GroupState struct {
	// Desired is the size the group is converging to.
	Desired int `json:"desired"`
	// Min and Max are the provider-side bounds; the control plane clamps to them.
	Min int `json:"min"`
	Max int `json:"max"`
	// InService counts instances that are running and ready.
	InService int `json:"in_service"`
	// Pending counts instances that are booting.
	Pending int `json:"pending"`
	// Busy is true while a scaling activity or operation is in progress.
	Busy bool `json:"busy"`
}

// Errors drivers return, wrapped with detail; match them with errors.Is.
var (
	// ErrNotFound means the group does not exist. Permanent.
	ErrNotFound = errors.New("cloud: group not found")
	// ErrInvalid means the provider rejected the request as invalid. Permanent.
	ErrInvalid = errors.New("cloud: invalid request")
	// ErrThrottled means the provider asked us to slow down. Transient.
	ErrThrottled = errors.New("cloud: throttled")
	// ErrUnavailable means a 5xx, a timeout or a broken connection. Transient.
	ErrUnavailable = errors.New("cloud: provider unavailable")
	// ErrConflict means a scaling activity is in progress. Retry later.
	ErrConflict = errors.New("cloud: conflicting activity in progress")
	// ErrOperationFailed means the provider accepted a resize and its
	// long-running operation then failed. Drivers wrap it together with
	// ErrUnavailable; it is not retried at once (the operation often ran
	// for minutes before failing): the next evaluation decides again.
	ErrOperationFailed = errors.New("cloud: the provider's operation failed")
)

// Transient reports whether err is worth retrying soon: throttling and
// unavailability are, a failed long-running operation is not.
func Transient(err error) bool {
	return (errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)) && !errors.Is(err, ErrOperationFailed)
}

// Caller identifies who makes a cloud call: the node and the Raft term under
// which it acts. Drivers may record it (the fake driver does, so tests can
// prove that a deposed leader never acts); real providers ignore it.
type Caller struct {
	Node string `json:"node"`
	Term uint64 `json:"term"`
}

type callerKey struct{}

// WithCaller returns a context carrying the caller.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller carried by ctx, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
