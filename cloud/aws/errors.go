package aws

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/capstan-io/capstan/cloud"
)

// codeSentinel maps an Auto Scaling error code to its sentinel, or nil.
// Auto Scaling speaks the Query protocol, whose errors carry a code in
// <Error><Code>; the cases include the codes AWS's shared front end uses for
// every Query service (throttling, authentication, internal failures), not
// only the ones modelled for Auto Scaling. A switch rather than lookup
// tables keeps the package free of mutable globals.
func codeSentinel(code string) error {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottled", "RequestThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "SlowDown", "PriorRequestNotComplete":
		return cloud.ErrThrottled
	case "ScalingActivityInProgress", "ResourceContention", "ResourceInUse":
		// Another activity holds the group: retry at the next
		// evaluation, not now.
		return cloud.ErrConflict
	case "ValidationError", "InvalidParameterValue", "InvalidParameterCombination",
		"MissingParameter", "InvalidAction", "InvalidQueryParameter", "MalformedQueryString":
		return cloud.ErrInvalid
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
		"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
		"IncompleteSignature", "InvalidSignatureException", "MissingAuthenticationToken",
		"ExpiredToken", "ExpiredTokenException", "OptInRequired":
		// Permanent for the request as sent: retrying with the same
		// credentials and IAM policy cannot succeed; an operator has to
		// act. The original error (kept wrapped) names the code.
		return cloud.ErrInvalid
	case "InternalFailure", "InternalError", "InternalServerError",
		"ServiceUnavailable", "ServiceUnavailableException", "Unavailable",
		"RequestTimeout", "RequestTimeoutException":
		return cloud.ErrUnavailable
	}
	return nil
}

// classify returns the cloud sentinel for an SDK error, or nil when none
// fits (for example when the credential chain found no credentials: the
// error says so and is not retried).
//
// The API error code decides first, so that ResourceContention, which AWS
// sends with a 500, is a conflict rather than an outage. Then the HTTP
// status (429 throttled, 5xx unavailable), so a proxy's HTML 502 is handled
// too. Then transport failures: timeouts, refused or reset connections and
// responses cut short are unavailable. A cancelled context is not
// classified: the caller gave up, the provider did nothing wrong.
func classify(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		if code == "ValidationError" && notFoundMessage(apiErr.ErrorMessage()) {
			// AWS has no NotFound code for Auto Scaling groups: writes
			// to a missing group fail with a ValidationError saying
			// "AutoScalingGroup name not found - ...".
			return cloud.ErrNotFound
		}
		if s := codeSentinel(code); s != nil {
			return s
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests:
			return cloud.ErrThrottled
		case status >= 500:
			return cloud.ErrUnavailable
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
		return cloud.ErrUnavailable
	}
	return nil
}

// notFoundMessage recognises AWS's wording for a missing group in a
// ValidationError ("AutoScalingGroup name not found - AutoScalingGroup X
// not found", or "... - null" in older answers). Matching message text is
// the only way: the code is the same as for a bad size.
func notFoundMessage(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "not found")
}
