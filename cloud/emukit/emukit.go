// Package emukit is the fault, call-log and rate-limit kit the provider
// emulators (awsemu, gcpemu, azemu, sqsemu) and the fake cloud share, so
// their fault injection, call logs and throttling behave alike instead of
// drifting apart: one bound on the log, one way to consume a fault, one
// notion of a slow call, and one per-account token bucket (Limiter) behind
// each provider's own throttle answer.
//
// A slow call here behaves as a real cloud's does: once a request has
// arrived, the provider carries it out after the delay whether or not the
// caller is still waiting. Only the answer is lost when the caller gives up;
// the effect lands anyway. The log therefore numbers each call twice: in
// the order calls arrived and in the order they took effect, which is the
// order that decides what state the group ends in.
package emukit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultMaxCalls is how many entries a Log keeps when asked for zero:
// enough for hours of a local cluster, bounded for benchmarks and
// long-running servers.
const DefaultMaxCalls = 10000

// Record is one logged call with its two sequence numbers, both starting
// at 1: Arrival is the order in which calls reached the emulator, Effect
// the order in which they finished (took effect or failed).
type Record[T any] struct {
	Arrival uint64
	Effect  uint64
	Call    T
}

// Log is a bounded call log. Entries are kept in effect order; the oldest
// are dropped beyond the bound. It is safe for concurrent use; the zero
// value is not usable: use NewLog.
type Log[T any] struct {
	max int

	mu       sync.Mutex
	arrivals uint64
	effects  uint64
	entries  []Record[T] // up to 2*max; the newest max are the log
}

// NewLog returns a log keeping the newest max entries (DefaultMaxCalls if
// max is zero or negative).
func NewLog[T any](max int) *Log[T] {
	if max <= 0 {
		max = DefaultMaxCalls
	}
	return &Log[T]{max: max}
}

// Arrive numbers a call as it arrives; pass the number to Done.
func (l *Log[T]) Arrive() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.arrivals++
	return l.arrivals
}

// Arrivals is how many calls have arrived so far, including those that
// have not yet taken effect: a test waits on it to know a slow call reached
// the emulator before its caller gives up.
func (l *Log[T]) Arrivals() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.arrivals
}

// Done logs a call that arrived as number arrival and has now taken effect
// (or failed). The slice may grow to twice the bound before the oldest half
// is dropped, so logging stays amortised O(1).
func (l *Log[T]) Done(arrival uint64, c T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.effects++
	l.entries = append(l.entries, Record[T]{Arrival: arrival, Effect: l.effects, Call: c})
	if len(l.entries) >= 2*l.max {
		l.entries = slices.Clone(l.entries[len(l.entries)-l.max:])
	}
}

// Records returns a copy of the log in effect order, oldest first.
func (l *Log[T]) Records() []Record[T] {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries[max(0, len(l.entries)-l.max):])
}

// Calls returns a copy of the logged calls in effect order, oldest first.
func (l *Log[T]) Calls() []T {
	recs := l.Records()
	out := make([]T, len(recs))
	for i, r := range recs {
		out[i] = r.Call
	}
	return out
}

// Faults is a queue of injected faults of type F. Each fault affects a
// number of matching calls (Add's times: 0 means one, negative means every
// one until Clear); a call consumes at most one fault, the first injected
// that matches. It is safe for concurrent use; the zero value is empty.
type Faults[F any] struct {
	mu sync.Mutex
	q  []*queued[F]
}

type queued[F any] struct {
	f     F
	times int
}

// Add queues f for times matching calls.
func (q *Faults[F]) Add(f F, times int) {
	if times == 0 {
		times = 1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = append(q.q, &queued[F]{f: f, times: times})
}

// Take consumes the first queued fault for which match is true.
func (q *Faults[F]) Take(match func(F) bool) (F, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, e := range q.q {
		if !match(e.f) {
			continue
		}
		if e.times > 0 {
			e.times--
			if e.times == 0 {
				q.q = slices.Delete(q.q, i, i+1)
			}
		}
		return e.f, true
	}
	var zero F
	return zero, false
}

// Clear drops every queued fault, including unlimited ones.
func (q *Faults[F]) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.q = nil
}

// Len is how many faults are queued.
func (q *Faults[F]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// Slow runs effect after delay, as a provider carries out a request it has
// received: the effect happens even if ctx ends first. It returns effect's
// error when the caller is still waiting, or ctx's error as soon as ctx
// ends (the caller gave up; the effect lands later, unseen). done, if not
// nil, is closed once the effect has run, for tests and for emulators that
// must not answer before it.
func Slow(ctx context.Context, delay time.Duration, effect func() error) (done <-chan struct{}, err error) {
	ch := make(chan struct{})
	var res error
	go func() {
		defer close(ch)
		if delay > 0 {
			time.Sleep(delay)
		}
		res = effect()
	}()
	select {
	case <-ch:
		return ch, res
	case <-ctx.Done():
		return ch, ctx.Err()
	}
}
