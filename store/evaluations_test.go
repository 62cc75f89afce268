package store

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
)

// TestEvaluationsApplyAsEach: an Evaluations entry leaves the state that
// its evaluations applied one by one leave, and names the refused ones (a
// replaced policy version, a deleted policy) without stopping at them.
func TestEvaluationsApplyAsEach(t *testing.T) {
	at := time.Unix(1_780_000_000, 0).UTC()
	stateOf := func(d int) []byte {
		b, err := (&policy.State{LastScaleOut: at.Add(time.Duration(d) * time.Second)}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ev := func(id string, version uint64, d int) Evaluated {
		return Evaluated{Policy: id, PolicyVersion: version, State: stateOf(d), Record: &policy.Record{Desired: d, Action: "hold"},
			Desired: d, Ready: d, At: at.Add(time.Duration(d) * time.Second)}
	}
	// web is version 1 and api version 2 (a policy's version is the index
	// of its write).
	tests := []struct {
		name    string
		items   []Evaluated
		refused []int
	}{
		{"none", nil, nil},
		{"one", []Evaluated{ev("web", 1, 2)}, nil},
		{"two policies", []Evaluated{ev("web", 1, 2), ev("api", 2, 3)}, nil},
		{"one policy twice: the later wins, both records kept", []Evaluated{ev("web", 1, 2), ev("web", 1, 4)}, nil},
		{"a replaced version refused, the rest applied", []Evaluated{ev("web", 1, 2), ev("api", 9, 3), ev("web", 1, 5)}, []int{1}},
		{"a policy that does not exist", []Evaluated{ev("gone", 1, 2), ev("api", 2, 3)}, []int{0}},
		{"one policy's second evaluation refused", []Evaluated{ev("api", 2, 2), ev("api", 1, 3)}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fresh := func() *State {
				s := New()
				for i, id := range []string{"web", "api"} {
					if r := s.Apply(uint64(i+1), PutPolicy{Policy: testPolicy(t, id, rps), At: at}, Options{}); r.Outcome != OK {
						t.Fatal(r.Detail)
					}
				}
				return s
			}
			one, batched := fresh(), fresh()
			var refused []int
			for i, x := range tc.items {
				if r := one.Apply(uint64(3+i), x, Options{}); r.Outcome != OK {
					refused = append(refused, i)
				}
			}
			data, err := Encode(Evaluations{Items: tc.items})
			if err != nil {
				t.Fatal(err)
			}
			c, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			r := batched.Apply(3, c, Options{})
			if r.Outcome != OK || !slices.Equal(r.Refused, tc.refused) || !slices.Equal(refused, tc.refused) {
				t.Fatalf("outcome %v, refused %v (one by one %v); want %v", r.Outcome, r.Refused, refused, tc.refused)
			}
			if !reflect.DeepEqual(one, batched) {
				t.Fatal("the entry leaves another state than its evaluations one by one")
			}
		})
	}
}

// TestPacingKeepsStoredModels: an evaluation that carries its state
// without models (Pacing) replaces the stored state's pacing and keeps its
// models, their scores by the time of day too (policy state version 5, as
// the stored state was; a state without them stays version 4, as the
// servers of entry version 11 write it), and a season that scales with the
// level (policy state version 6); with no stored models (none yet,
// or unreadable) the pacing state is stored as sent; a whole State
// replaces everything.
func TestPacingKeepsStoredModels(t *testing.T) {
	at := time.Unix(1_780_000_000, 0).UTC()
	models := []policy.MetricModel{{CheckedAt: at, ErrForecast: 1.5, ErrNaive: 2.5, Scored: 7, TunedAt: at, TunedSpan: time.Hour}}
	enc := func(s policy.State) []byte {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	old := policy.State{LastScaleOut: at, Changes: []policy.Change{{At: at, From: 1, To: 3}}, Models: models}
	pacing := policy.State{LastScaleOut: at.Add(time.Minute), LastScaleIn: at.Add(2 * time.Minute),
		Changes: []policy.Change{{At: at, From: 1, To: 3}, {At: at.Add(time.Minute), From: 3, To: 4}}}
	withModels := pacing
	withModels.Models = models
	scored := slices.Clone(models)
	scored[0].Slots = &policy.SlotScores{7: {Forecast: 1.25, Naive: 2.5, Scored: 9}}
	withScored := pacing
	withScored.Models = scored
	scaled := []policy.MetricModel{{CheckedAt: at, Scored: 7, Params: forecast.DefaultParams(),
		Model: forecast.Model{Period: time.Hour, Slot: 5 * time.Minute, Step: time.Minute, Season: []float64{-2, -1, 0, 1, 2, 3, 2, 1, 0, -1, -2, -3}, Count: 200, Level: 50, Ref: 50, Mean: 60}}}
	withScaled := pacing
	withScaled.Models = scaled
	newModels := []policy.MetricModel{{CheckedAt: at.Add(time.Hour), Scored: 1}}
	whole := pacing
	whole.Models = newModels
	tests := []struct {
		name   string
		stored []byte
		cmd    Evaluated
		want   []byte
	}{
		{"pacing keeps the stored models", enc(old), Evaluated{Pacing: enc(pacing)}, enc(withModels)},
		{"pacing keeps the stored scores by the time of day", enc(policy.State{Models: scored}), Evaluated{Pacing: enc(pacing)}, enc(withScored)},
		{"pacing keeps a stored season that scales with the level", enc(policy.State{Models: scaled}), Evaluated{Pacing: enc(pacing)}, enc(withScaled)},
		{"pacing with nothing stored", nil, Evaluated{Pacing: enc(pacing)}, enc(pacing)},
		{"pacing over a stored state without models", enc(policy.State{LastScaleIn: at}), Evaluated{Pacing: enc(pacing)}, enc(pacing)},
		{"pacing over an unreadable stored state", []byte{0xff, 1, 2}, Evaluated{Pacing: enc(pacing)}, enc(pacing)},
		{"a whole state replaces the models", enc(old), Evaluated{State: enc(whole)}, enc(whole)},
		{"neither keeps the stored state", enc(old), Evaluated{}, enc(old)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Apply(1, PutPolicy{Policy: testPolicy(t, "web", rps), At: at}, Options{})
			if tc.stored != nil {
				s.Apply(2, Evaluated{Policy: "web", PolicyVersion: 1, State: tc.stored, At: at}, Options{})
			}
			tc.cmd.Policy, tc.cmd.PolicyVersion, tc.cmd.At = "web", 1, at.Add(time.Minute)
			data, err := Encode(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if r := s.Apply(3, c, Options{}); r.Outcome != OK {
				t.Fatal(r.Detail)
			}
			if got := s.Policies["web"].EvalState; !slices.Equal(got, tc.want) {
				t.Fatalf("stored state %x, want %x", got, tc.want)
			}
		})
	}
	if v := enc(withModels)[0]; v != 4 {
		t.Errorf("a state without scores by the time of day is version %d, want 4", v)
	}
	if v := enc(withScored)[0]; v != 5 {
		t.Errorf("a state with scores by the time of day is version %d, want 5", v)
	}
	if v := enc(withScaled)[0]; v != 6 {
		t.Errorf("a state with a season that scales with the level is version %d, want 6", v)
	}
}

// TestBatchedOnlyInVersion7: what versions 1 to 6 cannot express (several
// evaluations in one entry, a state without its models) is refused when
// writing them, rather than written as something else; a whole state, or
// none, is written as before.
func TestBatchedOnlyInVersion7(t *testing.T) {
	pacing := Evaluated{Policy: "web", PolicyVersion: 1, Pacing: []byte{1}}
	both := Evaluated{Policy: "web", PolicyVersion: 1, State: []byte{1}, Pacing: []byte{1}}
	tests := []struct {
		name string
		cmd  Command
		ok   bool
	}{
		{"evaluations", Evaluations{Items: []Evaluated{{Policy: "web"}}}, false},
		{"a pacing state", pacing, false},
		{"a whole state (its pacing state is left out)", both, true},
		{"no state", Evaluated{Policy: "web", PolicyVersion: 1}, true},
	}
	for _, tc := range tests {
		for v := VersionJSON; v <= CurrentVersion; v++ {
			_, err := EncodeVersion(tc.cmd, v)
			want := tc.ok || v >= VersionBatched
			if (err == nil) != want {
				t.Errorf("%s in version %d: %v", tc.name, v, err)
			}
		}
	}
}

// TestDecisionsKeepEveryField: a decision history keeps each record in
// its encoding and gives back exactly the record appended, every field
// set, however many were appended past the bound.
func TestDecisionsKeepEveryField(t *testing.T) {
	r := filled[policy.Record](t)
	var d Decisions
	for i := range 5 {
		x := r
		x.Current = i
		d = d.appended(x, 3)
	}
	got := d.Records()
	if d.Len() != 3 || len(got) != 3 {
		t.Fatalf("%d records kept, want 3", d.Len())
	}
	for i, x := range got {
		want := r
		want.Current = i + 2
		if !reflect.DeepEqual(x, want) {
			t.Fatalf("record %d:\ngot  %+v\nwant %+v", i, x, want)
		}
	}
	if !reflect.DeepEqual(DecisionsOf([]policy.Record{r}).At(0), r) {
		t.Fatal("DecisionsOf changes the record")
	}
}
