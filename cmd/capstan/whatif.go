package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/report"
)

// exitWorse is the exit status of a dry run whose candidate is worse than
// the stored policy on some figure, so that a CI pipeline can gate on it.
const exitWorse = 3

// whatIfOptions say what `policy apply --dry-run` and `simulate
// --from-cluster` replay and write.
type whatIfOptions struct {
	// id is the policy on the cluster whose history is replayed.
	id string
	// candidate is the policy to compare with the stored one, and file
	// where it came from; nil replays the stored policy alone.
	candidate *policy.Policy
	file      string
	// reportFile, when set, receives the HTML report; output is the
	// summary's format (table, json or yaml).
	reportFile string
	output     string
}

// clusterHistory fetches a policy as stored and its history as a trace,
// the CSV of GET /v1/policies/{id}/history?format=csv parsed as simulate
// --trace would parse the file. The stored policy comes priced as the
// node prices its decisions: at the node's default price for its provider
// when it has no cost of its own, which the history's answer states; the
// returned defaults price a candidate alike.
func clusterHistory(ctx context.Context, t *apiTarget, id string) (api.PolicyRecord, *trace.Trace, map[string]policy.Cost, error) {
	var (
		rec api.PolicyRecord
		ans api.HistoryCSVAnswer
	)
	err := t.call(ctx, func(c *api.Client) error {
		var err error
		if rec, err = c.GetPolicy(ctx, id); err != nil {
			return err
		}
		ans, err = c.HistoryDownload(ctx, id, "")
		return err
	})
	if errors.Is(err, api.ErrNotFound) && rec.Policy.ID == "" {
		return rec, nil, nil, &exitError{code: 1, err: fmt.Errorf("policy %s is not on the cluster, so it has no history to replay (policy apply without --dry-run creates it): %w", id, describe(err))}
	}
	if err != nil {
		return rec, nil, nil, describe(err)
	}
	tr, err := trace.ParseBytes(ans.CSV, trace.Options{})
	if err != nil {
		return rec, nil, nil, fmt.Errorf("the history CSV of policy %s: %w", id, err)
	}
	rec.Policy = policy.WithDefaultCost(rec.Policy, ans.DefaultCosts)
	return rec, tr, ans.DefaultCosts, nil
}

// runWhatIf replays the cluster's history of o.id through the stored
// policy and, when given, the candidate, prints them side by side (or the
// stored policy's summary alone) with the verdict, writes the report, and
// returns an exitError of status 3 when the candidate is worse on any
// figure. Nothing is written to the cluster: it only reads.
func runWhatIf(ctx context.Context, stdout, stderr io.Writer, t *apiTarget, o whatIfOptions) error {
	rec, tr, defaults, err := clusterHistory(ctx, t, o.id)
	if err != nil {
		return err
	}
	stored := rec.Policy
	if o.candidate == nil {
		return replayStored(stdout, stderr, tr, stored, o)
	}
	candidate := policy.WithDefaultCost(*o.candidate, defaults)
	rp, err := api.ReplayHistory(tr, stored, candidate)
	if err != nil {
		var ve *policy.ValidationError
		if errors.As(err, &ve) {
			msg := fmt.Sprintf("%s: %d error(s) against the cluster's history:", o.file, len(ve.Fields))
			for _, f := range ve.Fields {
				msg += "\n  " + f.Path + ": " + f.Message
			}
			return &exitError{code: 1, err: errors.New(msg)}
		}
		return err
	}
	rp.WhatIf.StoredVersion = rec.Version
	w := rp.WhatIf
	for _, warn := range w.Warnings {
		fmt.Fprintln(stderr, "warning:", warn)
	}
	if o.reportFile != "" {
		opts := report.HTMLOptions{
			Title:      "Capstan dry run: " + stored.ID,
			TraceName:  fmt.Sprintf("the cluster's history of %s (%d buckets of %s)", stored.ID, w.History.Samples, w.History.Step),
			PolicyName: filepath.Base(o.file) + " (candidate) against the stored version " + fmt.Sprint(rec.Version),
			Overlays:   []report.Overlay{{Label: "stored policy", Result: rp.Stored}},
		}
		if err := writeTo(o.reportFile, stdout, func(wr io.Writer) error {
			return report.WriteHTML(wr, opts, candidate, rp.Candidate, rp.Candidate.Summary)
		}); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if o.output != "table" {
		if err := writeFormat(stdout, o.output, w); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "replayed %d buckets of %s of policy %s's history (%s to %s) through the stored version %d and %s\n\n",
			w.History.Samples, w.History.Step, stored.ID, formatTime(w.History.From), formatTime(w.History.To), rec.Version, o.file)
		if err := report.WriteComparison(stdout, []report.Run{
			{Label: "candidate", Summary: w.Candidate}, {Label: "stored", Summary: w.Stored},
		}); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "verdict:", w.Verdict.Text)
		fmt.Fprintln(stdout, "("+w.ScoredAgainst+")")
	}
	if !w.Verdict.NoWorse {
		return &exitError{code: exitWorse, err: errors.New("the candidate is " + w.Verdict.Text)}
	}
	return nil
}

