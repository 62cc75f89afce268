package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/capstan-io/capstan/api/auth"
)

// NodeTokenHeader carries the node token (the agent's --node-token-file
// secret, an admin token) on the requests one node sends another:
// forwarded writes, whose Authorization header is the client's, and
// relayed audit refusals. It proves the sender is a node where no node
// certificate does.
const NodeTokenHeader = "X-Capstan-Node-Token"

// PeerNodeFunc reports the node id of a TLS client's certificate when it
// is a node certificate of the cluster CA (tlsutil.Store.NodeOf).
type PeerNodeFunc func(cs *tls.ConnectionState) (id string, ok bool)

// headerRefused keys the failure log's count of node-to-node headers
// ignored from a client (it is no HTTP status).
const headerRefused = 0

// peerKey is the context key of a request's proven sender node.
type peerKey struct{}

// peer is who sent a request, as far as node-to-node headers go.
type peer struct {
	// node is the id of the member node that sent the request; "" when
	// the sender did not prove it is one.
	node string
}

// withPeer proves, once per request, whether a request that carries
// node-to-node headers (ForwardedByHeader, NodeTokenHeader) was sent by a
// member node: by a node certificate of the cluster CA naming a current
// member, or by a node token. Without proof the headers are ignored (and
// POST /v1/audit refused), so a client cannot pass for a follower.
//
// With authentication off (--insecure-no-auth) there is no token to
// prove anything with and anyone may do anything anyway: the headers are
// taken at their word unless a certificate names the node.
func (h *handler) withPeer(r *http.Request) *http.Request {
	by, secret := r.Header.Get(ForwardedByHeader), r.Header.Get(NodeTokenHeader)
	if by == "" && secret == "" {
		return r
	}
	p := &peer{node: h.proveNode(r, by, secret)}
	if p.node == "" {
		// Rate-limited like 401s: a client could send these on every request.
		if write, n := h.failures.note("", r.RemoteAddr, headerRefused, time.Now()); write {
			h.log.LogAttrs(r.Context(), slog.LevelInfo, "api: node-to-node headers from a sender that is not a node; ignored",
				slog.String("path", r.URL.Path), slog.String("source", r.RemoteAddr), slog.String("forwarded_by", by), slog.Int("count", n))
		}
	}
	return r.WithContext(context.WithValue(r.Context(), peerKey{}, p))
}

// proveNode is the id of the node that sent r, or "" when nothing proves
// a node did: its certificate names a member (the id is the
// certificate's), or its node token is valid (the id is the one it
// claims), or authentication is off (the claim is taken as it is).
func (h *handler) proveNode(r *http.Request, by, secret string) string {
	if h.peerNode != nil && r.TLS != nil {
		if id, ok := h.peerNode(r.TLS); ok && h.isMember(r.Context(), id) {
			return id
		}
	}
	switch {
	case h.auth == nil:
		return by
	case secret == "":
		return ""
	}
	if _, err := h.auth.Verify(secret, auth.RoleAdmin); err != nil {
		return ""
	}
	if by == "" {
		return "unnamed node"
	}
	return by
}

// fromNode is the id of the member node that sent r, and whether one did.
func fromNode(r *http.Request) (string, bool) {
	p, _ := r.Context().Value(peerKey{}).(*peer)
	if p == nil || p.node == "" {
		return "", false
	}
	return p.node, true
}

// isMember reports whether id is in the cluster's configuration.
func (h *handler) isMember(ctx context.Context, id string) bool {
	info, err := h.b.Cluster(ctx)
	if err != nil {
		return false
	}
	for _, m := range info.Members {
		if m.ID == id {
			return true
		}
	}
	return false
}

// setNodeHeaders marks a request this node sends a peer as coming from
// it: its id and, when it has one, its node token. A client's own copies
// of these headers never pass through.
func (h *handler) setNodeHeaders(out *http.Request, r *http.Request) {
	by := h.nodeID
	if by == "" {
		by = r.Host
	}
	out.Header.Set(ForwardedByHeader, by)
	out.Header.Del(NodeTokenHeader)
	if h.nodeSecret != "" {
		out.Header.Set(NodeTokenHeader, h.nodeSecret)
	}
}
