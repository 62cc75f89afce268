package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryOptions shapes the capped exponential backoff a Retrying driver uses.
type RetryOptions struct {
	// Initial is the first wait; each later wait grows by Multiplier up to Max.
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	// Jitter randomizes each wait by ±Jitter of itself, so drivers on
	// several nodes do not retry in lockstep.
	Jitter float64
	// MaxTries bounds the attempts; 0 means until the context ends.
	MaxTries uint
}

// DefaultRetryOptions suits cloud control-plane APIs: start at 200 ms,
// double up to 5 s, ±20 % jitter, at most 6 tries, always within the
// caller's deadline.
func DefaultRetryOptions() RetryOptions {
	return RetryOptions{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2, MaxTries: 6}
}

// Retrying wraps a driver so that transient failures (throttling, 5xx,
// timeouts) are retried with capped exponential backoff and jitter within
// the context's deadline. Permanent errors (not found, invalid) and
// conflicts (an activity in progress: retry at the next evaluation, not
// now) return at once.
type Retrying struct {
	d    Driver
	opts RetryOptions
}

var (
	_ Driver         = (*Retrying)(nil)
	_ BatchDescriber = (*Retrying)(nil)
)

// NewRetrying wraps d. cenkalti/backoff provides the backoff arithmetic.
func NewRetrying(d Driver, opts RetryOptions) *Retrying {
	return &Retrying{d: d, opts: opts}
}

func (r *Retrying) backoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = r.opts.Initial, r.opts.Max
	b.Multiplier, b.RandomizationFactor = r.opts.Multiplier, r.opts.Jitter
	return b
}

func (r *Retrying) retry(ctx context.Context, op func() error) error {
	opts := []backoff.RetryOption{backoff.WithBackOff(r.backoff()), backoff.WithMaxElapsedTime(0)}
	if r.opts.MaxTries > 0 {
		opts = append(opts, backoff.WithMaxTries(r.opts.MaxTries))
	}
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		// The fence (docs/fencing.md): no attempt is sent once the
		// caller's deadline has passed, the first one included, so a
		// resize's requests all leave before its intent's SendBy.
		if err := ctx.Err(); err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return struct{}{}, backoff.Permanent(context.DeadlineExceeded)
		}
		last = op()
		if last != nil && !Transient(last) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, opts...)
	stopped := ctx.Err()
	if stopped == nil && errors.Is(err, context.DeadlineExceeded) {
		// The fence's own clock check can see the deadline pass a moment
		// before the context's timer fires.
		stopped = context.DeadlineExceeded
	}
	if err != nil && stopped != nil && last != nil && !errors.Is(err, last) {
		// Stopped waiting because the caller gave up: say why it was
		// waiting as well as why it stopped.
		return errors.Join(last, stopped)
	}
	return err
}

// Describe retries the wrapped Describe on transient errors.
func (r *Retrying) Describe(ctx context.Context, g GroupRef) (GroupState, error) {
	var gs GroupState
	err := r.retry(ctx, func() error {
		var err error
		gs, err = r.d.Describe(ctx, g)
		return err
	})
	return gs, err
}

// SetDesired retries the wrapped SetDesired on transient errors; it is
// idempotent, so a retry after an unseen success is harmless. When an
// attempt's outcome was unknown (the provider unavailable mid-request)
// and a later one was refused (throttled, invalid, or held back by a call
// budget, never sent), the error carries both: the first attempt may
// still have landed, and the caller must hold the group in doubt rather
// than record a plain failure.
func (r *Retrying) SetDesired(ctx context.Context, g GroupRef, n int) error {
	var unknown error
	err := r.retry(ctx, func() error {
		err := r.d.SetDesired(ctx, g, n)
		if unknown == nil && errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrOperationFailed) {
			unknown = err
		}
		return err
	})
	if err != nil && unknown != nil && !errors.Is(err, ErrUnavailable) {
		return errors.Join(err, fmt.Errorf("an earlier attempt's outcome is unknown: %w", unknown))
	}
	return err
}

// DescribeBatch describes refs through the wrapped driver's batch call,
// retrying the call as a whole when it fails as a whole with a transient
// error; a group that fails on its own is not retried (the caller asks
// again at its next refresh). A wrapped driver without a batch call gets
// one retried Describe per group. Without this method a Retrying driver
// would hide its driver's batch call from DescribeAll.
func (r *Retrying) DescribeBatch(ctx context.Context, refs []GroupRef) ([]Described, error) {
	if _, ok := r.d.(BatchDescriber); !ok {
		out := make([]Described, len(refs))
		for i, g := range refs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out[i].State, out[i].Err = r.Describe(ctx, g)
		}
		return out, nil
	}
	var out []Described
	err := r.retry(ctx, func() error {
		var err error
		out, err = DescribeAll(ctx, r.d, refs)
		return err
	})
	return out, err
}

// Activities retries the wrapped driver's Activities on transient errors.
// A driver that keeps no activity record gets errors.ErrUnsupported, so a
// caller can tell "no record" from "no activities".
func (r *Retrying) Activities(ctx context.Context, g GroupRef, since time.Time) ([]Activity, error) {
	ar, ok := r.d.(interface {
		Activities(ctx context.Context, g GroupRef, since time.Time) ([]Activity, error)
	})
	if !ok {
		return nil, fmt.Errorf("cloud: %T keeps no activity record: %w", r.d, errors.ErrUnsupported)
	}
	var acts []Activity
	err := r.retry(ctx, func() error {
		var err error
		acts, err = ar.Activities(ctx, g, since)
		return err
	})
	return acts, err
}
