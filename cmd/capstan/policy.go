package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with scaling policies",
	}
	cmd.AddCommand(newPolicyValidateCommand(), newPolicyApplyCommand(), newPolicyListCommand(),
		newPolicyGetCommand(), newPolicyDeleteCommand(), newPolicyDiffCommand())
	return cmd
}

func newPolicyValidateCommand() *cobra.Command {
	var file, from string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a policy file (YAML or JSON) and print OK or every error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadPolicy(file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "OK: policy %s (%d metrics, size %d..%d, predictive %s)\n",
				p.ID, len(p.Metrics), p.Min, p.Max, p.Predictive.Mode)
			for _, w := range policyWarnings(p) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			at := time.Now()
			if from != "" {
				if at, err = time.Parse(time.RFC3339, from); err != nil {
					return fmt.Errorf("--from: must be an RFC 3339 time such as 2026-11-20T00:00:00Z (got %q)", from)
				}
			}
			return writePolicyExtras(cmd.OutOrStdout(), p, at)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "list scheduled windows opening after this time (RFC 3339; default now)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML or JSON); - reads standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// policyWarnings lists what a valid policy will still need elsewhere, so
// that validate says it before simulate or the agent does.
func policyWarnings(p policy.Policy) []string {
	var out []string
	for i, m := range p.Metrics {
		if m.Type == policy.MetricCPU {
			out = append(out, fmt.Sprintf("metrics[%d] (%s) is a cpu metric: capstan simulate needs --recorded-size, the size of the group the trace was recorded on (utilization alone does not say how many instances carried it)", i, m.Name))
		}
	}
	return out
}

// loadPolicy reads and parses a policy file. A validation failure comes back
// as one error listing every field problem, one per line.
func loadPolicy(file string) (policy.Policy, error) {
	data, err := readPolicyFile(file)
	if err != nil {
		return policy.Policy{}, err
	}
	p, err := policy.Parse(data)
	if err != nil {
		var ve *policy.ValidationError
		if errors.As(err, &ve) {
			msg := fmt.Sprintf("%s: %d error(s):", file, len(ve.Fields))
			for _, f := range ve.Fields {
				msg += "\n  "
				if f.Path != "" { // a syntax error belongs to no field; its message names the line
					msg += f.Path + ": "
				}
				msg += f.Message
			}
			return policy.Policy{}, &exitError{code: 1, err: errors.New(msg)}
		}
		return policy.Policy{}, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

func newPolicyApplyCommand() *cobra.Command {
	var (
		af         apiFlags
		file       string
		ifMatch    string
		dryRun     bool
		reportFile string
		output     string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Create or replace policies on the cluster from a file or a directory of files (YAML or JSON)",
		Long: `Send a policy file to the cluster. The server validates it exactly as
'capstan policy validate' does and answers once Raft has committed it; every
problem is listed at once and nothing is changed when any is found.

-f DIR applies every *.yaml, *.yml and *.json file of the directory in one
go: all are validated first, and nothing is applied if one is invalid.

--if-match VERSION applies only if the stored policy is still at VERSION (as
printed by 'capstan policy get'); 0 applies only if the policy does not exist.

--dry-run applies nothing: it replays the cluster's recorded history of the
policy (its replicated metric windows) through the stored policy and through
the file's, prints them side by side with the verdict, and with --report
FILE.html draws both. Exit status: 0 when the file's policy is no worse on
all figures (under-provisioned samples, instance-hours, scale actions, and
cost when both are priced), 3 when it is worse on any, 1 on an error.`,
		Example: `  capstan policy apply -f examples/local-cluster/policy.yaml
  capstan policy apply --dry-run -f new-demo.yaml --report out/dry-run.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !dryRun && (cmd.Flags().Changed("report") || cmd.Flags().Changed("output")) {
				return errors.New("--report and --output: only with --dry-run, which is what they describe")
			}
			t, err := af.target()
			if err != nil {
				return err
			}
			if dryRun {
				return runPolicyDryRun(cmd, t, file, ifMatch, reportFile, output)
			}
			if fi, err := os.Stat(file); err == nil && fi.IsDir() {
				if ifMatch != "" {
					return fmt.Errorf("--if-match: applies to one policy file, not to the directory %s", file)
				}
				return runPolicyApplyDir(cmd.Context(), cmd.OutOrStdout(), t, file)
			}
			return runPolicyApply(cmd.Context(), cmd.OutOrStdout(), t, file, ifMatch)
		},
	}
	af.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML or JSON), a directory of them, or - for standard input")
	cmd.Flags().StringVar(&ifMatch, "if-match", "", "apply only if the stored version is this one (0: only if it does not exist)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "apply nothing: replay the cluster's history through the stored policy and the file's, side by side (exit 3 when the file's is worse on any figure)")
	cmd.Flags().StringVar(&reportFile, "report", "", "with --dry-run: write a self-contained HTML report of both replays to this file")
	outputFlag(cmd, &output, "table", "json", "yaml")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// runPolicyDryRun is policy apply --dry-run: the file's policy replayed
// beside the stored one over the cluster's history; nothing is applied.
func runPolicyDryRun(cmd *cobra.Command, t *apiTarget, file, ifMatch, reportFile, output string) error {
	if err := checkOutput(output, "table", "json", "yaml"); err != nil {
		return err
	}
	if ifMatch != "" {
		return errors.New("--if-match: not with --dry-run, which writes nothing")
	}
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return fmt.Errorf("--dry-run: takes one policy file, and %s is a directory", file)
	}
	p, err := loadPolicy(file)
	if err != nil {
		return err
	}
	return runWhatIf(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), t,
		whatIfOptions{id: p.ID, candidate: &p, file: file, reportFile: reportFile, output: output})
}

func runPolicyApply(ctx context.Context, stdout io.Writer, t *apiTarget, file, ifMatch string) error {
	data, err := readPolicyFile(file)
	if err != nil {
		return err
	}
	// JSON is YAML, so either type would parse; naming it right gets JSON
	// syntax errors explained by a JSON decoder.
	ctype := "application/yaml"
	if trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(trimmed) > 0 && trimmed[0] == '{' {
		ctype = "application/json"
	}
	var rec api.PolicyRecord
	err = t.call(ctx, func(c *api.Client) error {
		rec, err = c.PutPolicy(ctx, data, ctype, ifMatch)
		return err
	})
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeInvalidPolicy && len(ae.Fields) > 0 {
		msg := fmt.Sprintf("%s: %d error(s):", file, len(ae.Fields))
		for _, f := range ae.Fields {
			msg += "\n  " + f.Error()
		}
		return &exitError{code: 1, err: errors.New(msg)}
	}
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "applied %s (version %d)\n", rec.Policy.ID, rec.Version)
	return nil
}

func newPolicyListCommand() *cobra.Command {
	var (
		af     apiFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the cluster's policies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			recs, err := query(cmd, &af, func(ctx context.Context, c *api.Client) ([]api.PolicyRecord, error) {
				return c.ListPolicies(ctx)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				return writeFormat(out, output, api.PolicyList{Policies: recs})
			}
			if len(recs) == 0 {
				fmt.Fprintln(out, "no policies; add one with 'capstan policy apply -f FILE'")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tPROVIDER\tGROUP\tMIN\tMAX\tMETRICS\tVERSION")
			for _, r := range recs {
				p := r.Policy
				names := make([]string, len(p.Metrics))
				for i, m := range p.Metrics {
					names[i] = m.Name
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\n", p.ID, p.Target.Provider, orDash(groupName(p.Target)),
					p.Min, p.Max, strings.Join(names, ","), r.Version)
			}
			return tw.Flush()
		},
	}
	af.register(cmd)
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// groupName is the provider's name for the group a policy scales.
func groupName(t policy.Target) string {
	if t.ScaleSet != "" {
		return t.ScaleSet
	}
	return t.Group
}

func newPolicyGetCommand() *cobra.Command {
	var (
		af     apiFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Print a policy as stored, with every default filled in",
		Long: `Print a policy as the cluster stores it. YAML output is a policy file
(headed by a comment with its version) that 'capstan policy apply' accepts
back; JSON output is the API's record: the policy, its version and when it
was last written.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "yaml", "json"); err != nil {
				return err
			}
			rec, err := query(cmd, &af, func(ctx context.Context, c *api.Client) (api.PolicyRecord, error) {
				return c.GetPolicy(ctx, args[0])
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSON(out, rec)
			}
			y, err := policy.Marshal(rec.Policy)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "# version %d, updated %s\n", rec.Version, formatTime(rec.UpdatedAt))
			_, err = out.Write(y)
			return err
		},
	}
	af.register(cmd)
	outputFlag(cmd, &output, "yaml", "json")
	return cmd
}

func newPolicyDeleteCommand() *cobra.Command {
	var (
		af      apiFlags
		ifMatch string
		yes     bool
	)
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a policy from the cluster (the group keeps its current size); asks first unless --yes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ifMatch != "" && ifMatch != "*" {
				if _, err := strconv.ParseUint(ifMatch, 10, 64); err != nil {
					return fmt.Errorf("--if-match: want a version number (got %q)", ifMatch)
				}
			}
			if !yes && !confirm(cmd.InOrStdin(), cmd.ErrOrStderr(), fmt.Sprintf("Delete policy %s? Its group stops scaling and keeps its current size.", args[0])) {
				return &exitError{code: 1, err: fmt.Errorf("policy %s not deleted (answer y, or pass --yes)", args[0])}
			}
			t, err := af.target()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := t.call(ctx, func(c *api.Client) error {
				return c.DeletePolicy(ctx, args[0], ifMatch)
			}); err != nil {
				return describe(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&ifMatch, "if-match", "", "delete only if the stored version is this one")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}
