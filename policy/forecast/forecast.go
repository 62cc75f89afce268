// Package forecast predicts a metric's value a short lead ahead (about one
// instance warm-up) so that a policy can scale before demand arrives.
//
// The model is Holt-Winters with a damped trend and an additive season,
// whose amplitude may scale with the level (ScaleSeason); without a season
// it is double exponential smoothing (Holt). Like the rest of package policy
// it is pure: no I/O, no clock reads, no goroutines, no logging. Time always
// comes in as an argument, so the live leader loop and the simulator produce
// the same forecasts from the same inputs.
//
// Observe and Forecast sit on the hot path of policy evaluation: both are
// O(1) and never allocate. Fit (warm start from history), DetectSeason and
// Clone allocate and are meant for the rare moments a model is (re)built.
package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// MaxSlots bounds the number of seasonal components: a 24 h season gets
// slots as fine as one minute, so a sharp ramp at :04 or :34 past the hour
// keeps its shape instead of being smeared over 5 minutes, and a model stays
// below 12 KB encoded (1,440 × 8 bytes of components and a small header).
// Coarser data gets one slot per step (a 5-minute trace, 288 slots).
const MaxSlots = 1440

// DefaultStep is the damping and smoothing unit used when a model was reset
// with no positive step, so that a zero Model is usable rather than dividing
// by zero. One minute is the usual resolution of the metrics Capstan reads.
const DefaultStep = time.Minute

// Params are smoothing constants. Alpha, Beta and Phi are per Model.Step (the
// nominal observation step): an observation that arrives n steps after the
// previous one is treated like n regular steps, so the weight given to it is
// 1-(1-Alpha)^n and the trend is damped by Phi^n. Gamma is per slot's worth
// of observations (see Observe), so its meaning does not change when a 24 h
// season is observed every 10 s instead of every 5 minutes.
type Params struct {
	// Alpha is the level smoothing weight in [0, 1]: higher follows the
	// latest observation more closely and smooths noise less.
	Alpha float64
	// Beta is the trend smoothing weight in [0, 1]: higher reacts to a
	// change of slope sooner but mistakes noise for a slope more often.
	Beta float64
	// Gamma is the seasonal smoothing weight in [0, 1] applied once per
	// slot's worth of observations: higher adapts the daily shape sooner
	// but lets one odd day distort the next.
	Gamma float64
	// Phi is the trend damping per step in [0, 1]: a forecast h steps ahead
	// extrapolates the trend by Phi+Phi²+…+Phi^h steps, never more than
	// Phi/(1-Phi) steps, so a ramp is not extrapolated without bound. 1 is
	// an undamped (linear) trend, 0 ignores the trend.
	Phi float64
}

// DefaultParams returns constants tuned on the recorded traces and on the
// synthetic series in the package tests. Alpha 0.4 smooths sample noise
// without lagging far behind a level change; Beta 0.1 learns a ramp's slope
// within about ten steps yet is not fooled by one noisy sample; Phi 0.9
// damps the trend so that at most 9 steps of it are ever extrapolated (a
// 5-step lead extrapolates 3.7), which keeps a forecast from overshooting
// when a ramp ends; Gamma 0.3 lets the season adapt over a few cycles
// without one odd day rewriting it. Lower Alpha and Beta forecast a stable
// season better but follow non-seasonal changes later.
func DefaultParams() Params {
	return Params{Alpha: 0.4, Beta: 0.1, Gamma: 0.3, Phi: 0.9}
}

// Validate reports whether every constant is within its range. Observe and
// Forecast clamp out-of-range values rather than fail, because they run on
// the hot path; validate once where the parameters are configured.
func (p Params) Validate() error {
	for _, c := range []struct {
		name string
		v    float64
	}{{"alpha", p.Alpha}, {"beta", p.Beta}, {"gamma", p.Gamma}, {"phi", p.Phi}} {
		if !(c.v >= 0 && c.v <= 1) {
			return fmt.Errorf("forecast: %s %v not in [0, 1]: %w", c.name, c.v, ErrParams)
		}
	}
	return nil
}

// Sentinel errors; match them with errors.Is.
var (
	// ErrParams reports a smoothing constant outside [0, 1].
	ErrParams = errors.New("invalid forecast parameters")
	// ErrEncoding reports a truncated or inconsistent model encoding.
	ErrEncoding = errors.New("invalid forecast model encoding")
	// ErrVersion reports a model encoding of a version this code cannot read.
	ErrVersion = errors.New("unknown forecast model encoding version")
)

// clamped returns p with every constant forced into [0, 1]; NaN becomes 0,
// so a bad configuration degrades to "no smoothing of that part" instead of
// poisoning the model with NaN. It is small enough to inline (unit's
// comparisons in this order cost the compiler's budget one less each, 78
// of 80 in all; it was 82): observe clamps at every observation, live and
// in every backtest, and a call cost more than the clamping.
func (p Params) clamped() Params {
	return Params{unit(p.Alpha), unit(p.Beta), unit(p.Gamma), unit(p.Phi)}
}

