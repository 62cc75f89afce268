package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// State is what a policy remembers between evaluations: the last actions
// (cooldowns), recent size changes (rate limits), recent recommendations
// (scale-in stabilization) and each metric's forecasting model. It is a value
// the caller keeps; the replicated control plane stores it, so failover
// neither resets a cooldown nor forgets history.
type State struct {
	// LastScaleOut is when the policy last grew the group; zero if never.
	LastScaleOut time.Time
	// LastScaleIn is when the policy last shrank the group; zero if never.
	LastScaleIn time.Time
	// Changes are the size changes made within the longest rate-limit
	// period, oldest first.
	Changes []Change
	// Recommendations is a monotonic queue of the recommendations within the
	// scale-in stabilization window, one per fresh sample (stale-data holds
	// and repeated evaluations of one sample add none): sizes strictly
	// decrease, so the first entry is always the window's highest, and
	// times increase, except that an entry a forecast raised is dated up to
	// lead − window later when the lead is longer than the window (held to
	// its target time), and an entry behind it may be older.
	Recommendations []Recommendation
	// LastAction is the direction of the policy's latest scale action
	// (ActionHold before the first one), to tell a reversal from a repeat;
	// a scheduled window's own steps leave it as it was.
	LastAction Action
	// Reversals are the times of recent direction reversals (a scale-in
	// after a scale-out or the other way round) within the flapping window,
	// oldest first; see Policy's anti-flapping rule in Evaluate.
	Reversals []time.Time
	// Evidence is the time of the newest fresh sample a recommendation was
	// entered for; a sample no newer is not entered again.
	Evidence time.Time
	// LastForecastScaleOut is when a forecast last raised a scale-out
	// (Decision.UsedForecast); zero if never. Anti-flapping's noise release
	// reads it: a rise a forecast bought since the last scale-in may be the
	// cause of the reversals, a rise the reactive rule bought is not.
	LastForecastScaleOut time.Time
	// Models holds one forecasting model per policy metric (empty while
	// prediction is off).
	Models []MetricModel
	// Extra is the forecast's cost bound's account (Predictive.MaxExtra):
	// the instance-time prediction held above what the reactive rule alone
	// would have held, over a trailing week, and the reactive rule's own
	// size it is measured against. Zero while prediction is off or the
	// bound is off.
	Extra ExtraAccount
}

// ExtraAccount is what the forecast's cost bound remembers: its account of
// instance-time and a shadow of the size the reactive rule alone would
// hold. It is kept once per policy, not per metric, since the bound is on
// the group's size. Version 7 of the state encoding carries it (about 30
// bytes plus about 10 per queued recommendation); a state encoded before
// decodes with an empty account, which starts the bound afresh (a week
// with nothing spent).
type ExtraAccount struct {
	// At is when the account was last charged; zero if never.
	At time.Time
	// Held and Extra are instance-hours, exponentially decayed with a
	// week's time constant: Held the size the group held, Extra the part
	// of it that was the forecast's excess over the shadow.
	Held, Extra float64
	// Excess is the forecast's excess (instances) decided at At: what
	// Extra is charged until the next evaluation.
	Excess int
	// Shadow is the size the reactive rule alone would hold: it follows
	// the reactive proposal up, holds on stale data and wherever the
	// decision was held by a cooldown or anti-flapping, and on a scale-in
	// holds at the top of its own stabilization window.
	Shadow int
	// Recommendations is the shadow's own monotonic queue of the reactive
	// proposals within the scale-in stabilization window (the forecast's
	// proposals do not enter it), as State.Recommendations.
	Recommendations []Recommendation
}

// Empty reports whether the account holds nothing: the zero value, which
// every state encoded before version 7 decodes to.
func (a *ExtraAccount) Empty() bool {
	return a.At.IsZero() && a.Held == 0 && a.Extra == 0 && a.Excess == 0 && a.Shadow == 0 && len(a.Recommendations) == 0
}

// Change is one size change made by the policy.
type Change struct {
	// At is when the change was decided.
	At time.Time
	// From and To are the sizes before and after.
	From, To int
}

// Recommendation is a size recommended at an instant.
type Recommendation struct {
	// At is when it was recommended.
	At time.Time
	// Size is the recommended size.
	Size int
}

