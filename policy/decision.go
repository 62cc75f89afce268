package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limit names the rule that bound a decision's result.
type Limit uint8

// The rules that can bind a decision, in the order Evaluate applies them.
const (
	// LimitNone means the recommendation went through unchanged.
	LimitNone Limit = iota
	// LimitTolerance means every proposal was within the tolerance band.
	LimitTolerance
	// LimitStaleData means stale or missing data prevented a scale-in or
	// triggered the fallback size.
	LimitStaleData
	// LimitStabilization means a higher recommendation within the scale-in
	// stabilization window held the size up.
	LimitStabilization
	// LimitCooldown means a scale-out or scale-in cooldown was running.
	LimitCooldown
	// LimitRateLimit means the max_step rate limit capped the change.
	LimitRateLimit
	// LimitBounds means min or max clamped the result.
	LimitBounds
	// LimitFlapping means a scale-in was damped because the group reversed
	// direction too often within the flapping window.
	LimitFlapping
	// LimitSchedule means a scheduled window's min or max clamped the
	// result, or held the group on it while demand asked to leave it
	// (Decision.Schedule names the window).
	LimitSchedule
	// LimitBudget means the policy's budget capped the size: more
	// instances would cost more per hour than budget.max_hourly_cost.
	LimitBudget
)

// lastLimit is the highest Limit, for parsing.
const lastLimit = LimitBudget

// String is the name used in decision records and timelines.
func (l Limit) String() string {
	switch l {
	case LimitNone:
		return "none"
	case LimitTolerance:
		return "tolerance"
	case LimitStaleData:
		return "stale-data"
	case LimitStabilization:
		return "stabilization"
	case LimitCooldown:
		return "cooldown"
	case LimitRateLimit:
		return "rate-limit"
	case LimitBounds:
		return "bounds"
	case LimitFlapping:
		return "flapping"
	case LimitSchedule:
		return "schedule"
	case LimitBudget:
		return "budget"
	default:
		return fmt.Sprintf("limit(%d)", uint8(l))
	}
}

// MarshalText renders the limit's name.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses a limit's name.
func (l *Limit) UnmarshalText(b []byte) error {
	c, ok := byName(string(b), LimitNone, lastLimit)
	if !ok {
		return fmt.Errorf("unknown limit %q", b)
	}
	*l = c
	return nil
}

