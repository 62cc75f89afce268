package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
)

// scaledSeasonStates are a state whose one model (a 24 h season at
// 1-minute resolution, scored by the time of day) has an additive season,
// and the same state with that season scaling with the level (Ref, and a
// Mean a quarter above it: today's factor 1.25).
func scaledSeasonStates(at time.Time) (additive, scaled policy.State) {
	model := policy.MetricModel{Model: forecast.Model{Period: 24 * time.Hour, Slot: time.Minute, Step: time.Minute, Season: make([]float64, 1440), Count: 2000, Level: 1000},
		CheckedAt: at, TunedAt: at, TunedSpan: 24 * time.Hour, Params: forecast.DefaultParams(), Persist: 0.5, Scored: 900}
	for i := range model.Model.Season {
		model.Model.Season[i] = float64(i%720) - 360
	}
	model.Slots = new(policy.SlotScores)
	for i := range model.Slots {
		model.Slots[i] = policy.SlotScore{Forecast: float32(i) / 8, Naive: float32(i) / 4, Scored: 40}
	}
	additive = policy.State{LastScaleOut: at, Models: []policy.MetricModel{model}}
	scaled = additive.Clone()
	scaled.Models[0].Model.Ref, scaled.Models[0].Model.Mean = 1000, 1250
	return additive, scaled
}

func marshalState(t *testing.T, m func() ([]byte, error)) []byte {
	t.Helper()
	b, err := m()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScaledSeasonSize: what version 13 changes in a leader's entries. A
// typical tick entry (tickRecord, in an evaluation without its state) has
// version 12's bytes and one more a metric (its season's factor, absent
// for an additive season: 9 bytes where the season scales with the
// level; version 12 leaves it out); the kept decision bytes
// (recordVersion) grow alike. A state entry whose model's
// season scales with the level is the policy state version 6 the leader
// writes in version 13, what the scaled season adds to the model's
// encoding (9 bytes) more than the version 5 it writes in version 12
// (policy.State.MarshalBinaryV5: the season additive at today's factor,
// as large as an additive one); a state without such a
// season is the same version-5 bytes in both. Each entry replays to the
// state it carries.
func TestScaledSeasonSize(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	record := tickRecord(at, nil)
	factored := tickRecord(at, nil)
	factored.Metrics[0].SeasonScale = 1.84
	additive, scaled := scaledSeasonStates(at)
	plain, v6 := marshalState(t, additive.MarshalBinary), marshalState(t, scaled.MarshalBinary)
	// What a scaled season adds to the model's encoding (model encoding
	// version 3: 9 bytes today, asserted by the policy packages), so
	// that this test follows that layout rather than restate it.
	extra := len(v6) - len(plain)
	if v6[0] != 6 || extra <= 0 {
		t.Fatalf("a state with a scaled season: version %d, %d bytes more than additive; want 6 and more", v6[0], extra)
	}
	tick12, tick13 := evaluatedEntry(t, record, nil, VersionTimeOfDay), evaluatedEntry(t, record, nil, VersionScaledSeason)
	metrics := len(record.Metrics)
	tests := []struct {
		name   string
		record *policy.Record
		state  []byte
		v      uint8
		want   int
	}{
		{"version 12, a tick", record, nil, VersionTimeOfDay, len(tick12)},
		{"version 12 leaves a season's factor out", factored, nil, VersionTimeOfDay, len(tick12)},
		{"version 13, a tick", record, nil, VersionScaledSeason, len(tick12) + metrics},
		{"version 13, a tick with a season's factor", factored, nil, VersionScaledSeason, len(tick12) + metrics + 8},
		{"version 12, an additive season", record, plain, VersionTimeOfDay, len(tick12) + len(plain) + 2},
		{"version 13, an additive season", record, plain, VersionScaledSeason, len(tick13) + len(plain) + 2},
		{"version 12's leader writes the scaled season additive", record, marshalState(t, scaled.MarshalBinaryV5), VersionTimeOfDay, len(tick12) + len(plain) + 2},
		{"version 13, a scaled season", factored, v6, VersionScaledSeason, len(tick13) + 8 + len(plain) + 2 + extra},
	}
	for _, tc := range tests {
		if got := len(evaluatedEntry(t, tc.record, tc.state, tc.v)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
	if got, want := len(encodeRecord(*factored)), len(encodeRecord(*record))+8; got != want {
		t.Errorf("a kept record with a season's factor: %d bytes, want %d", got, want)
	}
	t.Logf("a typical tick entry: %d bytes in version 12, %d in 13 (%d with a season's factor); a state entry with a 1-minute daily model scored by the time of day: %d bytes in version 13, %d with a scaled season",
		len(tick12), len(tick13), len(tick13)+8, len(evaluatedEntry(t, record, plain, VersionScaledSeason)), len(evaluatedEntry(t, factored, v6, VersionScaledSeason)))
}

// TestSeasonScaleRefused: a version-13 decision record whose metric holds
// a season's factor that is present but not a finite number above 0 (no
// encoder writes one: 0 is written as absent) is refused, naming the
// field and the rule, by Decode, before any node could apply it.
func TestSeasonScaleRefused(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, k := range []float64{0, -1.5, math.Inf(1), math.NaN()} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			r := tickRecord(at, nil)
			r.Metrics[1].SeasonScale = 1.5 // the last metric's factor ends the record
			c := Evaluated{Policy: "policy-00001", PolicyVersion: 7, Record: r, Desired: 13, Ready: 12, At: at}
			b, err := EncodeVersion(c, VersionScaledSeason)
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.LastIndex(b, binary.LittleEndian.AppendUint64(nil, math.Float64bits(1.5)))
			if i < 0 || b[i-1] != 1 {
				t.Fatal("the factor's bytes not found")
			}
			binary.LittleEndian.PutUint64(b[i:], math.Float64bits(k))
			_, err = Decode(b)
			if err == nil || !strings.Contains(err.Error(), "season_scale") || !strings.Contains(err.Error(), "finite number above 0") {
				t.Fatalf("decoding a factor %v: %v", k, err)
			}
		})
	}
}

