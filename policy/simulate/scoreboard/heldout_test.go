package scoreboard

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// series builds n samples step apart from t0 with the given values
// (1, 2, 3, ... when values is nil).
func series(t0 time.Time, step time.Duration, n int, values []float64) simulate.Series {
	s := simulate.Series{Values: [][]float64{make([]float64, n)}}
	for i := range n {
		s.Times = append(s.Times, t0.Add(time.Duration(i)*step).UnixNano())
		if values != nil {
			s.Values[0][i] = values[i]
		} else {
			s.Values[0][i] = float64(i + 1)
		}
	}
	return s
}

func variant(name string) Variant {
	for _, v := range Variants() {
		if v.Name == name {
			return v
		}
	}
	panic("no variant " + name)
}

// TestVariantDerive: each variant derives what it says from a trace, and
// says when it does not apply.
func TestVariantDerive(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nan := math.NaN()
	minute := series(t0, time.Minute, 11, nil) // 10 minutes: 1..11
	day := series(t0, time.Hour, 25, nil)      // 24 hours: 1..25
	fine := series(t0, time.Minute, 12, []float64{1, 2, 3, 4, 5, nan, nan, nan, nan, nan, 7, 9})
	weekend := float64(weekendFactor) // a variable: the product rounds as the variant's does
	tests := []struct {
		name       string
		variant    string
		in         simulate.Series
		wantOK     bool
		wantTimes  []time.Duration // from t0
		wantValues []float64
		wantDiv    float64
	}{
		{"first half: up to the middle of the span", VariantFirstHalf, minute, true,
			[]time.Duration{0, 1, 2, 3, 4}, []float64{1, 2, 3, 4, 5}, 1},
		{"second half: from the middle", VariantSecondHalf, minute, true,
			[]time.Duration{5, 6, 7, 8, 9, 10}, []float64{6, 7, 8, 9, 10, 11}, 1},
		{"later start drops 7 h 20 min", VariantLaterStart, day, true, nil, nil, 1},
		{"later start leaves too little", VariantLaterStart, minute, false, nil, nil, 0},
		{"the second later start drops 2 d 13 h 40 min", VariantLaterStart2, series(t0, time.Hour, 24*4, nil), true, nil, nil, 1},
		{"the second later start leaves too little", VariantLaterStart2, day, false, nil, nil, 0},
		{"three times the load divides the target", VariantLoad3, minute, true,
			[]time.Duration{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 3},
		{"five times the load divides the target", VariantLoad5, minute, true,
			[]time.Duration{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 5},
		{"5-minute means stamped at the bucket's end, missing stays missing", VariantResampled, fine, true,
			[]time.Duration{5, 10, 15}, []float64{3, nan, 8}, 1},
		{"a 5-minute trace is not resampled", VariantResampled, series(t0, 5*time.Minute, 10, nil), false, nil, nil, 0},
		{"15-minute means of 5-minute samples", VariantResampled15, series(t0, 5*time.Minute, 7, nil), true,
			[]time.Duration{15, 30, 45}, []float64{2, 5, 7}, 1},
		{"a 15-minute trace is not resampled to 15 minutes", VariantResampled15, series(t0, 15*time.Minute, 10, nil), false, nil, nil, 0},
		{"hourly means of 30-minute samples", VariantResampled1h, series(t0, 30*time.Minute, 5, nil), true,
			[]time.Duration{60, 120, 180}, []float64{1.5, 3.5, 5}, 1},
		{"an hourly trace is not resampled to an hour", VariantResampled1h, series(t0, time.Hour, 10, nil), false, nil, nil, 0},
		{"a one-sample trace has no variant", VariantFirstHalf, series(t0, time.Minute, 1, nil), false, nil, nil, 0},
		{"level shift doubles from the middle of the span on, missing stays missing", VariantLevelShift,
			series(t0, time.Minute, 5, []float64{1, 2, 3, nan, 5}), true,
			[]time.Duration{0, 1, 2, 3, 4}, []float64{1, 2, 6, nan, 10}, 1},
		{"level drop halves from the middle of the span on", VariantLevelDrop,
			series(t0, time.Minute, 5, []float64{1, 2, 3, nan, 5}), true,
			[]time.Duration{0, 1, 2, 3, 4}, []float64{1, 2, 1.5, nan, 2.5}, 1},
		{"growth ramps from ×1 to ×1.5 in time, not by row", VariantGrowth,
			simulate.Series{Times: []int64{t0.UnixNano(), t0.Add(time.Minute).UnixNano(), t0.Add(4 * time.Minute).UnixNano()},
				Values: [][]float64{{2, 2, 2}}}, true,
			[]time.Duration{0, 1, 4}, []float64{2, 2.25, 3}, 1},
		{"a one-sample trace does not grow", VariantGrowth, series(t0, time.Minute, 1, nil), false, nil, nil, 0},
		{"phase shift: from the middle on the value an hour before, missing stays missing", VariantPhaseShift,
			series(t0, 30*time.Minute, 11, []float64{1, 2, 3, nan, 5, 6, 7, 8, 9, 10, 11}), true,
			[]time.Duration{0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300}, []float64{1, 2, 3, nan, 5, nan, 5, 6, 7, 8, 9}, 1},
		{"phase shift over a gap: the last value recorded at or before an hour earlier", VariantPhaseShift,
			simulate.Series{Times: []int64{t0.UnixNano(), t0.Add(40 * time.Minute).UnixNano(), t0.Add(100 * time.Minute).UnixNano(),
				t0.Add(150 * time.Minute).UnixNano(), t0.Add(180 * time.Minute).UnixNano()}, Values: [][]float64{{1, 2, 3, 4, 5}}}, true,
			[]time.Duration{0, 40, 100, 150, 180}, []float64{1, 2, 2, 2, 3}, 1},
		{"phase shift needs two hours", VariantPhaseShift, series(t0, time.Minute, 119, nil), false, nil, nil, 0},
		{"weekends: the sixth and seventh UTC day from the start's midnight at 0.6", VariantWeekends,
			series(t0.Add(12*time.Hour), 24*time.Hour, 14, nil), true,
			[]time.Duration{12 * 60, 36 * 60, 60 * 60, 84 * 60, 108 * 60, 132 * 60, 156 * 60, 180 * 60, 204 * 60, 228 * 60, 252 * 60,
				276 * 60, 300 * 60, 324 * 60},
			[]float64{1, 2, 3, 4, 5, 6 * weekend, 7 * weekend, 8, 9, 10, 11, 12, 13 * weekend, 14 * weekend}, 1},
		{"weekends: day boundaries at UTC midnight, missing stays missing", VariantWeekends,
			series(t0.Add(23*time.Hour), time.Hour, 4*24+3, append(make([]float64, 4*24), 1, nan, 1)), true,
			nil, nil, 1},
		{"weekends need a trace that reaches its sixth day", VariantWeekends, series(t0.Add(12*time.Hour), time.Hour, 4*24, nil),
			false, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, div, ok := variant(tt.variant).Derive(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("ok %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if div != tt.wantDiv {
				t.Errorf("target divided by %v, want %v", div, tt.wantDiv)
			}
			if tt.variant == VariantLaterStart || tt.variant == VariantLaterStart2 {
				// Hourly samples: the first left is the first at or after
				// 7 h 20 min (hour 8 of 24, value 9) or 2 d 13 h 40 min
				// (hour 62 of 96, value 63).
				wantFirst, wantN := 8*time.Hour, 17
				if tt.variant == VariantLaterStart2 {
					wantFirst, wantN = 62*time.Hour, 34
				}
				if first := time.Unix(0, got.Times[0]).Sub(t0); first != wantFirst || len(got.Times) != wantN ||
					got.Values[0][0] != float64(wantFirst/time.Hour)+1 {
					t.Fatalf("starts at %v with %v, %d samples; want %v, %d samples", first, got.Values[0][0], len(got.Times), wantFirst, wantN)
				}
				return
			}
			if tt.wantTimes == nil { // weekends at the day's boundary
				// 23:00 on day 0 to 01:00 on day 5: the last two samples
				// are on day 5, a weekend day, the one before on day 4.
				last := got.Values[0][len(got.Values[0])-3:]
				if last[0] != 1 || !math.IsNaN(last[1]) || last[2] != weekendFactor {
					t.Fatalf("the last three values %v, want [1 NaN %v]", last, weekendFactor)
				}
				return
			}
			unit := time.Minute
			var times []time.Duration
			for _, x := range got.Times {
				times = append(times, time.Unix(0, x).Sub(t0)/unit)
			}
			if !slices.Equal(times, tt.wantTimes) {
				t.Errorf("times %v minutes, want %v", times, tt.wantTimes)
			}
			if len(got.Values[0]) != len(tt.wantValues) {
				t.Fatalf("values %v, want %v", got.Values[0], tt.wantValues)
			}
			for i, v := range got.Values[0] {
				if w := tt.wantValues[i]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
					t.Errorf("values %v, want %v", got.Values[0], tt.wantValues)
					break
				}
			}
		})
	}
}

// TestRowsDropped: the rows-dropped variant leaves out about one row in
// twenty, the same ones every time, and keeps every other row whole: its
// time and its values.
func TestRowsDropped(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := series(t0, time.Minute, 4000, nil)
	in.Values = append(in.Values, slices.Clone(in.Values[0])) // a second column
	got, div, ok := variant(VariantRowsDropped).Derive(in)
	if !ok || div != 1 {
		t.Fatalf("ok %v, target divided by %v; want true, 1", ok, div)
	}
	if dropped := len(in.Times) - len(got.Times); dropped < 150 || dropped > 250 {
		t.Fatalf("%d of %d rows dropped, want about one in %d", dropped, len(in.Times), dropOneIn)
	}
	if got.Times[0] != in.Times[0] {
		t.Fatal("the first row was dropped")
	}
	for i, ts := range got.Times {
		k := int(time.Unix(0, ts).Sub(t0) / time.Minute) // the row it was
		for c := range got.Values {
			if got.Values[c][i] != in.Values[c][k] {
				t.Fatalf("row at minute %d kept column %d's value %v, want %v", k, c, got.Values[c][i], in.Values[c][k])
			}
		}
	}
	again, _, _ := variant(VariantRowsDropped).Derive(in)
	if !slices.Equal(again.Times, got.Times) {
		t.Fatal("a second derivation dropped other rows: the board would not be reproducible")
	}
}

// TestSpikes: the spikes variant multiplies the values at the times of its
// bursts by spikeFactor and leaves every other value, draws about
// spikesPerWeek bursts a week, each spikeMin to spikeMax long, and draws
// the same ones every time.
func TestSpikes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		span       time.Duration
		wantBursts int
	}{
		{"two weeks: six bursts", 14 * 24 * time.Hour, 6},
		{"two hours: one burst at least", 2 * time.Hour, 1},
		{"a week and a half: five bursts (4.5 rounded)", 10*24*time.Hour + 12*time.Hour, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := int(tt.span/time.Minute) + 1
			values := make([]float64, n)
			for i := range values {
				values[i] = float64(1 + i%7)
			}
			in := series(t0, time.Minute, n, values)
			got, div, ok := variant(VariantSpikes).Derive(in)
			if !ok || div != 1 || !slices.Equal(got.Times, in.Times) {
				t.Fatalf("ok %v, target divided by %v, %d times; want true, 1, the trace's %d", ok, div, len(got.Times), n)
			}
			bursts := spikes(in.Times[0], in.Times[n-1], rand.New(rand.NewPCG(spikeFactor, uint64(n))))
			if len(bursts) != tt.wantBursts {
				t.Fatalf("%d bursts, want %d", len(bursts), tt.wantBursts)
			}
			for _, b := range bursts {
				if d := time.Duration(b[1] - b[0]); d < spikeMin || d > spikeMax || b[0] < in.Times[0] || b[0] > in.Times[n-1] {
					t.Fatalf("burst at %v for %v: want %v to %v within the span", time.Unix(0, b[0]).UTC(), d, spikeMin, spikeMax)
				}
			}
			spiked := 0
			for i, ts := range in.Times {
				in := slices.ContainsFunc(bursts, func(b [2]int64) bool { return ts >= b[0] && ts < b[1] })
				want := values[i]
				if in {
					want, spiked = values[i]*spikeFactor, spiked+1
				}
				if got.Values[0][i] != want {
					t.Fatalf("minute %d: %v, want %v (in a burst: %v)", i, got.Values[0][i], want, in)
				}
			}
			if spiked < int(spikeMin/time.Minute) {
				t.Fatalf("%d samples spiked, want at least one burst's %v", spiked, spikeMin)
			}
			again, _, _ := variant(VariantSpikes).Derive(in)
			if !slices.Equal(again.Values[0], got.Values[0]) {
				t.Fatal("a second derivation drew other bursts: the board would not be reproducible")
			}
		})
	}
}

