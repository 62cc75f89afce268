package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/metrics/promtest"
	"github.com/capstan-io/capstan/policy"
)

// keyring is a set of file tokens with known secrets, one per role.
type keyring struct {
	secret map[string]string // token name → secret
	tokens []auth.Token
}

func newKeyring(t *testing.T, specs ...auth.Token) keyring {
	t.Helper()
	k := keyring{secret: map[string]string{}}
	for _, s := range specs {
		secret, err := auth.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		s.Hash = auth.HashSecret(secret)
		k.secret[s.Name] = secret
		k.tokens = append(k.tokens, s)
	}
	return k
}

func defaultKeyring(t *testing.T) keyring {
	return newKeyring(t, auth.Token{Name: "reader", Role: auth.RoleRead}, auth.Token{Name: "writer", Role: auth.RoleWrite},
		auth.Token{Name: "boss", Role: auth.RoleAdmin})
}

func (k keyring) bearer(name string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + k.secret[name]}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newTokenNode is an API node that checks tokens from k (and the API
// tokens its backend holds), logging at debug into logs when given.
func newTokenNode(t *testing.T, id string, k keyring, logs *syncBuffer, opts auth.Options) *node {
	t.Helper()
	var n *node
	n = newNode(t, id, func(o *api.Options) {
		opts.Load = func() ([]auth.Token, error) { return k.tokens, nil }
		opts.Source = o.Backend.(*apitest.Backend)
		a, err := auth.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = a
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
	return n
}

// routeCases is one request per route, with the role it needs.
var routeCases = []struct {
	method, path, body string
	need               auth.Role
}{
	{"GET", "/v1/policies", "", auth.RoleRead},
	{"GET", "/v1/policies/web", "", auth.RoleRead},
	{"GET", "/v1/policies/web/decisions", "", auth.RoleRead},
	{"GET", "/v1/policies/web/state", "", auth.RoleRead},
	{"GET", "/v1/policies/web/history?format=csv", "", auth.RoleRead},
	{"POST", "/v1/policies/web/simulate", webJSON, auth.RoleRead},
	{"GET", "/v1/cluster", "", auth.RoleRead},
	{"GET", "/metrics", "", auth.RoleRead},
	{"GET", api.OpenAPIPath, "", auth.RoleRead},
	{"PUT", "/v1/policies/web", webJSON, auth.RoleWrite},
	{"DELETE", "/v1/policies/web", "", auth.RoleWrite},
	{"POST", "/v1/metrics", `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}`, auth.RoleWrite},
	{"POST", "/api/v1/write", "", auth.RoleWrite},
	{"POST", "/v1/cluster/join", `{"id":"n9","raft_addr":"127.0.0.1:9","http_addr":"127.0.0.1:10"}`, auth.RoleAdmin},
	{"DELETE", "/v1/cluster/members/n1", "", auth.RoleAdmin},
	{"GET", "/v1/tokens", "", auth.RoleAdmin},
	{"POST", "/v1/tokens", `{"name":"x","role":"read"}`, auth.RoleAdmin},
	{"DELETE", "/v1/tokens/x", "", auth.RoleAdmin},
}

func TestEveryRouteNeedsItsRole(t *testing.T) {
	k := defaultKeyring(t)
	n := newTokenNode(t, "n1", k, nil, auth.Options{})
	if _, err := n.b.PutPolicy(t.Context(), mustParse(t, webJSON), ""); err != nil {
		t.Fatal(err)
	}
	roles := map[auth.Role]string{auth.RoleRead: "reader", auth.RoleWrite: "writer", auth.RoleAdmin: "boss"}
	for _, rc := range routeCases {
		t.Run(rc.method+" "+rc.path, func(t *testing.T) {
			before := n.b.Writes()
			hdr := map[string]string{"Content-Type": "application/json"}
			// No token: 401 with a challenge.
			r := send(t, rc.method, n.srv.URL+rc.path, hdr, rc.body)
			if r.status != 401 || r.errBody(t).Code != api.CodeUnauthenticated || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("no token: %d %s %v", r.status, r.body, r.header)
			}
			// A wrong token: 401, and the token is not echoed.
			wrong, _ := auth.GenerateSecret()
			hdr["Authorization"] = "Bearer " + wrong
			r = send(t, rc.method, n.srv.URL+rc.path, hdr, rc.body)
			if r.status != 401 || strings.Contains(string(r.body), wrong) {
				t.Fatalf("wrong token: %d %s", r.status, r.body)
			}
			// Each role below the one needed: 403 naming the route's role.
			for role, name := range roles {
				if role.Allows(rc.need) {
					continue
				}
				hdr["Authorization"] = "Bearer " + k.secret[name]
				r = send(t, rc.method, n.srv.URL+rc.path, hdr, rc.body)
				e := r.errBody(t)
				if r.status != 403 || e.Code != api.CodeForbidden || !strings.Contains(e.Message, "needs role "+string(rc.need)) ||
					!strings.Contains(e.Message, rc.method+" ") || !strings.Contains(e.Message, name) {
					t.Fatalf("role %s: %d %+v", role, r.status, e)
				}
			}
			if got := n.b.Writes(); got != before {
				t.Fatalf("refused requests changed state: %d writes, want %d", got, before)
			}
			// The role needed (and every higher one) gets past auth.
			for role, name := range roles {
				if !role.Allows(rc.need) {
					continue
				}
				hdr["Authorization"] = "Bearer " + k.secret[name]
				r = send(t, rc.method, n.srv.URL+rc.path, hdr, rc.body)
				if r.status == 401 || r.status == 403 || r.status == 429 {
					t.Fatalf("role %s refused: %d %s", role, r.status, r.body)
				}
			}
		})
	}
}

func TestProbesAreOpen(t *testing.T) {
	n := newTokenNode(t, "n1", defaultKeyring(t), nil, auth.Options{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := send(t, "GET", n.srv.URL+p, nil, ""); r.status != 200 {
			t.Fatalf("%s without a token: %d %s", p, r.status, r.body)
		}
	}
}

func TestRateLimitedAnswers429WithRetryAfter(t *testing.T) {
	k := newKeyring(t, auth.Token{Name: "slow", Role: auth.RoleRead, Rate: 0.5, Burst: 2}, auth.Token{Name: "other", Role: auth.RoleRead})
	n := newTokenNode(t, "n1", k, nil, auth.Options{DefaultRate: 1000, DefaultBurst: 1000})
	for i := range 2 {
		if r := send(t, "GET", n.srv.URL+"/v1/policies", k.bearer("slow"), ""); r.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := send(t, "GET", n.srv.URL+"/v1/policies", k.bearer("slow"), "")
	e := r.errBody(t)
	if r.status != 429 || e.Code != api.CodeRateLimited || !strings.Contains(e.Message, `"slow"`) {
		t.Fatalf("over the limit: %d %+v", r.status, e)
	}
	if ra := r.header.Get("Retry-After"); ra != "2" && ra != "1" {
		t.Fatalf("Retry-After %q, want whole seconds (2 at 0.5/s)", ra)
	}
	// Another token is not affected.
	if r := send(t, "GET", n.srv.URL+"/v1/policies", k.bearer("other"), ""); r.status != 200 {
		t.Fatalf("another token: %d", r.status)
	}
	var ae *api.Error
	_, err := api.NewClient(n.srv.URL, nil, api.WithToken(k.secret["slow"])).ListPolicies(t.Context())
	if !errors.As(err, &ae) || !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("client error %v: want one that errors.Is auth.ErrRateLimited", err)
	}
}

// TestFollowerAuthenticatesBeforeForwarding: a follower refuses a bad
// write itself, and forwards a good one with its Authorization header,
// which the leader checks again against its own tokens.
func TestFollowerAuthenticatesBeforeForwarding(t *testing.T) {
	k := defaultKeyring(t)
	leader := newTokenNode(t, "leader", k, nil, auth.Options{})
	follower := newTokenNode(t, "follower", k, nil, auth.Options{})
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	// A leader that knows only the admin token: what the follower forwards
	// must be judged by the leader too.
	strict := newTokenNode(t, "strict", keyring{secret: k.secret, tokens: k.tokens[2:]}, nil, auth.Options{})
	follower2 := newTokenNode(t, "follower2", k, nil, auth.Options{})
	follower2.b.SetLeader(false, strings.TrimPrefix(strict.srv.URL, "http://"))

	hdr := func(name string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		if name != "" {
			h["Authorization"] = "Bearer " + k.secret[name]
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		via    *node
		token  string
		status int
		code   string
	}{
		{"no token", follower, "", 401, api.CodeUnauthenticated},
		{"read role", follower, "reader", 403, api.CodeForbidden},
		{"write role", follower, "writer", 200, ""},
		{"leader does not know the token", follower2, "writer", 401, api.CodeUnauthenticated},
		{"leader knows it", follower2, "boss", 200, ""},
	} {
		r := send(t, "PUT", tc.via.srv.URL+"/v1/policies/web", hdr(tc.token), webJSON)
		if r.status != tc.status || (tc.code != "" && r.errBody(t).Code != tc.code) {
			t.Fatalf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	if leader.b.Writes() != 1 || strict.b.Writes() != 1 || follower.b.Writes() != 0 {
		t.Fatalf("writes: leader %d strict %d follower %d; want 1, 1, 0", leader.b.Writes(), strict.b.Writes(), follower.b.Writes())
	}
	if got := promtest.Sum(t, leader.reg, "capstan_api_requests_total", map[string]string{"route": "/v1/policies/{id}", "method": "PUT"}); got != 1 {
		t.Fatalf("the leader saw %v PUTs; refused ones must not be forwarded", got)
	}
}

func TestLogsNameTokensNeverSecrets(t *testing.T) {
	k := defaultKeyring(t)
	var logs syncBuffer
	n := newTokenNode(t, "n1", k, &logs, auth.Options{})
	putWebWith(t, n, k.secret["writer"])
	send(t, "PUT", n.srv.URL+"/v1/policies/web", k.bearer("reader"), webJSON)
	wrong, _ := auth.GenerateSecret()
	send(t, "GET", n.srv.URL+"/v1/policies", map[string]string{"Authorization": "Bearer " + wrong}, "")
	created := createToken(t, n, k.secret["boss"], `{"name":"ci","role":"write"}`)
	send(t, "GET", n.srv.URL+"/v1/policies", map[string]string{"Authorization": "Bearer " + created.Secret}, "")
	out := logs.String()
	for _, want := range []string{"token=writer", "token=reader", "token=ci", `"api token created"`, "by=boss"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, s := range []string{k.secret["writer"], k.secret["reader"], k.secret["boss"], wrong, created.Secret} {
		if strings.Contains(out, s) {
			t.Fatalf("a secret reached the log:\n%s", out)
		}
	}
}

func putWebWith(t *testing.T, n *node, secret string) {
	t.Helper()
	r := send(t, "PUT", n.srv.URL+"/v1/policies/web", map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}, webJSON)
	if r.status != 200 {
		t.Fatalf("PUT web: %d %s", r.status, r.body)
	}
}

func createToken(t *testing.T, n *node, admin, body string) api.TokenCreated {
	t.Helper()
	r := send(t, "POST", n.srv.URL+"/v1/tokens", map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}, body)
	if r.status != 201 {
		t.Fatalf("POST /v1/tokens %s: %d %s", body, r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("a response with a secret must not be cached: Cache-Control %q", r.header.Get("Cache-Control"))
	}
	var out api.TokenCreated
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTokenAPI(t *testing.T) {
	k := defaultKeyring(t)
	n := newTokenNode(t, "n1", k, nil, auth.Options{})
	admin := api.NewClient(n.srv.URL, nil, api.WithToken(k.secret["boss"]))

	created, err := admin.CreateToken(t.Context(), api.TokenRequest{Name: "ci", Role: "write", Rate: 5, Burst: 9})
	if err != nil {
		t.Fatal(err)
	}
	if !auth.LooksLikeSecret(created.Secret) || created.Origin != auth.OriginAPI || created.CreatedAt == nil || created.Role != "write" || created.Rate != 5 || created.Burst != 9 {
		t.Fatalf("created %+v", created)
	}
	stored := n.b.APITokens()
	if len(stored) != 1 || stored[0].Hash != auth.HashSecret(created.Secret) || strings.Contains(stored[0].Hash, created.Secret) {
		t.Fatalf("the backend must hold the hash only: %+v", stored)
	}
	// The new token works at once, with its role.
	ci := api.NewClient(n.srv.URL, nil, api.WithToken(created.Secret))
	if _, err := ci.ListPolicies(t.Context()); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if _, err := ci.ListTokens(t.Context()); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a write token listing tokens: %v, want forbidden", err)
	}

	list, err := admin.ListTokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ti := range list {
		got = append(got, ti.Name+":"+ti.Role+":"+ti.Origin)
	}
	if strings.Join(got, " ") != "boss:admin:file ci:write:api reader:read:file writer:write:file" {
		t.Fatalf("list: %v", got)
	}
	raw := send(t, "GET", n.srv.URL+"/v1/tokens", k.bearer("boss"), "")
	if bytes.Contains(raw.body, []byte("sha256:")) || bytes.Contains(raw.body, []byte("capstan_")) {
		t.Fatalf("the list shows hashes or secrets: %s", raw.body)
	}

	writes := n.b.Writes()
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"name of a file token", `{"name":"writer","role":"read"}`, 409, "name"},
		{"name of an API token", `{"name":"ci","role":"read"}`, 409, ""},
		{"bad role", `{"name":"x","role":"root"}`, 400, "role"},
		{"bad name", `{"name":"a b","role":"read"}`, 400, "name"},
		{"negative rate", `{"name":"x","role":"read","rate":-1}`, 400, "rate"},
		{"unknown field", `{"name":"x","role":"read","secret":"capstan_mine"}`, 400, "secret"},
	} {
		r := send(t, "POST", n.srv.URL+"/v1/tokens", map[string]string{"Authorization": "Bearer " + k.secret["boss"]}, tc.body)
		e := r.errBody(t)
		if r.status != tc.status || (tc.field != "" && (len(e.Fields) == 0 || e.Fields[0].Path != tc.field)) {
			t.Fatalf("%s: %d %+v", tc.name, r.status, e)
		}
	}
	if n.b.Writes() != writes {
		t.Fatal("refused token requests changed state")
	}

	// A file token cannot be deleted through the API; an unknown one is 404.
	if err := admin.DeleteToken(t.Context(), "writer"); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "token file") {
		t.Fatalf("delete a file token: %v", err)
	}
	if err := admin.DeleteToken(t.Context(), "nobody"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("delete an unknown token: %v", err)
	}
	if err := admin.DeleteToken(t.Context(), "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.ListPolicies(t.Context()); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a deleted token still works: %v", err)
	}
}

func TestTokenCreationRefusedWithAuthOff(t *testing.T) {
	n := newNode(t, "n1", nil)
	r := send(t, "POST", n.srv.URL+"/v1/tokens", nil, `{"name":"ci","role":"write"}`)
	if r.status != 400 || !strings.Contains(r.errBody(t).Message, "--insecure-no-auth") || n.b.Writes() != 0 {
		t.Fatalf("create with auth off: %d %s", r.status, r.body)
	}
	// Everything else works without a token when auth is off.
	if r := send(t, "GET", n.srv.URL+"/v1/tokens", nil, ""); r.status != 200 {
		t.Fatalf("list with auth off: %d %s", r.status, r.body)
	}
}

func TestClientSendsToken(t *testing.T) {
	k := defaultKeyring(t)
	n := newTokenNode(t, "n1", k, nil, auth.Options{})
	if _, err := api.NewClient(n.srv.URL, nil).ListPolicies(t.Context()); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("without a token: %v", err)
	}
	c := api.NewClient(n.srv.URL, &http.Client{Timeout: 5 * time.Second}, api.WithToken(k.secret["reader"]))
	if _, err := c.ListPolicies(t.Context()); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	if err := c.DeletePolicy(t.Context(), "web", ""); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("read token deleting: %v", err)
	}
}

func mustParse(t *testing.T, doc string) policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