func unit(x float64) float64 {
	if x > 1 {
		return 1
	}
	if x > 0 {
		return x
	}
	return 0
}

// Model is Holt-Winters with a damped trend and an additive season (which
// may scale with the level: Ref); with no season it is double exponential
// smoothing (Holt). The zero value is a usable Holt model
// with a one-minute step. All state is in exported fields (besides a cache
// derived from Params) so that it can be stored in replicated policy state
// (see AppendBinary); a model restored on another node forecasts exactly as
// the original would.
type Model struct {
	// LastUnixNano is the time of the last observation absorbed. Together
	// with Count == 0 a zero value means "nothing observed yet". Fit sets it
	// one step before the first value, with Count 0, to anchor the initial
	// level and trend it estimated.
	LastUnixNano int64
	// Level is the deseasonalised value at LastUnixNano.
	Level float64
	// Trend is the level's slope per second, so that it means the same
	// whatever the observation step.
	Trend float64
	// Count is the number of observations absorbed since the last Reset.
	Count int
	// Step is the nominal observation step: the unit of Alpha, Beta and Phi.
	// Zero means DefaultStep.
	Step time.Duration
	// Period is the season length; 0 means no season (Holt).
	Period time.Duration
	// Slot is the width of one seasonal slot, Period / len(Season).
	Slot time.Duration
	// Season holds the additive seasonal components, indexed by the slot of
	// the wall-clock time (t mod Period), so that the season stays aligned
	// with the clock across restarts and after a model is restored.
	Season []float64
	// Ref is the level the seasonal components are in units of when the
	// season scales with the level; 0 (the zero value) keeps it additive.
	// With Ref > 0 the seasonal component at t is the interpolated
	// component times Mean/Ref (see scale): a daily shape whose amplitude
	// grows and shrinks with the series' level, as traffic's does, where an
	// additive one keeps the old amplitude after a launch doubled the level
	// and relearns it a share Gamma a day. The caller chooses which by a
	// backtest (ScaleSeason); Reset drops it. float32, like Mean: a ratio
	// of two levels needs no more than 7 digits, and with two float64s a
	// policy's MetricModel would outgrow its allocation size class
	// (policy's TestMetricModelSize).
	Ref float32
	// Mean is the level smoothed over about a season, which a scaled
	// season's factor is read from (Mean/Ref): the daily amplitude follows
	// the day's level, not each sample's.
	Mean float32
	// Week is the weekly adjustment on top of a daily season (see Week):
	// the zero value, none, unless the caller started one (NewWeek). A
	// model without a daily season learns it but does not use it. Reset
	// drops it.
	Week Week

	// logs caches logarithms for the irregular-spacing powers; see logCache.
	logs logCache
}

// logCache holds ln(1-Alpha), ln(1-Beta) and ln(Phi) of the clamped Params
// last used. An observation n steps after the last one needs those raised
// to the power n, and n is rarely a whole number on a live clock (an
// evaluation every minute lands a few milliseconds early or late), so this
// is the common case. x^n = exp(n×ln x); caching the logarithms leaves one
// math.Exp per power, which halves the cost of an irregular Observe. It is
// derived state: never encoded, rebuilt whenever Params change.
type logCache struct {
	p                Params
	ok               bool
	alpha, beta, phi float64
}

// newLogCache returns the cache for clamped p.
func newLogCache(p Params) logCache {
	return logCache{p: p, ok: true, alpha: math.Log(1 - p.Alpha), beta: math.Log(1 - p.Beta), phi: math.Log(p.Phi)}
}

// keepLogs makes the cache hold clamped p's logarithms.
func (m *Model) keepLogs(p Params) {
	if !m.logs.ok || m.logs.p != p {
		m.logs = newLogCache(p)
	}
}

// Reset clears the model and configures its season. The season gets one slot
// per step but at most MaxSlots, so every slot receives observations; a
// period of zero (or less) configures Holt. The Season slice's capacity is
// reused, so resetting a model in place does not allocate once it has held a
// season of that size.
func (m *Model) Reset(period, step time.Duration) {
	if step < 0 {
		step = 0
	}
	season := m.Season[:0]
	var slot time.Duration
	if period > 0 {
		n := MaxSlots
		if step > 0 && period/step < MaxSlots {
			n = max(1, int(period/step))
		}
		if cap(season) < n {
			season = make([]float64, n)
		} else {
			season = season[:n]
			clear(season)
		}
		slot = period / time.Duration(n)
		if slot <= 0 { // period shorter than MaxSlots nanoseconds
			season, slot = season[:1], period
		}
	} else {
		period = 0
	}
	*m = Model{Step: step, Period: period, Slot: slot, Season: season}
}

// empty reports whether nothing has been observed or fitted yet.
func (m *Model) empty() bool { return m.Count == 0 && m.LastUnixNano == 0 }

// stepNanos returns the nominal step in nanoseconds, never zero.
func (m *Model) stepNanos() int64 {
	if m.Step > 0 {
		return int64(m.Step)
	}
	return int64(DefaultStep)
}

