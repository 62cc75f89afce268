package cloud

import (
	"context"
	"errors"
	"testing"
	"time"
)

// scripted fails with the given errors in turn, then succeeds.
type scripted struct {
	errs  []error
	calls int
}

func (s *scripted) next() error {
	s.calls++
	if s.calls <= len(s.errs) {
		return s.errs[s.calls-1]
	}
	return nil
}

func (s *scripted) Describe(context.Context, GroupRef) (GroupState, error) {
	return GroupState{}, s.next()
}
func (s *scripted) SetDesired(context.Context, GroupRef, int) error { return s.next() }

func TestRetryingRetriesOnlyTransientErrors(t *testing.T) {
	opts := RetryOptions{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxTries: 4}
	tests := []struct {
		name      string
		errs      []error
		want      error
		wantCalls int
	}{
		{"success", nil, nil, 1},
		{"throttled then success", []error{ErrThrottled, ErrThrottled}, nil, 3},
		{"unavailable then success", []error{ErrUnavailable}, nil, 2},
		{"throttled beyond the tries", []error{ErrThrottled, ErrThrottled, ErrThrottled, ErrThrottled, ErrThrottled}, ErrThrottled, 4},
		{"not found is permanent", []error{ErrNotFound}, ErrNotFound, 1},
		{"invalid is permanent", []error{ErrInvalid}, ErrInvalid, 1},
		{"conflict waits for the next evaluation", []error{ErrConflict}, ErrConflict, 1},
		{"a failed operation waits for the next evaluation", []error{errors.Join(ErrUnavailable, ErrOperationFailed)}, ErrOperationFailed, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{errs: tc.errs}
			err := NewRetrying(s, opts).SetDesired(context.Background(), GroupRef{}, 1)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if s.calls != tc.wantCalls {
				t.Fatalf("%d calls, want %d", s.calls, tc.wantCalls)
			}
		})
	}
}

func TestRetryingStopsAtTheDeadline(t *testing.T) {
	s := &scripted{errs: make([]error, 1000)}
	for i := range s.errs {
		s.errs[i] = ErrThrottled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := NewRetrying(s, RetryOptions{Initial: 20 * time.Millisecond, Max: time.Second, Multiplier: 2}).Describe(ctx, GroupRef{})
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want throttled and the deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s, want to stop at the 100ms deadline", took)
	}
}

// TestRetryingSendsNothingPastTheDeadline: the fence. A call whose
// deadline has passed is never sent, and no retry starts after it.
func TestRetryingSendsNothingPastTheDeadline(t *testing.T) {
	tests := []struct {
		name      string
		deadline  time.Duration // from now
		errs      []error
		wantCalls int
	}{
		{"deadline already passed", -time.Millisecond, nil, 0},
		{"deadline passes during the backoff", 30 * time.Millisecond, []error{ErrUnavailable, ErrUnavailable, ErrUnavailable}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{errs: tc.errs}
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(tc.deadline))
			defer cancel()
			opts := RetryOptions{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 1, MaxTries: 5}
			err := NewRetrying(s, opts).SetDesired(ctx, GroupRef{}, 1)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want the deadline", err)
			}
			if s.calls != tc.wantCalls {
				t.Fatalf("%d calls sent, want %d", s.calls, tc.wantCalls)
			}
		})
	}
}

// withActivities is a scripted driver that keeps an activity record.
type withActivities struct{ scripted }

func (w *withActivities) Activities(context.Context, GroupRef, time.Time) ([]Activity, error) {
	if err := w.next(); err != nil {
		return nil, err
	}
	return []Activity{{ID: "a1", From: 2, To: 5, Status: ActivitySuccessful}}, nil
}