// TestScaledVariantsLeaveTheTrace: level-shift, growth and phase-shift
// write new values, not the trace's own, which the board and the other
// variants replay too (spikes and weekends write through scaled, as
// level-shift does).
func TestScaledVariantsLeaveTheTrace(t *testing.T) {
	in := series(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute, 10, nil)
	for _, name := range []string{VariantLevelShift, VariantLevelDrop, VariantGrowth, VariantPhaseShift} {
		in := in
		if name == VariantPhaseShift { // three hours, so the middle is an hour after the start
			in = series(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 20*time.Minute, 10, nil)
		}
		before := slices.Clone(in.Values[0])
		got, _, ok := variant(name).Derive(in)
		if !ok || got.Values[0][9] == before[9] {
			t.Fatalf("%s: ok %v, last value %v from %v", name, ok, got.Values[0][9], before[9])
		}
		if !slices.Equal(in.Values[0], before) {
			t.Fatalf("%s changed the trace: %v, was %v", name, in.Values[0], before)
		}
	}
}

// TestScoreVariant: a variant's row is the board's row of the derived
// series, with the load variant's target divided by 3; a variant that does
// not apply gives no row.
func TestScoreVariant(t *testing.T) {
	tr := Trace{Name: "synthetic.csv", Type: policy.MetricRequestRate, Daily: true}
	s := daily(2)
	row, ok, err := ScoreVariant(variant(VariantLoad3), tr, s)
	if err != nil || !ok {
		t.Fatalf("ok %v, %v", ok, err)
	}
	whole, err := ReplaySummaries(tr, s)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(row.Target*3-whole.Policy.Metrics[0].Target) > 1e-9 || row.Variant != VariantLoad3 {
		t.Fatalf("target %v, want a third of %v", row.Target, whole.Policy.Metrics[0].Target)
	}
	if row.Forecast.PeakSize < 2*whole.Forecast.Summary.PeakSize {
		t.Fatalf("peak %d at 3× the load, %d at 1×", row.Forecast.PeakSize, whole.Forecast.Summary.PeakSize)
	}
	// The demand-scaling variants keep the trace's target: the group
	// grows with the level (and a cpu target stays within 100 %).
	for _, c := range []struct {
		name string
		more bool // instance-hours: more than the trace's, or fewer
	}{{VariantLevelShift, true}, {VariantLevelDrop, false}, {VariantGrowth, true}} {
		row, ok, err := ScoreVariant(variant(c.name), tr, s)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, %v", c.name, ok, err)
		}
		got, was := row.Forecast.InstanceHours, whole.Forecast.Summary.InstanceHours
		if row.Target != whole.Policy.Metrics[0].Target || (got > was) != c.more || got == was {
			t.Fatalf("%s: target %v, %v instance-hours; want the trace's target %v, and more than its %v: %v",
				c.name, row.Target, got, whole.Policy.Metrics[0].Target, was, c.more)
		}
	}
	half, ok, err := ScoreVariant(variant(VariantSecondHalf), tr, s)
	if err != nil || !ok {
		t.Fatalf("ok %v, %v", ok, err)
	}
	derived, _, _ := variant(VariantSecondHalf).Derive(s)
	rs, err := ReplaySummaries(tr, derived)
	if err != nil {
		t.Fatal(err)
	}
	if half.Row.Forecast != rs.Forecast.Summary || half.Row.Baseline != rs.Baseline.Summary {
		t.Fatalf("second half row %+v is not the replay of the second half", half.Row)
	}
	if _, ok, err := ScoreVariant(variant(VariantResampled), tr, series(time.Unix(0, 0), 5*time.Minute, 10, nil)); ok || err != nil {
		t.Fatalf("5-minute trace resampled: ok %v, %v", ok, err)
	}
}

