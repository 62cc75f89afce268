package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// t0 is a Monday midnight UTC, so that synthetic seasons start at slot 0.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// synth samples f (of seconds since t0) every step, adding Gaussian noise of
// standard deviation sigma from a fixed seed so that results are repeatable.
func synth(n int, step time.Duration, sigma float64, f func(sec float64) float64) trace {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := trace{start: t0, step: step, values: make([]float64, n)}
	for i := range tr.values {
		tr.values[i] = f((time.Duration(i) * step).Seconds()) + sigma*rng.NormFloat64()
	}
	return tr
}

// dailySine is 100 ± 40 with a 24 h period.
func dailySine(sec float64) float64 { return 100 + 40*math.Sin(2*math.Pi*sec/86400) }

// walkForward fits a model with the given season on the first fit values of
// tr, then for every later sample absorbs it and forecasts lead steps ahead.
// It returns the mean absolute error of those forecasts and of the naive
// forecast (the last observed value) against what was observed then.
func walkForward(tr trace, fit, lead int, period time.Duration, p Params) (model, naive float64) {
	var m Model
	Fit(&m, tr.values[:fit], tr.start, tr.step, period, p)
	last := math.NaN()
	n := 0
	for i := fit; i+lead < len(tr.values); i++ {
		m.Observe(tr.at(i), tr.values[i], p)
		if finite(tr.values[i]) {
			last = tr.values[i]
		}
		want := tr.values[i+lead]
		if !finite(want) || math.IsNaN(last) {
			continue
		}
		model += math.Abs(m.Forecast(tr.at(i+lead), p) - want)
		naive += math.Abs(last - want)
		n++
	}
	return model / float64(n), naive / float64(n)
}

func TestParamsValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"defaults", DefaultParams(), true},
		{"bounds", Params{0, 1, 0, 1}, true},
		{"alpha above 1", Params{1.5, 0.1, 0.1, 0.9}, false},
		{"negative beta", Params{0.5, -0.1, 0.1, 0.9}, false},
		{"NaN gamma", Params{0.5, 0.1, math.NaN(), 0.9}, false},
		{"phi above 1", Params{0.5, 0.1, 0.1, 1.01}, false},
	} {
		err := c.p.Validate()
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrParams) {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestReset(t *testing.T) {
	for _, c := range []struct {
		name         string
		period, step time.Duration
		slots        int
		slot         time.Duration
	}{
		{"daily season, 1m steps: one slot per step", 24 * time.Hour, time.Minute, 1440, time.Minute},
		{"daily season, 15s steps: capped at MaxSlots", 24 * time.Hour, 15 * time.Second, 1440, time.Minute},
		{"daily season, 10m steps: never narrower than a step", 24 * time.Hour, 10 * time.Minute, 144, 10 * time.Minute},
		{"hourly season, 1m steps", time.Hour, time.Minute, 60, time.Minute},
		{"weekly season, 30m steps", 7 * 24 * time.Hour, 30 * time.Minute, 336, 30 * time.Minute},
		{"weekly season, 1m steps: capped at MaxSlots", 7 * 24 * time.Hour, time.Minute, 1440, 7 * time.Minute},
		{"period shorter than a step: one slot", time.Hour, 2 * time.Hour, 1, time.Hour},
		{"unknown step: MaxSlots", 24 * time.Hour, 0, 1440, time.Minute},
		{"no season", 0, time.Minute, 0, 0},
		{"negative period is no season", -time.Hour, time.Minute, 0, 0},
	} {
		m := Model{Level: 5, Trend: 1, Count: 3, LastUnixNano: 42}
		m.Reset(c.period, c.step)
		if len(m.Season) != c.slots || m.Slot != c.slot {
			t.Errorf("%s: %d slots of %v, want %d of %v", c.name, len(m.Season), m.Slot, c.slots, c.slot)
		}
		if m.Level != 0 || m.Trend != 0 || m.Count != 0 || m.LastUnixNano != 0 {
			t.Errorf("%s: state not cleared: %+v", c.name, m)
		}
		if c.slots > 0 && m.Slot*time.Duration(c.slots) > m.Period {
			t.Errorf("%s: %d slots of %v overrun the period %v", c.name, c.slots, m.Slot, m.Period)
		}
	}
}

func TestResetReusesSeason(t *testing.T) {
	var m Model
	m.Reset(24*time.Hour, time.Minute)
	m.Season[7] = 3
	allocs := testing.AllocsPerRun(100, func() {
		m.Reset(24*time.Hour, time.Minute)
		m.Reset(time.Hour, time.Minute)
	})
	if allocs != 0 {
		t.Errorf("Reset allocated %v times", allocs)
	}
	m.Reset(24*time.Hour, time.Minute)
	if m.Season[7] != 0 {
		t.Errorf("reused season not cleared: %v", m.Season[7])
	}
}

func TestObserveForecast(t *testing.T) {
	type sample struct {
		at time.Duration // after t0
		y  float64
	}
	type point struct {
		at   time.Duration // after t0
		want float64
	}
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name      string
		p         Params
		obs       []sample
		count     int
		level     float64
		trend     float64 // per second
		forecasts []point
	}{
		{
			name: "nothing observed forecasts NaN", p: DefaultParams(),
			forecasts: []point{{0, nan}, {time.Hour, nan}},
		},
		{
			name: "first observation sets the level", p: DefaultParams(),
			obs: []sample{{0, 10}}, count: 1, level: 10,
			forecasts: []point{{5 * time.Minute, 10}},
		},
		{
			name: "non-finite values are ignored", p: DefaultParams(),
			obs:   []sample{{0, 10}, {time.Minute, nan}, {2 * time.Minute, inf}, {3 * time.Minute, -inf}},
			count: 1, level: 10,
		},
		{
			name: "repeated and earlier times are ignored", p: DefaultParams(),
			obs:   []sample{{time.Minute, 10}, {time.Minute, 50}, {0, 50}},
			count: 1, level: 10,
		},
		{
			name: "undamped Holt tracks a line exactly", p: Params{1, 1, 0, 1},
			obs:   []sample{{0, 10}, {time.Minute, 12}, {2 * time.Minute, 14}},
			count: 3, level: 14, trend: 2.0 / 60,
			forecasts: []point{{7 * time.Minute, 24}, {time.Minute, 14}},
		},
		{
			name: "a gap of n steps weighs the new value 1-(1-alpha)^n", p: Params{0.5, 0, 0, 1},
			obs:   []sample{{0, 0}, {3 * time.Minute, 8}},
			count: 2, level: 7,
		},
		{
			name: "trend is per second under irregular spacing", p: Params{1, 1, 0, 1},
			obs:   []sample{{0, 0}, {30 * time.Second, 1}, {2 * time.Minute, 4}},
			count: 3, level: 4, trend: 1.0 / 30,
			forecasts: []point{{3 * time.Minute, 6}},
		},
		{
			name: "damping is per step and bounds the extrapolation", p: Params{1, 1, 0, 0.5},
			obs:   []sample{{0, 0}, {time.Minute, 10}},
			count: 2, level: 10, trend: 10.0 / 60,
			forecasts: []point{
				{2 * time.Minute, 15},
				{3 * time.Minute, 17.5},
				{150 * time.Second, 10 + 10*(1-math.Pow(0.5, 1.5))},
				{1000 * time.Hour, 20},
			},
		},
		{
			name: "out-of-range parameters are clamped", p: Params{2, -1, math.NaN(), 3},
			obs:   []sample{{0, 0}, {time.Minute, 10}},
			count: 2, level: 10, trend: 0,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m Model
			m.Reset(0, time.Minute)
			for _, o := range c.obs {
				m.Observe(t0.Add(o.at), o.y, c.p)
			}
			const eps = 1e-9
			if m.Count != c.count || math.Abs(m.Level-c.level) > eps || math.Abs(m.Trend-c.trend) > eps {
				t.Errorf("count %d level %v trend %v; want %d %v %v", m.Count, m.Level, m.Trend, c.count, c.level, c.trend)
			}
			for _, f := range c.forecasts {
				got := m.Forecast(t0.Add(f.at), c.p)
				if math.IsNaN(f.want) != math.IsNaN(got) || math.Abs(got-f.want) > eps {
					t.Errorf("Forecast(+%v) = %v, want %v", f.at, got, f.want)
				}
			}
		})
	}
}

