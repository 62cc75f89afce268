package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
)

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make and manage API tokens (bearer tokens with a role: read, write or admin)",
		Long: `API tokens authenticate every request to the REST API except the probes
(/healthz, /readyz). A token has a role: read (every GET), write (also
policies, metrics, remote-write) or admin (also cluster membership and
tokens). Agents store only SHA-256 hashes of the secrets.

  capstan token generate  makes a secret offline and prints its token-file
                          entry: the first admin token comes from here.
  capstan token create    makes one through the API (admin role); it is
                          replicated to every node and needs no file edit.
  capstan token list      lists tokens; capstan token delete revokes one.`,
	}
	cmd.AddCommand(newTokenGenerateCommand(), newTokenCreateCommand(), newTokenListCommand(), newTokenDeleteCommand())
	return cmd
}

// tokenSpec is the flags that describe a new token.
type tokenSpec struct {
	name, role string
	rate       float64
	burst      int
}

func (s *tokenSpec) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.name, "name", "", "token name, shown in logs and listings (required)")
	cmd.Flags().StringVar(&s.role, "role", "", "read, write or admin (required)")
	cmd.Flags().Float64Var(&s.rate, "rate", 0, "request rate limit per second on each node (0: the agents' --token-rate)")
	cmd.Flags().IntVar(&s.burst, "burst", 0, "request burst above the rate (0: the agents' --token-burst)")
}

// check validates the flags, naming the one at fault.
func (s *tokenSpec) check() (auth.Role, error) {
	if err := auth.ValidateName(s.name); err != nil {
		return "", fmt.Errorf("--name: %w", err)
	}
	role, err := auth.ParseRole(s.role)
	if err != nil {
		return "", fmt.Errorf("--role: %w", err)
	}
	if field, err := auth.ValidateLimits(s.rate, s.burst); err != nil {
		return "", fmt.Errorf("--%s: %w", field, err)
	}
	return role, nil
}

func newTokenGenerateCommand() *cobra.Command {
	var (
		spec       tokenSpec
		secretFile string
	)
	cmd := &cobra.Command{
		Use:   "generate --name NAME --role ROLE",
		Short: "Make a new token secret offline and print its token-file entry",
		Long: `Make a new random token secret and print it with the entry to add to the
agents' token file (--token-file): the entry holds only the secret's
SHA-256 hash. Nothing is sent anywhere. Give every agent of a cluster the
same token file, then send them SIGHUP (or start them) to load it.

With --secret-file PATH the secret is written to PATH (mode 0600; an
existing file is not overwritten) instead of the terminal, and standard
output is just the token file, ready to redirect:

  capstan token generate --name admin --role admin --secret-file admin.secret > tokens.yaml
  export CAPSTAN_TOKEN=$(cat admin.secret)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			role, err := spec.check()
			if err != nil {
				return err
			}
			secret, err := auth.GenerateSecret()
			if err != nil {
				return err
			}
			tok := auth.Token{Name: spec.name, Role: role, Hash: auth.HashSecret(secret), Rate: spec.rate, Burst: spec.burst}
			out := cmd.OutOrStdout()
			if secretFile != "" {
				if err := writeSecretFile(secretFile, secret); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "secret of token %q written to %s\n", spec.name, secretFile)
				_, err := io.WriteString(out, "tokens:\n"+auth.FileEntry(tok))
				return err
			}
			_, err = fmt.Fprintf(out, `Secret of token %q (shown once; Capstan stores only its hash). Clients send it
with --token or the environment variable %s:

  %s

Token-file entry: add the list item under "tokens:" in the agents' --token-file
(or the "tokens:" list of their --config file), then send them SIGHUP:

tokens:
%s`, spec.name, tokenEnv, secret, auth.FileEntry(tok))
			return err
		},
	}
	spec.register(cmd)
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "write the secret to this file (mode 0600) and print only the token file")
	return cmd
}

// writeSecretFile creates path with the secret, readable by its owner
// only, and refuses to replace an existing file (which may hold another
// token's secret).
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("--secret-file: %s exists; remove it or choose another path", path)
		}
		return fmt.Errorf("--secret-file: %w", err)
	}
	if _, err := io.WriteString(f, secret+"\n"); err != nil {
		f.Close()
		return fmt.Errorf("--secret-file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	return nil
}

func newTokenCreateCommand() *cobra.Command {
	var (
		af     apiFlags
		spec   tokenSpec
		output string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create a token through the API (admin role) and print its secret once",
		Long: `Create a token through the API: the cluster replicates its hash to every
node, so it works at once everywhere, with no file to edit. The secret is
printed once; it cannot be shown again, only replaced. Needs an admin
token (--token or CAPSTAN_TOKEN).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			role, err := spec.check()
			if err != nil {
				return err
			}
			t, err := af.target()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var created api.TokenCreated
			req := api.TokenRequest{Name: spec.name, Role: string(role), Rate: spec.rate, Burst: spec.burst}
			if err := t.call(ctx, func(c *api.Client) error {
				created, err = c.CreateToken(ctx, req)
				return err
			}); err != nil {
				return describe(err)
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				return writeFormat(out, output, created)
			}
			_, err = fmt.Fprintf(out, "created token %q (role %s). Its secret, shown once:\n\n  %s\n\nClients send it with --token or %s.\n",
				created.Name, created.Role, created.Secret, tokenEnv)
			return err
		},
	}
	af.register(cmd)
	spec.register(cmd)
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

func newTokenListCommand() *cobra.Command {
	var (
		af     apiFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (names, roles, origin, limits; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			list, err := query(cmd, &af, func(ctx context.Context, c *api.Client) ([]api.TokenInfo, error) {
				return c.ListTokens(ctx)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				if list == nil {
					list = []api.TokenInfo{}
				}
				return writeFormat(out, output, api.TokenList{Tokens: list})
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "NAME\tROLE\tORIGIN\tRATE\tBURST\tCREATED")
			for _, ti := range list {
				created := "-"
				if ti.CreatedAt != nil {
					created = formatTime(*ti.CreatedAt)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ti.Name, ti.Role, ti.Origin, limitText(ti.Rate), limitText(float64(ti.Burst)), created)
			}
			return tw.Flush()
		},
	}
	af.register(cmd)
	outputFlag(cmd, &output, "table", "json", "yaml")
	return cmd
}

// limitText shows a token's own limit, or "default".
func limitText(v float64) string {
	if v == 0 {
		return "default"
	}
	return fmt.Sprintf("%g", v)
}

func newTokenDeleteCommand() *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Revoke a token created through the API",
		Long: `Revoke a token created through the API; every node refuses it from then on.
A token from the token file is revoked by removing it from every agent's
file and sending them SIGHUP.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := af.target()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := t.call(ctx, func(c *api.Client) error { return c.DeleteToken(ctx, args[0]) }); err != nil {
				return describe(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted token %q\n", args[0])
			return nil
		},
	}
	af.register(cmd)
	return cmd
}
