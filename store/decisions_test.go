package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// decisionHistories are the histories decisionsState commits: limits
// below, at and above a block, appends short of the limit, at it and
// well past it (the first block trimmed part way and whole blocks
// dropped), none.
var decisionHistories = []struct {
	id             string
	limit, appends int
}{
	{"week", 100, 250},
	{"twenty", 20, 37},
	{"three", 3, 5},
	{"block", 100, decisionBlock},
	{"block-and-one", 100, decisionBlock + 1},
	{"limit-a-block", decisionBlock, 3*decisionBlock + 5},
	{"none", 100, 0},
}

// decisionsState commits decisionHistories' records (weekRecord's, which
// vary as a real policy's do) to one-metric policies, each with its own
// limit.
func decisionsState(t *testing.T) *State {
	t.Helper()
	s := New()
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	index := uint64(0)
	for i, h := range decisionHistories {
		p, err := policy.Parse([]byte(`{"id":"` + h.id + `","target":{"provider":"fake","group":"` + h.id + `"},"min":2,"max":50,` +
			`"metrics":[{"name":"rps","type":"request_rate","target":100}]}`))
		if err != nil {
			t.Fatal(err)
		}
		index++
		s.Apply(index, PutPolicy{Policy: p, At: at}, Options{})
		for j := range h.appends {
			r := weekRecord(i, j, at)
			index++
			s.Apply(index, Evaluated{Policy: h.id, PolicyVersion: s.Policies[h.id].Record.Version, State: []byte{1, 2, 3},
				Record: &r, Desired: r.Desired, Ready: 12, At: r.Time}, Options{MaxDecisions: h.limit})
		}
	}
	return s
}

// TestDecisionsRoundTrip: whatever is appended, past the limit or not,
// reads back as the newest limit records (Len, At, Records), as
// policy.Records equal to those appended; so does the history restored
// from a snapshot, and appending to the restored one goes on alike.
func TestDecisionsRoundTrip(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		limit, appends int
	}{
		{"empty", 100, 0},
		{"one", 100, 1},
		{"short of a block", 100, decisionBlock - 1},
		{"a block", 100, decisionBlock},
		{"a block and one", 100, decisionBlock + 1},
		{"to the limit", 100, 100},
		{"one past the limit", 100, 101},
		{"a week past the limit", 100, 1000},
		{"limit of one", 1, 40},
		{"limit under a block", 3, 50},
		{"limit of a block", decisionBlock, 70},
		{"limit a block and one", decisionBlock + 1, 70},
		{"limit of two blocks", 2 * decisionBlock, 2*decisionBlock + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decisions
			var all []policy.Record
			for j := range tc.appends {
				r := weekRecord(7, j, at)
				all = append(all, r)
				d = d.appended(r, tc.limit)
				// After every append, not only the last.
				want := all[max(0, len(all)-tc.limit):]
				checkDecisions(t, fmt.Sprintf("after %d", j+1), d, want)
			}
			want := all[max(0, len(all)-tc.limit):]
			checkDecisions(t, "end", d, want)

			e := &enc{v: SnapshotVersion}
			e.decisions(d)
			back := (&dec{b: e.b, v: SnapshotVersion}).decisions()
			checkDecisions(t, "restored", back, want)
			for j := range 2*decisionBlock + 3 {
				r := weekRecord(7, tc.appends+j, at)
				all = append(all, r)
				back = back.appended(r, tc.limit)
			}
			checkDecisions(t, "restored and appended", back, all[max(0, len(all)-tc.limit):])
		})
	}
}