// blendOn locates tn between the centres of two neighbouring slots of n,
// each slot nanoseconds wide, over period nanoseconds: the seasonal
// component at tn is Season[i]+w×(Season[j]-Season[i]) for the daily
// season (and the same for the weekly adjustment's hourly slots). Slot
// i = (tn mod period)/slot is the one tn falls in; interpolating towards
// the neighbour keeps a smooth daily shape from turning into a staircase
// whose steps the level and trend would otherwise chase. It returns i < 0
// when there is no (usable) season, and tolerates hand-built or restored
// models whose fields disagree, because an index out of range would panic
// on the hot path. (A method on Model for the season alone would not
// inline and would cost a second call on every forecast.)
func blendOn(tn, period, slot int64, n int) (i, j int, w float64) {
	if period <= 0 || slot <= 0 || n == 0 {
		return -1, -1, 0
	}
	return blendAt(position(tn, period), slot, n)
}

// position returns tn mod period in [0, period), for period > 0: where
// tn falls on the season.
func position(tn, period int64) int64 {
	r := tn % period
	if r < 0 {
		r += period
	}
	return r
}

// within returns (r + d) mod period for r in [0, period) and d ≥ 0,
// without a division when d < period (the common case: two times a lead
// apart on one season), so that a second time's position on the season
// costs an addition, not a second 64-bit division; ok is false (and the
// caller divides) otherwise.
func within(r, d, period int64) (rd int64, ok bool) {
	if d < 0 || d >= period {
		return 0, false
	}
	if d >= period-r { // r + d ≥ period, without overflowing
		return d - (period - r), true
	}
	return r + d, true
}

// positionFrom returns t's position on the season (t mod period, for
// period > 0) given r, the position of an earlier or equal time u: carried
// by within when t is less than a period after u, divided otherwise (t
// before u, or t - u beyond int64 after t wrapped past its end, which
// within refuses as a negative distance).
func positionFrom(r, u, t, period int64) int64 {
	if t >= u {
		if rt, ok := within(r, t-u, period); ok {
			return rt
		}
	}
	return position(t, period)
}

// blendAt is blendOn for r = tn mod period, already worked out (in
// [0, period), with slot and n positive).
func blendAt(r, slot int64, n int) (i, j int, w float64) {
	pos := float64(r)/float64(slot) + 0.5 // position after the centre of the slot before
	i = int(pos) - 1                      // pos > 0, so int truncates like floor
	w = pos - 1 - float64(i)
	switch {
	case i < 0: // before the first slot's centre: between the last slot and the first
		i = n - 1
	case i >= n-1: // after the last slot's centre (or in the remainder of an uneven division)
		i, w = n-1, min(w, 1)
	}
	j = i + 1
	if j == n {
		j = 0
	}
	return i, j, w
}

// Bounds of the factor a scaled season's components are multiplied by
// (Mean/Ref): a level that fell to nothing or rose tenfold since the
// season was seeded says more about an outage or a new regime than about
// the daily amplitude, and a factor near 0 would divide the seasonal
// error into huge components. A model is seeded again at every rebuild
// (at most the history window apart), so the factor is a change within
// days, where four times covers any launch the held-out board has.
const (
	minScale = 0.25
	maxScale = 4
)

// scale is the factor the seasonal components are multiplied by: 1 for
// an additive season, Mean/Ref within [minScale, maxScale] for a scaled
// one.
func (m *Model) scale() float64 {
	if m.Ref <= 0 {
		return 1
	}
	return min(max(float64(m.Mean)/float64(m.Ref), minScale), maxScale)
}

// SeasonScale is the factor a season that scales with the level is
// multiplied by now (Mean/Ref within [0.25, 4], as the forecasts take
// it), so that a decision can say how far the daily shape has grown or
// shrunk from the level it is measured in (Ref: where it was seeded, or
// the chosen periods' mean level where ScaleFrom made it scale); 0 for an
// additive season or none.
func (m *Model) SeasonScale() float64 {
	if m.Ref <= 0 {
		return 0
	}
	return m.scale()
}

// ScaleSeason makes m's season scale with the level from now on, in
// units of the current level (Ref = Level), and reports whether it could:
// a model without a season keeps an additive one, and so does one whose
// level is not positive or whose seasonal low point lies below zero (up
// to rounding), since a shape that takes a demand below zero is not one
// a level carries (a series that swings around 0 has no amplitude to
// scale). Call it after Seed (the seeded components are then exact at the
// seeded level) and before Absorb.
func (m *Model) ScaleSeason() bool {
	if len(m.Season) == 0 || !(m.Level > 0) || !finite(m.Level) || m.Level+slices.Min(m.Season) < -1e-9*m.Level {
		return false
	}
	m.Ref = float32(m.Level)
	if !(m.Ref > 0) || math.IsInf(float64(m.Ref), 0) { // below or beyond float32
		m.Ref = 0
		return false
	}
	m.Mean = m.Ref
	return true
}

