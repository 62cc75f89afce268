package policy

import (
	"math"
	"time"
)

// The forecast's cost bound (Predictive.MaxExtra). A trusted forecast that
// raises the recommendation buys capacity the reactive rule did not ask
// for, and the stabilization window holds it after. Issue 9 promises fewer
// under-provisioned samples at no extra cost, so the instance-time the
// forecast holds above what the reactive rule alone would hold is kept in
// an account (ExtraAccount), over a trailing week, and bounded: once it is
// more than MaxExtra of the rest, a trusted forecast above the
// recommendation does not raise it until the spending has aged out.
//
// What the reactive rule alone would hold is a shadow size, kept beside
// the group's: it follows the reactive proposal up, holds on stale data,
// on a scale-in holds at the top of its own stabilization window (the
// reactive proposals only), and holds wherever the decision was held by a
// cooldown or anti-flapping. The forecast is charged at most what it asks
// to hold itself (its raise, or the window's top up to the current size),
// so holds the reactive rule would make too are not its cost. Measured on
// the board (BENCHMARKS.md, issue 9, "a budget for the forecast's
// capacity", variant q05w): at 5 % over a week asg_cpu and elb pass their
// instance-hours bar, the held-out board misses 39 rows instead of 61; a
// day's account spent the nyc-taxi example's budget on the wrong days.
const (
	// extraHorizon is the time constant of the account's exponential
	// decay: about a trailing week, so a forecast whose need varies over
	// the week spends its budget on the days that need it.
	extraHorizon = 7 * 24 * time.Hour
	// maxExtraCharge is the longest interval between two evaluations
	// charged at the size held over it: a longer gap (a leader change, an
	// outage) is charged as this, not as hours the policy did not decide.
	maxExtraCharge = time.Hour
)

// charge adds the time since the last charge (at most maxExtraCharge) to
// the account, at the size the group held (current) and at the excess the
// last decision charged the forecast with, both decayed.
//
// The interval is the evaluation's instant's sub (integer nanoseconds in a
// replay): time.Time's Sub was about half of the bound's cost per
// evaluation (BENCHMARKS, "Speed, issue 9 round ten"). sub is exactly
// now.Sub(a.At), saturated with its sign, so dt > 0 is now.After(a.At).
func (a *ExtraAccount) charge(at *instant, current int) {
	var dt time.Duration
	if !a.At.IsZero() {
		dt = at.sub(a.At)
	}
	if dt <= 0 {
		a.At = at.t
		return
	}
	dt = min(dt, maxExtraCharge)
	w, ok := tableDecay(dt)
	if !ok {
		w = decayExp(dt)
	}
	h := dt.Hours()
	a.Held = a.Held*w + float64(current)*h
	a.Extra = a.Extra*w + float64(a.Excess)*h
	a.At = at.t
}

// decayUnit is the resolution of decayTable: a replay's evaluations are a
// whole number of seconds apart (its evaluation interval), and so is the
// cap, maxExtraCharge.
const decayUnit = time.Second

// decayTable holds the account's decay factor over every whole number of
// seconds up to maxExtraCharge (3,601 factors, 28 KB), each worked out by
// math.Exp as decayExp does, once, when the package is loaded; it is never
// written after. math.Exp was about a twentieth of a replay's CPU time
// (its polynomial is a chain of some twenty dependent multiplications
// and additions) for one interval, the evaluation interval, at nearly
// every evaluation (BENCHMARKS, "Speed, issue 9 round twelve"). A cache
// of the last interval would need state that lives across evaluations,
// and the only such state, the account, is replicated.
var decayTable = newDecayTable()

// newDecayTable works out decayTable.
func newDecayTable() *[maxExtraCharge/decayUnit + 1]float64 {
	var t [maxExtraCharge/decayUnit + 1]float64
	for i := range t {
		t[i] = decayExp(time.Duration(i) * decayUnit)
	}
	return &t
}

// tableDecay is decayExp(dt) read from decayTable, bit for bit the same,
// and false when the table does not hold it (dt not a whole number of
// seconds in [0, maxExtraCharge]). It inlines into charge, where a call
// cost about 28 instructions an evaluation.
func tableDecay(dt time.Duration) (float64, bool) {
	if dt%decayUnit != 0 || uint64(dt) > uint64(maxExtraCharge) {
		return 0, false
	}
	return decayTable[dt/decayUnit], true
}

// decayExp is the exponential decay with the time constant extraHorizon
// over dt.
func decayExp(dt time.Duration) float64 {
	return math.Exp(-float64(dt) / float64(extraHorizon))
}

// spent reports whether the forecast's extra instance-time is more than
// share of the rest, and that share (Extra over Held − Extra; 0 before
// anything is held).
func (a *ExtraAccount) spent(share float64) (float64, bool) {
	base := a.Held - a.Extra
	if !(base > 0) {
		return 0, false
	}
	used := a.Extra / base
	return used, used > share
}

// follow moves the shadow to the size the reactive rule alone would hold
// now and returns it: the reactive proposal (reactive), held on stale data
// (anyFresh false, or a stale metric when it would shrink), held at the top
// of its own window on a scale-in, and held where this decision's pacing
// held the group (bound LimitCooldown, or damped by anti-flapping). Its
// first size is the group's (current).
func (a *ExtraAccount) follow(reactive int, anyFresh, anyStale bool, current int, bound Limit, damped bool) int {
	prev := a.Shadow
	if prev == 0 {
		prev = current
	}
	to := reactive
	if !anyFresh || (anyStale && to < prev) {
		to = prev
	}
	if to < prev {
		if q := a.Recommendations; len(q) > 0 && q[0].Size > to {
			to = min(q[0].Size, prev)
		}
		if bound == LimitCooldown || damped {
			to = prev
		}
	}
	a.Shadow = to
	return to
}

// excess is what the forecast is charged from this decision on: the
// decided size (desired) above the shadow, capped by what the forecast
// asks to hold itself, its proposal when it raised the recommendation
// (raised) or the stabilization window's top (windowTop) up to the
// current size, and at least what a hold on stale data keeps of the last
// decision's excess (kept, 0 on fresh data), up to the decided size.
//
// Why kept: on data coarser than stale_after the group holds on stale
// data from a few minutes after each sample until the next one, and so
// does the shadow; capacity the forecast bought at the sample stays
// bought until then, but its window entry ages out of the stabilization
// window long before (5 minutes against a 30-minute or hourly step).
// Charged only while in the window, the forecast's extra was charged for
// a twelfth of an hourly step, and on hourly data the forecast run held
// up to 17 % more instance-hours than prediction off under the 5 % bound
// (BENCHMARKS.md, issue 9, "the cost bound on coarse data").
func excess(desired, shadow, predictive int, raised bool, windowTop, current, kept int) int {
	asked := 0
	if raised {
		asked = predictive
	}
	asked = max(asked, min(windowTop, current))
	return max(0, min(desired, asked)-shadow, min(kept, desired-shadow))
}
