package budget

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// callKey carries a metered call's state from the decorator to Transport
// in the request's context.
type callKey struct{}

// callState is one metered driver call: the account its requests spend
// and what they did. Requests of one call may run concurrently (the Azure
// driver reads instance views eight at a time).
type callState struct {
	a    *account
	kind kind

	mu sync.Mutex
	// first is when the call's first request got its token.
	first time.Time
	// last is the bucket of the last request that went out.
	last kind
	// wrote is true once a request that may change the group went out.
	wrote bool
	// refused is the first request the budget held back.
	refused error
}

// result is what the call's requests did: when the first got its token,
// the first refusal, whether a write went out, and the last request's
// bucket (the call's own when none went out).
func (s *callState) result() (first time.Time, refused error, wrote bool, last kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first.IsZero() {
		return s.first, s.refused, s.wrote, s.kind
	}
	return s.first, s.refused, s.wrote, s.last
}

// refusal is a request the budget held back. It is NonRetriable, so
// Azure's SDK, which retries failed requests unless told otherwise, does
// not ask again for a token the deadline already rules out.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// NonRetriable marks the error final for azcore's retry policy.
func (r *refusal) NonRetriable() {}

// Transport returns a RoundTripper for provider's SDK that sends each
// request of a metered call (WrapMetered) only after it took a token of
// the call's account: a GET or HEAD from the read bucket, any other method
// from the call's own bucket (AWS sends its describes as POST; a resize's
// polls are GETs). A request that gets no token before its context's
// deadline fails with an error wrapping ErrWaitExceeded and is not sent.
//
// A request that carries no call (the GCP SDK's list calls are sent
// without their caller's context) still takes a token when its URL names
// the account (a GCP project, an Azure subscription), waiting at most
// Options.DetachedWait for it; others (credential fetches) pass
// untouched.
func (b *Budget) Transport(provider string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, b: b, provider: provider}
}

type transport struct {
	base     http.RoundTripper
	b        *Budget
	provider string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	k := write
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		k = read
	}
	st, ok := req.Context().Value(callKey{}).(*callState)
	if !ok {
		return t.detached(req, k)
	}
	if k == write {
		k = st.kind
	}
	granted, err := st.a.acquire(req.Context(), k, 1)
	st.mu.Lock()
	if err != nil {
		if st.refused == nil {
			st.refused = err
		}
		st.mu.Unlock()
		if req.Body != nil {
			req.Body.Close() // RoundTrip closes the body, even on errors
		}
		return nil, &refusal{err}
	}
	if st.first.IsZero() {
		st.first = granted
	}
	st.last = k
	if k == write {
		st.wrote = true
	}
	st.mu.Unlock()
	return t.base.RoundTrip(req)
}

// detached spends a token for a request outside a metered call, of the
// account its URL names, bounded by DetachedWait since the request has
// no deadline of its own.
func (t *transport) detached(req *http.Request, k kind) (*http.Response, error) {
	scope, ok := scopeOfURL(t.provider, req.URL.Path)
	if !ok {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.b.detachedWait)
	defer cancel()
	if _, err := t.b.account(t.provider, scope).acquire(ctx, k, 1); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &refusal{err}
	}
	return t.base.RoundTrip(req)
}

// scopeOfURL is the account a request's path names, as Scope names a
// group's: the project of a Compute Engine path
// (/compute/v1/projects/P/...), the subscription of a Resource Manager one
// (/subscriptions/S/...).
func scopeOfURL(provider, path string) (string, bool) {
	var marker string
	switch provider {
	case "gcp":
		marker = "/projects/"
	case "azure":
		marker = "/subscriptions/"
	default:
		return "", false
	}
	_, rest, ok := strings.Cut(path, marker)
	if !ok {
		return "", false
	}
	scope, _, _ := strings.Cut(rest, "/")
	return scope, scope != ""
}
