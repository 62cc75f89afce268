package policy

import (
	"math"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// seasonRecheck is how often season detection reruns for `season: auto`.
// Detection reads the whole history window, so it runs rarely; a daily or
// weekly cycle does not appear or vanish within an hour.
const seasonRecheck = time.Hour

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
	// backtestPoints bounds the history a candidate model is scored on, so
	// choosing a model stays cheap however long the history is.
	backtestPoints = 2000
	// holtWarmup is how many values a trend-only model absorbs before its
	// forecasts are scored in a backtest.
	holtWarmup = 10
)

// observe scores the pending forecasts whose target time the new
// observation reaches, feeds the observation to the model, and remembers the
// forecast made from it for scoring later. It returns that forecast (for
// t+lead; NaN when none was made) so an evaluation at t need not repeat it.
// It reuses the state's buffers.
func observe(mm *MetricModel, tn int64, t time.Time, y float64, lead time.Duration) float64 {
	done := 0
	for done < len(mm.Pending) && mm.Pending[done].At <= tn {
		pf := mm.Pending[done]
		ef, en := (y-pf.Forecast)*(y-pf.Forecast), (y-pf.Naive)*(y-pf.Naive)
		if mm.Scored == 0 {
			mm.ErrForecast, mm.ErrNaive, mm.ErrBias = ef, en, y-pf.Forecast
		} else {
			mm.ErrForecast += skillWeight * (ef - mm.ErrForecast)
			mm.ErrNaive += skillWeight * (en - mm.ErrNaive)
			mm.ErrBias += skillWeight * (y - pf.Forecast - mm.ErrBias)
		}
		mm.Scored = min(mm.Scored+1, maxScored)
		done++
	}
	if done > 0 {
		mm.Pending = mm.Pending[:copy(mm.Pending, mm.Pending[done:])]
	}
	mm.Model.Observe(t, y, mm.Params)
	if mm.Model.Count < minForecastObservations {
		return math.NaN()
	}
	f := anchoredForecast(mm, y, t, t.Add(lead))
	at := tn + int64(lead)
	if n := len(mm.Pending); lead <= 0 || !isFinite(f) || n == maxPending || (n > 0 && at-mm.Pending[n-1].At < int64(lead)/maxPending) {
		return f // enough forecasts in flight to score this horizon
	}
	mm.Pending = append(mm.Pending, PendingForecast{At: at, Forecast: f, Naive: y})
	return f
}

// anchoredForecast is the demand expected at target: the latest observation
// plus the change the model expects between the observation's time and
// target. Anchoring on the observation rather than taking the model's level
// keeps smoothing from biasing the proposal: on a noisy flat signal the
// expected change is about zero, so max(reactive, predictive) adds capacity
// only where the model expects demand to rise, by as much as it expects.
func anchoredForecast(mm *MetricModel, observed float64, observedAt, target time.Time) float64 {
	m := &mm.Model
	at := m.Forecast(observedAt, mm.Params)
	return m.Forecast(target, mm.Params) + mm.Persist*(observed-at)
}

// NeedsHistory reports whether the next evaluation of p with state s at
// now will (re)build a forecasting model and so read Inputs.History. The
// caller can skip assembling history windows otherwise: steady-state
// evaluation learns from the latest sample alone.
func (s State) NeedsHistory(p Policy, now time.Time) bool {
	if p.Predictive.Mode != PredictForecastOnly && p.Predictive.Mode != PredictForecastAndScale {
		return false
	}
	if len(s.Models) != len(p.Metrics) {
		return true
	}
	season := p.Predictive.Season
	for _, mm := range s.Models {
		switch {
		case mm.CheckedAt.IsZero():
			return true
		case !season.Auto && mm.Model.Period != season.Period:
			return true
		case season.Auto && now.Sub(mm.CheckedAt) >= seasonRecheck:
			return true
		}
	}
	return false
}

// configureSeason (re)builds a metric's model when its season must change:
// on first use, when the configured season differs, and hourly for
// `season: auto`. Each candidate season is backtested on the history and the
// model with the lowest forecast error wins; the backtest's scores become the
// new model's skill, so a model earns trust on its own forecasts, not on its
// predecessor's, and does not have to wait for fresh ones.
func configureSeason(p Policy, mm *MetricModel, hist Window, now time.Time) {
	season := p.Predictive.Season
	if !mm.CheckedAt.IsZero() {
		if !season.Auto && mm.Model.Period == season.Period {
			return // configured season already in place
		}
		if season.Auto && now.Sub(mm.CheckedAt) < seasonRecheck {
			return
		}
	}
	mm.CheckedAt = now
	lead := p.Predictive.Lead.D()
	hist = trimWindow(hist, now, p.Predictive.History.D())
	if len(hist.Values) == 0 || hist.Step <= 0 {
		if mm.Model.Count == 0 || mm.Model.Period != season.Period {
			resetModel(mm, season.Period, p.EvaluationInterval.D())
		}
		return
	}
	candidates := [2]time.Duration{season.Period, -1}
	if season.Auto {
		detected, _ := forecast.DetectSeason(hist.Values, hist.Step, forecast.DefaultCandidates())
		if detected == mm.Model.Period && mm.Model.Count > 0 {
			return // same season as before: keep the running model
		}
		candidates = [2]time.Duration{detected, 0}
		if detected == 0 {
			candidates[1] = -1
		}
	}
	var best MetricModel
	found := false
	for _, period := range candidates {
		if period < 0 {
			continue
		}
		var c MetricModel
		if !backtest(&c, hist, period, lead) {
			continue
		}
		if !found || c.ErrForecast < best.ErrForecast {
			best, found = c, true
		}
	}
	if !found {
		// Too little history to score anything: start the configured or
		// detected season from what there is.
		resetModel(mm, candidates[0], p.EvaluationInterval.D())
		forecast.Fit(&mm.Model, hist.Values, hist.Start, hist.Step, candidates[0], mm.Params)
		return
	}
	best.CheckedAt = now
	*mm = best
}

// resetModel starts an empty model with no scores, the default parameters
// and full anchoring, until a backtest chooses better ones.
func resetModel(mm *MetricModel, period, step time.Duration) {
	mm.Model.Reset(period, step)
	mm.Pending, mm.ErrForecast, mm.ErrNaive, mm.ErrBias, mm.Scored = mm.Pending[:0], 0, 0, 0, 0
	mm.Params, mm.Persist = forecast.DefaultParams(), 1
}

// backtest builds a model of the given season from the start of the recent
// history and scores its forecasts on the rest, exactly as live evaluation
// would. It reports false when the history is too short to score enough
// forecasts.
func backtest(mm *MetricModel, hist Window, period, lead time.Duration) bool {
	warm := holtWarmup
	if period > 0 {
		warm = max(int(period/hist.Step), holtWarmup)
	}
	n := len(hist.Values)
	scoreFrom := max(warm, n-backtestPoints)
	if n-scoreFrom <= minScoredForecasts+int(lead/hist.Step) {
		return false
	}
	from := scoreFrom - warm
	start := hist.Start.Add(time.Duration(from) * hist.Step)
	mm.Params, mm.Persist = forecast.DefaultParams(), 1
	forecast.Fit(&mm.Model, hist.Values[from:scoreFrom], start, hist.Step, period, mm.Params)
	t := hist.Start.Add(time.Duration(scoreFrom) * hist.Step)
	for _, v := range hist.Values[scoreFrom:] {
		if isFinite(v) {
			observe(mm, t.UnixNano(), t, v, lead)
		}
		t = t.Add(hist.Step)
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
