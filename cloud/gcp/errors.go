package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"

	"github.com/capstan-io/capstan/cloud"
)

// OperationError is a Compute Engine operation that finished (status DONE)
// with an error. SetDesired returns it wrapped together with
// cloud.ErrUnavailable; errors.As gets the provider's codes back.
type OperationError struct {
	// Name is the operation's name, for looking it up in the console or
	// with gcloud compute operations describe.
	Name string
	// HTTPStatus is the operation's httpErrorStatusCode, 0 when absent.
	HTTPStatus int
	// Errors are the operation's error.errors entries.
	Errors []OperationErrorItem
}

// OperationErrorItem is one entry of an operation's error.errors.
type OperationErrorItem struct {
	// Code is Compute Engine's error code, e.g. QUOTA_EXCEEDED.
	Code string
	// Message is the provider's explanation.
	Message string
}

// Error lists the operation's error codes and messages.
func (e *OperationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operation %s failed", e.Name)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	for i, it := range e.Errors {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s: %s", sep, it.Code, it.Message)
	}
	return b.String()
}

// operationFailure returns the operation's error if it finished with one,
// else nil. Both fields are checked: the SDK's own Operation.Wait looks only
// at httpErrorStatusCode and reports an operation carrying error.errors
// without it as a success.
func operationFailure(op *computepb.Operation) *OperationError {
	if op.GetStatus() != computepb.Operation_DONE {
		return nil
	}
	code := int(op.GetHttpErrorStatusCode())
	failedHTTP := op.HttpErrorStatusCode != nil && (code < 200 || code > 299)
	if len(op.GetError().GetErrors()) == 0 && !failedHTTP {
		return nil
	}
	e := &OperationError{Name: op.GetName()}
	if failedHTTP {
		e.HTTPStatus = code
	}
	for _, it := range op.GetError().GetErrors() {
		e.Errors = append(e.Errors, OperationErrorItem{Code: it.GetCode(), Message: it.GetMessage()})
	}
	if len(e.Errors) == 0 {
		e.Errors = []OperationErrorItem{{Code: http.StatusText(code), Message: op.GetHttpErrorMessage()}}
	}
	return e
}

// throttleReason and conflictReason recognise the reasons Compute Engine
// puts in error.errors[].reason (or, upper-cased, in a google.rpc.ErrorInfo
// detail) that decide the class whatever HTTP status they come with: a
// rate limit can arrive as a 403, and resourceNotReady is the 400 Compute
// Engine answers while another operation on the group is still running
// (an activity in progress, not a bad request).
func throttleReason(r string) bool {
	switch r {
	case "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED":
		return true
	}
	return false
}

func conflictReason(r string) bool {
	switch r {
	case "resourceNotReady", "RESOURCE_NOT_READY", "resourceInUseByAnotherResource", "conditionNotMet":
		return true
	}
	return false
}

// classify maps an SDK error to the cloud sentinels, keeping err wrapped so
// that errors.As still finds *googleapi.Error and *apierror.APIError. what
// says which call failed, for the message.
//
// The caller's context comes first: if it ended, the error says so with
// context.Canceled or context.DeadlineExceeded (a deadline is also
// ErrUnavailable: the provider did not answer in time), whatever the
// transport made of it.
func classify(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("gcp: %s: %w: %w (%w)", what, cloud.ErrUnavailable, ctxErr, err)
		}
		return fmt.Errorf("gcp: %s: %w (%w)", what, ctxErr, err)
	}
	code, reasons, ok := apiErrorFacts(err)
	if !ok {
		// Not an answer from the API: a refused or broken connection, a
		// timeout, a body cut short or unreadable. All worth a retry.
		return fmt.Errorf("gcp: %s: %w: %w", what, cloud.ErrUnavailable, err)
	}
	var class error
	switch {
	case code == http.StatusTooManyRequests || slices.ContainsFunc(reasons, throttleReason):
		class = cloud.ErrThrottled
	case code == http.StatusConflict || code == http.StatusPreconditionFailed || slices.ContainsFunc(reasons, conflictReason):
		class = cloud.ErrConflict
	case code == http.StatusNotFound:
		class = cloud.ErrNotFound
	case code == http.StatusBadRequest:
		class = cloud.ErrInvalid
	case code == http.StatusRequestTimeout || code >= 500:
		class = cloud.ErrUnavailable
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// Permanent but none of the sentinels (retrying will not grant a
		// role): say what to check.
		return fmt.Errorf("gcp: %s: refused with HTTP %d (check the credentials, the permissions in docs/cloud-gcp.md and the project's quotas): %w", what, code, err)
	default:
		return fmt.Errorf("gcp: %s: %w", what, err)
	}
	return fmt.Errorf("gcp: %s: %w: %w", what, class, err)
}

// apiErrorFacts extracts the HTTP status and every reason an API error
// carries; ok is false when err is not an API answer at all.
func apiErrorFacts(err error) (code int, reasons []string, ok bool) {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		code, ok = gerr.Code, true
		for _, it := range gerr.Errors {
			reasons = append(reasons, it.Reason)
		}
	}
	var aerr *apierror.APIError
	if errors.As(err, &aerr) {
		if c := aerr.HTTPCode(); c > 0 {
			code, ok = c, true
		}
		if r := aerr.Reason(); r != "" {
			reasons = append(reasons, r)
		}
	}
	return code, reasons, ok
}