func TestSeasonInterpolation(t *testing.T) {
	var m Model
	m.Reset(4*time.Minute, time.Minute) // slots centred at 0:30, 1:30, 2:30, 3:30
	copy(m.Season, []float64{0, 10, 20, -30})
	m.Observe(t0, 100, Params{}) // level 100 - season at t0
	p := Params{Phi: 1}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{30 * time.Second, 0},                // a slot's centre: its own component
		{90 * time.Second, 10},               // next centre
		{time.Minute, 5},                     // between the first two centres
		{0, -15},                             // between the last slot (wrapping) and the first
		{210 * time.Second, -30},             // last centre
		{4*time.Minute + 90*time.Second, 10}, // the next cycle
		{-150 * time.Second, 10},             // before t0 and before the epoch's cycle: still aligned
	} {
		if got := m.Forecast(t0.Add(c.at), p) - m.Level; math.Abs(got-c.want) > 1e-9 {
			t.Errorf("season at +%v = %v, want %v", c.at, got, c.want)
		}
	}
}

func TestSeasonAlignedToWallClock(t *testing.T) {
	// Two models fitted on the same daily pattern from starts that differ by
	// 7 h and by whole days must agree on the season, because slots follow
	// the clock, not the start of the data.
	f := func(sec float64) float64 {
		return dailySine(sec) + 30*math.Exp(-math.Pow((math.Mod(sec, 86400)-32400)/1800, 2))
	}
	p := DefaultParams()
	var ms [3]Model
	for i, offset := range []time.Duration{0, 7 * time.Hour, 5 * 24 * time.Hour} {
		tr := synth(3*288, 5*time.Minute, 0, func(sec float64) float64 { return f(sec + offset.Seconds()) })
		Fit(&ms[i], tr.values, t0.Add(offset), tr.step, 24*time.Hour, p)
	}
	for i := range ms[0].Season {
		for k := 1; k < len(ms); k++ {
			if d := math.Abs(ms[k].Season[i] - ms[0].Season[i]); d > 1 {
				t.Fatalf("slot %d: model %d has %v, model 0 %v", i, k, ms[k].Season[i], ms[0].Season[i])
			}
		}
	}
}

