package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Sentinels for errors.Is on an *Error's kind.
var (
	// ErrUnauthenticated: no token, a malformed header, or a token this
	// node does not know (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: a known token whose role is too low for the route (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: the token is over its request rate (429).
	ErrRateLimited = errors.New("rate limited")
)

// Error is why a request was refused. Its message says what is missing or
// which role the route needs; it never contains the secret.
type Error struct {
	// Kind is ErrUnauthenticated, ErrForbidden or ErrRateLimited.
	Kind error
	// Msg is the explanation for the client.
	Msg string
	// Token names the token when one was recognised.
	Token string
	// RetryAfter is how long a rate-limited client should wait.
	RetryAfter time.Duration
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

// Identity is who made a request, as the audit trail and logs name it.
type Identity struct {
	// Name is the token's name.
	Name string
	// Role is the token's role.
	Role Role
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity an authenticated request carries; ok is
// false when the request was not authenticated (auth off, or an open
// route such as /healthz).
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Source supplies tokens that change at run time (those created through
// the API and replicated through Raft). APITokens is called on every
// request, so it must be cheap and must not modify the slice it returns
// later (copy on write).
type Source interface {
	APITokens() []Token
}

// Options configure an Authenticator.
type Options struct {
	// Load returns the file tokens (the token file's and the config's).
	// New calls it once, and Reload on every SIGHUP. Required.
	Load func() ([]Token, error)
	// Source supplies the API-created tokens; nil has none.
	Source Source
	// DefaultRate is the request rate (per second, per token, per node)
	// of tokens that set none; 0 means unlimited.
	DefaultRate float64
	// DefaultBurst is the burst of tokens that set none; 0 means the rate
	// rounded up (at least 1).
	DefaultBurst int
	// Logger receives reload results; token names only, never secrets.
	// nil discards.
	Logger *slog.Logger
	// Now is the rate limiters' clock; nil is time.Now.
	Now func() time.Time
}

// Authenticator checks bearer tokens. It is safe for concurrent use;
// Reload swaps the file tokens atomically while requests are served.
type Authenticator struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	file atomic.Pointer[[]Token]

	mu       sync.Mutex
	limiters map[string]*limiter
}

// limiter is one token's rate limiter with the settings it was made with,
// so a reload that changes them makes a new one.
type limiter struct {
	lim   *rate.Limiter
	rate  float64
	burst int
}

// New returns an Authenticator over the tokens opts.Load returns. It
// refuses a set with no token at all when there is no Source either:
// nobody could ever call the API.
func New(opts Options) (*Authenticator, error) {
	if opts.Load == nil {
		return nil, errors.New("auth: Options.Load is required")
	}
	if _, err := ValidateLimits(opts.DefaultRate, opts.DefaultBurst); err != nil {
		return nil, fmt.Errorf("default token limits: %w", err)
	}
	a := &Authenticator{opts: opts, log: opts.Logger, now: opts.Now, limiters: map[string]*limiter{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	tokens, err := a.load()
	if err != nil {
		return nil, err
	}
	a.file.Store(&tokens)
	return a, nil
}

// load calls Load and checks the result.
func (a *Authenticator) load() ([]Token, error) {
	tokens, err := a.opts.Load()
	if err != nil {
		return nil, err
	}
	tokens, err = Merge(tokens)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("no tokens: the token file and the config define none")
	}
	for i := range tokens {
		tokens[i].Origin = OriginFile
	}
	return tokens, nil
}

// Reload reads the file tokens again. On error the previous set stays in
// force and the error is logged and returned.
func (a *Authenticator) Reload() error {
	tokens, err := a.load()
	if err != nil {
		a.log.Error("reloading the tokens failed; keeping the previous set", "err", err)
		return err
	}
	a.file.Store(&tokens)
	names := make([]string, len(tokens))
	for i, t := range tokens {
		names[i] = t.Name
	}
	a.log.Info("tokens reloaded", "count", len(tokens), "names", strings.Join(names, ","))
	return nil
}

// FileTokens returns a copy of the file tokens.
func (a *Authenticator) FileTokens() []Token { return slices.Clone(*a.file.Load()) }

// IsFileToken reports whether a file token has this name.
func (a *Authenticator) IsFileToken(name string) bool {
	return slices.ContainsFunc(*a.file.Load(), func(t Token) bool { return t.Name == name })
}

// Authenticate checks r's bearer token against the route's role need,
// then the token's rate limit, and returns who it is. The error is an
// *Error.
func (a *Authenticator) Authenticate(r *http.Request, need Role) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{}, &Error{Kind: ErrUnauthenticated,
			Msg: "no token: send the header Authorization: Bearer <token> (the capstan CLI takes --token or CAPSTAN_TOKEN)"}
	}
	scheme, secret, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Identity{}, &Error{Kind: ErrUnauthenticated,
			Msg: "the Authorization header must use the Bearer scheme: Authorization: Bearer <token>"}
	}
	secret = strings.TrimSpace(secret)
	if !LooksLikeSecret(secret) {
		return Identity{}, &Error{Kind: ErrUnauthenticated,
			Msg: "the bearer token is not a Capstan token (capstan_ followed by 43 characters)"}
	}
	tok, ok := a.lookup(secret)
	if !ok {
		return Identity{}, &Error{Kind: ErrUnauthenticated,
			Msg: "the bearer token is not valid here: unknown, revoked, or not in this node's token file"}
	}
	if wait, limited := a.limit(tok); limited {
		secs := int(math.Ceil(wait.Seconds()))
		return Identity{}, &Error{Kind: ErrRateLimited, Token: tok.Name, RetryAfter: time.Duration(secs) * time.Second,
			Msg: fmt.Sprintf("token %q is over its rate limit (%s); retry after %d s", tok.Name, a.describeLimit(tok), secs)}
	}
	if !tok.Role.Allows(need) {
		return Identity{}, &Error{Kind: ErrForbidden, Token: tok.Name,
			Msg: fmt.Sprintf("token %q has role %s; this needs role %s", tok.Name, tok.Role, need)}
	}
	return Identity{Name: tok.Name, Role: tok.Role}, nil
}

