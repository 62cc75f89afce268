// Command capstan is the Capstan autoscaling control plane: the agent daemon,
// the CLI client of its API, and the dry-run trace simulator, in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run executes the CLI and returns the process exit status; it is main
// without the process, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "capstan",
		Short:         "Capstan: an autoscaling control plane for cloud instance groups",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newPolicyCommand(), newSimulateCommand(),
		newAgentCommand(), newDecisionsCommand(), newHistoryCommand(), newStatusCommand(), newFeedCommand(), newFakeCloudCommand(), newHealthCommand(),
	)
	root.AddCommand(newTLSCommand())
	root.AddCommand(newTokenCommand())
	root.AddCommand(newAuditCommand())
	root.AddCommand(newVersionCommand())
	return root
}
