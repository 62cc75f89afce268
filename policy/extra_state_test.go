package policy

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// extraState is the version 6 fixture (a model whose season scales with
// the level) with an account for the forecast's cost bound.
func extraState(t *testing.T) (State, []byte) {
	t.Helper()
	s, v6 := stateFixture(t, 6)
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s.Extra = ExtraAccount{
		At: at, Held: 1234.5, Extra: 51.25, Excess: 2, Shadow: 7,
		Recommendations: []Recommendation{{At: at.Add(-4 * time.Minute), Size: 9}, {At: at.Add(-time.Minute), Size: 7}},
	}
	return s, v6
}

// TestStateVersion7: a version 6 state (testdata/state-v6.hex, written by
// the code of version 6) decodes with an empty account and re-encodes byte
// for byte through MarshalBinary and MarshalBinaryV6; a state with an
// account is version 7 and round-trips it; MarshalBinaryV6, V5 and V4
// write it byte for byte as the same state without the account.
func TestStateVersion7(t *testing.T) {
	plain, v6 := stateFixture(t, 6)
	if !plain.Extra.Empty() {
		t.Fatalf("version 6 state decodes with an account: %+v", plain.Extra)
	}
	for name, marshal := range map[string]func() ([]byte, error){"MarshalBinary": plain.MarshalBinary, "MarshalBinaryV6": plain.MarshalBinaryV6} {
		if b, _ := marshal(); !bytes.Equal(b, v6) {
			t.Fatalf("%s of the version 6 fixture differs from it:\n%x\n%x", name, b, v6)
		}
	}
	s, _ := extraState(t)
	got, b := roundTrip(t, s)
	if b[0] != 7 {
		t.Fatalf("a state with an account is version %d, want 7", b[0])
	}
	if !reflect.DeepEqual(got.Extra, s.Extra) {
		t.Fatalf("account round trip:\n%+v\n%+v", got.Extra, s.Extra)
	}
	if extra := len(b) - len(v6); extra > 60 {
		t.Fatalf("the account takes %d bytes with two queued recommendations, want at most 60", extra)
	}
	for name, pair := range map[string][2]func() ([]byte, error){
		"MarshalBinaryV6": {s.MarshalBinaryV6, plain.MarshalBinaryV6},
		"MarshalBinaryV5": {s.MarshalBinaryV5, plain.MarshalBinaryV5},
		"MarshalBinaryV4": {s.MarshalBinaryV4, plain.MarshalBinaryV4},
	} {
		with, _ := pair[0]()
		without, _ := pair[1]()
		if !bytes.Equal(with, without) {
			t.Fatalf("%s keeps the account:\n%x\n%x", name, with, without)
		}
	}
	if b, _ := s.MarshalBinaryV6(); !bytes.Equal(b, v6) {
		t.Fatalf("MarshalBinaryV6 is not the version 6 golden bytes")
	}
	c := s.Clone()
	c.Extra.Recommendations[0].Size = 99
	if s.Extra.Recommendations[0].Size == 99 {
		t.Fatal("Clone shares the shadow's queue")
	}
}

// TestStateRefusesBadAccount: a version 7 account with negative or
// non-finite instance-hours or negative sizes is refused and leaves the
// state as it was.
func TestStateRefusesBadAccount(t *testing.T) {
	for name, mutate := range map[string]func(*ExtraAccount){
		"negative held":   func(a *ExtraAccount) { a.Held = -1 },
		"negative extra":  func(a *ExtraAccount) { a.Extra = -1 },
		"negative excess": func(a *ExtraAccount) { a.Excess = -1 },
		"negative shadow": func(a *ExtraAccount) { a.Shadow = -3 },
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := extraState(t)
			mutate(&s.Extra)
			b, _ := s.MarshalBinary()
			kept := State{LastAction: ActionScaleOut}
			err := kept.UnmarshalBinary(b)
			if !errors.Is(err, ErrBadState) || kept.LastAction != ActionScaleOut {
				t.Fatalf("err %v, state %+v", err, kept)
			}
		})
	}
	s, _ := extraState(t)
	b, _ := s.MarshalBinary()
	for n := 1; n < 40; n++ {
		var got State
		if err := got.UnmarshalBinary(b[:len(b)-n]); !errors.Is(err, ErrBadState) {
			t.Fatalf("truncated by %d: %v", n, err)
		}
	}
}
