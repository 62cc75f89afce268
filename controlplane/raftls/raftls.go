// Package raftls is a raft.StreamLayer over mutual TLS: every Raft
// connection, accepted or dialed, completes a TLS handshake in which both
// sides present certificates their TLS configs verify, before Raft reads or
// writes a byte. Failed handshakes are logged with the peer's address and
// the reason, and counted.
//
// A certificate of the cluster CA is not a membership: a connection is
// kept only when the node its certificate names is a current member
// (Options.Members), every request on an accepted connection must claim
// to come from that node (the RPC header's ID), and Prune closes the
// connections of nodes that left. So a node certificate issued for a
// server that never joined, or a member's certificate used to speak as
// another member, writes nothing into the Raft log.
package raftls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api/tlsutil"
	"github.com/capstan-io/capstan/metrics/promreg"
)

// DefaultHandshakeTimeout bounds an accepted connection's handshake, so a
// peer that connects and says nothing holds a slot only briefly.
const DefaultHandshakeTimeout = 5 * time.Second

// maxPendingHandshakes bounds the accepted connections handshaking at once.
// Raft needs a handful per peer; beyond this a flood of connections is
// closed unread instead of costing a goroutine each.
const maxPendingHandshakes = 128

// Members reports whether the node named id may hold Raft connections with
// this node now, and the Raft address it is a member at. A node answers
// from its current Raft configuration (and, before it has one, from the
// cluster it is joining).
type Members func(id string) (addr raft.ServerAddress, ok bool)

// Why a connection or request of a peer with a valid certificate was
// refused: the reason label of capstan_raft_peer_refusals_total.
const (
	// reasonNotMember: the certificate names no current member.
	reasonNotMember = "not_member"
	// reasonOtherID: a request claimed another sender than the certificate.
	reasonOtherID = "claimed_other_id"
	// reasonOtherAddr: a dialed address answered with the certificate of
	// a member that lives elsewhere.
	reasonOtherAddr = "other_address"
	// reasonUnknownRPC: a request this layer cannot check.
	reasonUnknownRPC = "unknown_rpc"
)

// Options configure New.
type Options struct {
	// Listener accepts raw TCP connections; the Layer owns and closes it.
	Listener net.Listener
	// Advertise is the address peers dial; nil uses Listener.Addr().
	Advertise net.Addr
	// Server is the TLS config accepted connections handshake with. It
	// must require and verify the client's certificate.
	Server *tls.Config
	// Client is the TLS config dialed connections handshake with. It must
	// verify the server's certificate and present this node's.
	Client *tls.Config
	// HandshakeTimeout bounds an accepted connection's handshake; 0 means
	// DefaultHandshakeTimeout. A dial's handshake shares Raft's dial timeout.
	HandshakeTimeout time.Duration
	// Logger receives a warning per failed handshake; nil discards.
	Logger *slog.Logger
	// Registerer receives capstan_raft_tls_handshake_failures_total and
	// capstan_raft_peer_refusals_total; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Members says which nodes may connect; required. The node id of a
	// certificate is its common name (tlsutil.NodeName).
	Members Members
}

// Layer is a raft.StreamLayer over mutual TLS.
type Layer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	timeout   time.Duration
	log       *slog.Logger
	failures  *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	members   Members

	mu   sync.Mutex
	live map[tracked]struct{} // open connections, for Prune

	conns   chan net.Conn
	pending chan struct{} // a semaphore of handshakes in progress
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

var _ raft.StreamLayer = (*Layer)(nil)