// byName returns the value from first to last (inclusive; last below the
// type's largest) whose String is name, and false when none is: the one
// lookup of the decision record's enums that are written by their names
// (Limit, ScaleInRule), so that a name reads back as the value it was
// written from.
func byName[E interface {
	~uint8
	String() string
}](name string, first, last E) (E, bool) {
	for c := first; c <= last; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// Action is what a decision does to the group.
type Action uint8

// The actions.
const (
	// ActionHold keeps the current size.
	ActionHold Action = iota
	// ActionScaleOut grows the group.
	ActionScaleOut
	// ActionScaleIn shrinks the group.
	ActionScaleIn
)

// String is the action's name.
func (a Action) String() string {
	switch a {
	case ActionScaleOut:
		return "scale-out"
	case ActionScaleIn:
		return "scale-in"
	default:
		return "hold"
	}
}

// ScaleInRule names the rule that decided about capacity held by the
// scale-in stabilization window, the scale-in rate limit or anti-flapping.
type ScaleInRule uint8

// The forecast rules of a scale-in.
const (
	// RuleNone means no forecast rule applied.
	RuleNone ScaleInRule = iota
	// RuleForecastRelease means the forecasts' upper bounds over the lead
	// showed the held capacity is not needed, so it was released below the
	// stabilization hold, or further than the scale-in max_step allows a
	// blind step (never below the recommendation or the upper bounds).
	RuleForecastRelease
	// RuleForecastHold means an upper bound reached the held capacity, so
	// the stabilization hold stood. The bounds are over the lead (the
	// highest forecast for each data step up to the decided forecast's
	// time); the record's Upper is the decided forecast's own, so a hold
	// can rest on a higher bound earlier in the lead than the one shown.
	RuleForecastHold
	// RuleNoiseRelease means anti-flapping would have damped the scale-in,
	// but no forecast raised a scale-out since the last scale-in (so none
	// bought the capacity being shed) and the scale-in sheds more than
	// twice the series' forecast-error spread: a fall in demand beyond its
	// noise.
	RuleNoiseRelease
)

// lastRule is the highest ScaleInRule, for parsing.
const lastRule = RuleNoiseRelease

// String is the rule's name in decision records.
func (r ScaleInRule) String() string {
	switch r {
	case RuleForecastRelease:
		return "forecast-release"
	case RuleForecastHold:
		return "forecast-hold"
	case RuleNoiseRelease:
		return "noise-release"
	default:
		return "none"
	}
}

// MarshalText renders the rule's name.
func (r ScaleInRule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a rule's name.
func (r *ScaleInRule) UnmarshalText(b []byte) error {
	c, ok := byName(string(b), RuleNone, lastRule)
	if !ok {
		return fmt.Errorf("unknown scale-in rule %q", b)
	}
	*r = c
	return nil
}

// MetricProposal is what one metric asked for.
type MetricProposal struct {
	// Value is the sample value the proposal was computed from.
	Value float64
	// Reactive is the size the current value asks for (after tolerance);
	// 0 when stale.
	Reactive int
	// Forecast is the value expected at the sample's time plus the data
	// step plus the lead, or at now+lead if that is later: what a decision
	// on this sample must cover until one on the next sample can take
	// effect (for cpu: demand in percent-instances, i.e. utilization ×
	// in-service instances), raised by how much higher the daily shape is
	// at the first sample the capacity can be ready for when it is;
	// NaN when no forecast was made.
	Forecast float64
	// Predictive is the size the forecast asks for; 0 when no forecast.
	Predictive int
	// Upper is the forecast's upper bound (Forecast plus the recent bias and
	// 1.645 standard deviations of the recent lead-ahead error); NaN until
	// enough forecasts are scored.
	Upper float64
	// Weekly is what the weekly adjustment (forecast.Week) added to
	// Forecast, in its units (negative when it lowered it): Forecast minus
	// the same model's forecast without the adjustment. NaN when the
	// adjustment did not act for this forecast (no forecast, no daily
	// season, or an adjustment still learning or failing its test).
	Weekly float64
	// SeasonScale is the factor the forecast's seasonal shape was
	// multiplied by where the season scales with the level
	// (forecast.Model.SeasonScale: the level smoothed over about a season
	// over the level the shape is measured in, where the season was seeded
	// or, after an additive season followed a launch, the mean level of
	// the periods it was chosen on; within [0.25, 4]): 1.84 when the daily
	// swing is 84 % larger than at that level.
	// 0 for an additive season, none, or no forecast.
	SeasonScale float64
	// Season is the seasonal period the forecast used; 0 for none.
	Season time.Duration
	// Skill is 1 − (the forecast's mean asymmetric loss ÷ persistence's) at
	// the lead horizon; NaN until enough forecasts have been scored.
	Skill float64
	// RaiseGain is 1 − (the capacity loss of raising to the forecast where
	// it exceeded persistence ÷ that of holding at persistence) at the lead
	// horizon; NaN until enough forecasts have been scored or when holding
	// lost nothing.
	RaiseGain float64
	// SlotSkill is Skill over the earlier forecasts for the same time of
	// day as this one (MetricModel.SlotSkill); NaN without a season, until
	// that slot has two periods' worth of scores, and where Skill alone
	// trusted the forecast (it is not read then: it decides nothing).
	// float32, as the losses it comes from: in the padding before the
	// flags, the proposal (eight to a Decision, which is copied and
	// cleared at every evaluation) keeps its size.
	SlotSkill float32
	// The flags sit together so that a Decision, copied on every
	// evaluation, stays small.

	// Stale is true when the sample was missing or older than stale_after.
	Stale bool
	// WithinTolerance is true when the value was inside the tolerance band,
	// so Reactive is the current size.
	WithinTolerance bool
	// Trusted is true when Skill or SlotSkill is above 0 and RaiseGain is
	// not below 0: only trusted forecasts act.
	Trusted bool
}

// Decision is the outcome of one evaluation and its explanation. Next is the
// state to keep for the following evaluation.
type Decision struct {
	// Time is the evaluation instant.
	Time time.Time
	// Current and Ready are the inputs' sizes.
	Current, Ready int
	// Reactive is the largest fresh per-metric proposal.
	Reactive int
	// Predictive is the largest per-metric forecast proposal; 0 when none.
	Predictive int
	// Recommended combines reactive, predictive (when acting on forecasts)
	// and stale-data handling, before stabilization, cooldowns, rate limits and bounds.
	Recommended int
	// Desired is the final size.
	Desired int
	// Reversals is the number of direction reversals within the flapping
	// window, including this decision's.
	Reversals int
	// Action is what Desired means for the group.
	Action Action
	// Bound is the last rule that changed the result on its way from
	// Recommended (or from the proposals, for tolerance) to Desired.
	Bound Limit
	// Stale is true when at least one metric was stale or missing.
	Stale bool
	// UsedForecast is true when the predictive proposal raised the recommendation.
	UsedForecast bool
	// HeldBack, when above 0, is the forecast's extra instance-time as a
	// share of the rest over the trailing week (ExtraAccount) when the
	// cost bound (Predictive.MaxExtra) held a trusted forecast above the
	// recommendation back: it did not raise it.
	HeldBack float64
	// ScaleInRule is the forecast rule that released or kept capacity held
	// by the stabilization window (forecast-and-scale mode only).
	ScaleInRule ScaleInRule
	// Reversal is true when this decision's action reverses the direction
	// of the previous one (a scale-in after a scale-out or the other way
	// round). A scheduled window's own step (Bound LimitSchedule, the rules
	// before the bounds having held or gone the other way) is neither a
	// reversal nor a previous action: the calendar is not demand oscillating.
	Reversal bool
	// Damped is true when anti-flapping held back a scale-in (Bound is
	// then LimitFlapping).
	Damped bool
	// Schedule names the scheduled window whose min or max bound the
	// result (Bound is then LimitSchedule), or held the group on it while
	// demand asked to leave it; empty otherwise.
	Schedule string
	// HourlyCost is what Desired instances cost per hour at the policy's
	// price; 0 when the policy is not priced.
	HourlyCost float64
	// Metrics holds NumMetrics per-metric proposals, indexed like Policy.Metrics.
	Metrics [MaxMetrics]MetricProposal
	// NumMetrics is how many entries of Metrics are used.
	NumMetrics int
	// Next is the state after this decision, assuming it is carried out.
	Next State
}

// clearButNext sets every field of d but Next to its zero value: what
// evaluate starts from, without clearing the state it may be evaluating in
// place (EvaluateNext). TestClearButNextCoversEveryField holds that no
// field is left out.
func (d *Decision) clearButNext() {
	d.Time = time.Time{}
	d.Current, d.Ready, d.Reactive, d.Predictive, d.Recommended, d.Desired, d.Reversals = 0, 0, 0, 0, 0, 0, 0
	d.Action, d.Bound, d.ScaleInRule = 0, 0, 0
	d.Stale, d.UsedForecast, d.Reversal, d.Damped = false, false, false, false
	d.HeldBack, d.HourlyCost = 0, 0
	d.Schedule = ""
	d.Metrics = [MaxMetrics]MetricProposal{}
	d.NumMetrics = 0
}

// Proposals returns the used part of Metrics.
func (d *Decision) Proposals() []MetricProposal { return d.Metrics[:d.NumMetrics] }

// Reason is a one-line explanation: the action, the sizes and the binding rule.
func (d *Decision) Reason() string {
	var b strings.Builder
	b.WriteString(d.Action.String())
	if d.Action != ActionHold {
		fmt.Fprintf(&b, " %d->%d", d.Current, d.Desired)
	}
	if d.UsedForecast {
		b.WriteString(" forecast")
	}
	if d.HeldBack > 0 {
		b.WriteString(" forecast-held-back")
	}
	if d.ScaleInRule != RuleNone {
		b.WriteString(" rule:")
		b.WriteString(d.ScaleInRule.String())
	}
	if d.Reversal {
		b.WriteString(" reversal")
	}
	if d.Bound != LimitNone {
		b.WriteString(" bound:")
		b.WriteString(d.Bound.String())
		if d.Schedule != "" {
			b.WriteString(" " + d.Schedule)
		}
	}
	return b.String()
}

// skillText is a forecast's recent skill in a reason: "skill 0.30", or
// "recent skill not yet scored" while too few forecasts have been scored
// lately (the time-of-day skill can trust a forecast then).
func skillText(skill float64) string {
	if math.IsNaN(skill) {
		return "recent skill not yet scored"
	}
	return fmt.Sprintf("skill %.2f", skill)
}

// ShapeShown is how far from 1 a scaled season's factor must be before a
// reason names it. The factor moves the seasonal part of the forecast by
// (factor − 1) times that part. On the scoreboard's traces (targets set
// for about 20 instances at the p99) the needed size swings by a median
// 20 to 27 instances a day, so the shape spans about ±12 instances around
// the level: within 5 % of 1 the factor moves the forecast by under about
// 0.6 of an instance, which the proposal seldom shows, and naming it would
// lengthen the reasons of every policy whose season scales (the factor
// drifts with the level away from 1, the level its shape is measured in:
// where a scaled choice's replay seeded it, or the chosen periods' mean
// after an additive season followed a launch, forecast.Model.ScaleFrom,
// where it starts at the new level over that) to say little; from about
// 8 % it moves the forecast by an instance or more. The record carries
// the factor whatever its value.
const ShapeShown = 0.05

// ShapeMoved reports whether a reason names a season's factor k
// (MetricProposal.SeasonScale), as the simulator's report charts it: it
// scales with the level and k lies farther than ShapeShown from 1.
func ShapeMoved(k float64) bool {
	return k > 0 && math.Abs(k-1) > ShapeShown
}

// shapeName names a seasonal shape in a reason: "daily shape" for the
// 24-hour season, "1h shape" or "7d shape" for another.
func shapeName(season time.Duration) string {
	if season == 24*time.Hour {
		return "daily shape"
	}
	return Duration(season).String() + " shape"
}

// Explain is a human-readable account of the decision against its policy:
// each metric's value and proposal, the forecast, and the binding rule.
func (d *Decision) Explain(p Policy) string {
	var b strings.Builder
	b.WriteString(d.Reason())
	b.WriteString(":")
	for i, m := range d.Proposals() {
		if i >= len(p.Metrics) {
			break
		}
		spec := p.Metrics[i]
		if m.Stale {
			fmt.Fprintf(&b, " %s stale;", spec.Name)
			continue
		}
		fmt.Fprintf(&b, " %s=%.4g (target %.4g) proposes %d", spec.Name, m.Value, spec.Target, m.Reactive)
		if m.WithinTolerance {
			b.WriteString(" (within tolerance)")
		}
		if !math.IsNaN(m.Forecast) {
			fmt.Fprintf(&b, ", forecast %.4g", m.Forecast)
			if !math.IsNaN(m.Weekly) {
				fmt.Fprintf(&b, " (weekly %+.4g)", m.Weekly)
			}
			if ShapeMoved(m.SeasonScale) {
				fmt.Fprintf(&b, " (%s ×%.2f)", shapeName(m.Season), m.SeasonScale)
			}
			fmt.Fprintf(&b, " proposes %d", m.Predictive)
			if !math.IsNaN(m.Upper) {
				fmt.Fprintf(&b, " (upper bound %.4g)", m.Upper)
			}
			// The time-of-day skill is shown where it decided: it trusted
			// a forecast the recent skill did not, or it also had skill
			// when the gain vetoed.
			skilled := m.Skill > 0 || m.SlotSkill > 0
			tod := ""
			if m.SlotSkill > 0 && !(m.Skill > 0) || !m.Trusted && isFinite(float64(m.SlotSkill)) {
				tod = fmt.Sprintf(", at this time of day %.2f", m.SlotSkill)
			}
			switch {
			case math.IsNaN(m.Skill) && !skilled:
				b.WriteString(" (not trusted yet: too few forecasts scored)")
			case !m.Trusted && skilled:
				fmt.Fprintf(&b, " (not trusted: %s%s, but its raises cost more capacity than they saved: gain %.2f)", skillText(m.Skill), tod, m.RaiseGain)
			case !m.Trusted:
				fmt.Fprintf(&b, " (not trusted: %s%s)", skillText(m.Skill), tod)
			default:
				fmt.Fprintf(&b, " (%s%s)", skillText(m.Skill), tod)
			}
		}
		b.WriteString(";")
	}
	fmt.Fprintf(&b, " recommended %d, desired %d", d.Recommended, d.Desired)
	switch {
	case d.Damped:
		fmt.Fprintf(&b, "; scale-in damped: %d direction reversals within the flapping window", d.Reversals)
	case d.Reversals > 0:
		fmt.Fprintf(&b, "; %d direction reversals within the flapping window", d.Reversals)
	}
	if d.HeldBack > 0 {
		fmt.Fprintf(&b, "; forecast held back: prediction's extra instance-time %.1f %% of the reactive rule's over the trailing week, bound %s",
			100*d.HeldBack, strconv.FormatFloat(p.Predictive.MaxExtra.Percent(), 'g', -1, 64)+" %")
	}
	if limit, ok := p.Budget.Cap(p.Cost); ok && d.Bound == LimitBudget {
		fmt.Fprintf(&b, "; capped by the budget: %s %s per hour pays for %d instances",
			FormatMoney(p.Budget.MaxHourlyCost), p.Cost.Currency, limit)
	}
	return b.String()
}

// Record is the serializable form of a Decision without its next state: what
// the decision history stores and what the API and simulator show.
type Record struct {
	Time        time.Time   `json:"time"`
	Current     int         `json:"current"`
	Ready       int         `json:"ready"`
	Reactive    int         `json:"reactive"`
	Predictive  int         `json:"predictive"`
	Recommended int         `json:"recommended"`
	Desired     int         `json:"desired"`
	Action      string      `json:"action"`
	Bound       Limit       `json:"bound"`
	Stale       bool        `json:"stale"`
	Forecast    bool        `json:"used_forecast"`
	ScaleInRule ScaleInRule `json:"scale_in_rule,omitempty"`
	Reversal    bool        `json:"reversal,omitempty"`
	Reversals   int         `json:"reversals,omitempty"`
	Damped      bool        `json:"damped,omitempty"`
	Schedule    string      `json:"schedule,omitempty"`
	HourlyCost  float64     `json:"hourly_cost,omitempty"`
	// GroupAge is how old the group state the decision was made from
	// was: the leader reads its groups from a cache refreshed every
	// --group-refresh. Zero when unknown (the simulator, a hold or a
	// settled intent, records from before it was kept).
	GroupAge Duration       `json:"group_age,omitempty"`
	Reason   string         `json:"reason"`
	Metrics  []MetricRecord `json:"metrics"`
}

// MetricRecord is the serializable form of a MetricProposal.
type MetricRecord struct {
	Name            string   `json:"name"`
	Value           *float64 `json:"value,omitempty"`
	Stale           bool     `json:"stale"`
	Reactive        int      `json:"reactive"`
	WithinTolerance bool     `json:"within_tolerance"`
	Forecast        *float64 `json:"forecast,omitempty"`
	Predictive      int      `json:"predictive,omitempty"`
	Upper           *float64 `json:"forecast_upper,omitempty"`
	Weekly          *float64 `json:"weekly,omitempty"` // absent when the weekly adjustment did not act
	// SeasonScale is the factor the season's shape was multiplied by
	// where it scales with the level (MetricProposal.SeasonScale); absent
	// (0) for an additive season or none.
	SeasonScale float64  `json:"season_scale,omitempty"`
	Season      Duration `json:"season,omitempty"`
	Skill       *float64 `json:"skill,omitempty"`
	// SlotSkill is the forecast's skill at the time of day it forecasts
	// (MetricProposal.SlotSkill), which may trust it where the recent
	// skill does not; absent until that hour has scores enough.
	SlotSkill *float64 `json:"skill_at_time_of_day,omitempty"`
	Trusted   bool     `json:"trusted,omitempty"`
}

// Record converts the decision into its serializable record.
func (d *Decision) Record(p Policy) Record {
	r := Record{
		Time: d.Time.UTC(), Current: d.Current, Ready: d.Ready, Reactive: d.Reactive,
		Predictive: d.Predictive, Recommended: d.Recommended, Desired: d.Desired,
		Action: d.Action.String(), Bound: d.Bound, Stale: d.Stale, Forecast: d.UsedForecast,
		ScaleInRule: d.ScaleInRule, Reversal: d.Reversal, Reversals: d.Reversals, Damped: d.Damped,
		Schedule: d.Schedule, HourlyCost: d.HourlyCost, Reason: d.Explain(p),
	}
	for i, m := range d.Proposals() {
		mr := MetricRecord{Stale: m.Stale, Reactive: m.Reactive, WithinTolerance: m.WithinTolerance,
			Predictive: m.Predictive, SeasonScale: m.SeasonScale, Season: Duration(m.Season), Trusted: m.Trusted}
		if i < len(p.Metrics) {
			mr.Name = p.Metrics[i].Name
		}
		if !m.Stale {
			mr.Value = finiteRef(m.Value)
		}
		mr.Forecast, mr.Upper, mr.Weekly = finiteRef(m.Forecast), finiteRef(m.Upper), finiteRef(m.Weekly)
		mr.Skill, mr.SlotSkill = finiteRef(m.Skill), finiteRef(float64(m.SlotSkill))
		r.Metrics = append(r.Metrics, mr)
	}
	return r
}

// finiteRef is a record's optional number: x when it is finite, and nil
// (the field left out of the JSON) when it is NaN or infinite, which a
// proposal holds for "none" (no forecast, no skill yet) and JSON cannot
// carry.
func finiteRef(x float64) *float64 {
	if !isFinite(x) {
		return nil
	}
	return &x
}

// MarshalJSON encodes the action by name so records read well.
func (a Action) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// isFinite reports whether f is neither NaN nor infinite, with one
// comparison of |f| (a NaN compares false): it runs several times per
// evaluation and per backtest step.
func isFinite(f float64) bool { return math.Abs(f) <= math.MaxFloat64 }
