package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
)

// Commands for API-created tokens. Values are persisted in the Raft log:
// never renumber (see commands.go for the others). They start at 20,
// clear of the numbers that commands.go hands out in sequence.
const (
	// CmdCreateToken adds an API token (its hash, never its secret).
	CmdCreateToken CommandType = 20
	// CmdDeleteToken removes an API token.
	CmdDeleteToken CommandType = 21
)

type createTokenCmd struct {
	Token auth.Token `json:"token"`
}

type deleteTokenCmd struct {
	Name string `json:"name"`
}

// tokenTable is the replicated set of API tokens. It is part of fsmData,
// so snapshots carry it (hashes only). Readers on the request path get
// list, an immutable sorted slice replaced on every change, so checking a
// token costs no copy.
type tokenTable struct {
	byName map[string]auth.Token
	list   []auth.Token
}

// IsZero lets the snapshot omit an empty table, so snapshots of clusters
// that never made a token keep their old shape.
func (t tokenTable) IsZero() bool { return len(t.byName) == 0 }

// MarshalJSON encodes the table as a map from name to token.
func (t tokenTable) MarshalJSON() ([]byte, error) {
	if t.byName == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(t.byName)
}

// UnmarshalJSON decodes a snapshot's table and rebuilds the list.
func (t *tokenTable) UnmarshalJSON(data []byte) error {
	var m map[string]auth.Token
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	t.byName = m
	t.rebuild()
	return nil
}

// rebuild makes a new sorted list; the old one stays valid for readers
// that hold it.
func (t *tokenTable) rebuild() {
	list := make([]auth.Token, 0, len(t.byName))
	for _, tok := range t.byName {
		list = append(list, tok)
	}
	slices.SortFunc(list, func(a, b auth.Token) int { return strings.Compare(a.Name, b.Name) })
	t.list = list
}

func (f *FSM) applyCreateToken(payload []byte) applyResult {
	var c createTokenCmd
	decodePayload(payload, &c)
	t := &f.data.Tokens
	if _, ok := t.byName[c.Token.Name]; ok {
		return applyResult{err: fmt.Errorf("%w: an API token is already named %q", api.ErrConflict, c.Token.Name)}
	}
	if t.byName == nil {
		t.byName = map[string]auth.Token{}
	}
	c.Token.Origin = auth.OriginAPI
	t.byName[c.Token.Name] = c.Token
	t.rebuild()
	return applyResult{}
}

func (f *FSM) applyDeleteToken(payload []byte) applyResult {
	var c deleteTokenCmd
	decodePayload(payload, &c)
	t := &f.data.Tokens
	if _, ok := t.byName[c.Name]; !ok {
		return applyResult{err: fmt.Errorf("API token %q: %w", c.Name, api.ErrNotFound)}
	}
	delete(t.byName, c.Name)
	t.rebuild()
	return applyResult{}
}

// APITokens returns the API-created tokens, sorted by name; it implements
// auth.Source. The slice is never modified afterwards.
func (f *FSM) APITokens() []auth.Token {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Tokens.list
}

// CreateToken commits a new API token. The token is validated here as
// well as by the handler: whatever enters the log is applied on every
// node forever.
func (n *Node) CreateToken(ctx context.Context, t auth.Token) error {
	t.Origin = auth.OriginAPI
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: token: %w", api.ErrBadRequest, err)
	}
	return n.apply(ctx, CmdCreateToken, createTokenCmd{Token: t})
}

// DeleteToken commits the removal of an API token, and returns once
// every live member has applied it (waitApplied), so the token is refused
// everywhere when the revocation is acknowledged.
func (n *Node) DeleteToken(ctx context.Context, name string) error {
	// Checked here too so that a mistyped name costs no log entry.
	if !n.hasToken(name) {
		return fmt.Errorf("API token %q: %w", name, api.ErrNotFound)
	}
	res, err := n.applyResult(ctx, CmdDeleteToken, deleteTokenCmd{Name: name})
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
