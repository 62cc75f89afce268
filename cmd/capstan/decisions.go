package main

import "github.com/spf13/cobra"

// newDecisionsCommand is a placeholder until the command lands.
func newDecisionsCommand() *cobra.Command {
	return &cobra.Command{Use: "decisions", Short: "not available yet", Hidden: true}
}