// checkDecisions fails unless d reads back as want every way it is read.
func checkDecisions(t *testing.T, when string, d Decisions, want []policy.Record) {
	t.Helper()
	if d.Len() != len(want) {
		t.Fatalf("%s: Len %d, want %d", when, d.Len(), len(want))
	}
	got := d.Records()
	if len(want) == 0 {
		if got != nil {
			t.Fatalf("%s: Records %v, want nil", when, got)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: Records differ from those appended:\ngot  %+v\nwant %+v", when, got, want)
	}
	for i := range want {
		if r := d.At(i); !reflect.DeepEqual(r, want[i]) {
			t.Fatalf("%s: At(%d) = %+v, want %+v", when, i, r, want[i])
		}
	}
}

// TestDecisionsShareable: a Decisions value does not change when another
// is made from it: a View's histories stay as they were while the state
// it was taken from appends past its limit, and two appends to one value
// (as two states sharing it may make) leave each other's records alone.
func TestDecisionsShareable(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	t.Run("view", func(t *testing.T) {
		s := decisionsState(t)
		v := s.View()
		want := map[string][]policy.Record{}
		for id, p := range v.Policies {
			want[id] = p.Decisions.Records()
		}
		index := uint64(1 << 20)
		for i, h := range decisionHistories {
			for j := range 2*decisionBlock + 1 {
				r := weekRecord(i, h.appends+j, at)
				index++
				s.Apply(index, Evaluated{Policy: h.id, PolicyVersion: s.Policies[h.id].Record.Version, State: []byte{1, 2, 3},
					Record: &r, Desired: r.Desired, Ready: 12, At: r.Time}, Options{MaxDecisions: h.limit})
			}
		}
		for id, p := range v.Policies {
			checkDecisions(t, "view of "+id, p.Decisions, want[id])
			if reflect.DeepEqual(s.Policies[id].Decisions.Records(), want[id]) {
				t.Fatalf("%s: the state's records did not change", id)
			}
		}
		v.Release()
	})
	t.Run("two appends to one value", func(t *testing.T) {
		// 4*decisionBlock-1: the next append seals a fourth block, in
		// room the sealed slice has (three in four) unless it is copied.
		for _, n := range []int{0, 1, decisionBlock - 2, decisionBlock - 1, decisionBlock, 3*decisionBlock + 4, 4*decisionBlock - 1} {
			var base Decisions
			var recs []policy.Record
			for j := range n {
				r := weekRecord(3, j, at)
				recs = append(recs, r)
				base = base.appended(r, 100)
			}
			a, b := weekRecord(4, n, at), weekRecord(5, n, at)
			da := base.appended(a, 100)
			db := base.appended(b, 100)
			checkDecisions(t, fmt.Sprintf("%d then a", n), da, append(recs[:n:n], a))
			checkDecisions(t, fmt.Sprintf("%d then b", n), db, append(recs[:n:n], b))
			checkDecisions(t, fmt.Sprintf("%d", n), base, recs)
		}
	})
}

// decisionsFixture is the snapshot of decisionsState written by the code
// before the histories were compressed (one slice a record, commit
// f6d48b0), in SnapshotVersion and in VersionDecisions.
const decisionsFixture = "testdata/decisions-week"

// TestDecisionsSnapshotBytesUnchanged: a snapshot of histories kept in
// compressed blocks, some trimmed part way, has the bytes the code that
// kept one slice a record wrote for the same state, in the current
// version and in an older one (whose records are decoded and written
// again); and reading it back and writing it again gives them too.
func TestDecisionsSnapshotBytesUnchanged(t *testing.T) {
	s := decisionsState(t)
	for _, v := range []uint8{SnapshotVersion, VersionDecisions} {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(decisionsFixture, fmt.Sprintf("snapshot-v%d.bin", v)))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := s.WriteSnapshotVersion(&got, v); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("snapshot of %d bytes differs from the fixture's %d", got.Len(), len(want))
			}
			back, err := ReadSnapshot(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := back.WriteSnapshotVersion(&again, v); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), want) {
				t.Fatal("the fixture read back writes other bytes")
			}
		})
	}
}

// TestDecisionsWeekInLessMemory: a week of records (100 a policy, varied
// as a real policy's) holds under 200 bytes a record of heap; one slice a
// record held about 445 (BenchmarkMemory).
func TestDecisionsWeekInLessMemory(t *testing.T) {
	const policies, records = 300, 100
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	before := liveHeap()
	kept := make([]Decisions, policies)
	for i := range kept {
		for j := range 2 * records { // past the limit: trimmed too
			kept[i] = kept[i].appended(weekRecord(i, j, at), records)
		}
	}
	held := float64(liveHeap()-before) / (policies * records)
	runtime.KeepAlive(kept)
	if held >= 200 {
		t.Fatalf("%.0f bytes a record, want under 200", held)
	}
	t.Logf("%.0f bytes a record", held)
}