// New starts accepting on o.Listener. Handshakes run off Raft's accept
// loop, so one slow peer does not hold up the others.
func New(o Options) (*Layer, error) {
	if o.Listener == nil || o.Server == nil || o.Client == nil || o.Members == nil {
		return nil, errors.New("raftls: Listener, Server, Client and Members are required")
	}
	if o.Advertise == nil {
		o.Advertise = o.Listener.Addr()
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "capstan_raft_tls_handshake_failures_total",
		Help: "Raft connections whose TLS handshake failed, by direction (accept: a peer dialed this node; dial: this node dialed a peer).",
	}, []string{"direction"})
	failures, err := promreg.Register(o.Registerer, failures)
	if err != nil {
		return nil, fmt.Errorf("raftls: registering metrics: %w", err)
	}
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "capstan_raft_peer_refusals_total",
		Help: "Raft connections or requests refused although the peer's certificate is valid, by direction and reason (not_member: the certificate names no current member; claimed_other_id: a request claimed another sender than its certificate; other_address: a dialed address answered with the certificate of a member that lives elsewhere; unknown_rpc).",
	}, []string{"direction", "reason"})
	refusals, err = promreg.Register(o.Registerer, refusals)
	if err != nil {
		return nil, fmt.Errorf("raftls: registering metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Layer{
		ln: o.Listener, advertise: o.Advertise, server: o.Server, client: o.Client, timeout: o.HandshakeTimeout,
		log: o.Logger, failures: failures, refusals: refusals, members: o.Members, live: map[tracked]struct{}{},
		conns: make(chan net.Conn), pending: make(chan struct{}, maxPendingHandshakes), ctx: ctx, cancel: cancel,
	}
	// Both series exist from the start, so a rate over them works at once.
	failures.WithLabelValues("accept")
	failures.WithLabelValues("dial")
	refusals.WithLabelValues("accept", reasonNotMember)
	refusals.WithLabelValues("accept", reasonOtherID)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// acceptLoop accepts raw connections and hands each to a handshake.
func (l *Layer) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (out of file descriptors): back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("raft: accepting a connection failed", "err", err, "retry_in", delay)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		select {
		case l.pending <- struct{}{}:
		default:
			l.fail("accept", raw.RemoteAddr(), errors.New("too many handshakes in progress"))
			raw.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

// handshake completes an accepted connection's handshake and queues it
// for Accept, or logs, counts and closes it.
func (l *Layer) handshake(raw net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.pending }()
	conn := tls.Server(raw, l.server)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if l.ctx.Err() == nil {
			l.fail("accept", raw.RemoteAddr(), err)
		}
		raw.Close()
		return
	}
	// The handshake proved a node certificate of the CA; the node must
	// also be a member. Counted as a failed handshake too, so the
	// alert on refused handshakes covers certificates of non-members.
	id := tlsutil.NodeName(conn.ConnectionState().PeerCertificates[0])
	if _, ok := l.members(id); !ok {
		l.failures.WithLabelValues("accept").Inc()
		l.refuse("accept", raw.RemoteAddr(), id, reasonNotMember, errors.New("the certificate names no member of the cluster"))
		conn.Close()
		return
	}
	pc := newPeerConn(l, conn, id)
	l.track(pc)
	select {
	case l.conns <- pc:
	case <-l.ctx.Done():
		pc.Close()
	}
}

// refuse counts and logs a connection or request of a peer whose
// certificate is valid but which may not do what it tried.
func (l *Layer) refuse(direction string, peer net.Addr, id, reason string, err error) {
	l.refusals.WithLabelValues(direction, reason).Inc()
	l.log.Warn("raft: peer refused", "direction", direction, "peer", peer.String(), "certificate", id, "reason", reason, "err", err)
}

func (l *Layer) track(c tracked) {
	l.mu.Lock()
	l.live[c] = struct{}{}
	l.mu.Unlock()
}

func (l *Layer) untrack(c tracked) {
	l.mu.Lock()
	delete(l.live, c)
	l.mu.Unlock()
}

// Prune closes every connection, accepted or dialed, whose peer is no
// longer a member; call it after a membership change. It returns how
// many it closed. (An accepted connection is also checked on each
// request, so a removed member cannot act between the change and Prune.)
func (l *Layer) Prune() int {
	l.mu.Lock()
	var gone []tracked
	for c := range l.live {
		if _, ok := l.members(c.peer()); !ok {
			gone = append(gone, c)
		}
	}
	l.mu.Unlock()
	for _, c := range gone {
		l.log.Info("raft: closing the connection of a node that left the cluster", "certificate", c.peer(), "peer", c.RemoteAddr().String())
		c.Close()
	}
	return len(gone)
}

func (l *Layer) fail(direction string, peer net.Addr, err error) {
	l.failures.WithLabelValues(direction).Inc()
	l.log.Warn("raft: TLS handshake failed; connection refused", "direction", direction, "peer", peer.String(), "err", err)
}

// Accept returns the next connection whose handshake succeeded.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, fmt.Errorf("raftls: %w", net.ErrClosed)
	}
}

// Close stops accepting and closes the listener; established connections
// belong to Raft, which closes them.
func (l *Layer) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

// Addr is the address peers dial this node at.
func (l *Layer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer and completes the handshake within timeout. The
// peer's certificate must name the member that the configuration places
// at address.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, l.client)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		if l.ctx.Err() == nil {
			l.fail("dial", raw.RemoteAddr(), err)
		}
		return nil, fmt.Errorf("raft TLS handshake with %s: %w", address, err)
	}
	id := tlsutil.NodeName(conn.ConnectionState().PeerCertificates[0])
	at, ok := l.members(id)
	var refused error
	switch {
	case !ok:
		refused = fmt.Errorf("%s answered with the certificate of %q, which is no member: %w", address, id, errNotMember)
		l.refuse("dial", raw.RemoteAddr(), id, reasonNotMember, refused)
	case at != address:
		refused = fmt.Errorf("%s answered with the certificate of %q, a member at %s: %w", address, id, at, errNotMember)
		l.refuse("dial", raw.RemoteAddr(), id, reasonOtherAddr, refused)
	}
	if refused != nil {
		conn.Close()
		return nil, fmt.Errorf("raftls: %w", refused)
	}
	dc := &dialedConn{Conn: conn, id: id, l: l}
	l.track(dc)
	return dc, nil
}

// errNotMember marks a peer refused for its membership, not its certificate.
var errNotMember = errors.New("not the member expected")
