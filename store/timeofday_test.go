package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
)

// TestTimeOfDaySize: what version 12 changes in a leader's entries. A
// typical tick entry (tickRecord, in an evaluation without its state, as
// most of a leader's tick entries go) has version 11's bytes and one more
// a metric (its skill at the time of day, absent: 9 bytes where present);
// a state entry whose models carry scores by the time of
// day is the policy state version 5 the leader writes in version 12 (a
// byte, then 24 slots of a uvarint count and two float32s: 217 to 265
// bytes a model) against the version 4 it writes in version 11 and before
// (policy.State.MarshalBinaryV4, no scores); a state without such scores
// is the same version-4 bytes in both. Each entry replays to the state it
// carries.
func TestTimeOfDaySize(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	record := tickRecord(at, nil)
	// One metric's model with a 24 h season at 1-minute resolution.
	model := policy.MetricModel{Model: forecast.Model{Period: 24 * time.Hour, Slot: time.Minute, Step: time.Minute, Season: make([]float64, 1440), Count: 2000, Level: 1000},
		CheckedAt: at, TunedAt: at, TunedSpan: 24 * time.Hour, Params: forecast.DefaultParams(), Persist: 0.5, Scored: 900}
	plain := policy.State{LastScaleOut: at, Models: []policy.MetricModel{model}}
	scored := plain.Clone()
	scored.Models[0].Slots = new(policy.SlotScores)
	for i := range scored.Models[0].Slots {
		scored.Models[0].Slots[i] = policy.SlotScore{Forecast: float32(i) / 8, Naive: float32(i) / 4, Scored: 40}
	}
	enc := func(s policy.State, v4 bool) []byte {
		m := s.MarshalBinary
		if v4 {
			m = s.MarshalBinaryV4
		}
		b, err := m()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	entry := func(state []byte, v uint8) []byte { return evaluatedEntry(t, record, state, v) }
	tick11, tick12 := entry(nil, VersionWeeklyPart), entry(nil, VersionTimeOfDay)
	if len(tick12) != len(tick11)+len(record.Metrics) {
		t.Errorf("a tick entry: %d bytes in version 12, %d in 11; want a byte more a metric", len(tick12), len(tick11))
	}
	tests := []struct {
		name  string
		state []byte
		v     uint8
		want  int
	}{
		{"version 11, a state without scores", enc(plain, false), VersionWeeklyPart, len(tick11) + len(enc(plain, false)) + 2},
		{"version 12, a state without scores", enc(plain, false), VersionTimeOfDay, len(tick12) + len(enc(plain, false)) + 2},
		{"version 11's leader drops the scores", enc(scored, true), VersionWeeklyPart, len(tick11) + len(enc(plain, false)) + 2},
		{"version 12, a state with scores", enc(scored, false), VersionTimeOfDay, len(tick12) + len(enc(plain, false)) + 2 + 1 + 24*(1+8)},
	}
	for _, tc := range tests {
		if got := len(entry(tc.state, tc.v)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
	if !bytes.Equal(enc(scored, true), enc(plain, false)) {
		t.Error("MarshalBinaryV4 of a state with scores is not the state without them")
	}
	t.Logf("a typical tick entry: %d bytes in version 11, %d in 12; a state entry with a 1-minute daily model: %d bytes, %d with its scores by the time of day in version 12",
		len(tick11), len(tick12), len(entry(enc(plain, false), VersionTimeOfDay)), len(entry(enc(scored, false), VersionTimeOfDay)))
}

// evaluatedEntry is an evaluation entry of version v with record and
// state, as a leader commits it for policy-00001, checked to replay to the
// state it carries.
func evaluatedEntry(t *testing.T, record *policy.Record, state []byte, v uint8) []byte {
	t.Helper()
	c := Evaluated{Policy: "policy-00001", PolicyVersion: 7, State: state, Record: record, Desired: 13, Ready: 12, At: record.Time}
	b, err := EncodeVersion(c, v)
	if err != nil {
		t.Fatal(err)
	}
	back := New()
	back.Apply(1, PutPolicy{Policy: testPolicy(t, "policy-00001", rps), At: record.Time}, Options{})
	back.Policies["policy-00001"].Record.Version = 7
	if r := back.Apply(2, throughVersion(t, c, v), Options{}); r.Outcome != OK {
		t.Fatal(r.Detail)
	}
	if got := back.Policies["policy-00001"].EvalState; state != nil && !bytes.Equal(got, state) {
		t.Fatalf("version %d: the entry replays to a state of %d bytes, not the %d it carries", v, len(got), len(state))
	}
	return b
}
