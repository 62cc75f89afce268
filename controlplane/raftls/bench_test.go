package raftls

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkAppendEntries is one AppendEntries of 64 entries of 1 KiB, a
// full batch of Raft's pipeline, from member n2 to n1 over the Layer: the
// TLS transport plus the check of each request's sender, whose decoding
// of the request ahead of Raft is the cost this layer adds.
func BenchmarkAppendEntries(b *testing.B) {
	p := newPKI(b)
	r := newRoster()
	n1, n2 := p.nodeEndpoint(b, "n1", r), p.nodeEndpoint(b, "n2", r)
	r.add(n1)
	r.add(n2)
	entries := make([]*raft.Log, 64)
	for i := range entries {
		entries[i] = &raft.Log{Index: uint64(42 + i), Term: 7, Type: raft.LogCommand, Data: bytes.Repeat([]byte{'x'}, 1024)}
	}
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n2"), Addr: []byte(n2.trans.LocalAddr())},
		Term: 7, PrevLogEntry: 41, PrevLogTerm: 7, LeaderCommitIndex: 41, Entries: entries}
	b.SetBytes(64 * 1024)
	b.ResetTimer()
	for range b.N {
		var resp raft.AppendEntriesResponse
		if err := n2.trans.AppendEntries("n1", n1.trans.LocalAddr(), req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}
