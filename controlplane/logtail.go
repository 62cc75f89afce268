package controlplane

import "sync"

// The trailing log by bytes. Raft keeps TrailingLogs entries after each
// snapshot, counted in entries, while entries differ in size by a thousand
// times: a tick's evaluations with a week of history are about 100 KB, an
// intent a few hundred bytes. At the count alone (2,048), a cluster that
// held its 10,000 policies kept about 200 MB of log after every snapshot,
// and raft.db, whose pages count in the process's RSS as bbolt reads them
// back, grew with it (BENCHMARKS.md, run Q). So before each snapshot a
// node sets Raft's TrailingLogs to the latest entries that fit in
// Config.TrailingBytes, at most Config.TrailingLogs of them: many small
// entries while policies scale, fewer large ones while they hold.

// logTailSlots is how many of the latest applied entries logTail
// remembers; more than the default TrailingLogs, so the count bound
// applies before the memory runs out. 16 bytes each.
const logTailSlots = 8192

// minTrailingLogs is the fewest entries a snapshot leaves by bytes: a
// follower a moment behind still catches up from the log, whatever the
// entries' size.
const minTrailingLogs = 16

// logTail remembers the raft index and the cumulative bytes applied at
// each of the latest applied command entries. Safe for concurrent use:
// the FSM adds, the snapshot turns read.
type logTail struct {
	mu    sync.Mutex
	index []uint64
	bytes []uint64 // appliedBytes after the entry at the same slot
	next  int      // the slot the next entry takes
	full  bool
}

// add records that the entry at index was applied, bringing the bytes
// applied to total.
func (t *logTail) add(index, total uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == nil {
		t.index, t.bytes = make([]uint64, logTailSlots), make([]uint64, logTailSlots)
	}
	t.index[t.next], t.bytes[t.next] = index, total
	if t.next++; t.next == len(t.index) {
		t.next, t.full = 0, true
	}
}

// keep is how many entries a snapshot taken now should leave: the
// latest entries whose bytes add up to at most budget, counted in raft
// indexes up to the latest applied one, between minTrailingLogs and most
// (never above most). With budget 0, or fewer remembered entries than
// budget covers, it is most.
func (t *logTail) keep(budget, most uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.next
	if t.full {
		n = len(t.index)
	}
	if budget == 0 || n == 0 {
		return most
	}
	newest := (t.next - 1 + len(t.index)) % len(t.index)
	lastIndex, lastBytes := t.index[newest], t.bytes[newest]
	// Walk back: the entries after slot s weigh lastBytes - bytes[s].
	for k := 1; k < n; k++ {
		s := (newest - k + len(t.index)) % len(t.index)
		if lastBytes-t.bytes[s] > budget {
			// The entries after s are one too many; those after the
			// slot before (newer) fit.
			prev := (s + 1) % len(t.index)
			return min(max(lastIndex-t.index[prev], minTrailingLogs), most)
		}
	}
	return most
}
