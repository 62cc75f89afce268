package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestAgentConfigFileAndFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte("node_id: from-file\ndata_dir: /data\nbootstrap_expect: 3\njoin: [a:1, b:2]\nelection_timeout: 2s\n"), 0o644)

	var o agentOptions
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.StringVar(&o.NodeID, "node-id", "", "")
	fs.StringVar(&o.DataDir, "data-dir", "", "")
	fs.DurationVar(&o.ElectionTimeout, "election-timeout", time.Second, "")
	if err := fs.Parse([]string{"--node-id", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := loadAgentConfig(file, &o, fs); err != nil {
		t.Fatal(err)
	}
	if o.NodeID != "from-flag" || o.DataDir != "/data" || o.BootstrapExpect != 3 || len(o.Join) != 2 || o.ElectionTimeout != 2*time.Second {
		t.Fatalf("options %+v: want the flag's node id and the file's other settings", o)
	}

	os.WriteFile(file, []byte("node_id: x\nnode_idd: y\n"), 0o644)
	err := loadAgentConfig(file, &o, fs)
	if err == nil || !strings.Contains(err.Error(), "node_idd") {
		t.Fatalf("unknown key: %v, want an error naming it", err)
	}
}

// TestRaftWriteVersion: --raft-write-version picks the encoding written,
// --raft-legacy-encoding is its alias for version 1, and a contradiction
// or a version this binary cannot write is refused naming the flag.
func TestRaftWriteVersion(t *testing.T) {
	tests := []struct {
		name string
		o    agentOptions
		want int
		err  string
	}{
		{"default: the newest", agentOptions{}, 0, ""},
		{"version 3", agentOptions{RaftWriteVersion: 3}, 3, ""},
		{"version 11, the upgrade from version 11", agentOptions{RaftWriteVersion: 11}, 11, ""},
		{"the alias", agentOptions{RaftLegacyEncoding: true}, 1, ""},
		{"the alias and version 1", agentOptions{RaftLegacyEncoding: true, RaftWriteVersion: 1}, 1, ""},
		{"the alias contradicted", agentOptions{RaftLegacyEncoding: true, RaftWriteVersion: 3}, 0, "--raft-legacy-encoding: is --raft-write-version 1, which contradicts --raft-write-version 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := raftWriteVersion(tc.o)
			switch {
			case tc.err == "" && (err != nil || got != tc.want):
				t.Fatalf("version %d, %v; want %d", got, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
	// Through the agent command: refused before anything starts.
	for args, want := range map[string]string{
		"--raft-write-version 15":                       "raft-write-version: must be a version this server writes, 1 to 14 (got 15)",
		"--raft-write-version -1":                       "raft-write-version: must be a version this server writes",
		"--raft-legacy-encoding --raft-write-version 2": "--raft-legacy-encoding: is --raft-write-version 1",
	} {
		if err := runAgentArgs(t, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("capstan agent %s: %v, want an error containing %q", args, err, want)
		}
	}
}

// runAgentArgs runs `capstan agent` with the least command line it
// accepts (a node id, a fresh data directory, an HTTP address, no auth)
// and args, and returns its error: for flags the agent must refuse, naming
// the flag and the rule, before anything starts.
func runAgentArgs(t *testing.T, args ...string) error {
	t.Helper()
	cmd := newAgentCommand()
	cmd.SetArgs(append([]string{"--node-id", "n1", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--insecure-no-auth"}, args...))
	cmd.SetErr(io.Discard)
	cmd.SetOut(io.Discard)
	return cmd.Execute()
}

// TestRaftMultiplierFlag: --raft-multiplier (or raft_multiplier in the
// config file) outside 1 to 10 is refused naming the flag before anything
// starts, and the file's multiplier is read like any other setting.
func TestRaftMultiplierFlag(t *testing.T) {
	for _, args := range []string{"--raft-multiplier 0", "--raft-multiplier 11", "--raft-multiplier -1"} {
		if err := runAgentArgs(t, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), "--raft-multiplier: must be 1 to 10 (got "+strings.Fields(args)[1]+")") {
			t.Errorf("capstan agent %s: %v, want the multiplier's range", args, err)
		}
	}
	file := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(file, []byte("raft_multiplier: 5\nheartbeat_timeout: 2s\n"), 0o644)
	o := agentOptions{RaftMultiplier: 3}
	if err := loadAgentConfig(file, &o, pflag.NewFlagSet("agent", pflag.ContinueOnError)); err != nil {
		t.Fatal(err)
	}
	if o.RaftMultiplier != 5 || o.HeartbeatTimeout != 2*time.Second || o.ElectionTimeout != 0 {
		t.Fatalf("options %+v: want the file's multiplier and heartbeat timeout, the election timeout left to the multiplier", o)
	}
}
