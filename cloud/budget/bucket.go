package budget

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// aimd is one token bucket whose refill rate adapts to the provider's
// answers: a throttle cuts the rate by the decrease factor (never below
// the floor); while calls succeed, the rate grows back by a fixed step per
// second (never above the configured rate, the ceiling). The increase is
// per second, not per success: per success the growth would be
// proportional to the rate itself, exponential rather than additive, and
// would overshoot the provider's limit again within moments of a cut. The tokens themselves are kept by a
// golang.org/x/time/rate Limiter; aimd only moves its limit and burst. It
// is not safe for concurrent use: its account's mutex guards it.
type aimd struct {
	lim *rate.Limiter
	// ceiling is the configured rate, floor the lowest a throttle can
	// bring it to (calls per second); step is what the rate grows by per
	// second of successes (calls per second per second).
	ceiling, floor, step float64
	decrease             float64
	// minBurst is the most tokens one call takes (a describe that costs
	// two provider calls): the burst never drops below it.
	minBurst int
	// lastCut is when a throttle last cut the rate. A throttle answered
	// to a call granted before it is ignored: that call was paced at the
	// old rate, so cutting again would punish one overload many times
	// (as TCP halves its window once per round trip, not once per lost
	// packet).
	lastCut time.Time
	// changed is when the rate last changed, from which a success
	// measures its growth.
	changed time.Time
}

// aimdConfig is what an aimd needs beyond its configured rate.
type aimdConfig struct {
	// decrease multiplies the rate on a throttle (0 < decrease < 1).
	decrease float64
	// increase is the fraction of the configured rate the rate grows by
	// per second of successes.
	increase float64
	// floor is the fraction of the configured rate a throttle never goes below.
	floor float64
}

// newAIMD returns a full bucket (as the providers' buckets start) at the
// configured rate; maxCost is the most tokens one call takes.
func newAIMD(configured float64, maxCost int, c aimdConfig) *aimd {
	b := &aimd{ceiling: configured, floor: configured * c.floor, step: configured * c.increase, decrease: c.decrease, minBurst: maxCost}
	b.lim = rate.NewLimiter(rate.Limit(configured), burstFor(configured, maxCost))
	return b
}

// burstFor is the bucket's depth at a rate: one second's worth of calls,
// at least one call of the largest cost. A shrunken rate shrinks the burst
// with it, so that the bucket cannot let a second full burst through
// right after the provider said "slow down".
func burstFor(r float64, maxCost int) int {
	return max(maxCost, int(math.Ceil(r)))
}

// rate is the current refill rate in calls per second.
func (b *aimd) rate() float64 { return float64(b.lim.Limit()) }

func (b *aimd) set(now time.Time, r float64) {
	b.lim.SetLimitAt(now, rate.Limit(r))
	b.lim.SetBurstAt(now, burstFor(r, b.minBurst))
}

// throttled records the provider's throttle answer to a call granted at
// granted, and reports whether it cut the rate.
func (b *aimd) throttled(now, granted time.Time) bool {
	if granted.Before(b.lastCut) {
		return false
	}
	b.lastCut, b.changed = now, now
	b.set(now, max(b.floor, b.rate()*b.decrease))
	// The provider's bucket is empty: so is ours. Tokens left here would
	// let a burst through at once and earn a second cut, and a third, for
	// the one overload.
	b.empty(now)
	return true
}

// empty drops the tokens the bucket holds at now; it refills from now at
// its rate. A fresh bucket (full) emptied at a time before now holds at
// now what it refilled since.
func (b *aimd) empty(at time.Time) {
	if left := int(b.lim.TokensAt(at)); left > 0 {
		b.lim.AllowN(at, left)
	}
}

// succeeded records a call the provider served: the rate grows by step for
// each second since it last changed.
func (b *aimd) succeeded(now time.Time) {
	r := b.rate()
	if r >= b.ceiling {
		return
	}
	if dt := now.Sub(b.changed).Seconds(); dt > 0 {
		b.changed = now
		b.set(now, min(b.ceiling, r+b.step*dt))
	}
}
