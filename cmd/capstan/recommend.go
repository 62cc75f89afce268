package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/recommend"
)

// recommendOptions are the flags of `capstan recommend`.
type recommendOptions struct {
	policyFile   string
	traceFile    string
	metrics      []string
	recordedSize int
	reportFile   string
	output       string
	timezone     string
	workers      int
	// fromCluster names a policy on the cluster whose history is searched
	// instead of a trace file; af reaches the cluster.
	fromCluster string
	af          apiFlags
}

// notFromClusterRecommend are the flags that shape a trace file's
// replay, which a search over the cluster's history does not take.
var notFromClusterRecommend = []string{"trace", "metric", "recorded-size", "timezone"}

func newRecommendCommand() *cobra.Command {
	var o recommendOptions
	cmd := &cobra.Command{
		Use:   "recommend (--policy FILE --trace FILE | --from-cluster ID [--policy FILE])",
		Short: "Search a policy's settings on a trace and recommend one (dry run, no cloud calls)",
		Long: `Replay a recorded trace through the policy and through every candidate
setting around it (metric targets 0.8× to 1.2×, scale-in stabilization and
cooldown halved, kept and doubled (or 0, one and two warmups when 0),
prediction off or forecast-and-scale with
the policy's own lead or one or two warmups, min kept or raised to what the trace needs 90 %
of the time), in parallel on every core. Prints the Pareto front of
under-provisioned time against instance-hours (and cost when the policy is
priced), the recommended point and its change as a YAML diff. The rule: ` + recommend.Rule + `

Every candidate is scored against the searched policy's own targets (its
definition of enough capacity), so a higher target cannot look better
for judging itself by a looser bar.

--from-cluster ID searches the cluster's own history of policy ID (what
'capstan history ID --trace FILE' writes) around the stored policy, priced
as the node prices its decisions, or around --policy FILE (a policy of the
same id). It only reads: nothing is written to the cluster.`,
		Example: `  capstan recommend --policy examples/policies/app-cpu.yaml --trace examples/traces/app_cpu_usage_1min.csv
  capstan recommend --from-cluster demo --report out/recommend.html
  capstan recommend --from-cluster demo --policy new-demo.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.fromCluster != "" {
				for _, f := range notFromClusterRecommend {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s: not with --from-cluster, which replays the cluster's history as the cluster recorded it", f)
					}
				}
			} else {
				for _, f := range []string{"policy", "trace"} {
					if !cmd.Flags().Changed(f) {
						return fmt.Errorf("--%s: required (or search the cluster's history with --from-cluster ID)", f)
					}
				}
			}
			return runRecommend(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policyFile, "policy", "", "policy file (YAML or JSON); with --from-cluster, searched instead of the stored policy")
	f.StringVar(&o.traceFile, "trace", "", "trace CSV: a time column and one column per metric")
	f.StringArrayVar(&o.metrics, "metric", nil, "map a policy metric to a trace column, NAME=COLUMN (repeatable)")
	f.IntVar(&o.recordedSize, "recorded-size", 0, "size of the group a cpu trace was recorded on (required for cpu metrics)")
	f.StringVar(&o.reportFile, "report", "", "write a self-contained HTML report of the front here")
	outputFlag(cmd, &o.output, "table", "json", "yaml")
	f.StringVar(&o.timezone, "timezone", "UTC", "time zone of trace times written without one")
	f.IntVar(&o.workers, "workers", 0, "replays run at once (default: the available cores)")
	f.StringVar(&o.fromCluster, "from-cluster", "", "search the cluster's history of this policy id instead of a trace (around the stored policy, or --policy FILE)")
	o.af.register(cmd)
	return cmd
}

func runRecommend(ctx context.Context, stdout, stderr io.Writer, o recommendOptions) error {
	if o.recordedSize < 0 {
		return fmt.Errorf("--recorded-size: must be >= 0 (got %d)", o.recordedSize)
	}
	if err := checkOutput(o.output, "table", "json", "yaml"); err != nil {
		return err
	}
	if o.workers < 0 {
		return fmt.Errorf("--workers: must be >= 0 (got %d)", o.workers)
	}
	if o.workers == 0 {
		o.workers = runtime.GOMAXPROCS(0)
	}
	in, err := recommendInput(ctx, stderr, o)
	if err != nil {
		return err
	}
	// Search scores every candidate against p's targets (its default bar).
	p, cfg, series := in.cfg.Policy, in.cfg, in.series
	space := recommend.DefaultSpace(p, recommend.Floor(p, series, cfg.RecordedSize, 0.1))
	start := time.Now()
	res, err := recommend.Search(ctx, cfg, series, space, o.workers)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "replayed %d candidates (%d skipped as invalid) over %d samples in %s on %d workers\n",
		len(res.Candidates), res.Skipped, len(series.Times), time.Since(start).Round(10*time.Millisecond), o.workers)
	diff := ""
	if res.Recommended >= 0 {
		if diff, err = recommend.Diff(p, res.Candidates[res.Recommended].Policy); err != nil {
			return err
		}
	}
	if o.reportFile != "" {
		opts := recommend.HTMLOptions{PolicyName: in.policyName, TraceName: in.traceName}
		if err := writeTo(o.reportFile, stdout, func(w io.Writer) error { return recommend.WriteHTML(w, opts, res) }); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
		if o.reportFile == "-" {
			return nil
		}
	}
	var edges []string
	if res.Recommended >= 0 {
		edges = space.AtEdge(res.Candidates[res.Recommended].Settings)
	}
	if o.output != "table" {
		return writeRecommendFormat(stdout, o.output, res, diff, edges)
	}
	return writeRecommendText(stdout, res, diff, edges)
}

// recommendSource is what a search replays: the policy searched around
// (in cfg, with the group's sizes) and the series, and their names for
// the report.
type recommendSource struct {
	cfg                   simulate.Config
	series                simulate.Series
	policyName, traceName string
}

// recommendInput loads the policy and the trace from files, or the
// policy and its history from the cluster with --from-cluster.
func recommendInput(ctx context.Context, stderr io.Writer, o recommendOptions) (recommendSource, error) {
	if o.fromCluster != "" {
		return recommendFromCluster(ctx, stderr, o)
	}
	p, err := loadPolicy(o.policyFile)
	if err != nil {
		return recommendSource{}, err
	}
	if o.recordedSize > 0 && !slices.ContainsFunc(p.Metrics, func(m policy.Metric) bool { return m.Type == policy.MetricCPU }) {
		return recommendSource{}, fmt.Errorf("--recorded-size: applies only to cpu metrics, and policy %s has none (its values already count the whole group)", p.ID)
	}
	tr, err := loadTrace(o.traceFile, o.timezone, false, stderr)
	if err != nil {
		return recommendSource{}, err
	}
	series, err := mapTrace(p, tr, o.metrics)
	if err != nil {
		return recommendSource{}, err
	}
	// A history CSV (capstan history --trace) states the group's sizes,
	// as simulate reads them.
	recorded, err := traceRecordedSize(p, tr, o.recordedSize)
	if err != nil {
		return recommendSource{}, err
	}
	initial, err := api.TraceInitialSize(tr)
	if err != nil {
		return recommendSource{}, err
	}
	return recommendSource{
		cfg:    simulate.Config{Policy: p, InitialSize: initial, RecordedSize: recorded},
		series: series, policyName: filepath.Base(o.policyFile), traceName: filepath.Base(o.traceFile),
	}, nil
}

// recommendFromCluster fetches the stored policy and its history as
// simulate --from-cluster does; --policy FILE, a policy of the same id,
// replaces the stored one and is priced as the node would price it.
func recommendFromCluster(ctx context.Context, stderr io.Writer, o recommendOptions) (recommendSource, error) {
	var file *policy.Policy
	if o.policyFile != "" {
		p, err := loadPolicy(o.policyFile)
		if err != nil {
			return recommendSource{}, err
		}
		if p.ID != o.fromCluster {
			return recommendSource{}, fmt.Errorf("--policy %s: its id is %q, not the --from-cluster policy %q; recommend searches a policy's own history",
				o.policyFile, p.ID, o.fromCluster)
		}
		file = &p
	}
	t, err := o.af.target()
	if err != nil {
		return recommendSource{}, err
	}
	rec, tr, defaults, err := clusterHistory(ctx, t, o.fromCluster)
	if err != nil {
		return recommendSource{}, fmt.Errorf("--from-cluster %s: %w", o.fromCluster, err)
	}
	p, name := rec.Policy, fmt.Sprintf("%s (stored version %d)", rec.Policy.ID, rec.Version)
	if file != nil {
		p, name = policy.WithDefaultCost(*file, defaults), filepath.Base(o.policyFile)
	}
	cfg, series, err := historyReplay(stderr, tr, p)
	if err != nil {
		return recommendSource{}, fmt.Errorf("--from-cluster %s: %w", o.fromCluster, err)
	}
	fmt.Fprintf(stderr, "searching around %s over %s, %s to %s\n", name, historyName(p.ID, tr),
		formatTime(time.Unix(0, tr.Times[0])), formatTime(time.Unix(0, tr.Times[len(tr.Times)-1])))
	return recommendSource{cfg: cfg, series: series, policyName: name, traceName: historyName(p.ID, tr)}, nil
}

// recommendJSON is the -o json (and yaml) output.
type recommendJSON struct {
	Rule        string                `json:"rule"`
	Current     recommend.Candidate   `json:"current"`
	Front       []recommend.Candidate `json:"front"`
	Recommended *recommend.Candidate  `json:"recommended,omitempty"`
	VsCurrent   *simulate.Ratios      `json:"recommended_vs_current,omitempty"`
	Diff        string                `json:"diff,omitempty"`
	AtEdge      []string              `json:"at_edge_of_search,omitempty"`
	Candidates  int                   `json:"candidates"`
	Skipped     int                   `json:"skipped"`
}

func writeRecommendFormat(w io.Writer, format string, res *recommend.Result, diff string, edges []string) error {
	out := recommendJSON{Rule: recommend.Rule, Current: res.Current, Diff: diff, AtEdge: edges, Candidates: len(res.Candidates), Skipped: res.Skipped}
	for _, i := range res.Front {
		out.Front = append(out.Front, res.Candidates[i])
	}
	if res.Recommended >= 0 {
		c := res.Candidates[res.Recommended]
		r := simulate.Compare(c.Summary, res.Current.Summary)
		out.Recommended, out.VsCurrent = &c, &r
	}
	return writeFormat(w, format, out)
}

// writeRecommendText prints the front as a table, the current policy
// first, then the recommendation and its diff.
func writeRecommendText(w io.Writer, res *recommend.Result, diff string, edges []string) error {
	priced := res.Current.Summary.Priced()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "point\ttarget ×\tstabilization\tscale-in cooldown\tpredictive\tmin\tunder-provisioned\tinstance-hours\t"
	if priced {
		head += "cost (" + res.Current.Summary.Currency + ")\t"
	}
	fmt.Fprintln(tw, head+"actions/day\t")
	row := func(label string, c recommend.Candidate) {
		s, st := c.Summary, c.Settings
		mode := string(st.Mode)
		if st.Mode == policy.PredictForecastAndScale {
			mode += " " + st.Lead.String()
		}
		line := fmt.Sprintf("%s\t%.2f×\t%s\t%s\t%s\t%d\t%d (%.2f%%)\t%.1f\t", label, st.TargetScale, st.Stabilization, st.ScaleInCooldown,
			mode, st.Min, s.UnderProvisionedSamples, 100*s.UnderProvisionedFraction, s.InstanceHours)
		if priced {
			line += strconv.FormatFloat(s.Cost, 'f', 2, 64) + "\t"
		}
		fmt.Fprintln(tw, line+strconv.FormatFloat(s.ActionsPerDay, 'f', 1, 64)+"\t")
	}
	row("current", res.Current)
	for k, i := range res.Front {
		label := "front " + strconv.Itoa(k+1)
		if i == res.Recommended {
			label = "* " + label
		}
		row(label, res.Candidates[i])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nPareto front: %d of %d candidates (under-provisioned time against %s).\nRule: %s\n",
		len(res.Front), len(res.Candidates), map[bool]string{false: "instance-hours", true: "cost"}[priced], recommend.Rule)
	if res.Recommended < 0 {
		b.WriteString("\nRecommendation: keep the current policy.\n")
	} else {
		c := res.Candidates[res.Recommended]
		r := simulate.Compare(c.Summary, res.Current.Summary)
		fmt.Fprintf(&b, "\nRecommendation (* above): under-provisioned %s, instance-hours %s, actions %s",
			r.UnderProvisioned, r.InstanceHours, r.Actions)
		if note := r.CostNote(); note != "" {
			b.WriteString(", " + note)
		}
		b.WriteString(" against the current policy.\n")
		if len(edges) > 0 {
			verb := "is"
			if len(edges) > 1 {
				verb = "are"
			}
			fmt.Fprintf(&b, "Note: %s %s at the edge of the range searched; apply the change and run recommend again to search beyond it.\n",
				strings.Join(edges, ", "), verb)
		}
		b.WriteString("\n" + diff)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
