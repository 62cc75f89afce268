package auth

import "net/http"

// Transport adds "Authorization: Bearer <Secret>" to every request that
// carries no Authorization header of its own. A node uses it for its own
// calls to its peers' APIs (discovery, join); a request that already has
// a header (a client's, being forwarded) keeps it.
type Transport struct {
	// Secret is the token secret to present; empty sends none.
	Secret string
	// Base sends the request; nil is http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Secret == "" || req.Header.Get("Authorization") != "" {
		return base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+t.Secret)
	return base.RoundTrip(out)
}
