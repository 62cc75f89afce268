package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/capstan-io/capstan/api/auth"
)

// authenticate wraps a route with its token check: the token must be
// known, within its rate limit and of a role that allows the route. The
// caller's identity goes into the request's context (auth.FromContext)
// and its name into the request log. A follower checks a write before it
// forwards it; the leader checks it again, from the same Authorization
// header.
func (h *handler) authenticate(method, pattern string, need auth.Role, next apiFunc) apiFunc {
	if h.auth == nil || need == roleOpen {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := h.auth.Authenticate(r, need)
		rec, _ := w.(*statusRecorder)
		if err != nil {
			var ae *auth.Error
			if rec != nil && errors.As(err, &ae) {
				rec.token = ae.Token
			}
			return authError(w, method, pattern, err)
		}
		if rec != nil {
			rec.token = id.Name
		}
		if need == auth.RoleAdmin {
			if err := h.checkNodeCertUse(r, pattern); err != nil {
				return err
			}
		}
		return next(w, r.WithContext(auth.NewContext(r.Context(), id)))
	}
}

// authError turns an authentication failure into the API's error shape,
// with the headers RFC 6750 and RFC 9110 ask for. route is what the
// request was for, so a 403 says which role the route needs.
func authError(w http.ResponseWriter, method, pattern string, err error) error {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		w.Header().Set("Retry-After", fmt.Sprintf("%d", int(ae.RetryAfter/time.Second)))
		return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, msg: ae.Msg, err: err}
	case errors.Is(err, auth.ErrForbidden):
		return &apiError{status: http.StatusForbidden, code: CodeForbidden, err: err,
			msg: fmt.Sprintf("%s %s: %s", method, pattern, ae.Msg)}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="capstan"`)
	return &apiError{status: http.StatusUnauthorized, code: CodeUnauthenticated, msg: ae.Msg, err: err}
}

// checkNodeCertUse refuses a node certificate used as a client
// certificate on an admin route, unless the request is a node's own (a
// forwarded or relayed request from a proven node, or a join, which
// proves the joining node's identity itself) or the operator allowed it
// (Options.NodeCertAdmin). A node's key then cannot stand in for an
// operator's client certificate.
func (h *handler) checkNodeCertUse(r *http.Request, pattern string) error {
	if h.nodeAdmin || h.peerNode == nil || r.TLS == nil || pattern == "/v1/cluster/join" {
		return nil
	}
	id, isNode := h.peerNode(r.TLS)
	if !isNode {
		return nil
	}
	if _, ok := fromNode(r); ok {
		return nil
	}
	return &apiError{status: http.StatusForbidden, code: CodeForbidden,
		msg: fmt.Sprintf("%s %s: the client certificate is node %q's; admin routes take a client certificate (capstan tls init --clients) unless the agents run with --tls-node-cert-admin", r.Method, pattern, id)}
}
