package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/cloud/fake"
)

// gatedDriver answers describes from sizes, one call at a time through
// gate when it is set, failing the groups in fail; it counts calls.
type gatedDriver struct {
	mu    sync.Mutex
	sizes map[string]int
	fail  map[string]error
	gate  chan struct{}
	calls atomic.Int64
}

func (d *gatedDriver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	d.calls.Add(1)
	if d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return cloud.GroupState{}, ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fail[g.Group]; err != nil {
		return cloud.GroupState{}, err
	}
	return cloud.GroupState{Desired: d.sizes[g.Group], Max: 100}, nil
}

func (d *gatedDriver) SetDesired(context.Context, cloud.GroupRef, int) error { return nil }

func (d *gatedDriver) set(group string, n int) {
	d.mu.Lock()
	d.sizes[group] = n
	d.mu.Unlock()
}

func testGroupCache(t *testing.T, d cloud.Driver, now func() time.Time, refresh time.Duration) *groupCache {
	t.Helper()
	m, err := newNodeMetrics(prometheus.NewRegistry(), &Node{})
	if err != nil {
		t.Fatal(err)
	}
	return newGroupCache(func(string) (cloud.Driver, error) { return d, nil }, now, m, time.Second, refresh)
}

func ref(group string) cloud.GroupRef { return cloud.GroupRef{Provider: "fake", Group: group} }

