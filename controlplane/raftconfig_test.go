package controlplane

import (
	"strings"
	"testing"
	"time"
)

// TestRaftTimingDefaults: the default timing is the base timing (500 ms)
// times DefaultRaftMultiplier, and the lease is as long as Validate
// allows (the heartbeat timeout: a quarter second made leaders step down
// while a week of history was snapshotted on a busy machine).
func TestRaftTimingDefaults(t *testing.T) {
	c := DefaultConfig()
	want := time.Duration(DefaultRaftMultiplier) * 500 * time.Millisecond
	if c.HeartbeatTimeout != want || c.ElectionTimeout != want {
		t.Errorf("heartbeat %s, election %s: want %s (multiplier %d)", c.HeartbeatTimeout, c.ElectionTimeout, want, DefaultRaftMultiplier)
	}
	if c.LeaderLeaseTimeout != c.HeartbeatTimeout {
		t.Errorf("lease %s, want the heartbeat timeout (%s)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	c.LeaderLeaseTimeout = c.HeartbeatTimeout + time.Millisecond
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "leader-lease-timeout: must not exceed heartbeat-timeout") {
		t.Errorf("a lease longer than the heartbeat timeout: %v", err)
	}
}

// TestScaleRaftTiming: the multiplier scales the timeouts left unset, a
// timeout given explicitly wins, an unset lease follows the heartbeat
// timeout (never past it), and a multiplier out of range is refused with
// the flag's name and range, changing nothing.
func TestScaleRaftTiming(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name                       string
		multiplier                 int
		heartbeat, election, lease time.Duration // given
		want                       [3]time.Duration
		err                        string
	}{
		{name: "1: the base timing", multiplier: 1, want: [3]time.Duration{500 * ms, 500 * ms, 500 * ms}},
		{name: "3", multiplier: 3, want: [3]time.Duration{1500 * ms, 1500 * ms, 1500 * ms}},
		{name: "the largest", multiplier: MaxRaftMultiplier, want: [3]time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}},
		{name: "a given heartbeat wins and the lease follows it", multiplier: 3, heartbeat: 800 * ms,
			want: [3]time.Duration{800 * ms, 1500 * ms, 800 * ms}},
		{name: "a given lease wins", multiplier: 2, lease: 300 * ms, want: [3]time.Duration{time.Second, time.Second, 300 * ms}},
		{name: "all given: the multiplier changes nothing", multiplier: 5, heartbeat: 2 * time.Second, election: 2 * time.Second, lease: time.Second,
			want: [3]time.Duration{2 * time.Second, 2 * time.Second, time.Second}},
		{name: "0 is refused", multiplier: 0, err: "raft-multiplier: must be 1 to 10 (got 0)"},
		{name: "past the largest is refused", multiplier: MaxRaftMultiplier + 1, err: "raft-multiplier: must be 1 to 10 (got 11)"},
		{name: "negative is refused", multiplier: -2, heartbeat: 700 * ms, err: "raft-multiplier: must be 1 to 10 (got -2)",
			want: [3]time.Duration{700 * ms, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{HeartbeatTimeout: tc.heartbeat, ElectionTimeout: tc.election, LeaderLeaseTimeout: tc.lease}
			err := c.ScaleRaftTiming(tc.multiplier)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := [3]time.Duration{c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout}; got != tc.want {
				t.Fatalf("heartbeat, election, lease %v, want %v", got, tc.want)
			}
		})
	}
}
