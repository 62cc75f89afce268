package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/policy"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with scaling policies",
	}
	cmd.AddCommand(newPolicyValidateCommand())
	return cmd
}

func newPolicyValidateCommand() *cobra.Command {
	var file string
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
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML or JSON); - reads standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// loadPolicy reads and parses a policy file. A validation failure comes back
// as one error listing every field problem, one per line.
func loadPolicy(file string) (policy.Policy, error) {
	var (
		data []byte
		err  error
	)
	if file == "-" {
		data, err = readAllLimited(os.Stdin, maxPolicyFile)
	} else {
		data, err = readFileLimited(file, maxPolicyFile)
	}
	if err != nil {
		return policy.Policy{}, fmt.Errorf("reading policy: %w", err)
	}
	p, err := policy.Parse(data)
	if err != nil {
		var ve *policy.ValidationError
		if errors.As(err, &ve) {
			msg := fmt.Sprintf("%s: %d error(s):", file, len(ve.Fields))
			for _, f := range ve.Fields {
				msg += "\n  " + f.Path + ": " + f.Message
			}
			return policy.Policy{}, &exitError{code: 1, err: errors.New(msg)}
		}
		return policy.Policy{}, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}
