package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/trace"
)

func newHistoryCommand() *cobra.Command {
	var (
		af        apiFlags
		metric    string
		last      int
		output    string
		traceFile string
	)
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Show a policy's replicated metric windows, the history prediction learns from",
		Long: `Show the bucketed metric history every node holds for a policy: per metric,
the bucket width, how samples combine in a bucket (mean for cpu and
request_rate, max for queue_depth) and the newest non-empty buckets. cpu
buckets hold demand (utilization × instances in service). -o json prints
every bucket.

--trace FILE writes the history as a trace CSV that 'capstan simulate
--trace FILE' reads as it is (- writes it to standard output): a time
column (each bucket at its start, RFC 3339 UTC) and one column per metric
named as in the policy, empty where a metric has no value in a bucket. A
cpu column is the recorded demand as utilization over the size a
recorded-size column states (the group's ready size, raised so that no
utilization exceeds 100 %), and simulate takes that size from the column,
so utilization × recorded size is the recorded demand. A policy with a
predictive.history_step also keeps its group's ready size, which a
ready-size column states per bucket; simulate starts its group at the
first row's.`,
		Example: `  capstan history demo
  capstan history demo --trace out/demo-history.csv
  capstan simulate --policy new-demo.yaml --trace out/demo-history.csv --baseline hpa`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if traceFile != "" {
				if cmd.Flags().Changed("output") || cmd.Flags().Changed("last") {
					return errors.New("--trace: writes every bucket as CSV; drop --output and --last")
				}
				return writeHistoryTrace(cmd, &af, args[0], metric, traceFile)
			}
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			if last < 1 {
				return fmt.Errorf("--last: must be at least 1 (got %d)", last)
			}
			hist, err := query(cmd, &af, func(ctx context.Context, c *api.Client) ([]api.MetricHistory, error) {
				return c.History(ctx, args[0], metric)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				return writeFormat(out, output, hist)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "METRIC\tTYPE\tSTEP\tAGG\tBUCKET\tVALUE")
			for _, h := range hist {
				if len(h.Buckets) == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t(no samples yet)\n", h.Metric, h.Type, h.Step, h.Aggregation)
					continue
				}
				for _, b := range h.Buckets[max(0, len(h.Buckets)-last):] {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Metric, h.Type, h.Step, h.Aggregation,
						formatTime(b.Time), strconv.FormatFloat(b.Value, 'g', 6, 64))
				}
			}
			return tw.Flush()
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&metric, "metric", "", "show only this metric")
	cmd.Flags().IntVar(&last, "last", 12, "how many of the newest non-empty buckets to show per metric in the table")
	cmd.Flags().StringVar(&traceFile, "trace", "", "write the history as a trace CSV that capstan simulate reads to this file (- for standard output)")
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// writeHistoryTrace fetches the history CSV and writes it to file,
// telling on stderr what it wrote.
func writeHistoryTrace(cmd *cobra.Command, af *apiFlags, id, metric, file string) error {
	csv, err := query(cmd, af, func(ctx context.Context, c *api.Client) ([]byte, error) {
		return c.HistoryCSV(ctx, id, metric)
	})
	if err != nil {
		return err
	}
	tr, err := trace.ParseBytes(csv, trace.Options{})
	if err != nil {
		return fmt.Errorf("the history CSV of policy %s: %w", id, err)
	}
	if err := writeTo(file, cmd.OutOrStdout(), func(w io.Writer) error {
		_, err := w.Write(csv)
		return err
	}); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if file != "-" {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d buckets of %s (%s to %s), columns %s, to %s\n", len(tr.Times), tr.Step(),
			formatTime(time.Unix(0, tr.Times[0])), formatTime(time.Unix(0, tr.Times[len(tr.Times)-1])), strings.Join(tr.Columns, ", "), file)
	}
	return nil
}
