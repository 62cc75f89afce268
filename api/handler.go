package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/metrics/promreg"
	"github.com/capstan-io/capstan/policy"
)

// DefaultLeaderWait is how long a write waits for a leader when Options
// leaves LeaderWait zero: long enough to ride out an election on a LAN
// (about a second), short enough that a client is not left hanging.
const DefaultLeaderWait = 5 * time.Second

// DefaultForwardTimeout bounds one forwarded write when Options leaves
// ForwardTimeout zero: the leader answers once Raft commits, which takes
// milliseconds on a healthy cluster and at most its apply timeout (5 s)
// plus a wait for an election (5 s) on a sick one. A forward that times out
// after it was sent answers 503 outcome_unknown.
const DefaultForwardTimeout = 10 * time.Second

// defaultForwardTimeout is the default client's own bound, a backstop
// behind the per-request ForwardTimeout.
const defaultForwardTimeout = 30 * time.Second

// Options configure NewHandler. Only Backend is required; every other field
// has a safe default.
type Options struct {
	// Backend serves every request.
	Backend Backend
	// Logger receives one debug line per request and a line per error
	// response (warn for 5xx, info for 4xx). Bodies are never logged. nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the API's own metrics
	// (capstan_api_requests_total, capstan_api_request_duration_seconds,
	// capstan_ingest_samples_total, capstan_ingest_rejected_total).
	// nil leaves them unregistered. When the collectors are already
	// registered (two handlers on one registry) the existing ones are used.
	Registerer prometheus.Registerer
	// Gatherer is what GET /metrics exposes. nil falls back to Registerer
	// when that is also a Gatherer (a *prometheus.Registry); otherwise
	// /metrics answers 404.
	Gatherer prometheus.Gatherer
	// MaxBodyBytes limits request bodies (413 beyond); 0 means
	// DefaultMaxBodyBytes. Policies are further limited to
	// policy.MaxPolicyBytes.
	MaxBodyBytes int64
	// LeaderWait is how long a write waits for a leader to be elected
	// before answering 503 no_leader; 0 means DefaultLeaderWait. A leader
	// that cannot be reached (connection refused: it is dead but not yet
	// replaced) counts as none: the write waits for the next one.
	LeaderWait time.Duration
	// ForwardTimeout bounds one forwarded write once the leader has been
	// reached; 0 means DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// HTTPClient forwards writes to the leader. nil uses a client with a
	// 30 s timeout. Its redirect policy should not follow redirects, so
	// that the leader's answer reaches the caller unchanged; the default
	// does not.
	HTTPClient *http.Client
	// Version is the Capstan version this node runs, reported by
	// GET /v1/cluster ("" reports none).
	Version string
	// NodeID names this node in the X-Capstan-Forwarded-By header of the
	// requests it forwards; empty uses the Host the request was sent to.
	NodeID string
	// Auth checks every request's bearer token against the role its route
	// needs (/healthz and /readyz excepted) and the token's rate limit;
	// nil turns authentication off, which only the agent's explicit
	// --insecure-no-auth does.
	Auth *auth.Authenticator
	// NodeSecret is this node's node token (an admin token's secret),
	// sent in NodeTokenHeader on the requests it forwards or relays to
	// peers so they know a node sent them; empty sends none.
	NodeSecret string
	// PeerNode names the node of a TLS client certificate when it is a
	// node certificate of the cluster CA; a peer that presents one (API
	// client certificates requested) is a node without a node token. nil
	// when the API runs without TLS.
	PeerNode PeerNodeFunc
	// NodeCertAdmin lets a client present a node certificate as its
	// client certificate on admin routes. Off, a node certificate there
	// is refused (403) unless the request is a node's own: a write
	// another node forwards or relays, or a node's join. A certificate
	// says what it is for; the agent's --tls-node-cert-admin.
	NodeCertAdmin bool
}

// apiFunc is a route's handler. Returning an error hands it to writeError,
// so every failure leaves through one place and one shape.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// handler is the REST API.
type handler struct {
	b          Backend
	version    string
	log        *slog.Logger
	maxBody    int64
	leaderWait time.Duration
	// forwardTimeout bounds one forwarded write.
	forwardTimeout time.Duration
	hc             *http.Client
	nodeID         string
	nodeSecret     string
	peerNode       PeerNodeFunc
	nodeAdmin      bool
	relays         *relayQueue
	failures       failureLog   // rate-limits the lines of 401s and 429s
	promHTTP       http.Handler // nil when there is nothing to expose
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	ingest         ingestMetrics
	mux            *http.ServeMux
	auth           *auth.Authenticator
	replays        chan struct{} // one token per what-if replay allowed at once
	spec           []byte        // the OpenAPI document as JSON, converted once per process (openAPIDoc)
	specErr        error         // why it could not be converted, if it could not
}

