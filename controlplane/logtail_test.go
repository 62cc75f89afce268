package controlplane

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// TestLogTailKeep: a snapshot keeps the latest entries whose bytes fit in
// the budget, counted in raft indexes (entries the FSM never saw, such as
// configuration changes, count too), never fewer than minTrailingLogs nor
// more than the count bound.
func TestLogTailKeep(t *testing.T) {
	type entry struct{ index, size uint64 }
	seq := func(from, n, size uint64) []entry {
		var es []entry
		for i := range n {
			es = append(es, entry{from + i, size})
		}
		return es
	}
	tests := []struct {
		name         string
		entries      []entry
		budget, most uint64
		want         uint64
	}{
		{"nothing applied yet", nil, 1000, 2048, 2048},
		{"no byte bound", seq(1, 100, 1000), 0, 2048, 2048},
		{"small entries: the count bounds", seq(1, 5000, 10), 1 << 20, 2048, 2048},
		{"fewer remembered than the budget covers", seq(1, 100, 10), 1 << 20, 2048, 2048},
		{"large entries: the bytes bound", seq(1, 1000, 100_000), 3_000_000, 2048, 30},
		{"exactly the budget", seq(1, 1000, 100_000), 3_000_000 + 99_999, 2048, 30},
		{"a byte over", seq(1, 1000, 100), 2_001, 2048, 20},
		{"one entry over the budget: the floor", seq(1, 100, 5_000_000), 1 << 20, 2048, minTrailingLogs},
		{"the floor never passes the count", seq(1, 100, 5_000_000), 1 << 20, 4, 4},
		{"gaps in the indexes count", []entry{{10, 100}, {20, 100}, {30, 100}, {40, 100}}, 250, 2048, 20},
		{"gaps, wide", append(seq(1, 10, 100), entry{100, 100}, entry{200, 100}), 250, 2048, 190},
		{"mixed: large entries then small", append(seq(1, 50, 1_000_000), seq(51, 500, 100)...), 2_000_000, 2048, 501},
		{"wrapped ring, under budget", seq(1, logTailSlots+500, 1), 1 << 30, 1 << 20, 1 << 20},
		{"wrapped ring, over budget", seq(1, logTailSlots+500, 1000), 100_000, 1 << 20, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tail logTail
			var total uint64
			for _, e := range tc.entries {
				total += e.size
				tail.add(e.index, total)
			}
			if got := tail.keep(tc.budget, tc.most); got != tc.want {
				t.Fatalf("keep(%d, %d) = %d, want %d", tc.budget, tc.most, got, tc.want)
			}
		})
	}
}

// TestSnapshotKeepsTrailingBytes: a snapshot at a node's turn leaves the
// latest entries that fit in TrailingBytes, not TrailingLogs of them: with
// 40 KB entries and a 1 MB budget the log keeps about 25 after a
// snapshot, and with no byte bound all 200 the count allows.
func TestSnapshotKeepsTrailingBytes(t *testing.T) {
	tests := []struct {
		name        string
		bytes       uint64
		least, most uint64 // entries left in the log after the snapshot
	}{
		{"by bytes", 1_000_000, 23, 26},
		{"by count alone", 0, 200, 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, clusterOptions{snapshotTurns: 1 << 40, trailingLogs: 200})
			for _, n := range c.nodes {
				n.cfg.TrailingBytes = tc.bytes
			}
			ctx := context.Background()
			// Samples of no policy: entries of about 40 KB that change
			// nothing.
			var samples []store.Sample
			for j := range 1000 {
				samples = append(samples, store.Sample{Policy: "nobody", Metric: fmt.Sprintf("m%s%04d", strings.Repeat("x", 8), j), Time: time.Unix(1_780_000_000, 0), Value: 1})
			}
			var size uint64
			var l *Node
			for range 300 {
				// On whichever node leads: 300 entries of 40 KB under
				// -race on a loaded machine moved the leadership in each
				// of three runs of the package with two cores busy.
				c.onLeader(nil, func(n *Node) error {
					l = n
					before := n.fsm.appliedBytes.Load()
					if err := n.apply(ctx, store.Samples{Samples: samples}); err != nil {
						return err
					}
					size = n.fsm.appliedBytes.Load() - before
					return nil
				})
			}
			k := slices.Index(c.nodes, l)
			if size < 30_000 || size > 60_000 {
				t.Fatalf("an entry is %d bytes; the test wants about 40 KB", size)
			}
			l.trailByBytes()
			if err := l.raft.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
			first, err := c.logs[k].FirstIndex()
			if err != nil {
				t.Fatal(err)
			}
			last, err := c.logs[k].LastIndex()
			if err != nil {
				t.Fatal(err)
			}
			// Raft keeps a count of indexes; by bytes, the count is of
			// the commands that fit, and the entries the FSM never saw
			// between them (a new leader's no-op, when leadership moved)
			// come on top (TestLogTailKeep).
			left := last - first + 1
			if tc.bytes > 0 {
				left -= notCommands(t, c.logs[k], first, last)
			}
			if left < tc.least || left > tc.most {
				t.Fatalf("%d entries (%d to %d) left after the snapshot, want %d to %d (entries of %d bytes, budget %d)", left, first, last, tc.least, tc.most, size, tc.bytes)
			}
		})
	}
}

// notCommands counts the entries from first to last in logs that are not
// commands.
func notCommands(t *testing.T, logs raft.LogStore, first, last uint64) uint64 {
	t.Helper()
	var n uint64
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type != raft.LogCommand {
			n++
		}
	}
	return n
}
