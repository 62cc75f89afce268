package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/forecast"
)

// TestStabilizationEvidence replays samples that arrive every 5 minutes,
// evaluated every 10 s as the leader loop does, and checks when the group
// first scales in after demand drops. Only a new fresh sample is evidence for
// the scale-in stabilization window: a hold forced by stale data and an
// evaluation that sees the same sample again must not keep the old, higher
// recommendation alive. On the old code the first case never scaled in and
// the second scaled in one evaluation before the next sample instead of at
// the sample that showed the drop.
func TestStabilizationEvidence(t *testing.T) {
	const sampleEvery = 5 * time.Minute
	tests := []struct {
		name       string
		staleAfter time.Duration
		values     []float64 // one per sample, every 5 minutes, from t0
		wantInAt   time.Duration
		wantSize   int
	}{
		// stale_after 60 s on a 5-minute trace: most evaluations see stale
		// data and hold; those holds are not recommendations.
		{"stale holds are not evidence", time.Minute, []float64{900, 900, 300, 300}, 2 * sampleEvery, 3},
		// Fresh all along: the 900 sample leaves the 5-minute window at the
		// next sample, so the drop acts at once.
		{"the same sample counts once", 10 * time.Minute, []float64{900, 300, 300}, sampleEvery, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.StaleAfter = Duration(tc.staleAfter)
			p.ScaleIn.Stabilization = Duration(5 * time.Minute)
			var s State
			current := 9
			end := time.Duration(len(tc.values)) * sampleEvery
			for at := time.Duration(0); at < end; at += 10 * time.Second {
				k := int(at / sampleEvery)
				in := Inputs{Current: current, Ready: current}
				in.Metrics[0] = Sample{Time: t0.Add(time.Duration(k) * sampleEvery), Value: tc.values[k], Present: true}
				d := Evaluate(p, in, s, t0.Add(at))
				s = d.Next
				if d.Desired < current {
					if at != tc.wantInAt || d.Desired != tc.wantSize {
						t.Fatalf("scaled in %d->%d at %v, want ->%d at %v (%s)", current, d.Desired, at, tc.wantSize, tc.wantInAt, d.Explain(p))
					}
					return
				}
				current = d.Desired
			}
			t.Fatalf("never scaled in from %d; want ->%d at %v", current, tc.wantSize, tc.wantInAt)
		})
	}
}

// stateFixture reads testdata/state-v<version>.hex, golden bytes written
// by the encoder of that version, checks their version byte and returns
// them decoded, and the bytes.
func stateFixture(t *testing.T, version byte) (State, []byte) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("testdata/state-v%d.hex", version))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != version {
		t.Fatalf("fixture is version %d, want %d", b[0], version)
	}
	var s State
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatalf("version %d state does not decode: %v", version, err)
	}
	return s, b
}

// TestStateDecodesVersion1 decodes golden bytes written by the version 1
// encoder: old replicated states and snapshots must still load, with the
// parameters and the full anchoring their models were built with, and
// re-encode in the current encoding (version 4: no model has scores by
// the time of day).
func TestStateDecodesVersion1(t *testing.T) {
	s, _ := stateFixture(t, 1)
	if !s.LastScaleOut.Equal(t0.Add(time.Minute)) || !s.LastScaleIn.Equal(t0.Add(2*time.Minute)) ||
		len(s.Changes) != 1 || s.Changes[0].To != 5 || len(s.Recommendations) != 1 || s.Recommendations[0].Size != 4 {
		t.Fatalf("decoded %+v", s)
	}
	if len(s.Models) != 1 {
		t.Fatalf("%d models, want 1", len(s.Models))
	}
	mm := s.Models[0]
	if mm.Model.Period != time.Hour || len(mm.Model.Season) != 3 || mm.Scored != 12 || mm.ErrForecast != 1.5 ||
		len(mm.Pending) != 1 || mm.Pending[0].Forecast != 11.5 {
		t.Fatalf("decoded model %+v", mm)
	}
	if mm.Params != forecast.DefaultParams() || mm.Persist != 1 || !s.Evidence.IsZero() || len(s.Reversals) != 0 {
		t.Fatalf("version 1 model got params %+v persist %v evidence %v", mm.Params, mm.Persist, s.Evidence)
	}
	again, _ := s.MarshalBinary()
	if again[0] != plainStateVersion {
		t.Fatalf("re-encoded as version %d, want %d", again[0], plainStateVersion)
	}
	var s2 State
	if err := s2.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(s, s2) {
		t.Fatalf("version %d round trip: %v\n%+v\n%+v", stateVersion, err, s, s2)
	}
}

