package emukit_test

import (
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/emukit"
)

func TestLimiterBuckets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at      time.Duration // after t0
		account string
		write   bool
		want    bool
	}
	tests := []struct {
		name          string
		limit         emukit.RateLimit
		steps         []step
		wantThrottled uint64
	}{
		{"no limit lets everything through", emukit.RateLimit{}, []step{
			{0, "a", false, true}, {0, "a", false, true}, {0, "a", true, true}, {0, "a", true, true},
		}, 0},
		{"a burst of reads then refusals until the bucket refills", emukit.RateLimit{ReadsPerSecond: 2, Burst: 2}, []step{
			{0, "a", false, true}, {0, "a", false, true}, {0, "a", false, false},
			{400 * time.Millisecond, "a", false, false}, // 0.8 of a token
			{500 * time.Millisecond, "a", false, true},  // one token back
			{500 * time.Millisecond, "a", false, false},
		}, 3},
		{"reads and writes have separate buckets", emukit.RateLimit{ReadsPerSecond: 1, WritesPerSecond: 1, Burst: 1}, []step{
			{0, "a", false, true}, {0, "a", true, true}, {0, "a", false, false}, {0, "a", true, false},
		}, 2},
		{"a zero rate leaves that kind unlimited", emukit.RateLimit{WritesPerSecond: 1, Burst: 1}, []step{
			{0, "a", false, true}, {0, "a", false, true}, {0, "a", false, true}, {0, "a", true, true}, {0, "a", true, false},
		}, 1},
		{"accounts do not share buckets", emukit.RateLimit{ReadsPerSecond: 1, Burst: 1}, []step{
			{0, "a", false, true}, {0, "a", false, false}, {0, "b", false, true}, {0, "b", false, false},
		}, 2},
		{"burst zero is one second of the rate", emukit.RateLimit{ReadsPerSecond: 3}, []step{
			{0, "a", false, true}, {0, "a", false, true}, {0, "a", false, true}, {0, "a", false, false},
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := emukit.NewLimiter(tc.limit)
			for i, s := range tc.steps {
				if got := l.Allow(s.account, s.write, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d %+v: allowed %v, want %v", i, s, got, s.want)
				}
			}
			if got := l.Throttled(); got != tc.wantThrottled {
				t.Fatalf("throttled %d, want %d", got, tc.wantThrottled)
			}
		})
	}
}

func TestRateLimitValidate(t *testing.T) {
	tests := []struct {
		name  string
		limit emukit.RateLimit
		ok    bool
	}{
		{"zero", emukit.RateLimit{}, true},
		{"rates and burst", emukit.RateLimit{ReadsPerSecond: 20, WritesPerSecond: 0.5, Burst: 40}, true},
		{"negative reads", emukit.RateLimit{ReadsPerSecond: -1}, false},
		{"NaN writes", emukit.RateLimit{WritesPerSecond: math.NaN()}, false},
		{"infinite reads", emukit.RateLimit{ReadsPerSecond: math.Inf(1)}, false},
		{"negative burst", emukit.RateLimit{Burst: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.limit.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
