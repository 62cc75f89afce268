package policy

import (
	"math"
	"math/bits"
	"time"
)

// instant is an evaluation time with its wall clock in Unix nanoseconds, so
// that what Evaluate asks of it for every metric at every evaluation (is a
// sample stale, is the model due for retuning, is a sample older than a
// step) is integer arithmetic. time.Time's Sub checks its own result with an
// Add and an Equal, and its Add normalises seconds and nanoseconds: together
// about a third of an evaluation's own work in a replay.
//
// Every method gives exactly time.Time's answer. The fast path needs now
// without a monotonic clock reading (time.Time compares two times by their
// monotonic readings when both have one, and a wall clock cannot tell what
// those would say) and both times within what int64 Unix nanoseconds hold
// (years 1678 to 2262); anything else goes to time.Time itself. Sub's
// saturation at ±292 years is reproduced; see TestInstantMatchesTime. The
// leader's now comes from time.Now and carries a monotonic reading, so there
// every method is time.Time's own (one flag tested first); the fast path
// serves the replays (simulate, what-if, recommend), whose clocks are virtual.
type instant struct {
	t    time.Time
	ns   int64 // t's wall clock in Unix nanoseconds, when fast
	fast bool
}

// Whole seconds whose Unix nanoseconds fit in an int64 at any nanosecond.
const (
	minNanoSec = math.MinInt64 / 1_000_000_000   // -9223372036: -9223372036e9 + 0 fits
	maxNanoSec = math.MaxInt64/1_000_000_000 - 1 // 9223372035: + 999999999 still fits
)

func newInstant(t time.Time) instant {
	var n instant
	n.set(t)
	return n
}

// set makes n the instant t, field by field. evaluate keeps its instant
// where it is made this way: built as a value (newInstant) it was written
// to a temporary with word stores and copied from there with 16-byte
// loads, which cannot be forwarded from the stores still in flight and
// waited for them to reach the cache, at every evaluation (BENCHMARKS,
// "Speed, issue 9 round twelve").
func (n *instant) set(t time.Time) {
	ns, ok := wallNanos(t)
	// Round(0) strips a monotonic reading and nothing else: t is unchanged
	// exactly when it had none.
	n.t, n.ns, n.fast = t, ns, ok && t == t.Round(0)
}

// wallNanos returns t's wall clock in Unix nanoseconds, and false when they
// do not fit in an int64.
func wallNanos(t time.Time) (int64, bool) {
	s := t.Unix()
	return s*1e9 + int64(t.Nanosecond()), s >= minNanoSec && s <= maxNanoSec
}

// stamp is a time an evaluation compares with now several times (a
// sample's: is it stale, is it overdue, is it older than a step) with its
// wall clock in Unix nanoseconds worked out once (wallNanos). ns is
// t.UnixNano() whether or not it fits (ok): both are the same sum.
type stamp struct {
	t  time.Time
	ns int64
	ok bool
}

// newStamp returns t's stamp.
func newStamp(t time.Time) stamp {
	var s stamp
	s.set(t)
	return s
}

// set makes s t's stamp, field by field: evaluate stamps every sample
// in place, for the reason instant.set gives.
func (s *stamp) set(t time.Time) {
	ns, ok := wallNanos(t)
	s.t, s.ns, s.ok = t, ns, ok
}

// sub is now.Sub(u).
func (n *instant) sub(u time.Time) time.Duration {
	if n.fast { // tested first: the daemon's now (time.Now) has a monotonic reading
		if un, ok := wallNanos(u); ok {
			return subNanos(n.ns, un)
		}
	}
	return n.t.Sub(u)
}

// subStamp is sub of a stamped time.
func (n *instant) subStamp(u *stamp) time.Duration {
	if n.fast && u.ok {
		return subNanos(n.ns, u.ns)
	}
	return n.t.Sub(u.t)
}

// subNanos is a-b, saturated at the int64 range as time.Time's Sub does.
func subNanos(a, b int64) time.Duration {
	d := a - b
	if (a^b)&(a^d) < 0 { // overflowed
		if a > b {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return time.Duration(d)
}

// afterSum reports whether u.Add(du).Before(now.Add(dn)): the sums are
// compared in 128 bits, as time.Time holds them without overflow for any
// time within int64 Unix nanoseconds.
func (n *instant) afterSum(dn time.Duration, u time.Time, du time.Duration) bool {
	if n.fast {
		if un, ok := wallNanos(u); ok {
			return afterSumNanos(n.ns, dn, un, du)
		}
	}
	return u.Add(du).Before(n.t.Add(dn))
}

// afterSumStamp is afterSum of a stamped time.
func (n *instant) afterSumStamp(dn time.Duration, u *stamp, du time.Duration) bool {
	if n.fast && u.ok {
		return afterSumNanos(n.ns, dn, u.ns, du)
	}
	return u.t.Add(du).Before(n.t.Add(dn))
}

// cut is now.Add(d), worked out once for comparing with many times:
// pushRecommendation asks of every entry it drops from its window, and of
// the first it keeps, whether it is after now − window. On the fast path
// the sum is kept in 128 bits (sum128), so each time costs its wall clock
// in nanoseconds and one comparison, not a second sum and a call.
type cut struct {
	n  *instant
	d  time.Duration
	hi int64 // now + d in 128 bits (sum128), when n is fast
	lo uint64
}

// cut returns now.Add(d) for before.
func (n *instant) cut(d time.Duration) cut {
	c := cut{n: n, d: d}
	if n.fast {
		c.hi, c.lo = sum128(n.ns, int64(d))
	}
	return c
}

// before reports whether now.Add(d).Before(u).
func (c *cut) before(u time.Time) bool {
	if un, ok := wallNanos(u); ok && c.n.fast {
		return c.beforeNanos(un)
	}
	return c.n.t.Add(c.d).Before(u)
}

// beforeNanos is before for a time of un Unix nanoseconds (wallNanos's,
// when it fits) on the fast path: afterSumNanos(un, 0, now, d) with now's
// side summed once, and u's sum128(un, 0) its sign and its bits. Small
// enough to inline in a loop that works out un itself.
func (c *cut) beforeNanos(un int64) bool {
	uh := un >> 63
	return c.hi < uh || (c.hi == uh && c.lo < uint64(un))
}

// afterSumNanos reports whether un+du < nn+dn, in 128 bits: sum128's
// arithmetic spelled out, which keeps it within the compiler's inlining
// budget (67 of 80; through sum128 it was 82): afterSumStamp asks it twice
// an evaluation, and a call cost as much as the comparison.
func afterSumNanos(nn int64, dn time.Duration, un int64, du time.Duration) bool {
	ul, uc := bits.Add64(uint64(un), uint64(du), 0)
	nl, nc := bits.Add64(uint64(nn), uint64(dn), 0)
	uh, nh := un>>63+int64(du)>>63+int64(uc), nn>>63+int64(dn)>>63+int64(nc)
	return uh < nh || uh == nh && ul < nl
}

// sum128 is a+b as a signed 128-bit integer (high word, low word).
func sum128(a, b int64) (hi int64, lo uint64) {
	lo, carry := bits.Add64(uint64(a), uint64(b), 0)
	return a>>63 + b>>63 + int64(carry), lo
}
