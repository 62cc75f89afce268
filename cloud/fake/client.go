package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// DefaultClientTimeout bounds each request of a Client built without its
// own http.Client, so a hung fake cloud surfaces as cloud.ErrUnavailable
// instead of a stuck agent.
const DefaultClientTimeout = 30 * time.Second

// Client is a cloud.Driver that talks to a fake cloud served by NewHandler,
// so the separate agent processes of a local cluster share one set of
// groups. GroupRef.Group names the group. It also has helpers to set up
// and inspect the fake cloud from tests and the demo.
type Client struct {
	base string
	hc   *http.Client
}

var _ cloud.Driver = (*Client)(nil)

// MaxIdleConns bounds the idle keep-alive connections a Client keeps to
// its fake cloud: as many as a leader's burst of concurrent calls is
// likely to use, so a burst reuses the last one's connections.
const MaxIdleConns = 64

// IdleConnTimeout is how long a Client's idle connection stays open.
const IdleConnTimeout = 90 * time.Second

// NewTransport returns the transport a Client uses when its http.Client
// has none: net/http's default settings (proxy from the environment,
// dial and TLS timeouts, HTTP/2), but a pool of MaxIdleConns idle
// connections to the host instead of two. With two, every burst of
// concurrent calls closed all but two of its connections when it ended,
// and the next burst dialled them again: a loaded leader left thousands of
// sockets in TIME_WAIT (issue 15).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = MaxIdleConns
	t.MaxIdleConnsPerHost = MaxIdleConns
	t.IdleConnTimeout = IdleConnTimeout
	return t
}

// NewClient returns a client of the fake cloud at baseURL (for example
// "http://127.0.0.1:7070"). A nil hc means an http.Client with
// DefaultClientTimeout. An hc without a Transport is copied and given
// NewTransport(), so its calls reuse connections.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	if hc.Transport == nil {
		cp := *hc
		cp.Transport = NewTransport()
		hc = &cp
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Describe reports the group's sizes (GET /v1/groups/{name}).
func (c *Client) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	var st cloud.GroupState
	if g.Group == "" {
		return st, errNoGroup()
	}
	err := c.do(ctx, http.MethodGet, groupPath(g.Group), nil, &st)
	return st, err
}

// SetDesired asks for n instances (PUT /v1/groups/{name}/desired), sending
// the caller from ctx in the caller headers.
func (c *Client) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	if g.Group == "" {
		return errNoGroup()
	}
	return c.do(ctx, http.MethodPut, groupPath(g.Group)+"/desired", desiredBody{Desired: &n}, nil)
}

// Groups returns every group's state.
func (c *Client) Groups(ctx context.Context) (map[string]cloud.GroupState, error) {
	var out map[string]cloud.GroupState
	err := c.do(ctx, http.MethodGet, "/v1/groups", nil, &out)
	return out, err
}

// CreateGroup creates a group whose instances are all ready at once.
func (c *Client) CreateGroup(ctx context.Context, name string, min, max, desired int) error {
	if name == "" {
		return errNoGroup()
	}
	return c.do(ctx, http.MethodPost, groupPath(name), createBody{Min: &min, Max: &max, Desired: &desired}, nil)
}

// SetBusy marks or clears a scaling activity in progress on a group.
func (c *Client) SetBusy(ctx context.Context, name string, busy bool) error {
	if name == "" {
		return errNoGroup()
	}
	return c.do(ctx, http.MethodPut, groupPath(name)+"/busy", busyBody{Busy: &busy}, nil)
}

// Calls returns the fake cloud's call log, oldest first.
func (c *Client) Calls(ctx context.Context) ([]Call, error) {
	var out []Call
	err := c.do(ctx, http.MethodGet, "/v1/calls", nil, &out)
	return out, err
}

// InjectFault queues a fault at the fake cloud; f.Err must be one of the
// cloud sentinels (or nil with a Delay).
func (c *Client) InjectFault(ctx context.Context, f Fault) error {
	b, err := faultBodyOf(f)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/v1/faults", b, nil)
}

// ClearFaults drops every queued fault at the fake cloud.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/faults", nil, nil)
}

func groupPath(name string) string { return "/v1/groups/" + url.PathEscape(name) }

// do sends one request and decodes a 2xx answer into out (if non-nil).
// Errors wrap the cloud sentinels: the server's error code when it sent
// one, else the status; a request that never got an answer (refused
// connection, timeout, cancelled context) is cloud.ErrUnavailable and
// still matches the underlying error, e.g. context.Canceled.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("fake cloud: encoding %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("fake cloud: %s %s: %v: %w", method, path, err, cloud.ErrInvalid)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if caller, ok := cloud.CallerFrom(ctx); ok {
		req.Header.Set(HeaderNode, caller.Node)
		req.Header.Set(HeaderTerm, strconv.FormatUint(caller.Term, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("fake cloud: %s %s: %w: %w", method, path, cloud.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)) // lets the connection be reused
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		// A truncated or garbled answer is the server's failure, and
		// worth retrying like any other broken response.
		return fmt.Errorf("fake cloud: %s %s: decoding the response: %w: %w", method, path, cloud.ErrUnavailable, err)
	}
	// Read to the end (the encoder's newline, if the decoder stopped
	// short of it): net/http reuses only a connection whose answer was
	// read to its end.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return nil
}

// responseError rebuilds the error a non-2xx response carries.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	var eb errorBody
	_ = json.Unmarshal(data, &eb) // not JSON: fall back on the status
	sentinel := SentinelFor(eb.Error.Code)
	if sentinel == nil {
		sentinel = sentinelForStatus(resp.StatusCode)
	}
	msg := eb.Error.Message
	if msg == "" {
		// Not our JSON (a router 404, a proxy's page): keep a short
		// excerpt so the error stays one readable line.
		msg = strings.Join(strings.Fields(string(data)), " ")
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return fmt.Errorf("fake cloud: %s (HTTP %d): %w", msg, resp.StatusCode, sentinel)
}
