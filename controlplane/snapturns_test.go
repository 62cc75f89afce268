package controlplane

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// TestSnapshotDue: a node snapshots at its own turns, slot×every/slots
// into each run of every entries, once per run, counting from its latest
// snapshot wherever that was taken (a restored or installed one, or
// Raft's fallback off the turns).
func TestSnapshotDue(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		applied, last, every uint64
		slot, slots          int
		want                 bool
	}{
		{"first turn of slot 0", 300, 0, 300, 0, 3, true},
		{"before it", 299, 0, 300, 0, 3, false},
		{"slot 1 of 3: a third in", 100, 0, 300, 1, 3, true},
		{"slot 1 before its turn", 99, 0, 300, 1, 3, false},
		{"slot 2 of 3", 200, 0, 300, 2, 3, true},
		{"slot 2 just before", 199, 0, 300, 2, 3, false},
		{"taken at its turn: not again until the next", 399, 100, 300, 1, 3, false},
		{"its next turn", 400, 100, 300, 1, 3, true},
		{"late by many entries: once", 1000, 100, 300, 1, 3, true},
		{"after a late one, back on the turns", 1299, 1000, 300, 1, 3, false},
		{"after a late one, the next turn", 1300, 1000, 300, 1, 3, true},
		{"a snapshot off the turns (fallback, restore)", 650, 610, 300, 2, 3, false},
		{"then its turn", 800, 610, 300, 2, 3, true},
		{"a single voter", 300, 0, 300, 0, 1, true},
		{"a threshold of 0 never", 1 << 40, 0, 0, 0, 3, false},
		{"no voters never", 1 << 40, 0, 300, 0, 0, false},
		{"a slot out of range never", 1 << 40, 0, 300, 3, 3, false},
	} {
		if got := snapshotDue(tc.applied, tc.last, tc.every, tc.slot, tc.slots); got != tc.want {
			t.Errorf("%s: snapshotDue(%d, %d, %d, %d, %d) = %v", tc.name, tc.applied, tc.last, tc.every, tc.slot, tc.slots, got)
		}
	}
}

// TestSnapshotTurn: a voter's place is its rank by id among the voters,
// whatever the configuration's order; a non-voter takes the only turn.
func TestSnapshotTurn(t *testing.T) {
	servers := []raft.Server{
		{ID: "n3", Suffrage: raft.Voter}, {ID: "n1", Suffrage: raft.Voter},
		{ID: "n0", Suffrage: raft.Nonvoter}, {ID: "n2", Suffrage: raft.Voter},
	}
	for _, tc := range []struct {
		id          raft.ServerID
		slot, slots int
	}{{"n1", 0, 3}, {"n2", 1, 3}, {"n3", 2, 3}, {"n0", 0, 1}, {"gone", 0, 1}} {
		if slot, slots := snapshotTurn(servers, tc.id); slot != tc.slot || slots != tc.slots {
			t.Errorf("%s: turn %d of %d, want %d of %d", tc.id, slot, slots, tc.slot, tc.slots)
		}
	}
	for _, tc := range []struct{ interval, want time.Duration }{
		{30 * time.Second, time.Second}, {200 * time.Millisecond, 200 * time.Millisecond}, {time.Millisecond, 10 * time.Millisecond},
	} {
		if got := snapshotPoll(tc.interval); got != tc.want {
			t.Errorf("snapshotPoll(%s) = %s, want %s", tc.interval, got, tc.want)
		}
	}
}