// route is one endpoint. Each declares the role a token needs for it
// (roleOpen: none). Writes go through the leader check and are forwarded
// when this node does not lead, after this node has authenticated them.
type route struct {
	method, path string
	role         auth.Role
	write        bool
	fn           apiFunc
}

// roleOpen marks the routes that need no token: the probes, which load
// balancers and orchestrators call without credentials.
const roleOpen auth.Role = "open"

// NewHandler returns the REST API served by every node. Reads are answered
// from this node's state; writes (policy PUT and DELETE, metric pushes,
// membership changes) are served when this node leads and otherwise
// forwarded to the leader. It panics when opts.Backend is nil, which is a
// wiring mistake rather than a runtime condition.
func NewHandler(opts Options) http.Handler {
	if opts.Backend == nil {
		panic("api.NewHandler: Options.Backend is nil")
	}
	h := &handler{
		b:              opts.Backend,
		log:            opts.Logger,
		maxBody:        opts.MaxBodyBytes,
		leaderWait:     opts.LeaderWait,
		forwardTimeout: opts.ForwardTimeout,
		hc:             opts.HTTPClient,
		nodeID:         opts.NodeID,
		version:        opts.Version,
		nodeSecret:     opts.NodeSecret,
		peerNode:       opts.PeerNode,
		nodeAdmin:      opts.NodeCertAdmin,
		mux:            http.NewServeMux(),
		auth:           opts.Auth,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.leaderWait <= 0 {
		h.leaderWait = DefaultLeaderWait
	}
	if h.forwardTimeout <= 0 {
		h.forwardTimeout = DefaultForwardTimeout
	}
	if h.hc == nil {
		h.hc = &http.Client{
			Timeout: defaultForwardTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	gatherer := opts.Gatherer
	if gatherer == nil {
		gatherer, _ = opts.Registerer.(prometheus.Gatherer)
	}
	if gatherer != nil {
		h.promHTTP = promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	}
	h.replays = make(chan struct{}, MaxConcurrentReplays)
	h.relays = newRelayQueue(h.sendRefusal, h.log, 250*time.Millisecond)
	h.requests, h.duration = newRequestMetrics(opts.Registerer)
	h.ingest = newIngestMetrics(opts.Registerer)

	h.spec, h.specErr = openAPIDoc()

	routes := h.routes()
	methods := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		if rt.role != roleOpen && !rt.role.Valid() {
			panic(fmt.Sprintf("api.NewHandler: route %s %s declares no role", rt.method, rt.path))
		}
		fn := h.auditIdentity(rt.method, rt.path, rt.fn)
		if rt.write {
			fn = h.leaderOnly(fn)
		}
		fn = h.authenticate(rt.method, rt.path, rt.role, fn)
		fn = h.audit(rt.method, rt.path, fn)
		h.mux.Handle(rt.method+" "+rt.path, h.instrument(rt.path, fn))
		if _, ok := methods[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	// The mux's own 404 and 405 answers are plain text; these fallbacks
	// give them the one error shape. A pattern without a method is less
	// specific than the same path with one, so they only catch what the
	// routes above do not.
	for _, p := range paths {
		h.mux.Handle(p, h.instrument(p, methodNotAllowed(methods[p])))
	}
	h.mux.Handle("/", h.instrument("unmatched", func(_ http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, code: CodeNotFound,
			msg: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)}
	}))
	return h.mux
}

// routes is the route table NewHandler serves. It is a method of its own
// so that the OpenAPI test can check the document against it: a route
// added here and not documented in openapi.yaml fails that test.
func (h *handler) routes() []route {
	return []route{
		{"PUT", "/v1/policies/{id}", auth.RoleWrite, true, h.putPolicy},
		{"GET", "/v1/policies", auth.RoleRead, false, h.listPolicies},
		{"GET", "/v1/policies/{id}", auth.RoleRead, false, h.getPolicy},
		{"DELETE", "/v1/policies/{id}", auth.RoleWrite, true, h.deletePolicy},
		{"GET", "/v1/policies/{id}/decisions", auth.RoleRead, false, h.decisions},
		{"GET", "/v1/policies/{id}/state", auth.RoleRead, false, h.policyState},
		{"GET", "/v1/policies/{id}/history", auth.RoleRead, false, h.history},
		{"POST", "/v1/policies/{id}/simulate", auth.RoleRead, false, h.simulate},
		{"POST", "/v1/metrics", auth.RoleWrite, true, h.pushMetrics},
		{"POST", "/api/v1/write", auth.RoleWrite, true, h.remoteWrite},
		{"GET", "/v1/cluster", auth.RoleRead, false, h.cluster},
		{"POST", "/v1/cluster/join", auth.RoleAdmin, true, h.join},
		{"DELETE", "/v1/cluster/members/{id}", auth.RoleAdmin, true, h.removeMember},
		{"POST", "/v1/tokens", auth.RoleAdmin, true, h.createToken},
		{"GET", "/v1/tokens", auth.RoleAdmin, false, h.listTokens},
		{"DELETE", "/v1/tokens/{name}", auth.RoleAdmin, true, h.deleteToken},
		{"GET", "/healthz", roleOpen, false, h.healthz},
		{"GET", "/readyz", roleOpen, false, h.readyz},
		{"GET", "/metrics", auth.RoleRead, false, h.metrics},
		{"GET", OpenAPIPath, auth.RoleRead, false, h.openAPI},
		{"GET", "/v1/audit", auth.RoleAdmin, false, h.auditLog},
		{"POST", "/v1/audit", auth.RoleAdmin, true, h.recordRefusal},
	}
}

// newRequestMetrics creates the API's collectors and registers them on reg
// (only there: never on the global registry). A collector that is already
// registered is reused, so several handlers may share one registry.
func newRequestMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, *prometheus.HistogramVec) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "capstan_api_requests_total",
		Help: "REST API requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "capstan_api_request_duration_seconds",
		Help:    "REST API request latency by route pattern and method, including forwarding to the leader.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	// A clash with a different collector leaves these unexported rather
	// than failing the API.
	requests, _ = promreg.Register(reg, requests)
	duration, _ = promreg.Register(reg, duration)
	return requests, duration
}

