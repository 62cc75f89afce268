package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// phaseDay is a daily shape at 1-minute steps, moved move minutes later:
// a quiet night (40), a rise over half an hour from 08:00 to a busy day
// (160), a fall over two hours from 20:00.
func phaseDay(i, move int) float64 {
	const perDay = 1440
	switch m := ((i-move)%perDay + perDay) % perDay; {
	case m >= 8*60 && m < 8*60+30:
		return 40 + 120*float64(m-8*60)/30
	case m >= 8*60+30 && m < 20*60:
		return 160
	case m >= 20*60 && m < 22*60:
		return 40 + 120*float64(22*60-m)/120
	}
	return 40
}

// TestPhaseShift: a model whose daily season was fitted on three days of
// 1-minute samples, asked after more days: a move of the whole pattern
// seen for 30 hours is found (to two slots, either way); none is found
// on the same pattern unmoved (noisy or not), on a move seen for less
// than a day (a weekend day, a holiday, an incident: not yet a move), on
// a day that moved and came back, on a series with no daily pattern,
// without enough history, or once the season has followed the move.
func TestPhaseShift(t *testing.T) {
	const perDay = 1440
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	noisy := func(f func(i int) float64, sigma float64) func(i int) float64 {
		r := rand.New(rand.NewPCG(9, 10))
		return func(i int) float64 { return f(i) * (1 + sigma*r.NormFloat64()) }
	}
	movedFrom := func(at, move int) func(i int) float64 {
		return func(i int) float64 {
			if i >= at {
				return phaseDay(i, move)
			}
			return phaseDay(i, 0)
		}
	}
	for _, c := range []struct {
		name     string
		days     int
		f        func(i int) float64
		want     int // slots; ±tolerance
		followed bool
	}{
		{"unmoved", 6, noisy(movedFrom(0, 0), 0.02), 0, false},
		{"unmoved, 20 % noise", 6, noisy(movedFrom(0, 0), 0.2), 0, false},
		{"an hour later for 30 hours", 6, noisy(movedFrom(6*perDay-30*60, 60), 0.02), 60, false},
		{"an hour earlier for 30 hours", 6, noisy(movedFrom(6*perDay-30*60, -60), 0.02), -60, false},
		{"forty minutes later for 30 hours", 6, noisy(movedFrom(6*perDay-30*60, 40), 0.02), 40, false},
		{"an hour later for 20 hours", 6, noisy(movedFrom(6*perDay-20*60, 60), 0.02), 0, false},
		{"an hour later for a day, then back", 6, noisy(func(i int) float64 {
			if i >= 4*perDay && i < 5*perDay {
				return phaseDay(i, 60)
			}
			return phaseDay(i, 0)
		}, 0.02), 0, false},
		{"an hour later, once followed", 6, noisy(movedFrom(6*perDay-30*60, 60), 0.02), 0, true},
		{"no daily pattern", 6, noisy(func(int) float64 { return 100 }, 0.2), 0, false},
		{"two days and a quarter", 2, noisy(movedFrom(perDay, 60), 0.02), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := c.days * perDay
			if c.days == 2 {
				n += perDay / 4
			}
			values := make([]float64, n)
			for i := range values {
				values[i] = c.f(i)
			}
			var m Model
			m.Reset(24*time.Hour, time.Minute)
			fitOn := min(3*perDay, n)
			if c.days == 2 {
				fitOn = perDay
			}
			Fit(&m, values[:fitOn], start, time.Minute, 24*time.Hour, DefaultParams())
			if c.followed {
				if d := m.FollowPhase(values, start.UnixNano(), time.Minute, nil); d < 58 || d > 62 {
					t.Fatalf("followed %d slots, want about 60", d)
				}
			}
			got := m.PhaseShift(values, start.UnixNano(), time.Minute, nil)
			if math.Abs(float64(got-c.want)) > 2 || (c.want == 0) != (got == 0) {
				t.Fatalf("PhaseShift = %d slots, want %d", got, c.want)
			}
		})
	}
}

// TestFollowPhaseForecastsTheMovedRise: after FollowPhase found an hour's
// move, the model forecasts the next morning's rise at its new time: at
// 08:45 (the old pattern's busy day) still the night's value, at 09:45
// the day's; without it, the other way round.
func TestFollowPhaseForecastsTheMovedRise(t *testing.T) {
	const perDay = 1440
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	values := make([]float64, 6*perDay)
	for i := range values {
		move := 0
		if i >= 4*perDay {
			move = 60
		}
		values[i] = phaseDay(i, move)
	}
	p := Params{Alpha: 0.05, Beta: 0.01, Gamma: 0.1, Phi: 0.9}
	for _, follow := range []bool{false, true} {
		var m Model
		m.Reset(24*time.Hour, time.Minute)
		Fit(&m, values[:3*perDay], start, time.Minute, 24*time.Hour, p)
		for i := 3 * perDay; i < len(values); i++ {
			m.Observe(start.Add(time.Duration(i)*time.Minute), values[i], p)
		}
		if follow && m.FollowPhase(values, start.UnixNano(), time.Minute, nil) == 0 {
			t.Fatal("no move found")
		}
		day := start.Add(6 * 24 * time.Hour)
		early, late := m.Forecast(day.Add(8*time.Hour+45*time.Minute), p), m.Forecast(day.Add(9*time.Hour+45*time.Minute), p)
		if moved := early < 100 && late > 100; moved != follow {
			t.Errorf("followed %v: forecast %.0f at 08:45 and %.0f at 09:45", follow, early, late)
		}
	}
}