func TestFit(t *testing.T) {
	const step = 5 * time.Minute
	trendy := func(sec float64) float64 { return dailySine(sec) + sec/3600 } // +1 per hour
	p := DefaultParams()
	t.Run("noise-free season and trend", func(t *testing.T) {
		tr := synth(3*288, step, 0, trendy)
		var m Model
		Fit(&m, tr.values, tr.start, step, 24*time.Hour, p)
		if m.Count != len(tr.values) || m.LastUnixNano != tr.at(len(tr.values)-1).UnixNano() {
			t.Fatalf("count %d last %d after fitting %d values", m.Count, m.LastUnixNano, len(tr.values))
		}
		// A damped trend settles below a persistent slope s, at
		// Beta×s/(1-(1-Beta)×Phi) per step: damping assumes ramps end.
		if want := p.Beta / (1 - (1-p.Beta)*p.Phi); math.Abs(m.Trend*3600-want) > 0.05 {
			t.Errorf("trend %v per hour, want %v", m.Trend*3600, want)
		}
		for _, lead := range []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour} {
			at := tr.at(len(tr.values) - 1).Add(lead)
			want := trendy(at.Sub(t0).Seconds())
			if got := m.Forecast(at, p); math.Abs(got-want) > 2 {
				t.Errorf("Forecast(+%v) = %.2f, want %.2f", lead, got, want)
			}
		}
	})
	t.Run("the warm start helps from the first day", func(t *testing.T) {
		// Fitted on day 1 only, the classic initialisation already knows the
		// shape; a model that learns it sample by sample does not yet.
		tr := synth(2*288, step, 0, dailySine)
		var warm, cold Model
		Fit(&warm, tr.values[:288], tr.start, step, 24*time.Hour, p)
		cold.Reset(24*time.Hour, step)
		for i, v := range tr.values[:288] {
			cold.Observe(tr.at(i), v, p)
		}
		var ew, ec float64
		for i := 288; i+6 < len(tr.values); i++ {
			ew += math.Abs(warm.Forecast(tr.at(i+6), p) - tr.values[i+6])
			ec += math.Abs(cold.Forecast(tr.at(i+6), p) - tr.values[i+6])
			warm.Observe(tr.at(i), tr.values[i], p)
			cold.Observe(tr.at(i), tr.values[i], p)
		}
		if ew >= ec/2 {
			t.Errorf("warm-start error %.1f not well below cold-start %.1f", ew, ec)
		}
	})
	t.Run("missing values are skipped", func(t *testing.T) {
		tr := synth(3*288, step, 0, dailySine)
		for i := range tr.values {
			if i%7 == 0 || i >= 100 && i < 140 {
				tr.values[i] = math.NaN()
			}
		}
		var m Model
		Fit(&m, tr.values, tr.start, step, 24*time.Hour, p)
		at := tr.at(len(tr.values) + 6)
		if got, want := m.Forecast(at, p), dailySine(at.Sub(t0).Seconds()); math.Abs(got-want) > 2 {
			t.Errorf("Forecast = %.2f, want %.2f", got, want)
		}
	})
	t.Run("a slot missing on every seeding day takes its neighbours' shape", func(t *testing.T) {
		// The slots around the daily peak (a quarter of the day in) have no
		// value on either of the two seeding days. Left at 0, their
		// forecasts were the level, the daily mean, a full amplitude
		// below the peak.
		tr := synth(2*288, step, 0, dailySine)
		for _, day := range []int{0, 288} {
			for i := 70; i < 75; i++ {
				tr.values[day+i] = math.NaN()
			}
		}
		var m Model
		Fit(&m, tr.values, tr.start, step, 24*time.Hour, p)
		for i := 2*288 + 70; i < 2*288+75; i++ {
			at := tr.at(i)
			if got, want := m.Forecast(at, p), dailySine(at.Sub(t0).Seconds()); math.Abs(got-want) > 2 {
				t.Errorf("Forecast at %v = %.2f, want %.2f", at.Sub(t0), got, want)
			}
		}
	})
	t.Run("all missing leaves no forecast", func(t *testing.T) {
		var m Model
		Fit(&m, []float64{math.NaN(), math.NaN(), math.NaN()}, t0, step, 24*time.Hour, p)
		if m.Count != 0 || !math.IsNaN(m.Forecast(t0, p)) {
			t.Errorf("count %d, forecast %v; want 0, NaN", m.Count, m.Forecast(t0, p))
		}
	})
	t.Run("less than a season still absorbs everything", func(t *testing.T) {
		tr := synth(100, step, 0, dailySine)
		var m Model
		Fit(&m, tr.values, tr.start, step, 24*time.Hour, p)
		if m.Count != 100 || !finite(m.Forecast(tr.at(105), p)) {
			t.Errorf("count %d, forecast %v", m.Count, m.Forecast(tr.at(105), p))
		}
	})
	t.Run("holt", func(t *testing.T) {
		var m Model
		exact := Params{1, 1, 0, 1}
		Fit(&m, []float64{1, 2, 3, 4, 5}, t0, time.Minute, 0, exact)
		if got := m.Forecast(t0.Add(6*time.Minute), exact); math.Abs(got-7) > 1e-9 {
			t.Errorf("Forecast = %v, want 7", got)
		}
	})
}

