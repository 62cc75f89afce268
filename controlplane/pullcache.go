package controlplane

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/capstan-io/capstan/policy"
)

// BatchReader is an optional extension of MetricReader, discovered by type
// assertion: it reads many sources in one go, merging what its backend
// lets it merge (one PromQL query for many policies' queries), and calls
// found once per index of srcs with what Read would have returned for that
// source, from one goroutine at a time and never after it returns. The
// leader prefers it; a reader without it is read source by source, a few
// at a time.
type BatchReader interface {
	ReadBatch(ctx context.Context, srcs []policy.Source, found func(i int, value float64, at time.Time, err error))
}

// pullConcurrency bounds the Reads a refresh runs at once for a reader
// that has no ReadBatch.
const pullConcurrency = 8

// maxFailureLogs is how many failed sources one refresh logs one by one;
// the rest are counted in its summary line, so an outage of the source
// writes a few lines per interval, not one per policy.
const maxFailureLogs = 5

// sourceKey identifies a pulled source: policies whose sources are equal
// share one read.
type sourceKey struct {
	kind            policy.SourceKind
	query           string
	queueURL        string
	region          string
	includeInFlight bool
}

func keyOf(s policy.Source) sourceKey {
	return sourceKey{kind: s.EffectiveKind(), query: strings.TrimSpace(s.Query), queueURL: s.QueueURL, region: s.Region,
		includeInFlight: s.IncludeInFlight}
}

// pullSource is one distinct pulled source of the policy set and the
// shortest evaluation interval of the policies that read it.
type pullSource struct {
	src   policy.Source
	every time.Duration
}

// pulledSources lists the distinct pulled sources of kind across every
// policy. It reads the policies under the FSM's read lock; the pull cache
// calls it once per refresh, at most once per interval and kind.
func (f *FSM) pulledSources(kind policy.SourceKind) map[sourceKey]pullSource {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[sourceKey]pullSource{}
	for _, e := range f.state.Policies {
		p := e.Record.Policy
		for _, m := range p.Metrics {
			if m.Source.EffectiveKind() != kind {
				continue
			}
			k := keyOf(m.Source)
			every := p.EvaluationInterval.D()
			if s, ok := out[k]; ok && s.every <= every {
				continue
			}
			out[k] = pullSource{src: m.Source, every: every}
		}
	}
	return out
}

// pulled is a cached read: what the reader returned, and when the refresh
// that read it started.
type pulled struct {
	value   float64
	at      time.Time
	err     error
	fetched time.Time
}

// fresh reports whether a read fetched at fetched may serve an evaluation
// at now of a policy evaluated every interval: when both fall in the same
// interval-long slot of the clock (slots aligned to the zero time, like
// Prometheus's rule groups). A policy's evaluations are an interval apart,
// so each evaluation reads anew, while every other evaluation in the slot
// (other policies sharing the source, evaluations woken by fresh pushed
// samples) is served from the cache; a value served is never older than
// one interval, and a source is read at most once per slot.
func fresh(fetched, now time.Time, interval time.Duration) bool {
	if interval <= 0 {
		return false
	}
	// A value fetched a little after now (by an evaluation that started
	// later) serves as well, as long as it is in the same slot.
	return fetched.Truncate(interval).Equal(now.Truncate(interval))
}

// pullCache serves the leader's reads of pulled metric sources. A read the
// cache cannot serve refreshes every source of the same kind that is not
// fresh for its policies, in one batch, so that 1,000 policies pulling
// from one Prometheus cost a few merged queries per interval rather than
// a query per policy per evaluation. Concurrent misses wait for the
// refresh under way instead of starting their own. A failed read is cached
// like a value: every policy reading that source sees the failure and lets
// its metric go stale until the next slot, exactly as when each read it
// for itself. A cache belongs to one leadership term and dies with it.
type pullCache struct {
	sources func(kind policy.SourceKind) map[sourceKey]pullSource
	timeout time.Duration
	log     interface{ Warn(string, ...any) }
	metrics pullMetrics

	mu      sync.Mutex
	entries map[sourceKey]pulled
	flights map[policy.SourceKind]chan struct{} // closed when the refresh ends
}

func newPullCache(sources func(policy.SourceKind) map[sourceKey]pullSource, timeout time.Duration, log interface{ Warn(string, ...any) }, m pullMetrics) *pullCache {
	return &pullCache{sources: sources, timeout: timeout, log: log, metrics: m,
		entries: map[sourceKey]pulled{}, flights: map[policy.SourceKind]chan struct{}{}}
}

// read returns src's value for an evaluation at now of a policy evaluated
// every interval, refreshing through r when the cache holds nothing fresh.
// It returns false only when ctx ended before a value or a failure was
// known.
func (c *pullCache) read(ctx context.Context, r MetricReader, src policy.Source, interval time.Duration, now time.Time) (pulled, bool) {
	key := keyOf(src)
	// A refresh another evaluation started in an earlier slot may not be
	// fresh for this one, so this waits for (or runs) up to three: one it
	// runs itself is fresh by construction. Only if the slot turned during
	// each of them does it take the newest value there is.
	for range 3 {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok && fresh(e.fetched, now, interval) {
			c.mu.Unlock()
			c.metrics.served.WithLabelValues(string(key.kind)).Inc()
			return e, true
		}
		done, busy := c.flights[key.kind]
		if !busy {
			done = make(chan struct{})
			c.flights[key.kind] = done
			c.mu.Unlock()
			c.refresh(ctx, r, key.kind, key, src, interval, now, done)
			continue
		}
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return pulled{}, false
		}
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		c.metrics.served.WithLabelValues(string(key.kind)).Inc()
	}
	return e, ok
}

