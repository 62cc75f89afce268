// Package drivertest is the conformance suite every cloud driver passes
// against an emulator of its provider's API: describe; resize up and down;
// an idempotent repeat; refusing sizes outside the group's bounds; each
// fault class mapped to the right error and retry behaviour; cancellation
// that stops waiting promptly; batch describes (cloud.BatchDescriber) that
// answer as single describes do, report missing groups per group, page,
// and report a throttle as cloud.ErrThrottled. A driver package runs it from a test with
// its own emulator behind the Emulator interface.
package drivertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// FaultKind is a failure the emulator can inject, in provider-neutral terms.
type FaultKind int

// The fault kinds. Each emulator answers them the way its provider does
// (AWS: Throttling / ScalingActivityInProgress errors; GCP and Azure: 429,
// 5xx, 409 answers or a long-running operation that fails).
const (
	// Throttle answers as the provider does when rate limiting.
	Throttle FaultKind = iota + 1
	// ServerError answers with the provider's internal/5xx error.
	ServerError
	// Busy answers as the provider does while a scaling activity or
	// operation is in progress.
	Busy
	// Slow delays the answer by Fault.Delay.
	Slow
	// OperationFails makes the resize's long-running operation end in
	// failure (only for providers with operations).
	OperationFails
)

// Fault describes injected failures.
type Fault struct {
	Kind FaultKind
	// Op is "describe", "describe_batch" (the provider call a batch
	// describe makes: AWS's DescribeAutoScalingGroups, GCP's and Azure's
	// lists) or "set_desired".
	Op string
	// Times is how many calls fail; a negative value means all of them.
	Times int
	// Delay is the wait for Slow.
	Delay time.Duration
}

// Emulator controls the provider emulator behind the driver under test.
type Emulator interface {
	// CreateGroup makes a group with all desired instances in service.
	CreateGroup(t testing.TB, name string, min, max, desired int) cloud.GroupRef
	// Missing returns a reference to a group that does not exist.
	Missing(t testing.TB) cloud.GroupRef
	// Inject queues a fault.
	Inject(t testing.TB, f Fault)
	// Desired reads the group's desired size straight from the emulator.
	Desired(t testing.TB, g cloud.GroupRef) int
}

// Setup is one driver under test and its emulator. The driver should be
// wrapped the way the control plane wraps it (cloud.NewRetrying), with
// short backoffs so the suite runs fast.
type Setup struct {
	Driver   cloud.Driver
	Emulator Emulator
	// HasOperations is true for providers whose resize is a long-running
	// operation (GCP, Azure): the suite then checks OperationFails.
	HasOperations bool
	// Batch is the driver's batch describe, unwrapped: the suite checks
	// its answers against single describes, and that a throttled batch
	// reports cloud.ErrThrottled (a retrying wrapper would absorb it).
	Batch cloud.BatchDescriber
	// BatchPage is how many groups one provider call of Batch answers at
	// most (AWS: 100 names per call; GCP and Azure: the emulator's page
	// size); the suite describes more than two pages' worth.
	BatchPage int
}

// FastRetry are retry options for tests: real backoff, small intervals.
func FastRetry() cloud.RetryOptions {
	return cloud.RetryOptions{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxTries: 5}
}

