package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// CreateToken asks for a new API token (admin role). The answer carries
// the secret, which the server never shows again.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (TokenCreated, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return TokenCreated{}, fmt.Errorf("encoding the token request: %w", err)
	}
	var out TokenCreated
	err = c.do(ctx, http.MethodPost, "/v1/tokens", http.Header{"Content-Type": {"application/json"}}, body, &out)
	return out, err
}

// ListTokens lists the tokens (file and API), without secrets or hashes.
func (c *Client) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	var l TokenList
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &l)
	return l.Tokens, err
}

// DeleteToken revokes an API token.
func (c *Client) DeleteToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, nil, nil)
}
