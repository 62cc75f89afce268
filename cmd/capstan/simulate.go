package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/report"
)

// simulateOptions are the flags of `capstan simulate`.
type simulateOptions struct {
	policyFile   string
	traceFile    string
	metrics      []string
	initialSize  int
	recordedSize int
	timeline     string
	output       string
	reportFile   string
	jsonSummary  bool
	skipBadRows  bool
	timezone     string
	predictive   string
	baseline     string
	compare      string
	units        []string
	price        float64
	currency     string
	// fromCluster names a policy on the cluster whose history is replayed
	// instead of a trace file; af reaches the cluster.
	fromCluster string
	af          apiFlags
}

// notFromCluster are the flags that shape a trace file's replay, which a
// replay of the cluster's history does not take.
var notFromCluster = []string{"trace", "metric", "initial-size", "recorded-size", "timeline", "skip-bad-rows",
	"timezone", "predictive", "baseline", "compare", "unit", "json", "price", "price-currency"}

func newSimulateCommand() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate (--policy FILE --trace FILE | --from-cluster ID [--policy FILE])",
		Short: "Replay a recorded metric trace through a policy (dry run, no cloud calls)",
		Long: `Replay a recorded metric trace through the same policy evaluation the
agent runs, with a virtual clock and a simulated group whose new instances
become ready after the policy's warmup. Prints a summary (-o table, json or
yaml); optionally writes a per-sample timeline (--timeline FILE: CSV, or JSON
when the file name ends in .json) and a self-contained HTML report
(--report FILE). --compare off and --baseline hpa also replay the
policy with prediction off and an HPA-style reference on the same trace and
show the runs side by side. "capstan simulate scoreboard" scores the engine
against that reference on every bundled trace.

--from-cluster ID replays the cluster's own history of policy ID (the
replicated metric windows, as 'capstan history ID --trace FILE' writes
them) instead of a trace file: through the stored policy alone, or with
--policy FILE through the stored policy and that candidate side by side
(the same as 'capstan policy apply --dry-run -f FILE'), with the verdict.
--report draws both. Exit status: 0 when the candidate is no worse on all
figures (under-provisioned samples, instance-hours, actions, and cost when
both are priced), 3 when it is worse on any, 1 on an error. Nothing is
written to the cluster.`,
		Args: cobra.NoArgs,
		Example: `  mkdir -p out
  capstan simulate --policy examples/policies/app-cpu.yaml --trace examples/traces/app_cpu_usage_1min.csv \
      --timeline out/timeline.csv --report out/report.html
  capstan simulate --policy examples/policies/nyc-taxi.yaml --trace examples/traces/nyc_taxi_passengers_30min.csv -o json
  capstan simulate --from-cluster demo --policy new-demo.yaml --report out/dry-run.html`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.fromCluster != "" {
				return runSimulateFromCluster(cmd, o)
			}
			for _, f := range []string{"policy", "trace"} {
				if !cmd.Flags().Changed(f) {
					return fmt.Errorf("--%s: required (or replay the cluster's history with --from-cluster ID)", f)
				}
			}
			if o.jsonSummary {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --json is deprecated: use -o json")
				if cmd.Flags().Changed("output") && o.output != "json" {
					return fmt.Errorf("--json and --output %s: choose one", o.output)
				}
				o.output = "json"
			}
			if err := checkOutput(o.output, "table", "json", "yaml"); err != nil {
				if strings.ContainsAny(o.output, "./") || o.output == "-" {
					return fmt.Errorf("%w; -o/--output is the summary's format: write the per-sample timeline with --timeline %s", err, o.output)
				}
				return err
			}
			if o.timeline == "-" && cmd.Flags().Changed("output") {
				return errors.New("--timeline - and --output: standard output carries the timeline, so no summary is printed; drop one")
			}
			return runSimulate(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policyFile, "policy", "", "policy file (YAML or JSON)")
	f.StringVar(&o.traceFile, "trace", "", "trace CSV: a time column (timestamp, time or ts) and one column per metric")
	f.StringArrayVar(&o.metrics, "metric", nil, "map a policy metric to a trace column, NAME=COLUMN (repeatable)")
	f.IntVar(&o.initialSize, "initial-size", 0, "group size at the first sample (default: a history CSV's ready-size at its first row, else what the targets ask for at the first sample, within min..max)")
	f.IntVar(&o.recordedSize, "recorded-size", 0, "size of the group a cpu trace was recorded on (required for cpu metrics)")
	f.StringVar(&o.timeline, "timeline", "", "write the per-sample timeline to this file (CSV; JSON if the name ends in .json; - for stdout)")
	f.StringVar(&o.reportFile, "report", "", "write a self-contained HTML report to this file (charts, per-day or per-week views, the comparison runs)")
	outputFlag(cmd, &o.output, "table", "json", "yaml")
	f.BoolVar(&o.jsonSummary, "json", false, "print the summary as JSON (same as -o json)")
	_ = f.MarkHidden("json") // kept for scripts; cobra's MarkDeprecated would print its notice on stdout
	f.BoolVar(&o.skipBadRows, "skip-bad-rows", false, "skip malformed trace rows (counted and reported) instead of failing")
	f.StringVar(&o.timezone, "timezone", "UTC", "time zone of trace times written without one (YYYY-MM-DD HH:MM:SS)")
	f.StringVar(&o.predictive, "predictive", "", "override the policy's predictive mode: off, forecast-only or forecast-and-scale")
	f.StringVar(&o.baseline, "baseline", "", "also replay a reference rule beside the policy and compare: hpa")
	f.StringVar(&o.compare, "compare", "", "also replay the same policy with prediction off and compare: off")
	f.Float64Var(&o.price, "price", 0, "price per instance-hour for a policy without a cost of its own (the agent's --default-price), so the summary and report show cost; the policy's cost: wins")
	f.StringVar(&o.currency, "price-currency", "USD", "currency of --price (three uppercase letters)")
	f.StringArrayVar(&o.units, "unit", nil, "name the unit of a metric's values in the report, NAME=UNIT, e.g. rps=requests/s (repeatable)")
	f.StringVar(&o.fromCluster, "from-cluster", "", "replay the cluster's history of this policy id instead of a trace (with --policy: the stored policy and the candidate side by side; exit 3 when the candidate is worse)")
	o.af.register(cmd)
	cmd.AddCommand(newScoreboardCommand())
	return cmd
}