// After fitting 3 days of a daily sine with noise, seasonal Holt-Winters
// forecasts 10 minutes ahead at least 15 % better than Holt: Holt's damped
// trend cannot follow the curve, the season can. The noise (σ = 1 on a
// ±40 swing) is kept small enough for that to show: with σ several times
// larger both errors are dominated by the noise and converge. At 1-minute
// steps each of the 1,440 one-minute slots learns from one noisy sample a
// day, so the margin there is 10 %: the price of resolving sharp ramps,
// which the 5-minute slots of earlier versions smeared.
func TestSyntheticSeasonBeatsHolt(t *testing.T) {
	p := DefaultParams()
	for _, step := range []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute} {
		perDay := int(24 * time.Hour / step)
		tr := synth(4*perDay, step, 1, dailySine)
		lead := int(10 * time.Minute / step)
		hw, naive := walkForward(tr, 3*perDay, lead, 24*time.Hour, p)
		holt, _ := walkForward(tr, 3*perDay, lead, 0, p)
		t.Logf("step %v: 10-minute-ahead MAE: Holt-Winters %.3f, Holt %.3f, naive %.3f", step, hw, holt, naive)
		margin := 0.85
		if step == time.Minute {
			margin = 0.9
		}
		if hw > margin*holt || hw > margin*naive {
			t.Errorf("step %v: Holt-Winters MAE %.3f not well below Holt %.3f and naive %.3f", step, hw, holt, naive)
		}
	}
}

// On the recorded application CPU trace, a 24 h Holt-Winters model fitted on
// the first two days forecasts 5 minutes ahead better, over the remaining six
// days, than Holt and than the last observed value.
func TestAppCPUSeasonBeatsHoltAndNaive(t *testing.T) {
	tr := loadTrace(t, "app_cpu_usage_1min.csv")
	p := DefaultParams()
	hw, naive := walkForward(tr, 2*1440, 5, 24*time.Hour, p)
	holt, _ := walkForward(tr, 2*1440, 5, 0, p)
	t.Logf("app_cpu_usage_1min, 5-minute-ahead MAE: Holt-Winters %.3f, Holt %.3f, naive %.3f", hw, holt, naive)
	if hw >= holt || hw >= naive {
		t.Errorf("Holt-Winters MAE %.3f not below Holt %.3f and naive %.3f", hw, holt, naive)
	}
}

// A ramp that stops must not be extrapolated far beyond its plateau, and
// while it lasts the trend must put the forecast ahead of the last value.
func TestRampDoesNotOvershoot(t *testing.T) {
	const lead, height = 5, 60.0
	y := func(i int) float64 { return 100 + height*math.Max(0, math.Min(1, float64(i-60)/30)) }
	for _, c := range []struct {
		name   string
		p      Params
		period time.Duration
	}{
		{"holt", DefaultParams(), 0},
		{"holt-winters", DefaultParams(), time.Hour},
	} {
		var m Model
		m.Reset(c.period, time.Minute)
		var over, lag, naiveLag float64
		for i := range 300 {
			m.Observe(t0.Add(time.Duration(i)*time.Minute), y(i), c.p)
			f := m.Forecast(t0.Add(time.Duration(i+lead)*time.Minute), c.p)
			over = math.Max(over, f-(100+height))
			if i >= 60 && i < 90-lead {
				lag += y(i+lead) - f
				naiveLag += y(i+lead) - y(i)
			}
		}
		t.Logf("%s: overshoot %.2f (%.1f %% of the ramp), mean lag %.2f (naive %.2f)", c.name, over, 100*over/height, lag/25, naiveLag/25)
		if over > 0.1*height {
			t.Errorf("%s: forecast overshoots the plateau by %.2f", c.name, over)
		}
		if lag >= naiveLag {
			t.Errorf("%s: forecast lags the ramp by %.2f, naive by %.2f", c.name, lag/25, naiveLag/25)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	p := DefaultParams()
	var m Model
	Fit(&m, synth(3*1440, time.Minute, 1, dailySine).values, t0, time.Minute, 24*time.Hour, p)
	m.Week = NewWeek() // learning it, and closing its hours, allocates nothing either
	now := t0.Add(3 * 24 * time.Hour)
	var sink float64
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Minute)
		m.Observe(now, 100, p)
		now = now.Add(61 * time.Second) // irregular
		m.Observe(now, 101, p)
		sink += m.Forecast(now.Add(5*time.Minute), p)
	})
	if allocs != 0 {
		t.Errorf("Observe/Forecast allocated %v times per run", allocs)
	}
	if !finite(sink) {
		t.Errorf("forecasts not finite: %v", sink)
	}
}

func TestClone(t *testing.T) {
	var m Model
	Fit(&m, synth(600, time.Minute, 1, dailySine).values, t0, time.Minute, time.Hour, DefaultParams())
	c := m.Clone()
	c.Season[0] += 100
	c.Observe(t0.Add(24*time.Hour), 1000, DefaultParams())
	if m.Season[0] == c.Season[0] || m.Count == c.Count {
		t.Errorf("clone shares state with the original")
	}
	if z := (Model{}).Clone(); z.Season != nil || z.Week.Slots != nil {
		t.Errorf("clone of a zero model has a season or a weekly adjustment")
	}
	w := weeklyModel()
	wc := w.Clone()
	wc.Week.Slots[5] += 100
	var cp Model
	cp.CopyFrom(&w)
	cp.Week.Slots[6] += 100
	if w.Week.Slots[5] == wc.Week.Slots[5] || w.Week.Slots[6] == cp.Week.Slots[6] {
		t.Errorf("Clone or CopyFrom shares the weekly slots with the original")
	}
}

