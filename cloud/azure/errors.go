package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/capstan-io/capstan/cloud"
)

// apiError is a failed call to Azure: what the driver was doing, the cloud
// sentinel the failure maps to and the SDK's error. Its message is one line
// with the status, ARM error code and message (the SDK's ResponseError
// prints the request URL and the whole body over many lines); Unwrap gives
// both the sentinel and the SDK's error, so errors.Is(err, cloud.ErrX) and
// errors.As(err, **azcore.ResponseError) both work.
type apiError struct {
	what   string // "reading scale set"
	group  string // subscription/resource group/scale set
	status int    // HTTP status of Azure's answer; 0 if none came
	code   string // ARM error code, e.g. ResourceNotFound
	msg    string // ARM error message, one line
	detail string // replaces the status, code and message when set
	kind   error  // a cloud sentinel, or nil for a cancelled call
	err    error  // what the SDK returned
	// opFailed marks a long-running operation that ended Failed: it also
	// matches cloud.ErrOperationFailed, which cloud.Retrying does not retry.
	opFailed bool
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "azure: %s %s: ", e.what, e.group)
	switch {
	case e.detail != "":
		b.WriteString(e.detail)
	case e.status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.status)
		if e.code != "" {
			b.WriteString(" " + e.code)
		}
		if e.msg != "" {
			b.WriteString(": " + e.msg)
		}
	default:
		b.WriteString(oneLine(e.err.Error()))
	}
	if e.kind != nil {
		b.WriteString(": " + e.kind.Error())
	}
	return b.String()
}

func (e *apiError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	if e.opFailed {
		return []error{e.kind, cloud.ErrOperationFailed, e.err}
	}
	return []error{e.kind, e.err}
}

// callErr classifies an error the SDK returned for a request.
func callErr(ctx context.Context, what string, g cloud.GroupRef, err error) error {
	e := &apiError{what: what, group: refName(g), err: err}
	var re *azcore.ResponseError
	switch {
	case ctx.Err() != nil:
		// The caller gave up (or its deadline passed) while we waited;
		// whatever the SDK said, that is the reason, and it must match
		// errors.Is(err, context.Canceled / DeadlineExceeded).
		if !errors.Is(err, ctx.Err()) {
			e.err = errors.Join(err, ctx.Err())
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.kind = cloud.ErrUnavailable // a timeout
		}
	case errors.As(err, &re):
		e.status = re.StatusCode
		e.code, e.msg = errorBody(re)
		e.kind = classify(e.status, e.code, e.msg)
	default:
		e.kind = classifyNoAnswer(err)
	}
	return e
}

// operationFailed is the error for an update whose long-running operation
// ended Failed (or Canceled): cloud.ErrUnavailable, wrapping the SDK's
// error with the operation's own error code (AllocationFailed,
// InternalExecutionError, ...).
//
// It is also marked permanent for cloud.Retrying (backoff.Permanent, the
// marker of the backoff library Retrying is built on): the operation ran
// for its whole length, often minutes, before failing, so sending the same
// update again at once would likely fail the same way and keep the caller
// waiting for nothing. The control plane tries again at its next
// evaluation. ErrUnavailable alone would make Retrying repeat it.
func operationFailed(g cloud.GroupRef, from int64, to int, re *azcore.ResponseError) error {
	code, msg := errorBody(re)
	e := &apiError{
		what:     fmt.Sprintf("updating the capacity from %d to %d of scale set", from, to),
		group:    refName(g),
		code:     code,
		msg:      msg,
		detail:   "the long-running operation failed: " + code + ": " + msg,
		kind:     cloud.ErrUnavailable,
		err:      re,
		opFailed: true,
	}
	return e
}

// classify maps an ARM error answer to a cloud sentinel. The order
// matters: the Compute provider throttles with 429 and the code
// OperationNotAllowed, and reports exhausted quota with 409 and the same
// code, so neither the status nor the code alone decides.
func classify(status int, code, msg string) error {
	switch {
	case status == http.StatusTooManyRequests || isAny(code, "TooManyRequests", "SubscriptionRequestsThrottled", "TenantRequestsThrottled"):
		return cloud.ErrThrottled
	case status == http.StatusNotFound || isAny(code, "ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound", "ParentResourceNotFound", "NotFound"):
		return cloud.ErrNotFound
	case isAny(code, "QuotaExceeded", "SkuNotAvailable", "InvalidParameter", "BadRequest") ||
		(isAny(code, "OperationNotAllowed") && strings.Contains(strings.ToLower(msg), "quota")):
		// Asking for more than the subscription's quota, or for a size
		// the scale set refuses: no retry helps until someone changes
		// the quota or the request.
		return cloud.ErrInvalid
	case status == http.StatusConflict || status == http.StatusPreconditionFailed ||
		isAny(code, "Conflict", "ConflictingConcurrentWriteNotAllowed", "OperationPreempted", "PreconditionFailed", "AnotherOperationInProgress", "RetryableError"):
		// Another operation holds the scale set (or changed it since we
		// read it): retry at the next evaluation, not now.
		return cloud.ErrConflict
	case status == http.StatusRequestTimeout || status >= 500:
		return cloud.ErrUnavailable
	case status >= 400:
		// 400 and the rest, including 401/403: a request or a credential
		// that Azure refuses, which retrying does not change.
		return cloud.ErrInvalid
	default:
		return cloud.ErrUnavailable
	}
}

// nonRetriable is the marker azcore puts on errors its pipeline judged not
// worth retrying: failed token requests (the credential retried already),
// a bearer token refused over http, an invalid CAE challenge.
type nonRetriable interface {
	error
	NonRetriable()
}

// classifyNoAnswer maps a failure that produced no ARM answer.
func classifyNoAnswer(err error) error {
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		switch s := af.RawResponse.StatusCode; {
		case s == http.StatusTooManyRequests:
			return cloud.ErrThrottled
		case s >= 500:
			return cloud.ErrUnavailable // Entra ID itself is failing
		}
		return cloud.ErrInvalid
	}
	if errors.As(err, new(nonRetriable)) {
		// Mostly credentials: no identity found, a wrong secret, a
		// tenant mismatch. Permanent until configuration changes.
		return cloud.ErrInvalid
	}
	// Refused or reset connections, DNS failures, truncated answers.
	return cloud.ErrUnavailable
}

// errorBody extracts the ARM error code and message from an error answer:
// {"error":{"code":...,"message":...}} for a request, the same under
// "error" in a failed operation's status.
func errorBody(re *azcore.ResponseError) (code, msg string) {
	code = re.ErrorCode
	if re.RawResponse == nil {
		return code, ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return code, ""
	}
	var eb struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) != nil || eb.Error == nil {
		return code, ""
	}
	if eb.Error.Code != "" {
		code = eb.Error.Code
	}
	return code, oneLine(eb.Error.Message)
}

func isAny(code string, codes ...string) bool {
	for _, c := range codes {
		if strings.EqualFold(code, c) {
			return true
		}
	}
	return false
}

// oneLine folds whitespace and caps the length, so an error stays one
// readable log line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "..."
	}
	return s
}
