package controlplane

import (
	"container/heap"
	"math"
	"time"
)

// dueItem is one policy in a term's due queue: when it is next to be
// looked at, and its evaluation interval.
type dueItem struct {
	at    int64 // Unix nanoseconds: cheaper to compare than time.Time
	id    string
	every time.Duration
}

// dueQueue is a min-heap of policies by the time they are next due (ties
// by id, so the order is deterministic), for container/heap. A tick pops
// only what is due instead of checking every policy.
type dueQueue []dueItem

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].id < q[j].id
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// requeue rebuilds the due queue from a schedule: each policy is due an
// interval after its last evaluation (at once when it has none). When
// every policy is being dispatched at now (a forced tick), each is queued
// just after now instead, to be checked at the next tick, which spares
// reading 10,000 last evaluations from the FSM at the start of a term.
func (l *loop) requeue(s *policySchedule, dispatchedAt time.Time) {
	l.queue = l.queue[:0]
	for _, p := range s.list {
		at := dispatchedAt.UnixNano() + 1
		if dispatchedAt.IsZero() {
			at = dueAt(l.lastEvaluation(p.ID), p.Interval)
		}
		l.queue = append(l.queue, dueItem{at: at, id: p.ID, every: p.Interval})
	}
	heap.Init(&l.queue)
}

// popDue calls dispatch for every policy due at now, earliest first. A
// queued time is only a lower bound (a policy evaluated early for fresh
// samples is due later than queued), so each popped policy is checked
// against its last evaluation and queued again: at its real due time when
// that is later, or just after now when dispatched, so that the next tick
// checks it again, as a tick that listed every policy would, until its
// evaluation is recorded.
func (l *loop) popDue(now time.Time, dispatch func(id string)) {
	ns := now.UnixNano()
	for len(l.queue) > 0 && l.queue[0].at <= ns {
		it := l.queue[0]
		if due := dueAt(l.lastEvaluation(it.id), it.every); due > ns {
			l.queue[0].at = due
			heap.Fix(&l.queue, 0)
			continue
		}
		l.queue[0].at = ns + 1
		heap.Fix(&l.queue, 0)
		dispatch(it.id)
	}
}

// dueAt is when a policy last evaluated at last is due again, in Unix
// nanoseconds; a policy never evaluated is due at once.
func dueAt(last time.Time, every time.Duration) int64 {
	if last.IsZero() {
		return math.MinInt64
	}
	return last.Add(every).UnixNano()
}