// TestGroupCacheRules checks the cache's rules one by one on a driver the
// test controls: which reads are served from the cache and which send a
// describe, and what an answer that comes too late is worth.
func TestGroupCacheRules(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1_780_000_000, 0)
	tests := []struct {
		name string
		run  func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64)
	}{
		{"a cached state is read without a call until it is older than twice the refresh", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			for i, step := range []struct {
				advance time.Duration
				calls   int64
				cached  bool
			}{{0, 1, false}, {10 * time.Second, 1, true}, {10 * time.Second, 1, true}, {11 * time.Second, 2, false}, {time.Second, 2, true}} {
				clock.Add(int64(step.advance))
				st, err := c.get(ctx, d, ref("a"))
				if err != nil || st.Desired != 2 || st.Cached != step.cached || d.calls.Load() != step.calls {
					t.Fatalf("read %d: %+v, %v after %d calls; want cached %v after %d", i, st, err, d.calls.Load(), step.cached, step.calls)
				}
			}
		}},
		{"the age of a cached state is counted from when its describe was sent", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			if _, err := c.get(ctx, d, ref("a")); err != nil {
				t.Fatal(err)
			}
			clock.Add(int64(7 * time.Second))
			if st, err := c.get(ctx, d, ref("a")); err != nil || st.Age != 7*time.Second {
				t.Fatalf("%+v, %v: want an age of 7s", st, err)
			}
		}},
		{"an invalidated group is described again", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			if _, err := c.get(ctx, d, ref("a")); err != nil {
				t.Fatal(err)
			}
			d.set("a", 5)
			c.invalidate(ref("a"))
			if st, err := c.get(ctx, d, ref("a")); err != nil || st.Desired != 5 || st.Cached {
				t.Fatalf("%+v, %v: want 5, described again", st, err)
			}
		}},
		{"an answer sent before an invalidation is not kept", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			d.gate = make(chan struct{})
			c.prefetch(ctx, []cloud.GroupRef{ref("a")})
			for d.calls.Load() == 0 { // the describe is in flight
				time.Sleep(time.Millisecond)
			}
			c.invalidate(ref("a")) // a resize ended meanwhile
			d.gate <- struct{}{}   // the old answer: 2
			c.wait()
			d.set("a", 5)
			go func() { d.gate <- struct{}{} }()
			if st, err := c.get(ctx, d, ref("a")); err != nil || st.Desired != 5 || d.calls.Load() != 2 {
				t.Fatalf("%+v, %v after %d calls: want 5 from a second describe", st, err, d.calls.Load())
			}
		}},
		{"evaluations of one group share one describe", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			d.gate = make(chan struct{})
			var wg sync.WaitGroup
			sizes := make([]int, 4)
			for i := range sizes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, _ := c.get(ctx, d, ref("a"))
					sizes[i] = st.Desired
				}()
			}
			time.Sleep(20 * time.Millisecond) // all four are waiting
			d.gate <- struct{}{}
			wg.Wait()
			if d.calls.Load() != 1 || sizes[0] != 2 || sizes[3] != 2 {
				t.Fatalf("%d calls, sizes %v: want one call answering all four", d.calls.Load(), sizes)
			}
		}},
		{"a failed describe is the evaluation's error and keeps the last state out of use once old", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			if _, err := c.get(ctx, d, ref("a")); err != nil {
				t.Fatal(err)
			}
			d.fail["a"] = cloud.ErrThrottled
			c.refresh(ctx, []cloud.GroupRef{ref("a")})
			if st, err := c.get(ctx, d, ref("a")); err != nil || !st.Cached {
				t.Fatalf("%+v, %v: a failed refresh leaves young state in use", st, err)
			}
			clock.Add(int64(21 * time.Second))
			if _, err := c.get(ctx, d, ref("a")); !errors.Is(err, cloud.ErrThrottled) {
				t.Fatalf("%v: want the describe's error for state too old to use", err)
			}
		}},
		{"a describe refused for want of calls is left to the refresh for a refresh period", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			for _, refused := range []error{cloud.ErrThrottled, budget.ErrWaitExceeded} {
				d.fail["a"] = refused
				calls0 := d.calls.Load()
				for i, step := range []struct {
					advance time.Duration
					calls   int64
				}{{0, 1}, {time.Second, 1}, {8 * time.Second, 1}, {time.Second, 2}} {
					clock.Add(int64(step.advance))
					c.prefetch(ctx, []cloud.GroupRef{ref("a")})
					c.wait()
					if _, err := c.get(ctx, d, ref("a")); !errors.Is(err, refused) || d.calls.Load()-calls0 != step.calls {
						t.Fatalf("%v, read %d: %v after %d calls; want it after %d", refused, i, err, d.calls.Load()-calls0, step.calls)
					}
				}
				delete(d.fail, "a")
				c.refresh(ctx, []cloud.GroupRef{ref("a")}) // the refresh retries it at once
				if st, err := c.get(ctx, d, ref("a")); err != nil || st.Desired != 2 || d.calls.Load()-calls0 != 3 {
					t.Fatalf("%+v, %v after %d calls: want the refresh's answer", st, err, d.calls.Load()-calls0)
				}
				c.invalidate(ref("a")) // the next round starts uncached
				clock.Add(int64(time.Minute))
			}
		}},
		{"other failures are described again by the next evaluation", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			for _, err := range []error{cloud.ErrUnavailable, cloud.ErrNotFound} {
				d.fail["a"] = err
				calls := d.calls.Load()
				for range 2 {
					if _, got := c.get(ctx, d, ref("a")); !errors.Is(got, err) {
						t.Fatalf("%v, want %v", got, err)
					}
				}
				if n := d.calls.Load() - calls; n != 2 {
					t.Fatalf("%v: %d calls for two evaluations, want 2", err, n)
				}
			}
		}},
		{"a refresh describes every group of refs and forgets the others", func(t *testing.T, d *gatedDriver, c *groupCache, clock *atomic.Int64) {
			d.fail["c"] = cloud.ErrNotFound
			c.prefetch(ctx, []cloud.GroupRef{ref("a"), ref("gone")})
			c.wait()
			c.refresh(ctx, []cloud.GroupRef{ref("a"), ref("b"), ref("c")})
			if d.calls.Load() != 5 {
				t.Fatalf("%d calls, want 2 prefetched and 3 refreshed", d.calls.Load())
			}
			c.mu.Lock()
			_, gone := c.groups[ref("gone")]
			b := c.groups[ref("b")]
			cg := c.groups[ref("c")]
			c.mu.Unlock()
			if gone || b == nil || b.at.IsZero() || cg == nil || !cg.at.IsZero() || !errors.Is(cg.err, cloud.ErrNotFound) {
				t.Fatalf("after the refresh: gone kept %v, b %+v, c %+v", gone, b, cg)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(t0.UnixNano())
			d := &gatedDriver{sizes: map[string]int{"a": 2, "b": 3}, fail: map[string]error{}}
			c := testGroupCache(t, d, func() time.Time { return time.Unix(0, clock.Load()) }, 10*time.Second)
			tc.run(t, d, c, &clock)
			c.wait()
		})
	}
}

