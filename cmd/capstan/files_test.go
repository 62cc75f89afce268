package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileLimited: a file is read whole up to the limit and refused
// past it, whatever its size against the buffer's first guess.
func TestReadFileLimited(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		size    int
		limit   int64
		wantErr string
	}{
		{"empty", 0, 10, ""},
		{"small", 5, 10, ""},
		{"exactly the limit", 10, 10, ""},
		{"one byte over", 11, 10, "larger than the 10-byte limit"},
		{"far over", 5000, 10, "larger than the 10-byte limit"},
		{"larger than a first read", 3*bytes.MinRead + 7, 1 << 20, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readFileLimited(path, tc.limit)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want the file's %d", len(got), len(want))
			}
		})
	}
	if _, err := readFileLimited(filepath.Join(dir, "missing"), 10); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v, want a not-exist error", err)
	}
}

// TestReadFileLimitedSizesItsBuffer: a file is read into one buffer of its
// size, not one grown (and copied) as the reads come in.
func TestReadFileLimitedSizesItsBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, bytes.Repeat([]byte("1704067200,500.000\n"), 1<<15), 0o644); err != nil {
		t.Fatal(err)
	}
	var size int
	allocs := testing.AllocsPerRun(20, func() {
		data, err := readFileLimited(path, maxTraceFile)
		if err != nil {
			t.Fatal(err)
		}
		size = len(data)
	})
	if size != 19<<15 {
		t.Fatalf("read %d bytes, want %d", size, 19<<15)
	}
	// os.Open and Stat allocate a few small objects (6; 7 under the race
	// detector); growing a buffer from 512 bytes to 600 KB adds about
	// twenty more (27 before).
	if allocs > 10 {
		t.Fatalf("%v allocations per read, want at most 10", allocs)
	}
}

// BenchmarkReadFileLimited reads a 16-day 1-minute trace's worth of CSV
// (23,040 rows, about 440 KB), as simulate reads its --trace.
func BenchmarkReadFileLimited(b *testing.B) {
	path := filepath.Join(b.TempDir(), "trace.csv")
	if err := os.WriteFile(path, bytes.Repeat([]byte("1704067200,500.000\n"), 23040), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readFileLimited(path, maxTraceFile); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteToWritesOver: writeTo writes an existing file over in place
// instead of emptying it at the open (it still holds its old length while
// the new contents are written), and leaves exactly what os.Create and a
// write would: the new contents whatever the file held before, after a
// failed write what reached the file, and the errors os.Create gives.
func TestWriteToWritesOver(t *testing.T) {
	long := strings.Repeat("old row, longer than the new contents\n", 2000)
	newText := strings.Repeat("new,1\n", 3000) // 18,000 bytes
	tests := []struct {
		name, before string // before: "" for no file
		fail         bool   // the write fails after its first 10,000 bytes
		want         string
	}{
		{"no file", "", false, newText},
		{"a longer file", long, false, newText},
		{"a shorter file", "x\n", false, newText},
		{"the same length", strings.Repeat("o", len(newText)), false, newText},
		{"a failed write over a longer file", long, true, newText[:10000]},
		{"a failed write, no file", "", true, newText[:10000]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.csv")
			if tc.before != "" {
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			errWrite := errors.New("the write failed")
			err := writeTo(path, nil, func(w io.Writer) error {
				fi, err := os.Stat(path)
				if err != nil {
					return err
				}
				if fi.Size() != int64(len(tc.before)) {
					t.Errorf("the file holds %d bytes as the writing starts, want its old %d", fi.Size(), len(tc.before))
				}
				if tc.fail {
					if _, err := io.WriteString(w, newText[:10000]); err != nil {
						return err
					}
					return errWrite
				}
				_, err = io.WriteString(w, newText)
				return err
			})
			if tc.fail != errors.Is(err, errWrite) || !tc.fail && err != nil {
				t.Fatalf("writeTo: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("the file holds %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
	// A file that is not a regular one is written, not cut.
	if err := writeTo(os.DevNull, nil, func(w io.Writer) error { _, err := io.WriteString(w, newText); return err }); err != nil {
		t.Fatalf("%s: %v", os.DevNull, err)
	}
	// The errors are os.Create's: a directory, a missing directory.
	dir := t.TempDir()
	for _, path := range []string{dir, filepath.Join(dir, "missing", "out.csv")} {
		_, want := os.Create(path)
		err := writeTo(path, nil, func(io.Writer) error { return nil })
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%s: %v, want os.Create's %v", path, err, want)
		}
	}
}
