package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
)

func newAuditCommand() *cobra.Command {
	var (
		af     apiFlags
		limit  int
		output string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: every API write, who made it, from where, and how it ended",
		Long: `Show the replicated audit log, newest first: each policy write or delete,
cluster join or removal and token creation or deletion made through the API,
refused ones included, with the token name, the client's address (and the
node that forwarded it), what changed (policy versions, member, token) and
the HTTP status and error code. Metric pushes are data and are not audited.
Needs a token with the admin role. -o json prints the full entries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			if limit < 1 || limit > api.MaxAuditLimit {
				return fmt.Errorf("--limit: must be in [1,%d] (got %d)", api.MaxAuditLimit, limit)
			}
			entries, err := query(cmd, &af, func(ctx context.Context, c *api.Client) ([]api.AuditEntry, error) {
				return c.AuditLog(ctx, limit)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				if entries == nil {
					entries = []api.AuditEntry{}
				}
				return writeFormat(out, output, api.AuditList{Entries: entries})
			}
			if len(entries) == 0 {
				fmt.Fprintln(out, "no writes recorded yet")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "TIME\tTOKEN\tSOURCE\tACTION\tTARGET\tCHANGE\tRESULT")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(e.Time), orDash(e.Token), auditSource(e),
					e.Action, orDash(e.Target), auditChange(e), auditResult(e))
			}
			return tw.Flush()
		},
	}
	af.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", api.DefaultAuditLimit, fmt.Sprintf("how many entries to show, newest first (at most %d)", api.MaxAuditLimit))
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// auditSource is the client's address, and the node that forwarded the
// write when one did.
func auditSource(e api.AuditEntry) string {
	if e.ForwardedBy != "" {
		return orDash(e.Source) + " via " + e.ForwardedBy
	}
	return orDash(e.Source)
}

// auditChange shows a policy write's versions (ETags) before and after,
// 0 standing for "did not exist" as in If-Match: a creation reads "0->5",
// a deletion "5->0". Other actions change what TARGET names.
func auditChange(e api.AuditEntry) string {
	if e.OldVersion == 0 && e.NewVersion == 0 {
		return "-"
	}
	return strconv.FormatUint(e.OldVersion, 10) + "->" + strconv.FormatUint(e.NewVersion, 10)
}

// auditResult is the HTTP status, with the error code of a refusal and,
// for refusals folded into one entry, how many and until when.
func auditResult(e api.AuditEntry) string {
	r := strconv.Itoa(e.Status)
	if e.Code != "" {
		r += " " + e.Code
	}
	if e.Count > 1 {
		r += fmt.Sprintf(" x%d until %s", e.Count, formatTime(e.Last))
	}
	return r
}
