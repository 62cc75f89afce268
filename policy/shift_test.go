package policy

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// scaledState is the version 5 fixture (testdata/state-v5.hex, written by
// the code of version 5) decoded, with its model's season made to scale
// with the level at twice the amplitude it was seeded with (a factor
// float32 holds exactly).
func scaledState(t *testing.T) (State, []byte) {
	t.Helper()
	s, v5 := stateFixture(t, 5)
	m := &s.Models[0].Model
	m.Mean = float32(m.Level)
	m.Ref = m.Mean / 2
	return s, v5
}

// TestStateVersion6: version 5 states (testdata/state-v5.hex) decode and
// re-encode byte for byte through MarshalBinary and MarshalBinaryV5; a
// state whose model's season scales with the level is version 6, 9 bytes
// more, and round-trips; MarshalBinaryV5 writes it as version 5, byte for
// byte the encoding of the same state with that season made additive at
// today's amplitude (what the code of version 5 writes for it), whose model
// forecasts what the scaled one does; MarshalBinaryV4 leaves the scaling
// out too.
func TestStateVersion6(t *testing.T) {
	plain, v5 := stateFixture(t, 5)
	for name, marshal := range map[string]func() ([]byte, error){"MarshalBinary": plain.MarshalBinary, "MarshalBinaryV5": plain.MarshalBinaryV5} {
		if b, _ := marshal(); !bytes.Equal(b, v5) {
			t.Fatalf("%s of the version 5 fixture differs from it:\n%x\n%x", name, b, v5)
		}
	}
	s, _ := scaledState(t)
	b, _ := s.MarshalBinary()
	if b[0] != 6 || len(b) != len(v5)+9 {
		t.Fatalf("scaled: version %d, %d bytes; want 6 and %d", b[0], len(b), len(v5)+9)
	}
	got, _ := roundTrip(t, s)
	if gm := got.Models[0].Model; gm.Ref != s.Models[0].Model.Ref || gm.Mean != s.Models[0].Model.Mean {
		t.Fatalf("round trip: ref %v, mean %v; want %v, %v", gm.Ref, gm.Mean, s.Models[0].Model.Ref, s.Models[0].Model.Mean)
	}

	old, _ := s.MarshalBinaryV5()
	additive := s.Clone()
	m := &additive.Models[0].Model
	for i := range m.Season {
		m.Season[i] *= 2
	}
	m.Ref, m.Mean = 0, 0
	want, _ := additive.MarshalBinary()
	if old[0] != 5 || !bytes.Equal(old, want) {
		t.Fatalf("MarshalBinaryV5 of a scaled state is not the additive state's version 5 bytes:\n%x\n%x", old, want)
	}
	var dec State
	if err := dec.UnmarshalBinary(old); err != nil {
		t.Fatal(err)
	}
	sm, dm := &s.Models[0], &dec.Models[0]
	at := time.Unix(0, sm.Model.LastUnixNano).Add(20 * time.Minute)
	if a, b := sm.Model.Forecast(at, sm.Params), dm.Model.Forecast(at, dm.Params); math.Abs(a-b) > 1e-9*math.Abs(a) || dm.Model.Ref != 0 {
		t.Fatalf("the version 5 model forecasts %v (ref %v), the scaled one %v", b, dm.Model.Ref, a)
	}
	v4, _ := s.MarshalBinaryV4()
	wantV4, _ := additive.MarshalBinaryV4()
	if v4[0] != 4 || !bytes.Equal(v4, wantV4) {
		t.Fatalf("MarshalBinaryV4 of a scaled state is not the additive state's version 4 bytes")
	}
}

// TestStateRefusesScaledBeforeVersion6: a state of version 5 or before
// holding a model whose season scales with the level was not written by
// any encoder; it is refused, naming the rule, and changes nothing.
func TestStateRefusesScaledBeforeVersion6(t *testing.T) {
	s, _ := scaledState(t)
	b, _ := s.MarshalBinary()
	b[0] = 5
	keep, _ := stateFixture(t, 4)
	got := keep.Clone()
	err := got.UnmarshalBinary(b)
	if err == nil || !strings.Contains(err.Error(), "a season that scales with the level in a version 5 state") {
		t.Fatalf("err %v", err)
	}
	if a, _ := got.MarshalBinary(); !bytes.Equal(a, mustMarshal(t, keep)) {
		t.Fatal("a refused state changed the state decoded into")
	}
}

