package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/capstan-io/capstan/api/auth"
)

// Defaults of the per-token request rate limit: far above what the CLI,
// a feeder or Prometheus remote-write send, low enough that one runaway
// client cannot monopolise a node.
const (
	defaultTokenRate  = 100
	defaultTokenBurst = 200
)

// agentAuth is the agent's authentication setup, checked before the node
// opens its data directory. A nil *agentAuth means --insecure-no-auth.
type agentAuth struct {
	load       func() ([]auth.Token, error)
	nodeSecret string // what this node presents to its peers; may be empty
	opts       agentOptions
	log        *slog.Logger
	authn      *auth.Authenticator // set by authenticator
}

// newAgentAuth checks the auth settings and loads the tokens once, so a
// bad token file stops the agent before it touches anything. It returns
// nil, after a warning, with --insecure-no-auth.
func newAgentAuth(o agentOptions, logger *slog.Logger) (*agentAuth, error) {
	if _, err := auth.ValidateLimits(o.TokenRate, o.TokenBurst); err != nil {
		field := "--token-rate"
		if o.TokenRate >= 0 {
			field = "--token-burst"
		}
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if o.InsecureNoAuth {
		if o.TokenFile != "" || len(o.Tokens) > 0 || o.NodeTokenFile != "" {
			return nil, errors.New("--insecure-no-auth: tokens are given too (--token-file, --node-token-file or tokens: in --config); drop one or the other")
		}
		logger.Warn("API authentication is OFF (--insecure-no-auth): anyone who reaches the API can change policies, resize groups and change cluster membership; " +
			"start with --token-file (capstan token generate makes one) anywhere but a private test machine")
		return nil, nil
	}
	inline := []auth.Token(o.Tokens)
	for i := range inline {
		inline[i].Origin = auth.OriginFile
	}
	path := o.TokenFile
	load := func() ([]auth.Token, error) {
		var fromFile []auth.Token
		if path != "" {
			var err error
			if fromFile, err = auth.LoadFile(path); err != nil {
				return nil, err
			}
		}
		return auth.Merge(fromFile, inline)
	}
	tokens, err := load()
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	if len(tokens) == 0 {
		return nil, errors.New("no API tokens: give --token-file with at least one token (capstan token generate --name admin --role admin prints one) " +
			"or a tokens: list in --config; --insecure-no-auth runs without authentication (never on a network)")
	}
	a := &agentAuth{load: load, opts: o, log: logger}
	if o.NodeTokenFile != "" {
		if a.nodeSecret, err = readNodeToken(o.NodeTokenFile); err != nil {
			return nil, err
		}
		a.checkNodeToken(tokens)
	} else if len(o.Join) > 0 {
		return nil, errors.New("--node-token-file: required with --join while authentication is on: this node calls its peers' APIs " +
			"to discover and join them, with an admin token's secret read from this file")
	}
	return a, nil
}

// readNodeToken reads the secret a node presents to its peers. The error
// never quotes the file's content.
func readNodeToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--node-token-file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("--node-token-file: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if !auth.LooksLikeSecret(secret) {
		return "", fmt.Errorf("--node-token-file %s: must hold one token secret (capstan_ followed by 43 characters), as capstan token generate --secret-file writes it", path)
	}
	return secret, nil
}

// checkNodeToken warns when this node's own token would not let it join:
// unknown to its token file, or not admin.
func (a *agentAuth) checkNodeToken(tokens []auth.Token) {
	hash := auth.HashSecret(a.nodeSecret)
	for _, t := range tokens {
		if t.Hash != hash {
			continue
		}
		if !t.Role.Allows(auth.RoleAdmin) {
			a.log.Warn("the --node-token-file token is not admin: joining a cluster needs the admin role", "token", t.Name, "role", string(t.Role))
		}
		return
	}
	a.log.Warn("the --node-token-file token is not in this node's token file; its peers must know it (as an admin token) for this node to join")
}

// authenticator builds the Authenticator over the file tokens and the
// API tokens of src (the node's replicated state).
func (a *agentAuth) authenticator(src auth.Source) (*auth.Authenticator, error) {
	if a == nil {
		return nil, nil
	}
	authn, err := auth.New(auth.Options{Load: a.load, Source: src, DefaultRate: a.opts.TokenRate,
		DefaultBurst: a.opts.TokenBurst, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	names := make([]string, 0)
	for _, t := range authn.FileTokens() {
		names = append(names, t.Name+"("+string(t.Role)+")")
	}
	a.log.Info("API authentication on", "file_tokens", strings.Join(names, ","), "token_rate", a.opts.TokenRate, "token_burst", a.opts.TokenBurst)
	a.authn = authn
	return authn, nil
}

// peerClient is hc (nil: a new client) presenting this node's token on
// its calls to its peers' APIs (discovery, join), unless the request
// already carries one.
func (a *agentAuth) peerClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	if a == nil || a.nodeSecret == "" {
		return hc
	}
	out := *hc
	out.Transport = &auth.Transport{Secret: a.nodeSecret, Base: hc.Transport}
	return &out
}

// reloadOnHUP re-reads the token file on every SIGHUP until ctx ends. A
// bad file keeps the tokens in force; the Authenticator logs why.
func (a *agentAuth) reloadOnHUP(ctx context.Context) {
	if a == nil || a.authn == nil {
		return
	}
	onSIGHUP(ctx, func() { _ = a.authn.Reload() })
}

// onSIGHUP calls reload on every SIGHUP until ctx ends, from a goroutine
// of its own; the signal is caught from the moment it returns. Each thing
// the agent reloads (tokens, certificates) registers its own handler.
func onSIGHUP(ctx context.Context, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
}
