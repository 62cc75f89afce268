package policy

import (
	"math"
	"slices"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// seasonRecheck is how often season detection reruns for `season: auto`.
// Detection reads the whole history window, so it runs rarely; a daily or
// weekly cycle does not appear or vanish within an hour.
const seasonRecheck = time.Hour

// rejectedSeasonRecheck is how long a trend-only model that the backtest
// chose over the detected season stands before the backtest weighs that
// season again (a retune that falls due, or a change in what detection
// finds, rebuilds sooner). Detection and the backtest ask different
// questions (is there a cycle? does modelling it forecast better at the
// lead?) and on noisy series such as tweet volumes they disagree for weeks;
// rebuilding at every hourly check then replays the whole history each hour,
// half of such a replay's CPU, for a verdict that an hour's new samples
// rarely change. A quarter of a day keeps the fresh backtest scores a
// rebuild brings (measured from 3 to 12 hours alike; a whole day lost
// quality: BENCHMARKS.md, issue 9 "rebuilds").
const rejectedSeasonRecheck = 6 * seasonRecheck

// minForecastObservations is how many observations a model needs before its
// forecast is trusted: level and trend need at least two, and a third keeps a
// single noisy pair from setting the trend.
const minForecastObservations = 3

// Forecast skill: each forecast is scored against the observation that
// arrives at its target time, and so is persistence (the value observed
// when the forecast was made). Forecasts act only while their exponentially
// weighted mean squared error is below persistence's: on a signal the model
// cannot predict, max(reactive, predictive) would only add the noise of the
// forecast to the bill.
const (
	// skillWeight is the weight of the newest score: about the last 100 forecasts count.
	skillWeight = 0.01
	// minScoredForecasts is how many scores a model needs before it is trusted.
	minScoredForecasts = 10
	// maxPending bounds the forecasts in flight per metric.
	maxPending = 32
	// maxScored caps the score count so it never overflows.
	maxScored = 1 << 30
	// holtWarmup is how many values a trend-only model absorbs before its
	// forecasts are scored in a backtest.
	holtWarmup = 10
)

// Skill by the time of day. The recent skill above remembers about the
// last 100 forecasts: on 1-minute data, the last hour and a half. On a
// series whose predictability changes over the day (quiet, noisy nights
// and structured days) it measures the night when the morning rise
// comes, and the rise arrives untrusted. So a model with a season also
// scores its forecasts per slot of the season (TimeOfDaySlots a period),
// by the time they were for, and a forecast is trusted when either the
// recent skill or its target time's slot skill is above 0: "trust the
// forecast at 08:00 if it beat persistence at 08:00 on earlier days".
// Measured against the slot skill alone and against both at once
// (BENCHMARKS.md, issue 9: trust by the time of day).
const (
	// slotDays is how many periods (days, for a daily season) a slot's
	// skill remembers: each of a slot's first slotDays periods' scores
	// count alike (a running mean), later ones with the weight of one
	// period's scores in slotDays, so every day counts about the same
	// however many forecasts a day a slot scores. A week, so that each
	// day of the week has its say.
	slotDays = 7
	// slotMinDays is how many periods' worth of scores a slot needs before
	// its skill speaks: one period is one morning, which says little.
	slotMinDays = 2
	// maxSlotScored caps a slot's score count (its encoding stays three
	// bytes); past slotDays periods' worth the count only gates.
	maxSlotScored = 1<<16 - 1
)

// slotOf returns the time-of-day slot of tn (Unix nanoseconds, not
// before 1970) in the season c was worked out for, -1 without one. The
// forecasts scored one after the other are for times a data step or so
// apart, so most fall in the slot of the one before: that slot's span is
// kept (slotLo, slotHi), and a time within it costs two comparisons
// instead of a 64-bit division.
func (c *horizonCache) slotOf(tn int64) int {
	switch {
	case c.slotWidth <= 0 || tn < 0:
		return -1
	case tn >= c.slotLo && tn < c.slotHi:
		return c.slotAt
	case c.slotExact: // one division, not two
		q := tn / c.slotWidth
		// A span that overflows int64 is not kept (slotHi < slotLo).
		c.slotLo, c.slotHi, c.slotAt = q*c.slotWidth, q*c.slotWidth+c.slotWidth, int(q%TimeOfDaySlots)
		return c.slotAt
	}
	return min(int(tn%int64(c.period)/c.slotWidth), TimeOfDaySlots-1)
}

// slotRates works out what scoring by the time of day derives from the
// model's season and step and the lead (the slot's width, the smallest
// weight of a score and how many a slot needs before its skill speaks),
// into c. A slot scores one forecast per data step, or per
// lead/maxPending on data finer than that (roomForForecast).
func (c *horizonCache) slotRates(period, step, lead time.Duration) {
	c.period, c.slotWidth, c.slotExact = period, 0, false
	if period < TimeOfDaySlots {
		return
	}
	every := max(step, lead/maxPending)
	if every <= 0 {
		every = forecast.DefaultStep
	}
	c.slotWidth = int64(period / TimeOfDaySlots)
	c.slotExact = c.slotWidth*TimeOfDaySlots == int64(period)
	perPeriod := max(1, float64(c.slotWidth)/float64(every))
	c.slotFloor = float32(1 / (slotDays * perPeriod))
	c.slotMin = uint32(min(math.Ceil(slotMinDays*perPeriod), maxSlotScored))
}

// scoreSlot adds one forecast's and persistence's asymmetric losses (ef,
// en) to the slot of its target time at (see slotDays for the weights); c
// is the model's derived values at the lead (derived).
func (mm *MetricModel) scoreSlot(c *horizonCache, at int64, ef, en float64) {
	i := c.slotOf(at)
	if i < 0 {
		return
	}
	if mm.Slots == nil { // the first score since the model was built
		mm.Slots = new(SlotScores)
	}
	sl := &mm.Slots[i]
	n := sl.Scored + 1
	w := c.slotFloor
	if float32(n)*w < 1 { // 1/n is the larger weight: a running mean
		w = 1 / float32(n)
	}
	sl.Forecast += w * (float32(ef) - sl.Forecast)
	sl.Naive += w * (float32(en) - sl.Naive)
	sl.Scored = min(n, maxSlotScored)
}

// SlotSkill is 1 − the forecast's mean asymmetric loss ÷ persistence's in
// the time-of-day slot of t (Unix nanoseconds), over forecasts for that
// slot on earlier periods; NaN without a season or until the slot has
// slotMinDays periods' worth of scores at lead.
func (mm *MetricModel) SlotSkill(t int64, lead time.Duration) float64 {
	c := mm.derived(lead)
	i := c.slotOf(t)
	if i < 0 || mm.Slots == nil {
		return math.NaN()
	}
	sl := &mm.Slots[i]
	if sl.Scored < c.slotMin || !(sl.Naive > 0) {
		return math.NaN()
	}
	return 1 - float64(sl.Forecast)/float64(sl.Naive)
}

// observe scores the pending forecasts whose target time the new
// observation reaches, feeds the observation to the model, and remembers the
// forecast made from it for t+lead for scoring later. It returns the
// forecast a decision on this observation uses, for t plus the model's step
// plus the lead (NaN when none was made), so an evaluation need not repeat
// it. It reuses the state's buffers. rise is the season's rise to that
// forecast's ready sample (raiseToReady's), read with it: NaN when it was
// not worked out (no forecast, no season, no lead).
func observe(mm *MetricModel, tn int64, y float64, lead time.Duration) (f, rise float64) {
	c := mm.derived(lead) // observing changes none of what it derives from
	resid, ok := learnWith(mm, c, tn, y, lead)
	if !ok {
		return math.NaN(), math.NaN()
	}
	if c.readySteps > 0 && mm.Model.Period > 0 {
		f, rise = mm.Model.ForecastAheadRise(c.decided, tn+int64(c.readySteps)*int64(mm.Model.Step))
		return f + mm.Persist*resid, rise
	}
	return mm.Model.ForecastAhead(c.decided) + mm.Persist*resid, math.NaN()
}

// readyAfter is how long after an observation the first sample comes
// that capacity ordered at it can be ready for: the lead rounded up to
// the data step (raiseToReady); 0 without a step or a lead.
func readyAfter(step, lead time.Duration) time.Duration {
	if step <= 0 || lead <= 0 {
		return 0
	}
	return (lead + step - 1) / step * step
}

// learn is observe without the decision's forecast, which a backtest does
// not read: it scores, observes and remembers the scored forecast, and
// returns the in-sample residual, with false while the model has seen too
// few observations to forecast.
func learn(mm *MetricModel, tn int64, y float64, lead time.Duration) (resid float64, ok bool) {
	return learnWith(mm, mm.derived(lead), tn, y, lead)
}

// learnWith is learn with the model's derived values at lead (derived)
// already worked out: observe reads them again for its own forecast, and
// observing changes none of what they derive from.
func learnWith(mm *MetricModel, c *horizonCache, tn int64, y float64, lead time.Duration) (resid float64, ok bool) {
	done := 0
	for done < len(mm.Pending) && mm.Pending[done].At <= tn {
		pf := mm.Pending[done]
		e := y - pf.Forecast
		ef, en, sq := asymmetricLoss(e), asymmetricLoss(y-pf.Naive), e*e
		// The capacity loss of raising to this forecast where it was
		// above persistence, and of holding at persistence: what the
		// max(reactive, predictive) rule gains or pays by the forecast.
		raise, hold := capacityLoss(y-max(pf.Forecast, pf.Naive)), capacityLoss(y-pf.Naive)
		if mm.Scored == 0 {
			mm.ErrForecast, mm.ErrNaive, mm.ErrBias, mm.ErrSquare = ef, en, e, sq
			mm.RaiseLoss, mm.HoldLoss = raise, hold
		} else {
			mm.ErrForecast = skillStep(mm.ErrForecast, ef)
			mm.ErrNaive = skillStep(mm.ErrNaive, en)
			mm.ErrBias = skillStep(mm.ErrBias, e)
			mm.ErrSquare = skillStep(mm.ErrSquare, sq)
			mm.RaiseLoss = skillStep(mm.RaiseLoss, raise)
			mm.HoldLoss = skillStep(mm.HoldLoss, hold)
		}
		mm.Scored = min(mm.Scored+1, maxScored)
		mm.scoreSlot(c, pf.At, ef, en)
		done++
	}
	if done > 0 {
		// The few forecasts left in flight move down one by one: copy
		// would call memmove for a handful of entries at every observation.
		k := 0
		for _, pf := range mm.Pending[done:] {
			mm.Pending[k] = pf
			k++
		}
		mm.Pending = mm.Pending[:k]
	}
	// The season learns from y cleaned by the spread of the scored
	// forecasts' errors (forecast.Model.ObserveAhead), so a burst is not
	// forecast again a day later.
	fitted, ahead := mm.Model.ObserveAhead(tn, y, mm.Params, c.scored, mm.cleaningVariance())
	if mm.Model.Count < minForecastObservations {
		return 0, false
	}
	resid = y - fitted
	f := ahead + mm.Persist*resid
	at := tn + int64(lead)
	if lead > 0 && isFinite(f) && roomForForecast(len(mm.Pending), at, mm.Pending, lead) {
		mm.Pending = append(mm.Pending, PendingForecast{At: at, Forecast: f, Naive: y})
	}
	return resid, true
}

// cleanAfterScores is how many forecasts must be scored before their
// errors' spread cleans what the season learns (cleaningVariance): as
// many as the spread is weighed over (1/skillWeight). The spread is a
// weighted mean that starts at the first error with a variance of zero
// and reaches the errors' variance only over that many scores, so before
// then it is too small, and every rise the season has not learned yet
// would be clipped as a burst: a shape learned from nothing (a new
// policy, or a season seeded from one period) would be learned more
// slowly (TestForecastCoversTheReadySample: an hourly job learned on two
// days, 19 instances proposed where 20 are needed). A burst is not in
// the season at its time and a rise is; a rise the season has not had
// the time to learn is neither.
const cleanAfterScores = 1 / skillWeight

// cleaningVariance is the variance (Spread squared) of the scored
// forecasts' errors that cleans the season's update
// (forecast.Model.ObserveAhead); 0, which cleans nothing, until
// cleanAfterScores are scored. The variance and not the spread, because
// the model needs the square root only for the few values it clips.
func (mm *MetricModel) cleaningVariance() float64 {
	return cleaningVarianceOf(mm.Scored, mm.ErrBias, mm.ErrSquare)
}

// cleaningVarianceOf is the variance of errors whose running mean is bias
// and mean square is square, after scored forecasts: 0, which cleans
// nothing, until cleanAfterScores are scored. The live model and a
// backtest's replay (errSpread) both clean by it, so that a backtest
// replays what live forecasting learns.
func cleaningVarianceOf(scored int, bias, square float64) float64 {
	if scored < cleanAfterScores {
		return 0
	}
	return errVariance(bias, square)
}

// errVariance is the variance of errors whose running mean is bias and
// running mean square is square, never below 0 (which the difference can
// round to): the one formula for the variance that cleans the season
// (cleaningVarianceOf) and the one Spread is the square root of, so that
// the two agree bit for bit.
func errVariance(bias, square float64) float64 {
	return max(0, square-bias*bias)
}

// horizonsFor returns the horizons of the scored forecast (the lead) and of
// the decided one (the data step plus the lead) for the model's step and
// damping, worked out once and kept until one of those changes (derived),
// so that the forecasts made on every sample need no math.Exp.
func (mm *MetricModel) horizonsFor(lead time.Duration) (scored, decided forecast.Horizon) {
	c := mm.derived(lead)
	return c.scored, c.decided
}

// derived returns the model's derived values for lead (horizonCache),
// working them out again when the model's step, season or damping or the
// lead changed.
func (mm *MetricModel) derived(lead time.Duration) *horizonCache {
	c := &mm.horizons
	if !c.ok || c.step != mm.Model.Step || c.lead != lead || c.phi != mm.Params.Phi || c.period != mm.Model.Period {
		*c = horizonCache{step: mm.Model.Step, lead: lead, phi: mm.Params.Phi, ok: true,
			scored: mm.Model.Horizon(lead, mm.Params), decided: mm.Model.Horizon(mm.Model.Step+lead, mm.Params)}
		if r := readyAfter(mm.Model.Step, lead); r > 0 && r/mm.Model.Step <= math.MaxUint32 {
			c.readySteps = uint32(r / mm.Model.Step)
		}
		c.slotRates(mm.Model.Period, mm.Model.Step, lead)
	}
	return c
}

// roomForForecast reports whether a forecast for at joins the n in flight:
// at most maxPending, spaced at least lead/maxPending apart, so that scoring
// costs the same whether samples come every 10 s or every 5 minutes.
func roomForForecast(n int, at int64, pending []PendingForecast, lead time.Duration) bool {
	return n < maxPending && (n == 0 || at-pending[n-1].At >= int64(lead)/maxPending)
}

// anchoredForecast is the demand expected at target: the model's forecast
// plus the chosen share (Persist) of the latest residual, the observation
// minus the model's value at its time. With all of it the forecast is
// anchored on the observation (the latest value plus the change the model
// expects), which on smooth data keeps smoothing from biasing the proposal;
// on noisy data a smaller share keeps one noisy sample from being carried
// over the lead.
func anchoredForecast(mm *MetricModel, observed float64, observedAt, target time.Time) float64 {
	m := &mm.Model
	at := m.Forecast(observedAt, mm.Params)
	return m.Forecast(target, mm.Params) + mm.Persist*(observed-at)
}

// decidedAt is the time of the forecast a decision uses, made on the
// observation at observedAt: that time plus the data step plus the lead,
// or at plus the lead when that is later (Evaluate's switch). The guard
// and the decision's weekly part read the forecast there too.
func (mm *MetricModel) decidedAt(observedAt time.Time, at *instant, lead time.Duration) time.Time {
	step := mm.Model.Step + lead
	if at.afterSum(lead, observedAt, step) {
		return at.t.Add(lead)
	}
	return observedAt.Add(step)
}

// raiseToReady returns the decided forecast f, made on the observation at
// observed.t for the decided time (decidedAt), raised by how much the model's
// seasonal shape is higher at the first sample due after the observation
// (one data step apart) that capacity ordered now can be ready for (at or
// after now plus the lead, the warm-up the forecast looks ahead by), when
// that sample comes before the decided time.
//
// The decided time is a step past the observation plus the lead, so that
// what is bought on one sample lasts until a decision on the next can take
// effect; but the same capacity serves the sample on the way, and on a
// sharp rise and fall within a step that sample needs more than the
// decided time says (an hourly job's sample at :04, for a decision at :59
// whose decided time, :07, is on the job's fall): BENCHMARKS.md, issue 9
// "the season's slots in phase with the samples", "gridmax". On the
// sample there is exactly one such sample; between samples, once now plus
// the lead has passed it, there is none.
//
// The raise is the season's difference alone (forecast.SeasonRise): the
// level, the anchoring, the damped trend and the weekly adjustment are
// taken as at the decided time. They move little within a step, and
// reading the whole forecast again at the sample cost a math.Exp and a
// math.Log per metric at every sample, about a third more per
// three-metric evaluation (BenchmarkEvaluate 690 → 910 ns, measured).
//
// rise is that rise when the caller read it already, with the forecast
// on the sample (observe: forecast.Model.ForecastAheadRise), and NaN
// otherwise. The observation's time comes stamped (newStamp), as
// evaluate has it for its own comparisons: its nanoseconds are not
// worked out again.
func (mm *MetricModel) raiseToReady(f float64, observed *stamp, at *instant, lead time.Duration, rise float64) float64 {
	st := mm.Model.Step
	if st <= 0 || lead <= 0 || mm.Model.Period <= 0 {
		return f // no sample before the decided time, or no shape
	}
	ahead := readyAfter(st, lead) // to the first sample at or after the lead
	if at.subStamp(observed) > ahead-lead {
		return f // now plus the lead is past it
	}
	// Now plus the lead is at most ahead past the observation, so the
	// decided time is the observation plus the step plus the lead.
	if math.IsNaN(rise) {
		m, tn := &mm.Model, observed.ns // observed.t.UnixNano()
		rise = m.SeasonRise(tn+int64(ahead), tn+int64(st+lead))
	}
	if rise > 0 {
		return f + rise
	}
	return f
}

// maxGuardPoints bounds the forecasts upperOverLead looks at: one per data
// step, but no more than this on very fine data or a long lead.
const maxGuardPoints = 16

// guardSize is the size the forecasts' upper bounds over the lead need: for
// every metric the larger of its reactive proposal and, in instances, its
// upper bound over the lead (upperOverLead). ok is false unless every
// metric has a fresh, trusted forecast with an upper bound, so the guard
// never speaks for a metric it does not know: one whose model has not yet
// made a forecast included (it used to be skipped, and the others' bounds,
// or none at all, released the hold).
func guardSize(p *Policy, in *Inputs, s *State, d *Decision, at *instant) (guard int, ok bool) {
	if len(p.Metrics) == 0 || len(s.Models) != len(p.Metrics) {
		return 0, false
	}
	for i := range p.Metrics {
		if mp := &d.Metrics[i]; mp.Stale || !mp.Trusted || !isFinite(mp.Upper) {
			return 0, false
		}
	}
	lead := p.Predictive.Lead.D()
	for i := range p.Metrics {
		m, smp, mp, mm := &p.Metrics[i], &in.Metrics[i], &d.Metrics[i], &s.Models[i]
		up := upperOverLead(mm, demand(m, *smp, in), smp.Time, mm.decidedAt(smp.Time, at, lead), mp.Forecast)
		guard = max(guard, mp.Reactive, ceilSize(up/m.Target))
	}
	return guard, true
}

// upperOverLead is the upper bound (MetricModel.Upper) of the highest
// demand forecast for the samples due after the one observed at at, one
// data step apart, up to end, where decided is the forecast the decision
// uses. Releasing held capacity is a bet that none of those samples needs
// it: the samples come at each step, and a forecast dip at end says
// nothing about a peak the daily shape puts on the way. (The guard used to
// read the bound at end alone, and released capacity for a dip the seasonal
// model placed there while demand in between still needed it: BENCHMARKS.md,
// issue 9 round eight.) The points on the way are anchored as the decided
// forecast between two samples is (anchoredForecast).
func upperOverLead(mm *MetricModel, y float64, at, end time.Time, decided float64) float64 {
	hi := decided
	if st := mm.Model.Step; st > 0 {
		every := max(st, end.Sub(at)/maxGuardPoints)
		m := &mm.Model
		// NaN when there is no point before end: the comparison is false.
		if f := m.MaxForecast(at.Add(st), end, every, mm.Params) + mm.Persist*(y-m.Forecast(at, mm.Params)); f > hi {
			hi = max(f, 0)
		}
	}
	return max(mm.Upper(hi), 0)
}

// NeedsHistory reports whether the next evaluation of p with state s at
// now will (re)build or check a forecasting model and so read
// Inputs.History: exactly when some metric's model is not settled, the
// test Evaluate itself makes before configureSeason, so the two cannot
// disagree. The caller can skip assembling history windows otherwise:
// steady-state evaluation learns from the latest sample alone.
func (s State) NeedsHistory(p Policy, now time.Time) bool {
	if p.Predictive.Mode != PredictForecastOnly && p.Predictive.Mode != PredictForecastAndScale {
		return false
	}
	if len(s.Models) != len(p.Metrics) {
		return true
	}
	at := newInstant(now)
	for i := range s.Models {
		if !s.Models[i].settled(&p, &at) {
			return true
		}
	}
	return false
}

// retuneDue reports whether the model has run for three times as long as
// the history it was chosen on, or for the whole history window, whichever
// is shorter (and at least seasonRecheck): while the window fills, choosing
// again rests on four times the evidence, so a model is chosen only about
// log4 of the window's length times, which keeps tuning to a small share of
// a replay's time; once it is full, the choice follows the data window by
// window.
func (m *MetricModel) retuneDue(now *instant, history time.Duration) bool {
	return !m.TunedAt.IsZero() && now.sub(m.TunedAt) >= max(seasonRecheck, min(3*m.TunedSpan, history))
}

// settled reports whether the model needs neither a (re)configuration nor
// a check nor a new choice at at: it was configured, is not due for
// retuning, has the configured season, and, when it has a season (auto or
// configured), was checked within the hour (seasonRecheck). The hourly
// check detects the season again under `season: auto`, and under either
// follows a level shift in place (followLevelShift): an operator who
// configures `season: 24h` meets launches as one who asks for auto does.
// A policy configured with no season has nothing to check. Evaluate asks
// settled before calling configureSeason (which does not ask again), so
// it skips the call, and passing the history window, at nearly every
// evaluation; NeedsHistory asks it too.
func (mm *MetricModel) settled(p *Policy, at *instant) bool {
	if mm.CheckedAt.IsZero() || mm.retuneDue(at, p.Predictive.History.D()) {
		return false
	}
	season := p.Predictive.Season
	if !season.Auto && mm.Model.Period != season.Period {
		return false // another season configured
	}
	return (!season.Auto && season.Period == 0) || at.sub(mm.CheckedAt) < seasonRecheck
}

// configureSeason (re)builds a metric's model when its season must change:
// on first use, when the configured season differs, when a new choice is
// due (retuneDue), and, under `season: auto`, when the hourly check
// detects another season. At the hourly check of a model that keeps its
// season, auto or configured, it follows a level shift in place instead
// (followLevelShift), by one code path for both, and returns no history.
// Each candidate season is backtested on the history and the
// model with the lowest forecast error wins; the backtest's scores become the
// new model's skill, so a model earns trust on its own forecasts, not on its
// predecessor's, and does not have to wait for fresh ones. It returns the
// history the model was rebuilt from (an empty Window when it was not), so
// the caller does not feed a reading that history already holds again.
// Call it only where mm.settled is false: Evaluate asks that first, so
// this does not ask again.
//
// For `season: auto`, a season whose first period is complete but which
// detection cannot judge yet is seeded instead (seedUntested), and chosen
// again by the backtest as soon as detection can judge it.
func configureSeason(p *Policy, mm *MetricModel, hist Window, at instant) (fitted Window) {
	season := p.Predictive.Season
	retune := mm.retuneDue(&at, p.Predictive.History.D())
	now := at.t
	mm.CheckedAt = now
	lead := p.Predictive.Lead.D()
	hist = trimWindow(hist, now, p.Predictive.History.D())
	week := mm.Model.Week // learned across rebuilds: keepWeek
	if len(hist.Values) == 0 || hist.Step <= 0 {
		if mm.Model.Count == 0 || mm.Model.Period != season.Period {
			resetModel(mm, season.Period, p.EvaluationInterval.D())
			keepWeek(mm, week)
		}
		if retune {
			mm.TunedAt = now // no history to choose on: try again a period later, not at every evaluation
		}
		return Window{}
	}
	candidates := [2]time.Duration{season.Period, -1}
	// want is the season the model should have: the configured one, or
	// the one detection finds.
	want, seeded := season.Period, false
	if season.Auto {
		detected, _ := forecast.DetectSeason(hist.Values, hist.Step, forecast.DefaultCandidates())
		if u := forecast.Untested(len(hist.Values), int(p.Predictive.History.D()/hist.Step), hist.Step, forecast.DefaultCandidates(), detected); u > 0 {
			// A season whose first period is complete but which detection
			// cannot judge yet (seedUntested).
			if u == mm.Model.Period && mm.Model.Count > 0 && !retune {
				return Window{}
			}
			seedUntested(mm, hist, u, now)
			keepWeek(mm, week)
			return hist
		}
		// A season seeded untested is chosen again, by the backtest, as
		// soon as detection can judge it, whatever detection finds.
		seeded = mm.Model.Period > 0 && !forecast.Judgeable(int(mm.TunedSpan/hist.Step), hist.Step, mm.Model.Period)
		want = detected
	}
	if want == mm.Model.Period && mm.Model.Count > 0 && !retune && !seeded {
		followLevelShift(mm, hist, now)
		followPhase(mm, hist)
		return Window{} // same season as before: keep the running model
	}
	if detected := want; season.Auto {
		if detected > 0 && mm.Model.Period == 0 && mm.Model.Count > 0 && !retune && at.sub(mm.TunedAt) < rejectedSeasonRecheck {
			// The backtest chose no season over a detected one not long
			// ago: let that verdict stand (rejectedSeasonRecheck).
			return Window{}
		}
		candidates = [2]time.Duration{detected, 0}
		if detected == 0 {
			candidates[1] = -1
		}
	}
	var best MetricModel
	found := tune(&best, hist, candidates[:], lead)
	if !found {
		// Too little history to score anything: start the configured or
		// detected season from what there is.
		resetModel(mm, candidates[0], p.EvaluationInterval.D())
		forecast.Fit(&mm.Model, hist.Values, hist.Start, hist.Step, candidates[0], mm.Params)
		best = *mm
	}
	best.CheckedAt, best.TunedAt, best.TunedSpan = now, now, hist.End().Sub(hist.Start)
	*mm = best
	keepWeek(mm, week)
	return hist
}

// followLevelShift makes the running model's additive season scale with
// the level (forecast.Model.ScaleFrom) when the level has left the range
// of the periods the model was chosen on (or, when it was chosen on fewer
// than three, of every whole period since the choice's history began) and
// the daily spread moved with it (forecast.LevelShift), at least a period
// after the choice; under a configured season as under `season: auto`,
// since a launch does not ask how the period was set. A model
// is chosen again only on the evidence clock (retuneDue: days after a
// launch), and a backtest soon after one still chooses the additive
// season, since the shift barely shows in its history; meanwhile an
// additive season keeps the old amplitude and falls short of every
// morning rise at the new level. Following the shift in place, rather
// than choosing again, keeps the smoothing, the scores and the season
// learned: rebuilds at each detected shift measured worse on the held-out
// board, where real traces' outages and recoveries look like shifts too
// (BENCHMARKS.md, issue 9 "after a shift, the model for today"). A season
// that already scales follows the level by itself.
//
// Only a rise: after a drop the additive season's old amplitude holds
// capacity for peaks that no longer come, idle instances until the next
// choice, while a season scaled down misses every peak it shrank too far
// for, and missing capacity is the dearer error (underCost). Following
// drops too measured more under-provisioning on the held-out board's
// level drops (0.422× → 0.430× the reference's) for 0.02 % of their
// instance-hours.
func followLevelShift(mm *MetricModel, hist Window, now time.Time) {
	m := &mm.Model
	// Within a period of the choice the last period is partly one the
	// model was chosen on: its level cannot have left their range yet.
	if m.Ref > 0 || m.Period <= 0 || hist.Step <= 0 || mm.TunedAt.IsZero() || now.Sub(mm.TunedAt) < m.Period {
		return
	}
	index := func(t time.Time) int { // whole steps from hist's start to t, within [0, len]
		d := t.Sub(hist.Start)
		if d <= 0 {
			return 0
		}
		return int(min(d/hist.Step, time.Duration(len(hist.Values))))
	}
	per := int(m.Period / hist.Step)
	ref, recent, ok := forecast.LevelShift(hist.Values, per, index(mm.TunedAt.Add(-mm.TunedSpan)), index(mm.TunedAt))
	if ok && recent > ref {
		m.ScaleFrom(ref, recent)
	}
}

// seedUntested starts mm on a season of the given period seeded from the
// first period of hist, at the default smoothing and full anchoring, with
// no scores, and marks it tuned now on hist's span.
//
// Detection judges a season from one and a half periods on, and the
// backtest that chooses a model scores each candidate after a whole
// period of warm-up, so a new policy on a daily signal used to run
// without its daily shape until 36 hours in: on its second day it met the
// morning rise as on its first. From the end of the first period there is
// a shape to forecast with, only no evidence yet to choose its smoothing
// by, so the defaults serve, and the model earns trust like any other: on
// its own forecasts, through the skill gate (none acts before ten have
// been scored against what came, and then only while they beat
// persistence). On a series without the season that gate is all that
// stands between the seeded shape and a decision (what it costs there:
// BENCHMARKS.md, issue 9 "the first days", elb-requests.yaml). Once
// detection can judge the season, configureSeason rebuilds the model
// through the backtest (detected as before, or none), so a season that
// is not there stands for half a period at most.
func seedUntested(mm *MetricModel, hist Window, period time.Duration, now time.Time) {
	resetModel(mm, period, hist.Step)
	forecast.Fit(&mm.Model, hist.Values, hist.Start, hist.Step, period, mm.Params)
	mm.CheckedAt, mm.TunedAt, mm.TunedSpan = now, now, hist.End().Sub(hist.Start)
}

// weeklyPeriod is the season a weekly adjustment is learned on top of.
const weeklyPeriod = 24 * time.Hour

// keepWeek gives a rebuilt model the weekly adjustment of the model it
// replaces (week), and starts one for a model with a daily season that has
// none. A rebuild chooses the model from the history window (a week by
// default), which cannot show a weekly shape, so the adjustment is learned
// across rebuilds instead. It learns from the observations alone, not from
// the model (forecast.Week), so it is kept whatever smoothing and season a
// rebuild chooses; only a model with a daily season uses it. (An
// adjustment that learned the daily model's one-step error did depend on
// the model: on a series whose weekends differ, rebuilds switched the
// level smoothing between 0.05 and 0.4 every week or two, the slots of one
// were of the wrong scale for the other, and detection switching between
// a daily season and none dropped it.) A series that never had a daily
// season carries none.
func keepWeek(mm *MetricModel, week forecast.Week) {
	switch {
	case week.Slots != nil:
		mm.Model.Week = week
	case mm.Model.Period == weeklyPeriod:
		mm.Model.Week = forecast.NewWeek()
	default:
		mm.Model.Week = forecast.Week{}
	}
}

// resetModel starts an empty model with no scores (recent or by the time
// of day), the default parameters and full anchoring, until a backtest
// chooses better ones.
func resetModel(mm *MetricModel, period, step time.Duration) {
	mm.Model.Reset(period, step)
	mm.Pending, mm.ErrForecast, mm.ErrNaive, mm.ErrBias, mm.ErrSquare, mm.Scored = mm.Pending[:0], 0, 0, 0, 0, 0
	mm.RaiseLoss, mm.HoldLoss, mm.Slots = 0, 0, nil
	mm.Params, mm.Persist = forecast.DefaultParams(), 1
}

// underCost is how much more a forecast that runs low costs than one that
// runs high by the same amount, in the backtest that chooses a model: a low
// forecast leaves demand without capacity (the reactive rule catches up only
// after a warmup), a high one pays for idle instances.
const underCost = 3

// asymmetricLoss is the cost of a forecast error e (observed minus
// forecast): its square, underCost times over when the forecast ran low.
// Both the backtest that chooses a model and the skill that decides whether
// its forecasts act use it, so a model is trusted by the measure it was
// chosen by.
func asymmetricLoss(e float64) float64 {
	if e > 0 {
		return underCost * e * e
	}
	return e * e
}

// capacityLoss is the cost of capacity sized for a forecast that missed
// demand by e (observed minus forecast): underCost per unit short, one per
// unit idle. Linear, unlike asymmetricLoss, because it prices capacity:
// instance-hours and unserved demand add up unit by unit, and a square
// would let a few large bursts that a raise half covered outweigh the many
// troughs where it bought idle instances (measured: BENCHMARKS.md, issue 9
// round seven).
func capacityLoss(e float64) float64 {
	if e > 0 {
		return underCost * e
	}
	return -e
}

// tuneAlphas and tuneGammas are the level and seasonal smoothing weights the
// backtest tries: from a level that follows the data within a few steps
// (whose season only learns a leftover) to one that changes over tens of
// steps (so a daily shape lives in the season), and a season that adapts
// over a few cycles or over about ten. Beta and Phi keep their defaults: the
// damped trend matters little at a lead of a few steps. tunePersist are the
// shares of the latest residual a forecast may keep (see Persist): all of
// it (anchored to the last observation), half, or none (the model alone).
var (
	tuneAlphas  = [...]float64{0.05, 0.15, 0.4}
	tuneGammas  = [...]float64{0.3, 0.1}
	tunePersist = [...]float64{0, 0.5, 1}
)

// tuned is the best model setup a tuning has found so far.
type tuned struct {
	period  time.Duration
	params  forecast.Params
	persist float64
	loss    float64
	// scaled is a season that scales with the level (forecast.Model.Ref).
	scaled bool
}

// tune backtests every candidate season with every parameter set and
// persistence, additive and (for a season) scaling with the level, and
// leaves in mm the model whose forecasts had the lowest asymmetric loss
// over the history, replayed once more to carry its scores.
// It reports false when the history is too short to score any.
func tune(mm *MetricModel, hist Window, candidates []time.Duration, lead time.Duration) bool {
	best := tuned{loss: math.Inf(1)}
	var bt backtester
	// Every candidate is scored on the same stretch, after the longest
	// season's warm-up, or a season would be judged on one day fewer than
	// the trend-only model and the two losses would not compare.
	var longest time.Duration
	for _, period := range candidates {
		longest = max(longest, period)
	}
	// A choice among seasonal models that rests on fewer scored forecasts
	// than the skill remembers (cleanAfterScores) keeps the whole residual
	// (full anchoring): so few cannot tell the persistences apart, and a
	// forecast without its anchor follows a season seeded from a day or
	// two. Hourly data a day and a half in scores eleven: on the held-out
	// board's hourly crane_input15 the model alone (persistence 0) was
	// chosen from them, lost to persistence and was not trusted for four
	// days, until the next choice (BENCHMARKS.md, issue 9, "the hourly
	// held-out rows"). 5-minute data scores 144 at the first daily choice;
	// what meets this there is a replay's first hours, an hourly season's
	// choices on a few hours of history.
	_, scoreFrom, _ := backtestRange(hist, longest, lead)
	anchored := longest > 0 && len(hist.Values)-scoreFrom < cleanAfterScores
	// try replays one setup and returns its lowest loss over the
	// persistences; a replay that can no longer beat bound stops early and
	// returns +Inf (see backtester.run), so bound must be a loss whose
	// beaters are the only runs that matter to the caller.
	try := func(period time.Duration, params forecast.Params, scaled bool, bound float64) float64 {
		losses, ok := bt.run(hist, period, longest, lead, params, scaled, bound)
		if !ok {
			return math.Inf(1)
		}
		lowest := math.Inf(1)
		for i, l := range losses {
			if anchored && tunePersist[i] != 1 {
				continue
			}
			lowest = min(lowest, l)
			if l < best.loss {
				best = tuned{period: period, params: params, persist: tunePersist[i], loss: l, scaled: scaled}
			}
		}
		return lowest
	}
	for _, period := range candidates {
		if period < 0 {
			continue
		}
		// One parameter at a time: the level smoothing with the first
		// seasonal smoothing, then the other seasonal smoothings with the
		// best level. The two barely interact at these settings, and this
		// takes 4 replays instead of 6 (and one more for the season
		// scaling with the level, below).
		params := forecast.DefaultParams()
		params.Gamma = tuneGammas[0]
		bestAlpha, bestLoss := tuneAlphas[0], math.Inf(1)
		for _, a := range tuneAlphas {
			params.Alpha = a
			// Bounded by this season's best so far, not the overall best:
			// the gammas below start from this season's best alpha, so
			// the alphas must be ranked exactly among themselves.
			if l := try(period, params, false, bestLoss); l < bestLoss {
				bestAlpha, bestLoss = a, l
			}
		}
		if period == 0 {
			continue // no season: gamma plays no part
		}
		params.Alpha = bestAlpha
		bestGamma := params.Gamma
		for _, g := range tuneGammas[1:] {
			params.Gamma = g
			// Bounded by this season's best too, so that bestGamma is
			// exact: the scaled replay below starts from it.
			if l := try(period, params, false, bestLoss); l < bestLoss {
				bestGamma, bestLoss = g, l
			}
		}
		// The season's amplitude scaling with the level, at the additive
		// season's best smoothing: the same history decides whether this
		// series' daily shape grows with its level. One replay; trying it
		// at every level smoothing too chose no better on the boards
		// (BENCHMARKS.md, issue 9 "a daily shape that scales with the
		// level").
		params.Gamma = bestGamma
		try(period, params, true, best.loss)
	}
	if math.IsInf(best.loss, 1) {
		return false
	}
	return backtest(mm, hist, best, longest, lead, &bt)
}

// backtester scores one model setup on a history for every persistence in
// tunePersist at once: persistence changes the forecasts, not the model, so
// one replay serves them all. Its buffers are reused across setups.
type backtester struct {
	model   forecast.Model
	pending []pendingParts
	// seed is the model Fit starts from on the warm-up stretch of
	// seedFor (forecast.Model.Seed): it does not depend on the smoothing,
	// so the runs of one season over one history share it, and so does
	// the final backtest of the winner.
	seed    forecast.Model
	seedFor seedKey
	// replayed counts the values fed to the model, over all runs: what
	// the early exit saves shows here.
	replayed int
}

// seedKey is what a backtester's seed was made from: the season and the
// warm-up stretch of a history (its values' first element and length, its
// start and step). A history's values do not change while it is tuned on.
type seedKey struct {
	period, step time.Duration
	start        int64
	first        *float64
	n            int
}

// seeded leaves in m the model forecast.Fit would start from on
// values, observed from start every step, with the given season, reusing the
// backtester's seed when it was made from the same; m is then ready to
// Absorb the values.
func (bt *backtester) seeded(m *forecast.Model, values []float64, start time.Time, step, period time.Duration) {
	key := seedKey{period: period, step: step, start: start.UnixNano(), n: len(values)}
	if len(values) > 0 {
		key.first = &values[0]
	}
	if key != bt.seedFor || key.first == nil {
		bt.seed.Seed(values, start, step, period)
		bt.seedFor = key
	}
	m.CopyFrom(&bt.seed)
}

// pendingParts is a backtest forecast in flight: the model's own forecast
// and the residual it may add a share of.
type pendingParts struct {
	at          int64
	base, resid float64
}

// run replays the history as backtest does and returns the mean asymmetric
// loss for each persistence, and false when too few forecasts were scored.
//
// It also returns false as soon as the setup can no longer reach a mean
// loss below bound (+Inf for no bound): losses only add up, and no replay
// scores more forecasts than it has values to score on, so once every
// persistence's running sum exceeds bound times that count, its final mean
// does too. The choice tune makes is the same as without the early exit;
// a setup far worse than the best so far costs a fraction of a replay.
func (bt *backtester) run(hist Window, period, warmup, lead time.Duration, params forecast.Params, scaled bool, bound float64) (losses [len(tunePersist)]float64, ok bool) {
	from, scoreFrom, ok := backtestRange(hist, warmup, lead)
	if !ok {
		return losses, false
	}
	limit := bound * float64(len(hist.Values)-scoreFrom) // +Inf when unbounded
	m := &bt.model
	warm, start := hist.Values[from:scoreFrom], hist.Start.Add(time.Duration(from)*hist.Step)
	bt.seeded(m, warm, start, hist.Step, period) // forecast.Fit, sharing its first half
	if scaled && !m.ScaleSeason() {
		return losses, false
	}
	m.Absorb(warm, start, params)
	// errs is the spread of the forecasts' errors, as a live model's
	// (MetricModel.Spread), which cleans the season's update: a
	// backtest replays what live forecasting would learn. Its forecasts
	// are scored at the middle persistence, because one replay serves
	// all three.
	var errs errSpread
	// The forecasts in flight are bt.pending[head:]: scoring one moves head
	// on instead of shifting the rest down, which cost a memmove per value;
	// the buffer is compacted only when an append would outgrow it, which
	// room for four times the most in flight makes rare.
	if cap(bt.pending) < 4*maxPending {
		bt.pending = make([]pendingParts, 0, 4*maxPending)
	}
	bt.pending = bt.pending[:0]
	head := 0
	ahead := m.Horizon(lead, params)
	n := 0
	tn := hist.Start.Add(time.Duration(scoreFrom-1) * hist.Step).UnixNano()
	for _, y := range hist.Values[scoreFrom:] {
		tn += int64(hist.Step) // the time of y
		if !isFinite(y) {
			continue
		}
		done := head
		for done < len(bt.pending) && bt.pending[done].at <= tn {
			pf := &bt.pending[done]
			for i, k := range tunePersist {
				losses[i] += asymmetricLoss(y - pf.base - k*pf.resid)
			}
			errs.add(y - pf.base - tunePersist[1]*pf.resid)
			n++
			done++
		}
		if done > head {
			if head = done; head == len(bt.pending) {
				bt.pending, head = bt.pending[:0], 0
			}
			if slices.Min(losses[:]) > limit {
				return losses, false
			}
		}
		// Whether a forecast made now joins those in flight (the spacing
		// observe keeps, roomForForecast) does not depend on the value:
		// when it does, the model observes and forecasts in one call.
		at := tn + int64(lead)
		k := len(bt.pending) - head
		room := lead > 0 && k < maxPending && (k == 0 || at-bt.pending[len(bt.pending)-1].at >= int64(lead)/maxPending)
		var fitted, base float64
		v := errs.variance()
		if room {
			fitted, base = m.ObserveAhead(tn, y, params, ahead, v)
		} else {
			fitted = m.ObserveNanos(tn, y, params, v)
		}
		bt.replayed++
		if m.Count < minForecastObservations || !room {
			continue
		}
		resid := y - fitted
		if isFinite(base) && isFinite(resid) {
			if head > 0 && len(bt.pending) == cap(bt.pending) {
				bt.pending, head = bt.pending[:copy(bt.pending, bt.pending[head:])], 0
			}
			bt.pending = append(bt.pending, pendingParts{at: at, base: base, resid: resid})
		}
	}
	if n < minScoredForecasts {
		return losses, false
	}
	for i := range losses {
		losses[i] /= float64(n)
	}
	return losses, true
}

// errSpread is MetricModel.Spread's running mean error and mean square
// error, for a backtest's replay, which keeps no MetricModel.
type errSpread struct {
	bias, square float64
	n            int
}

// add scores one forecast's error e, weighted as learnWith weighs a
// live model's: the first score starts each mean, later ones move it
// (skillStep).
func (s *errSpread) add(e float64) {
	if s.n == 0 {
		s.bias, s.square = e, e*e
	} else {
		s.bias = skillStep(s.bias, e)
		s.square = skillStep(s.square, e*e)
	}
	s.n = min(s.n+1, maxScored)
}

// skillStep is a running score's mean moved a share skillWeight of the
// way towards the newest score x, after the first score (which the mean
// starts from). Every running error and loss of a live model (learnWith)
// and the error spread of a backtest's replay (errSpread) move by it, so
// that a replay cleans the season as live forecasting does. The first
// score stays with the callers, each testing it once for all its means:
// a helper that took it as a flag tested it once per mean, at about 30
// instructions a scored forecast on the hot path (callgrind, +0.4 % a
// run of SimulateEndToEnd/forecast-and-scale).
func skillStep(mean, x float64) float64 {
	return mean + skillWeight*(x-mean)
}

// variance is the errors' variance that cleans a replayed value, as
// MetricModel.cleaningVariance's: 0 until cleanAfterScores are scored.
func (s *errSpread) variance() float64 {
	return cleaningVarianceOf(s.n, s.bias, s.square)
}

// maxBacktestPoints bounds the history a backtest replays, so that choosing
// a model stays cheap however fine the data: four days of 1-minute samples,
// a week of 5-minute ones and more.
const maxBacktestPoints = 7 * 24 * 60

// backtestRange is where a backtest starts (up to the last
// maxBacktestPoints values) and where its scoring starts: after a season of
// warmup (the longest candidate's), or holtWarmup values without one; ok is
// false when too little history is left to score enough forecasts at the lead.
func backtestRange(hist Window, warmup, lead time.Duration) (from, scoreFrom int, ok bool) {
	warm := max(int(warmup/hist.Step), holtWarmup)
	n := len(hist.Values)
	from = max(0, n-maxBacktestPoints)
	scoreFrom = from + warm
	return from, scoreFrom, n-scoreFrom > minScoredForecasts+int(lead/hist.Step)
}

// backtest builds a model of the given season, parameters and persistence
// from the start of the history, warmed up as backtestRange says, and
// scores its forecasts on all the rest, exactly as live evaluation would, so
// the model starts with its own scores. It reports false when too few were
// scored.
func backtest(mm *MetricModel, hist Window, t tuned, warmup, lead time.Duration, bt *backtester) bool {
	from, scoreFrom, ok := backtestRange(hist, warmup, lead)
	if !ok {
		return false
	}
	resetModel(mm, t.period, hist.Step)
	mm.Params, mm.Persist = t.params, t.persist
	warm, start := hist.Values[from:scoreFrom], hist.Start.Add(time.Duration(from)*hist.Step)
	bt.seeded(&mm.Model, warm, start, hist.Step, t.period) // forecast.Fit, from the runs' seed
	if t.scaled {
		mm.Model.ScaleSeason() // it could in the run that chose it
	}
	mm.Model.Absorb(warm, start, mm.Params)
	tn := hist.Start.Add(time.Duration(scoreFrom) * hist.Step).UnixNano()
	for _, v := range hist.Values[scoreFrom:] {
		if isFinite(v) {
			learn(mm, tn, v, lead)
		}
		tn += int64(hist.Step)
	}
	return mm.Scored >= minScoredForecasts
}

// trimWindow keeps the part of w within history before now.
func trimWindow(w Window, now time.Time, history time.Duration) Window {
	if w.Step <= 0 || len(w.Values) == 0 {
		return w
	}
	if end := now.Sub(w.Start)/w.Step + 1; end < time.Duration(len(w.Values)) {
		if end < 0 {
			end = 0
		}
		w.Values = w.Values[:end]
	}
	if keep := int(history / w.Step); history > 0 && keep < len(w.Values) {
		drop := len(w.Values) - keep
		w.Start = w.Start.Add(time.Duration(drop) * w.Step)
		w.Values = w.Values[drop:]
	}
	return w
}

// holds reports whether w has a value in the bucket t falls in: a reading
// taken at t is part of that value, so a model fitted on w has seen it.
func (w Window) holds(t time.Time) bool {
	if w.Step <= 0 || t.Before(w.Start) {
		return false
	}
	i := t.Sub(w.Start) / w.Step
	return i < time.Duration(len(w.Values)) && isFinite(w.Values[i])
}
