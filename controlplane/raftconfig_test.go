package controlplane

import (
	"strings"
	"testing"
	"time"
)

// TestRaftTimingDefaults: the lease is as long as Validate allows (the
// heartbeat timeout: a quarter second made leaders step down while a
// week of history was snapshotted on a busy machine), while the heartbeat
// and election timeouts, which decide how fast a lost leader is replaced
// (BENCHMARKS.md, Failover), stay at 500 ms.
func TestRaftTimingDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.HeartbeatTimeout != 500*time.Millisecond || c.ElectionTimeout != 500*time.Millisecond {
		t.Errorf("heartbeat %s, election %s: the failover figures assume 500 ms", c.HeartbeatTimeout, c.ElectionTimeout)
	}
	if c.LeaderLeaseTimeout != c.HeartbeatTimeout {
		t.Errorf("lease %s, want the heartbeat timeout (%s)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	c.LeaderLeaseTimeout = c.HeartbeatTimeout + time.Millisecond
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "leader-lease-timeout: must not exceed heartbeat-timeout") {
		t.Errorf("a lease longer than the heartbeat timeout: %v", err)
	}
}
