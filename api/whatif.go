package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// MaxReplayEvaluations bounds the work of one replay of a policy over a
// history: the samples plus the evaluation_interval steps between them.
// Seven days of history evaluated every second is 604,800 evaluations
// (about 0.15 s without prediction, a second or two with it); the bound
// keeps a what-if from holding a server's cores for long whatever the
// policy's history and interval.
const MaxReplayEvaluations = 2_000_000

// WhatIf is the answer to "what would this policy have done on the
// cluster's own history": the stored policy and a candidate replayed side
// by side over the same recorded metrics, and the verdict.
type WhatIf struct {
	// Policy is the policy's id, StoredVersion the stored policy's version.
	Policy        string `json:"policy"`
	StoredVersion uint64 `json:"stored_version"`
	// History says what was replayed.
	History ReplaySpan `json:"history"`
	// Stored and Candidate are the two runs' summaries.
	Stored    simulate.Summary `json:"stored"`
	Candidate simulate.Summary `json:"candidate"`
	// CandidateVsStored divides the candidate's figures by the stored
	// policy's.
	CandidateVsStored simulate.Ratios `json:"candidate_vs_stored"`
	// ScoredAgainst says what both runs' under-provisioning is scored
	// against: the stored policy's targets and tolerance, the operator's
	// definition of enough capacity, so that a candidate with a lower
	// target is not judged by its own stricter bar.
	ScoredAgainst string `json:"scored_against"`
	// Verdict says whether the candidate is no worse on every figure.
	Verdict Verdict `json:"verdict"`
	// Warnings are what a reader should know about the replay's fidelity.
	Warnings []string `json:"warnings"`
}

// ReplaySpan describes the history a what-if replayed.
type ReplaySpan struct {
	// From and To are the first and last bucket replayed.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Step is the history's bucket width; Samples the rows replayed.
	Step    string `json:"step"`
	Samples int    `json:"samples"`
	// RecordedSize is the size cpu utilization is stated over (0 without
	// a cpu metric).
	RecordedSize int `json:"recorded_size,omitempty"`
	// InitialSize is the group's recorded ready size at the first bucket
	// (or the first recorded after it, when the history begins before its
	// first size), which both runs start from (0, left out, when the
	// history has no sizes: they start at what their targets ask for).
	InitialSize int `json:"initial_size,omitempty"`
}

// The figures a verdict compares, as Verdict.Worse names them.
const (
	FigureUnderProvisioned = "underprovisioned_samples"
	FigureInstanceHours    = "instance_hours"
	FigureActions          = "actions"
	FigureCost             = "cost"
)

// ScoredAgainstStored is WhatIf.ScoredAgainst: what a what-if scores
// both runs' under-provisioning against.
const ScoredAgainstStored = "under-provisioning of both runs is scored against the stored policy's targets and tolerance (the operator's definition of enough capacity)"

// Verdict is whether a candidate is no worse than the stored policy on
// every figure: under-provisioned samples, instance-hours, scale actions
// and (when both are priced in one currency) cost.
type Verdict struct {
	// NoWorse is true when no figure is worse.
	NoWorse bool `json:"no_worse"`
	// Worse names the figures on which the candidate is worse.
	Worse []string `json:"worse"`
	// Text is the verdict in words: "no worse on all figures", or
	// "worse on: ..." with each worse figure's stored and candidate value.
	Text string `json:"text"`
}

