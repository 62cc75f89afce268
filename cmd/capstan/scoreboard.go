package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/report"
	"github.com/capstan-io/capstan/policy/simulate/scoreboard"
)

// scoreboardOptions are the flags of `capstan simulate scoreboard`.
type scoreboardOptions struct {
	traces     string
	policies   string
	only       []string
	markdown   bool
	jsonOut    bool
	output     string
	noExamples bool
	reports    string
	heldOut    bool
}

// errTargetsMissed is the error of a scoreboard run that missed a target.
var errTargetsMissed = errors.New("scoreboard: targets missed")

func newScoreboardCommand() *cobra.Command {
	var o scoreboardOptions
	cmd := &cobra.Command{
		Use:   "scoreboard",
		Short: "Score the engine against the HPA reference on every bundled trace (exit 1 when a target is missed)",
		Long: `Replay each of the twelve traces in --traces three times under one convention
(per-instance target 0.7 × p99 / 20, warmup 180s, lead 180s, season auto,
evaluation every 60s, other fields default; cpu traces as recorded on 20
instances): through the HPA-style reference, the policy with prediction off,
and with forecast-and-scale. Prints each run's under-provisioned samples,
instance-hours and actions per day, the forecast's ratios to the reference and
each target as PASS or FAIL; then replays every bundled example policy on its
trace and checks it makes at most 20 actions a day without more
under-provisioning than before. Exits 1 when any target is missed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.jsonOut || o.markdown {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --json and --markdown are deprecated: use -o json or -o markdown")
			}
			if err := o.resolveOutput(cmd.Flags().Changed("output")); err != nil {
				return err
			}
			return runScoreboard(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.traces, "traces", "examples/traces", "directory holding the scoreboard's traces")
	f.StringVar(&o.policies, "policies", "examples/policies", "directory holding the bundled example policies")
	f.StringArrayVar(&o.only, "trace", nil, "score only this trace file name (repeatable)")
	outputFlag(cmd, &o.output, "table", "json", "yaml", "markdown")
	f.BoolVar(&o.markdown, "markdown", false, "print Markdown tables (same as -o markdown)")
	f.BoolVar(&o.jsonOut, "json", false, "print the board as JSON (same as -o json)")
	// Kept for scripts, hidden; cobra's MarkDeprecated would print its
	// notice on stdout, into the board.
	_ = f.MarkHidden("markdown")
	_ = f.MarkHidden("json")
	f.BoolVar(&o.noExamples, "no-examples", false, "skip the bundled example policies")
	f.StringVar(&o.reports, "reports", "", "also write each trace's HTML report (the three runs overlaid) into this directory")
	f.BoolVar(&o.heldOut, "held-out", false, "score variants of the traces the engine was not tuned on instead (halves, resampling to 5 or 15 minutes or an hour, later starts, 3× and 5× load, rows dropped, a level shift or drop, growth, the daily pattern an hour late from the middle on, bursts, quieter weekends); exits 0")
	return cmd
}

// resolveOutput folds the deprecated --json and --markdown into -o, and
// refuses two formats at once.
func (o *scoreboardOptions) resolveOutput(outputSet bool) error {
	if o.markdown && o.jsonOut {
		return errors.New("--markdown and --json: choose one")
	}
	for _, alias := range []struct {
		on     bool
		format string
	}{{o.jsonOut, "json"}, {o.markdown, "markdown"}} {
		if !alias.on {
			continue
		}
		if outputSet && o.output != alias.format {
			return fmt.Errorf("--%s and --output %s: choose one", alias.format, o.output)
		}
		o.output = alias.format
	}
	return checkOutput(o.output, "table", "json", "yaml", "markdown")
}

// scoreJob is one unit of the scoreboard's work, scored on any worker.
type scoreJob func() error

func runScoreboard(stdout io.Writer, o scoreboardOptions) error {
	if o.reports != "" {
		if err := os.MkdirAll(o.reports, 0o755); err != nil {
			return fmt.Errorf("--reports: %w", err)
		}
	}
	if o.heldOut && o.reports != "" {
		return errors.New("--held-out and --reports: choose one")
	}
	traces := scoreboard.Traces()
	if len(o.only) > 0 {
		var picked []scoreboard.Trace
		for _, name := range o.only {
			found := false
			for _, t := range traces {
				if t.Name == name {
					picked, found = append(picked, t), true
				}
			}
			if !found {
				names := make([]string, len(traces))
				for k, t := range traces {
					names[k] = t.Name
				}
				return fmt.Errorf("--trace %q: not a scoreboard trace (one of %s)", name, strings.Join(names, ", "))
			}
		}
		traces = picked
	}
	if o.heldOut {
		return runHeldOut(stdout, o, traces)
	}
	var examples []scoreboard.Example
	if !o.noExamples && len(o.only) == 0 {
		examples = scoreboard.Examples()
	}
	board := scoreboard.Board{Rows: make([]scoreboard.Row, len(traces)), Examples: make([]scoreboard.ExampleRow, len(examples))}
	var jobs []scoreJob
	for i, t := range traces {
		jobs = append(jobs, func() error {
			s, err := loadSeries(filepath.Join(o.traces, t.Name))
			if err != nil {
				return err
			}
			replay := scoreboard.ReplaySummaries // the board needs the figures alone
			if o.reports != "" {
				replay = scoreboard.Replay
			}
			rs, err := replay(t, s)
			if err != nil {
				return err
			}
			board.Rows[i] = scoreboard.Score(t, rs)
			if o.reports == "" {
				return nil
			}
			return writeScoreboardReport(filepath.Join(o.reports, strings.TrimSuffix(t.Name, ".csv")+".html"), t, rs)
		})
	}
	for i, ex := range examples {
		jobs = append(jobs, func() error {
			p, err := loadPolicy(filepath.Join(o.policies, ex.Policy))
			if err != nil {
				return err
			}
			s, err := loadSeries(filepath.Join(o.traces, ex.Trace))
			if err != nil {
				return err
			}
			board.Examples[i], err = scoreboard.ScoreExample(ex, p, s)
			return err
		})
	}
	if err := runJobs(jobs, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	var err error
	switch o.output {
	case "json", "yaml":
		err = writeFormat(stdout, o.output, board)
	case "markdown":
		err = board.WriteMarkdown(stdout)
	default:
		err = board.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if missed, total := board.Missed(); missed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%w: %d of %d", errTargetsMissed, missed, total)}
	}
	return nil
}

// runHeldOut scores every held-out variant of the traces and prints the
// board. Its targets are a yardstick for judging a change, not a gate, so a
// missed one does not fail the command.
func runHeldOut(stdout io.Writer, o scoreboardOptions, traces []scoreboard.Trace) error {
	series := make([]simulate.Series, len(traces))
	var load []scoreJob
	for i, t := range traces {
		load = append(load, func() (err error) {
			series[i], err = loadSeries(filepath.Join(o.traces, t.Name))
			return err
		})
	}
	if err := runJobs(load, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	variants := scoreboard.Variants()
	rows := make([]scoreboard.HeldOutRow, len(variants)*len(traces))
	applies := make([]bool, len(rows))
	var jobs []scoreJob
	for vi, v := range variants {
		for ti, t := range traces {
			k := vi*len(traces) + ti
			jobs = append(jobs, func() (err error) {
				rows[k], applies[k], err = scoreboard.ScoreVariant(v, t, series[ti])
				return err
			})
		}
	}
	if err := runJobs(jobs, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	h := scoreboard.HeldOut{Variants: variants}
	for k, r := range rows {
		if applies[k] {
			h.Rows = append(h.Rows, r)
		}
	}
	switch o.output {
	case "json", "yaml":
		return writeFormat(stdout, o.output, struct {
			scoreboard.HeldOut
			Totals []scoreboard.VariantTotals `json:"totals"`
		}{h, h.Totals()})
	case "markdown":
		return h.WriteMarkdown(stdout)
	default:
		return h.WriteText(stdout)
	}
}

// runJobs runs jobs on up to workers goroutines and returns every error,
// joined. The replays are pure CPU work, so one worker per core is the
// most that helps.
func runJobs(jobs []scoreJob, workers int) error {
	next := make(chan scoreJob)
	errs := make([][]error, workers) // one list per worker: no lock needed
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range next {
				if err := job(); err != nil {
					errs[w] = append(errs[w], err)
				}
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	var all []error
	for _, e := range errs {
		all = append(all, e...)
	}
	return errors.Join(all...)
}

// writeScoreboardReport writes one trace's report: the forecast run, with
// the prediction-off and reference runs as overlays.
func writeScoreboardReport(path string, t scoreboard.Trace, rs scoreboard.Replays) error {
	opts := report.HTMLOptions{
		Title:     "Capstan scoreboard: " + t.Name,
		TraceName: t.Name,
		Overlays: []report.Overlay{
			{Label: "prediction off", Result: rs.Off},
			{Label: "HPA reference", Result: rs.Baseline},
		},
	}
	if err := writeTo(path, io.Discard, func(w io.Writer) error {
		return report.WriteHTML(w, opts, rs.Policy, rs.Forecast, rs.Forecast.Summary)
	}); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// loadSeries reads a two-column trace file as a one-metric series.
func loadSeries(path string) (simulate.Series, error) {
	data, err := readFileLimited(path, maxTraceFile)
	if err != nil {
		return simulate.Series{}, fmt.Errorf("reading trace: %w", err)
	}
	tr, err := trace.ParseBytes(data, trace.Options{})
	if err != nil {
		return simulate.Series{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(tr.Columns) != 1 {
		return simulate.Series{}, fmt.Errorf("%s: %d value columns, want 1", path, len(tr.Columns))
	}
	return simulate.Series{Times: tr.Times, Values: tr.Values}, nil
}
