package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestCorruptRaftStoreExitsCleanly: an agent whose raft.db is damaged
// (random bytes over its pages, as a failing disk leaves it) exits
// non-zero at once with one message that names the file and what to do,
// without a panic or goroutine dump, and leaves the file's bytes as they
// were, so a crash loop under systemd or Kubernetes keeps the evidence.
func TestCorruptRaftStoreExitsCleanly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raft.db")
	s, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := range 100 {
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 300)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for p := 2 * 4096; p+16 < len(data); p += 4096 {
		copy(data[p:], "garbage!garbage!") // every page after the meta pages
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a restart loop: each start leaves the file alone
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, "agent", "--node-id", "n1", "--data-dir", dir,
			"--raft-addr", freePort(t), "--http-addr", freePort(t), "--bootstrap-expect", "1", "--insecure-no-auth")
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("agent on a corrupt store: %v, want exit status 1\n%s", err, out)
		}
		text := string(out)
		for _, want := range []string{path, "corrupt", "Move the data directory aside"} {
			if !strings.Contains(text, want) {
				t.Fatalf("output does not say %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "goroutine ") || strings.Contains(text, "panic") {
			t.Fatalf("the agent panicked:\n%s", text)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, data) {
			t.Fatal("the corrupt store was written to")
		}
	}
}
