package store

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
	"github.com/capstan-io/capstan/policy"
)

// filler sets every exported field of a value to a non-zero value, by
// reflection, so that a field added to an encoded type later is filled
// too, and a round trip that drops it fails (TestEncodingsKeepEveryField).
// Numbers count up from one, so two fields swapped by an encoder differ.
type filler struct{ n int }

func (f *filler) next() int { f.n++; return f.n }

var (
	timeType   = reflect.TypeFor[time.Time]()
	seasonType = reflect.TypeFor[policy.Season]()
	windowType = reflect.TypeFor[*window.Window]()
)

func (f *filler) fill(v reflect.Value) {
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(time.Unix(1_780_000_000, int64(f.next())).UTC()))
		return
	case seasonType:
		// Auto and Period exclude each other (a policy's JSON holds one).
		v.Set(reflect.ValueOf(policy.Season{Period: time.Duration(f.next())}))
		return
	case windowType:
		// Carried in the window package's own binary encoding.
		w := window.New(10*time.Second, 6, window.Mean)
		w.Add(time.Unix(1_780_000_000, 0), float64(f.next()))
		v.Set(reflect.ValueOf(w))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			f.fill(v.Index(i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		f.fill(k)
		f.fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("s" + string(rune('a'+f.next()%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.next()))
	case reflect.Uint8:
		// Enumerations (policy.Limit, policy.ScaleInRule, Outcome): the
		// highest value each knows, so a newly added one is tried too.
		v.SetUint(uint64(maxEnum(v.Type())))
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.next()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.next()) + 0.5)
	default:
		panic("filler: no rule for " + v.Type().String())
	}
}

// maxEnum is the highest known value of a byte-sized enumeration.
func maxEnum(t reflect.Type) uint8 {
	switch t {
	case reflect.TypeFor[policy.Limit]():
		return uint8(policy.LimitSchedule)
	case reflect.TypeFor[policy.ScaleInRule]():
		return uint8(policy.RuleNoiseRelease)
	case reflect.TypeFor[Outcome]():
		return uint8(Conflict)
	}
	return 1
}

func filled[T any](t testing.TB) T {
	t.Helper()
	var v T
	new(filler).fill(reflect.ValueOf(&v).Elem())
	if reflect.ValueOf(v).IsZero() {
		t.Fatalf("%T not filled", v)
	}
	return v
}

// TestEncodingsKeepEveryField: every command, with every exported field of
// everything it carries set (the decision record and its metrics, intents,
// samples, tokens, audit entries, and the policy itself, carried as the
// policy package's JSON document), survives the current log entry encoding
// exactly; and a state with every field set survives the current snapshot.
// Adding a field to policy.Record, or to any type store encodes, without
// encoding it fails here.
func TestEncodingsKeepEveryField(t *testing.T) {
	// An evaluation carries either its whole state or its pacing state
	// (Pacing is ignored, and not encoded, when State is set): both kinds,
	// on their own and in one Evaluations entry.
	withState, withPacing := filled[Evaluated](t), filled[Evaluated](t)
	withState.Pacing, withPacing.State = nil, nil
	commands := []Command{
		filled[PutPolicy](t), filled[DeletePolicy](t), filled[PutIntent](t), filled[IntentResult](t),
		withState, withPacing, Evaluations{Items: []Evaluated{withState, withPacing}}, filled[Samples](t), filled[RegisterNode](t), filled[Buckets](t),
		filled[CreateToken](t), filled[DeleteToken](t), filled[AuditCommand](t),
	}
	seen := map[CommandType]bool{}
	for i, c := range commands {
		seen[c.Type()] = true
		t.Run(fmt.Sprintf("%s %d", c.Type(), i), func(t *testing.T) {
			b, err := Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("the log entry drops or changes a field:\nsent %+v\ngot  %+v", c, back)
			}
		})
	}
	for ty := CommandType(0); ty < CommandType(len(commandNames)); ty++ {
		if ty.Known() && !seen[ty] {
			t.Errorf("command %s is not checked here", ty)
		}
	}

	t.Run("snapshot", func(t *testing.T) {
		s := filled[State](t)
		// The keys the snapshot derives from the values: a policy's id
		// and its samples' policy and metric, a token's name.
		for id, p := range s.Policies {
			samples := map[string]Sample{}
			for _, x := range p.Samples {
				x.Policy = id
				samples[x.Metric] = x
			}
			p.Samples = samples
			// Decisions keeps its records encoded (unexported): filled
			// here, with every field of the record set.
			p.Decisions = DecisionsOf([]policy.Record{filled[policy.Record](t)})
		}
		tokens := map[string]Token{}
		for _, tok := range s.Tokens {
			tokens[tok.Name] = tok
		}
		s.Tokens = tokens
		var b bytes.Buffer
		if err := s.WriteSnapshot(&b); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSnapshot(&b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, &s) {
			for id, p := range s.Policies {
				if q := back.Policies[id]; q != nil && !reflect.DeepEqual(q.Decisions, p.Decisions) {
					t.Errorf("decisions:\nsent %+v\ngot  %+v", p.Decisions.Records(), q.Decisions.Records())
				}
			}
			t.Fatal("the snapshot drops or changes a field")
		}
	})
}

