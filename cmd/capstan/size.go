package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Sizes in flags (--memory-limit, --snapshot-bytes, --trailing-bytes) are
// written as GOMEMLIMIT writes them, so an operator learns one form.

// sizeUnits are the binary units a size may carry, largest first; a
// lookup table, never written.
var sizeUnits = [...]struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseSize reads a positive size as GOMEMLIMIT writes it: bytes, or a
// whole number with B, KiB, MiB, GiB or TiB. ok is false for anything
// else; callers name their flag and rule.
func parseSize(s string) (n int64, ok bool) {
	num, shift := s, uint(0)
	for _, u := range sizeUnits {
		if v, cut := strings.CutSuffix(s, u.suffix); cut {
			num, shift = v, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, false
	}
	return n << shift, true
}

// parseLogBytes reads a bound on the Raft log's bytes (--snapshot-bytes,
// --trailing-bytes): a size, or 0 for none (the entry count alone).
func parseLogBytes(flag, s string) (uint64, error) {
	if s == "0" {
		return 0, nil
	}
	n, ok := parseSize(s)
	if !ok {
		return 0, fmt.Errorf("%s: must be 0 or a positive size such as 64MiB (bytes, B, KiB, MiB, GiB or TiB; got %q)", flag, s)
	}
	return uint64(n), nil
}

// formatSize writes n as parseSize reads it, in the largest unit that
// divides it (plain bytes for 0 and for what no KiB divides).
func formatSize(n uint64) string {
	for _, u := range sizeUnits {
		if u.shift > 0 && n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
