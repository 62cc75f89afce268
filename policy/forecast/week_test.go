package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// weekdayShape is a daily sine whose weekends (t0 is a Monday) lose the
// daytime peak and sit lower: the shape a daily season cannot carry for
// every day of the week.
func weekdayShape(sec float64) float64 {
	day := int(sec/86400) % 7
	if day >= 5 {
		return 70 + 5*math.Sin(2*math.Pi*sec/86400)
	}
	return dailySine(sec)
}

// weekRun replays values (5-minute samples from t0) through two daily
// models fitted on the first two days, one with a weekly adjustment and
// one without, and forecasts lead steps ahead of every sample. It returns
// the mean absolute forecast error of each from sample from on, the time
// the adjustment first became active (zero if never), whether it is
// active at the end, and whether every forecast of the two was the same.
type weekResult struct {
	errWeek, errDaily float64
	firstActive       time.Time
	activeAtEnd       bool
	identical         bool
}

func weekRun(values []float64, from, lead int) weekResult {
	const step = 5 * time.Minute
	p := DefaultParams()
	p.Alpha, p.Gamma = 0.05, 0.1 // a level that keeps the daily shape in the season, as tuning chooses on daily data
	fit := 2 * 288
	var daily, weekly Model
	Fit(&daily, values[:fit], t0, step, 24*time.Hour, p)
	Fit(&weekly, values[:fit], t0, step, 24*time.Hour, p)
	weekly.Week = NewWeek()
	r := weekResult{identical: true}
	n := 0
	for i := fit; i+lead < len(values); i++ {
		at := t0.Add(time.Duration(i) * step)
		daily.Observe(at, values[i], p)
		weekly.Observe(at, values[i], p)
		if weekly.Week.Active() && r.firstActive.IsZero() {
			r.firstActive = at
		}
		target := at.Add(time.Duration(lead) * step)
		fw, fd := weekly.Forecast(target, p), daily.Forecast(target, p)
		if math.Float64bits(fw) != math.Float64bits(fd) {
			r.identical = false
		}
		if i >= from {
			want := values[i+lead]
			r.errWeek += math.Abs(fw - want)
			r.errDaily += math.Abs(fd - want)
			n++
		}
	}
	r.errWeek /= float64(n)
	r.errDaily /= float64(n)
	r.activeAtEnd = weekly.Week.Active()
	return r
}

// TestWeeklyAdjustment checks what the adjustment promises: on a series
// whose weekends differ it becomes active once it has predicted a week of
// hours from earlier weeks (never before two weeks of data) and forecasts
// better than the daily model alone; on a series without a weekly shape it
// never acts, and every forecast is the daily model's, bit for bit.
func TestWeeklyAdjustment(t *testing.T) {
	const perDay = 288 // 5-minute samples
	rng := rand.New(rand.NewPCG(7, 7))
	level := 100.0
	walkDaily := func(sec float64) float64 { // a daily sine on a wandering level
		level += 0.3 * rng.NormFloat64()
		return level + dailySine(sec) - 100
	}
	for _, c := range []struct {
		name       string
		f          func(sec float64) float64
		sigma      float64
		wantActive bool
		maxRatio   float64 // of the mean absolute errors with and without, when active
	}{
		{"weekends differ", weekdayShape, 2, true, 0.95},
		// The noise (mean absolute value 8) is most of either error.
		{"weekends differ, noisy", weekdayShape, 10, true, 0.99},
		{"every day alike", dailySine, 2, false, 0},
		{"every day alike, noisy", dailySine, 10, false, 0},
		{"daily shape on a random walk", walkDaily, 2, false, 0},
		{"white noise", func(float64) float64 { return 100 }, 10, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			values := synth(5*7*perDay, 5*time.Minute, c.sigma, c.f).values
			r := weekRun(values, 3*7*perDay, 6) // scored over weeks 4 and 5, 30 minutes ahead
			if got := !r.firstActive.IsZero(); got != c.wantActive || r.activeAtEnd != c.wantActive {
				t.Fatalf("active at some point %v, at the end %v; want %v", got, r.activeAtEnd, c.wantActive)
			}
			if !c.wantActive {
				if !r.identical {
					t.Errorf("an inactive adjustment changed a forecast")
				}
				return
			}
			if two := t0.Add(14 * 24 * time.Hour); r.firstActive.Before(two) {
				t.Errorf("active at %v, before two weeks of data (%v)", r.firstActive, two)
			}
			if !(r.errWeek < c.maxRatio*r.errDaily) {
				t.Errorf("mean absolute error %.3f with the adjustment, %.3f without: want at most %v× that", r.errWeek, r.errDaily, c.maxRatio)
			}
			t.Logf("active from %v; error %.3f with, %.3f without", r.firstActive.Sub(t0), r.errWeek, r.errDaily)
		})
	}
}

