package main

import "github.com/spf13/cobra"

// newFakeCloudCommand is a placeholder until the command lands.
func newFakeCloudCommand() *cobra.Command {
	return &cobra.Command{Use: "fakecloud", Short: "not available yet", Hidden: true}
}