// MetricModel is one metric's forecasting state: the smoother and the
// running score of its forecasts against persistence (the last value).
type MetricModel struct {
	// Model is the smoother.
	Model forecast.Model
	// CheckedAt is when the season was last detected or configured; zero
	// forces a (re)configuration at the next evaluation.
	CheckedAt time.Time
	// TunedAt is when the model was last chosen by a backtest (or started
	// from too little history to backtest), and TunedSpan how much history
	// that had: the model is chosen again once it has run for three times
	// that or for the whole history window, whichever is shorter (at least
	// an hour), so while the window fills each choice rests on four times
	// the evidence of the last.
	TunedAt   time.Time
	TunedSpan time.Duration
	// Pending are forecasts made at past observations, waiting for the
	// first observation at or after their target time to be scored.
	Pending []PendingForecast
	// ErrForecast and ErrNaive are exponentially weighted means, at the lead
	// horizon, of the asymmetric loss (see asymmetricLoss: a forecast that
	// runs low costs more) of the forecast and of persistence. Version 1
	// states kept plain squared errors here.
	ErrForecast, ErrNaive float64
	// ErrBias and ErrSquare are exponentially weighted means of the
	// forecast's error (observed − forecast) and of its square, at the lead
	// horizon: the forecast's upper bound comes from them.
	ErrBias, ErrSquare float64
	// Params are the smoothing constants chosen for this series by the
	// backtest (forecast.DefaultParams for a model decoded from version 1).
	Params forecast.Params
	// Persist is the share, in [0, 1], of the latest residual (observation
	// minus the model's value) expected to persist over the lead, chosen by
	// the backtest: 1 anchors the forecast to the last observation, 0 trusts
	// the model alone.
	Persist float64
	// Scored counts the forecasts scored so far.
	Scored int
	// RaiseLoss and HoldLoss are exponentially weighted means, at the lead
	// horizon, of the capacity loss (see capacityLoss) of raising to the
	// forecast when it was above persistence (max(persistence, forecast))
	// and of holding at persistence. The decision rule takes the larger of
	// the reactive and the predictive proposal, so what a forecast is worth
	// to it is not its accuracy (Skill) but whether those raises paid; on a
	// bursty series a smoothed forecast sits above the troughs, scores well
	// against persistence, and still buys idle capacity at every trough.
	RaiseLoss, HoldLoss float64

	// Slots score the forecasts by the time of day they were for: per slot
	// of the model's season, as ErrForecast and ErrNaive do over the
	// recent ones (see SlotSkill). Nil until a forecast for a time of day
	// is scored, so never allocated without a season: the scores take 288
	// bytes, and a leader holds two or three models for each of 10,000
	// policies, many without a season. A nil and an empty Slots mean the
	// same (no scores) and encode alike. Clone copies them; like Pending
	// and the season, a plain copy of the model shares them.
	Slots *SlotScores

	// horizons caches derived forecast horizons; never encoded.
	horizons horizonCache
}

// horizonCache holds the horizons horizonsFor works out, and what scoring
// by the time of day derives (slotRates), with the step, lead, damping and
// season they were worked out for. It is derived state: a decoded or
// cloned model rebuilds or copies it and forecasts exactly the same.
type horizonCache struct {
	step, lead, period time.Duration
	phi                float64
	scored, decided    forecast.Horizon
	// slotWidth is the width of a time-of-day slot (0 without a season),
	// and slotExact whether TimeOfDaySlots of them make the period.
	slotWidth int64
	// slotFloor is the smallest weight of a slot's score, and slotMin the
	// scores a slot needs before its skill speaks.
	slotFloor float32
	slotMin   uint32
	// slotLo and slotHi are the span [slotLo, slotHi) of Unix nanoseconds
	// of the last slot slotOf worked out with a division, and slotAt that
	// slot (empty until then).
	slotLo, slotHi int64
	slotAt         int
	// The flags last, together, so that they pad the struct once.
	ok, slotExact bool
	// readySteps is readyAfter(step, lead) in data steps: where the
	// decided forecast's ready sample is after the observation; 0 when
	// there is none or the count does not fit (raiseToReady then works
	// the rise out itself). In the flags' padding: with an int64 a
	// MetricModel would outgrow its size class (TestMetricModelSize).
	readySteps uint32
}

