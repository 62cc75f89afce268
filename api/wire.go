package api

import "github.com/capstan-io/capstan/policy"

// Limits and defaults of the REST API. They are part of the contract with
// clients (a batch over MaxSamplesPerPush is refused, not truncated), so
// they are exported for clients such as `capstan feed` to respect.
const (
	// DefaultMaxBodyBytes is the request body limit when Options leaves it zero.
	DefaultMaxBodyBytes = 1 << 20
	// MaxSamplesPerPush is the largest number of samples one POST /v1/metrics may carry.
	MaxSamplesPerPush = 10_000
	// DefaultDecisionLimit is how many decisions GET .../decisions returns without ?limit.
	DefaultDecisionLimit = 20
	// MaxDecisionLimit is the largest ?limit GET .../decisions accepts.
	MaxDecisionLimit = 1000
	// ForwardedByHeader marks a request one node forwarded to the leader. A
	// node that is not the leader refuses such a request instead of
	// forwarding it again, so a leadership change cannot bounce a write
	// between followers.
	ForwardedByHeader = "X-Capstan-Forwarded-By"
)

// Error codes: the stable "code" of ErrorDetail. Clients branch on these,
// never on messages.
const (
	CodeInvalidPolicy        = "invalid_policy"         // 400, with the fields at fault
	CodeBadRequest           = "bad_request"            // 400: malformed JSON, unknown fields, bad parameters
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409
	CodePreconditionFailed   = "precondition_failed"    // 412: If-Match did not match
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeInternal             = "internal"               // 500
	CodeNoLeader             = "no_leader"              // 503: no leader reachable in time; the write was not made; retry
	CodeOutcomeUnknown       = "outcome_unknown"        // 503: the write reached Raft or the leader, and whether it committed is unknown (with Retry-After); retry idempotently (PUT with If-Match)
	CodeNotReady             = "not_ready"              // 503 from /readyz
	CodeTimeout              = "timeout"                // 504: the backend did not answer in time
	CodeUnauthenticated      = "unauthenticated"        // 401: no token, or one this node does not know (with WWW-Authenticate: Bearer)
	CodeForbidden            = "forbidden"              // 403: the token's role is too low for the route
	CodeRateLimited          = "rate_limited"           // 429: the token is over its rate limit (with Retry-After)
)

// PolicyList is the body of GET /v1/policies. The list sits in an object so
// that fields (paging, say) can be added without breaking clients.
type PolicyList struct {
	Policies []PolicyRecord `json:"policies"`
}

// DecisionList is the body of GET /v1/policies/{id}/decisions, newest first.
type DecisionList struct {
	Decisions []policy.Record `json:"decisions"`
}
