package fake

import (
	"errors"
	"net/http"

	"github.com/capstan-io/capstan/cloud"
)

// Error codes on the wire, one per cloud sentinel error. They name the
// sentinels rather than reuse their messages so the HTTP API stays stable
// if a message is reworded.
const (
	CodeNotFound    = "not_found"
	CodeInvalid     = "invalid"
	CodeThrottled   = "throttled"
	CodeUnavailable = "unavailable"
	CodeConflict    = "conflict"
	// CodeInternal is for errors that are none of the sentinels; the
	// client treats it like any 5xx, as unavailable.
	CodeInternal = "internal"
)

// codes maps each wire code to its sentinel and HTTP status. The statuses
// are the ones real providers use for the same conditions, so the client's
// mapping is exercised the way a real SDK's would be.
var codes = []struct {
	code   string
	err    error
	status int
}{
	{CodeNotFound, cloud.ErrNotFound, http.StatusNotFound},
	{CodeInvalid, cloud.ErrInvalid, http.StatusBadRequest},
	{CodeThrottled, cloud.ErrThrottled, http.StatusTooManyRequests},
	{CodeUnavailable, cloud.ErrUnavailable, http.StatusServiceUnavailable},
	{CodeConflict, cloud.ErrConflict, http.StatusConflict},
}

// ErrorCode returns the wire code of err's sentinel, or CodeInternal.
func ErrorCode(err error) string {
	code, _ := codeStatus(err)
	return code
}

// SentinelFor returns the sentinel error a wire code names, or nil if the
// code is unknown. Commands and tests use it to turn a code given by a
// person into a Fault.Err.
func SentinelFor(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

func codeStatus(err error) (string, int) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code, c.status
		}
	}
	return CodeInternal, http.StatusInternalServerError
}

// sentinelForStatus is the fallback when a response has no error code,
// e.g. a 404 from the router itself or a proxy's 502.
func sentinelForStatus(status int) error {
	for _, c := range codes {
		if c.status == status {
			return c.err
		}
	}
	if status >= 500 {
		return cloud.ErrUnavailable
	}
	return cloud.ErrInvalid
}