// refresh reads every source of kind that some policy would not find fresh
// at now, plus want (read by a policy evaluated every interval), and ends
// the flight done.
func (c *pullCache) refresh(ctx context.Context, r MetricReader, kind policy.SourceKind, want sourceKey, wantSrc policy.Source, interval time.Duration, now time.Time, done chan struct{}) {
	defer func() {
		c.mu.Lock()
		delete(c.flights, kind)
		c.mu.Unlock()
		close(done)
	}()
	all := c.sources(kind)
	var (
		keys     []sourceKey
		srcs     []policy.Source
		shortest = interval
	)
	c.mu.Lock()
	for k := range c.entries {
		// Sources no policy reads any more are dropped.
		if _, ok := all[k]; !ok && k.kind == kind && k != want {
			delete(c.entries, k)
		}
	}
	for k, s := range all {
		if e, ok := c.entries[k]; ok && fresh(e.fetched, now, s.every) && k != want {
			continue
		}
		keys, srcs = append(keys, k), append(srcs, s.src)
		shortest = min(shortest, s.every)
	}
	c.mu.Unlock()
	if _, ok := all[want]; !ok {
		// A policy the listing did not show yet (just written).
		keys, srcs = append(keys, want), append(srcs, wantSrc)
	}
	c.metrics.refreshes.WithLabelValues(string(kind)).Inc()
	c.metrics.refreshed.WithLabelValues(string(kind)).Add(float64(len(srcs)))

	// The refresh may take as long as the shortest interval it serves (a
	// value that arrives later is of no use: its slot is over), and never
	// less than the cloud timeout one read had: a thousand queues at one
	// call each need more than 10 s at a few calls at once.
	rctx, cancel := context.WithTimeout(ctx, max(c.timeout, shortest))
	defer cancel()
	got := make([]pulled, len(srcs))
	seen := make([]bool, len(srcs))
	found := func(i int, v float64, at time.Time, err error) {
		if i >= 0 && i < len(got) && !seen[i] {
			got[i], seen[i] = pulled{value: v, at: at, err: err, fetched: now}, true
		}
	}
	if br, ok := r.(BatchReader); ok {
		br.ReadBatch(rctx, srcs, found)
	} else {
		readEach(rctx, r, srcs, found)
	}
	failed := 0
	c.mu.Lock()
	for i, k := range keys {
		if !seen[i] {
			// A reader that skipped a source: as if its read failed.
			got[i] = pulled{err: context.Cause(rctx), fetched: now}
			if got[i].err == nil {
				got[i].err = errNotRead
			}
		}
		if got[i].err != nil {
			failed++
			if failed <= maxFailureLogs {
				c.log.Warn("reading a pulled metric source failed; its metrics go stale", "kind", kind, "err", got[i].err)
			}
		}
		c.entries[k] = got[i]
	}
	c.mu.Unlock()
	if failed > maxFailureLogs {
		c.log.Warn("more pulled metric sources failed", "kind", kind, "failed", failed, "of", len(keys))
	}
}

// errNotRead stands for a source a batch reader never reported.
var errNotRead = errors.New("the reader returned no answer for the source")

// readEach reads srcs with r, a few at a time, for a reader without
// ReadBatch.
func readEach(ctx context.Context, r MetricReader, srcs []policy.Source, found func(i int, v float64, at time.Time, err error)) {
	var (
		mu sync.Mutex
		g  errgroup.Group
	)
	g.SetLimit(pullConcurrency)
	for i, s := range srcs {
		g.Go(func() error {
			v, at, err := r.Read(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			found(i, v, at, err)
			return nil
		})
	}
	_ = g.Wait() // the reads report through found, never by error
}

// pullMetrics count what the pull cache does; compare them with
// capstan_source_queries_total, the queries the readers sent.
type pullMetrics struct {
	served    *prometheus.CounterVec
	refreshes *prometheus.CounterVec
	refreshed *prometheus.CounterVec
}

func newPullMetrics() pullMetrics {
	return pullMetrics{
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_source_reads_served_total",
			Help: "Pulled metric values (or failures) handed to policy evaluations, by kind; capstan_source_queries_total counts the queries sent for them."},
			[]string{"kind"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_source_refreshes_total",
			Help: "Batched refreshes of pulled metric sources, by kind: about one per evaluation interval."},
			[]string{"kind"}),
		refreshed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_source_refreshed_total",
			Help: "Distinct pulled sources read by batched refreshes, by kind."},
			[]string{"kind"}),
	}
}

func (m pullMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.served, m.refreshes, m.refreshed}
}
