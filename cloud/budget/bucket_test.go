package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/cloud"
)

var defaultAIMD = aimdConfig{decrease: DefaultDecrease, increase: DefaultIncrease, floor: DefaultFloor}

// TestAIMD steps a bucket configured at 10 calls/s through provider
// answers and checks its rate and burst after each.
func TestAIMD(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		// at is when the answer comes, granted when its call got its
		// token, in seconds.
		at, granted float64
		throttled   bool
		wantRate    float64
		wantCut     bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a throttle halves the rate", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
		}},
		{"throttles of calls sent before the cut count once", []step{
			{at: 10, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 11, granted: 1, throttled: true, wantRate: 5},
			{at: 12, granted: 9, throttled: true, wantRate: 5},
		}},
		{"a throttle of a call sent after the cut cuts again", []step{
			{at: 10, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 20, granted: 15, throttled: true, wantRate: 2.5, wantCut: true},
		}},
		{"the floor is a twentieth of the configured rate", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 3, granted: 2, throttled: true, wantRate: 2.5, wantCut: true},
			{at: 5, granted: 4, throttled: true, wantRate: 1.25, wantCut: true},
			{at: 7, granted: 6, throttled: true, wantRate: 0.625, wantCut: true},
			{at: 9, granted: 8, throttled: true, wantRate: 0.5, wantCut: true},
			{at: 11, granted: 10, throttled: true, wantRate: 0.5, wantCut: true},
		}},
		{"successes add a twentieth back per second", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 2, granted: 2, wantRate: 5.5},
			{at: 3, granted: 3, wantRate: 6},
		}},
		{"many successes in a second add no more than one", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 1.25, granted: 1.2, wantRate: 5.125}, {at: 1.5, granted: 1.4, wantRate: 5.25},
			{at: 1.5, granted: 1.5, wantRate: 5.25}, {at: 2, granted: 1.9, wantRate: 5.5},
		}},
		{"a success after a pause adds the pause's worth", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 5, granted: 4.9, wantRate: 7},
		}},
		{"successes stop at the configured rate", []step{
			{at: 1, granted: 0, throttled: true, wantRate: 5, wantCut: true},
			{at: 2, granted: 2, wantRate: 5.5}, {at: 3, granted: 3, wantRate: 6}, {at: 4, granted: 4, wantRate: 6.5},
			{at: 5, granted: 5, wantRate: 7}, {at: 6, granted: 6, wantRate: 7.5}, {at: 7, granted: 7, wantRate: 8},
			{at: 8, granted: 8, wantRate: 8.5}, {at: 9, granted: 9, wantRate: 9}, {at: 10, granted: 10, wantRate: 9.5},
			{at: 11, granted: 11, wantRate: 10}, {at: 12, granted: 12, wantRate: 10},
		}},
		{"a success at the configured rate changes nothing", []step{
			{at: 1, granted: 0, wantRate: 10},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newAIMD(10, 2, defaultAIMD)
			for i, s := range tc.steps {
				now, granted := t0.Add(time.Duration(s.at*float64(time.Second))), t0.Add(time.Duration(s.granted*float64(time.Second)))
				cut := false
				if s.throttled {
					cut = b.throttled(now, granted)
				} else {
					b.succeeded(now)
				}
				if math.Abs(b.rate()-s.wantRate) > 1e-9 || cut != s.wantCut {
					t.Fatalf("step %d: rate %g, cut %v; want %g, %v", i, b.rate(), cut, s.wantRate, s.wantCut)
				}
				if cut && b.lim.TokensAt(now) >= 1 {
					t.Fatalf("step %d: %g tokens left after a cut, want the bucket emptied", i, b.lim.TokensAt(now))
				}
				if want := max(2, int(math.Ceil(s.wantRate))); b.lim.Burst() != want {
					t.Fatalf("step %d: burst %d, want %d (one second at %g/s, at least the largest cost 2)", i, b.lim.Burst(), want, s.wantRate)
				}
			}
		})
	}
}

// testAccount is an account of rates read and write (0: unlimited) whose
// buckets are empty at the start.
func testAccount(t *testing.T, readRate, writeRate float64) *account {
	t.Helper()
	var buckets [2]*aimd
	var gauges [2]accountGauges
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for k, r := range [2]float64{readRate, writeRate} {
		gauges[k] = m.gauges("aws", "us-east-1", kind(k))
		if r > 0 {
			buckets[k] = newAIMD(r, 1, defaultAIMD)
			buckets[k].lim.ReserveN(now, buckets[k].lim.Burst()) // empty it
		}
	}
	return newAccount("aws", "us-east-1", time.Now, buckets, gauges)
}

