package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/api/tlsutil"
)

// identityProbeTimeout bounds each handshake that checks a joining
// server's identity.
const identityProbeTimeout = 5 * time.Second

// errIdentity marks a join refused because the server did not prove it is
// who it says (403, wrapped with auth.ErrForbidden). Such a join changes
// nothing.
var errIdentity = errors.New("the server did not prove its identity with a node certificate of the cluster CA")

// verifyJoin checks, when the cluster runs TLS, that the addresses in a
// join request belong to the server named in it: a new voter's Raft
// address and any new API address must each answer a TLS handshake with a
// node certificate of the cluster CA whose name is the server's id. So a
// process without such a certificate cannot become a voter (which would
// change the quorum even though it could never take part), nor point the
// registry, and with it forwarded writes, at itself.
func (n *Node) verifyJoin(ctx context.Context, req api.JoinRequest, newVoter bool) error {
	if err := n.checkJoinScheme(req.HTTPAddr); err != nil {
		return err
	}
	s := n.cfg.TLS
	if s == nil {
		return nil
	}
	if newVoter {
		dial := func(ctx context.Context, addr string) (*tls.Conn, error) {
			d := &tls.Dialer{Config: s.PeerClientConfig()}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return c.(*tls.Conn), nil
		}
		if err := n.proveIdentity(ctx, req.ID, "raft_addr", req.RaftAddr, dial); err != nil {
			return err
		}
	}
	if n.fsm.nodeHTTPAddr(req.ID) == req.HTTPAddr {
		return nil
	}
	u, err := url.Parse(req.HTTPAddr)
	if err != nil {
		return fmt.Errorf("%w: http_addr: %w", api.ErrBadRequest, err)
	}
	hostPort := u.Host
	dial := func(ctx context.Context, addr string) (*tls.Conn, error) {
		c, err := s.DialTLSContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}
	return n.proveIdentity(ctx, req.ID, "http_addr", hostPort, dial)
}

// checkJoinScheme refuses an API address whose scheme is not the
// cluster's: peers forward writes, with the client's token, to the address
// as registered, so on a TLS cluster a scheme-less or http:// address
// would send them in plaintext (issue 14). TLS clusters take only
// https://HOST:PORT; plaintext ones HOST:PORT or http://HOST:PORT.
func (n *Node) checkJoinScheme(httpAddr string) error {
	scheme := ""
	if i := strings.Index(httpAddr, "://"); i >= 0 {
		scheme = httpAddr[:i]
	}
	switch {
	case n.cfg.TLS != nil && scheme != "https":
		return fmt.Errorf("%w: http_addr: the cluster serves its API over TLS; want https://HOST:PORT, got %q", api.ErrBadRequest, httpAddr)
	case n.cfg.TLS == nil && scheme != "" && scheme != "http":
		return fmt.Errorf("%w: http_addr: the cluster serves its API in plaintext; want HOST:PORT or http://HOST:PORT, got %q", api.ErrBadRequest, httpAddr)
	}
	return nil
}

// proveIdentity handshakes with addr and checks that the certificate it
// presents (already verified against the cluster CA by dial) names id.
func (n *Node) proveIdentity(ctx context.Context, id, field, addr string, dial func(context.Context, string) (*tls.Conn, error)) error {
	ctx, cancel := context.WithTimeout(ctx, identityProbeTimeout)
	defer cancel()
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: %s: must be host:port: %w", api.ErrBadRequest, field, err)
	}
	conn, err := dial(ctx, addr)
	if err != nil {
		n.log.Warn("join refused: TLS handshake with the joining server failed", "id", id, field, addr, "err", err)
		return fmt.Errorf("%w: join of %q refused: %w: TLS handshake with its %s %s failed: %w", auth.ErrForbidden, id, errIdentity, field, addr, err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	if got := tlsutil.NodeName(leaf); got != id {
		n.log.Warn("join refused: the joining server's certificate names another node", "id", id, field, addr, "certificate", got)
		return fmt.Errorf("%w: join of %q refused: %w: its %s %s presents the certificate of node %q", auth.ErrForbidden, id, errIdentity, field, addr, got)
	}
	return nil
}
