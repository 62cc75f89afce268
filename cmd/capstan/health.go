package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
)

// newHealthCommand is `capstan health`: a probe for places that can run a
// command but not make an HTTP request, such as a Docker healthcheck in
// the distroless image, which has no shell and no curl.
func newHealthCommand() *cobra.Command {
	var (
		af    apiFlags
		ready bool
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the node at --addr is alive (GET /healthz), or ready with --ready (GET /readyz)",
		Long: `Ask one node whether it is alive: GET /healthz answers while the process
serves its API, leader or not. With --ready, ask whether it is ready
instead: GET /readyz answers once a leader is known and the node has
applied what it committed. Prints "ok" and exits 0, or prints why not and
exits 1. Neither endpoint needs a token. Meant for container healthchecks.

Only the first address of --addr (or $CAPSTAN_ADDR, or the default list) is
asked: unlike the other commands, health does not move on to another node,
since the question is about that node.`,
		Example: `  capstan health --addr https://capstan1:8081
  capstan health --ready --addr 127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := af.target()
			if err != nil {
				return err
			}
			t.clients = t.clients[:1] // that node, not whichever answers
			ctx := cmd.Context()
			err = t.call(ctx, func(c *api.Client) error {
				if ready {
					return c.Ready(ctx)
				}
				return c.Healthy(ctx)
			})
			if err != nil {
				what := "alive"
				if ready {
					what = "ready"
				}
				return fmt.Errorf("not %s: %w", what, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().BoolVar(&ready, "ready", false, "check readiness (GET /readyz) instead of liveness (GET /healthz)")
	return cmd
}