// TimeOfDaySlots is how many slots a season's period is divided into for
// scoring forecasts by the time of day: hours of a daily season.
const TimeOfDaySlots = 24

// SlotScores are a model's forecast scores per time-of-day slot of its
// season. A slot's three numbers sit together, so scoring one touches one
// cache line.
type SlotScores [TimeOfDaySlots]SlotScore

// SlotScore is one time-of-day slot's score: weighted means over the
// forecasts for that slot on earlier periods of the asymmetric loss of the
// forecast and of persistence, and how many forecasts were scored there.
// float32, as the weekly adjustment's slots: a skill needs no more digits,
// and the state of 10,000 two-metric policies is replicated.
type SlotScore struct {
	// Forecast and Naive are the forecast's and persistence's weighted
	// mean asymmetric losses.
	Forecast, Naive float32
	// Scored counts the forecasts scored, capped at 65,535.
	Scored uint32
}

// Empty reports whether no slot has a score; nil has none.
func (s *SlotScores) Empty() bool { return s == nil || *s == SlotScores{} }

// PendingForecast is a forecast waiting for its outcome.
type PendingForecast struct {
	// At is the target time (Unix nanoseconds).
	At int64
	// Forecast is what the model expected at At; Naive is the value observed
	// when the forecast was made, persistence's forecast for At.
	Forecast, Naive float64
}

// upperZ is the one-sided normal quantile of the forecast's upper bound:
// demand stays below it about 95 % of the time when errors are normal.
const upperZ = 1.645

// Upper is the forecast's upper bound: f plus the recent bias (when the
// forecasts ran low) plus upperZ standard deviations of the recent
// lead-ahead error. NaN until enough forecasts are scored.
func (m *MetricModel) Upper(f float64) float64 {
	sd, ok := m.Spread()
	return m.upper(f, sd, ok)
}

// upper is Upper with the Spread already worked out (sd, ok), for
// Evaluate, which also reads the spread for the noise release.
func (m *MetricModel) upper(f, sd float64, ok bool) float64 {
	if !ok || !isFinite(f) {
		return math.NaN()
	}
	return f + max(0, m.ErrBias) + upperZ*sd
}

// Spread is the standard deviation of the scored forecasts' errors at the
// lead (their recent weighted mean removed); false until enough are scored.
// Upper and the noise release of anti-flapping share it.
func (m *MetricModel) Spread() (float64, bool) {
	if m.Scored < minScoredForecasts {
		return 0, false
	}
	return math.Sqrt(errVariance(m.ErrBias, m.ErrSquare)), true
}

// RaiseGain is 1 − RaiseLoss/HoldLoss: above 0, raising to the forecast
// where it exceeded persistence cost less capacity loss than holding at
// persistence. NaN until enough forecasts are scored, or when holding lost
// nothing (a state decoded from version 3 or older, or a constant series).
func (m *MetricModel) RaiseGain() float64 {
	if m.Scored < minScoredForecasts || !(m.HoldLoss > 0) {
		return math.NaN()
	}
	return 1 - m.RaiseLoss/m.HoldLoss
}

// Skill is 1 − ErrForecast/ErrNaive: above 0 the forecasts beat
// persistence at the lead horizon, by the asymmetric loss. NaN until enough forecasts are scored.
func (m *MetricModel) Skill() float64 {
	if m.Scored < minScoredForecasts || !(m.ErrNaive > 0) {
		return math.NaN()
	}
	return 1 - m.ErrForecast/m.ErrNaive
}

// Clone returns a deep copy, for callers that need to keep a state after
// handing it to Evaluate (which reuses its buffers).
func (s State) Clone() State {
	c := s
	c.Changes = append([]Change(nil), s.Changes...)
	c.Recommendations = append([]Recommendation(nil), s.Recommendations...)
	c.Reversals = append([]time.Time(nil), s.Reversals...)
	c.Extra.Recommendations = append([]Recommendation(nil), s.Extra.Recommendations...)
	c.Models = make([]MetricModel, len(s.Models))
	for i, m := range s.Models {
		c.Models[i] = m
		c.Models[i].Model = m.Model.Clone()
		c.Models[i].Pending = append([]PendingForecast(nil), m.Pending...)
		if m.Slots != nil {
			sl := *m.Slots
			c.Models[i].Slots = &sl
		}
	}
	if s.Models == nil {
		c.Models = nil
	}
	return c
}