func mustMarshal(t *testing.T, s State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dayShape is a daily shape at 1-minute steps: a quiet night (0.4), a
// rise over half an hour from 08:00 to a busy day (1.6), a fall over two
// hours from 20:00.
func dayShape(i int) float64 {
	switch m := i % 1440; {
	case m >= 8*60 && m < 8*60+30:
		return 0.4 + 1.2*float64(m-8*60)/30
	case m >= 8*60+30 && m < 20*60:
		return 1.6
	case m >= 20*60 && m < 22*60:
		return 0.4 + 1.2*float64(22*60-m)/120
	}
	return 0.4
}

// TestTuneChoosesScaledSeason: the backtest chooses, per series, whether
// its daily season scales with the level, by the same loss it chooses
// everything else by: on four days of 1-minute samples whose level grows
// 15 % a day, scaled where the daily amplitude is a share of the level,
// additive where it stays the same.
func TestTuneChoosesScaledSeason(t *testing.T) {
	const perDay = 1440
	growth := func(i int) float64 { return 1000 * math.Pow(1.15, float64(i)/perDay) }
	for _, c := range []struct {
		name string
		f    func(i int) float64
		want bool
	}{
		{"amplitude a share of a growing level", func(i int) float64 { return growth(i) * dayShape(i) }, true},
		{"the same amplitude on a growing level", func(i int) float64 { return growth(i) + 1000*(dayShape(i)-1) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			hist := Window{Start: t0, Step: time.Minute, Values: series(4*perDay, 10, c.f)}
			var mm MetricModel
			if !tune(&mm, hist, []time.Duration{24 * time.Hour, 0}, 3*time.Minute) {
				t.Fatal("nothing scored")
			}
			if got := mm.Model.Ref > 0; got != c.want || mm.Model.Period != 24*time.Hour {
				t.Fatalf("season %v scaled %v (alpha %v), want a daily season scaled %v", mm.Model.Period, got, mm.Params.Alpha, c.want)
			}
		})
	}
}

// scaleSeasons makes every model's season scale with the level, from the
// amplitude it has learned (so its decisions start as the additive
// season's), as if a backtest had chosen it.
func scaleSeasons(s *State) {
	for i := range s.Models {
		m := &s.Models[i].Model
		m.Ref, m.Mean = float32(m.Level), float32(m.Level)
	}
}

// TestEvaluateScaledAllocatesNothing: steady-state evaluation of models
// whose seasons scale with the level allocates nothing either.
func TestEvaluateScaledAllocatesNothing(t *testing.T) {
	for _, into := range []bool{false, true} {
		if allocs := testing.AllocsPerRun(500, steadyEvaluations(into, scaleSeasons)); allocs != 0 {
			t.Errorf("into %v: %v allocations per evaluation", into, allocs)
		}
	}
}

// BenchmarkEvaluateScaled is BenchmarkEvaluate with every model's season
// scaling with the level.
func BenchmarkEvaluateScaled(b *testing.B) {
	for _, into := range []bool{false, true} {
		name := "Evaluate"
		if into {
			name = "EvaluateInto"
		}
		b.Run(name, func(b *testing.B) {
			step := steadyEvaluations(into, scaleSeasons)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				step()
			}
		})
	}
}

// TestAdditiveSeasonFollowsALevelShift: a model chosen with an additive
// daily season on five days of a flat level keeps it, and is not chosen
// again, when two more days come at the same level or at the same level
// plus an offset (the amplitude stays); when they come at twice the level,
// amplitude and all (a launch), its season starts scaling with the level
// at the hourly season check, by about 2 (the new level over the one it
// was chosen on), still without being chosen again: its smoothing,
// persistence and scores stay (followLevelShift). At half the level it
// stays additive: only a rise is followed in place. A configured daily
// season (`season: 24h`) does the same as `season: auto`.
func TestAdditiveSeasonFollowsALevelShift(t *testing.T) {
	const perDay = 1440
	start := t0.Add(-5 * 24 * time.Hour)
	for _, season := range []Season{{Auto: true}, {Period: 24 * time.Hour}} {
		p := basePolicy()
		p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(3 * time.Minute), Season: season, History: Duration(7 * 24 * time.Hour)}
		for _, c := range []struct {
			name          string
			factor, shift float64
			wantScale     float64 // 0: additive
		}{
			{"the same level", 1, 0, 0},
			{"an offset", 1, 100, 0},
			{"twice the level", 2, 0, 2},
			{"half the level", 0.5, 0, 0},
		} {
			t.Run(season.String()+", "+c.name, func(t *testing.T) {
				values := series(7*perDay, 2, func(i int) float64 {
					if i >= 5*perDay {
						return c.factor*100*dayShape(i) + c.shift
					}
					return 100 * dayShape(i)
				})
				var mm MetricModel
				configureSeason(&p, &mm, Window{Start: start, Step: time.Minute, Values: values[:5*perDay]}, newInstant(t0))
				if mm.Model.Period != 24*time.Hour || !mm.TunedAt.Equal(t0) {
					t.Fatalf("chose season %v at %v; want a daily one now", mm.Model.Period, mm.TunedAt)
				}
				// As the backtest chooses where the amplitude has not moved
				// with the level (TestTuneChoosesScaledSeason).
				mm.Model.Ref, mm.Model.Mean = 0, 0
				before := mm // the fields compared below are values
				now := t0.Add(2 * 24 * time.Hour)
				fitted := configureSeason(&p, &mm, Window{Start: start, Step: time.Minute, Values: values}, newInstant(now))
				if len(fitted.Values) != 0 || !mm.TunedAt.Equal(t0) || mm.Params != before.Params || mm.Persist != before.Persist || mm.Scored != before.Scored {
					t.Fatalf("chosen again (tuned at %v, %v, persist %v, %d scores); want the running model kept", mm.TunedAt, mm.Params, mm.Persist, mm.Scored)
				}
				got := mm.Model.SeasonScale()
				if c.wantScale == 0 && got != 0 || c.wantScale != 0 && math.Abs(got-c.wantScale) > 0.05*c.wantScale {
					t.Fatalf("season's factor %v (ref %v, mean %v), want %v", got, mm.Model.Ref, mm.Model.Mean, c.wantScale)
				}
			})
		}
	}
}
