package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/policy"
)

// maxResponseBytes bounds what the client reads from one response, so a
// wrong address (a server streaming something else) cannot exhaust memory.
// A thousand decisions with every field set are well under this.
const maxResponseBytes = 64 << 20

// defaultClientTimeout bounds one request when NewClient gets no client:
// long enough for a write to wait out an election and commit.
const defaultClientTimeout = 30 * time.Second

// Client calls the REST API of one node; writes sent to a follower are
// forwarded by the server, so any node will do. Its methods mirror the
// routes. A non-2xx answer comes back as an *Error.
type Client struct {
	base  string
	hc    *http.Client
	token string // bearer token secret; empty sends none
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithToken makes the client send "Authorization: Bearer <secret>" with
// every request; an empty secret sends none.
func WithToken(secret string) ClientOption { return func(c *Client) { c.token = secret } }

// NewClient returns a client of the node at baseURL ("http://host:port";
// a bare "host:port" means http). hc nil uses a client with a 30 s timeout.
func NewClient(baseURL string, hc *http.Client, opts ...ClientOption) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultClientTimeout}
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the node address the client talks to.
func (c *Client) BaseURL() string { return c.base }

// PutPolicy creates or replaces a policy from a document in the policy
// file schema. contentType is application/json or application/yaml ("" is
// JSON); ifMatch is "" (unconditional), "*" (must exist), "0" (must not
// exist) or a version previously returned.
func (c *Client) PutPolicy(ctx context.Context, body []byte, contentType, ifMatch string) (PolicyRecord, error) {
	id := policyID(body)
	if contentType == "" {
		contentType = "application/json"
	}
	h := http.Header{"Content-Type": {contentType}}
	if ifMatch != "" {
		h.Set("If-Match", etag(ifMatch))
	}
	var rec PolicyRecord
	err := c.do(ctx, http.MethodPut, "/v1/policies/"+url.PathEscape(id), h, body, &rec)
	return rec, err
}

// policyID finds the id a policy document (YAML or JSON) declares, for the
// URL. Only the id is read: the server validates the rest, so an invalid
// policy still reaches it and comes back with every problem listed. A
// document without a readable id is sent under "-", and the server says
// what is wrong with it.
func policyID(body []byte) (id string) {
	defer func() {
		// The YAML library has panicked on malformed input in the past;
		// the server, which recovers too, will describe the document.
		if recover() != nil {
			id = "-"
		}
	}()
	var doc struct {
		ID string `json:"id" yaml:"id"`
	}
	// Most bodies are JSON, which encoding/json reads much faster than the
	// YAML decoder; YAML (and JSON with an odd id) falls through.
	if err := json.Unmarshal(body, &doc); err == nil && doc.ID != "" {
		return doc.ID
	}
	if err := yaml.Unmarshal(body, &doc); err != nil || doc.ID == "" {
		return "-"
	}
	return doc.ID
}

// etag quotes a version as an ETag; "*" and already quoted values pass.
func etag(v string) string {
	if v == "*" || strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return v
	}
	return `"` + v + `"`
}

// GetPolicy returns one policy and its version.
func (c *Client) GetPolicy(ctx context.Context, id string) (PolicyRecord, error) {
	var rec PolicyRecord
	err := c.do(ctx, http.MethodGet, "/v1/policies/"+url.PathEscape(id), nil, nil, &rec)
	return rec, err
}

// ListPolicies returns every policy, sorted by id.
func (c *Client) ListPolicies(ctx context.Context) ([]PolicyRecord, error) {
	var l PolicyList
	err := c.do(ctx, http.MethodGet, "/v1/policies", nil, nil, &l)
	return l.Policies, err
}

// DeletePolicy removes a policy; ifMatch as for PutPolicy.
func (c *Client) DeletePolicy(ctx context.Context, id, ifMatch string) error {
	var h http.Header
	if ifMatch != "" {
		h = http.Header{"If-Match": {etag(ifMatch)}}
	}
	return c.do(ctx, http.MethodDelete, "/v1/policies/"+url.PathEscape(id), h, nil, nil)
}

// Decisions returns up to limit of a policy's most recent decisions,
// newest first; limit 0 asks for the server's default.
func (c *Client) Decisions(ctx context.Context, id string, limit int) ([]policy.Record, error) {
	path := "/v1/policies/" + url.PathEscape(id) + "/decisions"
	if limit != 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var l DecisionList
	err := c.do(ctx, http.MethodGet, path, nil, nil, &l)
	return l.Decisions, err
}

// State returns a policy's live state.
func (c *Client) State(ctx context.Context, id string) (PolicyStatus, error) {
	var st PolicyStatus
	err := c.do(ctx, http.MethodGet, "/v1/policies/"+url.PathEscape(id)+"/state", nil, nil, &st)
	return st, err
}

// PushMetrics sends one batch of at most MaxSamplesPerPush samples.
func (c *Client) PushMetrics(ctx context.Context, samples []Sample) (PushResult, error) {
	body, err := appendPushJSON(nil, samples)
	if err != nil {
		return PushResult{}, fmt.Errorf("encoding samples: %w", err)
	}
	var res PushResult
	err = c.do(ctx, http.MethodPost, "/v1/metrics", http.Header{"Content-Type": {"application/json"}}, body, &res)
	return res, err
}

// Cluster describes the cluster as the node sees it.
func (c *Client) Cluster(ctx context.Context) (ClusterInfo, error) {
	var info ClusterInfo
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &info)
	return info, err
}

// Join asks the cluster to add a voter.
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding join request: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/cluster/join", http.Header{"Content-Type": {"application/json"}}, body, nil)
}

// RemoveMember removes a server from the cluster.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(id), nil, nil, nil)
}

// Healthy returns nil when the node's process serves its API (GET /healthz
// answers 200), whether or not the cluster has a leader.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready returns nil when the node is ready (GET /readyz answers 200), else
// why not.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// rawAnswer is an answer's body as it is, with its headers, for do.
type rawAnswer struct {
	body   []byte
	header http.Header
}

// do sends one request and decodes a 2xx JSON answer into out (when out is
// not nil; a *[]byte or *rawAnswer takes the body as it is), or an error
// answer into an *Error.
func (c *Client) do(ctx context.Context, method, path string, h http.Header, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// net/http repeats the method and URL in its error; say them once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, c.base+path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok { // a body that is not JSON, such as a CSV
		*raw = data
		return nil
	}
	if raw, ok := out.(*rawAnswer); ok { // such a body and its headers
		raw.body, raw.header = data, resp.Header
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, c.base+path, err)
	}
	return nil
}

// decodeError reads an error answer. One not in the API's shape (from a
// proxy, or from something that is not Capstan) keeps its status and the
// start of its body, so the user sees what answered.
func decodeError(status int, data []byte) error {
	var eb ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error.Code != "" {
		return &Error{Status: status, Code: eb.Error.Code, Message: eb.Error.Message, Fields: eb.Error.Fields}
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}
