package controlplane

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/capstan-io/capstan/cloud"
)

// goodStore writes a raft-boltdb store with some log entries and returns
// its bytes.
func goodStore(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := range 200 {
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(i)}, 300)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorruptRaftStoreIsRefusedUnchanged: a store damaged in the ways
// disks damage files is refused before anything opens it for writing,
// with one message naming the file and what to do, and its bytes are left
// as they were; NewNode fails with it instead of panicking. A sound store,
// a missing one and one with a torn meta page (which bbolt recovers from)
// pass.
func TestCorruptRaftStoreIsRefusedUnchanged(t *testing.T) {
	good := goodStore(t)
	const page = 4096
	tests := []struct {
		name    string
		damage  func([]byte) []byte
		corrupt bool
	}{
		{"sound", func(b []byte) []byte { return b }, false},
		{"torn first meta page", func(b []byte) []byte { b[page/2] ^= 0xff; b[40] ^= 0xff; return b }, false},
		{"random bytes in a data page", func(b []byte) []byte {
			for i := 4*page + 8; i < 4*page+200; i++ {
				b[i] = byte(i * 7)
			}
			return b
		}, true},
		{"random bytes over every data page header", func(b []byte) []byte {
			for p := 2 * page; p+16 < len(b); p += page {
				copy(b[p:], []byte("garbage!garbage!"))
			}
			return b
		}, true},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, true},
		{"both meta pages destroyed", func(b []byte) []byte {
			copy(b[16:], bytes.Repeat([]byte{0xaa}, 64))
			copy(b[page+16:], bytes.Repeat([]byte{0xaa}, 64))
			return b
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "raft.db")
			data := tc.damage(bytes.Clone(good))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			err := checkRaftStore(path)
			if !tc.corrupt {
				if err != nil {
					t.Fatalf("a sound store was refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCorruptStore) {
				t.Fatalf("error %v, want ErrCorruptStore", err)
			}
			for _, want := range []string{path, "Move the data directory aside", "unchanged"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("message %q does not say %q", err, want)
				}
			}
			// The node refuses to start on it, without a panic.
			cfg := DefaultConfig()
			cfg.NodeID, cfg.DataDir, cfg.RaftAddr, cfg.HTTPAddr = "n1", dir, "127.0.0.1:0", "127.0.0.1:0"
			cfg.Drivers = func(string) (cloud.Driver, error) { return nil, errors.New("none") }
			if n, err := NewNode(cfg); !errors.Is(err, ErrCorruptStore) {
				if n != nil {
					n.Shutdown()
				}
				t.Fatalf("NewNode: %v, want ErrCorruptStore", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, data) {
				t.Fatal("the corrupt store was changed")
			}
		})
	}
	if err := checkRaftStore(filepath.Join(t.TempDir(), "raft.db")); err != nil {
		t.Fatalf("a missing store (a new node) was refused: %v", err)
	}
}
