package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// TokenBackend is the part of the Backend that keeps API-created tokens,
// replicated through Raft. Only hashes ever reach it.
type TokenBackend interface {
	// CreateToken commits a new token; ErrConflict when an API token has
	// the name already.
	CreateToken(ctx context.Context, t auth.Token) error
	// DeleteToken removes an API token; ErrNotFound when none has the name.
	DeleteToken(ctx context.Context, name string) error
	// ListTokens returns the API-created tokens, sorted by name.
	ListTokens(ctx context.Context) ([]auth.Token, error)
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	// Name identifies the token in logs and listings; it must not be used
	// by another token, from the token file or the API.
	Name string `json:"name"`
	// Role is read, write or admin.
	Role string `json:"role"`
	// Rate and Burst override the agents' default request rate limit
	// (per second, on each node); 0 or absent keeps the default.
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// TokenCreated is the answer to POST /v1/tokens: the only time the secret
// is ever shown.
type TokenCreated struct {
	TokenInfo
	// Secret is the bearer token to give to the client. Capstan keeps only
	// its hash: a lost secret cannot be shown again, only replaced.
	Secret string `json:"secret"`
}

// TokenInfo describes a token without its secret or hash.
type TokenInfo struct {
	Name  string  `json:"name"`
	Role  string  `json:"role"`
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
	// Origin is "file" (the agents' token file or config) or "api".
	Origin string `json:"origin"`
	// CreatedAt is when an API token was created; absent for file tokens.
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// TokenList is the body of GET /v1/tokens.
type TokenList struct {
	Tokens []TokenInfo `json:"tokens"`
}

func tokenInfo(t auth.Token) TokenInfo {
	info := TokenInfo{Name: t.Name, Role: string(t.Role), Rate: t.Rate, Burst: t.Burst, Origin: t.Origin}
	if !t.CreatedAt.IsZero() {
		c := t.CreatedAt
		info.CreatedAt = &c
	}
	return info
}

// errAuthOff refuses token management on a node that checks no tokens.
var errAuthOff = &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
	msg: "authentication is off on this node (--insecure-no-auth): tokens would not be checked, so none are created; start the agents with --token-file"}

// createToken makes a token with a new secret. It runs on the leader (the
// route is a write), so the file tokens checked for a name collision are
// the leader's.
func (h *handler) createToken(w http.ResponseWriter, r *http.Request) error {
	if h.auth == nil {
		return errAuthOff
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		return err
	}
	var req TokenRequest
	if err := decodeStrict(data, "", &req); err != nil {
		return err
	}
	var fields []policy.FieldError
	if err := auth.ValidateName(req.Name); err != nil {
		fields = append(fields, policy.FieldError{Path: "name", Message: err.Error()})
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		fields = append(fields, policy.FieldError{Path: "role", Message: err.Error()})
	}
	if field, err := auth.ValidateLimits(req.Rate, req.Burst); err != nil {
		fields = append(fields, policy.FieldError{Path: field, Message: err.Error()})
	}
	if len(fields) > 0 {
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest,
			msg: "invalid token request: " + joinFields(fields), fields: fields}
	}
	if h.auth.IsFileToken(req.Name) {
		return &apiError{status: http.StatusConflict, code: CodeConflict,
			msg:    fmt.Sprintf("token name %q is used by a token in the token file; choose another name", req.Name),
			fields: []policy.FieldError{{Path: "name", Message: "already used by a file token"}}}
	}
	secret, err := auth.GenerateSecret()
	if err != nil {
		return err
	}
	tok := auth.Token{Name: req.Name, Role: role, Hash: auth.HashSecret(secret), Rate: req.Rate, Burst: req.Burst,
		Origin: auth.OriginAPI, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := h.b.CreateToken(r.Context(), tok); err != nil {
		return err
	}
	attrs := []slog.Attr{slog.String("token", tok.Name), slog.String("role", string(tok.Role))}
	if id, ok := auth.FromContext(r.Context()); ok {
		attrs = append(attrs, slog.String("by", id.Name))
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "api token created", attrs...)
	// The secret must not linger in caches between here and the client.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/v1/tokens/"+url.PathEscape(tok.Name))
	h.writeJSON(w, r, http.StatusCreated, TokenCreated{TokenInfo: tokenInfo(tok), Secret: secret})
	return nil
}

// listTokens lists the file tokens this node knows and the API tokens.
func (h *handler) listTokens(w http.ResponseWriter, r *http.Request) error {
	api, err := h.b.ListTokens(r.Context())
	if err != nil {
		return err
	}
	out := TokenList{Tokens: []TokenInfo{}}
	var file []auth.Token
	if h.auth != nil {
		file = h.auth.FileTokens()
	}
	for _, t := range file {
		out.Tokens = append(out.Tokens, tokenInfo(t))
	}
	for _, t := range api {
		out.Tokens = append(out.Tokens, tokenInfo(t))
	}
	slices.SortStableFunc(out.Tokens, func(a, b TokenInfo) int { return strings.Compare(a.Name, b.Name) })
	h.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// deleteToken revokes an API token. A file token cannot be revoked here:
// every node reads it from its own file.
func (h *handler) deleteToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.b.DeleteToken(r.Context(), name)
	if errors.Is(err, ErrNotFound) && h.auth != nil && h.auth.IsFileToken(name) {
		return &apiError{status: http.StatusConflict, code: CodeConflict, err: err,
			msg: fmt.Sprintf("token %q comes from the token file; remove it from every agent's token file and send them SIGHUP", name)}
	}
	if err != nil {
		return err
	}
	attrs := []slog.Attr{slog.String("token", name)}
	if id, ok := auth.FromContext(r.Context()); ok {
		attrs = append(attrs, slog.String("by", id.Name))
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "api token deleted", attrs...)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
