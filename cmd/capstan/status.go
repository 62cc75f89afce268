package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// maxStatusPolicies bounds how many policies `capstan status` asks about
// one by one; beyond it the summary points at `capstan policy list`.
const maxStatusPolicies = 50

// statusReport is `capstan status -o json`.
type statusReport struct {
	Cluster  api.ClusterInfo    `json:"cluster"`
	Policies []api.PolicyStatus `json:"policies"`
	// PoliciesError says why the policy part is missing or incomplete.
	PoliciesError string `json:"policies_error,omitempty"`
}

func newStatusCommand() *cobra.Command {
	var (
		af     apiFlags
		output string
		wf     watchFlags
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster (members and their health, leader, Raft indexes) and each policy's group size",
		Long: `Show the cluster as the node at --addr sees it: its role, the leader, the
Raft term and commit/applied indexes, the members and their health; then,
for each policy, the desired and ready sizes and the last decision.

A member's health sums up two checks: RAFT CONTACT, whether the leader's
heartbeats reach it (from Raft's own observations; a follower shows the
leader's view), and API, whether its API answered the asked node's probe
(every second). LAG is how many Raft entries its applied index is behind.
A killed member shows as down within a few seconds.

--watch refreshes the view every --interval until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			t, err := af.target()
			if err != nil {
				return err
			}
			return wf.run(cmd.Context(), cmd.OutOrStdout(), commandLine(cmd, args), func(w io.Writer) error {
				rep, err := gatherStatus(cmd.Context(), t)
				if err != nil {
					return describe(err)
				}
				if output != "table" {
					return writeFormat(w, output, rep)
				}
				return printStatus(w, rep)
			})
		},
	}
	af.register(cmd)
	wf.register(cmd)
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// gatherStatus asks for the cluster, then the policies. Only the cluster
// part is required: a node without a leader still has a view of the
// cluster worth showing.
func gatherStatus(ctx context.Context, t *apiTarget) (statusReport, error) {
	var rep statusReport
	err := t.call(ctx, func(c *api.Client) error {
		var err error
		rep.Cluster, err = c.Cluster(ctx)
		return err
	})
	if err != nil {
		return rep, err
	}
	t.learn(rep.Cluster)
	var recs []api.PolicyRecord
	err = t.call(ctx, func(c *api.Client) error {
		recs, err = c.ListPolicies(ctx)
		return err
	})
	if err != nil {
		rep.PoliciesError = err.Error()
		return rep, nil
	}
	rep.Policies = []api.PolicyStatus{}
	for i, r := range recs {
		if i == maxStatusPolicies {
			rep.PoliciesError = fmt.Sprintf("%d more policies not shown; see capstan policy list", len(recs)-i)
			break
		}
		var st api.PolicyStatus
		err := t.call(ctx, func(c *api.Client) error {
			st, err = c.State(ctx, r.Policy.ID)
			return err
		})
		if err != nil {
			rep.PoliciesError = fmt.Sprintf("policy %s: %v", r.Policy.ID, err)
			continue
		}
		rep.Policies = append(rep.Policies, st)
	}
	return rep, nil
}

func printStatus(w io.Writer, rep statusReport) error {
	c := rep.Cluster
	leader := "none known"
	if c.LeaderID != "" {
		leader = c.LeaderID
		if c.LeaderHTTPAddr != "" {
			leader += " (API " + c.LeaderHTTPAddr + ")"
		}
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "node:\t%s (%s)\n", c.Node, orDash(c.Role))
	fmt.Fprintf(tw, "leader:\t%s\n", leader)
	fmt.Fprintf(tw, "term:\t%d\n", c.Term)
	fmt.Fprintf(tw, "commit/applied:\t%d / %d\n", c.CommitIndex, c.AppliedIndex)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "MEMBER\tROLE\tHEALTH\tRAFT CONTACT\tLAG\tAPI\tRAFT ADDRESS\tAPI ADDRESS")
	for _, m := range c.Members {
		lag := "-"
		if m.AppliedLag != nil {
			lag = fmt.Sprint(*m.AppliedLag)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, orDash(m.Role), orDash(m.Health), raftContact(m), lag,
			orDash(m.API), orDash(m.RaftAddr), orDash(m.HTTPAddr))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range c.Members {
		if m.APIError != "" {
			fmt.Fprintf(w, "%s: API unreachable: %s\n", m.ID, m.APIError)
		}
	}
	if len(rep.Policies) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "POLICY\tDESIRED\tREADY\tLAST DECISION\tAT")
		for _, st := range rep.Policies {
			last, at := "-", "-"
			if d := st.LastDecision; d != nil {
				last = fmt.Sprintf("%s %d->%d", d.Action, d.Current, d.Desired)
				if d.Bound != policy.LimitNone {
					last += " (bound: " + d.Bound.String() + ")"
				}
				at = formatTime(d.Time)
			}
			if st.PendingIntent != nil {
				last += fmt.Sprintf(", pending %d->%d", st.PendingIntent.From, st.PendingIntent.To)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", st.ID, st.Desired, st.Ready, last, at)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if rep.PoliciesError != "" {
		fmt.Fprintf(w, "\npolicies: %s\n", rep.PoliciesError)
	}
	return nil
}

// raftContact renders whether the leader hears from m: "ok", "leader", or
// "failing, last contact 12s ago"; "-" when unknown.
func raftContact(m api.Member) string {
	switch m.RaftContact {
	case "", "unknown":
		return "-"
	case "failing":
		if m.LastContactSeconds != nil {
			return fmt.Sprintf("failing, last contact %s ago", (time.Duration(*m.LastContactSeconds) * time.Second).String())
		}
	}
	return m.RaftContact
}