// stateVersion is the first byte of the binary encoding; a decoder refuses
// versions it does not know rather than guessing. Version 2 adds, after the
// recommendations, the evidence time, the last action and the reversals, and
// after each model's pending forecasts its error bias and square, its
// parameters and persistence, and when it was last tuned on how much
// history. Version 3 adds, after the reversals, the time of the last
// forecast-raised scale-out. Version 4 adds, after each model's tuning
// time and span, its raise and hold losses. Versions 1 to 3 still decode
// (policy/testdata/state-v1.hex, state-v2.hex, state-v3.hex): version 1
// models with the parameters and full anchoring they were built with,
// their squared errors standing in for the asymmetric loss until rescored;
// 1 and 2 as if no forecast had raised a scale-out; 1 to 3 with no raise or
// hold loss, so their raises count as paying until forecasts are scored
// again (RaiseGain is NaN). Version 5 adds, after each model's raise and
// hold losses, its scores by the time of day (SlotScores): a count of
// slots, 0 when none has a score, or TimeOfDaySlots, then each slot's
// count and two float32 losses. A state none of whose models has such
// scores is written as version 4, byte for byte, so that it means the
// same bytes to every reader since version 4 (a node of either version
// re-encoding it writes the same); MarshalBinaryV4 writes version 4
// whatever the state, for readers that know no later. Version 4 states
// decode with no scores by the time of day (policy/testdata/state-v4.hex),
// so their forecasts are trusted by the recent skill alone until the
// slots fill again. Version 6 is version 5 whose models may have a season
// that scales with the level (forecast model encoding version 3, 9
// bytes more per such model); a state none of whose models has one is
// written as version 4 or 5, byte for byte as before, and
// MarshalBinaryV5 writes such a state as version 4 or 5 with those
// seasons additive at today's amplitude, for readers that know no later.
// Versions 4 and 5 (policy/testdata/state-v5.hex) decode as they did.
// Version 7 adds, after the models, the forecast's cost bound's account
// (ExtraAccount): its time, held and extra instance-hours (two floats),
// the last excess and the shadow's size (varints) and the shadow's
// recommendation queue, encoded as the state's. A state whose account is
// empty is written as version 4, 5 or 6, byte for byte as before, and
// MarshalBinaryV6 writes any state so, without the account, for readers
// that know no later; version 6 states (policy/testdata/state-v6.hex)
// decode with an empty account.
const stateVersion = 7

// scaledStateVersion is the version that let a model's season scale
// with the level, and the last before the forecast's cost bound.
const scaledStateVersion = 6

// timeOfDayStateVersion is the version that added the scores by the
// time of day, and the last before seasons could scale with the level.
const timeOfDayStateVersion = 5

// plainStateVersion is the version MarshalBinary writes for a state
// without scores by the time of day.
const plainStateVersion = 4

// maxStateEntries bounds every list in a decoded state so that garbage input
// cannot make the decoder allocate without limit.
const maxStateEntries = 1 << 16

// ErrBadState is returned when a binary state does not decode.
var ErrBadState = errors.New("policy: malformed state encoding")

// MarshalBinary encodes the state compactly (varints; times as Unix
// nanoseconds; floats as 8 little-endian bytes). A model with a 24 h season
// at 1-minute resolution (1,440 slots) takes about 11.8 KB, of which its
// scores by the time of day at most 265 bytes, and a season that scales
// with the level 9; a state without models takes tens of bytes. A state
// without scores by the time of day is written in version 4
// (plainStateVersion), byte for byte as before them, one with them in
// version 5, and one with a season that scales with the level in version
// 6, and one whose forecast's cost bound holds an account in version 7
// (stateVersion), about 30 bytes more plus about 10 per recommendation in
// the shadow's queue.
func (s State) MarshalBinary() ([]byte, error) {
	if !s.Extra.Empty() {
		return s.appendBinary(make([]byte, 0, 64), stateVersion), nil
	}
	return s.MarshalBinaryV6()
}

