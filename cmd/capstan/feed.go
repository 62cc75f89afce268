package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
)

// feedOptions are the flags of `capstan feed`.
type feedOptions struct {
	traceFile string
	policyID  string
	metric    string
	column    string
	start     string
	speed     float64
	batch     int
	loop      bool
	progress  int
}

func newFeedCommand() *cobra.Command {
	var (
		af apiFlags
		o  feedOptions
	)
	cmd := &cobra.Command{
		Use:   "feed --trace FILE --policy ID --metric NAME",
		Short: "Replay a recorded trace into a running cluster as live metric samples",
		Long: `Replay one column of a trace CSV (the format 'capstan simulate' reads) into
POST /v1/metrics in real time, or faster with --speed: sample i is sent at
start + (t_i - t_0) / speed and stamped with the time it is sent, so the
cluster sees fresh data and its staleness rules behave as in production.
Empty cells are skipped. With --loop the trace starts over when it ends.

Failed sends (no leader during an election, a node down) are reported and
the replay goes on; list several nodes in --addr to fail over between them.
Ctrl-C stops cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := af.target()
			if err != nil {
				return err
			}
			return runFeed(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), t, o)
		},
	}
	af.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.traceFile, "trace", "", "trace CSV: a time column (timestamp, time or ts) and one column per metric")
	f.StringVar(&o.policyID, "policy", "", "policy the samples are for")
	f.StringVar(&o.metric, "metric", "", "policy metric the samples are for")
	f.StringVar(&o.column, "column", "", "trace column to replay (default: the only value column, else the one named like --metric)")
	f.Float64Var(&o.speed, "speed", 60, "replay speed: trace seconds per wall-clock second")
	f.StringVar(&o.start, "start", "now", "when sample 0 is due: now, or an RFC 3339 time (a past time skips what would already have been sent)")
	f.IntVar(&o.batch, "batch", 1, fmt.Sprintf("samples per request, 1..%d (a batch is sent when its last sample is due)", api.MaxSamplesPerPush))
	f.BoolVar(&o.loop, "loop", false, "start the trace over when it ends, until interrupted")
	f.IntVar(&o.progress, "progress", 100, "print progress every N samples sent (0: only at the end)")
	_ = cmd.MarkFlagRequired("trace")
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("metric")
	return cmd
}

// validate checks the flags that need no I/O and returns when sample 0 is due.
func (o feedOptions) validate(now time.Time) (time.Time, error) {
	switch {
	case !(o.speed > 0) || math.IsInf(o.speed, 0):
		return time.Time{}, fmt.Errorf("--speed: must be a positive number (got %v)", o.speed)
	case o.batch < 1 || o.batch > api.MaxSamplesPerPush:
		return time.Time{}, fmt.Errorf("--batch: must be in [1,%d] (got %d)", api.MaxSamplesPerPush, o.batch)
	case o.progress < 0:
		return time.Time{}, fmt.Errorf("--progress: must be >= 0 (got %d)", o.progress)
	}
	if o.start == "" || o.start == "now" {
		return now, nil
	}
	start, err := time.Parse(time.RFC3339Nano, o.start)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start: want now or an RFC 3339 time such as 2024-01-01T12:00:00Z: %w", err)
	}
	return start, nil
}

// pickColumn chooses the trace column to replay.
func pickColumn(tr *trace.Trace, column, metric string) (int, error) {
	cols := strings.Join(tr.Columns, ", ")
	if column != "" {
		i, ok := tr.Column(column)
		if !ok {
			return 0, fmt.Errorf("--column %q: the trace has no such column (columns: %s)", column, cols)
		}
		return i, nil
	}
	if len(tr.Columns) == 1 {
		return 0, nil
	}
	if i, ok := tr.Column(metric); ok {
		return i, nil
	}
	return 0, fmt.Errorf("the trace has several columns (%s) and none is named %q; pick one with --column", cols, metric)
}

// feeder replays one trace column and keeps the tallies it reports.
type feeder struct {
	o      feedOptions
	t      *apiTarget
	stdout io.Writer
	stderr io.Writer

	sent, accepted, rejected, failed int
	nextProgress                     int
	failStreak                       int
	reasons                          map[string]int
	lastTrace                        time.Time
}

func runFeed(ctx context.Context, stdout, stderr io.Writer, t *apiTarget, o feedOptions) error {
	began := time.Now()
	base, err := o.validate(began)
	if err != nil {
		return err
	}
	data, err := readFileLimited(o.traceFile, maxTraceFile)
	if err != nil {
		return fmt.Errorf("reading trace: %w", err)
	}
	tr, err := trace.ParseBytes(data, trace.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", o.traceFile, err)
	}
	col, err := pickColumn(tr, o.column, o.metric)
	if err != nil {
		return err
	}
	if err := checkFeedTarget(ctx, stderr, t, o.policyID, o.metric); err != nil {
		return err
	}

	f := &feeder{o: o, t: t, stdout: stdout, stderr: stderr, nextProgress: o.progress, reasons: map[string]int{}}
	times, values := tr.Times, tr.Values[col]
	t0 := times[0]
	// One pass lasts from the first sample to one step past the last, so
	// that a looped trace keeps its rhythm across the seam.
	span := time.Duration(times[len(times)-1]-t0) + max(tr.Step(), time.Second)
	wall := func(d time.Duration) time.Duration { return time.Duration(float64(d) / o.speed) }

	// A start in the past joins the replay where it would be by now: whole
	// passes are skipped (with --loop), then every sample but the latest due.
	first := 0
	if o.start == "" || o.start == "now" {
		base = time.Now() // the checks above took time the replay should not skip
	} else if behind := time.Since(base); behind > 0 {
		offset := time.Duration(float64(behind) * o.speed)
		if o.loop {
			passes := offset / span
			base = base.Add(wall(passes * span))
			offset -= passes * span
		}
		first = max(0, sort.Search(len(times), func(i int) bool { return time.Duration(times[i]-t0) > offset })-1)
	}

	fmt.Fprintf(stdout, "feeding %s/%s from column %q of %s (%d samples, %s of trace) at %gx\n",
		o.policyID, o.metric, tr.Columns[col], o.traceFile, len(times), policy.Duration(span), o.speed)
	batch := make([]api.Sample, 0, o.batch)
	for {
		for i := first; i < len(times); i++ {
			if math.IsNaN(values[i]) {
				continue
			}
			due := base.Add(wall(time.Duration(times[i] - t0)))
			if !sleepUntil(ctx, due) {
				return f.finish(began, true)
			}
			batch = append(batch, api.Sample{Policy: o.policyID, Metric: o.metric, Time: due.UTC(), Value: values[i]})
			f.lastTrace = time.Unix(0, times[i])
			if len(batch) == o.batch {
				if err := f.send(ctx, batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if !o.loop {
			break
		}
		first = 0
		base = base.Add(wall(span))
	}
	if len(batch) > 0 {
		if err := f.send(ctx, batch); err != nil {
			return err
		}
	}
	return f.finish(began, ctx.Err() != nil)
}

// checkFeedTarget fails fast when the policy or its metric does not exist,
// which would otherwise show up as every sample rejected. A cluster that
// cannot be asked right now is only a warning: the replay retries anyway.
func checkFeedTarget(ctx context.Context, stderr io.Writer, t *apiTarget, id, metric string) error {
	var rec api.PolicyRecord
	// Reads are served by whichever node answers, and a follower may not
	// have applied a policy committed a moment ago: give it a few seconds.
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		err = t.call(ctx, func(c *api.Client) error {
			var err error
			rec, err = c.GetPolicy(ctx, id)
			return err
		})
		if !errors.Is(err, api.ErrNotFound) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case errors.Is(err, api.ErrNotFound):
		return fmt.Errorf("policy %s does not exist; apply it first with 'capstan policy apply -f FILE'", id)
	case err != nil:
		fmt.Fprintf(stderr, "warning: cannot check policy %s: %v\n", id, err)
		return nil
	}
	names := make([]string, len(rec.Policy.Metrics))
	for i, m := range rec.Policy.Metrics {
		if m.Name == metric {
			return nil
		}
		names[i] = m.Name
	}
	return fmt.Errorf("--metric %q: policy %s has no such metric (metrics: %s)", metric, id, strings.Join(names, ", "))
}

// send pushes one batch. Failures the cluster recovers from by itself (no
// leader during an election, a node down, a server fault) are reported and
// the batch dropped, so a long replay survives a failover; a refusal of
// the batch itself cannot get better by retrying and ends the replay.
func (f *feeder) send(ctx context.Context, batch []api.Sample) error {
	var res api.PushResult
	err := f.t.call(ctx, func(c *api.Client) error {
		var err error
		res, err = c.PushMetrics(ctx, batch)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted; finish reports it
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 && !errors.Is(err, api.ErrNoLeader) {
			return fmt.Errorf("the cluster refused a batch: %w", describe(err))
		}
		f.failed += len(batch)
		f.failStreak++
		if f.failStreak == 1 || f.failStreak%10 == 0 {
			fmt.Fprintf(f.stderr, "warning: %d batch(es) in a row not delivered, latest: %v (continuing)\n", f.failStreak, err)
		}
		return nil
	}
	if f.failStreak > 0 {
		fmt.Fprintf(f.stderr, "delivering again after %d failed batch(es)\n", f.failStreak)
		f.failStreak = 0
	}
	f.sent += len(batch)
	f.accepted += res.Accepted
	f.rejected += len(res.Rejected)
	for _, rj := range res.Rejected {
		if f.reasons[rj.Reason]++; f.reasons[rj.Reason] == 1 && len(f.reasons) <= 10 {
			fmt.Fprintf(f.stderr, "rejected: %s\n", rj.Reason)
		}
	}
	if f.o.progress > 0 && f.sent >= f.nextProgress {
		fmt.Fprintf(f.stdout, "sent %d samples (%d accepted, %d rejected), trace time %s\n",
			f.sent, f.accepted, f.rejected, formatTime(f.lastTrace))
		for f.nextProgress <= f.sent {
			f.nextProgress += f.o.progress
		}
	}
	return nil
}

// finish prints the tallies. An interrupted replay is a normal way to end
// one, so it is not an error.
func (f *feeder) finish(began time.Time, interrupted bool) error {
	verb := "done"
	if interrupted {
		verb = "stopped"
	}
	fmt.Fprintf(f.stdout, "%s: sent %d samples in %s (%d accepted, %d rejected, %d not delivered)\n",
		verb, f.sent, time.Since(began).Round(time.Millisecond), f.accepted, f.rejected, f.failed)
	return nil
}

// sleepUntil waits until t, or until ctx ends (false).
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
