package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// Audit actions: the kind of configuration write an AuditEntry records.
// Metric pushes and remote-write are data, not configuration, and are not
// audited.
const (
	AuditPolicyPut     = "policy.put"
	AuditPolicyDelete  = "policy.delete"
	AuditClusterJoin   = "cluster.join"
	AuditClusterRemove = "cluster.remove"
	AuditTokenCreate   = "token.create"
	AuditTokenDelete   = "token.delete"
)

// Limits and names of the audit log.
const (
	// AnonymousToken is the token name of writes made while authentication
	// is off (--insecure-no-auth).
	AnonymousToken = "anonymous"
	// DefaultAuditLimit is how many entries GET /v1/audit returns without ?limit.
	DefaultAuditLimit = 50
	// MaxAuditLimit is the largest ?limit GET /v1/audit accepts.
	MaxAuditLimit = 100_000
	// ClientAddrHeader carries the client's address (host:port) from the
	// follower that forwarded a write to the leader, which records it in
	// the audit log. The leader trusts it only on requests that also carry
	// ForwardedByHeader, and records the connection's own address beside
	// it (AuditEntry.Via), so a forged header is visible.
	ClientAddrHeader = "X-Capstan-Client-Addr"
)

// Bounds on the strings an entry copies from a request, so that a client
// cannot make one entry (and so every snapshot) large.
const (
	maxAuditPath   = 512
	maxAuditTarget = 256
	// maxAuditBody is how much of a join or token request body is kept to
	// read the member or token name from; a valid one is far smaller.
	maxAuditBody = 16 << 10
)

