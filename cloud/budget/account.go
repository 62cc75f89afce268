package budget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
)

// kind says which of an account's buckets a call draws from.
type kind int

const (
	read kind = iota
	write
)

func (k kind) String() string {
	if k == write {
		return "write"
	}
	return "read"
}

// account is the budget of one provider account (and region, where the
// provider counts per region): a read bucket and a write bucket, and the
// rule that writes go first. A nil bucket is unlimited.
type account struct {
	provider, scope string
	now             func() time.Time
	gauges          [2]accountGauges

	mu      sync.Mutex
	buckets [2]*aimd
	// writesWaiting counts writes waiting for a token. While it is above
	// zero no read starts: at providers whose throttle counts reads and
	// writes together (AWS has one bucket for every Auto Scaling action;
	// Azure's compute provider counts per scale set), a read sent now
	// could cost the waiting resize its turn. writesGone is closed, and
	// replaced, when the count drops to zero.
	writesWaiting int
	writesGone    chan struct{}
	// readsWaiting counts foreground reads between asking for a token
	// and holding one (or a reservation of one): while it is above zero
	// no background read takes a token. readsGone, made by the first
	// background read that waits for them, is closed and dropped when it
	// drops to zero (made only then: every foreground read passes
	// through zero, and a channel each cost an allocation per call).
	readsWaiting int
	readsGone    chan struct{}
	// background holds the tickets of the background reads waiting, in
	// the order they asked: only the first may take a token, so that
	// background reads waiting together (the refresh's calls, four at a
	// time) take turns instead of racing for each token, where one could
	// lose every race until its deadline. nextTicket numbers them;
	// backgroundTurn, made by a read that waits for its turn, is closed
	// and dropped when the first leaves.
	background     []uint64
	nextTicket     uint64
	backgroundTurn chan struct{}
}

func newAccount(provider, scope string, now func() time.Time, buckets [2]*aimd, g [2]accountGauges) *account {
	a := &account{provider: provider, scope: scope, now: now, buckets: buckets, gauges: g, writesGone: make(chan struct{})}
	for k, b := range buckets {
		if b != nil {
			g[k].rate.Set(b.rate())
			g[k].configured.Set(b.ceiling)
		}
	}
	return a
}

// errWait is the error of a call that got no token: it wraps
// ErrWaitExceeded and says why as text only, never wrapping the context's
// error, because the control plane treats a wrapped deadline or
// cancellation as "the request may have reached the provider" (in doubt),
// and a call the budget held back never left.
func (a *account) errWait(k kind, why string) error {
	return fmt.Errorf("%s %s %s: %w: %s", a.provider, a.name(), k, ErrWaitExceeded, why)
}

func (a *account) name() string {
	if a.scope == "" {
		return "(one account)"
	}
	return a.scope
}