// runSimulateFromCluster is simulate --from-cluster: the cluster's
// history replayed through the stored policy, and the --policy candidate
// beside it when given.
func runSimulateFromCluster(cmd *cobra.Command, o simulateOptions) error {
	for _, f := range notFromCluster {
		if cmd.Flags().Changed(f) {
			return fmt.Errorf("--%s: not with --from-cluster, which replays the cluster's history as the cluster recorded it", f)
		}
	}
	if err := checkOutput(o.output, "table", "json", "yaml"); err != nil {
		return err
	}
	t, err := o.af.target()
	if err != nil {
		return err
	}
	wo := whatIfOptions{id: o.fromCluster, reportFile: o.reportFile, output: o.output, file: o.policyFile}
	if o.policyFile != "" {
		p, err := loadPolicy(o.policyFile)
		if err != nil {
			return err
		}
		if p.ID != o.fromCluster {
			return fmt.Errorf("--policy %s: its id is %q, not the --from-cluster policy %q; a candidate replaces the policy of its own id",
				o.policyFile, p.ID, o.fromCluster)
		}
		wo.candidate = &p
	}
	return runWhatIf(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), t, wo)
}

func runSimulate(stdout, stderr io.Writer, o simulateOptions) (err error) {
	// The trace is read while the policy loads and the flags are checked;
	// when one of those fails, the read is stopped and joined.
	read := startTraceRead(o.traceFile, o.timezone, o.skipBadRows)
	defer func() {
		if err != nil {
			read.abandon()
		}
	}()
	p, err := loadPolicy(o.policyFile)
	if err != nil {
		return err
	}
	if o.predictive != "" {
		mode := policy.PredictiveMode(o.predictive)
		switch mode {
		case policy.PredictOff, policy.PredictForecastOnly, policy.PredictForecastAndScale:
			p.Predictive.Mode = mode
		default:
			return fmt.Errorf("--predictive: must be one of off, forecast-only, forecast-and-scale (got %q)", o.predictive)
		}
	}
	if o.baseline != "" && o.baseline != "hpa" {
		return fmt.Errorf("--baseline: must be hpa (got %q)", o.baseline)
	}
	if o.price != 0 {
		if err := policy.CheckPrice(o.price); err != nil {
			return fmt.Errorf("--price: %w", err)
		}
		if err := policy.CheckCurrency(o.currency); err != nil {
			return fmt.Errorf("--price-currency: %w", err)
		}
		p = policy.WithDefaultCost(p, map[string]policy.Cost{p.Target.Provider: {PerInstanceHour: o.price, Currency: o.currency}})
	}
	if o.compare != "" && o.compare != "off" {
		return fmt.Errorf("--compare: must be off (got %q)", o.compare)
	}
	if o.initialSize < 0 {
		return fmt.Errorf("--initial-size: must be >= 0 (got %d)", o.initialSize)
	}
	if o.recordedSize < 0 {
		return fmt.Errorf("--recorded-size: must be >= 0 (got %d)", o.recordedSize)
	}
	if o.recordedSize > 0 && !slices.ContainsFunc(p.Metrics, func(m policy.Metric) bool { return m.Type == policy.MetricCPU }) {
		return fmt.Errorf("--recorded-size: applies only to cpu metrics, and policy %s has none (its values already count the whole group)", p.ID)
	}
	units, err := parseUnits(p, o.units)
	if err != nil {
		return err
	}
	st, err := read.wait()
	if err != nil {
		return err
	}
	// The replays start while the trace's rows are parsed on another
	// goroutine (traceFeed), unless the sizes of a history CSV's columns,
	// which set the replay's, are read first, or the mapping fails (then
	// the trace's own errors come first, as they would).
	series, err := mapTrace(p, streamed(st), o.metrics)
	var feed *traceFeed
	if err == nil && !slices.ContainsFunc(st.Columns(), isSizeColumn) {
		feed = startTraceFeed(st, o.traceFile, func(tr *trace.Trace) {
			reportSkipped(stderr, o.traceFile, tr)
			warnStaleStep(stderr, p, tr)
		})
	} else {
		tr, perr := parseTrace(st, o.traceFile, stderr)
		if perr != nil {
			return perr
		}
		if err != nil {
			return err
		}
		if series, err = mapTrace(p, tr, o.metrics); err != nil {
			return err
		}
		if o.recordedSize, err = traceRecordedSize(p, tr, o.recordedSize); err != nil {
			return err
		}
		if o.initialSize == 0 {
			// A history CSV's ready-size column: the group's recorded size.
			if o.initialSize, err = api.TraceInitialSize(tr); err != nil {
				return err
			}
		}
		warnStaleStep(stderr, p, tr)
	}
	// Without a report the comparison runs are only summed up, and without
	// a timeline either so is the policy's: their timelines are not kept.
	cfg := simulate.Config{Policy: p, InitialSize: o.initialSize, RecordedSize: o.recordedSize, SummaryOnly: o.reportFile == ""}
	if feed != nil {
		cfg.Arrived = feed.arrived
	}
	// The comparison runs cost a replay each, so they run only when asked,
	// and beside the policy's own replay and the timeline's writing: a
	// replay is sequential, so on two cores the three take little longer
	// than one. They share only what they read (the series, the policy's
	// slices; a compiled schedule's cache is atomic).
	cmp := startComparisons(cfg, series, o.compare == "off", o.baseline == "hpa")
	// A CSV timeline is written while the replay runs, a stretch of rows
	// at a time (simulate.Config.Rows); a JSON one starts with the summary,
	// so it waits for the end.
	var stream *timelineStream
	if o.timeline != "" && !strings.HasSuffix(o.timeline, ".json") {
		stream = &timelineStream{path: o.timeline, stdout: stdout, policy: p}
		cfg.Rows = stream.rows
	}
	cfg.SummaryOnly = o.timeline == "" && o.reportFile == ""
	res, err := simulate.Run(cfg, series)
	if _, perr := feed.wait(); perr != nil {
		// The replays stopped at the parse's error, before any row was
		// written (Rows waits for the whole trace).
		stream.wait()
		cmp.wait()
		return perr
	}
	if werr := stream.wait(); err == nil {
		err = werr
	}
	if err != nil {
		cmp.wait()
		return err
	}
	if o.timeline != "" && stream == nil {
		if err := writeTimelineJSON(o.timeline, stdout, p, res); err != nil {
			cmp.wait()
			return err
		}
	}
	off, ref, err := cmp.wait()
	if err != nil {
		return err
	}
	if o.compare == "off" && off == nil {
		off = res // prediction is off already: the policy's run is its own comparison
	}
	if o.reportFile != "" {
		opts := report.HTMLOptions{
			Title:      "Capstan simulation: " + p.ID,
			TraceName:  filepath.Base(o.traceFile),
			PolicyName: filepath.Base(o.policyFile),
			Units:      units,
		}
		if off != nil && off != res {
			opts.Overlays = append(opts.Overlays, report.Overlay{Label: "prediction off", Result: off})
		}
		if ref != nil {
			opts.Overlays = append(opts.Overlays, report.Overlay{Label: "HPA reference", Result: ref})
		}
		if err := writeTo(o.reportFile, stdout, func(w io.Writer) error {
			return report.WriteHTML(w, opts, p, res, res.Summary)
		}); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	if o.timeline == "-" {
		return nil // stdout carries the timeline
	}
	if off == nil && ref == nil {
		if o.output != "table" {
			return writeFormat(stdout, o.output, res.Summary)
		}
		return report.WriteSummary(stdout, res.Summary)
	}
	sums := comparison{Policy: res.Summary}
	runs := []report.Run{{Label: "policy", Summary: res.Summary}}
	if off != nil {
		r := simulate.Compare(res.Summary, off.Summary)
		sums.Off, sums.VsOff = &off.Summary, &r
		runs = append(runs, report.Run{Label: "off", Summary: off.Summary})
	}
	if ref != nil {
		r := simulate.Compare(res.Summary, ref.Summary)
		sums.Baseline, sums.BaselineRule, sums.VsBaseline = &ref.Summary, o.baseline, &r
		runs = append(runs, report.Run{Label: o.baseline, Summary: ref.Summary})
	}
	if o.output != "table" {
		return writeFormat(stdout, o.output, sums)
	}
	return report.WriteComparison(stdout, runs)
}

// writeTimelineJSON writes the finished run's timeline as JSON to path (a
// CSV one is streamed during the run: timelineStream).
func writeTimelineJSON(path string, stdout io.Writer, p policy.Policy, res *simulate.Result) error {
	if err := writeTo(path, stdout, func(w io.Writer) error {
		return report.WriteTimelineJSON(w, p, res)
	}); err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	return nil
}

// timelineStream writes the timeline CSV in its own goroutine while the
// replay runs: simulate.Config.Rows hands it each finished stretch of rows
// over a channel. The goroutine (and the file) starts at the first stretch,
// so a replay that fails its checks leaves no file behind, as before.
type timelineStream struct {
	path   string
	stdout io.Writer
	policy policy.Policy
	done   chan int      // rows final so far; closed by wait
	ended  chan struct{} // closed when the goroutine returns
	err    error         // the goroutine's, read after ended
}

// rows is the replay's simulate.Config.Rows.
func (ts *timelineStream) rows(r *simulate.Result, done int) {
	if ts.done == nil {
		ts.done, ts.ended = make(chan int, 64), make(chan struct{})
		go ts.write(r)
	}
	ts.done <- done
}

// write runs in the stream's goroutine until done is closed.
func (ts *timelineStream) write(r *simulate.Result) {
	defer close(ts.ended)
	defer func() {
		for range ts.done { // after an error: keep the replay from blocking
		}
	}()
	ts.err = writeTo(ts.path, ts.stdout, func(w io.Writer) error {
		t, err := report.NewTimelineCSV(w, ts.policy, r)
		if err != nil {
			return err
		}
		for done := range ts.done {
			if err := t.WriteRows(done); err != nil {
				return err
			}
			if len(ts.done) == 0 {
				// Caught up with the replay: write out what is formatted
				// while the replay still runs, so that what is left to
				// write once it ends is its last stretch, not up to a
				// buffer's worth (report.TimelineCSV writes only when
				// nearly full).
				if err := t.Flush(); err != nil {
					return err
				}
			}
		}
		return t.Flush()
	})
	if ts.err != nil {
		ts.err = fmt.Errorf("writing timeline: %w", ts.err)
	}
}

// wait ends the stream after the replay and returns its error; nil on a
// nil stream or one that never started.
func (ts *timelineStream) wait() error {
	if ts == nil || ts.done == nil {
		return nil
	}
	close(ts.done)
	<-ts.ended
	return ts.err
}

// comparisons are the replays run beside the policy's own, with
// prediction off and through the HPA reference, each in a goroutine that
// wait joins.
type comparisons struct {
	wg             sync.WaitGroup
	off, ref       *simulate.Result
	offErr, refErr error
}

// startComparisons starts the replays asked for: off (unless the policy's
// prediction is off already: its own run is that comparison) and the HPA
// reference.
func startComparisons(cfg simulate.Config, series simulate.Series, off, hpa bool) *comparisons {
	c := new(comparisons)
	if off && cfg.Policy.Predictive.Mode != policy.PredictOff {
		offCfg := cfg
		offCfg.Policy.Predictive.Mode = policy.PredictOff
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.off, c.offErr = simulate.Run(offCfg, series)
		}()
	}
	if hpa {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.ref, c.refErr = simulate.RunBaseline(cfg, series)
		}()
	}
	return c
}

