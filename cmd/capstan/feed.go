package main

import "github.com/spf13/cobra"

// newFeedCommand is a placeholder until the command lands.
func newFeedCommand() *cobra.Command {
	return &cobra.Command{Use: "feed", Short: "not available yet", Hidden: true}
}