// statusRecorder remembers the status code a handler wrote, for metrics
// and the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	token  string // the caller's token name, once known
}

// WriteHeader records the first status written.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 of a body written without a status.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument wraps a route: it counts and times the request under the
// route's pattern (not the raw path, which would make one series per
// policy id), logs one debug line, and turns a returned error into the
// error response.
func (h *handler) instrument(pattern string, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = h.withPeer(r)
		rec := &statusRecorder{ResponseWriter: w}
		if err := fn(rec, r); err != nil {
			h.writeError(rec, r, err)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		method := methodLabel(r.Method)
		h.requests.WithLabelValues(pattern, method, strconv.Itoa(rec.status)).Inc()
		h.duration.WithLabelValues(pattern, method).Observe(elapsed.Seconds())
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "api request",
			slog.String("method", r.Method), slog.String("route", pattern), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", elapsed),
			slog.String("token", rec.token), slog.String("forwarded_by", r.Header.Get(ForwardedByHeader)))
	})
}

// methodLabel bounds the method label to the methods HTTP defines, so that
// junk methods cannot create metric series.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS":
		return m
	}
	return "other"
}

// methodNotAllowed answers a known path requested with a method it does not
// serve, listing the ones it does.
func methodNotAllowed(allowed []string) apiFunc {
	list := slices.Clone(allowed)
	if slices.Contains(list, "GET") {
		list = append(list, "HEAD")
	}
	allow := strings.Join(list, ", ")
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
			msg: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)}
	}
}

// writeJSON writes v as the response body with the given status.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // the API speaks to programs and terminals, not browsers' HTML parsers
	if err := enc.Encode(v); err != nil {
		// The status is already out; all that is left is to say so.
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "api: writing response",
			slog.String("path", r.URL.Path), slog.Any("err", err))
	}
}

// setETag sets the strong ETag of a policy version.
func setETag(w http.ResponseWriter, version uint64) {
	w.Header().Set("ETag", `"`+strconv.FormatUint(version, 10)+`"`)
}