// TestStateDecodesVersion2 decodes golden bytes written by the version 2
// encoder (the version 1 fixture with evidence, a reversal and a tuned
// model): they load as written, without a forecast-raised scale-out, which
// version 3 added, and re-encode in the current encoding (version 4).
func TestStateDecodesVersion2(t *testing.T) {
	s, _ := stateFixture(t, 2)
	mm := s.Models[0]
	if !s.Evidence.Equal(t0.Add(3*time.Minute)) || s.LastAction != ActionScaleIn || len(s.Reversals) != 1 ||
		!s.LastForecastScaleOut.IsZero() || mm.Persist != 0.5 || mm.Params.Alpha != 0.15 || mm.TunedSpan != 6*time.Hour {
		t.Fatalf("decoded %+v", s)
	}
	again, _ := s.MarshalBinary()
	var s2 State
	if err := s2.UnmarshalBinary(again); err != nil || again[0] != plainStateVersion || !reflect.DeepEqual(s, s2) {
		t.Fatalf("version %d round trip: %v\n%+v\n%+v", plainStateVersion, err, s, s2)
	}
}

// TestStateDecodesVersion3 decodes golden bytes written by the version 3
// encoder (the version 2 fixture with a forecast-raised scale-out): they
// load as written, with no raise or hold loss, which version 4 added, so
// the model's raises count as paying (RaiseGain NaN) until rescored; and
// they re-encode in the current encoding (version 4).
func TestStateDecodesVersion3(t *testing.T) {
	s, _ := stateFixture(t, 3)
	mm := s.Models[0]
	if !s.LastForecastScaleOut.Equal(t0.Add(2*time.Minute)) || mm.Persist != 0.5 || mm.TunedSpan != 6*time.Hour ||
		mm.RaiseLoss != 0 || mm.HoldLoss != 0 || !math.IsNaN(mm.RaiseGain()) {
		t.Fatalf("decoded %+v", s)
	}
	again, _ := s.MarshalBinary()
	var s2 State
	if err := s2.UnmarshalBinary(again); err != nil || again[0] != plainStateVersion || !reflect.DeepEqual(s, s2) {
		t.Fatalf("version %d round trip: %v\n%+v\n%+v", plainStateVersion, err, s, s2)
	}
}

// TestStateRefusesBadRaiseLoss checks that a version 4 state whose raise or
// hold loss is negative or not finite is refused, naming the rule, and
// leaves the state it was decoded into alone.
func TestStateRefusesBadRaiseLoss(t *testing.T) {
	good, _ := stateFixture(t, 3)
	for _, tc := range []struct {
		name        string
		raise, hold float64
	}{
		{"negative raise loss", -1, 2},
		{"negative hold loss", 1, -2},
		{"infinite raise loss", math.Inf(1), 2},
		{"NaN hold loss", 1, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good.Clone()
			bad.Models[0].RaiseLoss, bad.Models[0].HoldLoss = tc.raise, tc.hold
			enc, err := bad.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			into := good.Clone()
			err = into.UnmarshalBinary(enc)
			if !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), "raise or hold loss") {
				t.Fatalf("error %v, want ErrBadState naming the raise or hold loss", err)
			}
			if !reflect.DeepEqual(into, good) {
				t.Fatalf("state changed on a refused decode")
			}
		})
	}
}

// TestForecastScaleOutIsRecorded checks that the state remembers a
// scale-out a forecast raised, and only that kind: the noise release of
// anti-flapping reads it.
func TestForecastScaleOutIsRecorded(t *testing.T) {
	p := basePolicy()
	p.EvaluationInterval = Duration(time.Minute)
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(5 * time.Minute), History: Duration(24 * time.Hour)}
	tests := []struct {
		name     string
		slope    float64 // of the trained ramp from 2000, per minute
		value    float64 // the sample at the decision
		forecast bool    // want a forecast-raised scale-out
	}{
		{"a rise the forecast sees coming", 10, 3200, true},
		{"a jump on a flat level the reactive rule follows", 0, 2600, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const current = 20
			s := trainRamp(p, 120, 2000, tc.slope, 0, current)
			s.LastScaleOut, s.LastForecastScaleOut, s.Changes = time.Time{}, time.Time{}, nil
			now := t0.Add(120 * time.Minute)
			in := Inputs{Current: current, Ready: current}
			in.Metrics[0] = Sample{Time: now, Value: tc.value, Present: true}
			d := Evaluate(p, in, s, now)
			if d.Action != ActionScaleOut || d.UsedForecast != tc.forecast {
				t.Fatalf("action %v used forecast %v, want a scale-out with %v (%s)", d.Action, d.UsedForecast, tc.forecast, d.Explain(p))
			}
			if got := d.Next.LastForecastScaleOut.Equal(now); got != tc.forecast {
				t.Fatalf("LastForecastScaleOut %v at %v: recorded %v, want %v", d.Next.LastForecastScaleOut, now, got, tc.forecast)
			}
		})
	}
}