// TestSnapshotTurnsStagger: in a three-node cluster applying one log,
// each node snapshots at its own turn, a third of the threshold after
// the one before: never two at the same index, each within a few entries
// of its turn (the entries committed between two looks).
func TestSnapshotTurnsStagger(t *testing.T) {
	t.Parallel()
	const every = 60
	c := newCluster(t, clusterOptions{snapshotTurns: every})
	taken := make([][]uint64, 3)
	ctx := context.Background()
	for i := range 200 {
		// On whichever node leads: leadership can move on a loaded
		// machine, and this test is about snapshot turns.
		var r applyResult
		c.onLeader(nil, func(n *Node) (err error) {
			r, err = n.applyResult(ctx, store.RegisterNode{ID: fmt.Sprintf("x%d", i), HTTPAddr: "127.0.0.1:1"})
			return err
		})
		at := r.index
		for k, n := range c.nodes {
			slot, slots := snapshotTurn(mustConfig(t, n), raft.ServerID(n.cfg.NodeID))
			last, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
			if !snapshotDue(at, last, every, slot, slots) {
				continue
			}
			// A follower learns of the commit a little later: wait for
			// it only when its turn has come (waiting at every entry
			// makes the test take 20 s), for the FSM's own count, which
			// the turns read.
			c.waitFor("the node applied the entry", func() bool { return n.fsm.Applied() >= at })
			if !n.snapshotIfDue() {
				t.Fatalf("node %d: no snapshot at its turn (index %d, latest snapshot %d)", k, at, last)
			}
			list, err := c.snaps[k].List()
			if err != nil || len(list) == 0 {
				t.Fatalf("node %d: no snapshot listed (%v)", k, err)
			}
			taken[k] = append(taken[k], list[0].Index)
		}
	}
	seen := map[uint64]int{}
	for k, idxs := range taken {
		id := raft.ServerID(c.nodes[k].cfg.NodeID)
		slot, slots := snapshotTurn(mustConfig(t, c.nodes[k]), id)
		off := uint64(slot) * every / uint64(slots)
		if len(idxs) < 2 {
			t.Fatalf("%s: snapshots at %v, want one per %d entries", id, idxs, every)
		}
		for _, idx := range idxs {
			if late := (idx + every - off) % every; late > 3 {
				t.Errorf("%s (turn %d of %d): a snapshot at index %d, %d entries past its turn", id, slot, slots, idx, late)
			}
			if other, dup := seen[idx]; dup {
				t.Errorf("nodes %d and %d both snapshotted at index %d", other, k, idx)
			}
			seen[idx] = k
		}
	}
}

func mustConfig(t *testing.T, n *Node) []raft.Server {
	t.Helper()
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	return f.Configuration().Servers
}

// TestSnapshotTurnsByBytes: a node also snapshots at its turn by the log's
// bytes (Config.SnapshotBytes), however few entries they are, once per
// that many bytes, the three nodes at different indexes; with no byte
// bound (0) the same entries take no snapshot below the entry threshold.
func TestSnapshotTurnsByBytes(t *testing.T) {
	// Waits on the followers' applies, alongside the other waiting
	// tests (main_test.go).
	t.Parallel()
	const every = 64 << 10 // bytes
	tests := []struct {
		name  string
		bytes uint64
		// least and most snapshots per node for 3 × every bytes: the
		// turns are a third of every apart, the first at a third
		least, most int
	}{
		{"by bytes", every, 3, 3},
		{"entries only", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, clusterOptions{snapshotTurns: 1 << 40, snapshotBytes: tc.bytes})
			if tc.bytes == 0 {
				for _, n := range c.nodes {
					n.cfg.SnapshotBytes = 0
				}
			}
			ctx := context.Background()
			// Samples of no policy: an entry of about 5 KB that changes
			// nothing.
			var samples []store.Sample
			for k := range 200 {
				samples = append(samples, store.Sample{Policy: "nobody", Metric: fmt.Sprintf("m%02d", k), Time: time.Unix(1_780_000_000, 0), Value: 1})
			}
			taken := make([][]uint64, 3)
			// The nodes apply the same log, so any one's bytes count.
			for c.nodes[0].fsm.appliedBytes.Load() < 3*every {
				// On whichever node leads: leadership can move on a
				// loaded machine (seen in a full -race run), and this
				// test is about snapshot turns.
				var r applyResult
				c.onLeader(nil, func(n *Node) (err error) {
					r, err = n.applyResult(ctx, store.Samples{Samples: samples})
					return err
				})
				for k, n := range c.nodes {
					// The FSM's own count, which the turns read: Raft
					// counts an entry applied once it hands it to the
					// FSM, a little before the FSM has (under load, a
					// node's last turn was missed so).
					c.waitFor("the node applied the entry", func() bool { return n.fsm.Applied() >= r.index })
					if n.snapshotIfDue() {
						list, err := c.snaps[k].List()
						if err != nil || len(list) == 0 {
							t.Fatalf("node %d: no snapshot listed (%v)", k, err)
						}
						taken[k] = append(taken[k], list[0].Index)
					}
				}
			}
			seen := map[uint64]int{}
			for k, idxs := range taken {
				if len(idxs) < tc.least || len(idxs) > tc.most {
					t.Fatalf("node %d: snapshots at %v, want %d to %d for %d bytes a turn", k, idxs, tc.least, tc.most, tc.bytes)
				}
				for _, idx := range idxs {
					if other, dup := seen[idx]; dup {
						t.Errorf("nodes %d and %d both snapshotted at index %d", other, k, idx)
					}
					seen[idx] = k
				}
			}
			t.Logf("snapshots at %v (%d bytes applied)", taken, c.nodes[0].fsm.appliedBytes.Load())
		})
	}
}