// MarshalBinaryV6 encodes the state as the code of version 6 would encode
// it, without the forecast's cost bound's account: version 4, 5 or 6, byte
// for byte as MarshalBinary writes a state whose account is empty. It is
// for a leader that commits entries in a version whose readers know no
// later state encoding (their decoder fails with ErrBadState on version 7,
// and one of them leading would start the policy afresh). A state decoded
// from it starts the bound afresh, with an empty account.
func (s State) MarshalBinaryV6() ([]byte, error) {
	version := s.versionBefore6()
	for i := range s.Models {
		if s.Models[i].Model.Ref > 0 {
			version = scaledStateVersion
			break
		}
	}
	return s.appendBinary(make([]byte, 0, 64), version), nil
}

// versionBefore6 is the version the code of version 5 wrote the state in:
// 5 when a model has scores by the time of day, else 4.
func (s State) versionBefore6() byte {
	for i := range s.Models {
		if !s.Models[i].Slots.Empty() {
			return timeOfDayStateVersion
		}
	}
	return plainStateVersion
}

// MarshalBinaryV5 encodes the state as the code of version 5 would encode
// it with every season that scales with the level made additive at
// today's amplitude (forecast.Model.AppendBinaryAdditive): version 4 or 5,
// byte for byte as MarshalBinary writes a state without such seasons. It
// is for a leader that commits entries in a version whose readers know no
// later state encoding (their decoder fails with ErrBadState on version
// 6, and one of them leading would start the policy afresh). A model
// decoded from it forecasts what the scaled one did at its last
// observation, and keeps an additive season from then on, until a
// rebuild chooses again.
func (s State) MarshalBinaryV5() ([]byte, error) {
	return s.appendBinary(make([]byte, 0, 64), s.versionBefore6()), nil
}

// MarshalBinaryV4 encodes the state in version 4, without the models'
// scores by the time of day, byte for byte as the code of version 4 wrote
// it: for a leader that commits entries in a version whose readers know
// no later state encoding (their decoder fails with ErrBadState, so a
// leader of that version would find the stored state unreadable and start
// the policy afresh, forgetting its cooldowns).
//
// A season that scales with the level is written additive, as
// MarshalBinaryV5 writes it.
func (s State) MarshalBinaryV4() ([]byte, error) {
	return s.appendBinary(make([]byte, 0, 64), plainStateVersion), nil
}

// appendBinary appends the state's encoding in version (plainStateVersion,
// timeOfDayStateVersion, scaledStateVersion or stateVersion) to b; before
// scaledStateVersion, with every model's season additive
// (MarshalBinaryV5), and before stateVersion without the account.
func (s State) appendBinary(b []byte, version byte) []byte {
	b = append(b, version)
	b = appendTime(b, s.LastScaleOut)
	b = appendTime(b, s.LastScaleIn)
	b = binary.AppendUvarint(b, uint64(len(s.Changes)))
	for _, c := range s.Changes {
		b = appendTime(b, c.At)
		b = binary.AppendVarint(b, int64(c.From))
		b = binary.AppendVarint(b, int64(c.To))
	}
	b = appendRecommendations(b, s.Recommendations)
	b = appendTime(b, s.Evidence)
	b = append(b, byte(s.LastAction))
	b = binary.AppendUvarint(b, uint64(len(s.Reversals)))
	for _, r := range s.Reversals {
		b = appendTime(b, r)
	}
	b = appendTime(b, s.LastForecastScaleOut)
	b = binary.AppendUvarint(b, uint64(len(s.Models)))
	for i := range s.Models {
		mm := &s.Models[i]
		b = appendTime(b, mm.CheckedAt)
		if version >= scaledStateVersion {
			b = mm.Model.AppendBinary(b)
		} else {
			b = mm.Model.AppendBinaryAdditive(b)
		}
		b = appendFloat(b, mm.ErrForecast)
		b = appendFloat(b, mm.ErrNaive)
		b = binary.AppendUvarint(b, uint64(mm.Scored))
		b = binary.AppendUvarint(b, uint64(len(mm.Pending)))
		for _, pf := range mm.Pending {
			b = binary.AppendVarint(b, pf.At)
			b = appendFloat(b, pf.Forecast)
			b = appendFloat(b, pf.Naive)
		}
		for _, f := range [...]float64{mm.ErrBias, mm.ErrSquare, mm.Params.Alpha, mm.Params.Beta, mm.Params.Gamma, mm.Params.Phi, mm.Persist} {
			b = appendFloat(b, f)
		}
		b = appendTime(b, mm.TunedAt)
		b = binary.AppendVarint(b, int64(mm.TunedSpan))
		b = appendFloat(b, mm.RaiseLoss)
		b = appendFloat(b, mm.HoldLoss)
		if version >= 5 {
			b = appendSlots(b, mm.Slots)
		}
	}
	if version >= stateVersion {
		a := &s.Extra
		b = appendTime(b, a.At)
		b = appendFloat(b, a.Held)
		b = appendFloat(b, a.Extra)
		b = binary.AppendVarint(b, int64(a.Excess))
		b = binary.AppendVarint(b, int64(a.Shadow))
		b = appendRecommendations(b, a.Recommendations)
	}
	return b
}

