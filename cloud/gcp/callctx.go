package gcp

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/googleapis/gax-go/v2/callctx"
)

// callHeader carries, from a list call to the driver's transport, the
// number under which the call's context waits in callContexts. It never
// reaches the API: the transport removes it.
const callHeader = "X-Capstan-Call"

// callContexts gives the requests of the SDK's List methods their call's
// context: the operations list of Activities (the batch describe's lists
// are the driver's own requests, list.go). Those methods build each
// page's request without it
// (http.NewRequest, where Get uses the caller's context), so without this
// a cancelled or expired list went on page after page, and its requests
// reached the transports under the driver (the call budget's) without the
// caller's deadline or its marks (budget.Background). The context's
// number travels in a header that the SDK copies from the context
// (callctx.SetHeaders, read by gax.BuildHeaders) onto every page's
// request; the transport looks the context up and sends the request
// under it.
type callContexts struct {
	next http.RoundTripper
	seq  atomic.Uint64
	mu   sync.Mutex
	ctxs map[string]context.Context
}

// withCallContexts returns client with its transport giving list
// requests their call's context, and the registry list calls enter.
func withCallContexts(client *http.Client) (*http.Client, *callContexts) {
	c := *client
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc := &callContexts{next: next, ctxs: map[string]context.Context{}}
	c.Transport = cc
	return &c, cc
}

// enter registers ctx for the requests of one list call and returns the
// context to call the SDK with; leave must be called when the call ends.
// A nil registry (a driver on the SDK's own HTTP client) returns ctx.
func (cc *callContexts) enter(ctx context.Context) (context.Context, func()) {
	if cc == nil {
		return ctx, func() {}
	}
	id := strconv.FormatUint(cc.seq.Add(1), 10)
	cc.mu.Lock()
	cc.ctxs[id] = ctx
	cc.mu.Unlock()
	return callctx.SetHeaders(ctx, callHeader, id), func() {
		cc.mu.Lock()
		delete(cc.ctxs, id)
		cc.mu.Unlock()
	}
}

// RoundTrip sends req under its call's context when it names one that is
// registered, without the header that named it.
func (cc *callContexts) RoundTrip(req *http.Request) (*http.Response, error) {
	// gax copies context headers in lower case, without canonicalizing.
	id := req.Header.Get(callHeader)
	if id == "" {
		if v := req.Header[strings.ToLower(callHeader)]; len(v) > 0 {
			id = v[0]
		}
	}
	if id == "" {
		return cc.next.RoundTrip(req)
	}
	cc.mu.Lock()
	ctx := cc.ctxs[id]
	cc.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	// The request's own end still counts: http.Client's Timeout ends
	// it, through its context and, for a transport the client does not
	// know (this one), through the deprecated Cancel channel the clone
	// keeps; the context is followed too, for transports under this one
	// that ignore that channel.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(req.Context(), cancel)
	end := func() { stop(); cancel() }
	r := req.Clone(ctx)
	r.Header.Del(callHeader)
	delete(r.Header, strings.ToLower(callHeader))
	resp, err := cc.next.RoundTrip(r)
	if err != nil {
		end()
		return nil, err
	}
	resp.Body = &endingBody{ReadCloser: resp.Body, end: end}
	return resp, nil
}

// endingBody ends a request's context once its body is closed, not
// before: the body is read after RoundTrip returns.
type endingBody struct {
	io.ReadCloser
	end func()
}

func (b *endingBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}