// TestRotate moves elements towards the end (or the start), wrapping.
func TestRotate(t *testing.T) {
	for _, c := range []struct {
		d    int
		want []int
	}{
		{0, []int{1, 2, 3, 4, 5}},
		{1, []int{5, 1, 2, 3, 4}},
		{-1, []int{2, 3, 4, 5, 1}},
		{7, []int{4, 5, 1, 2, 3}},
		{-12, []int{3, 4, 5, 1, 2}},
	} {
		s := []int{1, 2, 3, 4, 5}
		Rotate(s, c.d)
		for i := range s {
			if s[i] != c.want[i] {
				t.Fatalf("Rotate(_, %d) = %v, want %v", c.d, s, c.want)
			}
		}
	}
	Rotate([]int(nil), 3) // no panic
}

// BenchmarkPhaseShift is one hourly check of a 1440-slot season on a
// week of 15 s values (crane_input15's step), the largest the board has.
func BenchmarkPhaseShift(b *testing.B) {
	const perDay = 5760
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	values := make([]float64, 7*perDay)
	for i := range values {
		values[i] = phaseDay(i/4, 0)
	}
	var m Model
	m.Reset(24*time.Hour, 15*time.Second)
	Fit(&m, values[:3*perDay], start, 15*time.Second, 24*time.Hour, DefaultParams())
	scratch := make([]float64, 10*len(m.Season))
	b.ReportAllocs()
	for b.Loop() {
		m.PhaseShift(values, start.UnixNano(), 15*time.Second, scratch)
	}
}

// TestRoughLookKeepsTheMoves: the rough look (mayHaveMoved) says yes
// wherever the full look at the period that ended half a period ago
// finds a move (moved an hour or forty minutes either way, at 15 s and 1
// minute a step, with 2 % and 5 % noise), and no on the pattern
// unmoved or without one: the checks it saves. An unmoved check then
// allocates nothing, even given no scratch.
func TestRoughLookKeepsTheMoves(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		step  time.Duration
		move  int // minutes
		sigma float64
		flat  bool
		want  bool // a move the full look finds
	}{
		{"an hour later", time.Minute, 60, 0.02, false, true},
		{"an hour earlier", time.Minute, -60, 0.02, false, true},
		{"forty minutes later", time.Minute, 40, 0.02, false, true},
		{"an hour later, 5 % noise", time.Minute, 60, 0.05, false, true},
		{"an hour earlier at 15 s", 15 * time.Second, -60, 0.02, false, true},
		{"unmoved", time.Minute, 0, 0.02, false, false},
		{"unmoved, 20 % noise", time.Minute, 0, 0.2, false, false},
		{"unmoved at 15 s", 15 * time.Second, 0, 0.02, false, false},
		{"no daily pattern", time.Minute, 0, 0.2, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			perMin := int(time.Minute / c.step)
			per := 1440 * perMin
			r := rand.New(rand.NewPCG(3, 4))
			values := make([]float64, 6*per)
			at := 6*per - 30*60*perMin // moved 30 hours before the end
			for i := range values {
				move := 0
				if i >= at {
					move = c.move
				}
				v := phaseDay(i/perMin, move)
				if c.flat {
					v = 100
				}
				values[i] = v * (1 + c.sigma*r.NormFloat64())
			}
			var m Model
			m.Reset(24*time.Hour, time.Minute)
			Fit(&m, values[:3*per], start, c.step, 24*time.Hour, DefaultParams())
			n, st := len(m.Season), int64(c.step)
			stride := max(1, int(maxPhaseShift/m.Slot)/phaseCandidates)
			most := min(int(maxPhaseShift/m.Slot), (n-1)/2) / stride * stride
			end := len(values) - per - per/2
			from := end - phaseDays*per
			t0 := start.UnixNano() + int64(from)*st
			s := make([]float64, 4*n)
			full := m.slotMeans(values[from:end], t0, st, s[2*n:3*n], s[3*n:]) &&
				m.slotMeans(values[end:end+per], t0+int64(phaseDays*per)*st, st, s[:n], s[n:2*n]) &&
				bestMove(s[:n], s[n:2*n], s[2*n:3*n], stride, most, phaseGain) != 0
			if full != c.want {
				t.Fatalf("the full look found a move: %v, want %v", full, c.want)
			}
			var rough [4 * phaseRoughBins]float64
			if got := m.mayHaveMoved(values[from:end+per], t0, st, phaseDays*per, stride, most, rough[:]); got != c.want {
				t.Fatalf("mayHaveMoved = %v, want %v", got, c.want)
			}
			if !c.want {
				if a := testing.AllocsPerRun(5, func() { m.PhaseShift(values, start.UnixNano(), c.step, nil) }); a != 0 {
					t.Errorf("an unmoved check allocates %v times", a)
				}
			}
		})
	}
}