// AuditEntry is one API write as the replicated audit log keeps it: who,
// from where, what, and how it ended. It never holds a token secret or a
// policy body: a policy write records the policy id and its versions.
type AuditEntry struct {
	// ID is the Raft index of the log entry that recorded it; IDs grow
	// with time.
	ID uint64 `json:"id"`
	// Time is when the leader served the write, by its clock.
	Time time.Time `json:"time"`
	// Node is the server that served the write (the leader).
	Node string `json:"node,omitempty"`
	// Token is the caller's token name; AnonymousToken when
	// authentication is off. Role is the token's role.
	Token string `json:"token"`
	Role  string `json:"role,omitempty"`
	// Source is the client's address (host:port). For a write a follower
	// forwarded, it is the address the follower saw.
	Source string `json:"source"`
	// ForwardedBy is the id of the follower that forwarded the write, and
	// Via the address the forwarded request came from; both empty when
	// the client reached the leader directly.
	ForwardedBy string `json:"forwarded_by,omitempty"`
	Via         string `json:"via,omitempty"`
	// Method and Path are the request's.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Action is one of the Audit* constants; Target the policy id, member
	// id or token name it applies to.
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// OldVersion and NewVersion are a policy's versions (ETags) before
	// and after the write; 0 when it did not exist before or after.
	OldVersion uint64 `json:"old_version,omitempty"`
	NewVersion uint64 `json:"new_version,omitempty"`
	// Status is the HTTP status of the answer and Code its error code
	// (empty on success).
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// Count is how many refusals this entry stands for when the same
	// token's refusals were folded into it (omitted for one), and Last
	// the time of the latest; Time is the first's. See the README's
	// audit section.
	Count int       `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
}

// AuditList is the body of GET /v1/audit, newest first.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
}

// AuditBackend is the part of the Backend that keeps the audit log.
type AuditBackend interface {
	// Audit commits an entry on its own: a refused write, or a write whose
	// change could not carry its entry (AuditFromContext). The Backend
	// sets ID and, when zero, Time.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog returns up to limit entries, newest first.
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
}

// auditNote is the audit entry of the write being served, carried from
// the API layer to the Backend in the request's context.
type auditNote struct {
	entry AuditEntry
	// recorded: the Backend committed the entry with the change.
	recorded bool
	// forwarded: this node forwarded the write; the leader records it.
	forwarded bool
	// who is the caller once authenticated (auditIdentity).
	who *auth.Identity
}

type auditKey struct{}

func noteFrom(ctx context.Context) *auditNote {
	n, _ := ctx.Value(auditKey{}).(*auditNote)
	return n
}

// WithAuditEntry returns ctx carrying e as the audit entry of the write
// served with it, as the API's audit wrapper does for every audited
// route; for callers of a Backend outside the API, such as tests.
func WithAuditEntry(ctx context.Context, e AuditEntry) context.Context {
	return context.WithValue(ctx, auditKey{}, &auditNote{entry: e})
}

// AuditFromContext returns the audit entry of the write served with ctx,
// with the caller's identity, for a Backend that commits it in the same
// Raft entry as the change (so that a committed change always has its
// entry). The Backend sets ID, Time and, from the change's outcome,
// versions, Status and Code, then calls AuditRecorded. ok is false when
// the API audits nothing with ctx.
func AuditFromContext(ctx context.Context) (AuditEntry, bool) {
	n := noteFrom(ctx)
	if n == nil || n.recorded {
		return AuditEntry{}, false
	}
	e := n.entry
	if id, ok := auth.FromContext(ctx); ok {
		e.Token, e.Role = id.Name, string(id.Role)
	}
	return e, true
}

// AuditRecorded tells the API that the Backend committed the entry from
// AuditFromContext together with the change, whatever the change's
// outcome, so the API does not record the write again.
func AuditRecorded(ctx context.Context) {
	if n := noteFrom(ctx); n != nil {
		n.recorded = true
	}
}

// AuditStatus is the HTTP status and error code the API answers err with:
// what an audit entry records as a write's result. A nil err is 200.
func AuditStatus(err error) (int, string) {
	if err == nil {
		return http.StatusOK, ""
	}
	status, detail := errorResponse(err)
	return status, detail.Code
}

// auditAction is the audit action of a route, and the field of its JSON
// body that names the target when the path does not ("" when it does).
// Metric pushes are not audited: they are data, sent many times a
// second, and would crowd every configuration change out of the log.
func auditAction(method, pattern string) (action, bodyField string, ok bool) {
	switch method + " " + pattern {
	case "PUT /v1/policies/{id}":
		return AuditPolicyPut, "", true
	case "DELETE /v1/policies/{id}":
		return AuditPolicyDelete, "", true
	case "POST /v1/cluster/join":
		return AuditClusterJoin, "id", true
	case "DELETE /v1/cluster/members/{id}":
		return AuditClusterRemove, "", true
	case "POST /v1/tokens":
		return AuditTokenCreate, "name", true
	case "DELETE /v1/tokens/{name}":
		return AuditTokenDelete, "", true
	}
	return "", "", false
}

// audit wraps an audited write route, outside its authentication, so it
// sees refusals too. The entry is recorded where the write is served: on
// the leader, either by the Backend with the change or here afterwards;
// a follower that forwards the write records nothing. A 401 or 429 is
// only logged: an unauthenticated or over-limit flood must not push real
// changes out of the bounded log. A 403 decided on a follower (which
// refuses it without forwarding the write) is relayed to the leader
// (relayRefusal), since a follower cannot commit.
func (h *handler) audit(method, pattern string, next apiFunc) apiFunc {
	action, bodyField, ok := auditAction(method, pattern)
	if !ok {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		note := &auditNote{entry: h.auditEntry(r, action)}
		var body *bodyCapture
		if bodyField != "" && r.Body != nil && r.Body != http.NoBody {
			body = &bodyCapture{ReadCloser: r.Body}
			r.Body = body
		}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, note))
		rec, _ := w.(*statusRecorder)
		err := next(w, r)
		if note.forwarded {
			return err
		}
		status, code := AuditStatus(err)
		if err == nil && rec != nil && rec.status != 0 {
			status = rec.status
		}
		e := note.entry
		switch {
		case note.who != nil:
			e.Token, e.Role = note.who.Name, string(note.who.Role)
		case rec != nil && rec.token != "":
			e.Token = rec.token // refused: the token is known, its role too low
		}
		if body != nil && e.Target == "" {
			e.Target = body.field(bodyField)
		}
		e.Status, e.Code = status, code
		switch {
		case status == http.StatusUnauthorized || status == http.StatusTooManyRequests:
			// writeError logs it too, rate-limited; this line is for
			// debugging only, or a flood would write two per request.
			h.logAudit(r, slog.LevelDebug, "audit: refused write logged, not recorded", e, nil)
			return err
		case status == http.StatusForbidden && !fromProvenNode(r):
			// A 403 decided here, on a request no node forwarded: if this
			// node does not lead, the leader records it; if no leader
			// takes it now, it waits in the relay queue.
			self, _, lerr := h.b.Leader(r.Context(), h.leaderWait)
			if lerr != nil || !self {
				ref := refusalOf(r, e)
				actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.leaderWait)
				defer cancel()
				if rerr := h.sendRefusal(actx, ref); rerr != nil {
					h.logAudit(r, slog.LevelWarn, "audit: no leader took the refusal; queued to relay later", e, rerr)
					h.relays.add(ref)
				}
				return err
			}
		}
		if note.recorded {
			return err
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.leaderWait)
		defer cancel()
		if aerr := h.b.Audit(actx, e); aerr != nil {
			h.logAudit(r, slog.LevelWarn, "audit: entry not recorded", e, aerr)
		}
		return err
	}
}

// auditIdentity wraps a route's own handler, inside its authentication,
// to note the caller's identity for the audit wrapper outside.
func (h *handler) auditIdentity(method, pattern string, next apiFunc) apiFunc {
	if _, _, ok := auditAction(method, pattern); !ok || h.auth == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if n := noteFrom(r.Context()); n != nil {
			if id, ok := auth.FromContext(r.Context()); ok {
				n.who = &id
			}
		}
		return next(w, r)
	}
}

// auditEntry starts a write's entry from its request: the parts known
// before anything is decided.
func (h *handler) auditEntry(r *http.Request, action string) AuditEntry {
	e := AuditEntry{Node: h.nodeID, Source: r.RemoteAddr, Method: r.Method,
		Path: truncate(r.URL.Path, maxAuditPath), Action: action}
	if h.auth == nil {
		e.Token = AnonymousToken
	}
	if by, ok := fromNode(r); ok {
		e.ForwardedBy, e.Via = truncate(by, maxAuditTarget), r.RemoteAddr
		if src := r.Header.Get(ClientAddrHeader); src != "" {
			e.Source = truncate(src, maxAuditTarget)
		}
	}
	for _, name := range []string{"id", "name"} {
		if v := r.PathValue(name); v != "" {
			e.Target = truncate(v, maxAuditTarget)
		}
	}
	return e
}

// logAudit logs an entry that is not (or could not be) recorded, so it is
// not lost without a trace.
func (h *handler) logAudit(r *http.Request, level slog.Level, msg string, e AuditEntry, err error) {
	attrs := []slog.Attr{slog.String("action", e.Action), slog.String("path", e.Path),
		slog.String("token", e.Token), slog.String("source", e.Source), slog.Int("status", e.Status)}
	if e.Target != "" {
		attrs = append(attrs, slog.String("target", e.Target))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	h.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// markForwarded tells the audit wrapper, if any, that the write went to
// the leader, which records it.
func markForwarded(ctx context.Context) {
	if n := noteFrom(ctx); n != nil {
		n.forwarded = true
	}
}

// bodyCapture keeps the first bytes of a request body as the handler
// reads it, so the audit entry can name the member or token the body
// creates without reading the body a second time or before the handler
// (and its authentication) does.
type bodyCapture struct {
	io.ReadCloser
	buf bytes.Buffer
}

// Read reads from the body and keeps up to maxAuditBody bytes.
func (c *bodyCapture) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := maxAuditBody - c.buf.Len(); room > 0 && n > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// field returns a top-level string field of the captured JSON body, or ""
// when the body was not JSON, was cut off, or has no such string.
func (c *bodyCapture) field(name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(c.buf.Bytes(), &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[name], &s) != nil {
		return ""
	}
	return truncate(s, maxAuditTarget)
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// auditLog serves GET /v1/audit?limit=N, newest first.
func (h *handler) auditLog(w http.ResponseWriter, r *http.Request) error {
	limit := DefaultAuditLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxAuditLimit {
			return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
				msg:    fmt.Sprintf("limit: must be a whole number in [1,%d], got %q", MaxAuditLimit, s),
				fields: []policy.FieldError{{Path: "limit", Message: fmt.Sprintf("must be a whole number in [1,%d]", MaxAuditLimit)}}}
		}
		limit = n
	}
	entries, err := h.b.AuditLog(r.Context(), limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	h.writeJSON(w, r, http.StatusOK, AuditList{Entries: entries})
	return nil
}

// AuditLog returns up to limit audit entries, newest first (GET /v1/audit;
// admin role). limit 0 asks for the server's default.
func (c *Client) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	path := "/v1/audit"
	if limit > 0 {
		path += "?" + url.Values{"limit": {strconv.Itoa(limit)}}.Encode()
	}
	var l AuditList
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &l); err != nil {
		return nil, err
	}
	return l.Entries, nil
}

// AuditRefusal is the body of POST /v1/audit, which only nodes send: a
// write that a follower refused with 403 (it refuses without forwarding
// the write), relayed to the leader for the audit log since a follower
// cannot commit. The leader takes it only from a node (its node
// certificate, or the node token in NodeTokenHeader), and records it only
// if the token it names exists and its role may indeed not make the write.
type AuditRefusal struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Source is the client's address as the follower saw it.
	Source string `json:"source"`
	// Token is the name of the refused caller's token ("" when it had
	// none the follower could name).
	Token string `json:"token,omitempty"`
	// Time is when the follower refused the write; a refusal relayed late
	// (no leader at the time) keeps its own time.
	Time time.Time `json:"time,omitzero"`
}

// fromProvenNode reports whether a node (not a client posing as one) sent r.
func fromProvenNode(r *http.Request) bool {
	_, ok := fromNode(r)
	return ok
}

// refusalOf is the relay body of a 403 this node decided.
func refusalOf(r *http.Request, e AuditEntry) AuditRefusal {
	return AuditRefusal{Method: e.Method, Path: r.URL.EscapedPath(), Source: e.Source, Token: e.Token, Time: time.Now().UTC()}
}

// sendRefusal hands a refusal to whoever records it: this node's backend
// when it leads, the leader's POST /v1/audit otherwise.
func (h *handler) sendRefusal(ctx context.Context, ref AuditRefusal) error {
	self, addr, err := h.b.Leader(ctx, 0)
	switch {
	case err != nil:
		return err
	case self:
		e, err := h.refusalEntry(ref, "", "")
		if err != nil {
			return err
		}
		return h.b.Audit(ctx, e)
	case addr == "":
		return fmt.Errorf("%w: the leader's HTTP address is not known yet", ErrNoLeader)
	}
	return h.relayRefusal(ctx, addr, ref)
}

// relayRefusal sends a follower's 403 to the leader's POST /v1/audit,
// authenticated as a node (setNodeHeaders; the node token is also the
// bearer token, since the route needs the admin role).
func (h *handler) relayRefusal(ctx context.Context, addr string, ref AuditRefusal) error {
	target, err := leaderURL(addr, &url.URL{Path: "/v1/audit"})
	if err != nil {
		return err
	}
	body, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	out, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	out.Header.Set("Content-Type", "application/json")
	h.setNodeHeaders(out, out)
	if h.nodeSecret != "" {
		out.Header.Set("Authorization", "Bearer "+h.nodeSecret)
	}
	resp, err := h.hc.Do(out)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the leader answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// recordRefusal serves POST /v1/audit on the leader: it records a 403 a
// follower relayed (see AuditRefusal). Only a node may send it.
func (h *handler) recordRefusal(w http.ResponseWriter, r *http.Request) error {
	by, ok := fromNode(r)
	if !ok {
		return &apiError{status: http.StatusForbidden, code: CodeForbidden,
			msg: "POST /v1/audit is how nodes relay refused writes to the leader; only a node may send it (its node certificate, or the node token in " + NodeTokenHeader + ")"}
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readBody(w, r, maxAuditBody)
	if err != nil {
		return err
	}
	var req AuditRefusal
	if err := decodeStrict(data, "", &req); err != nil {
		return err
	}
	e, err := h.refusalEntry(req, by, r.RemoteAddr)
	if err != nil {
		return err
	}
	if err := h.b.Audit(r.Context(), e); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refusalEntry checks a relayed refusal and makes its entry: the write
// must be an audited route, and the token it names must exist and be of
// a role that may not make it (with authentication on).
func (h *handler) refusalEntry(req AuditRefusal, by, via string) (AuditEntry, error) {
	rt, target, ok := h.auditedRoute(req.Method, req.Path)
	if !ok {
		return AuditEntry{}, &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg:    fmt.Sprintf("%s %s is not an audited write", truncate(req.Method, 16), truncate(req.Path, maxAuditPath)),
			fields: []policy.FieldError{{Path: "path", Message: "must be the path of an audited write"}}}
	}
	if h.auth != nil {
		role, known := h.auth.RoleOf(req.Token)
		if !known {
			return AuditEntry{}, &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
				msg:    fmt.Sprintf("token: no token is named %q", truncate(req.Token, maxAuditTarget)),
				fields: []policy.FieldError{{Path: "token", Message: "must name an existing token"}}}
		}
		if role.Allows(rt.role) {
			return AuditEntry{}, &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
				msg: fmt.Sprintf("token %q may make %s %s; there is no refusal to record", req.Token, rt.method, rt.path)}
		}
	}
	action, _, _ := auditAction(rt.method, rt.path)
	path, err := url.PathUnescape(req.Path)
	if err != nil {
		path = req.Path
	}
	// Role stays empty, as in a 403 recorded on the leader itself: the
	// token's role is what the refusal is about, not who acted.
	return AuditEntry{Time: req.Time, Node: h.nodeID, Token: truncate(req.Token, maxAuditTarget), Source: truncate(req.Source, maxAuditTarget),
		ForwardedBy: truncate(by, maxAuditTarget), Via: via, Method: rt.method, Path: truncate(path, maxAuditPath),
		Action: action, Target: target, Status: http.StatusForbidden, Code: CodeForbidden}, nil
}

// auditedRoute finds the audited route that serves method and path, and
// the value of its path parameter (the policy id, member id or token
// name; "" for routes without one).
func (h *handler) auditedRoute(method, path string) (route, string, bool) {
	for _, rt := range h.routes() {
		if rt.method != method {
			continue
		}
		if _, _, ok := auditAction(rt.method, rt.path); !ok {
			continue
		}
		if v, ok := matchPattern(rt.path, path); ok {
			return rt, truncate(v, maxAuditTarget), true
		}
	}
	return route{}, "", false
}

// matchPattern matches a path against a route pattern whose wildcards
// ({name}) each stand for one non-empty segment, and returns the last
// wildcard's value.
func matchPattern(pattern, path string) (string, bool) {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return "", false
	}
	var value string
	for i, p := range ps {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			v, err := url.PathUnescape(xs[i])
			if err != nil || v == "" {
				return "", false
			}
			value = v
		case p != xs[i]:
			return "", false
		}
	}
	return value, true
}
