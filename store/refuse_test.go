package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestDecodeRefusesWhatItDoesNotKnow: unknown types and versions, and
// payloads that do not decode exactly, are refused with ErrUnknownCommand
// and no command.
func TestDecodeRefusesWhatItDoesNotKnow(t *testing.T) {
	good, err := Encode(RegisterNode{ID: "n1", HTTPAddr: "10.0.0.1:7000"})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile(filepath.Join(legacyDir, "log", "03-put-policy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// A version-6 decision bound by the budget, relabelled version 5,
	// whose servers do not know that bound.
	ev := filled[Evaluated](t)
	ev.Record.Bound = policy.LimitBudget
	budgetIn5, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	budgetIn5[1] = VersionGroupAge
	// A version-7 entry of several evaluations, relabelled version 6,
	// which had no such command.
	batchIn6, err := Encode(Evaluations{Items: []Evaluated{{Policy: "web", PolicyVersion: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	batchIn6[1] = VersionBudget
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "entry of 0 bytes"},
		{"type only", []byte{byte(CmdPutPolicy)}, "entry of 1 bytes"},
		{"unknown type", []byte{99, CurrentVersion}, "type 99"},
		{"unassigned type between known ones", []byte{15, CurrentVersion}, "type 15"},
		{"unknown version", append([]byte{good[0], CurrentVersion + 1}, good[2:]...), "version " + strconv.Itoa(int(CurrentVersion)+1)},
		{"version 0", append([]byte{good[0], 0}, good[2:]...), "version 0"},
		{"truncated binary", good[:len(good)-1], "register-node version " + strconv.Itoa(int(CurrentVersion))},
		{"evaluations in version 6", batchIn6, "evaluations version 6 (this command exists since version 7)"},
		{"budget bound in version 5", budgetIn5, "limit budget in version 5"},
		{"trailing bytes", append(append([]byte{}, good...), 0), "trailing bytes"},
		{"binary payload labelled JSON", append([]byte{good[0], VersionJSON}, good[2:]...), "json"},
		{"JSON payload labelled binary", append([]byte{legacy[0], VersionBinary}, legacy[2:]...), "put-policy version 2"},
		{"truncated JSON", legacy[:len(legacy)-3], "json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode(tc.data)
			if !errors.Is(err, ErrUnknownCommand) || c != nil {
				t.Fatalf("Decode: %v, %v; want ErrUnknownCommand and no command", c, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestReadSnapshotRefusesWhatItDoesNotKnow: an unknown version, garbage,
// every truncation and any flipped byte of a binary snapshot are refused
// with ErrUnknownSnapshot and no state.
func TestReadSnapshotRefusesWhatItDoesNotKnow(t *testing.T) {
	fromLegacy, _ := readLegacySnapshot(t)
	good := snapshotBytes(t, fromLegacy)
	tests := map[string][]byte{
		"empty":                         nil,
		"garbage":                       []byte("not a snapshot"),
		"unknown version":               append([]byte(snapshotMagic+string(rune(SnapshotVersion+1))), good[len(snapshotMagic)+1:]...),
		"version 1 in the binary frame": append([]byte(snapshotMagic+"\x01"), good[len(snapshotMagic)+1:]...),
		"trailing bytes":                append(append([]byte{}, good...), 0),
		"bad JSON":                      []byte(`{"policies": {"web": 1}}`),
		"truncated JSON":                []byte(`{"policies": {`),
	}
	for i := 0; i < len(good); i++ {
		tests["truncated at "+itoa(i)] = good[:i]
		flipped := append([]byte{}, good...)
		flipped[i] ^= 0x20
		tests["byte "+itoa(i)+" flipped"] = flipped
	}
	for name, data := range tests {
		s, err := ReadSnapshot(bytes.NewReader(data))
		if !errors.Is(err, ErrUnknownSnapshot) || s != nil {
			t.Errorf("%s: %v; want ErrUnknownSnapshot and no state", name, err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzDecode: arbitrary entries never panic; whatever decodes re-encodes
// and decodes to the same command.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/log/*.bin")
	// A decision with every field of the current version set.
	if b, err := Encode(filled[Evaluated](f)); err == nil {
		f.Add(b)
	}
	// Several evaluations in one entry, one with a pacing state.
	withPacing := filled[Evaluated](f)
	withPacing.State = nil
	if b, err := Encode(Evaluations{Items: []Evaluated{filled[Evaluated](f), withPacing}}); err == nil {
		f.Add(b)
	}
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
		if c, err := Decode(b); err == nil {
			if nb, err := Encode(c); err == nil {
				f.Add(nb)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		b, err := Encode(c)
		if err != nil {
			return // a legacy policy that does not encode (e.g. NaN) cannot be re-encoded
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("a re-encoded %s does not decode: %v", c.Type(), err)
		}
		b2, _ := Encode(again)
		if !bytes.Equal(b, b2) {
			t.Fatalf("a re-encoded %s is not stable", c.Type())
		}
		// The version-1 encoding (the rolling-upgrade mode) of whatever
		// decodes decodes too and, once written, is stable. (The first
		// writing may change a string: JSON replaces invalid UTF-8, as the
		// old code did.)
		j1, err := EncodeVersion(c, VersionJSON)
		if err != nil {
			return // a value JSON cannot hold (NaN) that binary can
		}
		var j [3][]byte
		j[0] = j1
		for i := 1; i < 3; i++ {
			ci, err := Decode(j[i-1])
			if err != nil {
				t.Fatalf("a %s written in version 1 does not decode: %v\n%s", c.Type(), err, j[i-1])
			}
			if j[i], err = EncodeVersion(ci, VersionJSON); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(j[1], j[2]) {
			t.Fatalf("a %s in version 1 is not stable:\n%s\n%s", c.Type(), j[1], j[2])
		}
	})
}

// FuzzReadSnapshot: arbitrary snapshots never panic; whatever restores
// writes a snapshot that restores to the same bytes.
func FuzzReadSnapshot(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join(legacyDir, "snapshot.json"))
	f.Add(raw)
	for _, dir := range []string{binaryV2Dir, binaryV3Dir, binaryV8Dir, binaryV12Dir, binaryV13Dir} {
		b, _ := os.ReadFile(filepath.Join(dir, "snapshot.bin"))
		f.Add(b)
	}
	// Compact windows (snapshot version 9): the version-8 log's state
	// given a compact sample entry.
	if entries, err := filepath.Glob(filepath.Join(binaryV8Dir, "log", "*.bin")); err == nil {
		slices.Sort(entries)
		s := New()
		for i, file := range entries {
			b, _ := os.ReadFile(file)
			if c, err := Decode(b); err == nil {
				s.Apply(uint64(i+1), c, Options{})
			}
		}
		s.Apply(uint64(len(entries)+1), Samples{Samples: []Sample{{Policy: "fine", Metric: "rps", Time: time.Date(2026, 5, 28, 19, 31, 0, 0, time.UTC), Value: 0.1}}}, Options{})
		var b bytes.Buffer
		if s.WriteSnapshot(&b) == nil {
			f.Add(b.Bytes())
		}
	}
	if s, err := ReadSnapshot(bytes.NewReader(raw)); err == nil {
		var b bytes.Buffer
		_ = s.WriteSnapshot(&b)
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSnapshot(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := s.WriteSnapshot(&b); err != nil {
			return // e.g. a legacy policy holding a value JSON cannot encode
		}
		s2, err := ReadSnapshot(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("a written snapshot does not restore: %v", err)
		}
		var b2 bytes.Buffer
		if err := s2.WriteSnapshot(&b2); err != nil || !bytes.Equal(b.Bytes(), b2.Bytes()) {
			t.Fatalf("a restored snapshot writes other bytes (%v)", err)
		}
	})
}
