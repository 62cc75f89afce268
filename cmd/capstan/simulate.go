package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

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
}

func newSimulateCommand() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate --policy FILE --trace FILE",
		Short: "Replay a recorded metric trace through a policy (dry run, no cloud calls)",
		Long: `Replay a recorded metric trace through the same policy evaluation the
agent runs, with a virtual clock and a simulated group whose new instances
become ready after the policy's warmup. Prints a summary (-o table, json or
yaml); optionally writes a per-sample timeline (--timeline FILE: CSV, or JSON
when the file name ends in .json) and a self-contained HTML report
(--report FILE). --compare off and --baseline hpa also replay the
policy with prediction off and an HPA-style reference on the same trace and
show the runs side by side. "capstan simulate scoreboard" scores the engine
against that reference on every bundled trace.`,
		Args: cobra.NoArgs,
		Example: `  mkdir -p out
  capstan simulate --policy examples/policies/app-cpu.yaml --trace examples/traces/app_cpu_usage_1min.csv \
      --timeline out/timeline.csv --report out/report.html
  capstan simulate --policy examples/policies/nyc-taxi.yaml --trace examples/traces/nyc_taxi_passengers_30min.csv -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
	f.IntVar(&o.initialSize, "initial-size", 0, "group size at the first sample (default: what the targets ask for at the first sample, within min..max)")
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
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("trace")
	cmd.AddCommand(newScoreboardCommand())
	return cmd
}

func runSimulate(stdout, stderr io.Writer, o simulateOptions) error {
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
	tr, err := loadTrace(o.traceFile, o.timezone, o.skipBadRows, stderr)
	if err != nil {
		return err
	}
	series, err := mapTrace(p, tr, o.metrics)
	if err != nil {
		return err
	}
	if step := tr.Step(); step > p.StaleAfter.D() {
		fmt.Fprintf(stderr, "warning: the trace's step (%s) is longer than stale_after (%s): between samples the metrics look stale and the policy only holds or grows, so it scales in only on a fresh sample\n",
			policy.Duration(step), p.StaleAfter)
	}
	cfg := simulate.Config{Policy: p, InitialSize: o.initialSize, RecordedSize: o.recordedSize}
	res, err := simulate.Run(cfg, series)
	if err != nil {
		return err
	}
	// The comparison runs cost a replay each, so they run only when asked.
	var off, ref *simulate.Result
	if o.compare == "off" {
		off = res
		if p.Predictive.Mode != policy.PredictOff {
			offCfg := cfg
			offCfg.Policy.Predictive.Mode = policy.PredictOff
			if off, err = simulate.Run(offCfg, series); err != nil {
				return err
			}
		}
	}
	if o.baseline == "hpa" {
		if ref, err = simulate.RunBaseline(cfg, series); err != nil {
			return err
		}
	}
	if o.timeline != "" {
		if err := writeTo(o.timeline, stdout, func(w io.Writer) error {
			if strings.HasSuffix(o.timeline, ".json") {
				return report.WriteTimelineJSON(w, p, res)
			}
			return report.WriteTimelineCSV(w, p, res)
		}); err != nil {
			return fmt.Errorf("writing timeline: %w", err)
		}
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
	cmp := comparison{Policy: res.Summary}
	runs := []report.Run{{Label: "policy", Summary: res.Summary}}
	if off != nil {
		r := simulate.Compare(res.Summary, off.Summary)
		cmp.Off, cmp.VsOff = &off.Summary, &r
		runs = append(runs, report.Run{Label: "off", Summary: off.Summary})
	}
	if ref != nil {
		r := simulate.Compare(res.Summary, ref.Summary)
		cmp.Baseline, cmp.BaselineRule, cmp.VsBaseline = &ref.Summary, o.baseline, &r
		runs = append(runs, report.Run{Label: o.baseline, Summary: ref.Summary})
	}
	if o.output != "table" {
		return writeFormat(stdout, o.output, cmp)
	}
	return report.WriteComparison(stdout, runs)
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
	s := simulate.Series{Times: tr.Times, Values: make([][]float64, len(p.Metrics))}
	for j, pm := range p.Metrics {
		col, ok := cols[pm.Name]
		if !ok && len(p.Metrics) == 1 && len(tr.Columns) == 1 {
			col, ok = tr.Columns[0], true
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

// writeTo writes through a buffered file (or stdout for "-").
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