// benchModel is a daily Holt-Winters model at 1-minute steps, warmed up.
func benchModel(b *testing.B) *Model {
	var m Model
	Fit(&m, synth(2*1440, time.Minute, 1, dailySine).values, t0, time.Minute, 24*time.Hour, DefaultParams())
	return &m
}

// BenchmarkObserve measures Observe on a daily model of 1-minute data at
// its step and off it, and with a weekly adjustment that learns (inactive)
// or acts (its Held followed at every observation).
func BenchmarkObserve(b *testing.B) {
	p := DefaultParams()
	for _, c := range []struct {
		name string
		gap  time.Duration
		week string
	}{
		{"regular", time.Minute, ""}, {"irregular", time.Minute + time.Millisecond, ""},
		{"regular/weekly-learning", time.Minute, "learning"}, {"regular/weekly-acting", time.Minute, "acting"},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := benchModel(b)
			now := time.Unix(0, m.LastUnixNano)
			// Values repeating every 7 minutes give hourly means that
			// repeat every 7 hours, so every week alike: a weekly shape
			// the adjustment learns and acts on after two weeks. Every 6
			// minutes, every hour is alike: it learns and never acts.
			cycle := 7
			if c.week != "" {
				m.Week = NewWeek()
			}
			if c.week == "learning" {
				cycle = 6
			}
			if c.week == "acting" {
				for i := range 3 * 7 * 1440 {
					now = now.Add(c.gap)
					m.Observe(now, float64(100+i%cycle), p)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				now = now.Add(c.gap)
				m.Observe(now, float64(100+i%cycle), p)
			}
			if c.week != "" && m.Week.Active() != (c.week == "acting") {
				b.Fatalf("weekly adjustment active %v, want it %s", m.Week.Active(), c.week)
			}
		})
	}
}

// BenchmarkForecastWeekly is BenchmarkForecast with an acting weekly
// adjustment: the deviation at the target (two slots, each less its mean
// day) on top of the daily model.
func BenchmarkForecastWeekly(b *testing.B) {
	m := benchModel(b)
	m.Week = NewWeek()
	for k := range m.Week.Slots {
		m.Week.Slots[k] = float32(k % 11)
	}
	m.Week.active = true
	benchForecast(b, m)
}

func BenchmarkForecast(b *testing.B) { benchForecast(b, benchModel(b)) }

// benchForecast measures forecasts of m 5 minutes past its last observation.
func benchForecast(b *testing.B, m *Model) {
	p := DefaultParams()
	at := time.Unix(0, m.LastUnixNano).Add(5 * time.Minute)
	var sink float64
	b.ReportAllocs()
	for b.Loop() {
		sink += m.Forecast(at, p)
	}
	if !finite(sink) {
		b.Fatal(sink)
	}
}

// BenchmarkEvaluation3Metrics is the forecasting work of one evaluation of a
// 3-metric policy with irregular (jittered) timing: three Observe and three
// Forecast calls. At >= 1,000,000 evaluations/s it must stay well under 1 µs.
func BenchmarkEvaluation3Metrics(b *testing.B) {
	p := DefaultParams()
	ms := [3]*Model{benchModel(b), benchModel(b), benchModel(b)}
	now := time.Unix(0, ms[0].LastUnixNano)
	var sink float64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Minute + time.Duration(i%5)*time.Millisecond)
		for _, m := range ms {
			m.Observe(now, float64(100+i%7), p)
			sink += m.Forecast(now.Add(5*time.Minute), p)
		}
	}
	if !finite(sink) {
		b.Fatal(sink)
	}
}

func TestObserveAfterExtremeGap(t *testing.T) {
	// A model restored with a time in the far past must not turn a
	// wrapped-around gap into negative weights.
	m := Model{LastUnixNano: math.MinInt64 + 1, Level: 10, Trend: 1, Count: 1}
	p := DefaultParams()
	m.Observe(time.Unix(0, math.MaxInt64), 20, p)
	if !finite(m.Level) || !finite(m.Trend) || math.Abs(m.Level-20) > 1e-6 {
		t.Errorf("level %v trend %v after an extreme gap, want level 20", m.Level, m.Trend)
	}
}

// TestForecastAheadMatchesForecast: a precomputed horizon forecasts exactly
// what Forecast does at the same distance after the last observation, for
// several steps, dampings and distances.
func TestForecastAheadMatchesForecast(t *testing.T) {
	for _, step := range []time.Duration{15 * time.Second, time.Minute, 30 * time.Minute} {
		for _, phi := range []float64{0, 0.5, 0.9, 1} {
			p := DefaultParams()
			p.Phi = phi
			var m Model
			Fit(&m, synth(3*96, step, 2, func(s float64) float64 { return dailySine(s) + s/300 }).values, t0, step, 24*time.Hour, p)
			last := time.Unix(0, m.LastUnixNano)
			for _, ahead := range []time.Duration{0, step / 2, step, 3 * time.Minute, 7 * step} {
				want := m.Forecast(last.Add(ahead), p)
				if got := m.ForecastAhead(m.Horizon(ahead, p)); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("step %v phi %v ahead %v: ForecastAhead %v, Forecast %v", step, phi, ahead, got, want)
				}
			}
		}
	}
	var empty Model
	if !math.IsNaN(empty.ForecastAhead(empty.Horizon(time.Minute, DefaultParams()))) {
		t.Error("an empty model forecast a number")
	}
}