// SeasonRise returns how much higher the season (of whatever period) is
// at tn than at ref (Unix nanoseconds): the difference of the seasonal components
// Forecast adds at the two times, scaled when the season scales with the
// level, without the weekly adjustment (whose hourly slots change little
// between two nearby times); 0 when it is not higher or there is no
// season. It is what the model's shape alone adds between two times a
// step or so apart, for a fraction of the cost of two forecasts.
//
// When ref is at most a period after tn (the usual call: the decided time
// a step after the ready sample), ref's position on the season is tn's
// plus the distance, so only tn's needs a 64-bit division.
func (m *Model) SeasonRise(tn, ref int64) float64 {
	a, b, ok := m.seasonPair(tn, ref)
	if !ok {
		return 0
	}
	if d := a - b; d > 0 {
		return d * m.scale() // the factor is positive: only a rise needs it
	}
	return 0
}

// seasonPair returns the daily season's interpolated components (not
// scaled, without the weekly adjustment) at tn and at ref, and false
// when there is no (usable) season.
func (m *Model) seasonPair(tn, ref int64) (a, b float64, ok bool) {
	period, slot, n := int64(m.Period), int64(m.Slot), len(m.Season)
	if period <= 0 || slot <= 0 || n == 0 {
		return 0, 0, false
	}
	r := position(tn, period)
	i, j, w := blendAt(r, slot, n)
	a = m.Season[i] + w*(m.Season[j]-m.Season[i])
	i, j, w = blendAt(positionFrom(r, tn, ref, period), slot, n)
	return a, m.Season[i] + w*(m.Season[j]-m.Season[i]), true
}

// ForecastAheadRise returns ForecastAhead(h) and SeasonRise(ready, the
// time h is for), ready in Unix nanoseconds, with both results bit for
// bit what the two calls return: the forecast's seasonal component is
// read once for both, and the two positions on the season take one
// 64-bit division. A decision forecasts a step and a lead ahead of every
// sample and raises it by the season's rise at the first sample its
// capacity can be ready for (policy's raiseToReady).
func (m *Model) ForecastAheadRise(h Horizon, ready int64) (f, rise float64) {
	tn := m.LastUnixNano + h.ahead
	a, b, ok := m.seasonPair(ready, tn)
	if !ok {
		return m.ForecastAhead(h), 0
	}
	k := m.scale()
	if d := a - b; d > 0 {
		rise = d * k
	}
	if m.empty() {
		return math.NaN(), rise
	}
	return m.Level + m.Trend*h.trend + (b*k + m.weekly(tn)), rise
}

// seasonScaled returns the seasonal component at tn, with the weekly
// adjustment when it is active (0 without either), given the
// components' factor k (scale): worked out by the caller, once for many
// points in MaxForecast. (A seasonAt wrapping it with scale was one
// call more on every forecast: its cost is just past the inliner's
// budget.)
func (m *Model) seasonScaled(tn int64, k float64) float64 {
	wk := m.weekly(tn)
	i, j, w := blendOn(tn, int64(m.Period), int64(m.Slot), len(m.Season))
	if i < 0 {
		return wk
	}
	return (m.Season[i]+w*(m.Season[j]-m.Season[i]))*k + wk
}

// weekly returns the weekly adjustment at tn: only a model with a daily
// season takes it, because it adds to that season what differs from day to
// day of the week (see Week).
func (m *Model) weekly(tn int64) float64 {
	if !m.Week.active || m.Period != weekPeriod/7 {
		return 0
	}
	return m.Week.deviation(tn) - m.Week.Held
}

// dampedSteps returns Phi+Phi²+…+Phi^n for a real n ≥ 0, given phiN = Phi^n:
// the number of steps of trend a damped forecast n steps ahead extrapolates.
func dampedSteps(phi, phiN, n float64) float64 {
	if phi >= 1-1e-9 {
		return n
	}
	return phi * (1 - phiN) / (1 - phi)
}

// Observe absorbs the value y observed at t. Values at or before the last
// observation and non-finite values are ignored, so a replayed or
// out-of-order sample cannot corrupt the model.
//
// Spacing may be irregular: when the observation comes n (real-valued) steps
// after the last one, the level and trend weights become 1-(1-Alpha)^n and
// 1-(1-Beta)^n and the trend is damped by Phi^n, as if n regular steps had
// passed. The seasonal error is shared between the two slots whose centres
// t lies between, with total weight Gamma×Step/Slot capped at Gamma, because
// a slot receives Slot/Step observations per cycle.
func (m *Model) Observe(t time.Time, y float64, p Params) {
	m.observe(t.UnixNano(), y, p, 0)
}

