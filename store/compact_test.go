package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/window"
)

// testdata/binary-v8 holds the binary-v7 log written in VersionHistoryStep
// and four more entries: a policy with a history step, a buckets entry and
// a samples entry whose values no float32 holds (into the mean, max and
// cpu windows of three policies), and an evaluation recording the group's
// size; and snapshot.bin, the version-8 snapshot of the state they leave.
// Written by the code of entry version 8, before windows could be compact
// (entry and snapshot version 9).
const binaryV8Dir = "testdata/binary-v8"

// TestVersion8StillReplays: version-8 entries and snapshots give the same
// state, their first 25 entries the state the version-7 log gives; the
// windows are wide and hold the float64 values the old code held; each
// entry written back in version 8 has the old code's bytes, the state
// written as a version-8 snapshot is the old code's snapshot, and the log
// re-encoded in the current version replays to the same state (its
// sample entries say they are wide).
func TestVersion8StillReplays(t *testing.T) {
	fromLog, entries, snap := frozenReplay(t, binaryV8Dir, 29, VersionHistoryStep)
	v7 := legacyEntriesOfN(t, binaryV7Dir, 25)
	if !reflect.DeepEqual(replay(t, entries[:25]), replay(t, v7)) {
		t.Fatal("the version-8 log gives another state than the version-7 log")
	}
	for id, p := range fromLog.Policies {
		for m, w := range p.Windows {
			if !w.Wide() {
				t.Errorf("%s/%s: a compact window from a version-8 log", id, m)
			}
		}
	}
	// fine's newest bucket: the partial's 66.6 over 2 samples and a sample
	// of 2/3, a mean no float32 holds.
	_, v := fromLog.Policies["fine"].Windows["rps"].Values(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if want := (66.6 + 2.0/3) / 3; v[len(v)-1] != want {
		t.Fatalf("fine's newest bucket %v, want the float64 %v", v[len(v)-1], want)
	}
	if got := fromLog.Policies["fine"].Sizes; len(got) != 1 || got[0].Ready != 2 {
		t.Fatalf("fine's sizes %+v", got)
	}
	writesBackAsFrozen(t, fromLog, entries, snap, VersionHistoryStep)
}

// legacyEntriesOfN reads the n entries of a fixture's log, in order.
func legacyEntriesOfN(t *testing.T, dir string, n int) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "log", "*.bin"))
	if err != nil || len(files) != n {
		t.Fatalf("%s: %d files, %v; want %d", dir, len(files), err, n)
	}
	slices.Sort(files)
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestCompactIsVersioned: the precision of a window follows the sample
// entries that touch it: an entry of version 9 keeps them compact (each
// bucket rounded to a float32) unless it says Wide, one of versions 1 to
// 8 keeps them wide, on every node alike, converting a window at the first
// entry that says otherwise; a version-9 snapshot keeps each window's
// precision, one of version 8 holds them wide, exactly, and restores them
// wide, as the old code would; and a compact window is refused in a
// version-8 snapshot.
func TestCompactIsVersioned(t *testing.T) {
	p := testPolicy(t, "web", rps)
	at := time.Unix(1_780_000_000, 0).UTC()
	third := 1.0 / 3
	step, _ := WindowShape(p)
	samples := func(v float64, k int) Samples {
		return Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(time.Duration(k) * step), Value: v}}}
	}
	buckets := func(v float64, k int) Buckets {
		t := at.Add(time.Duration(k) * step)
		return Buckets{Partials: []MetricPartial{{Policy: "web", Metric: "rps", Step: int64(step),
			Partial: window.Partial{Bucket: window.BucketOf(t, step), Sum: v, N: 1, Max: v, Last: v, LastAt: t.UnixNano()}}}}
	}
	r32 := func(x float64) float64 { return float64(float32(x)) }
	tests := []struct {
		name     string
		versions []uint8 // of the two sample entries
		wide     []bool  // the command's Wide, before encoding
		want     []float64
		wideEnd  bool
	}{
		{"version 9: compact", []uint8{VersionCompact, VersionCompact}, []bool{false, false}, []float64{r32(third), r32(2 * third)}, false},
		{"version 9, wide", []uint8{VersionCompact, VersionCompact}, []bool{true, true}, []float64{third, 2 * third}, true},
		{"version 8: wide", []uint8{VersionHistoryStep, VersionHistoryStep}, []bool{false, false}, []float64{third, 2 * third}, true},
		{"version 1: wide", []uint8{VersionJSON, VersionJSON}, []bool{false, false}, []float64{third, 2 * third}, true},
		{"8 then 9: compacted at 9", []uint8{VersionHistoryStep, VersionCompact}, []bool{false, false}, []float64{r32(third), r32(2 * third)}, false},
		{"9 then 8: widened at 8, exactly", []uint8{VersionCompact, VersionHistoryStep}, []bool{false, false}, []float64{r32(third), 2 * third}, true},
	}
	for _, tc := range tests {
		for _, kind := range []string{"samples", "buckets"} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				s := New()
				s.Apply(1, PutPolicy{Policy: p, At: at}, Options{})
				for i, v := range tc.versions {
					var c Command = samples(float64(i+1)*third, i)
					if kind == "buckets" {
						c = buckets(float64(i+1)*third, i)
					}
					switch x := c.(type) {
					case Samples:
						x.Wide = tc.wide[i]
						c = x
					case Buckets:
						x.Wide = tc.wide[i]
						c = x
					}
					back := throughVersion(t, c, v)
					s.Apply(uint64(i+2), back, Options{})
				}
				w := s.Policies["web"].Windows["rps"]
				_, got := w.Values(at.Add(time.Hour))
				if w.Wide() != tc.wideEnd || !slices2(got[len(got)-2:], tc.want) {
					t.Fatalf("wide %v, values %v; want wide %v, %v", w.Wide(), got[len(got)-2:], tc.wideEnd, tc.want)
				}
				// Snapshots: version 9 keeps the precision, version 8
				// widens, exactly, and restores wide.
				for _, sv := range []uint8{VersionCompact, VersionHistoryStep} {
					var b bytes.Buffer
					if err := s.WriteSnapshotVersion(&b, sv); err != nil {
						t.Fatal(err)
					}
					r, err := ReadSnapshot(&b)
					if err != nil {
						t.Fatal(err)
					}
					rw := r.Policies["web"].Windows["rps"]
					_, rv := rw.Values(at.Add(time.Hour))
					if wantWide := tc.wideEnd || sv < VersionCompact; rw.Wide() != wantWide || !slices2(rv, got) {
						t.Fatalf("snapshot version %d: wide %v, values %v; want wide %v, %v", sv, rw.Wide(), rv[len(rv)-2:], wantWide, got[len(got)-2:])
					}
				}
			})
		}
	}
}

