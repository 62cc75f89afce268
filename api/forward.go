package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// leaderOnly wraps a write route with the one routing decision every write
// makes before any business logic (Nomad's forward pattern): serve it here
// when this node leads, otherwise forward it to the leader, waiting up to
// LeaderWait for an election to finish. A leader that cannot be reached
// (the connection is refused or cannot be made: it died and Raft here has
// not noticed yet) is no leader: the write waits, within the same
// LeaderWait, for the next one, and is answered 503 no_leader only when
// none could be reached. The request body is read first (it is bounded by
// MaxBodyBytes), so that it can be sent again.
//
// A request that another node already forwarded (proven by its node
// certificate or node token, see withPeer) is never forwarded again:
// if it lands on a node that does not lead (leadership moved while it was
// in flight) it is answered 503 no_leader, and the client retries. That
// keeps a write from bouncing between followers whose views of the leader
// disagree.
func (h *handler) leaderOnly(next apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		deadline := time.Now().Add(h.leaderWait)
		var (
			body    []byte
			read    bool
			lastErr error
		)
		for attempt := 0; ; attempt++ {
			self, addr, err := h.b.Leader(r.Context(), max(0, time.Until(deadline)))
			switch {
			case errors.Is(err, ErrNoLeader):
				msg := fmt.Sprintf("no Raft leader elected within %s; retry", h.leaderWait)
				if lastErr != nil {
					msg = fmt.Sprintf("no Raft leader reachable within %s (%v); retry", h.leaderWait, lastErr)
				}
				return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: err, msg: msg}
			case err != nil:
				return fmt.Errorf("finding the Raft leader: %w", err)
			case self:
				if read {
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
				return next(w, r)
			}
			if by, ok := fromNode(r); ok {
				return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader,
					msg: fmt.Sprintf("this node is not the leader either (forwarded by %s; leader now at %q): leadership is changing; retry", by, addr)}
			}
			if !read {
				if body, err = h.readBody(w, r); err != nil {
					return err
				}
				read = true
			}
			if addr != "" {
				err = h.forward(w, r, addr, body)
				if !errors.Is(err, errUnreachable) {
					return err
				}
				lastErr = err
			} else {
				lastErr = errors.New("a leader is elected but its HTTP address is not known yet")
			}
			if !time.Now().Before(deadline) {
				return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: lastErr,
					msg: fmt.Sprintf("no Raft leader reachable within %s (%v); retry", h.leaderWait, lastErr)}
			}
			// Give Raft here time to notice; the wait grows to 200 ms.
			select {
			case <-r.Context().Done():
				return r.Context().Err()
			case <-time.After(min(time.Duration(attempt+1)*25*time.Millisecond, 200*time.Millisecond, time.Until(deadline))):
			}
		}
	}
}

// errUnreachable marks a forward that never reached the leader: no
// connection could be made, so nothing was sent and it may be sent again.
var errUnreachable = errors.New("the leader is unreachable")

// readBody reads a write's body within the size limit.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.maxBody {
		return nil, &http.MaxBytesError{Limit: h.maxBody}
	}
	if r.ContentLength == 0 || r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
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

// forward sends the request (with body, already read) to the leader and
// copies its answer back unchanged: status, headers (ETag included) and
// body. It is bounded by ForwardTimeout. An error wrapping errUnreachable
// means nothing was sent; once the request may have reached the leader, a
// failure is 503 outcome_unknown: the write may have been made.
func (h *handler) forward(w http.ResponseWriter, r *http.Request, addr string, body []byte) error {
	target, err := leaderURL(addr, r.URL)
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeNoLeader, err: err,
			msg: fmt.Sprintf("cannot forward to the leader: %v", err)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.forwardTimeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the forwarded request: %w", err)
	}
	out.ContentLength = int64(len(body))
	if body == nil {
		out.Body = http.NoBody
	}
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
		var op *net.OpError
		switch {
		case r.Context().Err() != nil:
			return r.Context().Err()
		case errors.As(err, &op) && op.Op == "dial":
			return fmt.Errorf("%w at %s: %w", errUnreachable, addr, err)
		}
		return &apiError{status: http.StatusServiceUnavailable, code: CodeOutcomeUnknown, err: err,
			msg: fmt.Sprintf("the write was sent to the leader at %s and no answer came (%v; bound %s): it may or may not have been made; read it back, or retry it idempotently (PUT with If-Match)", addr, err, h.forwardTimeout)}
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
