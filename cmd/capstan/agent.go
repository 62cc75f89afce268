package main

import "github.com/spf13/cobra"

// newAgentCommand is a placeholder until the command lands.
func newAgentCommand() *cobra.Command {
	return &cobra.Command{Use: "agent", Short: "not available yet", Hidden: true}
}
