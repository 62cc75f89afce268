package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
)

func newHistoryCommand() *cobra.Command {
	var (
		af     apiFlags
		metric string
		last   int
		output string
	)
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Show a policy's replicated metric windows, the history prediction learns from",
		Long: `Show the bucketed metric history every node holds for a policy: per metric,
the bucket width, how samples combine in a bucket (mean for cpu and
request_rate, max for queue_depth) and the newest non-empty buckets. cpu
buckets hold demand (utilization × instances in service). -o json prints
every bucket.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}
