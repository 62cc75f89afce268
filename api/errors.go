package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// apiError is an error a handler builds itself, with its status and code
// decided where the problem is understood. err, when set, is the cause
// (for logs and errors.Is), never shown beyond msg.
type apiError struct {
	status int
	code   string
	msg    string
	fields []policy.FieldError
	err    error
}

// Error is the message the client sees.
func (e *apiError) Error() string { return e.msg }

// Unwrap exposes the cause, so errors.Is sees through a handler's verdict.
func (e *apiError) Unwrap() error { return e.err }

// errorResponse decides the status and body for err. Handler-made errors
// come first, then the request-body limit, then policy validation, then
// the Backend's sentinels; anything else is an internal error.
func errorResponse(err error) (int, ErrorDetail) {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		ve  *policy.ValidationError
	)
	switch {
	case errors.As(err, &ae):
		return ae.status, ErrorDetail{Code: ae.code, Message: ae.msg, Fields: ae.fields}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, ErrorDetail{Code: CodeBodyTooLarge,
			Message: fmt.Sprintf("request body is larger than the %d-byte limit", mbe.Limit)}
	case errors.As(err, &ve):
		return http.StatusBadRequest, ErrorDetail{Code: CodeInvalidPolicy,
			Message: fmt.Sprintf("invalid policy: %d problem(s): %s", len(ve.Fields), joinFields(ve.Fields)),
			Fields:  ve.Fields}
	case errors.Is(err, policy.ErrInvalid):
		return http.StatusBadRequest, ErrorDetail{Code: CodeInvalidPolicy, Message: err.Error()}
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, ErrorDetail{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, ErrPrecondition):
		return http.StatusPreconditionFailed, ErrorDetail{Code: CodePreconditionFailed,
			Message: err.Error() + " (If-Match does not match the current version; GET it again)"}
	case errors.Is(err, ErrOutcomeUnknown):
		return http.StatusServiceUnavailable, ErrorDetail{Code: CodeOutcomeUnknown,
			Message: err.Error() + "; the write may or may not have been made: read it back, or retry it idempotently (PUT with If-Match)"}
	case errors.Is(err, ErrNoLeader):
		return http.StatusServiceUnavailable, ErrorDetail{Code: CodeNoLeader, Message: err.Error() + "; retry"}
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, ErrorDetail{Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, ErrorDetail{Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, auth.ErrForbidden):
		// A backend's refusal on grounds of identity, e.g. a joining
		// server that does not prove who it is.
		return http.StatusForbidden, ErrorDetail{Code: CodeForbidden, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, ErrorDetail{Code: CodeTimeout, Message: err.Error() + "; retry"}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this, but the log and the
		// metrics should not call it a server fault.
		return 499, ErrorDetail{Code: "canceled", Message: err.Error()}
	}
	return http.StatusInternalServerError, ErrorDetail{Code: CodeInternal, Message: "internal error: " + err.Error()}
}

// writeError is the one place errors become responses, in the one shape
// every endpoint shares. Server faults are logged at warn, client mistakes
// at info (they are the client's to fix, and a noisy client must not bury
// real faults); bodies are never logged.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := errorResponse(err)
	level := slog.LevelInfo
	if status >= 500 && status != 499 {
		level = slog.LevelWarn
	}
	if status == 499 {
		level = slog.LevelDebug
	}
	var token string // the caller's token name (never its secret), once known
	if rec, ok := w.(*statusRecorder); ok {
		token = rec.token
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("code", detail.Code), slog.String("token", token), slog.Any("err", err)}
	if status == http.StatusUnauthorized || status == http.StatusTooManyRequests {
		// A flood of these would bury everything else: one line per
		// token and source every failureLogEvery, with the count.
		write, n := h.failures.note(token, r.RemoteAddr, status, time.Now())
		if !write {
			level = slog.LevelDebug
		}
		attrs = append(attrs, slog.String("source", r.RemoteAddr), slog.Int("count", n))
	}
	h.log.LogAttrs(r.Context(), level, "api error", attrs...)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	h.writeJSON(w, r, status, ErrorBody{Error: detail})
}

// Error is a non-2xx answer from the API as the Client returns it.
// errors.Is works with the sentinels (ErrNotFound, ErrPrecondition,
// ErrNoLeader, ErrBadRequest, ErrConflict, and auth.ErrUnauthenticated,
// auth.ErrForbidden, auth.ErrRateLimited) and errors.As with a
// *policy.ValidationError for invalid_policy answers.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code (CodeNotFound, ...); empty when the
	// answer was not in the API's error shape (a proxy's error page, say).
	Code string
	// Message says what went wrong.
	Message string
	// Fields lists the fields at fault, for validation errors.
	Fields []policy.FieldError
}

// Error renders the message, with the field list one per line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap maps the code back to the sentinel the server mapped from, so
// callers branch with errors.Is instead of comparing codes.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeNotFound:
		return ErrNotFound
	case CodePreconditionFailed:
		return ErrPrecondition
	case CodeNoLeader:
		return ErrNoLeader
	case CodeOutcomeUnknown:
		return ErrOutcomeUnknown
	case CodeBadRequest:
		return ErrBadRequest
	case CodeConflict:
		return ErrConflict
	case CodeInvalidPolicy:
		return &policy.ValidationError{Fields: e.Fields}
	case CodeUnauthenticated:
		return auth.ErrUnauthenticated
	case CodeForbidden:
		return auth.ErrForbidden
	case CodeRateLimited:
		return auth.ErrRateLimited
	}
	return nil
}
