// Package raftls is a raft.StreamLayer over mutual TLS: every Raft
// connection, accepted or dialed, completes a TLS handshake in which both
// sides present certificates their TLS configs verify, before Raft reads or
// writes a byte. Failed handshakes are logged with the peer's address and
// the reason, and counted.
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

	"github.com/capstan-io/capstan/metrics/promreg"
)

// DefaultHandshakeTimeout bounds an accepted connection's handshake, so a
// peer that connects and says nothing holds a slot only briefly.
const DefaultHandshakeTimeout = 5 * time.Second

// maxPendingHandshakes bounds the accepted connections handshaking at once.
// Raft needs a handful per peer; beyond this a flood of connections is
// closed unread instead of costing a goroutine each.
const maxPendingHandshakes = 128

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
	// Registerer receives capstan_raft_tls_handshake_failures_total; nil
	// leaves it unregistered.
	Registerer prometheus.Registerer
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
	if o.Listener == nil || o.Server == nil || o.Client == nil {
		return nil, errors.New("raftls: Listener, Server and Client are required")
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
	ctx, cancel := context.WithCancel(context.Background())
	l := &Layer{
		ln: o.Listener, advertise: o.Advertise, server: o.Server, client: o.Client, timeout: o.HandshakeTimeout,
		log: o.Logger, failures: failures,
		conns: make(chan net.Conn), pending: make(chan struct{}, maxPendingHandshakes), ctx: ctx, cancel: cancel,
	}
	// Both series exist from the start, so a rate over them works at once.
	failures.WithLabelValues("accept")
	failures.WithLabelValues("dial")
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
	select {
	case l.conns <- conn:
	case <-l.ctx.Done():
		conn.Close()
	}
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

// Dial connects to a peer and completes the handshake within timeout.
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
	return conn, nil
}
