package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/policy"
)

func TestFresh(t *testing.T) {
	slot := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a multiple of 10s since the zero time
	cases := []struct {
		name         string
		fetched, now time.Duration // after slot
		interval     time.Duration
		want         bool
	}{
		{"same instant", 0, 0, 10 * time.Second, true},
		{"later in the slot", time.Second, 9 * time.Second, 10 * time.Second, true},
		{"next slot, one second later", 9 * time.Second, 10 * time.Second, 10 * time.Second, false},
		{"a whole interval later", 3 * time.Second, 13 * time.Second, 10 * time.Second, false},
		{"a longer interval spans both", 9 * time.Second, 10 * time.Second, time.Minute, true},
		{"fetched a little after now, same slot", 5 * time.Second, time.Second, 10 * time.Second, true},
		{"fetched in a later slot (clock stepped back)", 15 * time.Second, time.Second, 10 * time.Second, false},
		{"no interval", 0, 0, 0, false},
	}
	for _, c := range cases {
		if got := fresh(slot.Add(c.fetched), slot.Add(c.now), c.interval); got != c.want {
			t.Errorf("%s: fresh = %v, want %v", c.name, got, c.want)
		}
	}
}

// fakeReader answers a source's query (or queue URL) from values; it
// counts Reads and, when batch is set, serves ReadBatch too.
type fakeReader struct {
	mu      sync.Mutex
	values  map[string]float64
	fail    map[string]error
	delay   time.Duration
	reads   atomic.Int32
	batches atomic.Int32
	sizes   []int
	busy    atomic.Int32
	maxBusy atomic.Int32
}

func (f *fakeReader) Read(ctx context.Context, src policy.Source) (float64, time.Time, error) {
	return f.read(ctx, src, f.delay)
}

// read is Read after waiting delay.
func (f *fakeReader) read(ctx context.Context, src policy.Source, delay time.Duration) (float64, time.Time, error) {
	f.reads.Add(1)
	n := f.busy.Add(1)
	defer f.busy.Add(-1)
	for m := f.maxBusy.Load(); n > m && !f.maxBusy.CompareAndSwap(m, n); m = f.maxBusy.Load() {
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return 0, time.Time{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[src.Query]; err != nil {
		return 0, time.Time{}, err
	}
	v, ok := f.values[src.Query]
	if !ok {
		return 0, time.Time{}, fmt.Errorf("no value for %q", src.Query)
	}
	return v, time.Unix(int64(v), 0), nil
}

func (f *fakeReader) set(q string, v float64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[q] = v
	if f.fail == nil {
		f.fail = map[string]error{}
	}
	f.fail[q] = err
}

// batchReader is a fakeReader with ReadBatch: one call answers every
// source.
type batchReader struct{ *fakeReader }

func (b batchReader) ReadBatch(ctx context.Context, srcs []policy.Source, found func(int, float64, time.Time, error)) {
	b.batches.Add(1)
	b.mu.Lock()
	b.sizes = append(b.sizes, len(srcs))
	b.mu.Unlock()
	select {
	case <-time.After(b.delay):
	case <-ctx.Done():
	}
	for i, s := range srcs {
		v, at, err := b.read(ctx, s, 0)
		found(i, v, at, err)
	}
}

func promQuery(q string) policy.Source { return policy.Source{Kind: policy.SourcePrometheus, Query: q} }

// listing is a policy set's pulled sources, as FSM.pulledSources gives
// them.
func listing(every time.Duration, queries ...string) func(policy.SourceKind) map[sourceKey]pullSource {
	return func(kind policy.SourceKind) map[sourceKey]pullSource {
		out := map[sourceKey]pullSource{}
		for _, q := range queries {
			out[keyOf(promQuery(q))] = pullSource{src: promQuery(q), every: every}
		}
		return out
	}
}

func testPullCache(sources func(policy.SourceKind) map[sourceKey]pullSource) *pullCache {
	return newPullCache(sources, 5*time.Second, slog.New(slog.DiscardHandler), newPullMetrics())
}

// TestPullCacheOneRefreshPerSlot: the first read of a slot refreshes every
// source of the policy set in one batch; the other reads of the slot are
// served from the cache; the next slot refreshes again.
func TestPullCacheOneRefreshPerSlot(t *testing.T) {
	var queries []string
	f := &fakeReader{values: map[string]float64{}}
	for i := range 100 {
		q := fmt.Sprintf("q%d", i)
		queries = append(queries, q)
		f.values[q] = float64(i)
	}
	c := testPullCache(listing(10*time.Second, queries...))
	r := batchReader{f}
	slot := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for s := range 3 {
		for i, q := range queries {
			now := slot.Add(time.Duration(s)*10*time.Second + time.Duration(i)*50*time.Millisecond)
			got, ok := c.read(context.Background(), r, promQuery(q), 10*time.Second, now)
			if !ok || got.err != nil || got.value != float64(i) {
				t.Fatalf("slot %d, %s: %+v", s, q, got)
			}
		}
	}
	if b := f.batches.Load(); b != 3 {
		t.Fatalf("%d batches for 3 slots of 100 policies, want 3", b)
	}
	for _, n := range f.sizes {
		if n != 100 {
			t.Fatalf("batch sizes %v, want 100 each", f.sizes)
		}
	}
	for _, m := range []struct {
		name string
		c    *prometheus.CounterVec
		want float64
	}{{"served", c.metrics.served, 300}, {"refreshes", c.metrics.refreshes, 3}, {"refreshed", c.metrics.refreshed, 300}} {
		if got := testutil.ToFloat64(m.c.WithLabelValues("prometheus")); got != m.want {
			t.Errorf("%s counted %v, want %v", m.name, got, m.want)
		}
	}
}

// TestPullCacheConcurrentMissesShareARefresh: evaluations that miss while
// a refresh is under way wait for it rather than starting their own.
func TestPullCacheConcurrentMissesShareARefresh(t *testing.T) {
	f := &fakeReader{values: map[string]float64{"a": 1, "b": 2}, delay: 50 * time.Millisecond}
	c := testPullCache(listing(10*time.Second, "a", "b"))
	now := time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := []string{"a", "b"}[i%2]
			got, ok := c.read(context.Background(), batchReader{f}, promQuery(q), 10*time.Second, now)
			if !ok || got.err != nil || got.value != f.values[q] {
				t.Errorf("%s: %+v", q, got)
			}
		}()
	}
	wg.Wait()
	if b := f.batches.Load(); b != 1 {
		t.Fatalf("%d batches, want 1", b)
	}
}

