package api

import (
	"fmt"
	"testing"
	"time"
)

func TestFailureLogRateLimits(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	type ev struct {
		token, addr string
		status, sec int
		log         bool
		count       int
	}
	for _, tc := range []struct {
		name   string
		events []ev
	}{
		{"the first is logged, the rest of the period counted", []ev{
			{"", "1.2.3.4:1", 401, 0, true, 1},
			{"", "1.2.3.4:2", 401, 1, false, 0},
			{"", "1.2.3.4:3", 401, 9, false, 0},
			{"", "1.2.3.4:4", 401, 10, true, 3},
			{"", "1.2.3.4:5", 401, 11, false, 0},
		}},
		{"sources, tokens and statuses are counted apart", []ev{
			{"", "1.2.3.4:1", 401, 0, true, 1},
			{"", "5.6.7.8:1", 401, 0, true, 1},
			{"ci", "1.2.3.4:1", 429, 0, true, 1},
			{"ci", "1.2.3.4:1", 401, 0, true, 1},
			{"ci", "1.2.3.4:9", 429, 1, false, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l failureLog
			for i, e := range tc.events {
				log, n := l.note(e.token, e.addr, e.status, t0.Add(time.Duration(e.sec)*time.Second))
				if log != e.log || n != e.count {
					t.Fatalf("event %d: log=%v count=%d, want %v %d", i, log, n, e.log, e.count)
				}
			}
		})
	}
}

// TestFailureLogBoundsItsMemory: a flood from ever new addresses keeps at
// most maxFailureKeys keys, and still logs at most one line a period for
// the overflow.
func TestFailureLogBoundsItsMemory(t *testing.T) {
	var l failureLog
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	lines := 0
	for i := range 10 * maxFailureKeys {
		if log, _ := l.note("", fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), 401, t0); log {
			lines++
		}
	}
	if len(l.keys) > maxFailureKeys+1 || lines > maxFailureKeys+1 {
		t.Fatalf("%d keys, %d lines; want at most %d keys (one shared by the overflow) and %d lines", len(l.keys), lines, maxFailureKeys+1, maxFailureKeys+1)
	}
	// A period later the quiet sources are forgotten: a new one has a key
	// of its own again.
	if log, n := l.note("", "192.0.2.1:1", 401, t0.Add(failureLogEvery)); !log || n != 1 {
		t.Fatalf("a new source a period later: log=%v count=%d, want its own first line", log, n)
	}
	if _, ok := l.keys[failureKey{host: "192.0.2.1", status: 401}]; !ok {
		t.Fatal("the new source shares the overflow key after the quiet ones were due to be forgotten")
	}
}
