package controlplane

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/store"
)

// tokenList is the API tokens of the state sorted by name, as auth.Tokens:
// a new slice, never changed afterwards, so readers may keep it.
func tokenList(m map[string]store.Token) []auth.Token {
	list := make([]auth.Token, 0, len(m))
	for _, t := range m {
		list = append(list, tokenFromStore(t))
	}
	slices.SortFunc(list, func(a, b auth.Token) int { return strings.Compare(a.Name, b.Name) })
	return list
}

func tokenFromStore(t store.Token) auth.Token {
	return auth.Token{Name: t.Name, Role: auth.Role(t.Role), Hash: t.Hash, Rate: t.Rate, Burst: t.Burst, Origin: t.Origin, CreatedAt: t.CreatedAt}
}

func tokenToStore(t auth.Token) store.Token {
	return store.Token{Name: t.Name, Role: string(t.Role), Hash: t.Hash, Rate: t.Rate, Burst: t.Burst, Origin: t.Origin, CreatedAt: t.CreatedAt}
}

// APITokens returns the API-created tokens, sorted by name; it implements
// auth.Source. The slice is never modified afterwards.
func (f *FSM) APITokens() []auth.Token {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tokens
}

// CreateToken commits a new API token. The token is validated here as
// well as by the handler: whatever enters the log is applied on every
// node forever.
func (n *Node) CreateToken(ctx context.Context, t auth.Token) error {
	t.Origin = auth.OriginAPI
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: token: %w", api.ErrBadRequest, err)
	}
	return n.apply(ctx, store.CreateToken{Token: tokenToStore(t)})
}

// DeleteToken commits the removal of an API token, and returns once
// every live member has applied it (waitApplied), so the token is refused
// everywhere when the revocation is acknowledged.
func (n *Node) DeleteToken(ctx context.Context, name string) error {
	// Checked here too so that a mistyped name costs no log entry.
	if !n.hasToken(name) {
		return fmt.Errorf("API token %q: %w", name, api.ErrNotFound)
	}
	res, err := n.applyResult(ctx, store.DeleteToken{Name: name})
	if err != nil {
		return err
	}
	if err := n.waitApplied(ctx, res.index, DefaultRevokeWait); err != nil {
		return fmt.Errorf("API token %q: the revocation is committed, but not yet in force on every node within %s: %w (%w)",
			name, DefaultRevokeWait, err, context.DeadlineExceeded)
	}
	return nil
}

// hasToken reports whether an API token has the name.
func (n *Node) hasToken(name string) bool {
	return slices.ContainsFunc(n.fsm.APITokens(), func(t auth.Token) bool { return t.Name == name })
}

// ListTokens returns the API-created tokens from this node's state.
func (n *Node) ListTokens(context.Context) ([]auth.Token, error) {
	return slices.Clone(n.fsm.APITokens()), nil
}