// TestPullCacheFailureIsCachedForTheSlot: a failed source fails every
// policy reading it for the rest of the slot (each lets its metric go
// stale, as after its own failed read) without asking the source again;
// the next slot asks again.
func TestPullCacheFailureIsCachedForTheSlot(t *testing.T) {
	down := errors.New("prometheus is unavailable")
	f := &fakeReader{values: map[string]float64{"a": 1, "b": 2}, fail: map[string]error{"a": down}}
	c := testPullCache(listing(10*time.Second, "a", "b"))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for range 3 {
		got, ok := c.read(context.Background(), f, promQuery("a"), 10*time.Second, now)
		if !ok || !errors.Is(got.err, down) {
			t.Fatalf("got %+v, want the failure", got)
		}
		if got, _ := c.read(context.Background(), f, promQuery("b"), 10*time.Second, now); got.err != nil || got.value != 2 {
			t.Fatalf("the other source: %+v", got)
		}
	}
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("%d reads in one slot, want 2 (one per source)", n)
	}
	f.set("a", 5, nil)
	got, _ := c.read(context.Background(), f, promQuery("a"), 10*time.Second, now.Add(10*time.Second))
	if got.err != nil || got.value != 5 {
		t.Fatalf("next slot: %+v", got)
	}
}

// TestPullCacheReadsEachBounded: a reader without ReadBatch is read source
// by source, at most pullConcurrency at once.
func TestPullCacheReadsEachBounded(t *testing.T) {
	f := &fakeReader{values: map[string]float64{}, delay: 10 * time.Millisecond}
	var queries []string
	for i := range 40 {
		q := fmt.Sprintf("q%d", i)
		queries = append(queries, q)
		f.values[q] = 1
	}
	c := testPullCache(listing(10*time.Second, queries...))
	if got, _ := c.read(context.Background(), f, promQuery("q0"), 10*time.Second, time.Now()); got.err != nil {
		t.Fatal(got.err)
	}
	// At most pullConcurrency at once; more than one shows they do run in
	// parallel (a loaded machine may not always reach the bound).
	if n, m := f.reads.Load(), f.maxBusy.Load(); n != 40 || m > pullConcurrency || m < 2 {
		t.Fatalf("%d reads, %d at once; want 40, 2 to %d", n, m, pullConcurrency)
	}
}