// Verify checks a secret the way Authenticate checks a bearer token, less
// the rate limit: the token must be known and its role must allow need.
// Nodes prove themselves to each other with it (the node token, an admin
// token), on requests whose Authorization header is the client's. The
// error is an *Error.
func (a *Authenticator) Verify(secret string, need Role) (Identity, error) {
	secret = strings.TrimSpace(secret)
	tok, ok := Token{}, false
	if LooksLikeSecret(secret) {
		tok, ok = a.lookup(secret)
	}
	if !ok {
		return Identity{}, &Error{Kind: ErrUnauthenticated, Msg: "the node token is not valid here"}
	}
	if !tok.Role.Allows(need) {
		return Identity{}, &Error{Kind: ErrForbidden, Token: tok.Name,
			Msg: fmt.Sprintf("token %q has role %s; this needs role %s", tok.Name, tok.Role, need)}
	}
	return Identity{Name: tok.Name, Role: tok.Role}, nil
}

// RoleOf is the role of the token named name, file or API; false when
// no token has that name.
func (a *Authenticator) RoleOf(name string) (Role, bool) {
	for _, t := range *a.file.Load() {
		if t.Name == name {
			return t.Role, true
		}
	}
	if a.opts.Source != nil {
		for _, t := range a.opts.Source.APITokens() {
			if t.Name == name {
				return t.Role, true
			}
		}
	}
	return "", false
}

// lookup finds the token whose hash is the secret's. Every stored hash is
// compared, in constant time, so timing tells nothing about which (or
// whether a) token matched. File tokens win over an API token with the
// same name.
func (a *Authenticator) lookup(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	var (
		found Token
		hit   int
	)
	check := func(list []Token) {
		for _, t := range list {
			d, ok := t.digest()
			if !ok {
				continue
			}
			if subtle.ConstantTimeCompare(d[:], sum[:]) == 1 && hit == 0 {
				found, hit = t, 1
			}
		}
	}
	check(*a.file.Load())
	if a.opts.Source != nil {
		check(a.opts.Source.APITokens())
	}
	return found, hit == 1
}

// effective returns a token's rate and burst after defaults; rate 0 is
// unlimited.
func (a *Authenticator) effective(t Token) (float64, int) {
	r, b := t.Rate, t.Burst
	if r == 0 {
		r = a.opts.DefaultRate
	}
	if b == 0 {
		b = a.opts.DefaultBurst
	}
	if b == 0 {
		b = max(1, int(math.Ceil(r)))
	}
	return r, b
}

func (a *Authenticator) describeLimit(t Token) string {
	r, b := a.effective(t)
	return fmt.Sprintf("%g requests/s, burst %d", r, b)
}

// limit takes one request from the token's limiter; it reports how long
// to wait when the token is over its limit.
func (a *Authenticator) limit(t Token) (time.Duration, bool) {
	r, b := a.effective(t)
	if r <= 0 {
		return 0, false
	}
	key := t.Origin + "/" + t.Name
	a.mu.Lock()
	l := a.limiters[key]
	if l == nil || l.rate != r || l.burst != b {
		l = &limiter{lim: rate.NewLimiter(rate.Limit(r), b), rate: r, burst: b}
		a.limiters[key] = l
	}
	a.mu.Unlock()
	now := a.now()
	res := l.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, true
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, true
	}
	return 0, false
}