// ObserveNanos is Observe at tn Unix nanoseconds followed by
// ForecastAhead(Horizon{}), the model's value at its last observation (tn,
// when y was absorbed): the in-sample fit a residual is taken from. It
// returns exactly what the two calls return, but looks the season up once,
// not twice: a backtest and the live forecaster do both for every value.
//
// errVar is the variance of the caller's recent forecast errors (the
// square of their spread): the season's update learns from y with its
// one-step error clipped to huberK spreads (cleaned), so that a burst is
// not learned into the daily shape; 0 cleans nothing, as Observe. The
// caller keeps it (a policy's forecaster from its scored forecasts,
// MetricModel.Spread), so that the model's own state and encoding carry
// no scale. It is the variance, not the spread, because most
// observations lie within the bound, and that is decided without the
// square root the spread would cost on every one.
func (m *Model) ObserveNanos(tn int64, y float64, p Params, errVar float64) (fitted float64) {
	i, j, w, _, ok := m.observe(tn, y, p, errVar)
	if !ok {
		return m.ForecastAhead(Horizon{})
	}
	return m.fittedAt(tn, i, j, w)
}

// fittedAt is ForecastAhead(Horizon{}) right after observe absorbed a
// value at tn with season slots i, j and weight w: the last observation
// is tn, so seasonScaled(tn, …) interpolates with the same i, j and w,
// over the season as observe has just updated it.
func (m *Model) fittedAt(tn int64, i, j int, w float64) float64 {
	var s float64
	if i >= 0 {
		s = (m.Season[i] + w*(m.Season[j]-m.Season[i])) * m.scale()
	}
	return m.Level + m.Trend*Horizon{}.trend + s + m.weekly(tn)
}

// ObserveAhead is ObserveNanos followed by ForecastAhead(h), the forecast
// h ahead of tn: it returns exactly what the two calls return, but finds
// the forecast's time on the season from tn's, without a second 64-bit
// division. A policy's forecaster does both for every value it learns,
// live and in its backtests. errVar cleans the season's update as
// ObserveNanos's does.
func (m *Model) ObserveAhead(tn int64, y float64, p Params, h Horizon, errVar float64) (fitted, ahead float64) {
	i, j, w, r, ok := m.observe(tn, y, p, errVar)
	if !ok {
		return m.ForecastAhead(Horizon{}), m.ForecastAhead(h)
	}
	// fittedAt, spelled out with the factor worked out once for both
	// (as a call it was 3.4 M of a replay's instructions).
	k := m.scale()
	var s float64
	if i >= 0 {
		s = (m.Season[i] + w*(m.Season[j]-m.Season[i])) * k
	}
	fitted = m.Level + m.Trend*Horizon{}.trend + s + m.weekly(tn)
	ta := tn + h.ahead
	s = m.weekly(ta)
	if r >= 0 {
		i, j, w = blendAt(positionFrom(r, tn, ta, int64(m.Period)), int64(m.Slot), len(m.Season))
		s = (m.Season[i]+w*(m.Season[j]-m.Season[i]))*k + s // seasonScaled's sum
	}
	return fitted, m.Level + m.Trend*h.trend + s
}

