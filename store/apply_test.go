package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

func testPolicy(t *testing.T, id string, metrics string) policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":1,"max":10,"stale_after":"1m",` +
		`"predictive":{"history":"1h"},"metrics":` + metrics + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const rps = `[{"name":"rps","type":"request_rate","target":100}]`

// TestApplyOutcomes: every command's outcome and effect, step by step on
// one state (each step's index is its position + 1).
func TestApplyOutcomes(t *testing.T) {
	at := time.Unix(1_780_000_000, 0).UTC()
	web := testPolicy(t, "web", rps)
	audit := &AuditCommand{Entry: AuditEntry{Token: "ci", Action: "policy.put", Target: "web"}, Max: 3}
	steps := []struct {
		name    string
		cmd     Command
		want    Outcome
		version uint64 // of "web" afterwards; 0 = absent
		check   func(*State) bool
	}{
		{"create with If-Match 0", PutPolicy{Policy: web, IfMatch: "0", At: at, Audit: audit}, OK, 1,
			func(s *State) bool {
				a := s.Audit[0]
				return a.ID == 1 && a.Outcome == OK && a.OldVersion == 0 && a.NewVersion == 1
			}},
		{"If-Match 0 once it exists", PutPolicy{Policy: web, IfMatch: "0", Audit: audit}, PreconditionFailed, 1,
			func(s *State) bool {
				a := s.Audit[1]
				return a.Outcome == PreconditionFailed && a.OldVersion == 1 && a.NewVersion == 1
			}},
		{"stale version", PutPolicy{Policy: web, IfMatch: "7"}, PreconditionFailed, 1, nil},
		{"garbage If-Match", PutPolicy{Policy: web, IfMatch: "abc"}, PreconditionFailed, 1, nil},
		{"current version", PutPolicy{Policy: web, IfMatch: "1"}, OK, 5, nil},
		{"star on an existing policy", PutPolicy{Policy: web, IfMatch: "*"}, OK, 6, nil},
		{"samples keep the newest", Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(time.Minute), Value: 2, Series: 9},
			{Policy: "web", Metric: "rps", Time: at, Value: 1}, {Policy: "nobody", Metric: "rps", Time: at, Value: 1}}}, OK, 6,
			func(s *State) bool {
				x := s.Policies["web"].Samples["rps"]
				return x.Value == 2 && x.Series == 0 && s.Policies["web"].Windows["rps"] != nil
			}},
		{"evaluation of the current version", Evaluated{Policy: "web", PolicyVersion: 6, State: []byte{1}, Record: &policy.Record{Desired: 3}, Desired: 3, Ready: 2, At: at}, OK, 6,
			func(s *State) bool {
				p := s.Policies["web"]
				return p.Desired == 3 && p.Decisions.Len() == 1 && p.LastEvaluation.Equal(at)
			}},
		{"evaluation of a replaced version", Evaluated{Policy: "web", PolicyVersion: 5, Desired: 9}, PreconditionFailed, 6,
			func(s *State) bool { return s.Policies["web"].Desired == 3 }},
		{"intent gets its index", PutIntent{Intent: Intent{Policy: "web", From: 2, To: 3}}, OK, 6,
			func(s *State) bool {
				p := s.Policies["web"]
				return len(p.Pending) == 1 && p.Pending[0].ID == 10 && s.Intents == 1
			}},
		{"intent of a missing policy", PutIntent{Intent: Intent{Policy: "nobody"}}, NotFound, 6,
			func(s *State) bool { return s.Intents == 1 }},
		{"result clears the intent", IntentResult{Policy: "web", IntentID: 10, Outcome: "applied"}, OK, 6,
			func(s *State) bool { return len(s.Policies["web"].Pending) == 0 }},
		{"same metrics keep the windows", PutPolicy{Policy: web}, OK, 13,
			func(s *State) bool { return s.Policies["web"].Windows != nil && s.Policies["web"].EvalState != nil }},
		{"new metrics reset what was kept per metric", PutPolicy{Policy: testPolicy(t, "web", `[{"name":"cpu","type":"cpu","target":60}]`)}, OK, 14,
			func(s *State) bool {
				p := s.Policies["web"]
				return p.Windows == nil && p.EvalState == nil && len(p.Samples) == 0 && p.Decisions.Len() == 1
			}},
		{"token", CreateToken{Token: Token{Name: "ci", Role: "write", Origin: "file"}}, OK, 14,
			func(s *State) bool { return s.Tokens["ci"].Origin == OriginAPI }},
		{"token name taken", CreateToken{Token: Token{Name: "ci", Role: "admin"}}, Conflict, 14,
			func(s *State) bool { return s.Tokens["ci"].Role == "write" }},
		{"delete a token", DeleteToken{Name: "ci"}, OK, 14, func(s *State) bool { return len(s.Tokens) == 0 }},
		{"delete a missing token", DeleteToken{Name: "ci"}, NotFound, 14, nil},
		{"register a node", RegisterNode{ID: "n1", HTTPAddr: "a:1"}, OK, 14, func(s *State) bool { return s.Nodes["n1"] == "a:1" }},
		{"audit on its own keeps its status, bounded by Max", AuditCommand{Entry: AuditEntry{Status: 403, Code: "forbidden"}, Max: 3}, OK, 14,
			func(s *State) bool {
				return len(s.Audit) == 3 && s.Audit[2].Status == 403 && s.Audit[2].ID == 20 && s.Audit[0].ID == 1
			}},
		{"delete with a stale version", DeletePolicy{ID: "web", IfMatch: "1"}, PreconditionFailed, 14, nil},
		{"delete", DeletePolicy{ID: "web", IfMatch: "14", Audit: audit}, OK, 0,
			func(s *State) bool {
				a := s.Audit[2]
				return s.Audit[0].ID == 2 && a.OldVersion == 14 && a.NewVersion == 0 && a.Outcome == OK
			}},
		{"delete of a missing policy", DeletePolicy{ID: "web", Audit: audit}, NotFound, 0,
			func(s *State) bool { return s.Audit[2].Outcome == NotFound }},
		{"star on a missing policy", PutPolicy{Policy: web, IfMatch: "*"}, PreconditionFailed, 0, nil},
	}
	s := New()
	for i, st := range steps {
		res := s.Apply(uint64(i+1), st.cmd, Options{MaxDecisions: 2})
		if res.Outcome != st.want || (st.want != OK) != (res.Detail != "") {
			t.Fatalf("%s: outcome %v (%q), want %v", st.name, res.Outcome, res.Detail, st.want)
		}
		var version uint64
		if p := s.Policies["web"]; p != nil {
			version = p.Record.Version
		}
		if version != st.version {
			t.Fatalf("%s: version %d, want %d", st.name, version, st.version)
		}
		if st.check != nil && !st.check(s) {
			t.Fatalf("%s: the state is not as expected", st.name)
		}
	}
}

