package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// Caller headers: the HTTP form of cloud.Caller, so the shared fake cloud
// can log which node, under which Raft term, made each call.
const (
	HeaderNode = "X-Capstan-Node"
	HeaderTerm = "X-Capstan-Term"
)

// maxBody bounds request and error-response bodies; every message in this
// API is tiny.
const maxBody = 64 << 10

// Wire bodies. Fields are pointers where a missing value must be an error
// rather than a silent zero (asking for 0 instances by omission would be a
// nasty surprise).
type (
	createBody struct {
		Min     *int `json:"min"`
		Max     *int `json:"max"`
		Desired *int `json:"desired"`
	}
	desiredBody struct {
		Desired *int `json:"desired"`
	}
	busyBody struct {
		Busy *bool `json:"busy"`
	}
	// faultBody is a Fault on the wire: Err is a wire code (CodeThrottled,
	// ...) and Delay a Go duration string such as "2s".
	faultBody struct {
		Group string `json:"group,omitempty"`
		Op    string `json:"op,omitempty"`
		Err   string `json:"err,omitempty"`
		Times int    `json:"times,omitempty"`
		Delay string `json:"delay,omitempty"`
	}
	errorBody struct {
		Error errorDetail `json:"error"`
	}
	errorDetail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
)

// NewHandler serves c over HTTP with JSON bodies, so several processes (the
// agents of a local cluster) can share one fake cloud:
//
//	GET    /v1/groups                all groups' states, keyed by name
//	GET    /v1/groups/{name}         one group's state (a provider call: faults apply, logged)
//	POST   /v1/describe              many groups' states: {"groups":["web","api"]} (a provider call)
//	POST   /v1/groups/{name}         create: {"min":1,"max":10,"desired":2}
//	PUT    /v1/groups/{name}/desired resize: {"desired":5} (a provider call)
//	PUT    /v1/groups/{name}/busy    {"busy":true} marks a scaling activity in progress
//	GET    /v1/groups/{name}/activities?since=RFC3339  the group's resizes that took effect, newest first
//	GET    /v1/calls                 the call log, oldest first
//	POST   /v1/faults                {"group":"web","op":"set_desired","err":"throttled","times":2,"delay":"1s"}
//	DELETE /v1/faults                clear all faults
//
// A batch describe names at most MaxBatch groups and answers
// {"groups":[{"state":{...}},{"error":{"code":"not_found","message":"..."}}]},
// one entry per name in order; a throttled or failed call answers with an
// error status as a single describe does. Provider calls take the caller
// from the X-Capstan-Node and X-Capstan-Term headers. Errors are {"error":{"code":"...","message":"..."}} with codes
// not_found (404), invalid (400), throttled (429), unavailable (503) and
// conflict (409).
func NewHandler(c *Cloud) http.Handler {
	h := &handler{c: c}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/groups", h.groups)
	mux.HandleFunc("GET /v1/groups/{name}", h.describe)
	mux.HandleFunc("POST /v1/describe", h.describeBatch)
	mux.HandleFunc("POST /v1/groups/{name}", h.create)
	mux.HandleFunc("PUT /v1/groups/{name}/desired", h.setDesired)
	mux.HandleFunc("PUT /v1/groups/{name}/busy", h.setBusy)
	mux.HandleFunc("GET /v1/groups/{name}/activities", h.activities)
	mux.HandleFunc("GET /v1/calls", h.calls)
	mux.HandleFunc("POST /v1/faults", h.injectFault)
	mux.HandleFunc("DELETE /v1/faults", h.clearFaults)
	return mux
}

type handler struct {
	c *Cloud
}

func (h *handler) groups(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.c.Groups())
}