// TestSnapshotTurnCountsTheFSM: a node's turn comes when its FSM has
// applied the turn's entry, not when Raft has handed it over. A follower
// whose FSM is held (its lock taken, so Raft counts the entry applied
// while the FSM waits) is exactly as due as before the entry; once the
// FSM has applied it, the node snapshots at its turn or past it, once.
// Counted by Raft, a node snapshotted the log up to an entry before its
// turn and, the turn still ahead, took a second snapshot at its next look.
func TestSnapshotTurnCountsTheFSM(t *testing.T) {
	t.Parallel()
	// Each entry waits for a follower to learn of its commit (a
	// heartbeat): few entries a turn.
	const every = 9
	c := newCluster(t, clusterOptions{snapshotTurns: every})
	li, l := c.leader()
	ctx := context.Background()
	turns, lost := 0, 0
	for i := 0; turns < 3 && i < 4*every; i++ {
		k := (li + 1) % len(c.nodes) // a follower
		n := c.nodes[k]
		var index uint64
		var held, before bool
		err := func() error {
			// The FSM takes its lock for each entry before counting it.
			n.fsm.mu.Lock()
			defer n.fsm.mu.Unlock()
			before, _, _, _ = n.snapshotTurnDue()
			r, err := l.applyResult(ctx, store.RegisterNode{ID: fmt.Sprintf("x%d", i), HTTPAddr: "127.0.0.1:1"})
			if err != nil {
				return err
			}
			index = r.index
			c.waitFor("Raft handing the entry to the follower's FSM", func() bool { return n.raft.AppliedIndex() >= index })
			held, _, _, _ = n.snapshotTurnDue()
			return nil
		}()
		if err != nil {
			// Leadership can move on a loaded machine; the test is about
			// the follower's turn, so take the new leader's follower.
			if lost++; lost > 3 {
				t.Fatal(err)
			}
			li, l = c.leader()
			continue
		}
		if held != before {
			t.Fatalf("node %d: due %v with entry %d handed to its FSM but not applied, %v before it", k, held, index, before)
		}
		c.waitFor("the follower's FSM applied the entry", func() bool { return n.fsm.Applied() >= index })
		if due, _, _, _ := n.snapshotTurnDue(); !due {
			continue
		}
		slot, slots := snapshotTurn(mustConfig(t, n), raft.ServerID(n.cfg.NodeID))
		last, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
		if !n.snapshotIfDue() {
			t.Fatalf("node %d: due, but no snapshot", k)
		}
		list, err := c.snaps[k].List()
		if err != nil || len(list) == 0 {
			t.Fatalf("node %d: no snapshot listed (%v)", k, err)
		}
		// The snapshot is of the turn's entry or a later one: due again
		// by the turns only a threshold on.
		if at := list[0].Index; !snapshotDue(at, last, every, slot, slots) {
			t.Errorf("node %d (turn %d of %d): a snapshot at index %d, before its turn after %d", k, slot, slots, at, last)
		}
		if n.snapshotIfDue() {
			t.Errorf("node %d: a second snapshot right after the one at index %d", k, list[0].Index)
		}
		turns++
	}
	if turns < 3 {
		t.Fatalf("%d turns in %d entries, want 3", turns, 4*every)
	}
}