// acquire takes cost tokens from the k bucket, waiting for them as long as
// ctx allows, and returns when it granted them. A wait that cannot end
// before ctx's deadline fails at once, without waiting in vain. Reads also
// wait while writes wait (see writesWaiting), and a background read (ctx
// from Background) while any other read waits (acquireBackground).
func (a *account) acquire(ctx context.Context, k kind, cost int) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, a.errWait(k, "the caller gave up before a token was asked for: "+err.Error())
	}
	if k == read && IsBackground(ctx) {
		return a.acquireBackground(ctx, cost)
	}
	if k == read {
		a.mu.Lock()
		a.readsWaiting++
		a.mu.Unlock()
		defer func() {
			// Held until the read holds its token or its
			// reservation (or gave up), so no background read
			// slips in before it.
			a.mu.Lock()
			a.readDone()
			a.mu.Unlock()
		}()
		if err := a.awaitNoWrites(ctx); err != nil {
			return time.Time{}, err
		}
	}
	a.mu.Lock()
	b := a.buckets[k]
	if b == nil {
		a.mu.Unlock()
		return a.now(), nil
	}
	now := a.now()
	r := b.lim.ReserveN(now, cost)
	if !r.OK() {
		a.mu.Unlock()
		// burstFor keeps the burst at least the largest cost.
		return time.Time{}, fmt.Errorf("%s %s %s: a call costing %d tokens exceeds the bucket's burst %d", a.provider, a.name(), k, cost, b.lim.Burst())
	}
	delay := r.DelayFrom(now)
	if dl, ok := ctx.Deadline(); ok && !now.Add(delay).Before(dl) {
		r.CancelAt(now)
		a.mu.Unlock()
		return time.Time{}, a.errWait(k, fmt.Sprintf("the next token comes in %s, after the caller's deadline in %s (rate %.3g/s)",
			delay.Round(time.Millisecond), dl.Sub(now).Round(time.Millisecond), b.rate()))
	}
	if delay == 0 {
		a.mu.Unlock()
		a.gauges[k].spent.Add(float64(cost))
		return now, nil
	}
	if k == write {
		a.writesWaiting++
	}
	a.mu.Unlock()

	a.gauges[k].waiting.Inc()
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		a.gauges[k].waiting.Dec()
		a.mu.Lock()
		r.CancelAt(a.now()) // give the token back to the calls behind
		if k == write {
			a.writeDone()
		}
		a.mu.Unlock()
		return time.Time{}, a.errWait(k, "the caller gave up while waiting: "+ctx.Err().Error())
	}
	a.gauges[k].waiting.Dec()
	a.gauges[k].spent.Add(float64(cost))
	if k == write {
		a.mu.Lock()
		a.writeDone()
		a.mu.Unlock()
	}
	// The timer and the deadline can fire together: a call whose caller
	// is gone is not sent (the driver would fail it with the context's
	// error, which reads as in doubt).
	if err := ctx.Err(); err != nil {
		return time.Time{}, a.errWait(k, "the caller gave up as the token came: "+err.Error())
	}
	if k == write {
		return a.now(), nil
	}
	// A write that came while this read waited goes first.
	if err := a.awaitNoWrites(ctx); err != nil {
		return time.Time{}, err
	}
	return a.now(), nil
}

// acquireBackground takes cost read tokens for a background read: only
// tokens the bucket holds now beyond a reserve for foreground reads
// (backgroundReserve), and only while no write and no other read waits.
// It never reserves a token ahead as a foreground read does, so a
// foreground read that comes later finds no background reservations in
// front of it: at worst a background read took the token that was there,
// and the foreground read waits for the next one. The price is that a
// background read can wait indefinitely while foreground reads keep the
// bucket empty; its deadline ends that wait (ErrWaitExceeded).
func (a *account) acquireBackground(ctx context.Context, cost int) (time.Time, error) {
	w := waitCount{g: a.gauges[read].waiting}
	defer w.done()
	a.mu.Lock()
	ticket := a.nextTicket
	a.nextTicket++
	a.background = append(a.background, ticket)
	a.mu.Unlock()
	defer a.leaveBackground(ticket)
	for {
		a.mu.Lock()
		b := a.buckets[read]
		if b == nil && a.writesWaiting == 0 && a.readsWaiting == 0 {
			a.mu.Unlock()
			return a.now(), nil
		}
		if b != nil && cost > b.lim.Burst() {
			a.mu.Unlock()
			return time.Time{}, fmt.Errorf("%s %s %s: a call costing %d tokens exceeds the bucket's burst %d", a.provider, a.name(), read, cost, b.lim.Burst())
		}
		now := a.now()
		var wake <-chan struct{}
		var delay time.Duration
		switch {
		case a.writesWaiting > 0:
			wake = a.writesGone
		case a.readsWaiting > 0:
			if a.readsGone == nil {
				a.readsGone = make(chan struct{})
			}
			wake = a.readsGone
		case a.background[0] != ticket:
			if a.backgroundTurn == nil {
				a.backgroundTurn = make(chan struct{})
			}
			wake = a.backgroundTurn
		default:
			tokens := b.lim.TokensAt(now)
			need := float64(cost + backgroundReserve(b.lim.Burst(), cost))
			if tokens >= need {
				b.lim.AllowN(now, cost)
				a.mu.Unlock()
				a.gauges[read].spent.Add(float64(cost))
				return now, nil
			}
			// When the bucket holds that many again, at today's rate;
			// a foreground read may take them first.
			delay = time.Duration((need - tokens) / b.rate() * float64(time.Second))
			if dl, ok := ctx.Deadline(); ok && !now.Add(delay).Before(dl) {
				a.mu.Unlock()
				return time.Time{}, a.errWait(read, fmt.Sprintf("a background read: the next token comes in %s, after the caller's deadline in %s (rate %.3g/s)",
					delay.Round(time.Millisecond), dl.Sub(now).Round(time.Millisecond), b.rate()))
			}
		}
		a.mu.Unlock()
		w.waiting()
		var timer *time.Timer
		var tick <-chan time.Time
		if wake == nil {
			timer = time.NewTimer(max(delay, time.Millisecond))
			tick = timer.C
		}
		select {
		case <-wake:
		case <-tick:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, a.errWait(read, "a background read: the caller gave up while other calls went first: "+err.Error())
		}
	}
}

