package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api"
)

// versionReport is `capstan version -o json`.
type versionReport struct {
	Client string `json:"client"`
	Go     string `json:"go"`
	// Server is the version of the node that answered, and Node its id;
	// both absent with --client.
	Server string `json:"server,omitempty"`
	Node   string `json:"node,omitempty"`
}

// newVersionCommand is `capstan version`: this binary's version, then the
// version of the cluster node that answers (GET /v1/cluster), as kubectl
// and nomad print theirs.
func newVersionCommand() *cobra.Command {
	var (
		af         apiFlags
		output     string
		clientOnly bool
	)
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and the version of the cluster node that answers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			rep := versionReport{Client: version, Go: runtime.Version()}
			var qerr error
			if !clientOnly {
				info, err := query(cmd, &af, func(ctx context.Context, c *api.Client) (api.ClusterInfo, error) {
					return c.Cluster(ctx)
				})
				if err == nil {
					rep.Server, rep.Node = orDash(info.Version), info.Node
				}
				qerr = err
			}
			out := cmd.OutOrStdout()
			if output != "table" {
				if err := writeFormat(out, output, rep); err != nil {
					return err
				}
				return qerr
			}
			fmt.Fprintf(out, "client: %s (%s, %s/%s)\n", rep.Client, rep.Go, runtime.GOOS, runtime.GOARCH)
			if rep.Server != "" {
				fmt.Fprintf(out, "server: %s (node %s)\n", rep.Server, rep.Node)
			}
			return qerr
		},
	}
	af.register(cmd)
	outputFlag(cmd, &output, "table", "json", "yaml")
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the CLI's version only; ask no node")
	return cmd
}