// TestBestMoveIsTheFullSearch: bestMove, which gives a candidate up once
// its partial error passes the bar, returns what trying every candidate
// in full returns, on random patterns and on one moved pattern with
// noise, at every bar.
func TestBestMoveIsTheFullSearch(t *testing.T) {
	full := func(y, count, ref []float64, stride, most int, gain float64) int {
		inPlace := movedError(y, count, ref, 0)
		best, bestErr := 0, inPlace
		try := func(c int) {
			if e := movedError(y, count, ref, c); e < bestErr {
				best, bestErr = c, e
			}
		}
		for d := stride; d <= most; d += stride {
			try(d)
			try(-d)
		}
		if best == 0 || !(inPlace > 0) || bestErr > (1-gain)*inPlace {
			return 0
		}
		for coarse, c := best, best-stride+1; c < coarse+stride; c++ {
			if c != 0 && c != coarse {
				try(c)
			}
		}
		return best
	}
	r := rand.New(rand.NewPCG(5, 6))
	const n = 144
	found := 0
	for trial := range 400 {
		y, count, ref := make([]float64, n), make([]float64, n), make([]float64, n)
		shift := r.IntN(21) - 10
		for k := range n {
			ref[k] = math.Sin(2 * math.Pi * float64(k) / n)
			count[k] = float64(1 + r.IntN(3))
			if r.IntN(50) == 0 {
				ref[k] = math.NaN()
			}
		}
		for k := range n {
			y[k] = ref[wrap(k-shift, n)] + 0.05*float64(trial%5)*r.NormFloat64()
			if trial%3 == 0 {
				y[k] = r.NormFloat64()
			}
		}
		for _, gain := range []float64{0.5, phaseGain} {
			for _, stride := range []int{1, 3} {
				want := full(y, count, ref, stride, 12, gain)
				if got := bestMove(y, count, ref, stride, 12, gain); got != want {
					t.Fatalf("trial %d, gain %v, stride %d: bestMove = %d, the full search %d", trial, gain, stride, got, want)
				}
				if want != 0 {
					found++
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no trial had a move: the comparison says nothing")
	}
}

// TestBinMeansPutsValuesInTheirBins: binMeans, the one pass behind the
// full look (every value, a slot a bin) and the rough one (every every-th
// value, wider bins), puts every value read, less an acting weekly
// adjustment at its time, in the bin its time falls in, (t0 + i×step) mod
// period / width, the last bin taking the rest of a period that is not a
// whole number of bins: whether it counts the bin on (each value read a
// bin after the one before, the period whole bins) or follows the
// position value by value, wherever in a bin the values start and across
// the period's end.
func TestBinMeansPutsValuesInTheirBins(t *testing.T) {
	for _, c := range []struct {
		name        string
		step, width time.Duration
		every       int
		period      time.Duration
	}{
		{"rough: a value a bin, counted on", time.Minute, 10 * time.Minute, 10, 24 * time.Hour},
		{"full: a value a slot, counted on", time.Minute, time.Minute, 1, 24 * time.Hour},
		{"full: two values a slot", 30 * time.Second, time.Minute, 1, 24 * time.Hour},
		{"full: 5-minute slots of 1-minute values", time.Minute, 5 * time.Minute, 1, 24 * time.Hour},
		{"read more than a bin apart", time.Minute, 10 * time.Minute, 13, 24 * time.Hour},
		{"read less than a bin apart", time.Minute, 10 * time.Minute, 7, 24 * time.Hour},
		{"a step that does not divide the bin", 7 * time.Minute, 10 * time.Minute, 1, 24 * time.Hour},
		{"a period of whole bins plus a rest", time.Minute, 7 * time.Minute, 1, 24 * time.Hour},
		{"counted on, the rest in the last bin", time.Minute, 7 * time.Minute, 7, 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			step, width, period := int64(c.step), int64(c.width), int64(c.period)
			bins := int(period / width)
			var m Model
			m.Period = c.period
			// An acting weekly adjustment comes off every value read, at
			// its time; one that does not act, nothing.
			m.Week = NewWeek()
			for k := range m.Week.Slots {
				m.Week.Slots[k] = float32(k%13) - 6
			}
			for _, offset := range []time.Duration{0, 7 * time.Minute, 23*time.Hour + 55*time.Minute, 3*24*time.Hour + 7*time.Minute} {
				m.Week.active = offset >= 24*time.Hour
				t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Add(offset).UnixNano()
				values := make([]float64, 2*int(period/step)+3)
				for i := range values {
					values[i] = float64(i % 997)
				}
				values[5*c.every] = math.NaN()
				mean, count := make([]float64, bins), make([]float64, bins)
				m.binMeans(values, t0, step, c.every, width, mean, count)
				wantMean, wantCount := make([]float64, bins), make([]float64, bins)
				for i := 0; i < len(values); i += c.every {
					if k := min(int((t0+int64(i)*step)%period/width), bins-1); finite(values[i]) {
						wantMean[k] += values[i] - m.weekly(t0+int64(i)*step)
						wantCount[k]++
					}
				}
				slotAverage(wantMean, wantCount)
				for k := range bins {
					if count[k] != wantCount[k] || !(math.Float64bits(mean[k]) == math.Float64bits(wantMean[k]) || math.IsNaN(mean[k]) && math.IsNaN(wantMean[k])) {
						t.Fatalf("offset %v, bin %d: mean %v of %v, want %v of %v", offset, k, mean[k], count[k], wantMean[k], wantCount[k])
					}
				}
			}
		})
	}
}

// TestPhaseMoveOfTheWholeDay: a move is found only when it moves the
// whole day and removes more than the days' own variation
// (movesEverywhere). An hour later or earlier is found on days that vary
// (each day's amplitude off by 1 %, 2 % noise); not found are a morning
// an hour later under an evening as before (a habit that changed, as
// nyc_taxi's Sundays: the move explains more than phaseGain of the
// difference, and main's detector follows it, while the evening fits
// worse moved by more than the days vary there), and days whose rise
// comes late by a different amount each day (a job that starts when the
// one before it ends). Each case on eight draws of the noise.
func TestPhaseMoveOfTheWholeDay(t *testing.T) {
	const perDay = 1440
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// day is a quiet night (40), a rise over ten minutes from 08:00+rise
	// minutes to 160, and a slow fall over ten hours from 12:00+fall.
	day := func(m, rise, fall int) float64 {
		m = (m%perDay + perDay) % perDay
		switch r, f := 8*60+rise, 12*60+fall; {
		case m >= r && m < r+10:
			return 40 + 120*float64(m-r)/10
		case m >= r+10 && m < f:
			return 160
		case m >= f && m < f+10*60:
			return 160 - 120*float64(m-f)/600
		}
		return 40
	}
	moveAt := 6*perDay - 30*60 // 30 hours before the end
	for _, c := range []struct {
		name       string
		rise, fall func(d, i int) int // minutes late, by day and minute
		want       int
	}{
		{"an hour later", func(_, i int) int { return late(i >= moveAt, 60) }, func(_, i int) int { return late(i >= moveAt, 60) }, 60},
		{"an hour earlier", func(_, i int) int { return late(i >= moveAt, -60) }, func(_, i int) int { return late(i >= moveAt, -60) }, -60},
		{"the morning an hour later, the evening not", func(_, i int) int { return late(i >= moveAt, 60) }, func(int, int) int { return 0 }, 0},
		{"the rise late by a different amount each day", func(d, _ int) int { return []int{0, 40, 0, 40, 0, 50}[d] }, func(d, _ int) int { return []int{0, 40, 0, 40, 0, 50}[d] }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range uint64(8) {
				r := rand.New(rand.NewPCG(11, seed))
				amp := make([]float64, 6)
				for d := range amp {
					amp[d] = 1 + 0.01*r.NormFloat64()
				}
				values := make([]float64, 6*perDay)
				for i := range values {
					d := i / perDay
					values[i] = amp[d] * day(i, c.rise(d, i), c.fall(d, i)) * (1 + 0.02*r.NormFloat64())
				}
				var m Model
				m.Reset(24*time.Hour, time.Minute)
				Fit(&m, values[:3*perDay], start, time.Minute, 24*time.Hour, DefaultParams())
				got := m.PhaseShift(values, start.UnixNano(), time.Minute, nil)
				if math.Abs(float64(got-c.want)) > 2 || (c.want == 0) != (got == 0) {
					t.Fatalf("draw %d: PhaseShift = %d slots, want %d", seed, got, c.want)
				}
			}
		})
	}
}

// late is minutes when moved, 0 otherwise.
func late(moved bool, minutes int) int {
	if moved {
		return minutes
	}
	return 0
}