// TestApplyBoundsDecisions keeps the newest MaxDecisions records.
func TestApplyBoundsDecisions(t *testing.T) {
	s := New()
	s.Apply(1, PutPolicy{Policy: testPolicy(t, "web", rps)}, Options{})
	for i := 1; i <= 5; i++ {
		s.Apply(uint64(i+1), Evaluated{Policy: "web", PolicyVersion: 1, Record: &policy.Record{Desired: i}}, Options{MaxDecisions: 3})
	}
	d := s.Policies["web"].Decisions.Records()
	if len(d) != 3 || d[0].Desired != 3 || d[2].Desired != 5 {
		t.Fatalf("decisions %+v: want the 3 newest, oldest first", d)
	}
}

// TestApplySeriesForgetsStalePoints: a series older than stale_after
// before the newest point of its metric drops out; other metrics' points
// and unknown metrics are left alone.
func TestApplySeriesForgetsStalePoints(t *testing.T) {
	s := New()
	s.Apply(1, PutPolicy{Policy: testPolicy(t, "web", rps)}, Options{})
	sec := int64(time.Second)
	s.Apply(2, Buckets{Series: []SeriesUpdate{
		{Policy: "web", Metric: "rps", ID: 1, T: 100 * sec, V: 1},
		{Policy: "web", Metric: "rps", ID: 2, T: 30 * sec, V: 2},   // 70 s older than the newest: gone
		{Policy: "web", Metric: "rps", ID: 3, T: 40 * sec, V: 3},   // 60 s: kept
		{Policy: "web", Metric: "rps", ID: 1, T: 90 * sec, V: 9},   // older than the point held: ignored
		{Policy: "web", Metric: "nope", ID: 4, T: 100 * sec, V: 4}, // no such metric
	}}, Options{})
	got := s.Policies["web"].Series
	want := map[string]map[uint64]SeriesPoint{"rps": {1: {T: 100 * sec, V: 1}, 3: {T: 40 * sec, V: 3}}}
	if len(got) != 1 || len(got["rps"]) != 2 || got["rps"][1] != want["rps"][1] || got["rps"][3] != want["rps"][3] {
		t.Fatalf("series %+v, want %+v", got, want)
	}
}

// TestApplyIsDeterministic: two states fed the same commands in the same
// order write the same snapshot bytes, however their maps iterate.
func TestApplyIsDeterministic(t *testing.T) {
	entries := legacyEntries(t)
	for range 5 {
		a, b := replay(t, entries), replay(t, entries)
		if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
			t.Fatal("the same log gave two states")
		}
	}
}