// wait returns the comparison runs (nil where not run) once both are done,
// and the first error, the off run's before the reference's, in the order
// they used to run.
func (c *comparisons) wait() (off, ref *simulate.Result, err error) {
	c.wg.Wait()
	if c.offErr != nil {
		return nil, nil, c.offErr
	}
	if c.refErr != nil {
		return nil, nil, c.refErr
	}
	return c.off, c.ref, nil
}

// comparison is the -o json output of a run with --compare or --baseline:
// each run's summary and the policy's figures over the others'.
type comparison struct {
	Policy       simulate.Summary  `json:"policy"`
	Off          *simulate.Summary `json:"off,omitempty"`
	Baseline     *simulate.Summary `json:"baseline,omitempty"`
	BaselineRule string            `json:"baseline_rule,omitempty"`
	VsOff        *simulate.Ratios  `json:"policy_vs_off,omitempty"`
	VsBaseline   *simulate.Ratios  `json:"policy_vs_baseline,omitempty"`
}

// isSizeColumn reports whether a trace column is one of the sizes a
// cluster's history CSV states, not a metric.
func isSizeColumn(c string) bool { return c == api.RecordedSizeColumn || c == api.ReadySizeColumn }

// warnStaleStep warns when the trace's step is longer than the policy's
// stale_after, which changes what the replay can do.
func warnStaleStep(stderr io.Writer, p policy.Policy, tr *trace.Trace) {
	if step := tr.Step(); step > p.StaleAfter.D() {
		fmt.Fprintf(stderr, "warning: the trace's step (%s) is longer than stale_after (%s): between samples the metrics look stale and the policy only holds or grows, so it scales in only on a fresh sample\n",
			policy.Duration(step), p.StaleAfter)
	}
}