// TestMaxForecast: MaxForecast is the highest Forecast over its points,
// from the first up to but not including the end, for every damping (its
// trend power is carried from point to point, not recomputed), with and
// without a season, for points before and after the last observation; and
// NaN where there is no point or no model.
func TestMaxForecast(t *testing.T) {
	p := DefaultParams()
	seasonal, holt := Model{}, Model{}
	Fit(&seasonal, synth(3*96, 15*time.Minute, 2, func(s float64) float64 { return dailySine(s) + s/300 }).values, t0, 15*time.Minute, 24*time.Hour, p)
	Fit(&holt, synth(50, time.Minute, 2, func(s float64) float64 { return 100 - s/30 }).values, t0, time.Minute, 0, p)
	tests := []struct {
		name         string
		m            *Model
		from, length time.Duration // after the last observation
		every        time.Duration
	}{
		{"season, whole steps", &seasonal, 15 * time.Minute, 2 * time.Hour, 15 * time.Minute},
		{"season, finer than its slots", &seasonal, time.Minute, 50 * time.Minute, 4 * time.Minute},
		{"season, from before the last observation", &seasonal, -3 * time.Hour, 6 * time.Hour, 20 * time.Minute},
		{"falling trend: the first point", &holt, time.Minute, 10 * time.Minute, time.Minute},
		{"one point", &holt, 2 * time.Minute, time.Second, time.Minute},
	}
	for _, tt := range tests {
		for _, phi := range []float64{0, 0.5, 0.9, 1} {
			q := p
			q.Phi = phi
			last := time.Unix(0, tt.m.LastUnixNano)
			from, to := last.Add(tt.from), last.Add(tt.from+tt.length)
			want := math.Inf(-1)
			for at := from; at.Before(to); at = at.Add(tt.every) {
				want = math.Max(want, tt.m.Forecast(at, q))
			}
			if got := tt.m.MaxForecast(from, to, tt.every, q); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("%s, phi %v: MaxForecast %v, highest Forecast %v", tt.name, phi, got, want)
			}
		}
	}
	last := time.Unix(0, holt.LastUnixNano)
	var empty Model
	for _, tt := range []struct {
		name     string
		m        *Model
		from, to time.Time
		every    time.Duration
	}{
		{"empty model", &empty, t0, t0.Add(time.Hour), time.Minute},
		{"from at to", &holt, last, last, time.Minute},
		{"from after to", &holt, last.Add(time.Minute), last, time.Minute},
		{"no stride", &holt, last, last.Add(time.Hour), 0},
	} {
		if got := tt.m.MaxForecast(tt.from, tt.to, tt.every, p); !math.IsNaN(got) {
			t.Errorf("%s: MaxForecast %v, want NaN", tt.name, got)
		}
	}
}