// TestRetryingActivities: Activities passes through with the same retries
// as the other calls, and a driver without a record answers
// errors.ErrUnsupported without being called.
func TestRetryingActivities(t *testing.T) {
	opts := RetryOptions{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxTries: 4}
	tests := []struct {
		name      string
		drv       Driver
		want      error
		wantActs  int
		wantCalls int
	}{
		{"no record", &scripted{}, errors.ErrUnsupported, 0, 0},
		{"read", &withActivities{}, nil, 1, 1},
		{"throttled then read", &withActivities{scripted{errs: []error{ErrThrottled}}}, nil, 1, 2},
		{"not found", &withActivities{scripted{errs: []error{ErrNotFound}}}, ErrNotFound, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, err := NewRetrying(tt.drv, opts).Activities(context.Background(), GroupRef{Group: "g"}, time.Time{})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			calls := 0
			switch d := tt.drv.(type) {
			case *scripted:
				calls = d.calls
			case *withActivities:
				calls = d.calls
			}
			if len(acts) != tt.wantActs || calls != tt.wantCalls {
				t.Fatalf("%d activities after %d calls, want %d after %d", len(acts), calls, tt.wantActs, tt.wantCalls)
			}
		})
	}
}

// scriptedBatch is a scripted driver with a batch call, which fails with
// the script's errors in turn and then answers every group.
type scriptedBatch struct{ scripted }

func (s *scriptedBatch) DescribeBatch(_ context.Context, refs []GroupRef) ([]Described, error) {
	if err := s.next(); err != nil {
		return nil, err
	}
	out := make([]Described, len(refs))
	for i := range out {
		out[i].State.Desired = i
	}
	return out, nil
}

// TestRetryingDescribeBatch: a Retrying driver passes its driver's batch
// call through, retrying it as a whole on transient errors only, and
// falls back to retried single describes for a driver without one.
func TestRetryingDescribeBatch(t *testing.T) {
	opts := RetryOptions{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxTries: 4}
	refs := []GroupRef{{Group: "a"}, {Group: "b"}, {Group: "c"}}
	tests := []struct {
		name      string
		d         interface{ next() error }
		errs      []error
		want      error
		wantCalls int
	}{
		{"a batch: one call", &scriptedBatch{}, nil, nil, 1},
		{"a throttled batch is retried whole", &scriptedBatch{}, []error{ErrThrottled, ErrUnavailable}, nil, 3},
		{"a batch not found is not retried", &scriptedBatch{}, []error{ErrInvalid}, ErrInvalid, 1},
		{"no batch call: a retried describe per group", &scripted{}, []error{ErrThrottled}, nil, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Driver
			var s *scripted
			switch v := tc.d.(type) {
			case *scriptedBatch:
				v.errs, d, s = tc.errs, v, &v.scripted
			case *scripted:
				v.errs, d, s = tc.errs, v, v
			}
			out, err := DescribeAll(context.Background(), NewRetrying(d, opts), refs)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if s.calls != tc.wantCalls {
				t.Errorf("%d calls of the driver, want %d", s.calls, tc.wantCalls)
			}
			if err == nil && len(out) != len(refs) {
				t.Errorf("%d answers for %d groups", len(out), len(refs))
			}
		})
	}
}

// TestRetryingKeepsAnUnknownOutcome: a resize whose attempt met an
// unavailable provider, and whose retry was then refused, may have landed
// by the first attempt: its error says unavailable (in doubt) as well as
// why the retry failed.
func TestRetryingKeepsAnUnknownOutcome(t *testing.T) {
	opts := RetryOptions{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxTries: 4}
	tests := []struct {
		name        string
		errs        []error
		wantLast    error
		unavailable bool
	}{
		{"unavailable, then invalid", []error{ErrUnavailable, ErrInvalid}, ErrInvalid, true},
		{"unavailable, then throttled to the end", []error{ErrUnavailable, ErrThrottled, ErrThrottled, ErrThrottled}, ErrThrottled, true},
		{"throttled, then invalid: known", []error{ErrThrottled, ErrInvalid}, ErrInvalid, false},
		{"a failed operation: its own error, not retried", []error{errors.Join(ErrUnavailable, ErrOperationFailed)}, ErrOperationFailed, true},
		{"unavailable, then success", []error{ErrUnavailable}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NewRetrying(&scripted{errs: tc.errs}, opts).SetDesired(context.Background(), GroupRef{}, 1)
			if tc.wantLast == nil {
				if err != nil {
					t.Fatalf("error %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.wantLast) || errors.Is(err, ErrUnavailable) != tc.unavailable {
				t.Errorf("error %v: want %v, unavailable %v", err, tc.wantLast, tc.unavailable)
			}
		})
	}
}