// replayStored replays the history through the stored policy alone, as
// simulate does a trace file.
func replayStored(stdout, stderr io.Writer, tr *trace.Trace, stored policy.Policy, o whatIfOptions) error {
	cfg, series, err := historyReplay(stderr, tr, stored)
	if err != nil {
		return err
	}
	res, err := simulate.Run(cfg, series)
	if err != nil {
		return err
	}
	if o.reportFile != "" {
		opts := report.HTMLOptions{
			Title:     "Capstan simulation: " + stored.ID,
			TraceName: historyName(stored.ID, tr),
		}
		if err := writeTo(o.reportFile, stdout, func(w io.Writer) error {
			return report.WriteHTML(w, opts, stored, res, res.Summary)
		}); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if o.output != "table" {
		return writeFormat(stdout, o.output, res.Summary)
	}
	return report.WriteSummary(stdout, res.Summary)
}

// historyReplay maps a cluster's history onto p as a replay of p alone
// takes it (simulate --from-cluster without a candidate, recommend
// --from-cluster): the columns by metric name, the group started at the
// history's first ready size, cpu scaled by its recorded size. It warns on
// stderr when the history states no size to start at, and when its step
// outruns p's stale_after.
func historyReplay(stderr io.Writer, tr *trace.Trace, p policy.Policy) (simulate.Config, simulate.Series, error) {
	recorded, err := api.TraceRecordedSize(tr)
	if err != nil {
		return simulate.Config{}, simulate.Series{}, err
	}
	initial, err := api.TraceInitialSize(tr)
	if err != nil {
		return simulate.Config{}, simulate.Series{}, err
	}
	series, err := mapTrace(p, tr, nil)
	if err != nil {
		return simulate.Config{}, simulate.Series{}, err
	}
	if initial == 0 {
		fmt.Fprintln(stderr, "warning: the history records no group size in any bucket (a policy keeps its group's sizes with a predictive.history_step), so the replay starts at what the targets ask for at its first bucket, not at the size the group had")
	}
	if step := tr.Step(); step > p.StaleAfter.D() {
		fmt.Fprintf(stderr, "warning: the history's step (%s) is longer than stale_after (%s): between buckets the metrics look stale and the policy only holds or grows, so it scales in only on a fresh bucket\n",
			policy.Duration(step), p.StaleAfter)
	}
	return simulate.Config{Policy: p, InitialSize: initial, RecordedSize: recorded}, series, nil
}

// historyName names a policy's history in reports.
func historyName(id string, tr *trace.Trace) string {
	return fmt.Sprintf("the cluster's history of %s (%d buckets of %s)", id, len(tr.Times), tr.Step())
}