// TestOlderVersionsGetABoundTheyKnow: in the rolling-upgrade mode a
// decision is written in a version that has no place for the fields
// version 4 added, and whose servers refuse a bound they do not know (the
// schedule and flapping bounds came after version 3): they get the bound
// each is a form of, and the fields they do not hold are zero, whichever
// older version is written, entry or snapshot. Version 4 holds all but
// the group age version 5 added, versions 1 to 5 know no budget bound
// (version 6), and versions 1 to 10 hold no metric's weekly part (version
// 11). The state is not changed.
func TestOlderVersionsGetABoundTheyKnow(t *testing.T) {
	tests := []struct {
		bound, want policy.Limit
	}{
		{policy.LimitSchedule, policy.LimitBounds},
		{policy.LimitFlapping, policy.LimitStabilization},
		{policy.LimitBudget, policy.LimitBounds},
		{policy.LimitCooldown, policy.LimitCooldown},
		{policy.LimitBounds, policy.LimitBounds},
	}
	for _, tc := range tests {
		for _, v := range []uint8{VersionJSON, VersionBinary, VersionFenced, VersionDecisions, VersionGroupAge, VersionBudget, VersionHistoryStep, VersionWeekly, VersionWeeklyPart, VersionTimeOfDay, VersionScaledSeason} {
			t.Run(fmt.Sprintf("%s/version %d", tc.bound, v), func(t *testing.T) {
				c := filled[Evaluated](t)
				c.Record.Bound = tc.bound
				sent := *c.Record
				sent.Metrics = slices.Clone(sent.Metrics)
				back := throughVersion(t, c, v)
				got := *back.(Evaluated).Record
				want := sent
				if v < VersionBudget && sent.Bound == policy.LimitBudget {
					want.Bound = policy.LimitBounds
				}
				if v < VersionWeeklyPart {
					want = withoutWeekly(t, want)
				}
				if v < VersionTimeOfDay {
					want = withoutSlotSkill(t, want)
				}
				if v < VersionScaledSeason {
					want = withoutSeasonScale(t, want)
				}
				if v < VersionGroupAge {
					if sent.GroupAge == 0 {
						t.Fatal("the record has no group age to leave out")
					}
					want.GroupAge = 0
				}
				if v < VersionDecisions {
					want = priorRecord(sent)
					if want.Bound != tc.want || want.Bound > policy.LimitBounds || want.Schedule != "" ||
						want.ScaleInRule != policy.RuleNone || want.Metrics[0].Upper != nil {
						t.Fatalf("version %d record %+v: want bound %s and no fields of version 4", v, want, tc.want)
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
				}
				if !reflect.DeepEqual(*c.Record, sent) {
					t.Fatal("encoding an older version changed the record it was given")
				}
			})
		}
	}
	t.Run("version-10 snapshot", func(t *testing.T) {
		s := New()
		r := filled[policy.Record](t)
		s.Policies["web"] = &Policy{Record: PolicyRecord{Policy: policy.Policy{ID: "web", Min: 1, Max: 9}, Version: 1}, Decisions: DecisionsOf([]policy.Record{r})}
		for _, v := range []uint8{VersionWeekly, VersionWeeklyPart, VersionTimeOfDay, VersionScaledSeason} {
			var b bytes.Buffer
			if err := s.WriteSnapshotVersion(&b, v); err != nil {
				t.Fatal(err)
			}
			back, err := ReadSnapshot(&b)
			if err != nil {
				t.Fatal(err)
			}
			want := r
			if v < VersionWeeklyPart {
				want = withoutWeekly(t, r)
			}
			if v < VersionTimeOfDay {
				want = withoutSlotSkill(t, want)
			}
			if v < VersionScaledSeason {
				want = withoutSeasonScale(t, want)
			}
			if got := back.Policies["web"].Decisions.At(0); !reflect.DeepEqual(got, want) {
				t.Fatalf("version %d: restored\n%+v\nwant\n%+v", v, got, want)
			}
		}
		if s.Policies["web"].Decisions.At(0).Metrics[0].Weekly == nil {
			t.Fatal("writing the snapshot changed the state")
		}
	})
	snapshots := []struct {
		name  string
		write func(*State, io.Writer) error
	}{
		{"version-1 snapshot", (*State).WriteLegacySnapshot},
		{"version-2 snapshot", func(s *State, w io.Writer) error { return s.WriteSnapshotVersion(w, 2) }},
		{"version-3 snapshot", func(s *State, w io.Writer) error { return s.WriteSnapshotVersion(w, 3) }},
	}
	t.Run("version-4 snapshot", func(t *testing.T) {
		s := New()
		r := filled[policy.Record](t)
		s.Policies["web"] = &Policy{Record: PolicyRecord{Policy: policy.Policy{ID: "web", Min: 1, Max: 9}, Version: 1}, Decisions: DecisionsOf([]policy.Record{r})}
		var b bytes.Buffer
		if err := s.WriteSnapshotVersion(&b, VersionDecisions); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSnapshot(&b)
		if err != nil {
			t.Fatal(err)
		}
		want := withoutSeasonScale(t, withoutSlotSkill(t, withoutWeekly(t, r)))
		want.GroupAge = 0
		if got := back.Policies["web"].Decisions.At(0); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored\n%+v\nwant\n%+v", got, want)
		}
		if s.Policies["web"].Decisions.At(0).GroupAge != r.GroupAge {
			t.Fatal("writing the snapshot changed the state")
		}
	})
	t.Run("version-5 snapshot", func(t *testing.T) {
		s := New()
		r := filled[policy.Record](t)
		r.Bound = policy.LimitBudget
		s.Policies["web"] = &Policy{Record: PolicyRecord{Policy: policy.Policy{ID: "web", Min: 1, Max: 9}, Version: 1}, Decisions: DecisionsOf([]policy.Record{r})}
		var b bytes.Buffer
		if err := s.WriteSnapshotVersion(&b, VersionGroupAge); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSnapshot(&b)
		if err != nil {
			t.Fatal(err)
		}
		want := withoutSeasonScale(t, withoutSlotSkill(t, withoutWeekly(t, r)))
		want.Bound = policy.LimitBounds
		if got := back.Policies["web"].Decisions.At(0); !reflect.DeepEqual(got, want) {
			t.Fatalf("restored\n%+v\nwant\n%+v", got, want)
		}
		if s.Policies["web"].Decisions.At(0).Bound != policy.LimitBudget {
			t.Fatal("writing the snapshot changed the state")
		}
	})
	for _, tc := range snapshots {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			r := filled[policy.Record](t)
			r.Bound = policy.LimitSchedule
			s.Policies["web"] = &Policy{Record: PolicyRecord{Policy: policy.Policy{ID: "web", Min: 1, Max: 9}, Version: 1}, Decisions: DecisionsOf([]policy.Record{r})}
			var b bytes.Buffer
			if err := tc.write(s, &b); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b.Bytes(), []byte(`"schedule"`)) || bytes.Contains(b.Bytes(), []byte(`forecast_upper`)) || bytes.Contains(b.Bytes(), []byte(`"weekly"`)) ||
				bytes.Contains(b.Bytes(), []byte(`"season_scale"`)) {
				t.Fatalf("the snapshot holds what its readers do not know: %s", b.Bytes())
			}
			back, err := ReadSnapshot(&b)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := back.Policies["web"].Decisions.At(0), priorRecord(r); !reflect.DeepEqual(got, want) || got.Bound != policy.LimitBounds {
				t.Fatalf("restored\n%+v\nwant\n%+v", got, want)
			}
			if s.Policies["web"].Decisions.At(0).Bound != policy.LimitSchedule || s.Policies["web"].Decisions.At(0).Metrics[0].Upper == nil {
				t.Fatal("writing the snapshot changed the state")
			}
		})
	}
}

