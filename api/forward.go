package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// leaderOnly wraps a write route with the one routing decision every write
// makes before any business logic (Nomad's forward pattern): serve it here
// when this node leads, otherwise forward it to the leader, waiting up to
// LeaderWait for an election to finish.
//
// A request that another node already forwarded (proven by its node
// certificate or node token, see withPeer) is never forwarded again:
// if it lands on a node that does not lead (leadership moved while it was
// in flight) it is answered 503 no_leader, and the client retries. That
// keeps a write from bouncing between followers whose views of the leader
// disagree.
func (h *handler) leaderOnly(next apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		self, addr, err := h.b.Leader(r.Context(), h.leaderWait)
		switch {
		case errors.Is(err, ErrNoLeader):
			return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: err,
				msg: fmt.Sprintf("no Raft leader elected within %s; retry", h.leaderWait)}
		case err != nil:
			return fmt.Errorf("finding the Raft leader: %w", err)
		case self:
			return next(w, r)
		}
		if by, ok := fromNode(r); ok {
			return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader,
				msg: fmt.Sprintf("this node is not the leader either (forwarded by %s; leader now at %q): leadership is changing; retry", by, addr)}
		}
		if addr == "" {
			return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader,
				msg: "a leader is elected but its HTTP address is not known yet; retry"}
		}
		return h.forward(w, r, addr)
	}
}

// isHopHeader reports whether a header is meaningful for one connection
// only (RFC 9110 7.6.1), and so is not copied between the client's and the
// leader's connections.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// copyHeaders copies end-to-end headers from src to dst.
func copyHeaders(dst, src http.Header) {
	named := map[string]bool{} // headers the Connection header declares hop-by-hop
	for _, v := range src.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			named[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	for k, vs := range src {
		if isHopHeader(k) || named[k] {
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

// leaderURL is the URL of the same request on the leader. addr is the
// leader's HTTP address as the Backend reports it: HOST:PORT, or a base URL
// with a scheme.
func leaderURL(addr string, u *url.URL) (string, error) {
	base := &url.URL{Scheme: "http", Host: addr}
	if strings.Contains(addr, "://") {
		var err error
		if base, err = url.Parse(addr); err != nil {
			return "", fmt.Errorf("leader address %q: %w", addr, err)
		}
	}
	if base.Host == "" {
		return "", fmt.Errorf("leader address %q has no host", addr)
	}
	out := *base
	out.Path = strings.TrimSuffix(base.Path, "/") + u.Path
	if u.RawPath != "" {
		out.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + u.RawPath
	}
	out.RawQuery = u.RawQuery
	return out.String(), nil
}

// forward sends the request to the leader and copies its answer back
// unchanged: status, headers (ETag included) and body. The body is
// streamed under the same size limit as a local request.
func (h *handler) forward(w http.ResponseWriter, r *http.Request, addr string) error {
	if r.ContentLength > h.maxBody {
		return &http.MaxBytesError{Limit: h.maxBody}
	}
	target, err := leaderURL(addr, r.URL)
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: err,
			msg: fmt.Sprintf("cannot forward to the leader: %v", err)}
	}
	var body io.Reader = http.NoBody
	if r.ContentLength != 0 {
		body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, body)
	if err != nil {
		return fmt.Errorf("building the forwarded request: %w", err)
	}
	out.ContentLength = r.ContentLength
	copyHeaders(out.Header, r.Header)
	h.setNodeHeaders(out, r)
	// The leader records the write in the audit log with the client's
	// address, which only this node saw.
	out.Header.Set(ClientAddrHeader, r.RemoteAddr)
	markForwarded(r.Context())
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Add("X-Forwarded-For", ip)
	}
	resp, err := h.hc.Do(out)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return mbe
		case r.Context().Err() != nil:
			return r.Context().Err()
		}
		return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: err,
			msg: fmt.Sprintf("forwarding to the leader at %s failed: %v; retry", addr, err)}
	}
	defer resp.Body.Close()
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	// Once the status is out, a failed copy can only be logged; the
	// client sees a truncated body and its own read error.
	if _, err := io.Copy(w, resp.Body); err != nil {
		h.log.Debug("api: copying the leader's answer", "path", r.URL.Path, "err", err)
	}
	return nil
}
