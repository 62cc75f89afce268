package policy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestForecastHeldBackOnceSpent: a trusted forecast above the reactive
// proposal raises the recommendation until the forecast's extra
// instance-time is more than max_extra of the rest over the trailing week,
// and not after: then the group holds at the reactive proposal, nothing
// enters the stabilization window for the forecast, and the reason says
// so with the share spent and the bound. "none" turns the bound off.
func TestForecastHeldBackOnceSpent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxExtra    ExtraBound
		extra, held float64 // the account before the decision, instance-hours
		wantHeld    bool
	}{
		{"nothing spent", 0, 0, 1000, false},
		{"within the share", 0, 4, 104, false},
		{"spent at the default 5%", 0, 6, 106, true},
		{"spent at 5%, within 10%", 10, 6, 106, false},
		{"spent at 10%", 10, 11, 111, true},
		{"bound off", NoMaxExtra, 60, 106, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.EvaluationInterval = Duration(time.Minute) // the cadence rampState feeds
			p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour), MaxExtra: tc.maxExtra}
			s := rampState(t, p, 60)
			now := t0.Add(60 * time.Minute)
			s.Extra = ExtraAccount{At: now, Held: tc.held, Extra: tc.extra, Shadow: 22}
			s.Recommendations = nil
			p.ScaleIn.Stabilization = Duration(5 * time.Minute)
			in := Inputs{Current: 22, Ready: 22}
			in.Metrics[0] = Sample{Time: now, Value: 2200, Present: true}
			d := Evaluate(p, in, s, now)
			if !d.Metrics[0].Trusted || d.Predictive <= 22 || d.Reactive != 22 {
				t.Fatalf("predictive %d reactive %d trusted %v: the ramp's forecast should ask for more than 22", d.Predictive, d.Reactive, d.Metrics[0].Trusted)
			}
			if tc.wantHeld {
				if d.UsedForecast || d.Desired != 22 || math.Abs(d.HeldBack-tc.extra/(tc.held-tc.extra)) > 1e-9 {
					t.Fatalf("desired %d used %v held back %v: want the forecast held back at 22 (%s)", d.Desired, d.UsedForecast, d.HeldBack, d.Explain(p))
				}
				if q := d.Next.Recommendations; len(q) != 1 || q[0].Size != 22 {
					t.Fatalf("window %+v: a held-back forecast entered it", q)
				}
				want := fmt.Sprintf("forecast held back: prediction's extra instance-time %.1f %% of the reactive rule's over the trailing week, bound %s", 100*tc.extra/(tc.held-tc.extra), strings.Replace(tc.maxExtra.String(), "%", " %", 1))
				if ex := d.Explain(p); !strings.HasPrefix(ex, "hold forecast-held-back") || !strings.Contains(ex, want) {
					t.Fatalf("reason %q does not say %q", ex, want)
				}
				return
			}
			if q := d.Next.Recommendations; !d.UsedForecast || d.Desired <= 22 || len(q) != 1 || q[0].Size != d.Predictive || d.HeldBack != 0 || strings.Contains(d.Explain(p), "held back") {
				t.Fatalf("desired %d used %v held back %v: want the forecast to raise (%s)", d.Desired, d.UsedForecast, d.HeldBack, d.Explain(p))
			}
		})
	}
}

// TestShadowFollowsReactiveRule: the shadow (what the reactive rule alone
// would hold) follows the reactive proposal up, holds on stale data, on a
// scale-in holds at the top of its own window (never above where it was),
// and holds where the decision was held by a cooldown or anti-flapping.
func TestShadowFollowsReactiveRule(t *testing.T) {
	win := []Recommendation{{At: t0, Size: 18}}
	for _, tc := range []struct {
		name         string
		shadow       int
		window       []Recommendation
		reactive     int
		fresh, stale bool
		bound        Limit
		damped       bool
		want         int
	}{
		{"starts at the group's size", 0, nil, 12, false, false, LimitStaleData, false, 20},
		{"follows the reactive proposal up", 15, nil, 18, true, false, LimitNone, false, 18},
		{"follows it down with no window", 15, nil, 11, true, false, LimitNone, false, 11},
		{"holds on stale data", 15, nil, 30, false, false, LimitStaleData, false, 15},
		{"a stale metric bars a scale-in", 15, nil, 11, true, true, LimitStaleData, false, 15},
		{"a stale metric lets it grow", 15, nil, 17, true, true, LimitNone, false, 17},
		{"holds at its window's top", 20, win, 11, true, false, LimitStabilization, false, 18},
		{"never above where it was", 16, win, 11, true, false, LimitStabilization, false, 16},
		{"held by a cooldown", 15, nil, 11, true, false, LimitCooldown, false, 15},
		{"held by anti-flapping", 15, nil, 11, true, false, LimitFlapping, true, 15},
		{"a cooldown does not hold it up", 15, nil, 18, true, false, LimitCooldown, false, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ExtraAccount{Shadow: tc.shadow, Recommendations: tc.window}
			if got := a.follow(tc.reactive, tc.fresh, tc.stale, 20, tc.bound, tc.damped); got != tc.want || a.Shadow != tc.want {
				t.Fatalf("shadow %d (kept %d), want %d", got, a.Shadow, tc.want)
			}
		})
	}
}