// TestAcquireDeadline checks that a call waits for its token only when the
// token comes before its deadline, and that a call that gets none fails
// with ErrWaitExceeded, which is neither throttled (retried) nor a context
// error (in doubt), and gives its reservation back.
func TestAcquireDeadline(t *testing.T) {
	cases := []struct {
		name     string
		rate     float64 // tokens per second; the bucket starts empty
		deadline time.Duration
		cancel   bool // cancel the context while the call waits
		wantErr  bool
	}{
		{"token before the deadline: waits and goes", 100, 2 * time.Second, false, false},
		{"no deadline: waits and goes", 100, 0, false, false},
		{"token after the deadline: fails at once", 0.5, 200 * time.Millisecond, false, true},
		{"cancelled while waiting", 2, 0, true, true},
		{"already expired", 100, -time.Second, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := testAccount(t, tc.rate, tc.rate)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.deadline != 0 {
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(tc.deadline))
				defer cancel()
			}
			if tc.cancel {
				go func() {
					for gaugeValue(a.gauges[write].waiting) == 0 {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
			}
			before := a.buckets[write].lim.Tokens()
			start := time.Now()
			granted, err := a.acquire(ctx, write, 1)
			if (err != nil) != tc.wantErr {
				t.Fatalf("acquire: %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrWaitExceeded) || errors.Is(err, cloud.ErrThrottled) ||
					errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || cloud.Transient(err) {
					t.Errorf("error %v: want ErrWaitExceeded only (not throttled, transient or a context error)", err)
				}
				// The reservation went back: the bucket has what it had.
				if after := a.buckets[write].lim.Tokens(); after < before-0.01 {
					t.Errorf("tokens %g after the failed wait, %g before: the reservation was kept", after, before)
				}
				a.mu.Lock()
				waiting := a.writesWaiting
				a.mu.Unlock()
				if waiting != 0 {
					t.Errorf("writesWaiting = %d after the failed wait", waiting)
				}
				return
			}
			// The token was not there at once: the call waited for it.
			if granted.Sub(start) < time.Duration(float64(time.Second)/tc.rate)/2 {
				t.Errorf("granted after %s, before a token could come at %g/s", granted.Sub(start), tc.rate)
			}
		})
	}
}

// TestWritesBeforeReads checks that no read starts while a write waits
// for its token, even a read whose own bucket has tokens.
func TestWritesBeforeReads(t *testing.T) {
	a := testAccount(t, 0, 2) // reads unlimited, writes at 2/s from empty
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	type result struct {
		at  time.Time
		err error
	}
	wdone := make(chan result, 1)
	start := time.Now()
	go func() {
		at, err := a.acquire(wctx, write, 1)
		wdone <- result{at, err}
	}()
	for gaugeValue(a.gauges[write].waiting) == 0 {
		time.Sleep(time.Millisecond)
	}

	// A read that must go within 50 ms cannot: the write goes first.
	rctx, rcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := a.acquire(rctx, read, 1)
	rcancel()
	if !errors.Is(err, ErrWaitExceeded) {
		t.Fatalf("read while a write waits: %v, want ErrWaitExceeded", err)
	}

	// A read without a deadline goes after the write got its token.
	readAt, err := a.acquire(context.Background(), read, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := <-wdone
	if w.err != nil {
		t.Fatal(w.err)
	}
	// The write's token is due 500 ms after the bucket was emptied,
	// just before start.
	if tokenAt := start.Add(490 * time.Millisecond); readAt.Before(tokenAt) {
		t.Errorf("read granted %s after the start, before the write's token was due (500ms)", readAt.Sub(start))
	}
	if readAt.Before(w.at.Add(-time.Millisecond)) {
		t.Errorf("read granted at %s, write at %s: the read went first", readAt.Sub(start), w.at.Sub(start))
	}
	if v := gaugeValue(a.gauges[read].waiting) + gaugeValue(a.gauges[write].waiting); v != 0 {
		t.Errorf("waiting gauges sum to %g after every call went", v)
	}
}

func gaugeValue(g prometheus.Gauge) float64 { return testutil.ToFloat64(g) }

// TestBackgroundReads runs background reads (the leader's refresh: many
// callers that take every token they can) beside foreground reads and
// writes, on the budget's own clock (a synctest bubble: time moves only
// when every goroutine waits, so each wait is measured exactly), and
// checks the priorities: a foreground read waits at most one token's
// refill behind the background (none while the reserve the background
// leaves is there), foreground reads queue among themselves
// only, writes go before both, and background reads alone get the whole
// rate.
func TestBackgroundReads(t *testing.T) {
	const rate = 10 // reads per second: a token every 100 ms
	token := time.Second / rate
	cases := []struct {
		name string
		// background is how many background readers take tokens in a
		// loop from the start; foreground asks for one read each at
		// these offsets, n at a time.
		background int
		at         []time.Duration
		n          int
		// maxWait is the longest a foreground read may wait.
		maxWait time.Duration
	}{
		// The background leaves a reserve (2 of a bucket of 10): a lone
		// foreground read finds a token there and does not wait at all.
		{"one foreground read now and then behind 30 background readers", 30,
			[]time.Duration{350 * time.Millisecond, time.Second, 2550 * time.Millisecond, 4 * time.Second}, 1, 0},
		{"a foreground read right after the bucket was emptied", 30, []time.Duration{0, 100 * time.Millisecond}, 1, token},
		{"five foreground reads at once queue among themselves only", 30, []time.Duration{time.Second, 3 * time.Second}, 5, 5 * token},
		{"no background: a foreground read waits for its own token", 0, []time.Duration{50 * time.Millisecond}, 1, token},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := testAccount(t, rate, 0)
				ctx, stop := context.WithCancel(context.Background())
				bg := Background(ctx)
				var wg sync.WaitGroup
				var bgGranted atomic.Int64
				for range tc.background {
					wg.Go(func() {
						for {
							if _, err := a.acquire(bg, read, 1); err != nil {
								return
							}
							bgGranted.Add(1)
						}
					})
				}
				start := time.Now()
				for _, at := range tc.at {
					time.Sleep(time.Until(start.Add(at)))
					var fg sync.WaitGroup
					for i := range tc.n {
						fg.Go(func() {
							asked := time.Now()
							granted, err := a.acquire(context.Background(), read, 1)
							if err != nil {
								t.Errorf("foreground read %d at %s: %v", i, at, err)
								return
							}
							if w := granted.Sub(asked); w > tc.maxWait {
								t.Errorf("foreground read %d asked at %s waited %s, want at most %s", i, at, w, tc.maxWait)
							}
						})
					}
					fg.Wait()
				}
				elapsed := time.Since(start)
				stop()
				wg.Wait()
				// Tokens the bucket made over the run (it started
				// empty), minus the foreground's and the reserve the
				// background leaves in the bucket (2 of 10, which can
				// still be there at the end): the background got the
				// rest, so it was slowed, not starved. (Without the
				// reserve in the bound it failed once under make test:
				// 34 tokens, want at least 35.)
				if tc.background > 0 {
					const reserve = 2
					made := int64(elapsed / token)
					want := made - int64(len(tc.at)*tc.n) - reserve - 1
					if got := bgGranted.Load(); got < want {
						t.Errorf("background reads got %d tokens in %s, want at least %d", got, elapsed, want)
					}
				}
			})
		})
	}
}

