package controlplane

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWarnRoundTrip(t *testing.T) {
	tests := []struct {
		rtt, lease time.Duration
		want       bool
	}{
		{time.Millisecond, 250 * time.Millisecond, false},
		{124 * time.Millisecond, 250 * time.Millisecond, false},
		{125 * time.Millisecond, 250 * time.Millisecond, true},
		{400 * time.Millisecond, 250 * time.Millisecond, true},
		{400 * time.Millisecond, 2 * time.Second, false},
	}
	for _, tc := range tests {
		if got := warnRoundTrip(tc.rtt, tc.lease); got != tc.want {
			t.Errorf("round trip %s, lease %s: warn %v, want %v", tc.rtt, tc.lease, got, tc.want)
		}
	}
}

// TestLeaderMeasuresRoundTrip: the leader exports its Raft round trip.
func TestLeaderMeasuresRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	_, l := c.leader()
	c.waitFor("a round trip measured", func() bool { return testutil.ToFloat64(l.metrics.roundTrip) > 0 })
	if rtt := testutil.ToFloat64(l.metrics.roundTrip); rtt > 1 {
		t.Fatalf("round trip %gs on an in-memory transport", rtt)
	}
}
