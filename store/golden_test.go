package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// The fixtures in testdata/legacy-v1 were written by the controlplane code
// that came before this package (controlplane/golden_test.go): 20 log
// entries of every command type, applied at indexes 1..20, and the JSON
// snapshot of the state they left, with a decision history bound of 10.
// testdata/legacy-v1-flood holds 10 entries of the audit log's flood
// rules, which came later in the same encoding.
const (
	legacyDir      = "testdata/legacy-v1"
	legacyFloodDir = "testdata/legacy-v1-flood"
)

var legacyDirs = map[string]int{legacyDir: 20, legacyFloodDir: 10}

var legacyOptions = Options{MaxDecisions: 10}

func legacyEntries(t *testing.T) [][]byte { return legacyEntriesOf(t, legacyDir) }

func legacyEntriesOf(t *testing.T, dir string) [][]byte {
	t.Helper()
	return legacyEntriesOfN(t, dir, legacyDirs[dir])
}

// replay decodes and applies entries at indexes 1, 2, ...
func replay(t *testing.T, entries [][]byte) *State {
	t.Helper()
	s := New()
	for i, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		s.Apply(uint64(i+1), c, legacyOptions)
	}
	return s
}

func snapshotBytes(t *testing.T, s *State) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readLegacySnapshot(t *testing.T) (*State, []byte) { return readLegacySnapshotOf(t, legacyDir) }

func readLegacySnapshotOf(t *testing.T, dir string) (*State, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s, data
}

// TestLegacySnapshotAndLogGiveTheSameState: the old snapshot restores, the
// old log replays, and both give the same state, byte for byte in the new
// canonical encoding; that state survives the new snapshot exactly.
func TestLegacySnapshotAndLogGiveTheSameState(t *testing.T) {
	for dir := range legacyDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkLegacySameState(t, dir) })
	}
}

func checkLegacySameState(t *testing.T, dir string) {
	fromSnapshot, _ := readLegacySnapshotOf(t, dir)
	fromLog := replay(t, legacyEntriesOf(t, dir))
	want := snapshotBytes(t, fromSnapshot)
	if got := snapshotBytes(t, fromLog); !bytes.Equal(got, want) {
		t.Fatalf("replaying the legacy log gives another state than restoring the legacy snapshot (%d vs %d bytes)", len(got), len(want))
	}
	again, err := ReadSnapshot(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, fromSnapshot) {
		t.Fatal("the binary snapshot does not restore the state exactly")
	}
	if got := snapshotBytes(t, again); !bytes.Equal(got, want) {
		t.Fatal("the binary snapshot is not canonical")
	}
}

// TestLegacyLogInTheNewEncoding: every legacy command re-encoded in the
// current version decodes to the same command, and that log replays to the
// same state as the legacy one.
func TestLegacyLogInTheNewEncoding(t *testing.T) {
	for dir := range legacyDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkLegacyNewEncoding(t, dir) })
	}
}

