package controlplane

import (
	"context"
	"time"
)

// roundTripEvery is how often the leader measures its Raft round trip.
const roundTripEvery = 2 * time.Second

// roundTripWarnShare is the share of the leader lease at which a round
// trip is worth a warning: past it, a slow link or a GC pause is enough for
// the lease to lapse and leadership to churn (the issue saw 10 changes in
// 20 s with 400 ms round trips against the default 250 ms lease).
const roundTripWarnShare = 0.5

// watchRoundTrip measures, while this node leads, the time Raft takes to
// confirm leadership with a quorum (VerifyLeader: one heartbeat round),
// exports it as capstan_raft_round_trip_seconds and warns, at most once a
// minute, when it approaches the leader lease.
func (n *Node) watchRoundTrip(ctx context.Context, log interface{ Warn(string, ...any) }) {
	every := n.roundTripEvery
	if every <= 0 {
		every = roundTripEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastWarn time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		if err := n.raft.VerifyLeader().Error(); err != nil {
			continue // leadership is going; the loop ends with ctx
		}
		rtt := time.Since(start)
		n.metrics.roundTrip.Set(rtt.Seconds())
		if warnRoundTrip(rtt, n.cfg.LeaderLeaseTimeout) && time.Since(lastWarn) >= time.Minute {
			lastWarn = time.Now()
			log.Warn("Raft round trips approach the leader lease; leadership may churn: raise the timeouts (README: WAN timing)",
				"round_trip", rtt, "leader_lease_timeout", n.cfg.LeaderLeaseTimeout,
				"heartbeat_timeout", n.cfg.HeartbeatTimeout, "election_timeout", n.cfg.ElectionTimeout)
		}
	}
}

// warnRoundTrip reports whether a round trip is close enough to the lease
// to warn about.
func warnRoundTrip(rtt, lease time.Duration) bool {
	return float64(rtt) >= roundTripWarnShare*float64(lease)
}