// TestWeeklyAdjustmentFalsePositives replays 100 random walks and 100
// white noises of six weeks through a daily model with an adjustment, at a
// slow level smoothing (whose lag leaves the most slowly wandering error on
// a random walk) and at the default one: a weekly shape they do not have
// must seldom act.
func TestWeeklyAdjustmentFalsePositives(t *testing.T) {
	for _, alpha := range []float64{0.05, DefaultParams().Alpha} {
		p := DefaultParams()
		p.Alpha = alpha
		walks, noises := weekFalsePositives(p)
		// Season detection reports a season in 6-12 % of random walks
		// (TestDetectSeasonFalsePositivesAtFirstChance).
		if walks > 5 || noises > 3 {
			t.Errorf("alpha %v: an active weekly adjustment in %d of 100 random walks and %d of 100 white noises, want at most 5 and 3", alpha, walks, noises)
		}
		t.Logf("alpha %v: active in %d random walks and %d white noises of 100", alpha, walks, noises)
	}
}

// weekFalsePositives counts the random walks and white noises, of 100
// each, on which the adjustment was ever active.
func weekFalsePositives(p Params) (walks, noises int) {
	const n = 6 * 7 * 24 * 4 // 15-minute samples
	for seed := range 100 {
		rng := rand.New(rand.NewPCG(uint64(seed), 5))
		var walk, noise Model
		walk.Reset(24*time.Hour, 15*time.Minute)
		noise.Reset(24*time.Hour, 15*time.Minute)
		walk.Week, noise.Week = NewWeek(), NewWeek()
		w := 100.0
		wasWalk, wasNoise := false, false
		for i := range n {
			at := t0.Add(time.Duration(i) * 15 * time.Minute)
			w += rng.NormFloat64()
			walk.Observe(at, w, p)
			noise.Observe(at, 100+10*rng.NormFloat64(), p)
			wasWalk = wasWalk || walk.Week.Active()
			wasNoise = wasNoise || noise.Week.Active()
		}
		if wasWalk {
			walks++
		}
		if wasNoise {
			noises++
		}
	}
	return walks, noises
}

// TestWeekLearnClosesHours checks the bookkeeping: values are summed per
// hour; when the next hour starts, the hour's mean minus the reference
// level moves its slot (the first week's value whole, later weeks by
// weekGamma), the first hour sets the reference level, which then follows
// the hours over about a day; a pair is counted only for a slot learned in
// an earlier week; and Held follows the slots with the weight it is given.
func TestWeekLearnClosesHours(t *testing.T) {
	w := NewWeek()
	hour := int64(time.Hour)
	base := int64(1000) * hour // slot 1000 mod 168 = 160
	w.learn(base, 2)
	w.learn(base+hour/2, 4)
	if w.Hours != 0 || w.N != 2 || w.Sum != 6 {
		t.Fatalf("hour closed early or values lost: hours %d, n %d, sum %v", w.Hours, w.N, w.Sum)
	}
	w.learn(base+hour, 5) // closes hour 1000 (mean 3): the reference level
	if w.Hours != 1 || w.Ref != 3 || w.Slots[160] != 0 || w.Pairs != 0 {
		t.Fatalf("after the first hour: hours %d, ref %v, slot %v, pairs %d; want 1, 3, 0, 0", w.Hours, w.Ref, w.Slots[160], w.Pairs)
	}
	w.learn(base+2*hour, 3) // closes hour 1001 (mean 5): 2 above the reference
	if w.Slots[161] != 2 || w.Ref != 3+2.0/weekRefHours {
		t.Fatalf("after the second hour: slot %v, ref %v; want 2, %v", w.Slots[161], w.Ref, 3+2.0/weekRefHours)
	}
	// The rest of the week at 3, then hour 1000 again a week later.
	for k := int64(3); k <= 168; k++ {
		w.learn(base+k*hour, 3)
	}
	if w.Pairs != 0 || w.Hours != 168 {
		t.Fatalf("after a week: pairs %d, hours %d; want 0, 168", w.Pairs, w.Hours)
	}
	ref, x := w.Ref, w.Slots[160]
	w.learn(base+169*hour, 3) // closes hour 1168, slot 160 again
	if want := float64(x) + weekGamma*((3-ref)-float64(x)); w.Pairs != 1 || math.Abs(float64(w.Slots[160])-want) > 1e-6 {
		t.Errorf("a week later: pairs %d, slot %v; want 1, %v", w.Pairs, w.Slots[160], want)
	}
	// Held takes the deviation at the weight it is given: all of it at 1,
	// nothing at 0.
	at := base + 169*hour + hour/3
	w.follow(at, 1)
	if want := w.deviation(at); w.Held != want {
		t.Errorf("held %v at weight 1, want the deviation %v", w.Held, want)
	}
	held := w.Held
	w.follow(at+hour/3, 0)
	if w.Held != held {
		t.Errorf("held moved at weight 0: %v -> %v", held, w.Held)
	}
	// A model follows Held only while its adjustment acts.
	var m Model
	m.Reset(24*time.Hour, time.Minute)
	m.Week = NewWeek()
	for i := range 600 {
		m.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%17), DefaultParams())
	}
	if m.Week.Active() || m.Week.Held != 0 {
		t.Errorf("an inactive adjustment's held part moved to %v", m.Week.Held)
	}
	// Times before 1970 land in the slots the same way.
	neg := NewWeek()
	neg.learn(-2*hour+hour/2, 5) // hour -2: the reference
	neg.learn(-hour/2, 8)        // hour -1, slot 167: 3 above it
	neg.learn(0, 0)
	if neg.Slots[167] != 3 {
		t.Errorf("the hour before the epoch went to another slot: %v", neg.Slots[160:])
	}
}