// appendRecommendations appends a recommendation queue: its length, then
// each entry's time and size. The state's window and the cost bound's
// shadow window share it (decoder.recommendations reads it).
func appendRecommendations(b []byte, q []Recommendation) []byte {
	b = binary.AppendUvarint(b, uint64(len(q)))
	for _, r := range q {
		b = appendTime(b, r.At)
		b = binary.AppendVarint(b, int64(r.Size))
	}
	return b
}

// recommendations reads what appendRecommendations wrote; nil when empty.
func (d *decoder) recommendations() []Recommendation {
	n := d.count()
	if n == 0 {
		return nil
	}
	q := make([]Recommendation, n)
	for i := range q {
		q[i] = Recommendation{At: d.time(), Size: d.int()}
	}
	return q
}

// appendSlots appends a model's scores by the time of day: 0 when no slot
// has one, else TimeOfDaySlots and each slot's count (a uvarint) and
// forecast and persistence losses (float32, little-endian).
func appendSlots(b []byte, sl *SlotScores) []byte {
	if sl.Empty() {
		return append(b, 0)
	}
	b = append(b, TimeOfDaySlots)
	for i := range TimeOfDaySlots {
		b = binary.AppendUvarint(b, uint64(sl[i].Scored))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(sl[i].Forecast))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(sl[i].Naive))
	}
	return b
}

// UnmarshalBinary decodes what MarshalBinary produced, in this version or
// the previous one. It never panics on malformed input and leaves s
// unchanged on error.
func (s *State) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	version := d.byte()
	if d.err == nil && (version < 1 || version > stateVersion) {
		return fmt.Errorf("%w: unknown version %d", ErrBadState, version)
	}
	var out State
	out.LastScaleOut = d.time()
	out.LastScaleIn = d.time()
	if n := d.count(); n > 0 {
		out.Changes = make([]Change, n)
		for i := range out.Changes {
			out.Changes[i] = Change{At: d.time(), From: d.int(), To: d.int()}
		}
	}
	out.Recommendations = d.recommendations()
	if version >= 2 {
		out.Evidence = d.time()
		out.LastAction = Action(d.byte())
		if out.LastAction > ActionScaleIn && d.err == nil {
			d.err = fmt.Errorf("unknown action %d", out.LastAction)
		}
		if n := d.count(); n > 0 {
			out.Reversals = make([]time.Time, n)
			for i := range out.Reversals {
				out.Reversals[i] = d.time()
			}
		}
	}
	if version >= 3 {
		out.LastForecastScaleOut = d.time()
	}
	if n := d.count(); n > 0 {
		out.Models = make([]MetricModel, n)
		for i := range out.Models {
			out.Models[i].CheckedAt = d.time()
			if d.err != nil {
				break
			}
			rest, err := out.Models[i].Model.DecodeBinary(d.b)
			if err != nil {
				d.err = err
				break
			}
			d.b = rest
			mm := &out.Models[i]
			if mm.Model.Ref > 0 && version < scaledStateVersion {
				d.err = fmt.Errorf("model %d: a season that scales with the level in a version %d state", i, version)
				break
			}
			mm.ErrForecast, mm.ErrNaive = d.float(), d.float()
			mm.ErrSquare = mm.ErrForecast // version 1 scored plain squared errors
			mm.Scored = int(min(d.uvarint(), maxScored))
			if n := d.count(); n > 0 {
				mm.Pending = make([]PendingForecast, n)
				for j := range mm.Pending {
					mm.Pending[j] = PendingForecast{At: d.varint(), Forecast: d.float(), Naive: d.float()}
				}
			}
			mm.Params, mm.Persist = forecast.DefaultParams(), 1
			if version >= 2 {
				mm.ErrBias, mm.ErrSquare = d.float(), d.float()
				mm.Params = forecast.Params{Alpha: d.float(), Beta: d.float(), Gamma: d.float(), Phi: d.float()}
				mm.Persist = d.float()
				mm.TunedAt, mm.TunedSpan = d.time(), time.Duration(d.varint())
			}
			// Checked for every version: a version 1 model's squared
			// error stands in for ErrSquare, and a negative or NaN one
			// would decode here and be refused once re-encoded.
			if d.err == nil && (mm.Params.Validate() != nil || !(mm.Persist >= 0 && mm.Persist <= 1) || !isFinite(mm.ErrBias) || !(mm.ErrSquare >= 0) || mm.TunedSpan < 0) {
				d.err = fmt.Errorf("model %d: parameters out of range", i)
			}
			if version >= 4 {
				mm.RaiseLoss, mm.HoldLoss = d.float(), d.float()
				if d.err == nil && !(mm.RaiseLoss >= 0 && mm.HoldLoss >= 0 && isFinite(mm.RaiseLoss) && isFinite(mm.HoldLoss)) {
					d.err = fmt.Errorf("model %d: raise or hold loss not a finite non-negative number", i)
				}
			}
			if version >= 5 {
				mm.Slots = d.slots(i)
			}
		}
	}
	if version >= stateVersion {
		out.Extra = d.account()
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, d.err)
	}
	*s = out
	return nil
}

