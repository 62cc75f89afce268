package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// The agent's soft memory limit (--memory-limit). Go's collector lets the
// heap grow to about twice what is live before it collects (GOGC=100);
// a soft limit makes it collect earlier as the process nears the limit,
// so a server in a container sized for its state stays inside it. The
// price is collector CPU, which grows the closer the limit is to the live
// heap: at 1.3 times it, pushes' p99 went from 0.4 s to 1.5 s in the load
// run (BENCHMARKS.md), and a limit under the live heap makes the
// collector run all the time (the runtime caps it at about half the CPU,
// then lets the heap pass the limit). Hence no fixed default: "auto"
// takes the container's own limit.

// autoMemoryRatio is the share of a cgroup's memory limit "auto" gives the
// Go runtime: the rest is for what the runtime does not count (the mapped
// raft.db and the binary, about 100-150 MB in the load run).
const autoMemoryRatio = 0.9

// memoryLimit is a parsed --memory-limit: auto, off, or a size in bytes.
type memoryLimit struct {
	auto  bool
	bytes int64 // 0 with auto false: off
}

// parseMemoryLimit reads --memory-limit: "auto", "off", or a size as
// GOMEMLIMIT writes it (bytes, or a whole number with B, KiB, MiB, GiB or
// TiB).
func parseMemoryLimit(s string) (memoryLimit, error) {
	switch s {
	case "auto", "":
		return memoryLimit{auto: true}, nil
	case "off":
		return memoryLimit{}, nil
	}
	n, ok := parseSize(s)
	if !ok {
		return memoryLimit{}, fmt.Errorf("--memory-limit: must be auto, off, or a positive size such as 900MiB or 2GiB (bytes, B, KiB, MiB, GiB or TiB; got %q)", s)
	}
	return memoryLimit{bytes: n}, nil
}

// memoryLimitSource is where the limit the agent runs with comes from.
type memoryLimitSource struct {
	// env is the GOMEMLIMIT environment variable ("" when unset).
	env string
	// cgroup is the memory limit of the process's cgroup
	// (memlimit.FromCgroup: memlimit.ErrNoLimit when it has none).
	cgroup func() (uint64, error)
}

// resolve is the soft memory limit to set (0: leave the runtime's
// alone, which is GOMEMLIMIT's or none) and why, for the log.
func (m memoryLimit) resolve(src memoryLimitSource) (limit int64, why string) {
	switch {
	case !m.auto && m.bytes == 0:
		return math.MaxInt64, "off (--memory-limit off)"
	case !m.auto:
		return m.bytes, "--memory-limit"
	case src.env != "":
		return 0, "GOMEMLIMIT " + src.env
	}
	n, err := src.cgroup()
	switch {
	case err == nil && n > 0:
		return int64(float64(min(n, math.MaxInt64)) * autoMemoryRatio), fmt.Sprintf("%.0f%% of the cgroup's memory limit %d", 100*autoMemoryRatio, n)
	case err == nil || errors.Is(err, memlimit.ErrNoLimit) || errors.Is(err, memlimit.ErrNoCgroup) || errors.Is(err, memlimit.ErrCgroupsNotSupported):
		return 0, "none (no cgroup memory limit)"
	}
	return 0, fmt.Sprintf("none (cgroup memory limit unreadable: %v)", err)
}

// defaultGCPercent is the collector's goal the agent sets unless GOGC or
// --gc-percent says otherwise: the heap may grow 50% past what the last
// collection found live before the next one, not Go's 100%. A server's
// heap is mostly its long-lived state, so the collector's room above it
// is most of the difference between its live heap and its RSS: a leader
// of 10,000 week-old policies lives on about 430 MB, which Go's default
// lets reach about 860 MB (run N in BENCHMARKS.md). Collections come
// twice as often for that; the leader spends about a fifth of its CPU
// collecting, so it costs a few percent of a core. It was 60 until the
// state a model keeps grew (scores by the time of day, weekly
// adjustments), and a 30-minute load run at 60 peaked at 1,052 MiB on the
// leader (run S6), over the GiB; at 50, run S7 (BENCHMARKS.md).
const defaultGCPercent = 50

// gcPercent is the collector goal to set (0: leave the runtime's, which
// is GOGC's) and why, for --gc-percent p (0: not given) and the GOGC
// environment variable env.
func gcPercent(p int, env string) (int, string, error) {
	switch {
	case p < 0 || p > 1000:
		return 0, "", fmt.Errorf("--gc-percent: must be 1 to 1000, or 0 for GOGC or the default %d (got %d)", defaultGCPercent, p)
	case p > 0:
		return p, "--gc-percent", nil
	case env != "":
		return 0, "GOGC " + env, nil
	}
	return defaultGCPercent, "the default", nil
}
