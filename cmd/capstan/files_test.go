package main

import (
	"bytes"
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
	// os.Open and Stat allocate a few small objects; growing a buffer from
	// 512 bytes to 600 KB would add about a dozen more.
	if allocs > 6 {
		t.Fatalf("%v allocations per read, want at most 6", allocs)
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
