package main

import (
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