// leaveBackground takes a background read's ticket out of the queue,
// and wakes the others when it was the first.
func (a *account) leaveBackground(ticket uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := slices.Index(a.background, ticket)
	a.background = slices.Delete(a.background, i, i+1)
	if i == 0 && a.backgroundTurn != nil {
		close(a.backgroundTurn)
		a.backgroundTurn = nil
	}
}

// backgroundReserve is how many tokens of a bucket of burst tokens a
// background read leaves for foreground reads: a quarter, at least one,
// and never so many that a call of cost tokens could not go at all. A
// foreground read that finds them there goes at once instead of waiting
// for the next refill, and the provider's own bucket, which a refresh
// would otherwise keep as empty as ours, has the same room for it: with
// a budget as large as the provider's limit, a resize's read sent into an
// empty bucket was throttled at times (cloud load run).
func backgroundReserve(burst, cost int) int {
	return max(0, min(max(1, burst/4), burst-cost))
}

// readDone ends one foreground read's wait; a.mu is held.
func (a *account) readDone() {
	a.readsWaiting--
	if a.readsWaiting == 0 && a.readsGone != nil {
		close(a.readsGone)
		a.readsGone = nil
	}
}

// writeDone ends one write's wait; a.mu is held.
func (a *account) writeDone() {
	a.writesWaiting--
	if a.writesWaiting == 0 {
		close(a.writesGone)
		a.writesGone = make(chan struct{})
	}
}

// awaitNoWrites returns once no write is waiting for a token.
func (a *account) awaitNoWrites(ctx context.Context) error {
	w := waitCount{g: a.gauges[read].waiting}
	defer w.done()
	for {
		a.mu.Lock()
		if a.writesWaiting == 0 {
			a.mu.Unlock()
			return nil
		}
		gone := a.writesGone
		a.mu.Unlock()
		w.waiting()
		select {
		case <-gone:
		case <-ctx.Done():
			return a.errWait(read, "the caller gave up while writes went first: "+ctx.Err().Error())
		}
	}
}

// waitCount counts one call in a waiting gauge while it waits: once, at
// its first wait however often it waits again, until done. The reads'
// waits (behind writes, behind other reads) loop, and were counted by
// hand in each.
type waitCount struct {
	g       prometheus.Gauge
	counted bool
}

// waiting counts the call, once.
func (w *waitCount) waiting() {
	if !w.counted {
		w.counted = true
		w.g.Inc()
	}
}

// done uncounts the call if it was counted.
func (w *waitCount) done() {
	if w.counted {
		w.g.Dec()
	}
}

// done feeds a call's outcome back to its bucket: a throttle cuts the
// rate, a success grows it back; other failures (not found, invalid,
// unavailable) say nothing about the rate and leave it alone.
func (a *account) done(k kind, granted time.Time, err error) (cut bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[k]
	if b == nil {
		return false
	}
	now := a.now()
	switch {
	case err == nil:
		b.succeeded(now)
	case errors.Is(err, cloud.ErrThrottled):
		cut = b.throttled(now, granted)
	default:
		return false
	}
	a.gauges[k].rate.Set(b.rate())
	return cut
}

// empty drops the tokens of both buckets at now (Budget.AssumeSpent).
func (a *account) empty(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.buckets {
		if b != nil {
			b.empty(now)
		}
	}
}

// rate is the k bucket's current rate, 0 when it is unlimited.
func (a *account) rate(k kind) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.buckets[k] == nil {
		return 0
	}
	return a.buckets[k].rate()
}