// TestTraceTarget: which target a variant is scored at is the Variant's
// own property, not its name's: level-shift as defined keeps the trace's
// target, and the same variant without TraceTarget gets the convention's
// target for its own values (about twice the trace's, the second half
// having doubled); every variant that moves the level says so.
func TestTraceTarget(t *testing.T) {
	tr := Trace{Name: "synthetic.csv", Type: policy.MetricRequestRate, Daily: true}
	s := daily(2)
	whole, err := ReplaySummaries(tr, s)
	if err != nil {
		t.Fatal(err)
	}
	own := whole.Policy.Metrics[0].Target
	shifted, _, _ := variant(VariantLevelShift).Derive(s)
	its, _, err := Policy(tr, shifted.Values[0])
	if err != nil {
		t.Fatal(err)
	}
	if its.Metrics[0].Target < 1.5*own {
		t.Fatalf("the doubled values' target %v is not far from the trace's %v", its.Metrics[0].Target, own)
	}
	for _, c := range []struct {
		name        string
		traceTarget bool
		want        float64
	}{
		{"as defined: the trace's target", true, own},
		{"without TraceTarget: the doubled values' target", false, its.Metrics[0].Target},
	} {
		v := variant(VariantLevelShift)
		if v.TraceTarget != true {
			t.Fatalf("%s is defined without TraceTarget", v.Name)
		}
		v.TraceTarget = c.traceTarget
		row, ok, err := ScoreVariant(v, tr, s)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, %v", c.name, ok, err)
		}
		if math.Abs(row.Target-c.want) > 1e-9*c.want {
			t.Errorf("%s: target %v, want %v", c.name, row.Target, c.want)
		}
	}
	for _, v := range Variants() {
		moves := v.Name == VariantLevelShift || v.Name == VariantLevelDrop || v.Name == VariantGrowth ||
			v.Name == VariantSpikes || v.Name == VariantWeekends
		if v.TraceTarget != moves {
			t.Errorf("%s: TraceTarget %v, want %v", v.Name, v.TraceTarget, moves)
		}
	}
}