// TestBackgroundAfterWrites: a background read does not take a token
// while a write waits for one, nor while a foreground read waits behind
// that write.
func TestBackgroundAfterWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := testAccount(t, 0, 2) // reads unlimited, writes at 2/s from empty
		var order []string
		var mu sync.Mutex
		note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := a.acquire(context.Background(), write, 1); err == nil {
				note("write")
			}
		})
		synctest.Wait() // the write waits for its token (500 ms)
		wg.Go(func() {
			if _, err := a.acquire(Background(context.Background()), read, 1); err == nil {
				note("background")
			}
		})
		synctest.Wait()
		wg.Go(func() {
			if _, err := a.acquire(context.Background(), read, 1); err == nil {
				note("foreground")
			}
		})
		wg.Wait()
		if got := strings.Join(order, ","); got != "write,foreground,background" {
			t.Fatalf("order %s, want write,foreground,background", got)
		}
	})
}

// TestBackgroundReserve: the tokens a background read leaves in the
// bucket for foreground reads.
func TestBackgroundReserve(t *testing.T) {
	for _, tc := range []struct{ burst, cost, want int }{
		{20, 1, 5}, // a quarter
		{10, 1, 2},
		{3, 1, 1}, // at least one
		{2, 1, 1},
		{1, 1, 0}, // but a call must still fit
		{2, 2, 0},
		{8, 2, 2},
	} {
		if got := backgroundReserve(tc.burst, tc.cost); got != tc.want {
			t.Errorf("backgroundReserve(%d, %d) = %d, want %d", tc.burst, tc.cost, got, tc.want)
		}
	}
}

// TestBackgroundReadsInTurn: background reads waiting together (the
// refresh's calls, four at a time) take their tokens in the order they
// asked, so each waits for the ones before it only; racing for each token
// instead, one could lose every race until its deadline while the others
// were served (a new leader's first describes lost 6 of 102 groups so,
// controlplane TestFirstDescribes). Rate 10/s from an empty bucket, a
// reserve of 2: the i-th of n readers gets its token at 300 + 100·i ms.
func TestBackgroundReadsInTurn(t *testing.T) {
	for _, n := range []int{2, 4, 8} {
		t.Run(fmt.Sprint(n, " readers"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := testAccount(t, 10, 0)
				start := time.Now()
				granted := make([]time.Duration, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						ctx, cancel := context.WithTimeout(Background(context.Background()), time.Duration(300+100*i)*time.Millisecond+50*time.Millisecond)
						defer cancel()
						at, err := a.acquire(ctx, read, 1)
						if err != nil {
							t.Errorf("reader %d: %v", i, err)
							return
						}
						granted[i] = at.Sub(start)
					})
					synctest.Wait() // reader i waits before reader i+1 asks
				}
				wg.Wait()
				for i, g := range granted {
					if want := time.Duration(300+100*i) * time.Millisecond; g != want {
						t.Errorf("reader %d got its token at %s, want %s (in turn)", i, g, want)
					}
				}
				if v := gaugeValue(a.gauges[read].waiting); v != 0 {
					t.Errorf("waiting gauge %g after every read went", v)
				}
			})
		})
	}
}