// TestWeeklyIsTheForecastsPart: Weekly is exactly what the adjustment adds
// to a forecast (the forecast minus the same model's without it, which
// learns and forecasts alike otherwise), says it acts only while the
// adjustment passed its test and the model has a daily season, and is 0
// with every forecast unchanged while it only learns.
func TestWeeklyIsTheForecastsPart(t *testing.T) {
	const step = 5 * time.Minute
	p := DefaultParams()
	p.Alpha, p.Gamma = 0.05, 0.1
	values := synth(4*7*288, step, 2, weekdayShape).values
	var m Model
	Fit(&m, values[:2*288], t0, step, 24*time.Hour, p)
	m.Week = NewWeek()
	// The model at the end of each day, by days observed.
	byDay := map[int]Model{}
	for i := 2 * 288; i < len(values); i++ {
		m.Observe(t0.Add(time.Duration(i)*step), values[i], p)
		if (i+1)%288 == 0 {
			byDay[(i+1)/288] = m.Clone()
		}
	}
	holt := byDay[28].Clone() // the active adjustment on a model without a season
	holt.Period, holt.Slot, holt.Season = 0, 0, nil
	for _, c := range []struct {
		name           string
		model          Model
		active, acting bool // the adjustment passed its test; Weekly says it acts
	}{
		{"after a week: learning only", byDay[7], false, false},
		{"after four weeks of a weekly shape", byDay[28], true, true},
		{"an active adjustment on a model without a daily season", holt, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.model.Week.Active() != c.active {
				t.Fatalf("the fixture's adjustment active %v, want %v", c.model.Week.Active(), c.active)
			}
			without := c.model.Clone()
			without.Week = Week{}
			last := time.Unix(0, c.model.LastUnixNano)
			moved := false
			for ahead := time.Duration(0); ahead <= 36*time.Hour; ahead += 37 * time.Minute {
				at := last.Add(ahead)
				part, acting := c.model.Weekly(at)
				if acting != c.acting {
					t.Fatalf("%v ahead: acting %v, want %v", ahead, acting, c.acting)
				}
				with, base := c.model.Forecast(at, p), without.Forecast(at, p)
				if !acting {
					if part != 0 || math.Float64bits(with) != math.Float64bits(base) {
						t.Fatalf("%v ahead: part %v, forecast %v against %v without the adjustment; want 0 and the same", ahead, part, with, base)
					}
					continue
				}
				if d := with - base; math.Abs(d-part) > 1e-9*math.Max(1, math.Abs(with)) {
					t.Fatalf("%v ahead: forecast %v with, %v without: the adjustment added %v, Weekly says %v", ahead, with, base, d, part)
				}
				moved = moved || math.Abs(part) > 1
			}
			if c.acting && !moved {
				t.Error("the active adjustment never moved a forecast by more than 1 over a day and a half")
			}
		})
	}
}