// traceRecordedSize is the recorded size of a cpu trace: the
// --recorded-size flag, or the recorded-size column a cluster's history
// CSV states (capstan history --trace); both must agree when both are given.
func traceRecordedSize(p policy.Policy, tr *trace.Trace, flag int) (int, error) {
	inTrace, err := api.TraceRecordedSize(tr)
	if err != nil {
		return 0, err
	}
	hasCPU := slices.ContainsFunc(p.Metrics, func(m policy.Metric) bool { return m.Type == policy.MetricCPU })
	switch {
	case inTrace == 0 || !hasCPU:
		return flag, nil
	case flag == 0:
		return inTrace, nil
	case flag != inTrace:
		return 0, fmt.Errorf("--recorded-size %d: the trace states %s %d in its %s column; drop the flag, or give the same size",
			flag, api.RecordedSizeColumn, inTrace, api.RecordedSizeColumn)
	}
	return flag, nil
}

// maxUnitLen bounds a --unit label: it is a short axis caption.
const maxUnitLen = 40

// parseUnits reads the --unit NAME=UNIT flags against the policy's metrics.
func parseUnits(p policy.Policy, flags []string) (map[string]string, error) {
	units := make(map[string]string, len(flags))
	for _, f := range flags {
		name, unit, ok := strings.Cut(f, "=")
		if !ok || name == "" || strings.TrimSpace(unit) == "" {
			return nil, fmt.Errorf("--unit %q: must be NAME=UNIT", f)
		}
		if len(unit) > maxUnitLen {
			return nil, fmt.Errorf("--unit %q: the unit must be at most %d bytes", f, maxUnitLen)
		}
		known := false
		for _, m := range p.Metrics {
			known = known || m.Name == name
		}
		if !known {
			return nil, fmt.Errorf("--unit %q: policy %s has no metric %q", f, p.ID, name)
		}
		units[name] = strings.TrimSpace(unit)
	}
	return units, nil
}