// Judge compares a candidate's summary with the stored policy's. A figure
// is worse when it is larger; instance-hours and cost are compared with a
// relative margin of 1e-9, so that the rounding of a sum does not decide.
func Judge(stored, candidate simulate.Summary) Verdict {
	v := Verdict{Worse: []string{}}
	var parts []string
	worse := func(name, label string, s, c float64, exact bool) {
		if c > s && (exact || c-s > 1e-9*math.Max(math.Abs(s), 1)) {
			v.Worse = append(v.Worse, name)
			parts = append(parts, fmt.Sprintf("%s %s → %s", label, fmtFigure(s, exact), fmtFigure(c, exact)))
		}
	}
	worse(FigureUnderProvisioned, "under-provisioned samples", float64(stored.UnderProvisionedSamples), float64(candidate.UnderProvisionedSamples), true)
	worse(FigureInstanceHours, "instance-hours", stored.InstanceHours, candidate.InstanceHours, false)
	worse(FigureActions, "actions", float64(stored.Actions()), float64(candidate.Actions()), true)
	if stored.Priced() && candidate.Currency == stored.Currency {
		worse(FigureCost, "cost ("+stored.Currency+")", stored.Cost, candidate.Cost, false)
	}
	v.NoWorse = len(v.Worse) == 0
	if v.NoWorse {
		v.Text = "no worse on all figures"
	} else {
		v.Text = "worse on: " + strings.Join(parts, ", ")
	}
	return v
}

func fmtFigure(f float64, integer bool) string {
	if integer {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// Replay is a what-if with both runs' timelines, for a report.
type Replay struct {
	// Stored and Candidate are the two runs.
	Stored, Candidate *simulate.Result
	// WhatIf is the summary of both and the verdict.
	WhatIf WhatIf
}

// ReplayHistory replays a history trace (as HistoryTrace makes it, or as
// trace.Parse reads its CSV) through the stored policy and a candidate for
// it, on the same simulated group and load model as `capstan simulate`,
// and judges the candidate. Columns are matched to metrics by name, the
// RecordedSizeColumn is the cpu metrics' recorded size. A candidate
// metric with no column of its name, or whose type differs from the
// stored metric of that name (the history holds what that type records),
// is a *policy.ValidationError naming the field; a replay over
// MaxReplayEvaluations is refused naming evaluation_interval, and a
// history of fewer than two buckets is ErrConflict. The two runs use a
// core each.
func ReplayHistory(tr *trace.Trace, stored, candidate policy.Policy) (*Replay, error) {
	if len(tr.Times) < 2 {
		return nil, fmt.Errorf("%w: the history of policy %s holds %d bucket(s); a replay needs at least two", ErrConflict, stored.ID, len(tr.Times))
	}
	recorded, err := TraceRecordedSize(tr)
	if err != nil {
		return nil, err
	}
	initial, err := TraceInitialSize(tr)
	if err != nil {
		return nil, err
	}
	storedSeries, err := historySeries(tr, stored, stored)
	if err != nil {
		return nil, fmt.Errorf("%w: the stored policy does not match its own history: %w", ErrBadRequest, err)
	}
	candSeries, err := historySeries(tr, stored, candidate)
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		who string
		p   policy.Policy
	}{{"the stored policy", stored}, {"the candidate", candidate}} {
		if n := replayEvaluations(tr.Times, p.p.EvaluationInterval.D()); n > MaxReplayEvaluations {
			return nil, &policy.ValidationError{Fields: []policy.FieldError{{Path: "evaluation_interval",
				Message: fmt.Sprintf("replaying %s over this history takes %d evaluations, more than the %d a replay may take; a longer interval or a shorter predictive.history bounds it", p.who, n, MaxReplayEvaluations)}}}
		}
	}
	// Both runs are scored against the stored policy's bar.
	bar := simulate.StoredBar(stored, storedSeries)
	out := &Replay{}
	var storedErr, candErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		out.Stored, storedErr = simulate.Run(simulate.Config{Policy: stored, InitialSize: initial, RecordedSize: recorded, Bar: &bar}, storedSeries)
	})
	out.Candidate, candErr = simulate.Run(simulate.Config{Policy: candidate, InitialSize: initial, RecordedSize: recorded, Bar: &bar}, candSeries)
	wg.Wait()
	if storedErr != nil {
		return nil, fmt.Errorf("replaying the stored policy: %w", storedErr)
	}
	if candErr != nil {
		return nil, fmt.Errorf("replaying the candidate: %w", candErr)
	}
	step := tr.Step()
	w := WhatIf{
		Policy: stored.ID,
		History: ReplaySpan{
			From:         time.Unix(0, tr.Times[0]).UTC(),
			To:           time.Unix(0, tr.Times[len(tr.Times)-1]).UTC(),
			Step:         step.String(),
			Samples:      len(tr.Times),
			RecordedSize: recorded,
			InitialSize:  initial,
		},
		Stored:            out.Stored.Summary,
		Candidate:         out.Candidate.Summary,
		CandidateVsStored: simulate.Compare(out.Candidate.Summary, out.Stored.Summary),
		ScoredAgainst:     ScoredAgainstStored,
		Verdict:           Judge(out.Stored.Summary, out.Candidate.Summary),
		Warnings:          []string{},
	}
	for _, p := range []struct {
		who string
		p   policy.Policy
	}{{"stored policy", stored}, {"candidate", candidate}} {
		if step > p.p.StaleAfter.D() {
			w.Warnings = append(w.Warnings, fmt.Sprintf("the history's step (%s) is longer than the %s's stale_after (%s): between buckets its metrics look stale, so it scales in only on a fresh bucket",
				policy.Duration(step), p.who, p.p.StaleAfter))
		}
	}
	if initial == 0 {
		w.Warnings = append(w.Warnings, "the history records no group size in any bucket (a policy keeps its group's sizes with a predictive.history_step), so both runs start at what their own targets ask for at its first bucket, not at the size the group had")
	}
	switch sc, cc := stored.Cost, candidate.Cost; {
	case sc.IsZero() != cc.IsZero():
		w.Warnings = append(w.Warnings, "cost is not compared: only one of the two policies has a cost")
	case !sc.IsZero() && sc.Currency != cc.Currency:
		w.Warnings = append(w.Warnings, fmt.Sprintf("cost is not compared: the stored policy is priced in %s, the candidate in %s", sc.Currency, cc.Currency))
	}
	out.WhatIf = w
	return out, nil
}

