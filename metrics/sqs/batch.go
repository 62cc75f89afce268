package sqs

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/capstan-io/capstan/policy"
)

// ReadBatch reads many sources and calls found once for every index of
// srcs with what Read would have returned for that source. found is called
// from one goroutine at a time, and never after ReadBatch returns.
//
// GetQueueAttributes names one queue per call, so a batch cannot merge
// queues into one request; what it saves is repetition: sources naming the
// same queue in the same region share one call (asking for the in-flight
// count too if any of them includes it), and at most Options.Concurrency
// calls run at once, over connections kept alive between batches.
func (r *Reader) ReadBatch(ctx context.Context, srcs []policy.Source, found func(i int, value float64, at time.Time, err error)) {
	var mu sync.Mutex
	deliver := func(i int, v float64, at time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		found(i, v, at, err)
	}
	type queue struct{ region, url string }
	var order []queue
	users := map[queue][]int{}
	shown := map[queue]string{}
	inFlight := map[queue]bool{}
	for i, src := range srcs {
		q, err := parseSource(src)
		if err != nil {
			r.observe(time.Now(), err, ErrInvalid)
			deliver(i, 0, time.Time{}, err)
			continue
		}
		k := queue{src.Region, src.QueueURL}
		if _, ok := users[k]; !ok {
			order = append(order, k)
			shown[k] = q
		}
		users[k] = append(users[k], i)
		inFlight[k] = inFlight[k] || src.IncludeInFlight
	}
	var g errgroup.Group
	g.SetLimit(r.workers)
	for _, k := range order {
		g.Go(func() error {
			start := time.Now()
			attrs, at, err := r.attributes(ctx, shown[k], k.url, k.region, inFlight[k])
			r.observe(start, err, sentinelOf(err))
			for _, i := range users[k] {
				if err != nil {
					deliver(i, 0, time.Time{}, err)
					continue
				}
				v, derr := depthOf(shown[k], srcs[i], attrs)
				if derr != nil {
					deliver(i, 0, time.Time{}, derr)
					continue
				}
				deliver(i, v, at, nil)
			}
			return nil
		})
	}
	_ = g.Wait() // the calls report through found, never by error
}
