package policy

import (
	"cmp"
	"math"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// roundingSlack keeps float noise (3.0000000001 instances) from adding an
// instance when a ratio is exactly on a boundary.
const roundingSlack = 1e-9

// Evaluate decides the desired size of a policy's group from the inputs,
// the state kept from the previous evaluation, and the evaluation time.
//
// It is a pure function: it performs no I/O, reads no clock, starts no
// goroutines and logs nothing, so the leader loop and the simulator get the
// same answer for the same arguments.
//
// Evaluate takes ownership of s, like append: the returned Decision.Next may
// reuse s's slices, so the caller must keep Next and drop s (use State.Clone
// to keep both). This lets steady-state evaluation run without allocating.
//
// The pipeline, each step recorded in the Decision:
//  1. per metric: staleness, the reactive proposal (target tracking with a
//     tolerance band) and, when prediction is on, the forecast (for the
//     sample's time plus the data step plus the lead), its upper bound and
//     its proposal;
//  2. the recommendation: the largest reactive proposal, raised to the
//     largest predictive one in forecast-and-scale mode; with stale data it
//     never goes below the current size, and with all data stale it holds or
//     grows to the fallback size;
//  3. scale-in stabilization: never below the highest recommendation of the
//     window (fed only by new fresh samples and by forecasts that raised the
//     recommendation); in forecast-and-scale mode the forecasts' upper bounds
//     may release what the window holds, down to the recommendation;
//  4. cooldowns: scale-out after the last scale-out, scale-in after the last
//     action of either kind; then anti-flapping: after repeated direction
//     reversals a scale-in also waits a multiple of the stabilization window;
//  5. rate limits measured from the size at the start of each period;
//  6. min and max, narrowed by open schedules and by the budget.
func Evaluate(p Policy, in Inputs, s State, now time.Time) Decision {
	// The state goes straight into the decision it is evaluated in: passed
	// on to EvaluateInto it was copied twice more (about 280 bytes each).
	d := Decision{Next: s}
	evaluate(&d, &p, &in, &d.Next, now)
	return d
}

// EvaluateInto is Evaluate writing the decision into d, which it
// overwrites entirely. It reads p and in through pointers and returns
// nothing, so a caller that evaluates in a tight loop (the simulator) copies
// neither the policy, the inputs nor a decision of about 2 KB between them
// at every evaluation. p and in are only read; s is owned as by Evaluate.
func EvaluateInto(d *Decision, p *Policy, in *Inputs, s State, now time.Time) {
	evaluate(d, p, in, &s, now)
	d.Next = s
}

// EvaluateNext is EvaluateInto(d, p, in, d.Next, now) without copying the
// state: the state d.Next holds (the previous decision's, or a State put
// there) is evaluated in place and becomes the new decision's Next. A
// replay carries its state from one evaluation to the next in the one
// decision it keeps, and passing d.Next to EvaluateInto copied the state
// (about 280 bytes) into the argument and back at every evaluation.
func EvaluateNext(d *Decision, p *Policy, in *Inputs, now time.Time) {
	evaluate(d, p, in, &d.Next, now)
}

// evaluate is Evaluate's pipeline: it overwrites every field of d but
// Next and evaluates the state s points to in place, which may be d.Next
// (EvaluateNext) or not (EvaluateInto, which copies it there after).
func evaluate(d *Decision, p *Policy, in *Inputs, s *State, now time.Time) {
	// Cleared in place, then filled: a composite literal would be built
	// zeroed on the stack and copied over; and not d.Next, which s may be.
	d.clearButNext()
	d.Time, d.Current, d.Ready, d.NumMetrics = now, in.Current, in.Ready, len(p.Metrics)
	current := in.Current
	// The mode is a string: compared once here, not at each of the steps
	// below that depend on it, and inline (scales).
	scaling := p.Predictive.Mode.scales()
	predicting := scaling || p.Predictive.Mode == PredictForecastOnly
	lead := p.Predictive.Lead.D()
	var at instant // now for the per-metric time arithmetic below
	at.set(now)    // in place: see instant.set
	if predicting && len(s.Models) != len(p.Metrics) {
		s.Models = make([]MetricModel, len(p.Metrics))
	}

	// 1. Per-metric proposals.
	anyFresh, anyStale, allTolerance := false, false, true
	// Each metric's forecast-error spread and whether it has one
	// (MetricModel.Spread), for the noise release of step 4b.
	var spreads [MaxMetrics]float64
	var spreadKnown [MaxMetrics]bool
	var evidence time.Time // the newest fresh sample: what a recommendation rests on
	reactive, predictive := 0, 0
	// Whether a trusted forecast is new evidence at an evaluation between
	// two samples (step 3).
	refresh := false
	window := p.ScaleIn.Stabilization.D()
	for i := range p.Metrics {
		m := &p.Metrics[i]
		smp := in.Metrics[i]
		mp := &d.Metrics[i]
		mp.Forecast, mp.Skill, mp.Upper, mp.RaiseGain, mp.Weekly = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		mp.SlotSkill = float32(math.NaN())
		mp.Value = smp.Value
		// The sample's time in Unix nanoseconds, worked out once for the
		// comparisons below.
		var st stamp
		st.set(smp.Time) // in place: see stamp.set
		fresh := smp.Present && isFinite(smp.Value) && at.subStamp(&st) <= p.StaleAfter.D()
		if !fresh {
			mp.Stale = true
			anyStale = true
		} else {
			anyFresh = true
			if smp.Time.After(evidence) {
				evidence = smp.Time
			}
			mp.Reactive, mp.WithinTolerance = reactiveProposal(m, smp, in, p.Tolerance)
			allTolerance = allTolerance && mp.WithinTolerance
			reactive = max(reactive, mp.Reactive)
		}
		if !predicting {
			continue
		}
		mm := &s.Models[i]
		var fitted Window
		if !mm.settled(p, &at) {
			fitted = configureSeason(p, mm, in.History[i], at)
		}
		observed := smp.Present && isFinite(smp.Value)
		y, f, rise := 0.0, math.NaN(), math.NaN()
		if observed {
			y = demand(m, smp, in)
			// A sample inside a bucket the model was just fitted on is in
			// that bucket's value already: fed again it would count twice,
			// and the model's first forecast would come an evaluation
			// earlier when the sample is not on its bucket's start than
			// when it is.
			// (fitted is the empty Window, which holds nothing, unless
			// the model was rebuilt just now: asked first, inline.)
			if tn := st.ns; tn > mm.Model.LastUnixNano && !(fitted.Step > 0 && fitted.holds(smp.Time)) {
				f, rise = observe(mm, tn, y, lead)
			}
		}
		// The spread once this sample is scored, worked out once (a square
		// root) for the upper bound below and the noise release (4b). It
		// is read before the continues, so that every metric counts for
		// the noise and the release never judges by a noise it does not
		// know. (It was once gathered after them: a metric whose young
		// model had no spread yet was skipped, and alone it left a noise
		// of 0, so every damped scale-in of an instance went through.)
		sd, spread := mm.Spread()
		spreads[i], spreadKnown[i] = sd, spread
		if !observed || mm.Model.Count < minForecastObservations {
			continue
		}
		// An overdue sample, older than two data steps plus stale_after
		// (the source has stopped, not merely paused between samples or
		// missed one), forecasts nothing: its skill was measured a lead
		// ahead of fresh samples, not hours into an outage, and with
		// scale-in barred on stale data every forecast rise while blind
		// would ratchet the group up to the day's peak and hold it there (a
		// 30-hour hole in app_cpu cost 6.5 % more instance-hours than
		// prediction off; one step instead of two also stopped forecasts
		// across single missed samples, BENCHMARKS.md issue 9 "missing
		// rows"). The metric then holds, as stale data does (rule 3).
		if at.afterSumStamp(0, &st, 2*mm.Model.Step+p.StaleAfter.D()) {
			continue
		}
		// What is decided on one sample must last until a decision on the
		// next one can take effect: forecast for the sample's time plus the
		// data step plus the lead (never less than now+lead). Between two
		// samples the target then stays put, so a forecast does not creep
		// up minute by minute on a 30-minute trace, one scale-out per
		// evaluation; observe's forecast (for the sample time + lead) is
		// the one that is scored.
		moves := false // the forecast's target moves with now
		switch step := mm.Model.Step + lead; {
		case at.afterSumStamp(lead, &st, step): // a sample older than a step
			f, rise = anchoredForecast(mm, y, smp.Time, now.Add(lead)), math.NaN()
			moves = true
		case math.IsNaN(f) && mm.Model.LastUnixNano == st.ns: // between samples
			_, decided := mm.horizonsFor(lead)
			f = mm.Model.ForecastAhead(decided) + mm.Persist*(y-mm.Model.ForecastAhead(forecast.Horizon{}))
		case math.IsNaN(f):
			f = anchoredForecast(mm, y, smp.Time, smp.Time.Add(step))
		}
		if isFinite(f) {
			// The capacity bought now serves from the first sample it
			// can be ready for, not only at the decided time
			// (raiseToReady).
			f = mm.raiseToReady(f, &st, &at, lead, rise)
			mp.Forecast = max(f, 0)
			if mm.Model.Week.Active() { // the common case, inline: none acting
				mp.Weekly = weeklyPart(mm, smp.Time, &at, lead, f)
			}
			mp.Predictive = demandProposal(m, mp.Forecast, current, p.Tolerance)
			mp.Season, mp.SeasonScale = mm.Model.Period, mm.Model.SeasonScale()
			mp.Skill, mp.RaiseGain = mm.Skill(), mm.RaiseGain()
			// The time-of-day skill is read at the time the decided
			// forecast is for (MetricModel.decidedAt's rule, here in the
			// sample's nanoseconds already worked out: the later of the
			// sample plus the step plus the lead and now plus the lead),
			// the time it must be right at, and only where it can decide:
			// where the recent skill does not trust the forecast or the
			// gain vetoes it.
			if !(mp.Skill > 0) || mp.RaiseGain < 0 {
				mp.SlotSkill = float32(mm.SlotSkill(max(st.ns+int64(mm.Model.Step+lead), now.UnixNano()+int64(lead)), lead))
			}
			// Trusted when the forecast beats persistence, lately or at
			// this time of day on earlier days (see slotDays), and its
			// raises above persistence have paid in capacity: the second
			// keeps a smoothed forecast of a bursty series, which beats
			// persistence but sits above every trough, from buying idle
			// instances, a cost that grows with the group (rounding hides
			// it at 20 instances, not at 100). A gain of 0 (no forecast
			// above persistence lately, as on a fall) or NaN (nothing lost
			// by holding) does not veto.
			mp.Trusted = (mp.Skill > 0 || mp.SlotSkill > 0) && !(mp.RaiseGain < 0)
			mp.Upper = max(mm.upper(mp.Forecast, sd, spread), 0)
			if mp.Trusted {
				predictive = max(predictive, mp.Predictive)
				refresh = refresh || moves || mm.Model.Step <= window
			}
		}
	}
	d.Reactive, d.Predictive, d.Stale = reactive, predictive, anyStale

	// 2. The recommendation.
	rec := reactive
	bound := LimitNone
	if anyFresh && allTolerance {
		bound = LimitTolerance
	}
	// The forecast's cost bound: once the account is spent, a trusted
	// forecast above the recommendation does not raise it, and so nothing
	// enters the stabilization window for it (see extra.go).
	bounded := scaling && p.Predictive.MaxExtra.On()
	heldBack := false
	if bounded {
		s.Extra.charge(&at, current)
		if used, spent := s.Extra.spent(p.Predictive.MaxExtra.Percent() / 100); spent && predictive > rec {
			d.HeldBack, heldBack = used, true
		}
	} else if !s.Extra.Empty() {
		// Without the bound no account is kept (its state is written as
		// before version 7); the shadow's buffer is kept for reuse.
		s.Extra = ExtraAccount{Recommendations: s.Extra.Recommendations[:0]}
	}
	if scaling && predictive > rec && !heldBack {
		rec = predictive
		d.UsedForecast = true
		bound = LimitNone
	}
	fresh := rec // what the fresh data asks for, before the stale-data hold
	switch {
	case !anyFresh:
		// No data at all: hold, or grow to the fallback size. Never shrink.
		rec = max(rec, current)
		if p.FallbackSize > rec {
			rec = p.FallbackSize
		}
		bound = LimitStaleData
	case anyStale && rec < current:
		rec = current
		bound = LimitStaleData
	}
	d.Recommended = rec
	// The guard (guardSize) speaks only where capacity may be released
	// (the recommendation below the current size, so a hold or a scale-in
	// follows), and is worked out only then: it forecasts every data step
	// of the lead.
	guard, guarded := 0, false
	if scaling && rec < current {
		guard, guarded = guardSize(p, in, s, d, &at)
	}

	// 3. Scale-in stabilization over a monotonic queue of recommendations.
	// Only a new fresh sample is evidence: a hold forced by stale data says
	// nothing about demand, and an evaluation between two samples sees the
	// same sample again. Entering either would keep an old, higher
	// recommendation alive for ever on a trace sampled less often than
	// stale_after (every 5 minutes against the default 60 s).
	// A forecast that raised the recommendation is new evidence at every
	// evaluation where it looks at a later instant (its sample older than
	// a step, the target now plus the lead), or where its data's step is
	// within the window. Between two samples its target stays put (the
	// sample plus the step plus the lead), and on data whose step is
	// within the window the sample's own entry holds the window until the
	// next sample anyway (re-entered, up to the edge: a 5-minute step
	// against a 5-minute window). On data whose step is longer than the
	// window, the sample's decision leaves the window before the next
	// sample, and re-entering it at every evaluation carried it into the
	// next sample's window, where it held a scale-in that sample's fresh
	// evidence asked for a step late (hourly data: an hour late). With
	// the forecast's cost bound charging a stale hold (extra.go), those
	// hours were the forecast's budget; left out, the hourly held-out rows
	// spend it on raises that pay (BENCHMARKS.md, issue 9, "the hourly
	// held-out rows").
	desired := rec
	newEvidence := anyFresh && evidence.After(s.Evidence)
	push := newEvidence || (d.UsedForecast && refresh)
	if newEvidence {
		s.Evidence = evidence
	}
	// A forecast that raised the recommendation bought capacity for now
	// plus the lead, and holds it until then even where the window is
	// shorter than the lead (stabilization 0 is valid): its entry is dated
	// lead − window later, so it leaves the window at now + lead. Without
	// it, such a window shed what the forecast bought at the next
	// evaluation that did not raise, and bought it again at the next that
	// did (asg_cpu with stabilization 0: 1.34 times prediction off's
	// actions; BENCHMARKS.md, i9-policyvar). A later, higher entry
	// replaces it as any does.
	var forecastHold time.Duration
	if d.UsedForecast && lead > window {
		forecastHold = lead - window
	}
	s.Recommendations = pushRecommendation(s.Recommendations, &at, fresh, push, window, forecastHold)
	if bounded {
		// The shadow's window holds the reactive proposals alone.
		s.Extra.Recommendations = pushRecommendation(s.Extra.Recommendations, &at, reactive, newEvidence, window, 0)
	}
	if desired < current && len(s.Recommendations) > 0 {
		if high := min(s.Recommendations[0].Size, current); high > desired {
			desired = high
			bound = LimitStabilization
		}
	}
	// Forecast-guarded scale-in: the window holds capacity in case demand
	// comes back. When the forecasts' upper bounds over the lead say it will
	// not, release it (never below the recommendation, so never below the
	// reactive proposal); when one reaches it, the hold stands. Without this,
	// capacity added ahead of a predicted peak is paid for a whole window
	// after the peak has passed.
	if bound == LimitStabilization && guarded {
		// A release smaller than the tolerance band would be followed by
		// another at nearly every evaluation as the bound drifts down.
		switch to := max(guard, rec); {
		case to >= desired:
			d.ScaleInRule = RuleForecastHold
		case float64(desired-to) >= max(1, p.Tolerance*float64(current)):
			desired, bound = to, LimitNone
			d.ScaleInRule = RuleForecastRelease
		}
	}

	// Guarded pace: the scale-in rate limit is built for a blind scale-in,
	// which cannot tell a dip from the end of a peak. When every metric's
	// trusted forecast upper bound over the lead and the reactive proposal
	// agree that demand is below the current size, the release down to the
	// size they agree on (guardedTo) is not held to max_step; only the part
	// below it is. Cooldowns and anti-flapping still apply: a cooldown is
	// the operator's "at most this often", max_step only "this far blind".
	// Without it, capacity the forecasts no longer need is shed only
	// max_step at a time (10 % a minute was the default then, and once per
	// cooldown where one is set), and after a peak on a 5-minute trace it
	// was paid for up to an hour longer than the HPA reference's.
	guardedTo := current
	if guarded && desired < current {
		guardedTo = min(current, max(guard, rec, desired))
	}

	// 4. Cooldowns.
	if desired > current && !s.LastScaleOut.IsZero() && now.Before(s.LastScaleOut.Add(p.ScaleOut.Cooldown.D())) {
		desired, bound = current, LimitCooldown
	}
	if desired < current {
		last := s.LastScaleOut
		if s.LastScaleIn.After(last) {
			last = s.LastScaleIn
		}
		if !last.IsZero() && now.Before(last.Add(p.ScaleIn.Cooldown.D())) {
			desired, bound = current, LimitCooldown
		}
	}

	// 4b. Anti-flapping: after flapMinReversals direction reversals within
	// the flapping window, a scale-in must also wait until the last
	// scale-out is older than the stabilization window (at least the
	// scale-in cooldown) times one plus the number of reversals, so an
	// oscillating signal is followed more slowly the longer it oscillates.
	// Noise release: when no forecast raised a scale-out since the last
	// scale-in (the capacity to shed was bought by the reactive rule, so
	// the forecast did not cause this swing), a scale-in deeper than
	// flapNoiseZ times the series' own forecast-error spread is a fall in
	// demand beyond its noise, not a swing around a level, and is not
	// damped. The spread adapts per series; the examples' hourly cycle of a
	// forecast asking for capacity that the reactive side sheds half an
	// hour later keeps its damping, because the forecast bought that rise.
	// (The rule used to ask whether any forecast was trusted now: on noisy
	// 5-minute traces a forecast is trusted most of the time, so every
	// reactive swing was damped too, at 1.07-1.20x the reference's
	// instance-hours.)
	if len(s.Reversals) > 0 { // the cut is a time.Time sum: only worked out when there is something to prune
		s.Reversals = pruneBefore(s.Reversals, now.Add(-flapWindow(p)), timeOf)
	}
	d.Reversals = len(s.Reversals)
	if desired < current && len(s.Reversals) >= flapMinReversals && !s.LastScaleOut.IsZero() {
		wait := time.Duration(1+min(len(s.Reversals), flapMaxFactor)) * flapUnit(p)
		switch noise, known := noiseSpread(p, &spreads, &spreadKnown, predicting); {
		case !now.Before(s.LastScaleOut.Add(wait)):
		case known && !s.LastForecastScaleOut.After(s.LastScaleIn) && float64(current-desired) >= max(1, flapNoiseZ*noise):
			d.ScaleInRule = RuleNoiseRelease
		default:
			desired, bound, d.Damped = current, LimitFlapping, true
		}
	}

	// 5. Rate limits.
	if len(s.Changes) > 0 {
		s.Changes = pruneBefore(s.Changes, now.Add(-max(p.ScaleOut.MaxStep.Period.D(), p.ScaleIn.MaxStep.Period.D())), changeAt)
	}
	if desired > current {
		if limit, ok := upperLimit(p.ScaleOut.MaxStep, s.Changes, current, now); ok && desired > limit {
			desired, bound = max(limit, current), LimitRateLimit
		}
	} else if desired < current {
		if limit, ok := lowerLimit(p.ScaleIn.MaxStep, s.Changes, current, now); ok && desired < limit {
			want := desired
			desired, bound = min(limit, current), LimitRateLimit
			if guardedTo < desired {
				desired, d.ScaleInRule = guardedTo, RuleForecastRelease
				if desired == want {
					bound = LimitNone // the limit no longer decided anything
				}
			}
		}
	}

	// 6. Bounds, narrowed by the scheduled windows open now (or, for a
	// raised min, opening within the warmup).
	var sched scheduleBounds // none without schedules: boundsAt would return the zero value
	if len(p.Schedules) > 0 {
		sched = boundsAt(p.Schedules, now, p.Warmup.D())
	}
	lo, hi := sched.apply(p.Min, p.Max)
	// The budget caps the size like a lower max. Validation keeps it from
	// going below any min; were it ever to, the min wins.
	capped := false
	if limit, ok := p.Budget.Cap(p.Cost); ok && limit < hi && limit >= lo {
		hi, capped = limit, true
	}
	paced := desired // the size the rules above chose, before the bounds
	if clamped := min(max(desired, lo), hi); clamped != desired {
		if capped && clamped == hi && clamped < desired {
			bound = LimitBudget
		} else if name := sched.binding(clamped, p.Min, p.Max, clamped > desired); name != "" {
			bound, d.Schedule = LimitSchedule, name
		} else {
			bound = LimitBounds
		}
		desired = clamped
	} else if desired == current && rec != current {
		// A hold at a schedule's raised min (demand asks for less) or
		// lowered max (demand asks for more): the window alone holds the
		// group there, whatever pacing rule also did, and an operator
		// reading "cooldown" or "flapping" during the window would look
		// for the wrong cause.
		if name := sched.binding(current, p.Min, p.Max, rec < current); name != "" {
			bound, d.Schedule, d.Damped = LimitSchedule, name, false
		}
	}

	d.Desired, d.Bound = desired, bound
	if bounded {
		top := 0
		if q := s.Recommendations; len(q) > 0 {
			top = q[0].Size
		}
		// On stale data the group holds what it had, so the excess the
		// last decision charged is held with it (kept).
		kept := 0
		if !anyFresh {
			kept = s.Extra.Excess
		}
		shadow := s.Extra.follow(reactive, anyFresh, anyStale, current, bound, d.Damped)
		s.Extra.Excess = excess(desired, shadow, predictive, d.UsedForecast, top, current, kept)
	}
	d.HourlyCost = p.Cost.Hourly(desired)
	switch {
	case desired > current:
		d.Action = ActionScaleOut
		s.LastScaleOut = now
		if d.UsedForecast {
			s.LastForecastScaleOut = now
		}
		s.Changes = append(s.Changes, Change{At: now, From: current, To: desired})
	case desired < current:
		d.Action = ActionScaleIn
		s.LastScaleIn = now
		s.Changes = append(s.Changes, Change{At: now, From: current, To: desired})
	}
	// A step the schedule made (the rules above held or moved the other
	// way, and the window's bound moved the group) is the calendar's, not
	// demand changing direction: it is no reversal and leaves the last
	// direction as demand set it, so a window's open and close do not
	// count toward flapping and damp the scale-ins after it.
	scheduled := bound == LimitSchedule && cmp.Compare(desired, current) != cmp.Compare(paced, current)
	if d.Action != ActionHold && !scheduled {
		if s.LastAction != ActionHold && s.LastAction != d.Action {
			d.Reversal = true
			if len(s.Reversals) == maxReversals {
				s.Reversals = s.Reversals[:copy(s.Reversals, s.Reversals[1:])]
			}
			s.Reversals = append(s.Reversals, now)
			d.Reversals = len(s.Reversals)
		}
		s.LastAction = d.Action
	}
}

// reactiveProposal is HPA-style target tracking for one fresh sample.
func reactiveProposal(m *Metric, smp Sample, in *Inputs, tolerance float64) (int, bool) {
	value := smp.Value
	if m.Type == MetricCPU {
		over := in.MeasuredOver(smp)
		if in.Current > 0 && math.Abs(value/m.Target-1) <= tolerance {
			return in.Current, true
		}
		return ceilSize(float64(over) * value / m.Target), false
	}
	if withinBand(value, m.Target, in.Current, tolerance) {
		return in.Current, true
	}
	return ceilSize(value / m.Target), false
}

// demandProposal turns a demand (requests/s, backlog, or cpu
// percent-instances) into a size, keeping the current size when the demand
// per current instance is within the tolerance band.
func demandProposal(m *Metric, demand float64, current int, tolerance float64) int {
	if withinBand(demand, m.Target, current, tolerance) {
		return current
	}
	return ceilSize(demand / m.Target)
}

// withinBand reports whether demand spread over current instances is within
// tolerance of the per-instance target.
func withinBand(demand, target float64, current int, tolerance float64) bool {
	if current <= 0 {
		return false
	}
	return math.Abs(demand/(target*float64(current))-1) <= tolerance
}

// demand converts a sample to the quantity forecasts model: cpu utilization
// becomes percent-instances over the instances it was measured on.
func demand(m *Metric, smp Sample, in *Inputs) float64 {
	if m.Type == MetricCPU {
		return smp.Value * float64(in.MeasuredOver(smp))
	}
	return smp.Value
}

func ceilSize(x float64) int {
	if !(x > 0) {
		return 0
	}
	if x > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(math.Ceil(x - roundingSlack))
}

// pushRecommendation drops the entries of the monotonic queue that left the
// window and, when add is set, adds rec, dropping entries no higher than rec
// first (they can never be the maximum again). It reuses q's storage. A
// positive later dates the new entry that much after now, so it stays in
// the window that much longer (a forecast's hold until its target time);
// the queue's maximum is still its first entry, since an entry is dropped
// behind a higher one only, and one dated later than an entry behind it
// only keeps that lower entry until it leaves itself.
//
// It prunes as pruneBefore does with the cut now − window, comparing each
// time with the cut through at (instant.cut, worked out once a call): at
// every evaluation, so in integers where at's fast path allows, without a
// time.Time sum or an indirect call per entry.
func pushRecommendation(q []Recommendation, at *instant, rec int, add bool, window, later time.Duration) []Recommendation {
	drop := 0
	if len(q) > 0 {
		// !q[drop].At.After(now.Add(-window)), i.e. !c.before, with the
		// fast path inline: a call per entry cost more than the comparison.
		c := at.cut(-window)
		for ; drop < len(q); drop++ {
			if un, ok := wallNanos(q[drop].At); ok && at.fast {
				if c.beforeNanos(un) {
					break
				}
			} else if c.before(q[drop].At) {
				break
			}
		}
	}
	if drop > 0 {
		q = q[:copy(q, q[drop:])]
	}
	if (window <= 0 && later <= 0) || !add {
		return q
	}
	for len(q) > 0 && q[len(q)-1].Size <= rec {
		q = q[:len(q)-1]
	}
	if later > 0 {
		return append(q, Recommendation{At: at.t.Add(later), Size: rec})
	}
	return append(q, Recommendation{At: at.t, Size: rec})
}

// Anti-flapping: a group that reverses direction flapMinReversals times
// within flapWindow is oscillating, whatever caused it (a noisy metric, a
// forecast and the reactive rule pulling in turn, a cpu load that moves with
// the group's size).
const (
	// flapMinReversals is how many reversals within the window count as
	// flapping: one reversal is an ordinary peak (out, then in).
	flapMinReversals = 3
	// flapMaxFactor caps how many times the stabilization window a damped
	// scale-in waits after the last scale-out.
	flapMaxFactor = 8
	// flapNoiseZ is how many standard deviations of the forecast error a
	// damped scale-in must shed to go through (see Evaluate's noise release).
	flapNoiseZ = 2
	// maxReversals bounds the reversals kept in State.
	maxReversals = 64
	// minFlapWindow is the shortest flapping window.
	minFlapWindow = time.Hour
)

// noiseSpread is the widest of the metrics' forecast-error spreads at the
// lead, in instances (each spread over its metric's target), for the noise
// release. spreads and spreadKnown are each metric's MetricModel.Spread as
// EvaluateInto read it, once, after scoring the evaluation's sample. known
// is false with prediction off and unless every metric has a spread, so
// the release never judges by a noise it does not know.
func noiseSpread(p *Policy, spreads *[MaxMetrics]float64, spreadKnown *[MaxMetrics]bool, predicting bool) (noise float64, known bool) {
	if !predicting || len(p.Metrics) == 0 {
		return 0, false
	}
	for i := range p.Metrics {
		if !spreadKnown[i] || !(p.Metrics[i].Target > 0) {
			return 0, false
		}
		noise = max(noise, spreads[i]/p.Metrics[i].Target)
	}
	return noise, true
}

// flapWindow is how far back reversals count: eight times the longer of the
// scale-in stabilization window and cooldown, and at least an hour, so the
// window scales with how slowly the policy means to scale in. Eight, not
// four: a group that buys back each hour's peak shortly after releasing it
// (asg-cpu's hourly job) reverses twice an hour but only during some hours,
// and a shorter window saw too few reversals at once to damp it; a daily
// cycle reverses about twice a day, far fewer.
func flapWindow(p *Policy) time.Duration {
	return max(minFlapWindow, 8*max(p.ScaleIn.Stabilization.D(), p.ScaleIn.Cooldown.D()))
}

// flapUnit is what a damped scale-in waits per reversal (see 4b in
// evaluate): the longer of the scale-in stabilization window and cooldown,
// so damping scales with how slowly the policy means to scale in, and at
// least the warmup. The floor is for a policy that scales in at once
// (stabilization 0 and no cooldown, both valid): with the window alone as
// the unit its damping waited 0 s, so anti-flapping was off however often
// the group reversed, and a flapping group released capacity before the
// instances bought for it had come up (crane_input1 with stabilization 0:
// 117 actions a day, the HPA reference 54; BENCHMARKS.md, i9-policyvar).
// Capacity shed less than a warmup after it was bought never served. The
// flapping window keeps the policy's own scale-in pace: counting reversals
// over eight warmups as well cost a 10-minute-warmup group up to 25 % more
// instance-hours with prediction off (measured there too).
func flapUnit(p *Policy) time.Duration {
	return max(p.ScaleIn.Stabilization.D(), p.ScaleIn.Cooldown.D(), p.Warmup.D())
}

// pruneBefore drops the leading entries of s (oldest first) whose time, as
// at reads it, is at or before cut, in place: the one pruning rule of the
// state's change, recommendation and reversal lists (pushRecommendation
// spells it out for the recommendations, which it prunes at every
// evaluation).
func pruneBefore[T any](s []T, cut time.Time, at func(*T) time.Time) []T {
	drop := 0
	for drop < len(s) && !at(&s[drop]).After(cut) {
		drop++
	}
	if drop == 0 {
		return s
	}
	return s[:copy(s, s[drop:])]
}

func timeOf(t *time.Time) time.Time { return *t }
func changeAt(c *Change) time.Time  { return c.At }

// periodStart is the size at the start of the period: the current size
// minus the net change made within it.
func periodStart(changes []Change, current int, now time.Time, period time.Duration) int {
	cut := now.Add(-period)
	start := current
	for _, c := range changes {
		if c.At.After(cut) {
			start -= c.To - c.From
		}
	}
	return max(start, 0)
}

// allowedStep is the larger of the absolute and the relative change allowed
// per period, at least one instance so a limit never freezes a small group.
func allowedStep(ms MaxStep, start int, roundUp bool) (int, bool) {
	if ms.Period <= 0 || (ms.Instances <= 0 && ms.Percent <= 0) {
		return 0, false
	}
	rel := float64(start) * ms.Percent / 100
	var pct int
	if roundUp {
		pct = int(math.Ceil(rel - roundingSlack))
	} else {
		pct = int(math.Floor(rel + roundingSlack))
	}
	return max(ms.Instances, pct, 1), true
}

func upperLimit(ms MaxStep, changes []Change, current int, now time.Time) (int, bool) {
	start := periodStart(changes, current, now, ms.Period.D())
	step, ok := allowedStep(ms, start, true)
	return start + step, ok
}

func lowerLimit(ms MaxStep, changes []Change, current int, now time.Time) (int, bool) {
	start := periodStart(changes, current, now, ms.Period.D())
	step, ok := allowedStep(ms, start, false)
	return start - step, ok
}

// weeklyPart is what the weekly adjustment added to the decided forecast
// max(f, 0), made on the observation at observedAt: that forecast minus the
// same model's without the adjustment, which learns alike (forecast.Week
// never feeds back into the model). The decided forecast is for
// decidedAt; its anchoring takes back
// Persist's share of the adjustment at the observation's time, as it does
// of the model's whole value there. NaN when the adjustment did not act.
func weeklyPart(mm *MetricModel, observedAt time.Time, at *instant, lead time.Duration, f float64) float64 {
	from, acting := mm.Model.Weekly(observedAt)
	if !acting {
		return math.NaN()
	}
	to, _ := mm.Model.Weekly(mm.decidedAt(observedAt, at, lead))
	return clampedPart(f, to-mm.Persist*from)
}

// clampedPart is what part of f adds to max(f, 0): max(f, 0) minus
// max(f-part, 0), so a part that a forecast below zero would have lost in
// the clamp is not reported as added.
func clampedPart(f, part float64) float64 {
	switch without := f - part; {
	case without >= 0 && f >= 0:
		return part
	case without >= 0:
		return -without
	default:
		return max(f, 0)
	}
}