// TestAdditiveStatesAlikeInVersions12And13: nodes of versions 12 and 13
// re-encoding the same state without a scaled season write the same
// bytes, so a pacing commit (withStoredModels, which re-encodes the
// stored state) leaves every node of a mixed cluster the same state. The
// states: the frozen version-12 fixture's (written by the code of entry
// version 12, whose bytes this code's MarshalBinary and MarshalBinaryV5
// must both write), one with scores by the time of day, one without, and
// the state a version-12 leader commits for a scaled one
// (MarshalBinaryV5). Entries of versions 12 and 13 carrying each (beside
// a record without metrics) differ in the version byte only, and a pacing commit over each in either
// version stores the same bytes.
func TestAdditiveStatesAlikeInVersions12And13(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	additive, scaled := scaledSeasonStates(at)
	unscored := additive.Clone()
	unscored.Models[0].Slots = nil
	entries, _ := binaryFixture(t, binaryV12Dir, 34, VersionTimeOfDay)
	frozen := replay(t, entries).Policies["fine"].EvalState
	var fromFrozen policy.State
	if err := fromFrozen.UnmarshalBinary(frozen); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		state policy.State
		old   []byte // the bytes the code of version 12 wrote, when known
	}{
		{"the frozen version-12 state", fromFrozen, frozen},
		{"scores by the time of day", additive, nil},
		{"no scores by the time of day", unscored, nil},
		{"a scaled season as a version-12 leader commits it", decodeState(t, marshalState(t, scaled.MarshalBinaryV5)), nil},
	}
	pacing := marshalState(t, policy.State{LastScaleIn: at.Add(time.Minute), Recommendations: []policy.Recommendation{{At: at, Size: 4}}}.MarshalBinary)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b13, b12 := marshalState(t, tc.state.MarshalBinary), marshalState(t, tc.state.MarshalBinaryV5)
			if !bytes.Equal(b13, b12) || b13[0] > 5 {
				t.Fatalf("MarshalBinary: %d bytes of version %d; MarshalBinaryV5: %d of version %d; want the same version-4 or 5 bytes", len(b13), b13[0], len(b12), b12[0])
			}
			if tc.old != nil && !bytes.Equal(b13, tc.old) {
				t.Fatalf("re-encoded: %d bytes, the code of version 12 wrote %d", len(b13), len(tc.old))
			}
			// A record without metrics: each metric has a byte more in
			// version 13 (its season's factor, TestScaledSeasonSize).
			bare := tickRecord(at, nil)
			bare.Metrics = nil
			if e12, e13 := evaluatedEntry(t, bare, b13, VersionTimeOfDay), evaluatedEntry(t, bare, b13, VersionScaledSeason); !bytes.Equal(e12[2:], e13[2:]) {
				t.Fatal("its entries of versions 12 and 13 differ beyond the version byte")
			}
			var stored [2][]byte
			for i, v := range []uint8{VersionTimeOfDay, VersionScaledSeason} {
				stored[i] = afterPacing(t, b13, pacing, v, at)
			}
			if !bytes.Equal(stored[0], stored[1]) || stored[0][0] != b13[0] {
				t.Fatalf("after a pacing commit: %d bytes (version %d) in version 12, %d (version %d) in 13; want the same, of the state's version %d", len(stored[0]), stored[0][0], len(stored[1]), stored[1][0], b13[0])
			}
		})
	}
}

func decodeState(t *testing.T, b []byte) policy.State {
	t.Helper()
	var s policy.State
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return s
}
