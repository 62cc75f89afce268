package main

import "github.com/spf13/cobra"

// newStatusCommand is a placeholder until the command lands.
func newStatusCommand() *cobra.Command {
	return &cobra.Command{Use: "status", Short: "not available yet", Hidden: true}
}