// parseIfMatch turns an If-Match header into the Backend's ifMatch form:
// "" when absent, "*", or the version without quotes. The Backend compares
// one version, so a list of ETags is refused rather than half-honoured.
// A weak ETag never matches under If-Match's strong comparison (RFC 9110
// 13.1.1), so it fails the precondition without asking the Backend.
func parseIfMatch(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	switch {
	case v == "" || v == "*":
		return v, nil
	case strings.HasPrefix(v, "W/"):
		return "", &apiError{status: http.StatusPreconditionFailed, code: CodePreconditionFailed,
			msg: "If-Match: a weak ETag never matches; send the ETag as returned by GET"}
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil {
		return "", &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg:    fmt.Sprintf("If-Match: want one ETag such as \"12\", or *; got %q", r.Header.Get("If-Match")),
			fields: []policy.FieldError{{Path: "If-Match", Message: "must be one ETag or *"}}}
	}
	return v, nil
}

// mediaType returns the request's media type, lower-cased, without parameters.
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type %q: %v", ct, err)}
	}
	return mt, nil
}

func isJSONType(mt string) bool {
	return mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func isYAMLType(mt string) bool {
	switch mt {
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return true
	}
	return false
}

// requireJSON refuses bodies declared as anything but JSON. An absent
// Content-Type is accepted: the body is parsed as JSON either way.
func requireJSON(r *http.Request) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if !isJSONType(mt) {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type %s is not supported here; send application/json", mt)}
	}
	return nil
}

// readBody reads the whole body, up to limit bytes; beyond that it returns
// the *http.MaxBytesError that writeError maps to 413. A declared length
// over the limit is refused before anything is read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, mbe
		}
		return nil, &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg: fmt.Sprintf("reading the request body: %v", err), err: err}
	}
	return data, nil
}

// decodeStrict decodes exactly one JSON value from data into v, refusing
// unknown fields and trailing data. path prefixes field names in errors
// ("samples[3]").
func decodeStrict(data []byte, path string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, path)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg: "malformed JSON: unexpected data after the top-level value"}
	}
	return nil
}

// jsonError turns a decoding error into a 400 that keeps the decoder's
// message and, where the decoder knows it, names the field.
func jsonError(err error, path string) error {
	e := &apiError{status: http.StatusBadRequest, code: CodeBadRequest, err: err}
	join := func(field string) string {
		switch {
		case path == "":
			return field
		case field == "":
			return path
		}
		return path + "." + field
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tpe *time.ParseError
	)
	switch {
	case errors.Is(err, io.EOF):
		e.msg = "request body is empty; want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.msg = "malformed JSON: unexpected end of input"
	case errors.As(err, &syn):
		e.msg = fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := join(typ.Field)
		rule := fmt.Sprintf("must be %s, not a JSON %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		if field == "" {
			e.msg = "malformed JSON: the body " + rule
		} else {
			e.msg = fmt.Sprintf("malformed JSON: %s: %s", field, rule)
			e.fields = []policy.FieldError{{Path: field, Message: rule}}
		}
	case errors.As(err, &tpe):
		// Only a sample has a time; encoding/json does not say which
		// field a time.Time refused.
		field := join("time")
		rule := fmt.Sprintf("must be an RFC 3339 time such as 2024-01-01T00:00:00Z, not %q", tpe.Value)
		e.msg = fmt.Sprintf("malformed JSON: %s: %s", field, rule)
		e.fields = []policy.FieldError{{Path: field, Message: rule}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields; its message
		// is stable and already names the field.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e.msg = fmt.Sprintf("unknown field %q", join(name))
		e.fields = []policy.FieldError{{Path: join(name), Message: "unknown field"}}
	default:
		if path != "" {
			e.msg = fmt.Sprintf("malformed JSON: %s: %v", path, err)
			e.fields = []policy.FieldError{{Path: path, Message: err.Error()}}
		} else {
			e.msg = fmt.Sprintf("malformed JSON: %v", err)
		}
	}
	return e
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "a list"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return kind
}

// putPolicy creates or replaces a policy. The body goes through
// policy.Parse, exactly like a file, so defaults and explicit zeros behave
// the same whichever way a policy arrives.
func (h *handler) putPolicy(w http.ResponseWriter, r *http.Request) error {
	if err := checkPolicyType(r); err != nil {
		return err
	}
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	p, err := h.readPolicy(w, r)
	if err != nil {
		return err
	}
	rec, err := h.b.PutPolicy(r.Context(), p, ifMatch)
	if err != nil {
		return err
	}
	setETag(w, rec.Version)
	h.writeJSON(w, r, http.StatusOK, rec)
	return nil
}

// checkPolicyType refuses a policy body of a type other than JSON or YAML.
func checkPolicyType(r *http.Request) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	if !isJSONType(mt) && !isYAMLType(mt) {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type %s is not supported for policies; send application/json or application/yaml", mt)}
	}
	return nil
}

