package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// costBoundPolicy is testPolicy with predictive.max_extra as written
// ("" leaves it out: the default).
func costBoundPolicy(t *testing.T, maxExtra string) policy.Policy {
	t.Helper()
	extra := ""
	if maxExtra != "" {
		extra = `,"max_extra":"` + maxExtra + `"`
	}
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"stale_after":"1m",` +
		`"predictive":{"mode":"forecast-and-scale","history":"1h"` + extra + `},"metrics":` + rps + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCostBoundOnlyInVersion14: a policy's predictive.max_extra is written
// only in entry version 14. In versions 1 to 13 a policy whose bound is
// the default is written without the field (the JSON their code wrote:
// the policy without max_extra is the same bytes) and read back with the
// default; one whose bound is not the default ("none", 2.5 %) is refused,
// with a *policy.ValidationError naming the field, rather than written as
// the default unseen. Version 14 keeps any bound. Entries read from
// versions 1 to 13 have the default whatever their JSON says.
func TestCostBoundOnlyInVersion14(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		maxExtra string
		want     policy.ExtraBound // read back in version 14
	}{
		{"the default", "", 0},
		{"the default written", "5%", 0},
		{"none", "none", policy.NoMaxExtra},
		{"2.5%", "2.5%", 2.5},
	} {
		p := costBoundPolicy(t, tc.maxExtra)
		if p.Predictive.MaxExtra != tc.want {
			t.Fatalf("%s: parsed as %v", tc.name, p.Predictive.MaxExtra)
		}
		for _, v := range []uint8{VersionCostBound, VersionScaledSeason, VersionHistoryStep, VersionBatched, VersionBinary, VersionJSON} {
			c := PutPolicy{Policy: p, IfMatch: "0", At: at}
			b, err := EncodeVersion(c, v)
			if v < VersionCostBound && tc.want != 0 {
				var ve *policy.ValidationError
				if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Path != "predictive.max_extra" || b != nil {
					t.Fatalf("%s in version %d: %v; want a validation error naming predictive.max_extra", tc.name, v, err)
				}
				t.Logf("%s in version %d: %v", tc.name, v, err)
				continue
			}
			if err != nil {
				t.Fatalf("%s in version %d: %v", tc.name, v, err)
			}
			if got := bytes.Contains(b, []byte("max_extra")); got != (v >= VersionCostBound && tc.want != 0) {
				t.Fatalf("%s in version %d: the entry names max_extra: %v", tc.name, v, got)
			}
			back, err := Decode(b)
			if err != nil {
				t.Fatalf("%s in version %d: %v", tc.name, v, err)
			}
			if got := back.(PutPolicy).Policy.Predictive.MaxExtra; got != tc.want {
				t.Fatalf("%s in version %d: read back as %v, want %v", tc.name, v, got, tc.want)
			}
			if v < VersionCostBound {
				// The bytes the code of that version wrote: the policy
				// without the field, which it did not have.
				prior := PutPolicy{Policy: p, IfMatch: "0", At: at}
				prior.Policy.Predictive.MaxExtra = 0
				again, err := EncodeVersion(throughVersion(t, prior, v), v)
				if err != nil || !bytes.Equal(again, b) {
					t.Fatalf("%s in version %d: written again %d bytes, %v; want %d", tc.name, v, len(again), err, len(b))
				}
			}
		}
	}
	// An entry of version 13 whose policy says max_extra (no version-13
	// server writes one) is read with the default, as every version-13
	// server ignores the field.
	b, err := EncodeVersion(PutPolicy{Policy: costBoundPolicy(t, "none"), At: at}, VersionCostBound)
	if err != nil {
		t.Fatal(err)
	}
	b[1] = VersionScaledSeason
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(PutPolicy).Policy.Predictive.MaxExtra; got != 0 {
		t.Fatalf("a version-13 entry saying max_extra none: read as %v, want the default", got)
	}
}

// TestCostBoundInSnapshots: a snapshot of version 14 keeps each policy's
// bound; one of an older version (binary or the version-1 JSON) holds it
// without the field (a policy whose bound is not the default could only
// be there from a version-14 entry: it reads back with the default, as on
// every server reading that snapshot), and reads back with the default.
func TestCostBoundInSnapshots(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	for _, maxExtra := range []string{"", "none", "2.5%"} {
		s := New()
		p := costBoundPolicy(t, maxExtra)
		if r := s.Apply(1, PutPolicy{Policy: p, At: at}, Options{}); r.Outcome != OK {
			t.Fatal(r.Detail)
		}
		for _, v := range []uint8{SnapshotVersion, VersionScaledSeason, VersionHistoryStep, VersionJSON} {
			var b bytes.Buffer
			var err error
			if v == VersionJSON {
				err = s.WriteLegacySnapshot(&b)
			} else {
				err = s.WriteSnapshotVersion(&b, v)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(b.Bytes(), []byte("max_extra")); got != (v >= VersionCostBound && p.Predictive.MaxExtra != 0) {
				t.Fatalf("%q in a version-%d snapshot: names max_extra: %v", maxExtra, v, got)
			}
			back, err := ReadSnapshot(&b)
			if err != nil {
				t.Fatal(err)
			}
			want := p.Predictive.MaxExtra
			if v < VersionCostBound {
				want = 0 // the default
			}
			if got := back.Policies["web"].Record.Policy.Predictive.MaxExtra; got != want {
				t.Fatalf("%q in a version-%d snapshot: read back as %v, want %v", maxExtra, v, got, want)
			}
		}
	}
}

// TestCostAccountSize: what version 14 changes in a leader's entries. A
// typical tick entry (tickRecord, in an evaluation without its state) is
// version 13's bytes but for the version byte; a state entry whose state
// holds the forecast's cost bound's account is the policy state version
// 7 the leader writes in version 14, what the account adds more than the
// version 6 it writes in version 13 (policy.State.MarshalBinaryV6: the
// state without it); a state with an empty account is the same bytes in
// both. Each entry replays to the state it carries.
func TestCostAccountSize(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	record := tickRecord(at, nil)
	record.Metrics[0].SeasonScale = 1.25
	_, scaled := scaledSeasonStates(at)
	counted := scaled.Clone()
	counted.Extra = policy.ExtraAccount{At: at, Held: 1680.5, Extra: 61.25, Excess: 2, Shadow: 11,
		Recommendations: []policy.Recommendation{{At: at.Add(-4 * time.Minute), Size: 12}, {At: at.Add(-2 * time.Minute), Size: 11}}}
	v6, v7 := marshalState(t, scaled.MarshalBinary), marshalState(t, counted.MarshalBinary)
	if v6[0] != 6 || v7[0] != 7 {
		t.Fatalf("state versions %d and %d, want 6 and 7", v6[0], v7[0])
	}
	if b := marshalState(t, counted.MarshalBinaryV6); !bytes.Equal(b, v6) {
		t.Fatalf("MarshalBinaryV6 of a state with an account: %d bytes, want the state without it (%d)", len(b), len(v6))
	}
	account := len(v7) - len(v6)
	tick13, tick14 := evaluatedEntry(t, record, nil, VersionScaledSeason), evaluatedEntry(t, record, nil, VersionCostBound)
	if !bytes.Equal(tick13[2:], tick14[2:]) || tick14[1] != VersionCostBound {
		t.Fatal("a tick entry of version 14 is not version 13's bytes but for the version byte")
	}
	for _, tc := range []struct {
		name  string
		state []byte
		v     uint8
		want  int
	}{
		{"version 13, a scaled season", v6, VersionScaledSeason, len(tick13) + len(v6) + 2},
		{"version 14, a scaled season", v6, VersionCostBound, len(tick13) + len(v6) + 2},
		{"version 14, with the account", v7, VersionCostBound, len(tick13) + len(v6) + 2 + account},
	} {
		if got := len(evaluatedEntry(t, record, tc.state, tc.v)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
	t.Logf("a typical tick entry: %d bytes in versions 13 and 14; the account adds %d bytes to a state (2 queued recommendations); a state entry with a scaled 1-minute daily model: %d bytes in version 13, %d with the account in 14",
		len(tick13), account, len(evaluatedEntry(t, record, v6, VersionScaledSeason)), len(evaluatedEntry(t, record, v7, VersionCostBound)))
}

// TestStatesWithoutAccountAlikeInVersions13And14: nodes of versions 13 and
// 14 re-encoding the same state without an account write the same bytes,
// so a pacing commit (withStoredModels, which re-encodes the stored state)
// leaves every node of a mixed cluster the same state. The states: the
// frozen version-13 fixture's (written by the code of entry version 13,
// whose bytes this code's MarshalBinary and MarshalBinaryV6 must both
// write) and the one a version-13 leader commits for a state with an
// account (MarshalBinaryV6). A pacing commit over each, in either version,
// stores the same bytes; a version-14 pacing commit that carries an
// account keeps it beside the stored models.
func TestStatesWithoutAccountAlikeInVersions13And14(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	entries, _ := binaryFixture(t, binaryV13Dir, 36, VersionScaledSeason)
	frozen := replay(t, entries).Policies["fine"].EvalState
	_, scaled := scaledSeasonStates(at)
	counted := scaled.Clone()
	counted.Extra = policy.ExtraAccount{At: at, Held: 24, Extra: 1.5, Excess: 1, Shadow: 3}
	tests := []struct {
		name  string
		state policy.State
		old   []byte // the bytes the code of version 13 wrote, when known
	}{
		{"the frozen version-13 state", decodeState(t, frozen), frozen},
		{"a state with an account as a version-13 leader commits it", decodeState(t, marshalState(t, counted.MarshalBinaryV6)), nil},
	}
	pacing := policy.State{LastScaleIn: at.Add(time.Minute), Recommendations: []policy.Recommendation{{At: at, Size: 4}}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b14, b13 := marshalState(t, tc.state.MarshalBinary), marshalState(t, tc.state.MarshalBinaryV6)
			if !bytes.Equal(b14, b13) || b14[0] > 6 {
				t.Fatalf("MarshalBinary: %d bytes of version %d; MarshalBinaryV6: %d of version %d; want the same bytes of version 6 or older", len(b14), b14[0], len(b13), b13[0])
			}
			if tc.old != nil && !bytes.Equal(b14, tc.old) {
				t.Fatalf("re-encoded: %d bytes, the code of version 13 wrote %d", len(b14), len(tc.old))
			}
			var stored [2][]byte
			for i, v := range []uint8{VersionScaledSeason, VersionCostBound} {
				stored[i] = afterPacing(t, b14, marshalState(t, pacing.MarshalBinary), v, at)
			}
			if !bytes.Equal(stored[0], stored[1]) || stored[0][0] != b14[0] {
				t.Fatalf("after a pacing commit: %d bytes (version %d) in version 13, %d (version %d) in 14; want the same, of the state's version %d", len(stored[0]), stored[0][0], len(stored[1]), stored[1][0], b14[0])
			}
		})
	}
	// Version 14: the pacing state's account joins the stored models.
	withAccount := pacing.Clone()
	withAccount.Extra = counted.Extra
	got := decodeState(t, afterPacing(t, marshalState(t, scaled.MarshalBinary), marshalState(t, withAccount.MarshalBinary), VersionCostBound, at))
	if len(got.Models) != 1 || got.Models[0].Model.Ref == 0 || got.Extra.Shadow != 3 || got.Extra.Held != 24 {
		t.Fatalf("after a version-14 pacing commit with an account: %d models, account %+v", len(got.Models), got.Extra)
	}
}

// afterPacing is the state a node keeps for a policy after an evaluation
// that commits stored and then a pacing commit of pacing, both entries
// of version v.
func afterPacing(t *testing.T, stored, pacing []byte, v uint8, at time.Time) []byte {
	t.Helper()
	s := New()
	s.Apply(1, PutPolicy{Policy: testPolicy(t, "web", rps), At: at}, Options{})
	for j, c := range []Evaluated{{State: stored}, {Pacing: pacing}} {
		c.Policy, c.PolicyVersion, c.At = "web", 1, at.Add(time.Duration(j)*time.Minute)
		if r := s.Apply(uint64(j+2), throughVersion(t, c, v), Options{}); r.Outcome != OK {
			t.Fatal(r.Detail)
		}
	}
	return s.Policies["web"].EvalState
}
