package controlplane

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot turns. Every node applies the same log at about the same time.
// With Raft's own trigger alone (so many entries since the last snapshot,
// looked at every SnapshotInterval to twice that, at random) the nodes
// crossed the threshold together, and under 10,000 policies with a week of
// history two of three often wrote their 430 MB snapshots at once on the
// shared cores and disk: the leader's round trip to a quorum reached
// 315 ms while they did, past the 250 ms lease the leader then had, which
// is how leaders stepped down under load.
//
// So each node takes its own turn: the voters, sorted by id, share every
// SnapshotThreshold entries, and the voter in place slot of n snapshots
// when its applied index passes k×SnapshotThreshold + slot×SnapshotThreshold/n.
// The three snapshots of a round start a third of the threshold apart
// (about 20 s at that load), while each node still snapshots once per
// threshold. Raft's own trigger stays as a fallback at twice the
// threshold, for a node whose turns stall.
//
// The same turns run on the log's bytes (Config.SnapshotBytes), counted
// from each node's start rather than from index 0: a node snapshots at its
// turn by entries or by bytes, whichever comes first. The nodes apply the
// same entries, so started together their byte counts keep the spacing.

// snapshotDue reports whether a node should snapshot now: its latest
// snapshot covers the log up to last, it has applied up to applied, and
// its turns are every entries apart, at slot of slots.
func snapshotDue(applied, last, every uint64, slot, slots int) bool {
	if every == 0 || slots <= 0 || slot < 0 || slot >= slots {
		return false
	}
	off := uint64(slot) * every / uint64(slots)
	next := off
	if last >= off {
		next = off + ((last-off)/every+1)*every
	}
	return applied >= next
}

// snapshotTurn is a server's place among the voters sorted by id, and
// their number; the first of one when it is not a voter.
func snapshotTurn(servers []raft.Server, self raft.ServerID) (slot, slots int) {
	var ids []raft.ServerID
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	if i := slices.Index(ids, self); i >= 0 {
		return i, len(ids)
	}
	return 0, 1
}

// snapshotPoll is how often a node looks whether its turn has come: at
// most a second, so that the turns keep their spacing, and never slower
// than Raft's own check.
func snapshotPoll(interval time.Duration) time.Duration {
	return max(min(interval, time.Second), 10*time.Millisecond)
}

// takeSnapshotTurns snapshots at this node's turns until ctx ends.
func (n *Node) takeSnapshotTurns(ctx context.Context) {
	t := time.NewTicker(snapshotPoll(n.cfg.SnapshotInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.snapshotIfDue()
	}
}

// snapshotIfDue takes a snapshot when this node's turn has come, and
// reports whether it did.
func (n *Node) snapshotIfDue() bool {
	due, applied, slot, slots := n.snapshotTurnDue()
	if !due {
		return false
	}
	n.trailByBytes()
	start := time.Now()
	if err := n.raft.Snapshot().Error(); err != nil {
		if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			n.log.Warn("snapshot at this node's turn failed", "err", err)
		}
		return false
	}
	n.snapBytes.Store(applied)
	n.log.Debug("snapshot at this node's turn", "slot", slot, "of", slots, "took", time.Since(start).Round(time.Millisecond))
	return true
}

// snapshotTurnDue reports whether this node's turn to snapshot has come,
// by entries or by bytes, with the bytes applied it counted and the
// node's turn (slot of slots). Both counts are the FSM's own: Raft's
// AppliedIndex counts the entries handed to the FSM, which applies them a
// little later (more so on a loaded machine), and a snapshot is of what
// the FSM has applied. Due by Raft's count, a node could snapshot the log
// up to an entry before its turn, and at its next look, its turn still
// ahead of that snapshot, take a second one.
func (n *Node) snapshotTurnDue() (due bool, applied uint64, slot, slots int) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false, 0, 0, 0
	}
	slot, slots = snapshotTurn(f.Configuration().Servers, raft.ServerID(n.cfg.NodeID))
	// Raft keeps the index of its latest snapshot (taken, restored or
	// installed) only in its stats.
	last, err := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	if err != nil {
		return false, 0, slot, slots
	}
	applied = n.fsm.appliedBytes.Load()
	due = snapshotDue(n.fsm.Applied(), last, n.cfg.SnapshotThreshold, slot, slots) ||
		snapshotDue(applied, n.snapBytes.Load(), n.cfg.SnapshotBytes, slot, slots)
	return due, applied, slot, slots
}

// trailByBytes sets how many entries the coming snapshot leaves: the
// latest that fit in Config.TrailingBytes, at most Config.TrailingLogs
// (logtail.go). Raft reads the setting when it compacts, after the
// snapshot; its own fallback snapshots keep the last one set.
func (n *Node) trailByBytes() {
	if n.cfg.TrailingBytes == 0 {
		return
	}
	keep := n.fsm.tail.keep(n.cfg.TrailingBytes, n.cfg.TrailingLogs)
	rc := n.raft.ReloadableConfig()
	if rc.TrailingLogs == keep {
		return
	}
	rc.TrailingLogs = keep
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.log.Warn("setting the trailing log for a snapshot", "keep", keep, "err", err)
	}
}