// TestObserveNanosIsObserveThenForecastAhead: ObserveNanos leaves the model
// exactly as Observe does and returns, bit for bit, what
// ForecastAhead(Horizon{}) returns after it, whether the value is absorbed
// (first, regular, irregular, within a slot's first half) or ignored (not
// finite, not newer), with a season and without.
func TestObserveNanosIsObserveThenForecastAhead(t *testing.T) {
	p := DefaultParams()
	seasonal, holt := Model{}, Model{}
	Fit(&seasonal, synth(3*96, 15*time.Minute, 2, dailySine).values, t0, 15*time.Minute, 24*time.Hour, p)
	Fit(&holt, synth(50, time.Minute, 2, dailySine).values, t0, time.Minute, 0, p)
	lastOf := func(m Model) int64 { return m.LastUnixNano }
	tests := []struct {
		name string
		m    Model
		at   func(m Model) int64
		y    float64
	}{
		{"empty model, first value", Model{}, func(Model) int64 { return t0.UnixNano() }, 42},
		{"empty seasonal model, first value", func() Model { var m Model; m.Reset(time.Hour, time.Minute); return m }(), func(Model) int64 { return t0.Add(17 * time.Minute).UnixNano() }, 42},
		{"seasonal, next step", seasonal, func(m Model) int64 { return lastOf(m) + int64(15*time.Minute) }, 130},
		{"seasonal, irregular gap", seasonal, func(m Model) int64 { return lastOf(m) + int64(37*time.Minute+3*time.Second) }, 80},
		{"seasonal, a nanosecond later", seasonal, func(m Model) int64 { return lastOf(m) + 1 }, 100},
		{"seasonal, NaN ignored", seasonal, func(m Model) int64 { return lastOf(m) + int64(15*time.Minute) }, math.NaN()},
		{"seasonal, +Inf ignored", seasonal, func(m Model) int64 { return lastOf(m) + int64(15*time.Minute) }, math.Inf(1)},
		{"seasonal, same time ignored", seasonal, lastOf, 500},
		{"seasonal, older ignored", seasonal, func(m Model) int64 { return lastOf(m) - int64(time.Hour) }, 500},
		{"no season, next step", holt, func(m Model) int64 { return lastOf(m) + int64(time.Minute) }, 90},
		{"no season, old ignored", holt, func(m Model) int64 { return lastOf(m) - 1 }, 90},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got := tc.m.Clone(), tc.m.Clone()
			tn := tc.at(tc.m)
			want.Observe(time.Unix(0, tn), tc.y, p)
			wantFit := want.ForecastAhead(Horizon{})
			gotFit := got.ObserveNanos(tn, tc.y, p, 0)
			if math.Float64bits(gotFit) != math.Float64bits(wantFit) {
				t.Errorf("fitted %v (%#x), Observe then ForecastAhead %v (%#x)", gotFit, math.Float64bits(gotFit), wantFit, math.Float64bits(wantFit))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("model differs from Observe's:\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

// TestSeedAbsorbIsFit: Fit is Seed then Absorb, and a model started from a
// copy of a seed (CopyFrom) ends where Fit ends, whatever the model held
// before and for every smoothing; the copy shares no season with its seed.
func TestSeedAbsorbIsFit(t *testing.T) {
	values := synth(3*96, 15*time.Minute, 2, dailySine).values
	values[40] = math.NaN()
	tests := []struct {
		name         string
		step, period time.Duration
	}{
		{"daily season", 15 * time.Minute, 24 * time.Hour},
		{"hourly season", 15 * time.Minute, time.Hour},
		{"no season", 15 * time.Minute, 0},
		{"no step (DefaultStep)", 0, 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seed Model
			seed.Seed(values, t0, tc.step, tc.period)
			pristine := seed.Clone()
			for _, alpha := range []float64{0.05, 0.4} {
				p := DefaultParams()
				p.Alpha = alpha
				var want Model
				Fit(&want, values, t0, tc.step, tc.period, p)
				got := Model{Level: 7, Count: 3, Season: make([]float64, 5000)} // a used model, larger buffer
				got.CopyFrom(&seed)
				got.Absorb(values, t0, p)
				if got.Level != want.Level || got.Trend != want.Trend || got.LastUnixNano != want.LastUnixNano || got.Count != want.Count ||
					got.Step != want.Step || got.Period != want.Period || got.Slot != want.Slot || !slices.Equal(got.Season, want.Season) {
					t.Fatalf("alpha %v: seeded and absorbed %+v, Fit %+v", alpha, got, want)
				}
				if !reflect.DeepEqual(seed, pristine) {
					t.Fatalf("alpha %v: absorbing into the copy changed the seed", alpha)
				}
			}
		})
	}
}

// TestInterpolateUnobserved: slots no seeding value fell on lie on the line
// between their observed neighbours, around the season's wrap.
func TestInterpolateUnobserved(t *testing.T) {
	for _, tc := range []struct {
		name            string
		season, weights []float64
		want            []float64
	}{
		{"all observed: unchanged", []float64{1, 2, 3}, []float64{1, 1, 1}, []float64{1, 2, 3}},
		{"a run inside", []float64{0, 0, 0, 6, 9}, []float64{1, 0, 0, 1, 1}, []float64{0, 2, 4, 6, 9}},
		{"a run across the wrap", []float64{0, 4, 0, 0, 0}, []float64{0, 1, 0, 1, 0}, []float64{8.0 / 3, 4, 2, 0, 4.0 / 3}},
		{"one observed slot fills the season", []float64{0, 5, 0, 0}, []float64{0, 0.5, 0, 0}, []float64{5, 5, 5, 5}},
		{"none observed: unchanged", []float64{0, 0}, []float64{0, 0}, []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]float64(nil), tc.season...)
			interpolateUnobserved(got, tc.weights)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestAbsorbFillsTheLogCache: a model fitted on regular observations
// (which never check the cache) carries the logarithms of its clamped
// parameters, and its forecasts are bit for bit those of the same model
// without the cache, which works ln Phi out itself.
func TestAbsorbFillsTheLogCache(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	values := make([]float64, 3*24*12)
	for i := range values {
		values[i] = 500 + 300*math.Sin(2*math.Pi*float64(i)/288) + float64(i%5)
	}
	for _, p := range []Params{DefaultParams(), {Alpha: 0.2, Beta: 0.05, Gamma: 0.1, Phi: 0.98}, {Alpha: 0.4, Beta: 0.1, Gamma: 0.3, Phi: 1.5}} {
		var m Model
		Fit(&m, values, start, 5*time.Minute, 24*time.Hour, p)
		if !m.logs.ok || m.logs.p != p.clamped() {
			t.Fatalf("params %+v: cache %+v after Fit", p, m.logs)
		}
		bare := m.Clone()
		bare.logs = logCache{}
		last := time.Unix(0, m.LastUnixNano)
		for _, ahead := range []time.Duration{time.Second, 3 * time.Minute, 8*time.Minute + 7*time.Second, 3 * time.Hour} {
			got, want := m.Forecast(last.Add(ahead), p), bare.Forecast(last.Add(ahead), p)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("params %+v, %v ahead: %v with the cache, %v without", p, ahead, got, want)
			}
			got = m.MaxForecast(last, last.Add(ahead), time.Minute, p)
			want = bare.MaxForecast(last, last.Add(ahead), time.Minute, p)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Errorf("params %+v, max to %v ahead: %v with the cache, %v without", p, ahead, got, want)
			}
		}
	}
}

// TestMaxForecastCarriesThePosition: MaxForecast carries each point's
// position on the season from the point before; without a trend its
// result is bit for bit the highest of Forecast at each point, which
// works every position out on its own, whether the step between points
// is shorter than the season or not, and for times before 1970.
func TestMaxForecastCarriesThePosition(t *testing.T) {
	var m Model
	m.Reset(24*time.Hour, time.Minute)
	for i := range m.Season {
		m.Season[i] = 200 * math.Sin(float64(i)*0.29) * math.Cos(float64(i)*0.013)
	}
	p := DefaultParams()
	for _, scaled := range []bool{false, true} {
		m.Level, m.Count, m.Trend = 1000, 10, 0
		m.Ref, m.Mean = 0, 0
		if scaled {
			m.Ref, m.Mean = 800, 1100
		}
		for _, from := range []time.Time{time.Date(2024, 5, 1, 23, 57, 3, 9, time.UTC), time.Date(1969, 12, 31, 23, 50, 0, 0, time.UTC)} {
			m.LastUnixNano = from.UnixNano()
			for _, c := range []struct{ span, every time.Duration }{
				{4 * time.Minute, time.Minute},
				{3*time.Hour + 7*time.Second, 11*time.Minute + 13*time.Second},
				{5 * 24 * time.Hour, 24 * time.Hour},
				{9 * 24 * time.Hour, 36 * time.Hour},
			} {
				want := math.Inf(-1)
				for at := from; at.Before(from.Add(c.span)); at = at.Add(c.every) {
					want = max(want, m.Forecast(at, p))
				}
				if got := m.MaxForecast(from, from.Add(c.span), c.every, p); math.Float64bits(got) != math.Float64bits(want) {
					t.Errorf("scaled %v, from %v, every %v over %v: %v, point by point %v", scaled, from, c.every, c.span, got, want)
				}
			}
		}
	}
}

// TestForecastAheadRiseAsTwoCalls: ForecastAheadRise reads the season once
// for the forecast and the rise; both are bit for bit what ForecastAhead
// and SeasonRise return, with and without a (scaled) season, for a ready
// time before, at and after the forecast's, and before any observation.
func TestForecastAheadRiseAsTwoCalls(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	values := make([]float64, 3*24*60)
	for i := range values {
		values[i] = 500 + 300*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%7)
	}
	p := DefaultParams()
	fitted := func(period time.Duration, scaled bool) Model {
		var m Model
		m.Seed(values, start, time.Minute, period)
		if scaled && !m.ScaleSeason() {
			t.Fatal("the season does not scale")
		}
		m.Absorb(values, start, p)
		return m
	}
	var empty Model
	empty.Reset(24*time.Hour, time.Minute)
	models := map[string]Model{
		"additive":  fitted(24*time.Hour, false),
		"scaled":    fitted(24*time.Hour, true),
		"no season": fitted(0, false),
		"empty":     empty,
	}
	for name, m := range models {
		for _, ahead := range []time.Duration{0, 4 * time.Minute, 26 * time.Hour} {
			h := m.Horizon(ahead, p)
			for _, ready := range []time.Duration{-time.Minute, 0, 3 * time.Minute, ahead, ahead + time.Second, 30 * time.Hour} {
				r := m.LastUnixNano + int64(ready)
				f, rise := m.ForecastAheadRise(h, r)
				wantF, wantRise := m.ForecastAhead(h), m.SeasonRise(r, m.LastUnixNano+int64(ahead))
				if math.Float64bits(f) != math.Float64bits(wantF) || math.Float64bits(rise) != math.Float64bits(wantRise) {
					t.Errorf("%s, %v ahead, ready at %v: %v, %v; apart %v, %v", name, ahead, ready, f, rise, wantF, wantRise)
				}
			}
		}
	}
}

// TestObserveAheadAsTwoCalls: ObserveAhead carries the forecast's
// position on the season from the observation's; what it returns is bit
// for bit ObserveNanos followed by ForecastAhead, and the model ends the
// same, with and without a (scaled) season, for forecasts shorter and
// longer than the season, and for values it refuses (not finite, not
// after the last).
func TestObserveAheadAsTwoCalls(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	seed := make([]float64, 2*24*12)
	for i := range seed {
		seed[i] = 500 + 300*math.Sin(2*math.Pi*float64(i)/288)
	}
	p := DefaultParams()
	for _, c := range []struct {
		name   string
		period time.Duration
		scaled bool
	}{{"no season", 0, false}, {"additive", 24 * time.Hour, false}, {"scaled", 24 * time.Hour, true}} {
		var m Model
		m.Seed(seed, start, 5*time.Minute, c.period)
		if c.scaled && !m.ScaleSeason() {
			t.Fatal("the season does not scale")
		}
		m.Absorb(seed, start, p)
		two := m.Clone()
		tn := start.Add(time.Duration(len(seed)) * 5 * time.Minute).UnixNano()
		for i := range 600 {
			y := 520 + 310*math.Sin(2*math.Pi*float64(i)/288) + float64(i%11)
			at := tn + int64(i)*int64(5*time.Minute)
			switch i {
			case 100:
				y = math.NaN()
			case 200:
				at = tn // before the last observation
			}
			h := m.Horizon([]time.Duration{0, 3 * time.Minute, 8 * time.Minute, 25 * time.Hour}[i%4], p)
			fitted, ahead := m.ObserveAhead(at, y, p, h, 0)
			wantFitted := two.ObserveNanos(at, y, p, 0)
			wantAhead := two.ForecastAhead(h)
			if math.Float64bits(fitted) != math.Float64bits(wantFitted) || math.Float64bits(ahead) != math.Float64bits(wantAhead) {
				t.Fatalf("%s, value %d: %v, %v; apart %v, %v", c.name, i, fitted, ahead, wantFitted, wantAhead)
			}
		}
		if m.Level != two.Level || m.Trend != two.Trend || !slices.Equal(m.Season, two.Season) || m.Mean != two.Mean {
			t.Fatalf("%s: the models differ after the run", c.name)
		}
	}
}