// observe is Observe at tn Unix nanoseconds, its season's update cleaned
// by the error variance errVar (see cleaned). ok reports that y was
// absorbed and the last observation is now tn; i, j and w are then tn's
// season slots and weight (blendOn's), and r tn's position on the season
// (tn mod Period; -1 and i < 0 without a usable season).
func (m *Model) observe(tn int64, y float64, p Params, errVar float64) (i, j int, w float64, r int64, ok bool) {
	if !finite(y) {
		return 0, 0, 0, -1, false
	}
	i, j, r = -1, -1, -1
	if period, slot, n := int64(m.Period), int64(m.Slot), len(m.Season); period > 0 && slot > 0 && n > 0 {
		r = position(tn, period)
		i, j, w = blendAt(r, slot, n)
	}
	// k is the components' factor at the level before y. An additive
	// season's is 1, and x×1 and x/1 are x exactly, so only a scaled
	// season multiplies and divides by it.
	var s, k float64
	if i >= 0 {
		s = m.Season[i] + w*(m.Season[j]-m.Season[i])
		if m.Ref > 0 {
			k = m.scale()
			s *= k
		}
	}
	if m.empty() {
		m.Level, m.Trend = y-s, 0
		m.LastUnixNano, m.Count = tn, 1
		return i, j, w, r, true
	}
	if tn <= m.LastUnixNano {
		return 0, 0, 0, -1, false
	}
	p = p.clamped()
	step := m.stepNanos()
	gap := tn - m.LastUnixNano
	if gap < 0 { // overflowed: a restored model from the far past
		gap = math.MaxInt64
	}
	stepSec := float64(step) / 1e9
	gapSec := stepSec // float64(gap) / 1e9 at the model's step: one division fewer
	a, b, phiN, steps := p.Alpha, p.Beta, p.Phi, p.Phi
	if gap != step {
		gapSec = float64(gap) / 1e9
		// x^n = exp(n×ln x), with ln x cached. Only this branch checks the
		// cache (Forecast works ln Phi out itself when it is stale), so a
		// series observed at its step never compares four parameters;
		// Absorb fills it for those.
		m.keepLogs(p)
		n := float64(gap) / float64(step)
		a = 1 - math.Exp(n*m.logs.alpha)
		b = 1 - math.Exp(n*m.logs.beta)
		phiN = math.Exp(n * m.logs.phi)
		steps = dampedSteps(p.Phi, phiN, n)
	}
	prev := m.Level
	// The weekly adjustment learns from the observation itself and the
	// share the level takes in; it never feeds back into level or season.
	if m.Week.Slots != nil {
		m.Week.learn(tn, y)
		if m.Week.active {
			m.Week.follow(tn, a)
		}
	}
	pred := prev + m.Trend*stepSec*steps // the level expected at tn
	m.Level = a*(y-s) + (1-a)*pred
	m.Trend = b*(m.Level-prev)/gapSec + (1-b)*phiN*m.Trend
	if i >= 0 {
		g := p.Gamma
		if m.Slot > time.Duration(step) {
			g *= float64(step) / float64(m.Slot)
		}
		// The season learns from y cleaned against the one-step
		// prediction (cleaned), with the level it would have taken from
		// that: a burst that is not in the season at tn moves the slots
		// by a bounded amount, while the level still follows y itself.
		// Share the seasonal error between the two slots tn lies between,
		// in proportion to their weight in s.
		// A scaled season learns in its own units (Ref's): the error
		// over the factor it was scaled by.
		level := m.Level
		if yc := cleaned(y, pred+s, errVar); yc != y {
			y, level = yc, a*(yc-s)+(1-a)*pred
		}
		e := g * (y - level - s)
		if m.Ref > 0 {
			e /= k
		}
		m.Season[i] += (1 - w) * e
		m.Season[j] += w * e
	}
	if m.Ref > 0 {
		// Weighted by the share of a season the gap is, so the mean
		// forgets at the same pace whatever the step: after a launch
		// doubled the level, the amplitude follows 63 % of the way in a
		// season. Per sample (the level itself) it followed the level's
		// noise, and a fast level's leftover of the daily shape raised
		// the amplitude at each peak further (BENCHMARKS.md, issue 9
		// "a daily shape that scales with the level").
		m.Mean += float32(min(1, float64(gap)/float64(m.Period)) * (m.Level - float64(m.Mean)))
	}
	m.LastUnixNano = tn
	m.Count++
	return i, j, w, r, true
}

// huberK is the bound, in spreads of the forecast's error, of the error a
// season's update learns from (Huber's k, as in Gelper, Fried & Croux
// 2010, "Robust forecasting with exponential and Holt-Winters
// smoothing"): within it an observation is taken as it is, beyond it at
// the bound. Two spreads pass about 95 % of normally distributed errors.
const huberK = 2

// insideBound is huberK squared less a relative margin of 1e-9: an error
// whose square is at most insideBound times the variance is within
// huberK spreads whatever the rounding of the square, the product and
// the square root (each within 1.2e-16), for any variance from 1e-290 to
// 1e290; cleaned takes it as it is without working out the spread.
const insideBound = huberK * huberK * (1 - 1e-9)

// cleaned returns y cleaned against pred, the one-step prediction at its
// time (level, trend and season): pred plus the error clipped to
// ±huberK×spread (Huber's psi), spread the square root of errVar, so
// that one burst moves the season by a bounded amount while a change
// that lasts moves it step after step and day after day. A variance that
// is not positive cleans nothing.
//
// A burst is not in the season at its time, so its error is large; a
// daily rise is, so its error is small, and it is learned as before.
func cleaned(y, pred, errVar float64) float64 {
	if !(errVar > 0) {
		return y
	}
	r := y - pred
	// Most errors lie well within the bound: that is decided on the
	// squares, without the square root. The margin (insideBound) is far
	// wider than the squares' rounding, so an error this side of it is
	// within huberK spreads exactly as the comparison below would find,
	// and the result is the same bit for bit.
	if r*r <= insideBound*errVar {
		return y
	}
	d := huberK * math.Sqrt(errVar)
	switch {
	case r > d:
		return pred + d
	case r < -d:
		return pred - d
	}
	return y
}

// Forecast returns the value expected at t, usually the last observation
// plus the lead: level, plus the damped trend over the time since the last
// observation, plus the seasonal component at t (interpolated between the
// centres of the slots around t). A t at or before the
// last observation gets no trend. It returns NaN before any observation, so a
// caller cannot mistake "no forecast" for a forecast of zero.
func (m *Model) Forecast(t time.Time, p Params) float64 {
	if m.empty() {
		return math.NaN()
	}
	tn := t.UnixNano()
	f := m.Level
	if gap := tn - m.LastUnixNano; gap > 0 && m.Trend != 0 {
		phi := unit(p.Phi)
		step := m.stepNanos()
		n := float64(gap) / float64(step)
		// Forecast only reads the cache, so that concurrent forecasts from
		// one model are safe; Observe keeps it current.
		lnPhi := m.logs.phi
		if !m.logs.ok || m.logs.p.Phi != phi {
			lnPhi = math.Log(phi)
		}
		f += m.Trend * float64(step) / 1e9 * dampedSteps(phi, math.Exp(n*lnPhi), n)
	}
	return f + m.seasonScaled(tn, m.scale())
}

