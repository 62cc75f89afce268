package main

import (
	"strings"
	"testing"
)

// TestLogBytesFlags: --snapshot-bytes and --trailing-bytes take 0 or a size as
// GOMEMLIMIT writes it, its default prints as it is read back, and
// anything else is refused before the agent starts, naming the flag and
// the rule.
func TestLogBytesFlags(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"0", 0, false},
		{"64MiB", 64 << 20, false},
		{"256MiB", 256 << 20, false},
		{"1GiB", 1 << 30, false},
		{"1000", 1000, false},
		{"512KiB", 512 << 10, false},
		{"", 0, true},
		{"-1MiB", 0, true},
		{"64MB", 0, true},
		{"1.5GiB", 0, true},
		{"off", 0, true},
	}
	for _, tc := range tests {
		got, err := parseLogBytes("--snapshot-bytes", tc.in)
		switch {
		case tc.err && (err == nil || !strings.Contains(err.Error(), "--snapshot-bytes: must be 0 or a positive size")):
			t.Errorf("%q: %d, %v; want the flag's error", tc.in, got, err)
		case !tc.err && (err != nil || got != tc.want):
			t.Errorf("%q: %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, n := range []uint64{0, 1000, 512 << 10, 64 << 20, 256 << 20, 3 << 30, 1 << 40, 1<<20 + 1} {
		if got, err := parseLogBytes("--trailing-bytes", formatSize(n)); err != nil || got != n {
			t.Errorf("formatSize(%d) = %q, read back as %d, %v", n, formatSize(n), got, err)
		}
	}
	for _, flag := range []string{"--snapshot-bytes", "--trailing-bytes"} {
		if err := runAgentArgs(t, flag, "64MB"); err == nil || !strings.Contains(err.Error(), flag+`: must be 0 or a positive size such as 64MiB (bytes, B, KiB, MiB, GiB or TiB; got "64MB")`) {
			t.Fatalf("capstan agent %s 64MB: %v", flag, err)
		}
	}
}