// mapTrace picks one trace column per policy metric: explicit NAME=COLUMN
// mappings first, then a lone value column for a lone metric, then columns
// named like the metrics.
func mapTrace(p policy.Policy, tr *trace.Trace, mappings []string) (simulate.Series, error) {
	cols := make(map[string]string, len(mappings))
	for _, m := range mappings {
		name, col, ok := strings.Cut(m, "=")
		if !ok || name == "" || col == "" {
			return simulate.Series{}, fmt.Errorf("--metric %q: must be NAME=COLUMN", m)
		}
		known := false
		for _, pm := range p.Metrics {
			known = known || pm.Name == name
		}
		if !known {
			return simulate.Series{}, fmt.Errorf("--metric %q: policy %s has no metric %q", m, p.ID, name)
		}
		if _, ok := tr.Column(col); !ok {
			return simulate.Series{}, fmt.Errorf("--metric %q: the trace has no column %q (columns: %s)", m, col, strings.Join(tr.Columns, ", "))
		}
		cols[name] = col
	}
	// The sizes a history CSV states are not metrics.
	values := slices.DeleteFunc(slices.Clone(tr.Columns), isSizeColumn)
	s := simulate.Series{Times: tr.Times, Values: make([][]float64, len(p.Metrics))}
	for j, pm := range p.Metrics {
		col, ok := cols[pm.Name]
		if !ok && len(p.Metrics) == 1 && len(values) == 1 {
			col, ok = values[0], true
		}
		if !ok {
			col = pm.Name
		}
		idx, found := tr.Column(col)
		if !found {
			return simulate.Series{}, fmt.Errorf("metric %s: the trace has no column %q (columns: %s); map one with --metric %s=COLUMN",
				pm.Name, col, strings.Join(tr.Columns, ", "), pm.Name)
		}
		s.Values[j] = tr.Values[idx]
	}
	return s, nil
}

// writeTo writes through a buffered file (or stdout for "-"), created or
// written over as createOver does.
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := createOver(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	// After a failed write too: the file then holds what reached it, as
	// when it was emptied first.
	if cerr := f.cut(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
