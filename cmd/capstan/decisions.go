package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

func newDecisionsCommand() *cobra.Command {
	var (
		af     apiFlags
		limit  int
		output string
		wf     watchFlags
	)
	cmd := &cobra.Command{
		Use:   "decisions ID",
		Short: "Show a policy's recent scaling decisions and why each was made",
		Long: `Show a policy's most recent decisions, newest first: every evaluation that
proposed a change, acted on or held, with the rule that bound the result
(bounds, cooldown, stabilization, rate-limit, tolerance, stale-data), how
old the group state it was made from was (GROUP AGE: the leader reads
groups from a cache refreshed every --group-refresh; "-" when unknown) and
each metric's proposal; for a priced policy (cost:, or the agent's
--default-price) COST/H is the hourly cost of the size each decision
chose. -o json prints the full records. --watch refreshes
the list every --interval until interrupted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			if limit < 1 || limit > api.MaxDecisionLimit {
				return fmt.Errorf("--limit: must be in [1,%d] (got %d)", api.MaxDecisionLimit, limit)
			}
			return wf.run(cmd.Context(), cmd.OutOrStdout(), commandLine(cmd, args), func(out io.Writer) error {
				recs, err := query(cmd, &af, func(ctx context.Context, c *api.Client) ([]policy.Record, error) {
					return c.Decisions(ctx, args[0], limit)
				})
				if err != nil {
					return err
				}
				return printDecisions(out, output, args[0], recs)
			})
		},
	}
	af.register(cmd)
	wf.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", api.DefaultDecisionLimit, fmt.Sprintf("how many decisions to show, newest first (at most %d)", api.MaxDecisionLimit))
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// printDecisions prints a policy's decisions in the -o format.
func printDecisions(out io.Writer, output, id string, recs []policy.Record) error {
	if output != "table" {
		if recs == nil {
			recs = []policy.Record{}
		}
		return writeFormat(out, output, api.DecisionList{Decisions: recs})
	}
	if len(recs) == 0 {
		fmt.Fprintf(out, "no decisions recorded for %s yet\n", id)
		return nil
	}
	// A priced policy's decisions carry the hourly cost of the size they
	// chose: the table shows it, in the policy's currency, when any does.
	priced := slices.ContainsFunc(recs, func(r policy.Record) bool { return r.HourlyCost > 0 })
	tw := newTable(out)
	cost := ""
	if priced {
		cost = "COST/H\t"
	}
	fmt.Fprintln(tw, "TIME\tACTION\tFROM->TO\tBOUND\tGROUP AGE\t"+cost+"REASON")
	for _, r := range recs {
		age := "-" // unknown: a hold, a settled intent, an older record
		if r.GroupAge > 0 {
			age = r.GroupAge.String()
		}
		if priced {
			cost = "-\t" // a record from before the policy was priced
			if r.HourlyCost > 0 {
				cost = policy.FormatMoney(r.HourlyCost) + "\t"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d->%d\t%s\t%s\t%s%s\n", formatTime(r.Time), r.Action, r.Current, r.Desired, r.Bound, age, cost, r.Reason)
	}
	return tw.Flush()
}
