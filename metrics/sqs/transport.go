package sqs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
)

// maxRequestBody bounds the request bodies memoryBody buffers. The
// reader's requests are JSON objects of a few hundred bytes.
const maxRequestBody = 1 << 20

// memoryBody is an HTTP client that hands net/http each request body as an
// in-memory reader before sending it. It works around a race between
// smithy-go and net/http that cuts off responses, the one cloud/aws works
// around the same way (its transport.go has the details and a test that
// shows it):
//
// smithy-go wraps every request body in a reader that returns io.EOF from
// WriteTo once closed, and closes it as soon as Do returns. net/http, for a
// body type it does not recognise as in memory, flushes the headers, writes
// the body straight to the connection and only then reads the body once
// more to check its length. A fast server can answer in between; Do
// returns, smithy-go closes the body, the length check gets io.EOF, and the
// transport's write loop closes the connection while the response body is
// still being read: "deserialization failed ... use of closed network
// connection" on a 200. The SQS client goes through the same smithy-go
// request path (the JSON protocol sets the body with SetStream, as the
// Query protocol does), so it is exposed too, if less often: its answers
// are small. With a *bytes.Reader the transport writes the request in one
// piece after the length check, and smithy-go's close no longer reaches it.
// cloud/aws keeps its copy unexported, so this is a copy rather than an
// import.
type memoryBody struct {
	next awssdk.HTTPClient
}

// Do buffers the request body and sends the request through next.
func (c memoryBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBody+1))
	closeErr := req.Body.Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("sqs: buffering the request body: %w", err)
	case closeErr != nil:
		return nil, fmt.Errorf("sqs: closing the request body: %w", closeErr)
	case len(body) > maxRequestBody:
		return nil, fmt.Errorf("sqs: request body over %d bytes", maxRequestBody)
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	return c.next.Do(out)
}
