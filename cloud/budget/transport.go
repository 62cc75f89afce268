package budget

import (
	"net/http"
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

// Transport returns a RoundTripper that sends each request of a metered
// call (WrapMetered) only after it took a token of the call's account: a
// GET or HEAD from the read bucket, any other method from the call's own
// bucket (AWS sends its describes as POST; a resize's polls are GETs).
// Requests outside a metered call (credential fetches) pass untouched.
// A request that gets no token before its context's deadline fails with
// an error wrapping ErrWaitExceeded and is not sent.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, ok := req.Context().Value(callKey{}).(*callState)
	if !ok {
		return t.base.RoundTrip(req)
	}
	k := st.kind
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		k = read
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
