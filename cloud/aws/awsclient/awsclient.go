// Package awsclient holds plumbing shared by Capstan's AWS SDK clients
// (the Auto Scaling driver and the SQS metric source).
package awsclient

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
)

// MaxRequestBody bounds the request bodies MemoryBody buffers. Capstan's
// AWS requests are form posts or JSON objects of a few hundred bytes.
const MaxRequestBody = 1 << 20

// MemoryBody is an HTTP client that hands net/http each request body as an
// in-memory reader before sending it. It works around a race between
// smithy-go and net/http that cuts off responses:
//
// smithy-go wraps every request body in a reader that returns io.EOF from
// WriteTo once closed, and closes it as soon as Do returns. net/http, for a
// body type it does not recognise as in memory, flushes the headers, writes
// the body straight to the connection and only then reads the body once
// more to check its length. A fast server can answer in between; Do
// returns, smithy-go closes the body, the length check gets io.EOF, and the
// transport's write loop closes the connection while the response body is
// still being read: "deserialization failed ... use of closed network
// connection" on a 200. Against the emulator this hit about one describe in
// 5,000 (responses over 4 KiB, which need more than one read). With a
// *bytes.Reader the transport writes the request in one piece after the
// length check, and smithy-go's close no longer reaches it.
type MemoryBody struct {
	// Next sends the buffered request; usually the SDK's own client.
	Next awssdk.HTTPClient
}

// Do buffers the request body and sends the request through next.
func (c MemoryBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.Next.Do(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxRequestBody+1))
	closeErr := req.Body.Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("aws http: buffering the request body: %w", err)
	case closeErr != nil:
		return nil, fmt.Errorf("aws http: closing the request body: %w", closeErr)
	case len(body) > MaxRequestBody:
		return nil, fmt.Errorf("aws http: request body over %d bytes", MaxRequestBody)
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return c.Next.Do(out)
}

// PerRegion makes one SDK client per region on first use and keeps it: a
// client resolves its options, endpoint rules and auth schemes when it is
// made, so that happens once per region rather than per call. It is safe
// for concurrent use; concurrent first calls for a region make one client.
type PerRegion[C any] struct {
	mu      sync.Mutex
	clients map[string]C
	make    func(region string) C
}

// NewPerRegion returns an empty cache that builds clients with make.
func NewPerRegion[C any](make func(region string) C) *PerRegion[C] {
	return &PerRegion[C]{clients: map[string]C{}, make: make}
}

// Get returns the region's client, making it if needed.
func (p *PerRegion[C]) Get(region string) C {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[region]; ok {
		return c
	}
	c := p.make(region)
	p.clients[region] = c
	return c
}

// Len is how many region clients exist.
func (p *PerRegion[C]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}