// MaxForecast returns the highest of the forecasts for from, from + every,
// from + 2×every, … strictly before to, each equal to Forecast at its time
// (up to rounding): what capacity that must last until to has to cover on
// the way, not only at the end. The damped trend's power is carried from
// one point to the next, so it costs two math.Exp however many points
// there are. It returns NaN before any observation and when there is no
// point (every not positive, or from not before to).
func (m *Model) MaxForecast(from, to time.Time, every time.Duration, p Params) float64 {
	tn, end := from.UnixNano(), to.UnixNano()
	if m.empty() || every <= 0 || tn >= end {
		return math.NaN()
	}
	phi := unit(p.Phi)
	step := m.stepNanos()
	lnPhi := m.logs.phi
	if !m.logs.ok || m.logs.p.Phi != phi {
		lnPhi = math.Log(phi)
	}
	trendPerStep := m.Trend * float64(step) / 1e9
	k := m.scale()
	hi := math.Inf(-1)
	// pow is Phi^n at the current point once a point lies after the last
	// observation (every later one does too); mul is Phi^(every/step).
	pow, mul, ahead := 0.0, 0.0, false
	// r is the point's position on the season (tn mod Period), carried
	// from one point to the next (positionFrom), so the walk divides
	// once. s is seasonScaled's sum (the same two terms: a sum's order
	// does not change its bits).
	period, slot, slots := int64(m.Period), int64(m.Slot), len(m.Season)
	seasonal := period > 0 && slot > 0 && slots > 0
	var r int64
	if seasonal {
		r = position(tn, period)
	}
	prev := tn // the point before (the first is its own)
	for ; tn < end; tn += int64(every) {
		f := m.Level
		if gap := tn - m.LastUnixNano; gap > 0 && m.Trend != 0 {
			n := float64(gap) / float64(step)
			if !ahead {
				pow, mul, ahead = math.Exp(n*lnPhi), math.Exp(float64(every)/float64(step)*lnPhi), true
			} else {
				pow *= mul
			}
			f += trendPerStep * dampedSteps(phi, pow, n)
		}
		s := m.weekly(tn)
		if seasonal {
			r, prev = positionFrom(r, prev, tn, period), tn
			i, j, w := blendAt(r, slot, slots)
			s += (m.Season[i] + w*(m.Season[j]-m.Season[i])) * k
		}
		hi = max(hi, f+s)
	}
	return hi
}

// Horizon is a forecast distance with its damped-trend multiplier worked
// out once, for callers that forecast the same distance ahead of every
// observation (a backtest): ForecastAhead then needs no math.Exp.
type Horizon struct {
	ahead int64   // nanoseconds after the last observation
	trend float64 // seconds of trend extrapolated over ahead
}

// Horizon returns the horizon ahead of the last observation for m's step
// and p's damping. It is valid for any model with the same Step.
func (m *Model) Horizon(ahead time.Duration, p Params) Horizon {
	if ahead <= 0 {
		return Horizon{}
	}
	phi := unit(p.Phi)
	step := m.stepNanos()
	n := float64(ahead) / float64(step)
	return Horizon{ahead: int64(ahead), trend: float64(step) / 1e9 * dampedSteps(phi, math.Pow(phi, n), n)}
}

// ForecastAhead is Forecast at the last observation's time plus h.ahead,
// with h made by Horizon for the same step and damping; NaN before any
// observation.
func (m *Model) ForecastAhead(h Horizon) float64 {
	if m.empty() {
		return math.NaN()
	}
	return m.Level + m.Trend*h.trend + m.seasonScaled(m.LastUnixNano+h.ahead, m.scale())
}

// Clone returns a deep copy, so that a what-if forecast (or a simulator run)
// can advance a copy without touching the original's Season.
func (m Model) Clone() Model {
	if m.Season != nil {
		m.Season = append([]float64(nil), m.Season...)
	}
	m.Week = m.Week.Clone()
	return m
}

// Fit warm-starts m from history: values[i] was observed at start+i×step
// (NaN marks a missing value). It resets m to the given season and, when the
// history holds at least one full season, initialises the level, trend and
// season the classic Holt-Winters way from the first (up to two) seasons:
// the trend from the change between the two seasons, the seasonal components
// from each slot's average deviation from that trend line. It then absorbs
// every value, so the model ends in the same state as if it had been running
// all along. A non-positive step is taken as DefaultStep.
func Fit(m *Model, values []float64, start time.Time, step, period time.Duration, p Params) {
	m.Seed(values, start, step, period)
	m.Absorb(values, start, p)
}