// TestHeldOutTotals: totals count the missed checks and average the finite
// ratios by class, per variant and over all.
func TestHeldOutTotals(t *testing.T) {
	pass := Check{Name: "under-provisioned", Pass: true}
	fail := Check{Name: "instance-hours", Pass: false}
	row := func(v string, daily bool, under, hours, acts float64, cs ...Check) HeldOutRow {
		return HeldOutRow{Variant: v, Row: Row{Trace: Trace{Name: "t.csv", Daily: daily}, Checks: cs,
			Ratios: simulate.Ratios{UnderProvisioned: simulate.Factor(under), InstanceHours: simulate.Factor(hours),
				Actions: simulate.Factor(acts)}}}
	}
	h := HeldOut{
		Variants: []Variant{{Name: "a"}, {Name: "b"}},
		Rows: []HeldOutRow{
			row("a", true, 0.4, 1.0, 1.0, pass, pass, pass),
			row("a", true, 0.6, 1.1, 1.2, pass, fail, pass),
			row("a", false, 0.9, 1.0, 0.5, pass, pass),
			row("b", false, math.NaN(), 1.2, 1, fail, fail),
		},
	}
	got := h.Totals()
	want := []VariantTotals{
		{Variant: "a", Missed: 1, Checks: 8, DailyUnder: 0.5, OtherUnder: 0.9, Hours: 31.0 / 30, DailyActions: 1.1},
		{Variant: "b", Missed: 2, Checks: 2, DailyUnder: simulate.Factor(math.NaN()), OtherUnder: simulate.Factor(math.NaN()),
			Hours: 1.2, DailyActions: simulate.Factor(math.NaN())},
		{Variant: "all", Missed: 3, Checks: 10, DailyUnder: 0.5, OtherUnder: 0.9, Hours: 1.075, DailyActions: 1.1},
	}
	same := func(a, b simulate.Factor) bool {
		return math.Abs(float64(a-b)) < 1e-9 || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
	}
	for i, w := range want {
		g := got[i]
		if g.Variant != w.Variant || g.Missed != w.Missed || g.Checks != w.Checks || !same(g.DailyUnder, w.DailyUnder) ||
			!same(g.OtherUnder, w.OtherUnder) || !same(g.Hours, w.Hours) || !same(g.DailyActions, w.DailyActions) {
			t.Errorf("totals %d: %+v, want %+v", i, g, w)
		}
	}
	var text, md bytes.Buffer
	if err := h.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"instance-hours", "1 of 8", "3 of 10", "0.50×", "n/a"} {
		if !strings.Contains(text.String(), want) || !strings.Contains(md.String(), want) {
			t.Errorf("boards lack %q:\n%s\n%s", want, text.String(), md.String())
		}
	}
}
