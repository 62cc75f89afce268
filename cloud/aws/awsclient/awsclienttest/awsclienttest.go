// Package awsclienttest helps the tests of packages that use awsclient.
package awsclienttest

import (
	"context"
	"net"
	"net/http"
	"time"
)

// SlowClient is an HTTP client whose connections widen the race
// awsclient.MemoryBody avoids: each write returns late, so net/http's
// write loop is still busy after the server has answered, and reads come
// in small (readChunk bytes), slow pieces, so a response is still being
// read when the write loop finishes.
func SlowClient(readChunk int) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return slowConn{Conn: c, chunk: readChunk}, nil
	}}}
}

type slowConn struct {
	net.Conn
	chunk int
}

func (c slowConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(30 * time.Millisecond)
	return n, err
}

func (c slowConn) Read(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return c.Conn.Read(p[:min(len(p), c.chunk)])
}
