package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// TestParseMemoryLimit: --memory-limit takes auto, off, or a size as
// GOMEMLIMIT writes it, and refuses anything else naming the flag and
// the rule.
func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in   string
		want memoryLimit
		err  bool
	}{
		{"auto", memoryLimit{auto: true}, false},
		{"", memoryLimit{auto: true}, false},
		{"off", memoryLimit{}, false},
		{"900MiB", memoryLimit{bytes: 900 << 20}, false},
		{"2GiB", memoryLimit{bytes: 2 << 30}, false},
		{"1TiB", memoryLimit{bytes: 1 << 40}, false},
		{"512KiB", memoryLimit{bytes: 512 << 10}, false},
		{"1000B", memoryLimit{bytes: 1000}, false},
		{"1073741824", memoryLimit{bytes: 1 << 30}, false},
		{"0", memoryLimit{}, true},
		{"-1GiB", memoryLimit{}, true},
		{"1.5GiB", memoryLimit{}, true},
		{"1GB", memoryLimit{}, true},
		{"GiB", memoryLimit{}, true},
		{"9000000TiB", memoryLimit{}, true},
		{"Auto", memoryLimit{}, true},
	}
	for _, tc := range tests {
		got, err := parseMemoryLimit(tc.in)
		switch {
		case tc.err && (err == nil || !strings.Contains(err.Error(), "--memory-limit: must be auto, off, or a positive size")):
			t.Errorf("%q: %+v, %v; want the flag's error", tc.in, got, err)
		case !tc.err && (err != nil || got != tc.want):
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	// Through the agent command: refused before anything starts.
	if err := runAgentArgs(t, "--memory-limit", "1GB"); err == nil || !strings.Contains(err.Error(), `--memory-limit: must be auto, off, or a positive size such as 900MiB or 2GiB (bytes, B, KiB, MiB, GiB or TiB; got "1GB")`) {
		t.Fatalf("capstan agent --memory-limit 1GB: %v", err)
	}
}

// TestMemoryLimitResolve: what the agent sets for each --memory-limit,
// GOMEMLIMIT and cgroup: a size is set as given, off lifts any limit,
// and auto leaves GOMEMLIMIT's in place, else takes 90% of the cgroup's
// limit, else sets none.
func TestMemoryLimitResolve(t *testing.T) {
	cgroup := func(n uint64, err error) func() (uint64, error) { return func() (uint64, error) { return n, err } }
	tests := []struct {
		name  string
		flag  string
		src   memoryLimitSource
		want  int64
		about string
	}{
		{"a size", "900MiB", memoryLimitSource{env: "2GiB", cgroup: cgroup(4<<30, nil)}, 900 << 20, "--memory-limit"},
		{"off", "off", memoryLimitSource{env: "2GiB", cgroup: cgroup(4<<30, nil)}, math.MaxInt64, "off"},
		{"auto, GOMEMLIMIT set", "auto", memoryLimitSource{env: "2GiB", cgroup: cgroup(4<<30, nil)}, 0, "GOMEMLIMIT 2GiB"},
		{"auto, a cgroup limit", "auto", memoryLimitSource{cgroup: cgroup(1<<30, nil)}, 966_367_641, "90% of the cgroup's memory limit 1073741824"},
		{"auto, no cgroup limit", "auto", memoryLimitSource{cgroup: cgroup(0, memlimit.ErrNoLimit)}, 0, "none (no cgroup memory limit)"},
		{"auto, no cgroup", "auto", memoryLimitSource{cgroup: cgroup(0, memlimit.ErrNoCgroup)}, 0, "none (no cgroup memory limit)"},
		{"auto, cgroup unreadable", "auto", memoryLimitSource{cgroup: cgroup(0, errors.New("permission denied"))}, 0, "unreadable: permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMemoryLimit(tc.flag)
			if err != nil {
				t.Fatal(err)
			}
			got, why := m.resolve(tc.src)
			if got != tc.want || !strings.Contains(why, tc.about) {
				t.Fatalf("%d (%s); want %d (%s)", got, why, tc.want, tc.about)
			}
		})
	}
}

// FuzzParseMemoryLimit: any input parses to auto, off or a positive size,
// or is refused naming the flag; a size written back in bytes parses to
// itself.
func FuzzParseMemoryLimit(f *testing.F) {
	for _, s := range []string{"auto", "off", "900MiB", "2GiB", "1000B", "1073741824", "-1", "9000000TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMemoryLimit(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--memory-limit: ") {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if m.auto || m.bytes == 0 {
			return
		}
		if m.bytes < 0 {
			t.Fatalf("%q: %d bytes", s, m.bytes)
		}
		again, err := parseMemoryLimit(strconv.FormatInt(m.bytes, 10))
		if err != nil || again != m {
			t.Fatalf("%q is %d bytes, which parses to %+v, %v", s, m.bytes, again, err)
		}
	})
}

// TestGCPercent: --gc-percent sets the collector's goal, GOGC stands when
// the flag is not given, the default is defaultGCPercent otherwise, and
// a value out of range is refused naming the flag and the rule.
func TestGCPercent(t *testing.T) {
	tests := []struct {
		flag      int
		env       string
		want      int
		why, fail string
	}{
		{0, "", defaultGCPercent, "the default", ""},
		{0, "100", 0, "GOGC 100", ""},
		{0, "off", 0, "GOGC off", ""},
		{80, "100", 80, "--gc-percent", ""},
		{1000, "", 1000, "--gc-percent", ""},
		{-1, "", 0, "", "--gc-percent: must be 1 to 1000, or 0 for GOGC or the default 50 (got -1)"},
		{1001, "", 0, "", "--gc-percent: must be 1 to 1000"},
	}
	for _, tc := range tests {
		got, why, err := gcPercent(tc.flag, tc.env)
		switch {
		case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
			t.Errorf("%d, GOGC %q: error %v, want %q", tc.flag, tc.env, err, tc.fail)
		case tc.fail == "" && (err != nil || got != tc.want || why != tc.why):
			t.Errorf("%d, GOGC %q: %d (%s), %v; want %d (%s)", tc.flag, tc.env, got, why, err, tc.want, tc.why)
		}
	}
}