// BenchmarkGroupRefresh measures the cache's own cost of refreshing 10,000
// groups of the in-process fake cloud (whose describe is a map read), one
// describe a group or in batches of groupBatch (each batch answered group
// by group by the same fake): what a refresh costs the leader beyond the
// provider's calls.
func BenchmarkGroupRefresh(b *testing.B) {
	const groups = 10000
	for _, batch := range []bool{false, true} {
		b.Run(map[bool]string{false: "single", true: "batch"}[batch], func(b *testing.B) {
			fc := fake.New(fake.Options{AutoCreate: true, DefaultMax: 100, DefaultDesired: 2})
			var d cloud.Driver = fake.NewDriver(fc)
			counter := &countingDriver{under: d}
			d = counter
			if batch {
				d = batchingDriver{counter}
			}
			m, err := newNodeMetrics(prometheus.NewRegistry(), &Node{})
			if err != nil {
				b.Fatal(err)
			}
			c := newGroupCache(func(string) (cloud.Driver, error) { return d, nil }, time.Now, m, 10*time.Second, 15*time.Second)
			refs := make([]cloud.GroupRef, groups)
			for i := range refs {
				refs[i] = ref(fmt.Sprintf("g%05d", i))
			}
			ctx := context.Background()
			c.refresh(ctx, refs)
			calls0 := counter.calls()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.refresh(ctx, refs)
			}
			b.ReportMetric(float64(counter.calls()-calls0)/float64(b.N), "calls/refresh")
		})
	}
}

// TestBatchJobs: GCP and Azure groups go to their driver one location a
// call, however many; others in calls of up to groupBatch; a driver that
// does not batch gets one group a call.
func TestBatchJobs(t *testing.T) {
	jobs := func(n int, ref func(i int) cloud.GroupRef) []fetchJob {
		js := make([]fetchJob, n)
		for i := range js {
			js[i].ref = ref(i)
		}
		return js
	}
	gcpRef := func(i int) cloud.GroupRef {
		return cloud.GroupRef{Provider: "gcp", Project: "p", Zone: fmt.Sprintf("zone-%d", i%4), Group: fmt.Sprintf("g%d", i)}
	}
	azRef := func(i int) cloud.GroupRef {
		return cloud.GroupRef{Provider: "azure", Subscription: "s", ResourceGroup: fmt.Sprintf("rg%d", i%3), ScaleSet: fmt.Sprintf("v%d", i)}
	}
	awsRef := func(i int) cloud.GroupRef {
		return cloud.GroupRef{Provider: "aws", Region: fmt.Sprintf("r%d", i%2), Group: fmt.Sprintf("g%d", i)}
	}
	tests := []struct {
		name  string
		js    []fetchJob
		batch bool
		sizes []int
	}{
		{"gcp: one call per zone", jobs(1000, gcpRef), true, []int{250, 250, 250, 250}},
		{"azure: one call per resource group", jobs(9, azRef), true, []int{3, 3, 3}},
		{"aws: calls of groupBatch", jobs(450, awsRef), true, []int{groupBatch, groupBatch, 50}},
		{"no batch call: one group a call", jobs(3, gcpRef), false, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := batchJobs(tt.js, tt.batch)
			var sizes []int
			seen := 0
			for _, b := range got {
				sizes = append(sizes, len(b))
				seen += len(b)
				if tt.batch && (b[0].ref.Provider == "gcp" || b[0].ref.Provider == "azure") {
					for _, j := range b {
						if locationOf(j.ref) != locationOf(b[0].ref) {
							t.Fatalf("a call mixes %s and %s", locationOf(j.ref), locationOf(b[0].ref))
						}
					}
				}
			}
			if !slices.Equal(sizes, tt.sizes) || seen != len(tt.js) {
				t.Fatalf("calls of %v groups (%d in all), want %v", sizes, seen, tt.sizes)
			}
		})
	}
}

// clockedDriver records, for each describe, when it came (by the clock of
// the synctest bubble it runs in) and whether its reads were background
// reads; each describe takes took.
type clockedDriver struct {
	took  time.Duration
	mu    sync.Mutex
	calls []clockedCall
}

type clockedCall struct {
	group      string
	at         time.Duration // since start
	background bool
}

func (d *clockedDriver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	d.mu.Lock()
	d.calls = append(d.calls, clockedCall{group: g.Group, at: time.Since(bubbleStart), background: budget.IsBackground(ctx)})
	d.mu.Unlock()
	time.Sleep(d.took)
	return cloud.GroupState{Desired: 1, Max: 10}, nil
}

