package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture is a set of tokens with known secrets.
type fixture struct {
	secrets map[string]string // name → secret
	tokens  []Token
}

func newFixture(t *testing.T, specs ...Token) fixture {
	t.Helper()
	f := fixture{secrets: map[string]string{}}
	for _, s := range specs {
		secret, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		s.Hash = HashSecret(secret)
		f.secrets[s.Name] = secret
		f.tokens = append(f.tokens, s)
	}
	return f
}

func request(header string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/policies", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

// staticSource is a Source whose tokens a test sets.
type staticSource struct{ p atomic.Pointer[[]Token] }

func (s *staticSource) set(ts []Token)     { s.p.Store(&ts) }
func (s *staticSource) APITokens() []Token { return *s.p.Load() }

func TestAuthenticateRolesAndFailures(t *testing.T) {
	f := newFixture(t, Token{Name: "reader", Role: RoleRead}, Token{Name: "writer", Role: RoleWrite}, Token{Name: "boss", Role: RoleAdmin})
	api := newFixture(t, Token{Name: "made-by-api", Role: RoleWrite, Origin: OriginAPI})
	src := &staticSource{}
	src.set(api.tokens)
	a, err := New(Options{Load: func() ([]Token, error) { return f.tokens, nil }, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := GenerateSecret()
	for _, tc := range []struct {
		name, header string
		need         Role
		kind         error
		who          Identity
		msg          []string
	}{
		{"no header", "", RoleRead, ErrUnauthenticated, Identity{}, []string{"no token", "Authorization: Bearer"}},
		{"basic scheme", "Basic dXNlcjpwYXNz", RoleRead, ErrUnauthenticated, Identity{}, []string{"Bearer scheme"}},
		{"not a capstan token", "Bearer hunter2", RoleRead, ErrUnauthenticated, Identity{}, []string{"not a Capstan token"}},
		{"unknown token", "Bearer " + unknown, RoleRead, ErrUnauthenticated, Identity{}, []string{"not valid"}},
		{"read on read", "Bearer " + f.secrets["reader"], RoleRead, nil, Identity{"reader", RoleRead}, nil},
		{"read on write", "Bearer " + f.secrets["reader"], RoleWrite, ErrForbidden, Identity{}, []string{`"reader"`, "role read", "needs role write"}},
		{"write on write", "bearer " + f.secrets["writer"], RoleWrite, nil, Identity{"writer", RoleWrite}, nil},
		{"write on admin", "Bearer " + f.secrets["writer"], RoleAdmin, ErrForbidden, Identity{}, []string{"needs role admin"}},
		{"admin on read", "Bearer  " + f.secrets["boss"] + " ", RoleRead, nil, Identity{"boss", RoleAdmin}, nil},
		{"api token", "Bearer " + api.secrets["made-by-api"], RoleWrite, nil, Identity{"made-by-api", RoleWrite}, nil},
		{"api token forbidden", "Bearer " + api.secrets["made-by-api"], RoleAdmin, ErrForbidden, Identity{}, []string{`"made-by-api"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authenticate(request(tc.header), tc.need)
			if tc.kind == nil {
				if err != nil || id != tc.who {
					t.Fatalf("got %+v, %v; want %+v", id, err, tc.who)
				}
				return
			}
			var ae *Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &ae) {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
			for _, w := range tc.msg {
				if !strings.Contains(ae.Msg, w) {
					t.Errorf("message %q lacks %q", ae.Msg, w)
				}
			}
			for _, s := range []string{f.secrets["reader"], f.secrets["writer"], f.secrets["boss"], unknown, "hunter2"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("message %q echoes a secret", err)
				}
			}
		})
	}
	// Revoking an API token takes effect on the next request.
	src.set(nil)
	if _, err := a.Authenticate(request("Bearer "+api.secrets["made-by-api"]), RoleRead); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked API token: %v", err)
	}
}

func TestNewRefusesNoTokensAndBadDefaults(t *testing.T) {
	if _, err := New(Options{Load: func() ([]Token, error) { return nil, nil }}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Fatalf("empty set: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("no Load: want an error")
	}
	f := newFixture(t, Token{Name: "a", Role: RoleAdmin})
	if _, err := New(Options{Load: func() ([]Token, error) { return f.tokens, nil }, DefaultRate: -1}); err == nil {
		t.Fatal("negative default rate: want an error")
	}
	loadErr := errors.New("disk on fire")
	if _, err := New(Options{Load: func() ([]Token, error) { return nil, loadErr }}); !errors.Is(err, loadErr) {
		t.Fatalf("load error not passed on: %v", err)
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	f := newFixture(t, Token{Name: "fast", Role: RoleRead}, Token{Name: "slow", Role: RoleRead, Rate: 0.25, Burst: 1})
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, err := New(Options{Load: func() ([]Token, error) { return f.tokens, nil }, DefaultRate: 2, DefaultBurst: 3, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	call := func(name string) error {
		_, err := a.Authenticate(request("Bearer "+f.secrets[name]), RoleRead)
		return err
	}
	// The default: a burst of 3, then 2 per second.
	for i := range 3 {
		if err := call("fast"); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	err = call("fast")
	var ae *Error
	if !errors.As(err, &ae) || !errors.Is(err, ErrRateLimited) || ae.RetryAfter != time.Second || ae.Token != "fast" {
		t.Fatalf("over the default limit: %+v", err)
	}
	if !strings.Contains(ae.Msg, "2 requests/s, burst 3") || !strings.Contains(ae.Msg, "retry after 1 s") {
		t.Errorf("message %q should say the limit and when to retry", ae.Msg)
	}
	// A refused request does not use up tokens: half a second later one
	// request is allowed again.
	advance(500 * time.Millisecond)
	if err := call("fast"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	// A token's own limit: one request per 4 s; Retry-After is whole seconds.
	if err := call("slow"); err != nil {
		t.Fatal(err)
	}
	advance(500 * time.Millisecond)
	if err := call("slow"); !errors.As(err, &ae) || ae.RetryAfter != 4*time.Second {
		t.Fatalf("slow token: %v (RetryAfter %v), want 4s (3.5 s rounded up)", err, ae.RetryAfter)
	}
	// Limits are per token: the slow token's limit leaves the fast one alone.
	advance(time.Second)
	if err := call("fast"); err != nil {
		t.Fatalf("fast after slow was limited: %v", err)
	}
}

func TestUnlimitedByDefault(t *testing.T) {
	f := newFixture(t, Token{Name: "a", Role: RoleRead})
	a, err := New(Options{Load: func() ([]Token, error) { return f.tokens, nil }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := a.Authenticate(request("Bearer "+f.secrets["a"]), RoleRead); err != nil {
			t.Fatalf("request %d with no limit set: %v", i, err)
		}
	}
}

func TestReloadKeepsOldSetOnError(t *testing.T) {
	first := newFixture(t, Token{Name: "old", Role: RoleAdmin})
	second := newFixture(t, Token{Name: "new", Role: RoleRead})
	var (
		mu      sync.Mutex
		current = first.tokens
		fail    error
	)
	load := func() ([]Token, error) {
		mu.Lock()
		defer mu.Unlock()
		return current, fail
	}
	var logs bytes.Buffer
	a, err := New(Options{Load: load, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(f fixture, name string) bool {
		_, err := a.Authenticate(request("Bearer "+f.secrets[name]), RoleRead)
		return err == nil
	}
	// A bad file: the old set stays.
	mu.Lock()
	fail = errors.New("line 3: tokens[0].role: must be read, write or admin")
	mu.Unlock()
	if err := a.Reload(); err == nil {
		t.Fatal("Reload of a bad file: want an error")
	}
	if !ok(first, "old") || !strings.Contains(logs.String(), "keeping the previous set") {
		t.Fatalf("after a failed reload the old token must still work and the failure be logged:\n%s", logs.String())
	}
	// An empty file is refused too: it would lock everyone out.
	mu.Lock()
	current, fail = nil, nil
	mu.Unlock()
	if err := a.Reload(); err == nil || !ok(first, "old") {
		t.Fatalf("reload to no tokens: %v", err)
	}
	// A good file replaces the set.
	mu.Lock()
	current = second.tokens
	mu.Unlock()
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if ok(first, "old") || !ok(second, "new") {
		t.Fatal("after a good reload only the new tokens may work")
	}
	if !a.IsFileToken("new") || a.IsFileToken("old") || len(a.FileTokens()) != 1 || a.FileTokens()[0].Origin != OriginFile {
		t.Fatalf("file tokens after reload: %+v", a.FileTokens())
	}
	for _, s := range []string{first.secrets["old"], second.secrets["new"]} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("a secret reached the log:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "names=new") {
		t.Errorf("the reload log line should name the tokens:\n%s", logs.String())
	}
}

// TestConcurrentAuthenticateAndReload is for the race detector: requests
// are checked while the set is reloaded and the API tokens change.
func TestConcurrentAuthenticateAndReload(t *testing.T) {
	f := newFixture(t, Token{Name: "a", Role: RoleAdmin}, Token{Name: "b", Role: RoleRead, Rate: 1e6})
	src := &staticSource{}
	src.set(nil)
	a, err := New(Options{Load: func() ([]Token, error) { return f.tokens, nil }, Source: src, DefaultRate: 1e6, DefaultBurst: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := []string{"a", "b"}[i%2]
			for range 200 {
				if _, err := a.Authenticate(request("Bearer "+f.secrets[name]), RoleRead); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := a.Reload(); err != nil {
				t.Error(err)
			}
			src.set([]Token{{Name: "x", Role: RoleRead, Hash: testHash, Origin: OriginAPI}})
		}
	})
	wg.Wait()
}

func TestContextIdentity(t *testing.T) {
	if _, ok := FromContext(t.Context()); ok {
		t.Fatal("an empty context has no identity")
	}
	ctx := NewContext(t.Context(), Identity{Name: "ci", Role: RoleWrite})
	if id, ok := FromContext(ctx); !ok || id != (Identity{Name: "ci", Role: RoleWrite}) {
		t.Fatalf("FromContext: %+v %v", id, ok)
	}
}

func TestTransportAddsTokenUnlessPresent(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &Transport{Secret: "capstan_node"}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := hc.Do(req); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Authorization") != "" {
		t.Fatal("the transport modified the caller's request")
	}
	req2, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req2.Header.Set("Authorization", "Bearer capstan_client")
	if _, err := hc.Do(req2); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "Bearer capstan_node" || got[1] != "Bearer capstan_client" {
		t.Fatalf("headers seen: %q", got)
	}
}
