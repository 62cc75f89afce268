package raftls

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// byteConn is a connection that reads from a byte slice and discards writes.
type byteConn struct {
	io.Reader
	net.Conn // nil: only Read, Close and RemoteAddr are used
}

func (c *byteConn) Read(p []byte) (int, error) { return c.Reader.Read(p) }
func (c *byteConn) Close() error               { return nil }
func (c *byteConn) RemoteAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// rpcBytes is one request as raft's NetworkTransport writes it.
func rpcBytes(t testing.TB, typ uint8, req any, raw []byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(typ)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(req); err != nil {
		t.Fatal(err)
	}
	return append(buf.Bytes(), raw...)
}

// FuzzPeerConn feeds arbitrary bytes to a checked connection of member
// n2: it never panics, and what it hands Raft is always a prefix of what
// arrived, byte for byte, ending at a request boundary it checked.
func FuzzPeerConn(f *testing.F) {
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n2"), Addr: []byte("127.0.0.1:2")}
	good := rpcBytes(f, rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: 3,
		Entries: []*raft.Log{{Index: 1, Term: 3, Type: raft.LogCommand, Data: []byte("x")}}}, nil)
	f.Add(good)
	f.Add(append(good, good...))
	f.Add(rpcBytes(f, rpcInstallSnapshot, &raft.InstallSnapshotRequest{RPCHeader: hdr, Term: 3, Size: 4}, []byte("snap")))
	f.Add(rpcBytes(f, rpcRequestVote, &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("n1")}, Term: 9}, nil))
	f.Add(rpcBytes(f, rpcTimeoutNow, &raft.TimeoutNowRequest{RPCHeader: hdr}, nil))
	f.Add([]byte{9, 0x80})
	f.Add([]byte{rpcAppendEntries, 0xdb, 0xff, 0xff, 0xff, 0xff})
	l := &Layer{log: slog.New(slog.DiscardHandler), live: map[tracked]struct{}{},
		members:  func(id string) (raft.ServerAddress, bool) { return "127.0.0.1:2", id == "n1" || id == "n2" },
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"direction", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "y"}, []string{"direction"})}
	f.Fuzz(func(t *testing.T, in []byte) {
		pc := newPeerConn(l, &byteConn{Reader: bytes.NewReader(in)}, "n2")
		done := make(chan []byte, 1)
		go func() {
			out, _ := io.ReadAll(pc)
			done <- out
		}()
		var out []byte
		select {
		case out = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("reading did not end")
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("handed Raft %x, not a prefix of %x", out, in)
		}
		// Read what Raft got as Raft reads it: every request it decodes
		// comes from n2.
		r := bytes.NewReader(out)
		dec := codec.NewDecoder(r, &codec.MsgpackHandle{})
		for r.Len() > 0 {
			typ, _ := r.ReadByte()
			var req raft.WithRPCHeader
			switch typ {
			case rpcAppendEntries:
				req = &raft.AppendEntriesRequest{}
			case rpcRequestVote:
				req = &raft.RequestVoteRequest{}
			case rpcInstallSnapshot:
				req = &raft.InstallSnapshotRequest{}
			case rpcTimeoutNow:
				req = &raft.TimeoutNowRequest{}
			case rpcRequestPreVote:
				req = &raft.RequestPreVoteRequest{}
			default:
				t.Fatalf("Raft got an RPC of type %d", typ)
			}
			if err := dec.Decode(req); err != nil {
				return // the input ended inside a request Raft would have read; Raft fails on it too
			}
			if id := string(req.GetRPCHeader().ID); id != "n2" {
				t.Fatalf("Raft got a request from %q on n2's connection", id)
			}
			if s, ok := req.(*raft.InstallSnapshotRequest); ok {
				if _, err := r.Seek(min(s.Size, int64(r.Len())), io.SeekCurrent); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