// Run runs the suite; newSetup is called once per case so cases do not
// share faults or groups.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		return c
	}
	t.Run("describe", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-describe", 1, 10, 3)
		gs, err := s.Driver.Describe(ctx(t), g)
		if err != nil {
			t.Fatal(err)
		}
		if gs.Desired != 3 || gs.Min != 1 || gs.Max != 10 || gs.InService != 3 || gs.Busy {
			t.Fatalf("describe: %+v, want desired 3, min 1, max 10, 3 in service, not busy", gs)
		}
	})
	t.Run("resize up and down", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-resize", 0, 20, 2)
		for _, n := range []int{7, 4, 0, 20} {
			if err := s.Driver.SetDesired(ctx(t), g, n); err != nil {
				t.Fatalf("resize to %d: %v", n, err)
			}
			gs, err := s.Driver.Describe(ctx(t), g)
			if err != nil {
				t.Fatal(err)
			}
			if gs.Desired != n || s.Emulator.Desired(t, g) != n {
				t.Fatalf("after resize to %d: describe says %d, emulator %d", n, gs.Desired, s.Emulator.Desired(t, g))
			}
		}
	})
	t.Run("idempotent repeat", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-idem", 0, 10, 2)
		for i := 0; i < 3; i++ {
			if err := s.Driver.SetDesired(ctx(t), g, 5); err != nil {
				t.Fatalf("repeat %d: %v", i, err)
			}
		}
		if d := s.Emulator.Desired(t, g); d != 5 {
			t.Fatalf("desired %d, want 5", d)
		}
	})
	t.Run("outside the bounds is invalid and changes nothing", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-bounds", 2, 6, 3)
		for _, n := range []int{7, 1} {
			err := s.Driver.SetDesired(ctx(t), g, n)
			if !errors.Is(err, cloud.ErrInvalid) {
				t.Fatalf("resize to %d outside 2..6: %v, want ErrInvalid", n, err)
			}
		}
		if d := s.Emulator.Desired(t, g); d != 3 {
			t.Fatalf("desired %d after refused resizes, want 3", d)
		}
	})
	t.Run("missing group is not found", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.Missing(t)
		if _, err := s.Driver.Describe(ctx(t), g); !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("describe: %v, want ErrNotFound", err)
		}
		if err := s.Driver.SetDesired(ctx(t), g, 1); !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("set desired: %v, want ErrNotFound", err)
		}
	})
	faults := []struct {
		name    string
		fault   Fault
		want    error // nil: the retries absorb it
		ops     bool  // only for providers with operations
		changed bool  // the resize took effect
	}{
		{"throttled once is retried", Fault{Kind: Throttle, Op: "set_desired", Times: 1}, nil, false, true},
		{"throttled always gives up throttled", Fault{Kind: Throttle, Op: "set_desired", Times: -1}, cloud.ErrThrottled, false, false},
		{"server error once is retried", Fault{Kind: ServerError, Op: "set_desired", Times: 1}, nil, false, true},
		{"server error always gives up unavailable", Fault{Kind: ServerError, Op: "set_desired", Times: -1}, cloud.ErrUnavailable, false, false},
		{"describe throttled once is retried", Fault{Kind: Throttle, Op: "describe", Times: 1}, nil, false, true},
		{"busy is a conflict", Fault{Kind: Busy, Op: "set_desired", Times: -1}, cloud.ErrConflict, false, false},
		{"failed operation is reported, not retried at once", Fault{Kind: OperationFails, Op: "set_desired", Times: 1}, cloud.ErrOperationFailed, true, false},
	}
	for _, fc := range faults {
		t.Run(fc.name, func(t *testing.T) {
			s := newSetup(t)
			if fc.ops && !s.HasOperations {
				t.Skip("the provider's resize is not a long-running operation")
			}
			g := s.Emulator.CreateGroup(t, "grp-fault", 0, 10, 2)
			s.Emulator.Inject(t, fc.fault)
			var err error
			if fc.fault.Op == "describe" {
				_, err = s.Driver.Describe(ctx(t), g)
				if err == nil {
					err = s.Driver.SetDesired(ctx(t), g, 4)
				}
			} else {
				err = s.Driver.SetDesired(ctx(t), g, 4)
			}
			switch {
			case fc.want == nil && err != nil:
				t.Fatalf("error %v, want success after retries", err)
			case fc.want != nil && !errors.Is(err, fc.want):
				t.Fatalf("error %v, want %v", err, fc.want)
			}
			if changed := s.Emulator.Desired(t, g) == 4; changed != fc.changed {
				t.Fatalf("resize took effect: %v, want %v", changed, fc.changed)
			}
		})
	}
	t.Run("busy is not retried", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-busy", 0, 10, 2)
		s.Emulator.Inject(t, Fault{Kind: Busy, Op: "set_desired", Times: 1})
		// Were a conflict retried, this second call would succeed.
		if err := s.Driver.SetDesired(ctx(t), g, 4); !errors.Is(err, cloud.ErrConflict) {
			t.Fatalf("error %v, want ErrConflict on the first call", err)
		}
	})
	runBatch(t, newSetup, ctx)
	t.Run("cancellation stops waiting promptly", func(t *testing.T) {
		s := newSetup(t)
		g := s.Emulator.CreateGroup(t, "grp-cancel", 0, 10, 2)
		s.Emulator.Inject(t, Fault{Kind: Slow, Op: "set_desired", Times: -1, Delay: 30 * time.Second})
		c, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := s.Driver.SetDesired(c, g, 4)
		if err == nil {
			t.Fatal("a cancelled call succeeded")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("returned %s after the cancel, want promptly", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want it to wrap context.Canceled", err)
		}
	})
}