// slots decodes model i's scores by the time of day (appendSlots): a
// count of 0 (nil: no scores) or TimeOfDaySlots, each slot's count at most
// 65,535 and its losses finite and non-negative.
func (d *decoder) slots(i int) *SlotScores {
	switch n := d.byte(); {
	case d.err != nil || n == 0:
		return nil
	case n != TimeOfDaySlots:
		d.err = fmt.Errorf("model %d: %d time-of-day slots, want 0 or %d", i, n, TimeOfDaySlots)
		return nil
	}
	sl := new(SlotScores)
	for k := range TimeOfDaySlots {
		n, f, e := d.uvarint(), d.float32(), d.float32()
		if d.err != nil {
			return nil
		}
		if n > maxSlotScored || !(f >= 0 && e >= 0) || math.IsInf(float64(f), 1) || math.IsInf(float64(e), 1) {
			d.err = fmt.Errorf("model %d: time-of-day slot %d: count above %d or a loss not a finite non-negative number", i, k, maxSlotScored)
			return nil
		}
		sl[k] = SlotScore{Forecast: f, Naive: e, Scored: uint32(n)}
	}
	return sl
}

// account decodes the forecast's cost bound's account (version 7): its
// instance-hours finite and non-negative, its excess and shadow sizes not
// negative, and the shadow's queue as the state's.
func (d *decoder) account() ExtraAccount {
	a := ExtraAccount{At: d.time(), Held: d.float(), Extra: d.float(), Excess: d.int(), Shadow: d.int()}
	a.Recommendations = d.recommendations()
	if d.err == nil && !(a.Held >= 0 && a.Extra >= 0 && isFinite(a.Held) && isFinite(a.Extra) && a.Excess >= 0 && a.Shadow >= 0) {
		d.err = errors.New("forecast's cost bound: instance-hours not finite and non-negative, or a negative size")
	}
	return a
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads varints and remembers the first error, so decoding code
// reads straight through and checks once.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// take returns the next n bytes, or nil (remembering errShort) when
// fewer are left or an error came before.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) float() float64 {
	if b := d.take(8); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

func (d *decoder) float32() float32 {
	if b := d.take(4); b != nil {
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	}
	return 0
}

func (d *decoder) int() int {
	v := d.varint()
	if v > 1<<31 || v < -(1<<31) {
		if d.err == nil {
			d.err = fmt.Errorf("size %d out of range", v)
		}
		return 0
	}
	return int(v)
}

func (d *decoder) time() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count() int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > maxStateEntries || v > uint64(len(d.b)) { // every entry takes at least one byte
		d.err = fmt.Errorf("list of %d entries is too long", v)
		return 0
	}
	return int(v)
}
