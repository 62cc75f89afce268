package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sizes in flags (--memory-limit, --snapshot-bytes) are written as
// GOMEMLIMIT writes them, so an operator learns one form.

// errBadSize is parseSize's refusal; callers name their flag and rule.
var errBadSize = errors.New("not a positive size")

// parseSize reads a size as GOMEMLIMIT writes it: bytes, or a whole
// number with B, KiB, MiB, GiB or TiB.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q: %w", s, errBadSize)
	}
	return n << shift, nil
}

// parseLogBytes reads a bound on the Raft log's bytes (--snapshot-bytes,
// --trailing-bytes): a size, or 0 for none (the entry count alone).
func parseLogBytes(flag, s string) (uint64, error) {
	if s == "0" {
		return 0, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%s: must be 0 or a positive size such as 64MiB (bytes, B, KiB, MiB, GiB or TiB; got %q)", flag, s)
	}
	return uint64(n), nil
}

// formatSize writes n as parseSize reads it, in the largest binary unit
// that divides it.
func formatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