func checkLegacyNewEncoding(t *testing.T, dir string) {
	entries := legacyEntriesOf(t, dir)
	var current [][]byte
	for i, data := range entries {
		c, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != data[0] || b[1] != CurrentVersion {
			t.Fatalf("entry %d: header %v", i+1, b[:2])
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("entry %d (%s): %v", i+1, c.Type(), err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("entry %d (%s) does not survive the binary encoding:\n%+v\n%+v", i+1, c.Type(), c, back)
		}
		if len(b) > len(data) {
			t.Errorf("entry %d (%s): %d bytes in binary, %d in JSON", i+1, c.Type(), len(b), len(data))
		}
		current = append(current, b)
	}
	if !bytes.Equal(snapshotBytes(t, replay(t, current)), snapshotBytes(t, replay(t, entries))) {
		t.Fatal("the re-encoded log replays to another state")
	}
}

// TestLegacySnapshotContent checks what the legacy state holds, value by
// value, against what the old code wrote: the restore is not only
// self-consistent but the same content.
func TestLegacySnapshotContent(t *testing.T) {
	s, raw := readLegacySnapshot(t)
	at := func(sec int64) time.Time { return time.Unix(1_780_000_000+sec, 0).UTC() }
	web, queue := s.Policies["web"], s.Policies["queue"]
	if web == nil || queue == nil || len(s.Policies) != 2 {
		t.Fatalf("policies %v: want web and queue (gone was deleted)", slices.Sorted(mapsKeys(s.Policies)))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"web version", web.Record.Version, uint64(3)},
		{"web updated", web.Record.UpdatedAt, at(1)},
		{"queue version", queue.Record.Version, uint64(5)},
		{"queue metrics", len(queue.Record.Policy.Metrics), 2},
		{"queue matcher", queue.Record.Policy.Metrics[0].Source.MatchRE["instance"], "w-.*"},
		{"web sizes", [2]int{web.Desired, web.Ready}, [2]int{4, 2}},
		{"web evaluated", web.LastEvaluation, at(40)},
		{"web decisions", web.Decisions.Len(), 1},
		{"web decision reason", web.Decisions.At(0).Reason, "rps 250.5/100 per instance: 3; recommended 4, desired 4"},
		{"web decision value", *web.Decisions.At(0).Metrics[0].Value, 250.5},
		{"web state bytes", len(web.EvalState) > 0, true},
		{"web pending (resolved)", len(web.Pending), 0},
		{"queue pending", queue.Pending, []Intent{{ID: 11, Policy: "queue", Group: "workers", From: 1, To: 3, Reason: "scale-out", Term: 3, Node: "n1", At: at(42)}}},
		{"web latest sample", web.Samples["rps"], Sample{Policy: "web", Metric: "rps", Time: at(30), Value: 250.5}},
		{"queue latest backlog", queue.Samples["backlog"].Value, 90.0},
		{"queue series", queue.Series, map[string]map[uint64]SeriesPoint{"cpu": {0xfeedface12345678: {T: at(60).UnixNano(), V: 40}, 7: {T: at(61).UnixNano(), V: 80}}}},
		{"nodes", s.Nodes, map[string]string{"n1": "10.0.0.1:7000", "n2": "10.0.0.2:7000"}},
		{"intents", s.Intents, uint64(2)},
		{"tokens", slices.Sorted(mapsKeys(s.Tokens)), []string{"ci"}},
		{"token ci", s.Tokens["ci"], Token{Name: "ci", Role: "write", Hash: s.Tokens["ci"].Hash, Rate: 5, Burst: 10, Origin: OriginAPI, CreatedAt: at(50)}},
		{"audit ids", auditField(s.Audit, func(a AuditEntry) any { return a.ID }), []any{uint64(3), uint64(4), uint64(18), uint64(19), uint64(20)}},
		{"audit outcomes", auditField(s.Audit, func(a AuditEntry) any { return a.Outcome }), []any{OK, PreconditionFailed, OK, OK, NotFound}},
		{"audit relayed status", auditField(s.Audit, func(a AuditEntry) any { return [2]any{a.Status, a.Code} }),
			[]any{[2]any{0, ""}, [2]any{0, ""}, [2]any{403, "forbidden"}, [2]any{0, ""}, [2]any{0, ""}}},
		{"audit versions", auditField(s.Audit, func(a AuditEntry) any { return [2]uint64{a.OldVersion, a.NewVersion} }),
			[]any{[2]uint64{0, 3}, [2]uint64{3, 3}, [2]uint64{0, 0}, [2]uint64{6, 0}, [2]uint64{0, 0}}},
		{"audit forwarded", s.Audit[0].ForwardedBy + " " + s.Audit[0].Via, "n2 10.0.0.2:7000"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %#v, want %#v", c.name, c.got, c.want)
		}
	}
	// Windows: each restored window re-encodes to the very JSON the old
	// code wrote.
	var doc struct {
		Policies map[string]struct {
			Windows map[string]json.RawMessage `json:"windows"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for id, p := range doc.Policies {
		for m, want := range p.Windows {
			got, err := json.Marshal(s.Policies[id].Windows[m])
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("window %s/%s differs from the legacy one (%v)", id, m, err)
			}
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d windows in the fixture, want 3 (web rps, queue cpu and backlog)", n)
	}
	if _, vals := queue.Windows["cpu"].Values(at(100)); vals[len(vals)-1] != 60 {
		t.Errorf("queue cpu bucket: %v, want the mean 60 of 40 and 80", vals[len(vals)-2:])
	}
}

func auditField(es []AuditEntry, f func(AuditEntry) any) []any {
	var out []any
	for _, e := range es {
		out = append(out, f(e))
	}
	return out
}

// TestLegacyFloodSnapshotContent: the flood rules' state as the old code
// left it: folded refusals with their counts, the kept privileged changes
// apart, and policy writes' statuses turned into outcomes.
func TestLegacyFloodSnapshotContent(t *testing.T) {
	s, _ := readLegacySnapshotOf(t, legacyFloodDir)
	at := func(sec int64) time.Time { return time.Unix(1_780_000_000+sec, 0).UTC() }
	type row struct {
		ID      uint64
		Outcome Outcome
		Status  int
		Count   int
		Last    time.Time
	}
	rows := func(es []AuditEntry) []row {
		var out []row
		for _, e := range es {
			out = append(out, row{e.ID, e.Outcome, e.Status, e.Count, e.Last})
		}
		return out
	}
	wantMain := []row{{1, OK, 0, 0, time.Time{}}, {2, PreconditionFailed, 0, 2, at(3)}, {4, OK, 403, 2, at(5)},
		{8, OK, 403, 0, time.Time{}}, {9, OK, 0, 0, time.Time{}}, {10, OK, 403, 0, time.Time{}}}
	wantKept := []row{{6, OK, 201, 0, time.Time{}}, {7, OK, 204, 0, time.Time{}}}
	if got := rows(s.Audit); !reflect.DeepEqual(got, wantMain) {
		t.Errorf("main audit log\n%+v, want\n%+v", got, wantMain)
	}
	if got := rows(s.AuditKept); !reflect.DeepEqual(got, wantKept) {
		t.Errorf("kept audit log\n%+v, want\n%+v", got, wantKept)
	}
}

// TestLegacyEncodingIsTheOldCodes: writing version 1 (the rolling-upgrade
// mode) gives, byte for byte, the entries and snapshot the old code wrote:
// from the decoded entries, from the restored snapshot, and from the state
// the new code builds by replaying the old log. An old server reads them
// as its own.
func TestLegacyEncodingIsTheOldCodes(t *testing.T) {
	for dir := range legacyDirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			entries := legacyEntriesOf(t, dir)
			for i, data := range entries {
				c, err := Decode(data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := EncodeVersion(c, VersionJSON)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("entry %d (%s):\nold %s\nnew %s", i+1, c.Type(), data[2:], got[2:])
				}
			}
			fromSnapshot, raw := readLegacySnapshotOf(t, dir)
			for name, s := range map[string]*State{"restored": fromSnapshot, "replayed": replay(t, entries)} {
				var b bytes.Buffer
				if err := s.WriteLegacySnapshot(&b); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b.Bytes(), raw) {
					t.Errorf("%s state: the version-1 snapshot differs from the old code's:\nold %s\nnew %s", name, raw, b.Bytes())
				}
			}
		})
	}
	if _, err := EncodeVersion(RegisterNode{}, CurrentVersion+1); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("encoding version %d: %v", CurrentVersion+1, err)
	}
}