func (d *clockedDriver) SetDesired(context.Context, cloud.GroupRef, int) error { return nil }

func (d *clockedDriver) log() []clockedCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// bubbleStart is where every synctest bubble's clock starts.
var bubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// warnings counts a refresh's warnings.
type warnings struct{ n atomic.Int64 }

func (w *warnings) Warn(string, ...any) { w.n.Add(1) }

// TestRefreshSpread runs the leader's periodic refresh on the clock of a
// synctest bubble: its calls are background reads spread evenly over the
// period (the i-th of n at i/n of it), each claims its groups only when it
// starts (so a group needed before then is described on demand, in the
// foreground, without waiting), and a refresh that runs past its period
// sets the overrun gauge and is logged once a term.
func TestRefreshSpread(t *testing.T) {
	const period = 10 * time.Second
	refs := []cloud.GroupRef{ref("a"), ref("b"), ref("c"), ref("d")}
	cases := []struct {
		name string
		took time.Duration // each describe's
		// refreshes run back to back
		refreshes int
		wantAt    []time.Duration // when the first refresh's calls came
		overrun   time.Duration
		warned    int64
	}{
		{"calls spread evenly, within the period", 100 * time.Millisecond, 1,
			[]time.Duration{0, 2500 * time.Millisecond, 5 * time.Second, 7500 * time.Millisecond}, 0, 0},
		// Four fetchers: the four calls run at their slots, each for
		// 9 s; the last ends at 16.5 s, 6.5 s past the period.
		{"calls that take too long overrun the period, logged once", 9 * time.Second, 2,
			[]time.Duration{0, 2500 * time.Millisecond, 5 * time.Second, 7500 * time.Millisecond}, 6500 * time.Millisecond, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := &clockedDriver{took: tc.took}
				c := testGroupCache(t, d, time.Now, period)
				w := &warnings{}
				for range tc.refreshes {
					c.refreshSpread(context.Background(), refs, w)
				}
				log := d.log()
				if len(log) != len(refs)*tc.refreshes {
					t.Fatalf("%d describes, want %d", len(log), len(refs)*tc.refreshes)
				}
				for i, want := range tc.wantAt {
					if log[i].at != want || !log[i].background {
						t.Errorf("call %d: %+v, want at %s, background", i, log[i], want)
					}
				}
				if got := testutil.ToFloat64(c.metrics.groupOverrun); got != tc.overrun.Seconds() {
					t.Errorf("overrun gauge %g, want %g", got, tc.overrun.Seconds())
				}
				if w.n.Load() != tc.warned {
					t.Errorf("%d warnings, want %d", w.n.Load(), tc.warned)
				}
			})
		})
	}
}

// TestRefreshSpreadClaimsLate: a group whose refresh call has not started
// yet is not waiting on the refresh: an evaluation that needs it fresh
// describes it at once, as a foreground read.
func TestRefreshSpreadClaimsLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &clockedDriver{took: 100 * time.Millisecond}
		c := testGroupCache(t, d, time.Now, 10*time.Second)
		refs := []cloud.GroupRef{ref("a"), ref("b")}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.refreshSpread(context.Background(), refs, nil)
		}()
		time.Sleep(time.Second) // a is refreshed; b's call starts at 5 s
		c.invalidate(ref("b"))  // say the leader resized it
		asked := time.Now()
		st, err := c.get(context.Background(), d, ref("b"))
		if err != nil || st.Cached {
			t.Fatalf("%+v, %v: want described", st, err)
		}
		if waited := time.Since(asked); waited != d.took {
			t.Errorf("the evaluation waited %s, want its own describe's %s", waited, d.took)
		}
		<-done
		log := d.log()
		want := []clockedCall{{"a", 0, true}, {"b", time.Second, false}, {"b", 5 * time.Second, true}}
		if !slices.Equal(log, want) {
			t.Errorf("describes %+v, want %+v", log, want)
		}
	})
}