func (h *handler) describe(w http.ResponseWriter, r *http.Request) {
	ctx, err := callerContext(r)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := h.c.describe(ctx, r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.Min == nil || b.Max == nil || b.Desired == nil {
		writeError(w, invalidf("body must give min, max and desired"))
		return
	}
	name := r.PathValue("name")
	if err := h.c.CreateGroup(name, *b.Min, *b.Max, *b.Desired); err != nil {
		writeError(w, err)
		return
	}
	st, err := h.c.Describe(name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (h *handler) setDesired(w http.ResponseWriter, r *http.Request) {
	ctx, err := callerContext(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var b desiredBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.Desired == nil {
		writeError(w, invalidf("body must give desired"))
		return
	}
	st, err := h.c.call(ctx, OpSetDesired, r.PathValue("name"), *b.Desired)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *handler) setBusy(w http.ResponseWriter, r *http.Request) {
	var b busyBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.Busy == nil {
		writeError(w, invalidf("body must give busy"))
		return
	}
	if err := h.c.SetBusy(r.PathValue("name"), *b.Busy); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) calls(w http.ResponseWriter, _ *http.Request) {
	calls := h.c.Calls()
	if calls == nil {
		calls = []Call{} // [] rather than null, for jq and friends
	}
	writeJSON(w, http.StatusOK, calls)
}

func (h *handler) injectFault(w http.ResponseWriter, r *http.Request) {
	var b faultBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	f, err := b.fault()
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.c.InjectFault(f); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) clearFaults(w http.ResponseWriter, _ *http.Request) {
	h.c.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// fault converts the wire form to a Fault.
func (b faultBody) fault() (Fault, error) {
	f := Fault{Group: b.Group, Op: b.Op, Times: b.Times}
	if b.Err != "" {
		if f.Err = SentinelFor(b.Err); f.Err == nil {
			return Fault{}, invalidf("err must be one of %s, %s, %s, %s, %s (got %q)",
				CodeNotFound, CodeInvalid, CodeThrottled, CodeUnavailable, CodeConflict, b.Err)
		}
	}
	if b.Delay != "" {
		d, err := time.ParseDuration(b.Delay)
		if err != nil {
			return Fault{}, invalidf("delay must be a duration such as 2s (got %q)", b.Delay)
		}
		f.Delay = d
	}
	return f, nil
}

// faultBodyOf is the inverse of faultBody.fault, for the client.
func faultBodyOf(f Fault) (faultBody, error) {
	b := faultBody{Group: f.Group, Op: f.Op, Times: f.Times}
	if f.Err != nil {
		if b.Err = ErrorCode(f.Err); b.Err == CodeInternal {
			return faultBody{}, invalidf("fault error must be one of the cloud sentinel errors (got %v)", f.Err)
		}
	}
	if f.Delay != 0 {
		b.Delay = f.Delay.String()
	}
	return b, nil
}

// callerContext carries the caller headers, if any, into the request's
// context the way an in-process caller would with cloud.WithCaller.
func callerContext(r *http.Request) (context.Context, error) {
	node, term := r.Header.Get(HeaderNode), r.Header.Get(HeaderTerm)
	if node == "" && term == "" {
		return r.Context(), nil
	}
	var c cloud.Caller
	c.Node = node
	if term != "" {
		t, err := strconv.ParseUint(term, 10, 64)
		if err != nil {
			return nil, invalidf("header %s must be an unsigned integer (got %q)", HeaderTerm, term)
		}
		c.Term = t
	}
	return cloud.WithCaller(r.Context(), c), nil
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("bad JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidf("bad JSON body: trailing data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client has gone if this fails
}

// writeError answers with err's wire code and status. The message drops
// the "fake cloud: " prefix and the sentinel's own text, which the client
// adds back when it rebuilds the error, so they are not doubled.
func writeError(w http.ResponseWriter, err error) {
	detail, status := wireError(err)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: detail})
}

// wireError is err as the API sends it, and its HTTP status.
func wireError(err error) (errorDetail, int) {
	code, status := codeStatus(err)
	msg := strings.TrimPrefix(err.Error(), "fake cloud: ")
	if s := SentinelFor(code); s != nil {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return errorDetail{Code: code, Message: msg}, status
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("fake cloud: %s: %w", fmt.Sprintf(format, args...), cloud.ErrInvalid)
}
