package controlplane

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/capstan-io/capstan/store"
)

// Evaluation commits in batches. With 10,000 policies the leader commits
// a few hundred evaluations a second; one Raft entry each made them most
// of the log, hence most of the snapshots (each node snapshots every
// SnapshotThreshold entries) and of the per-entry cost on every node. A
// term's evaluations are therefore queued and committed together, one
// store.Evaluations entry per tick at most, in the order they were queued,
// so a policy's evaluations apply in the order they were made.
//
// Most commits need not be waited for: the leader evaluates each policy
// from the state its previous evaluation left (loop.latestState), not from
// the committed one. An evaluation that acted (its record names a resize,
// a resize in doubt or a failed one) or settled an intent is waited for,
// and the queue is flushed at once, so the cooldown it started is
// committed before the evaluation returns, as when every evaluation was
// its own entry.

// Batch bounds: at most evalBatchMax evaluations in one entry (a
// week-old policy's full state is about 5 KB, so an entry stays around a
// megabyte or less).
const evalBatchMax = 256

// evalCommit is one queued evaluation and what to do once it is committed
// or has failed; done may be nil.
type evalCommit struct {
	cmd  store.Evaluated
	done func(err error)
}

// evalBatcher queues a term's evaluation commits and commits them in
// batches (run). Made by newEvalBatcher; its zero value is not usable.
type evalBatcher struct {
	// apply commits one command (Node.applyResult).
	apply func(ctx context.Context, c store.Command) (applyResult, error)
	// linger is how long the first queued evaluation waits for others
	// (the leader's tick); max bounds a batch.
	linger time.Duration
	max    int
	now    func() time.Time

	mu sync.Mutex
	// queue holds the evaluations not yet handed to Raft, first queued
	// first; since is when the first of them was queued; urgent says that
	// one of them is waited for.
	queue  []evalCommit
	since  time.Time
	urgent bool
	// closed is set once run has returned: later commits fail at once.
	closed error
	// wake tells run that the queue changed (capacity 1: a pending wake
	// covers every change since).
	wake chan struct{}
}

func newEvalBatcher(apply func(ctx context.Context, c store.Command) (applyResult, error), linger time.Duration, max int, now func() time.Time) *evalBatcher {
	return &evalBatcher{apply: apply, linger: linger, max: max, now: now, wake: make(chan struct{}, 1)}
}

// add queues an evaluation. An urgent one is committed at once with
// whatever is queued before it.
func (b *evalBatcher) add(c evalCommit, urgent bool) {
	b.mu.Lock()
	if err := b.closed; err != nil {
		b.mu.Unlock()
		if c.done != nil {
			c.done(err)
		}
		return
	}
	if len(b.queue) == 0 {
		b.since = b.now()
	}
	b.queue = append(b.queue, c)
	b.urgent = b.urgent || urgent
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// commit queues an evaluation and waits until it is committed (or has
// failed, or ctx ends), flushing the queue at once.
func (b *evalBatcher) commit(ctx context.Context, cmd store.Evaluated) error {
	res := make(chan error, 1)
	b.add(evalCommit{cmd: cmd, done: func(err error) { res <- err }}, true)
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run commits the queue until ctx ends: a batch once its first
// evaluation has waited linger, or at once when it is full or one of it
// is waited for. One batch is in Raft at a time; what is queued meanwhile
// goes in the next. When ctx ends, what is still queued fails with its
// error, as an apply after leadership is lost does.
func (b *evalBatcher) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		batch, wait := b.take()
		if batch == nil {
			if wait > 0 {
				timer.Reset(wait)
			}
			select {
			case <-ctx.Done():
				b.close(ctx.Err())
				return
			case <-b.wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		b.flush(ctx, batch)
	}
}

// take returns the next batch to commit, or nil and how long to wait for
// it to be due (0: the queue is empty, wait for a wake).
func (b *evalBatcher) take() ([]evalCommit, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return nil, 0
	}
	if !b.urgent && len(b.queue) < b.max {
		if wait := b.linger - b.now().Sub(b.since); wait > 0 {
			return nil, wait
		}
	}
	n := min(len(b.queue), b.max)
	batch := slices.Clone(b.queue[:n])
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.since = b.now()
	// An urgent evaluation beyond this batch keeps the flag: the next
	// batch goes at once too.
	b.urgent = b.urgent && len(b.queue) > 0
	return batch, 0
}

// flush commits a batch in one entry (a lone evaluation as a plain
// Evaluated) and tells each of its evaluations how it went.
func (b *evalBatcher) flush(ctx context.Context, batch []evalCommit) {
	var cmd store.Command = batch[0].cmd
	if len(batch) > 1 {
		items := make([]store.Evaluated, len(batch))
		for i, c := range batch {
			items[i] = c.cmd
		}
		cmd = store.Evaluations{Items: items}
	}
	res, err := b.apply(ctx, cmd)
	if err == nil && len(batch) > 1 {
		// A batch is refused item by item: name the refused ones.
		for i, c := range batch {
			var cerr error
			if slices.Contains(res.res.Refused, i) {
				cerr = outcomeError(store.PreconditionFailed, fmt.Sprintf("policy %q changed while it was evaluated", c.cmd.Policy))
			}
			if c.done != nil {
				c.done(cerr)
			}
		}
		return
	}
	for _, c := range batch {
		if c.done != nil {
			c.done(err)
		}
	}
}

// close fails what is queued and what is added later with err.
func (b *evalBatcher) close(err error) {
	b.mu.Lock()
	q := b.queue
	b.queue, b.closed = nil, err
	b.mu.Unlock()
	for _, c := range q {
		if c.done != nil {
			c.done(err)
		}
	}
}

// commitNow commits an evaluation and waits for it: through the term's
// batches when it has them, so that it applies after the policy's
// evaluations queued before it, or on its own.
func (l *loop) commitNow(ctx context.Context, cmd store.Evaluated) error {
	if l.commits == nil {
		return l.n.apply(ctx, cmd)
	}
	return l.commits.commit(ctx, cmd)
}
