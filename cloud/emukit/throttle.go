package emukit

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a provider's per-account API rate limit as the emulators
// enforce it: one token bucket for reads and one for writes per account
// (AWS: access key and region; GCP: project; Azure: subscription), as the
// real providers meter their control-plane APIs. A call over the limit is
// answered with the provider's own throttle error and changes nothing.
// The zero value is no limit.
type RateLimit struct {
	// ReadsPerSecond is the refill rate of each account's read bucket
	// (describes, gets, lists, operation polls); zero means unlimited.
	ReadsPerSecond float64
	// WritesPerSecond is the refill rate of each account's write bucket
	// (resizes, updates); zero means unlimited.
	WritesPerSecond float64
	// Burst is the size of each bucket: how many calls an idle account
	// may make at once. Zero means one second's worth of the bucket's
	// rate (at least 1).
	Burst int
}

// Validate reports whether the limit is usable, naming the field at fault.
func (r RateLimit) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{{"reads per second", r.ReadsPerSecond}, {"writes per second", r.WritesPerSecond}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("emukit: rate limit %s must be a finite number >= 0 (got %v)", f.name, f.v))
		}
	}
	if r.Burst < 0 {
		errs = append(errs, fmt.Errorf("emukit: rate limit burst must be >= 0 (got %d)", r.Burst))
	}
	return errors.Join(errs...)
}

// Unlimited reports whether the limit lets every call through.
func (r RateLimit) Unlimited() bool { return r.ReadsPerSecond == 0 && r.WritesPerSecond == 0 }

// burst is the bucket size for a rate.
func (r RateLimit) burst(perSecond float64) int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(1, int(math.Ceil(perSecond)))
}

// Limiter enforces a RateLimit per account. It reads time from the
// emulator's clock (passed to Allow), so a test with a fake clock decides
// when buckets refill. It is safe for concurrent use; the zero value is not
// usable: use NewLimiter.
type Limiter struct {
	limit RateLimit

	mu       sync.Mutex
	accounts map[string]*buckets

	throttled atomic.Uint64
}

// buckets are one account's read and write buckets; nil means unlimited.
type buckets struct {
	read, write *rate.Limiter
}

// NewLimiter returns a limiter enforcing l. It panics if l is invalid (see
// RateLimit.Validate), a programming error: commands validate their flags.
func NewLimiter(l RateLimit) *Limiter {
	if err := l.Validate(); err != nil {
		panic(err.Error())
	}
	return &Limiter{limit: l, accounts: make(map[string]*buckets)}
}

// Limit returns the limit enforced.
func (l *Limiter) Limit() RateLimit { return l.limit }

// Allow takes a token from the account's read bucket (or write bucket when
// write is true) at time now and reports whether there was one. A refused
// call is counted (see Throttled).
func (l *Limiter) Allow(account string, write bool, now time.Time) bool {
	if l.limit.Unlimited() {
		return true
	}
	l.mu.Lock()
	b, ok := l.accounts[account]
	if !ok {
		b = &buckets{}
		if r := l.limit.ReadsPerSecond; r > 0 {
			b.read = rate.NewLimiter(rate.Limit(r), l.limit.burst(r))
		}
		if r := l.limit.WritesPerSecond; r > 0 {
			b.write = rate.NewLimiter(rate.Limit(r), l.limit.burst(r))
		}
		l.accounts[account] = b
	}
	l.mu.Unlock()
	bucket := b.read
	if write {
		bucket = b.write
	}
	if bucket == nil || bucket.AllowN(now, 1) {
		return true
	}
	l.throttled.Add(1)
	return false
}

// Throttled is how many calls Allow has refused since the limiter was
// made. Unlike a bounded call log it never forgets one.
func (l *Limiter) Throttled() uint64 { return l.throttled.Load() }
