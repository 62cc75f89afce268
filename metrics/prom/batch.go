package prom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/capstan-io/capstan/policy"
)

// ReadBatch reads many sources at once and calls found once for every
// index of srcs with what Read would have returned for that source: the
// same value, timestamp and error sentinel. found is called from one
// goroutine at a time, and never after ReadBatch returns.
//
// Identical queries are sent once. Queries that differ only in one label's
// value are merged into one query (see the rule in merge.go); the others
// run as written. At most Options.Concurrency queries run at once. A merged
// query that fails because Prometheus is unavailable fails every source it
// answers (asking again query by query would only add load to a server in
// trouble); one that Prometheus rejects or answers oddly is asked again as
// single queries, since the merge, not the policy's query, may be at fault
// (a merged query can exceed a limit on samples that each single does not).
func (r *Reader) ReadBatch(ctx context.Context, srcs []policy.Source, found func(i int, value float64, at time.Time, err error)) {
	var mu sync.Mutex
	deliver := func(i int, s sample, err error) {
		mu.Lock()
		defer mu.Unlock()
		found(i, s.v, s.at, err)
	}
	var queries []string
	users := map[string][]int{}
	for i, src := range srcs {
		q, err := sourceQuery(src)
		if err != nil {
			r.observe(ctx, time.Now(), err)
			deliver(i, sample{}, err)
			continue
		}
		if _, ok := users[q]; !ok {
			queries = append(queries, q)
		}
		users[q] = append(users[q], i)
	}
	answer := func(qi int, s sample, err error) {
		for _, i := range users[queries[qi]] {
			deliver(i, s, err)
		}
	}
	var g errgroup.Group
	g.SetLimit(r.workers)
	for _, j := range plan(queries, r.maxMerge) {
		g.Go(func() error {
			r.runJob(ctx, j, queries, answer)
			return nil
		})
	}
	_ = g.Wait() // the jobs report through answer, never by error
}

// runJob sends one job's query and answers each of its members.
func (r *Reader) runJob(ctx context.Context, j job, queries []string, answer func(qi int, s sample, err error)) {
	one := func(qi int) {
		start := time.Now()
		q := queries[qi]
		val, err := r.query(ctx, q)
		var s sample
		if err == nil {
			s, err = single(q, val)
		}
		r.observe(ctx, start, err)
		answer(qi, s, err)
	}
	if j.label == "" {
		one(j.members[0].index)
		return
	}
	start := time.Now()
	val, err := r.query(ctx, j.query)
	vec, ok := val.(model.Vector)
	if err == nil && !ok {
		err = fmt.Errorf("%w: merged query %q returned a %s, not a vector", ErrBadResult, j.query, val.Type())
	}
	r.observe(ctx, start, err)
	if err != nil {
		if errors.Is(err, ErrBadQuery) || errors.Is(err, ErrBadResult) {
			r.log.Warn("prometheus refused a merged query; asking its queries one by one", "query", j.query, "err", err)
			for _, m := range j.members {
				one(m.index)
			}
			return
		}
		for _, m := range j.members {
			answer(m.index, sample{}, fmt.Errorf("%q, merged into one query for %d sources: %w", queries[m.index], len(j.members), err))
		}
		return
	}
	byValue := map[string]model.Vector{}
	for _, s := range vec {
		v := string(s.Metric[model.LabelName(j.label)])
		byValue[v] = append(byValue[v], s)
	}
	for _, m := range j.members {
		s, err := single(queries[m.index], byValue[m.value])
		answer(m.index, s, err)
	}
}