// readPolicy reads and validates a policy body (JSON or YAML, as its
// Content-Type says, which checkPolicyType has checked) whose id must be
// the one in the URL.
func (h *handler) readPolicy(w http.ResponseWriter, r *http.Request) (policy.Policy, error) {
	id := r.PathValue("id")
	mt, _ := mediaType(r)
	data, err := readBody(w, r, min(h.maxBody, policy.MaxPolicyBytes))
	if err != nil {
		return policy.Policy{}, err
	}
	if isJSONType(mt) && !json.Valid(data) {
		// policy.Parse would read it as YAML and say something about YAML;
		// a JSON client deserves the JSON decoder's account.
		var v any
		return policy.Policy{}, jsonError(json.Unmarshal(data, &v), "")
	}
	p, err := policy.Parse(data)
	if err != nil {
		return policy.Policy{}, err
	}
	if p.ID != id {
		return policy.Policy{}, &apiError{status: http.StatusBadRequest, code: CodeInvalidPolicy,
			msg:    fmt.Sprintf("invalid policy: id %q does not match the id %q in the URL", p.ID, id),
			fields: []policy.FieldError{{Path: "id", Message: fmt.Sprintf("must equal the id in the URL (%q)", id)}}}
	}
	return p, nil
}

func (h *handler) listPolicies(w http.ResponseWriter, r *http.Request) error {
	recs, err := h.b.ListPolicies(r.Context())
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []PolicyRecord{}
	}
	h.writeJSON(w, r, http.StatusOK, PolicyList{Policies: recs})
	return nil
}

func (h *handler) getPolicy(w http.ResponseWriter, r *http.Request) error {
	rec, err := h.b.GetPolicy(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	setETag(w, rec.Version)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == w.Header().Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.writeJSON(w, r, http.StatusOK, rec)
	return nil
}

func (h *handler) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	if err := h.b.DeletePolicy(r.Context(), r.PathValue("id"), ifMatch); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) decisions(w http.ResponseWriter, r *http.Request) error {
	limit := DefaultDecisionLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxDecisionLimit {
			return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
				msg:    fmt.Sprintf("limit: must be a whole number in [1,%d], got %q", MaxDecisionLimit, s),
				fields: []policy.FieldError{{Path: "limit", Message: fmt.Sprintf("must be a whole number in [1,%d]", MaxDecisionLimit)}}}
		}
		limit = n
	}
	recs, err := h.b.Decisions(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []policy.Record{}
	}
	h.writeJSON(w, r, http.StatusOK, DecisionList{Decisions: recs})
	return nil
}

func (h *handler) policyState(w http.ResponseWriter, r *http.Request) error {
	st, err := h.b.PolicyStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.writeJSON(w, r, http.StatusOK, st)
	return nil
}

// rawPush is the first decoding pass of a push: the samples stay raw so
// that each can be decoded on its own and a bad one named by its index.
type rawPush struct {
	Samples []json.RawMessage `json:"samples"`
}

// pushMetrics ingests a batch. A malformed batch (bad JSON, unknown fields,
// too many samples) is refused whole and changes nothing; well-formed
// samples that make no sense (no policy, no metric, no time) are rejected
// one by one, and the rest go to the Backend, whose verdicts are reported
// under the samples' indexes in the request.
func (h *handler) pushMetrics(w http.ResponseWriter, r *http.Request) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		h.ingest.refused(sourcePush, err)
		return err
	}
	samples, err := decodePush(data)
	if err != nil {
		h.ingest.refused(sourcePush, err)
		return err
	}
	var (
		rejected []RejectedItem
		valid    = make([]Sample, 0, len(samples))
		index    = make([]int, 0, len(samples)) // index[j] is valid[j]'s index in the request
	)
	for i, s := range samples {
		if reason := checkSample(s); reason != "" {
			rejected = append(rejected, RejectedItem{Index: i, Reason: reason})
			h.ingest.reject(sourcePush, rejectReason(reason), 1)
			continue
		}
		valid = append(valid, s)
		index = append(index, i)
	}
	res := PushResult{}
	if len(valid) > 0 {
		got, err := h.b.PushMetrics(r.Context(), valid)
		if err != nil {
			return err
		}
		h.ingest.backendVerdicts(sourcePush, got)
		res.Accepted = got.Accepted
		for _, rj := range got.Rejected {
			if rj.Index >= 0 && rj.Index < len(index) {
				rj.Index = index[rj.Index]
			}
			rejected = append(rejected, rj)
		}
	}
	slices.SortStableFunc(rejected, func(a, b RejectedItem) int { return a.Index - b.Index })
	res.Rejected = rejected
	h.writeJSON(w, r, http.StatusOK, res)
	return nil
}