// TraceRecordedSize reads a trace's RecordedSizeColumn: 0 without one,
// else its value, which must be one whole number of instances (1 to
// 1,000,000) on every row that has one.
func TraceRecordedSize(tr *trace.Trace) (int, error) {
	idx, ok := tr.Column(RecordedSizeColumn)
	if !ok {
		return 0, nil
	}
	size := 0.0
	for i, v := range tr.Values[idx] {
		if math.IsNaN(v) {
			continue
		}
		if v < 1 || v != math.Trunc(v) || v > 1e6 || (size != 0 && v != size) {
			return 0, fmt.Errorf("%w: column %s: must be the same whole number of instances (at least 1) on every row; row %d has %v",
				ErrBadRequest, RecordedSizeColumn, i+1, v)
		}
		size = v
	}
	if size == 0 {
		return 0, fmt.Errorf("%w: column %s: has no value", ErrBadRequest, RecordedSizeColumn)
	}
	return int(size), nil
}

// TraceInitialSize reads a trace's ReadySizeColumn at its first row, or
// at the first row after it that has a value: the size a replay starts its
// group at. A fresh cluster's history begins before the first size it
// recorded (the first bucket is older than the first sample of the
// group's size), and the first size recorded is a better start than what
// the targets ask for. It is 0 without the column or any value in it.
// Every value of the column must be a whole number of instances (0 to
// 1,000,000).
func TraceInitialSize(tr *trace.Trace) (int, error) {
	idx, ok := tr.Column(ReadySizeColumn)
	if !ok || len(tr.Times) == 0 {
		return 0, nil
	}
	for i, v := range tr.Values[idx] {
		if !math.IsNaN(v) && (v < 0 || v != math.Trunc(v) || v > 1e6) {
			return 0, fmt.Errorf("%w: column %s: must be a whole number of instances (0 to 1000000); row %d has %v",
				ErrBadRequest, ReadySizeColumn, i+1, v)
		}
	}
	for _, v := range tr.Values[idx] {
		if !math.IsNaN(v) {
			return int(v), nil
		}
	}
	return 0, nil
}