// TestExcessCappedByWhatTheForecastAsks: the forecast is charged the
// decided size above the shadow, but at most what it asks to hold itself:
// its proposal when it raised the recommendation, or the stabilization
// window's top up to the current size; nothing below the shadow.
func TestExcessCappedByWhatTheForecastAsks(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		desired, shadow, predictive int
		raised                      bool
		windowTop, current, kept    int
		want                        int
	}{
		{"its raise", 25, 20, 25, true, 25, 20, 0, 5},
		{"a rate limit keeps it below its raise", 23, 20, 25, true, 25, 20, 0, 3},
		{"capped at its raise", 30, 20, 24, true, 24, 20, 0, 4},
		{"the window's hold", 26, 20, 0, false, 26, 26, 0, 6},
		{"the window's top up to the current size", 30, 20, 0, false, 34, 26, 0, 6},
		{"a hold the reactive rule makes too", 20, 20, 0, false, 26, 20, 0, 0},
		{"below the shadow", 18, 20, 0, false, 18, 18, 0, 0},
		{"a schedule's min is not the forecast's", 30, 20, 0, false, 20, 20, 0, 0},
		{"a stale hold keeps the excess its window no longer holds", 26, 20, 0, false, 0, 26, 6, 6},
		{"a stale hold keeps at most what is above the shadow", 26, 23, 0, false, 0, 26, 6, 3},
		{"a stale hold's raise above what it keeps", 28, 20, 28, true, 28, 26, 6, 8},
		{"nothing kept below the shadow", 20, 22, 0, false, 0, 20, 6, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := excess(tc.desired, tc.shadow, tc.predictive, tc.raised, tc.windowTop, tc.current, tc.kept); got != tc.want {
				t.Fatalf("excess %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAccountCharges: each evaluation charges the time since the last, at
// most an hour, at the size held and at the last excess, decayed with a
// week's time constant; the first only starts the clock.
func TestAccountCharges(t *testing.T) {
	var a ExtraAccount
	charge(&a, t0, 10)
	if a.Held != 0 || a.Extra != 0 || !a.At.Equal(t0) {
		t.Fatalf("first charge: %+v", a)
	}
	a.Excess = 2
	charge(&a, t0.Add(30*time.Minute), 10)
	if math.Abs(a.Held-5) > 1e-12 || math.Abs(a.Extra-1) > 1e-12 {
		t.Fatalf("half an hour at 10 with 2 extra: held %v extra %v, want 5 and 1", a.Held, a.Extra)
	}
	charge(&a, t0.Add(30*time.Minute+6*time.Hour), 10) // a gap: charged as an hour
	w := math.Exp(-1.0 / (7 * 24))
	if math.Abs(a.Held-(5*w+10)) > 1e-9 || math.Abs(a.Extra-(w+2)) > 1e-9 {
		t.Fatalf("a 6 h gap: held %v extra %v, want %v and %v", a.Held, a.Extra, 5*w+10, w+2)
	}
	if used, spent := a.spent(0.05); spent != (used > 0.05) || math.Abs(used-a.Extra/(a.Held-a.Extra)) > 1e-12 {
		t.Fatalf("spent %v at %v", spent, used)
	}
}

// charge charges a at now, as Evaluate does.
func charge(a *ExtraAccount, now time.Time, current int) {
	at := newInstant(now)
	a.charge(&at, current)
}

// chargeByTime is the account's charge written with time.Time's own
// After and Sub, as it was before it took the evaluation's instant.
func chargeByTime(a *ExtraAccount, now time.Time, current int) {
	if a.At.IsZero() || !now.After(a.At) {
		a.At = now
		return
	}
	dt := min(now.Sub(a.At), maxExtraCharge)
	w := math.Exp(-float64(dt) / float64(extraHorizon))
	h := dt.Hours()
	a.Held = a.Held*w + float64(current)*h
	a.Extra = a.Extra*w + float64(a.Excess)*h
	a.At = now
}

// TestChargeMatchesTime: the charge through the instant's integer
// arithmetic leaves the account bit for bit as time.Time's After and Sub
// would, on virtual clocks, on the daemon's (monotonic readings), across
// the ends of int64 Unix nanoseconds and when time goes back.
func TestChargeMatchesTime(t *testing.T) {
	mono := time.Now()
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		from time.Time // the account's last charge
		now  []time.Time
	}{
		{"a replay's steps", t0, []time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(2*time.Minute + 7*time.Nanosecond)}},
		{"no time passed", t0, []time.Time{t0, t0}},
		{"time went back", t0, []time.Time{t0.Add(-time.Second), t0.Add(-time.Hour)}},
		{"a gap over the cap", t0, []time.Time{t0.Add(90 * time.Minute), t0.Add(48 * time.Hour)}},
		{"monotonic readings", mono, []time.Time{mono.Add(time.Minute), mono.Add(time.Minute), mono.Add(time.Minute).Round(0).Add(time.Second)}},
		{"from a wall clock to a monotonic one", mono.Round(0), []time.Time{mono.Add(time.Minute)}},
		{"beyond int64 nanoseconds", far, []time.Time{far.Add(time.Minute), t0, far}},
		{"before int64 nanoseconds", early, []time.Time{early.Add(time.Minute), early.Add(-time.Minute)}},
		{"a zero account", time.Time{}, []time.Time{t0, t0.Add(time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ExtraAccount{At: tc.from, Held: 40, Extra: 3, Excess: 2}
			want := got
			for i, now := range tc.now {
				charge(&got, now, 10+i)
				chargeByTime(&want, now, 10+i)
				if got.At != want.At || math.Float64bits(got.Held) != math.Float64bits(want.Held) ||
					math.Float64bits(got.Extra) != math.Float64bits(want.Extra) {
					t.Fatalf("charge %d at %v: %+v, want %+v", i, now, got, want)
				}
			}
		})
	}
}

// TestNoAccountWithoutTheBound: a policy without the bound (max_extra
// none, or prediction not scaling) keeps no account, so its state is
// written as before version 7, whatever account it started with.
func TestNoAccountWithoutTheBound(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     PredictiveMode
		maxExtra ExtraBound
		want     bool // an account kept
	}{
		{"the default bound", PredictForecastAndScale, 0, true},
		{"none", PredictForecastAndScale, NoMaxExtra, false},
		{"forecast-only", PredictForecastOnly, 0, false},
		{"off", PredictOff, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.Predictive = Predictive{Mode: tc.mode, Lead: Duration(time.Minute), History: Duration(24 * time.Hour), MaxExtra: tc.maxExtra}
			s := State{Extra: ExtraAccount{At: t0, Held: 50, Extra: 5, Excess: 1, Shadow: 4, Recommendations: []Recommendation{{At: t0, Size: 4}}}}
			d := Evaluate(p, inputs(4, 4, 400), s, t0.Add(time.Minute))
			b, _ := d.Next.MarshalBinary()
			if kept := !d.Next.Extra.Empty(); kept != tc.want || (b[0] == stateVersion) != tc.want {
				t.Fatalf("account kept %v (%+v), version %d; want kept %v", kept, d.Next.Extra, b[0], tc.want)
			}
		})
	}
}

// TestDecayMatchesExp: the account's decay factor read from the table is
// bit for bit math.Exp's, at every whole second up to the cap, and the
// intervals the table does not hold (a fraction of a second, the daemon's
// clock) are worked out by math.Exp itself.
func TestDecayMatchesExp(t *testing.T) {
	exact := func(dt time.Duration) float64 { return math.Exp(-float64(dt) / float64(extraHorizon)) }
	var dts []time.Duration
	for s := time.Duration(0); s <= maxExtraCharge; s += time.Second {
		dts = append(dts, s)
	}
	dts = append(dts, time.Nanosecond, 10*time.Second+time.Millisecond, time.Minute-time.Nanosecond,
		maxExtraCharge-time.Nanosecond, 1234567890123)
	held := 0
	for _, dt := range dts {
		got, ok := tableDecay(dt)
		if !ok {
			got = decayExp(dt)
		} else {
			held++
		}
		if want := exact(dt); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("the decay over %v = %v (from the table: %v), want %v", dt, got, ok, want)
		}
	}
	if want := int(maxExtraCharge/time.Second) + 1; held != want {
		t.Fatalf("the table held %d of the intervals, want the %d whole seconds", held, want)
	}
	if got := len(decayTable); got != int(maxExtraCharge/time.Second)+1 {
		t.Fatalf("the table holds %d factors, want one a second up to the cap", got)
	}
}
