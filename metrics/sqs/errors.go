package sqs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The sentinels a Read error may wrap, for errors.Is. The SDK's error is
// wrapped as well, so errors.As still reaches smithy.APIError and its code.
var (
	// ErrQueueNotFound: SQS says the queue does not exist
	// (AWS.SimpleQueueService.NonExistentQueue, QueueDoesNotExist): a
	// wrong URL, a wrong region for it, or a deleted queue. Not retried.
	ErrQueueNotFound = errors.New("sqs: queue not found")
	// ErrThrottled: SQS refused the request for its rate
	// (RequestThrottled, ThrottlingException, HTTP 429), on every attempt.
	ErrThrottled = errors.New("sqs: throttled")
	// ErrUnavailable: SQS or the path to it failed (5xx, a timeout, a
	// refused or dropped connection, a malformed answer), on every
	// attempt.
	ErrUnavailable = errors.New("sqs: unavailable")
	// ErrInvalid: the source or the credentials cannot work as configured
	// (a malformed queue URL or region, an unknown attribute, access
	// denied, a bad or expired signature). Not retried: an operator has to
	// act.
	ErrInvalid = errors.New("sqs: invalid source or access denied")
)

// codeSentinel maps an SQS error code to its sentinel, or nil. In SQS's
// query-compatible JSON protocol the SDK reports the x-amzn-query-error
// code (AWS.SimpleQueueService.NonExistentQueue, AccessDenied) when the
// header is present and the __type's short name otherwise, so both
// spellings are listed; so are the codes AWS's shared front end uses for
// every service. A switch rather than lookup tables keeps the package free
// of mutable globals.
func codeSentinel(code string) error {
	switch code {
	case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
		return ErrQueueNotFound
	case "RequestThrottled", "ThrottlingException", "Throttling", "ThrottledException",
		"RequestThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
		"SlowDown", "PriorRequestNotComplete":
		return ErrThrottled
	case "InvalidAddress", "InvalidAttributeName", "InvalidSecurity", "UnsupportedOperation",
		"InvalidParameterValue", "MissingParameter", "ValidationException", "ValidationError",
		"InvalidAction", "UnknownOperationException", "SerializationException",
		"InvalidQueryParameter", "MalformedQueryString":
		return ErrInvalid
	case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
		"SignatureDoesNotMatch", "IncompleteSignature", "InvalidSignatureException",
		"MissingAuthenticationToken", "MissingAuthenticationTokenException", "InvalidAccessKeyId",
		"AuthFailure", "ExpiredToken", "ExpiredTokenException", "RequestExpired", "OptInRequired":
		// Permanent for the request as sent: retrying with the same
		// credentials and IAM policy cannot succeed.
		return ErrInvalid
	case "InternalFailure", "InternalError", "AWS.SimpleQueueService.InternalError",
		"InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
		"Unavailable", "RequestTimeout", "RequestTimeoutException":
		return ErrUnavailable
	}
	return nil
}

// classify returns the sentinel for an SDK error, or nil when none fits
// (for example when the credential chain found no credentials: the error
// says so, and retrying cannot help).
//
// The modelled error type and the API error code decide first, so that
// RequestThrottled, which SQS sends with a 403, is throttling rather than
// a refusal. Then the HTTP status (429 throttled, 5xx unavailable), so a
// proxy's HTML 502 is handled too. Then transport failures: timeouts,
// refused or reset connections and responses cut short are unavailable. A
// cancelled context is not classified: the caller gave up, SQS did nothing
// wrong.
func classify(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return ErrQueueNotFound
	}
	var throttled *types.RequestThrottled
	if errors.As(err, &throttled) {
		return ErrThrottled
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if s := codeSentinel(apiErr.ErrorCode()); s != nil {
			return s
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests:
			return ErrThrottled
		case status >= 500:
			return ErrUnavailable
		}
	}
	var netErr net.Error
	var opErr *net.OpError
	var sendErr *smithyhttp.RequestSendError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.As(err, &sendErr),
		// A connection that fails while the answer is read (reset,
		// closed) surfaces as a deserialization error around these.
		errors.As(err, &opErr),
		errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnavailable
	}
	return nil
}

// retryable reports whether another attempt may succeed: throttling and
// outages pass; a missing queue, a refusal or an unclassified error do not.
func retryable(sentinel error) bool {
	return sentinel == ErrThrottled || sentinel == ErrUnavailable
}

// sentinelOf is the package sentinel err wraps, if any.
func sentinelOf(err error) error {
	for _, s := range []error{ErrQueueNotFound, ErrThrottled, ErrUnavailable, ErrInvalid} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// outcome labels a query's result in capstan_source_queries_total.
func outcome(err, sentinel error) string {
	switch {
	case err == nil:
		return "ok"
	case sentinel == ErrQueueNotFound:
		return "not_found"
	case sentinel == ErrThrottled:
		return "throttled"
	case sentinel == ErrUnavailable:
		return "unavailable"
	case sentinel == ErrInvalid:
		return "invalid"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}