// TestPullCacheIntervals: a source read only by a slow policy is not read
// again by a faster policy's refresh while it is fresh for its own policy;
// a source the listing lacks (a policy just written) is read all the same;
// sources no policy reads any more are forgotten.
func TestPullCacheIntervals(t *testing.T) {
	f := &fakeReader{values: map[string]float64{"fast": 1, "slow": 2, "new": 3}}
	list := map[sourceKey]pullSource{
		keyOf(promQuery("fast")): {src: promQuery("fast"), every: 10 * time.Second},
		keyOf(promQuery("slow")): {src: promQuery("slow"), every: time.Minute},
	}
	var mu sync.Mutex
	c := testPullCache(func(policy.SourceKind) map[sourceKey]pullSource {
		mu.Lock()
		defer mu.Unlock()
		return list
	})
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := batchReader{&fakeReader{values: f.values}}
	for s := range 6 {
		now := start.Add(time.Duration(s) * 10 * time.Second)
		if got, _ := c.read(context.Background(), r, promQuery("fast"), 10*time.Second, now); got.err != nil {
			t.Fatal(got.err)
		}
	}
	if got := r.sizes; fmt.Sprint(got) != "[2 1 1 1 1 1]" {
		t.Fatalf("batch sizes %v, want the slow source in the first only", got)
	}
	got, _ := c.read(context.Background(), r, promQuery("new"), 10*time.Second, start.Add(50*time.Second))
	if got.err != nil || got.value != 3 {
		t.Fatalf("a source the listing lacks: %+v", got)
	}
	mu.Lock()
	delete(list, keyOf(promQuery("slow")))
	mu.Unlock()
	c.read(context.Background(), r, promQuery("fast"), 10*time.Second, start.Add(60*time.Second))
	if _, ok := c.entries[keyOf(promQuery("slow"))]; ok {
		t.Fatal("a source no policy reads is still cached")
	}
}

// TestPullCacheWaitEndsWithContext: an evaluation waiting for another's
// refresh stops waiting when its leadership ends.
func TestPullCacheWaitEndsWithContext(t *testing.T) {
	f := &fakeReader{values: map[string]float64{"a": 1}, delay: time.Second}
	c := testPullCache(listing(10*time.Second, "a"))
	now := time.Now()
	go c.read(context.Background(), batchReader{f}, promQuery("a"), 10*time.Second, now)
	for f.batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, ok := c.read(ctx, batchReader{f}, promQuery("a"), 10*time.Second, now); ok {
		t.Fatal("a read answered after its context ended")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("waited %s", d)
	}
}

// TestPullCacheRefreshOutlastsTheCloudTimeout: a refresh of many sources
// may take up to the shortest interval it serves, not just the timeout one
// read had, so that sources read one call each all arrive.
func TestPullCacheRefreshOutlastsTheCloudTimeout(t *testing.T) {
	f := &fakeReader{values: map[string]float64{}, delay: 20 * time.Millisecond}
	var queries []string
	for i := range 3 * pullConcurrency {
		q := fmt.Sprintf("q%d", i)
		queries = append(queries, q)
		f.values[q] = 1
	}
	c := newPullCache(listing(10*time.Second, queries...), 30*time.Millisecond, slog.New(slog.DiscardHandler), newPullMetrics())
	now := time.Now()
	for _, q := range queries {
		if got, _ := c.read(context.Background(), f, promQuery(q), 10*time.Second, now); got.err != nil {
			t.Fatalf("%s: %v", q, got.err)
		}
	}
	if n := f.reads.Load(); n != int32(len(queries)) {
		t.Fatalf("%d reads, want %d", n, len(queries))
	}
}