// Seed is the first half of Fit: it resets m to the given season and
// initialises the level, trend and season from values as Fit does, but
// absorbs none of them. The result depends on values, start, step and
// period only, not on the smoothing parameters, so backtests of several
// parameter sets over one history can seed one model once and start each
// from a copy of it (CopyFrom), then Absorb.
func (m *Model) Seed(values []float64, start time.Time, step, period time.Duration) {
	m.Reset(period, step)
	if len(m.Season) > 0 {
		m.initSeason(values, start, time.Duration(m.stepNanos()))
	}
}

// Absorb is the second half of Fit: it observes values[i] at start plus i
// of m's steps (DefaultStep when m has none), as Fit does after Seed.
//
// It also fills the logarithm cache for p, which observations at the
// model's step never do: the forecasts of a model built by Fit or Absorb
// then read ln Phi from it instead of working out a math.Log each (a
// policy's guard and its forecasts between samples).
func (m *Model) Absorb(values []float64, start time.Time, p Params) {
	m.keepLogs(p.clamped())
	step := m.stepNanos()
	tn := start.UnixNano()
	for _, v := range values {
		m.observe(tn, v, p, 0)
		tn += step
	}
}

// CopyFrom makes m a deep copy of src, reusing m's Season buffer when it
// is large enough (Clone allocates a new one).
func (m *Model) CopyFrom(src *Model) {
	season := append(m.Season[:0], src.Season...)
	week := m.Week.Slots
	*m = *src
	m.Season = season
	if src.Week.Slots != nil {
		m.Week.Slots = append(week[:0], src.Week.Slots...)
	}
}

// interpolateUnobserved gives each slot that no seeding value fell on
// (weight 0) the value on the straight line between the nearest observed
// slots before and after it, around the season's wrap. At the data's own
// resolution a slot is one sample a day, so with one sample in twenty
// missing, a few slots of a 1-minute daily season have no value on either
// seeding day; left at 0 they put the whole distance between the level and
// that minute's demand into its forecasts (a forecast at the daily mean in
// the night), which the slot then unlearns a third of the way a day, and
// the skill of every forecast meanwhile (BENCHMARKS.md, issue 9 "missing
// rows"). At least one slot is observed.
func interpolateUnobserved(season, weights []float64) {
	n := len(season)
	first := slices.IndexFunc(weights, func(w float64) bool { return w > 0 })
	if first < 0 || n == 0 {
		return
	}
	// Walk once around from the first observed slot: each run of
	// unobserved slots lies between prev and the next observed one.
	prev := first
	for k := 1; k <= n; k++ {
		i := (first + k) % n
		if weights[i] <= 0 && k < n {
			continue
		}
		gap := k - (prev-first+n)%n // slots from prev to i
		for g := 1; g < gap; g++ {
			season[(prev+g)%n] = season[prev] + (season[i]-season[prev])*float64(g)/float64(gap)
		}
		prev = i
	}
}

// initSeason sets Level, Trend and Season from the first (up to two) full
// seasons of values and anchors them one step before start; it leaves m
// untouched when that history has no data. Every estimate is built to
// tolerate gaps: the trend compares only positions present in both seasons,
// and the level is the mean of the slot averages rather than of the values,
// so a missing afternoon does not read as a drop in level.
func (m *Model) initSeason(values []float64, start time.Time, step time.Duration) {
	per := max(1, int(m.Period/step))
	cycles := min(2, len(values)/per)
	if cycles == 0 {
		return
	}
	var trend float64 // per second
	if cycles == 2 {
		var sum float64
		n := 0
		for i, v := range values[:per] {
			if w := values[i+per]; finite(v) && finite(w) {
				sum += w - v
				n++
			}
		}
		if n > 0 {
			trend = sum / float64(n) / (float64(per) * step.Seconds())
		}
	}
	// Average each slot's detrended values, weighted like Observe's update so
	// that each component estimates the season at its slot's centre.
	sums := make([]float64, len(m.Season))
	weights := make([]float64, len(m.Season))
	startNs := start.UnixNano()
	for i, v := range values[:cycles*per] {
		if !finite(v) {
			continue
		}
		d := v - trend*float64(i)*step.Seconds()
		si, sj, w := blendOn(startNs+int64(i)*int64(step), int64(m.Period), int64(m.Slot), len(m.Season))
		sums[si] += (1 - w) * d
		weights[si] += 1 - w
		sums[sj] += w * d
		weights[sj] += w
	}
	var level float64
	filled := 0
	for i := range sums {
		if weights[i] > 0 {
			sums[i] /= weights[i]
			level += sums[i]
			filled++
		}
	}
	if filled == 0 {
		return
	}
	// Additive components sum to zero, or the level absorbs the offset and
	// the two drift against each other.
	level /= float64(filled)
	for i := range m.Season {
		if weights[i] > 0 {
			m.Season[i] = sums[i] - level
		}
	}
	interpolateUnobserved(m.Season, weights)
	m.Trend = trend
	m.Level = level - trend*step.Seconds()
	m.LastUnixNano = startNs - int64(step)
	if m.LastUnixNano == 0 {
		m.LastUnixNano = -1 // 0 with Count 0 would read as "nothing observed"
	}
}
