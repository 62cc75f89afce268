package controlplane

import (
	"context"
	"time"
)

// wakeAtSettled schedules one more evaluation of a policy at the instant
// its in-doubt intent settles, so that the group is settled and acted on
// as soon as its outcome can be known, not an evaluation interval later
// (with a 1-minute interval and the default 20 s settle time, that wait
// was up to 40 s longer than the fence needs). One timer per policy and
// intent; a Settled time already past schedules nothing (the intent is
// settled, or its settle failed and the policy's own schedule retries).
// The timers belong to the term: they are stopped when it ends (stopWakes)
// and their sends give up with ctx.
func (l *loop) wakeAtSettled(ctx context.Context, id string, intent uint64, settled time.Time) {
	d := settled.Sub(l.n.now())
	if d <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.wakes[id]; ok {
		if w.intent == intent {
			return
		}
		w.timer.Stop()
	}
	l.wakes[id] = wake{intent: intent, timer: time.AfterFunc(d, func() {
		l.mu.Lock()
		if w, ok := l.wakes[id]; ok && w.intent == intent {
			delete(l.wakes, id)
		}
		l.mu.Unlock()
		select {
		case l.woken <- id:
		case <-ctx.Done():
		}
	})}
}

// stopWakes stops the term's pending wake-ups.
func (l *loop) stopWakes() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, w := range l.wakes {
		w.timer.Stop()
		delete(l.wakes, id)
	}
}

// wake is a scheduled re-evaluation of a policy held by an intent.
type wake struct {
	intent uint64
	timer  *time.Timer
}
