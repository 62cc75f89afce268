package api

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Bounds of the relay queue.
const (
	// maxQueuedRefusals is how many refusals a follower keeps while no
	// leader takes them; beyond it new ones are counted and dropped.
	maxQueuedRefusals = 1000
	// relayRetryMax is the longest wait between relay attempts.
	relayRetryMax = 5 * time.Second
)

// relayQueue keeps the audit refusals a follower could not hand to the
// leader (none elected, or unreachable), in order, and relays them once a
// leader takes them. It is bounded: a refusal flood during an outage
// costs at most maxQueuedRefusals entries of memory, and the number
// dropped is logged when the queue drains. Its drainer goroutine runs
// only while the queue holds something, and ends when it is empty.
type relayQueue struct {
	send func(context.Context, AuditRefusal) error
	log  *slog.Logger
	wait time.Duration // first retry delay

	mu       sync.Mutex
	items    []AuditRefusal
	dropped  int
	draining bool
}

func newRelayQueue(send func(context.Context, AuditRefusal) error, log *slog.Logger, wait time.Duration) *relayQueue {
	return &relayQueue{send: send, log: log, wait: wait}
}

// add queues a refusal and starts the drainer if it is not running.
func (q *relayQueue) add(a AuditRefusal) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= maxQueuedRefusals {
		q.dropped++
		return
	}
	q.items = append(q.items, a)
	if !q.draining {
		q.draining = true
		go q.drain()
	}
}

// len is how many refusals wait.
func (q *relayQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// drain relays the queued refusals oldest first, backing off while the
// leader does not take them, and returns once the queue is empty.
func (q *relayQueue) drain() {
	delay := q.wait
	for {
		time.Sleep(delay)
		q.mu.Lock()
		if len(q.items) == 0 {
			q.draining = false
			if q.dropped > 0 {
				q.log.Warn("audit: refusals dropped while no leader took them (queue full)", "dropped", q.dropped)
				q.dropped = 0
			}
			q.mu.Unlock()
			return
		}
		next := q.items[0]
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), relayRetryMax)
		err := q.send(ctx, next)
		cancel()
		if err != nil {
			delay = min(2*delay, relayRetryMax)
			continue
		}
		delay = q.wait
		q.mu.Lock()
		q.items = q.items[1:]
		q.mu.Unlock()
	}
}
