package raftls

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// The RPC types of hashicorp/raft's NetworkTransport (net_transport.go):
// one byte before each msgpack-encoded request. Persisted on the wire by
// raft, so they do not change within v1.
const (
	rpcAppendEntries uint8 = iota
	rpcRequestVote
	rpcInstallSnapshot
	rpcTimeoutNow
	rpcRequestPreVote
)

// claim is the part of any Raft request that says who sent it. The codec
// encodes structs as maps and skips keys the target lacks, so one type
// decodes every request kind; embedding raft.RPCHeader keeps the key
// names the same as raft's.
type claim struct {
	raft.RPCHeader
	// Size is an InstallSnapshot's count of raw snapshot bytes that
	// follow the request on the stream.
	Size int64
}

// recorder reads through a bufio.Reader and keeps every byte it hands
// out, so a request decoded for its claim can be replayed to Raft byte
// for byte. It is an io.ByteScanner, as the codec wants, so the codec
// reads exactly one request and no further.
type recorder struct {
	r   *bufio.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

func (r *recorder) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.buf = append(r.buf, b)
	}
	return b, err
}

func (r *recorder) UnreadByte() error {
	err := r.r.UnreadByte()
	if err == nil {
		r.buf = r.buf[:len(r.buf)-1]
	}
	return err
}

// peerConn is an accepted Raft connection that knows which node it came
// from (the node id of the certificate it was accepted with). It reads
// one request at a time ahead of Raft, checks the request's claimed
// sender against that node and the current membership, and only then
// hands the request's bytes to Raft; a request that fails closes the
// connection before Raft sees any of it.
type peerConn struct {
	net.Conn // a *tls.Conn, whose handshake named id
	id       string
	l        *Layer

	in  recorder
	dec *codec.Decoder
	// pending are the checked bytes Raft has not read yet; raw counts the
	// snapshot bytes that follow an InstallSnapshot, passed through as is.
	pending []byte
	raw     int64
	err     error
}

func newPeerConn(l *Layer, c net.Conn, id string) *peerConn {
	pc := &peerConn{Conn: c, id: id, l: l, in: recorder{r: bufio.NewReader(c)}}
	pc.dec = codec.NewDecoder(&pc.in, &codec.MsgpackHandle{})
	return pc
}

// Read hands Raft the bytes of requests that passed the check.
func (c *peerConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 && c.raw == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if int64(len(p)) > c.raw {
		p = p[:c.raw]
	}
	n, err := c.in.r.Read(p)
	c.raw -= int64(n)
	return n, err
}

// next reads and checks one request.
func (c *peerConn) next() error {
	c.in.buf = c.in.buf[:0]
	t, err := c.in.ReadByte()
	if err != nil {
		return err // io.EOF: the peer hung up between requests
	}
	if t > rpcRequestPreVote {
		return c.refuse(reasonUnknownRPC, fmt.Errorf("unknown Raft RPC type %d", t))
	}
	var cl claim
	if err := c.dec.Decode(&cl); err != nil {
		return fmt.Errorf("raftls: decoding a request from %s: %w", c.id, err)
	}
	if got := string(cl.ID); got != c.id {
		return c.refuse(reasonOtherID, fmt.Errorf("the request claims to come from %q", got))
	}
	if _, ok := c.l.members(c.id); !ok {
		return c.refuse(reasonNotMember, fmt.Errorf("%q is no longer a member", c.id))
	}
	if t == rpcInstallSnapshot {
		if cl.Size < 0 {
			return c.refuse(reasonUnknownRPC, fmt.Errorf("snapshot size %d", cl.Size))
		}
		c.raw = cl.Size
	}
	c.pending = c.in.buf
	return nil
}

// refuse counts, logs and closes: nothing of the request reaches Raft.
func (c *peerConn) refuse(reason string, err error) error {
	c.l.refuse("accept", c.RemoteAddr(), c.id, reason, err)
	c.Close()
	return fmt.Errorf("raftls: request from %s refused (%s): %w", c.id, reason, err)
}

// Close closes the connection and forgets it.
func (c *peerConn) Close() error {
	c.l.untrack(c)
	return c.Conn.Close()
}

// dialedConn is a connection this node dialed, tracked so that it is
// closed when its peer leaves the cluster.
type dialedConn struct {
	*tls.Conn
	id string
	l  *Layer
}

// Close closes the connection and forgets it.
func (c *dialedConn) Close() error {
	c.l.untrack(c)
	return c.Conn.Close()
}

// tracked is a live connection with the node id of its peer.
type tracked interface {
	net.Conn
	peer() string
}

func (c *peerConn) peer() string   { return c.id }
func (c *dialedConn) peer() string { return c.id }
