package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
)

// tokenEnv names the environment variable that sets the default --token.
// The variable is the better place for a secret: a flag shows in the
// process list.
const tokenEnv = "CAPSTAN_TOKEN"

// clientTokenFlags is the bearer-token flag of every command that talks to
// the API.
type clientTokenFlags struct {
	token string
}

// register adds --token to cmd.
func (f *clientTokenFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.token, "token", "", "API token secret (capstan_...) sent as a bearer token (default $"+tokenEnv+", which keeps it out of the process list)")
}

// option returns the client option that sends the token, or an error when
// the token given cannot be a Capstan token (a truncated paste, say): the
// server would only answer 401.
func (f *clientTokenFlags) option() (api.ClientOption, error) {
	secret, from := f.token, "--token"
	if secret == "" {
		secret, from = strings.TrimSpace(os.Getenv(tokenEnv)), "$"+tokenEnv
	}
	if secret != "" && !auth.LooksLikeSecret(secret) {
		return nil, errors.New(from + ": not a Capstan token (capstan_ followed by 43 characters)")
	}
	return api.WithToken(secret), nil
}