// TestRefreshYieldsToEvaluations: through the call budget, an evaluation's
// describe of a group the leader just resized does not queue behind the
// refresh's reads (synctest clock, 10 reads/s, 200 groups a describe each:
// a 20 s refresh): it goes at once, from the reserve the refresh leaves,
// and at worst one token later.
func TestRefreshYieldsToEvaluations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := budget.New(budget.Options{Read: budget.Rates{"fake": 10}})
		if err != nil {
			t.Fatal(err)
		}
		d := b.Wrap("fake", &clockedDriver{})
		c := testGroupCache(t, d, time.Now, time.Minute)
		refs := make([]cloud.GroupRef, 200)
		for i := range refs {
			refs[i] = ref(fmt.Sprintf("g%03d", i))
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.refresh(context.Background(), refs)
		}()
		for _, at := range []time.Duration{3 * time.Second, 7 * time.Second, 12 * time.Second} {
			time.Sleep(time.Until(bubbleStart.Add(at)))
			g := refs[190] // its refresh call comes last
			c.invalidate(g)
			asked := time.Now()
			if _, err := c.get(context.Background(), d, g); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(asked); waited > 100*time.Millisecond {
				t.Errorf("at %s the evaluation's describe waited %s behind the refresh, want at most one token (100ms)", at, waited)
			}
		}
		<-done
	})
}

// TestFirstDescribes: a new leader's first describes of every group
// (first) after its budget assumed the account's bucket spent: no call
// before the bucket refilled for it, none faster than the budget's rate,
// all of them background reads, and an on-demand describe (a settle's, or
// an evaluation's of a group outside them) goes at once, before them.
// The rows without AssumeSpent and with a foreground prefetch are the
// contrasts: a burst from the full bucket, and an on-demand describe
// queued behind the prefetch's reservations. Synctest clock, 10 reads/s,
// 100 groups described one a call: 10 s of calls.
func TestFirstDescribes(t *testing.T) {
	cases := []struct {
		name   string
		assume bool // the budget assumed the account spent (a new leader's)
		first  bool // first, or a plain prefetch
		// maxFirstSecond is the most calls the first second may hold;
		// maxWait the longest an on-demand describe at 3 s may wait.
		maxFirstSecond, maxWait int
		wantBackground          bool
		wantBurst               bool // the first second over the rate (a contrast)
		wantQueued              bool // the on-demand describe waited longer than maxWait
	}{
		{"a new leader's first describes", true, true, 10, 100, true, false, false},
		{"contrast: from a full bucket", false, true, 10, 100, true, true, false},
		{"contrast: in the foreground", true, false, 10, 100, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b, err := budget.New(budget.Options{Read: budget.Rates{"fake": 10}})
				if err != nil {
					t.Fatal(err)
				}
				d := &clockedDriver{}
				drv := b.Wrap("fake", d)
				c := testGroupCache(t, drv, time.Now, time.Minute)
				// The budget has served the old term's calls: full again.
				if _, err := drv.Describe(context.Background(), ref("before")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				start := time.Since(bubbleStart)
				if tc.assume {
					b.AssumeSpent()
				}
				refs := make([]cloud.GroupRef, 100)
				for i := range refs {
					refs[i] = ref(fmt.Sprintf("g%03d", i))
				}
				ctx := context.Background()
				if tc.first {
					c.first(ctx, refs)
				} else {
					c.prefetch(ctx, refs)
				}
				time.Sleep(3 * time.Second)
				asked := time.Now()
				if _, err := c.describe(ctx, drv, ref("other")); err != nil {
					t.Fatal(err)
				}
				waited := time.Since(asked)
				c.wait()
				var inFirstSecond int
				for _, call := range d.log()[1:] {
					if call.group == "other" {
						continue
					}
					if call.at-start < time.Second {
						inFirstSecond++
					}
					if call.background != tc.wantBackground {
						t.Errorf("%s described at %s as background: %v, want %v", call.group, call.at-start, call.background, tc.wantBackground)
					}
				}
				if burst := inFirstSecond > tc.maxFirstSecond; burst != tc.wantBurst {
					t.Errorf("%d calls in the first second (the budget's rate: 10): a burst %v, want %v", inFirstSecond, burst, tc.wantBurst)
				}
				if queued := waited > time.Duration(tc.maxWait)*time.Millisecond; queued != tc.wantQueued {
					t.Errorf("the on-demand describe waited %s: longer than %dms %v, want %v", waited, tc.maxWait, queued, tc.wantQueued)
				}
				if n := len(d.log()); n != 1+len(refs)+1 {
					t.Errorf("%d describes, want one per group and the two others", n)
				}
				t.Logf("%d calls in the first second; the on-demand describe waited %s", inFirstSecond, waited)
			})
		})
	}
}