// slices2 compares values, NaN equal to NaN (an empty bucket).
func slices2(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// TestCompactWindowRefusedInVersion8: a version-8 snapshot (or older)
// holding a compact window's encoding is refused: its readers know only
// wide windows.
func TestCompactWindowRefusedInVersion8(t *testing.T) {
	s := New()
	p := testPolicy(t, "web", rps)
	at := time.Unix(1_780_000_000, 0).UTC()
	s.Apply(1, PutPolicy{Policy: p, At: at}, Options{})
	s.Apply(2, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at, Value: 0.1}}}, Options{})
	var v9, v8 bytes.Buffer
	if err := s.WriteSnapshotVersion(&v9, VersionCompact); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteSnapshotVersion(&v8, VersionHistoryStep); err != nil {
		t.Fatal(err)
	}
	// The version-9 snapshot relabelled 8: the same bytes but for the
	// version and the checksum, which is recomputed so that only the
	// window is wrong.
	b := bytes.Clone(v9.Bytes())
	b[len(snapshotMagic)] = VersionHistoryStep
	body := b[:len(b)-4]
	b = appendCRC(body)
	_, err := ReadSnapshot(bytes.NewReader(b))
	if err == nil || !strings.Contains(err.Error(), "compact window in version 8") {
		t.Fatalf("a compact window in a version-8 snapshot: %v", err)
	}
	if r, err := ReadSnapshot(&v8); err != nil || !r.Policies["web"].Windows["rps"].Wide() {
		t.Fatalf("the version-8 snapshot: %v", err)
	}
}

// appendCRC appends the snapshot checksum of body (everything before it).
func appendCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}