// historySeries maps the trace's columns onto p's metrics by name. ref is
// the stored policy, whose metric types say what each column records.
func historySeries(tr *trace.Trace, ref, p policy.Policy) (simulate.Series, error) {
	s := simulate.Series{Times: tr.Times, Values: make([][]float64, len(p.Metrics))}
	var fields []policy.FieldError
	for j, m := range p.Metrics {
		idx, ok := tr.Column(m.Name)
		if !ok || m.Name == RecordedSizeColumn || m.Name == ReadySizeColumn {
			fields = append(fields, policy.FieldError{Path: fmt.Sprintf("metrics[%d].name", j),
				Message: fmt.Sprintf("the cluster has no recorded history of a metric %q (recorded: %s)", m.Name, strings.Join(metricColumns(tr), ", "))})
			continue
		}
		for _, rm := range ref.Metrics {
			if rm.Name == m.Name && rm.Type != m.Type {
				fields = append(fields, policy.FieldError{Path: fmt.Sprintf("metrics[%d].type", j),
					Message: fmt.Sprintf("must be %s, the type metric %q was recorded as (the history holds what that type measures)", rm.Type, m.Name)})
			}
		}
		s.Values[j] = tr.Values[idx]
	}
	if fields != nil {
		return simulate.Series{}, &policy.ValidationError{Fields: fields}
	}
	return s, nil
}

// metricColumns lists a trace's metric columns (the recorded and ready
// sizes are not).
func metricColumns(tr *trace.Trace) []string {
	var out []string
	for _, c := range tr.Columns {
		if c != RecordedSizeColumn && c != ReadySizeColumn {
			out = append(out, c)
		}
	}
	return out
}

// replayEvaluations is how many evaluations simulate.Run makes over times
// at the given interval: every sample, and every interval between two.
func replayEvaluations(times []int64, interval time.Duration) int64 {
	n := int64(len(times))
	if interval <= 0 || n < 2 {
		return n
	}
	for i := 1; i < len(times); i++ {
		gap := times[i] - times[i-1]
		n += (gap - 1) / int64(interval)
	}
	return n
}

// MaxConcurrentReplays is how many what-if replays a node runs at once;
// more wait for their turn (or for the request to end). A replay takes a
// core for each of its two runs, and the node's own work must go on.
const MaxConcurrentReplays = 2

// simulate serves POST /v1/policies/{id}/simulate: the candidate policy in
// the body (JSON or YAML, as PUT takes it, id included) is replayed beside
// the stored one over the stored history. It reads only: nothing is
// written, so any node answers and none forwards it.
func (h *handler) simulate(w http.ResponseWriter, r *http.Request) error {
	if err := checkPolicyType(r); err != nil {
		return err
	}
	candidate, err := h.readPolicy(w, r)
	if err != nil {
		return err
	}
	rec, err := h.b.Recording(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	tr, _, err := HistoryTrace(rec)
	if err != nil {
		return err
	}
	select {
	case h.replays <- struct{}{}:
		defer func() { <-h.replays }()
	case <-r.Context().Done():
		return r.Context().Err()
	}
	// Priced as the node's decisions are: a policy with no cost of its
	// own at the node's default price for its provider.
	stored := policy.WithDefaultCost(rec.Policy.Policy, rec.DefaultCosts)
	rp, err := ReplayHistory(tr, stored, policy.WithDefaultCost(candidate, rec.DefaultCosts))
	if err != nil {
		return err
	}
	rp.WhatIf.StoredVersion = rec.Policy.Version
	h.writeJSON(w, r, http.StatusOK, rp.WhatIf)
	return nil
}

// Simulate asks the cluster what a candidate policy would have done over
// the stored history of the policy of the same id, beside the stored
// policy (POST /v1/policies/{id}/simulate). body is the policy file as
// PutPolicy takes it.
func (c *Client) Simulate(ctx context.Context, id string, body []byte, contentType string) (WhatIf, error) {
	var out WhatIf
	err := c.do(ctx, http.MethodPost, "/v1/policies/"+url.PathEscape(id)+"/simulate",
		http.Header{"Content-Type": {contentType}}, body, &out)
	return out, err
}