// withoutSeasonScale is r as versions before VersionScaledSeason hold it:
// each metric without its season's factor (r, filled, has one), sharing
// nothing with r.
func withoutSeasonScale(t *testing.T, r policy.Record) policy.Record {
	t.Helper()
	r.Metrics = slices.Clone(r.Metrics)
	for i := range r.Metrics {
		if r.Metrics[i].SeasonScale == 0 {
			t.Fatal("the record has no season factor to leave out")
		}
		r.Metrics[i].SeasonScale = 0
	}
	return r
}

// withoutSlotSkill is r as versions before VersionTimeOfDay hold it:
// each metric without its skill at the time of day.
func withoutSlotSkill(t *testing.T, r policy.Record) policy.Record {
	t.Helper()
	return withoutFigure(t, r, "skill at the time of day", func(m *policy.MetricRecord) **float64 { return &m.SlotSkill })
}

// withoutWeekly is r as versions before VersionWeeklyPart hold it: each
// metric without its weekly part.
func withoutWeekly(t *testing.T, r policy.Record) policy.Record {
	t.Helper()
	return withoutFigure(t, r, "weekly part", func(m *policy.MetricRecord) **float64 { return &m.Weekly })
}

// withoutFigure is r with each metric's optional figure (what names it,
// field picks it) left out, sharing nothing with r; r, filled, has one.
func withoutFigure(t *testing.T, r policy.Record, what string, field func(*policy.MetricRecord) **float64) policy.Record {
	t.Helper()
	r.Metrics = slices.Clone(r.Metrics)
	for i := range r.Metrics {
		f := field(&r.Metrics[i])
		if *f == nil {
			t.Fatalf("the record has no %s to leave out", what)
		}
		*f = nil
	}
	return r
}