// decodePush decodes a push body strictly, naming the sample at fault.
func decodePush(data []byte) ([]Sample, error) {
	if samples, ok := decodePushFast(data); ok {
		return samples, nil
	}
	return decodePushStrict(data)
}

// decodePushStrict is decodePush through encoding/json: every body the fast
// path passes over lands here, and every error message comes from here.
func decodePushStrict(data []byte) ([]Sample, error) {
	var raw rawPush
	if err := decodeStrict(data, "", &raw); err != nil {
		return nil, err
	}
	switch n := len(raw.Samples); {
	case n == 0:
		return nil, &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg:    `samples: want at least one sample, as {"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":42.5}]}`,
			fields: []policy.FieldError{{Path: "samples", Message: "must hold at least one sample"}}}
	case n > MaxSamplesPerPush:
		return nil, &apiError{status: http.StatusBadRequest, code: CodeBadRequest, err: errTooManySamples,
			msg:    fmt.Sprintf("samples: %d samples in one batch; at most %d are accepted, split the batch", n, MaxSamplesPerPush),
			fields: []policy.FieldError{{Path: "samples", Message: fmt.Sprintf("at most %d samples per batch", MaxSamplesPerPush)}}}
	}
	samples := make([]Sample, len(raw.Samples))
	for i, m := range raw.Samples {
		if err := decodeStrict(m, fmt.Sprintf("samples[%d]", i), &samples[i]); err != nil {
			return nil, err
		}
	}
	return samples, nil
}

// checkSample returns why a decoded sample cannot be ingested, or "".
func checkSample(s Sample) string {
	switch {
	case s.Policy == "":
		return "policy: required"
	case s.Metric == "":
		return "metric: required"
	case s.Time.IsZero():
		return "time: required (RFC 3339)"
	case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
		return "value: must be a finite number"
	}
	return ""
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) error {
	info, err := h.b.Cluster(r.Context())
	if err != nil {
		return err
	}
	if info.Members == nil {
		info.Members = []Member{}
	}
	info.Version = h.version
	h.writeJSON(w, r, http.StatusOK, info)
	return nil
}

func (h *handler) join(w http.ResponseWriter, r *http.Request) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	var req JoinRequest
	if err := decodeStrict(data, "", &req); err != nil {
		return err
	}
	var fields []policy.FieldError
	if req.ID == "" {
		fields = append(fields, policy.FieldError{Path: "id", Message: "required"})
	}
	for _, f := range []struct{ path, v string }{{"raft_addr", req.RaftAddr}, {"http_addr", req.HTTPAddr}} {
		if f.v == "" {
			fields = append(fields, policy.FieldError{Path: f.path, Message: "required"})
		} else if msg := checkJoinAddr(f.path, f.v); msg != "" {
			fields = append(fields, policy.FieldError{Path: f.path, Message: msg})
		}
	}
	if len(fields) > 0 {
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg: "invalid join request: " + joinFields(fields), fields: fields}
	}
	if err := h.b.Join(r.Context(), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := h.b.RemoveMember(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// healthz says the process serves HTTP; it asks the Backend nothing, so a
// node without a leader is still alive.
func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
	return nil
}

// readyz says whether this node can answer reads with current data.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := h.b.Ready(r.Context()); err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeNotReady,
			msg: "not ready: " + err.Error(), err: err}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
	return nil
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) error {
	if h.promHTTP == nil {
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: "this node exposes no metrics"}
	}
	h.promHTTP.ServeHTTP(w, r)
	return nil
}

func joinFields(fields []policy.FieldError) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}
