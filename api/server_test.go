package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// serveLimited serves a trivial handler under limits and returns its
// address.
func serveLimited(t *testing.T, l api.ServerLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	}), l)
	go func() { _ = srv.Serve(api.LimitListener(ln, l)) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	return err == nil // EOF: the server closed it; a timeout is an error
}

// TestServerLimits: slow and idle clients are let go, and the connection
// cap holds further clients back until a connection closes.
func TestServerLimits(t *testing.T) {
	l := api.ServerLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: time.Second, IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 1 << 10, MaxConns: 2}
	tests := []struct {
		name string
		run  func(t *testing.T, conn net.Conn)
	}{
		{"slow headers", func(t *testing.T, conn net.Conn) {
			fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
		}},
		{"slow body", func(t *testing.T, conn net.Conn) {
			fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc") // 97 bytes never come
		}},
		{"idle keep-alive", func(t *testing.T, conn net.Conn) {
			fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first request: %v %v", resp, err)
			}
			resp.Body.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveLimited(t, l)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tc.run(t, conn)
			if !closedWithin(conn, 2*time.Second) {
				t.Fatal("the server kept the connection past its limits")
			}
		})
	}
	t.Run("oversized headers", func(t *testing.T) {
		addr := serveLimited(t, l)
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("connection cap", func(t *testing.T) {
		addr := serveLimited(t, api.ServerLimits{WriteTimeout: time.Second, IdleTimeout: time.Minute, MaxConns: 2})
		var held []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		third, err := net.Dial("tcp", addr) // the kernel accepts; the server does not yet
		if err != nil {
			t.Fatal(err)
		}
		defer third.Close()
		fmt.Fprint(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = third.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := http.ReadResponse(bufio.NewReader(third), nil); err == nil {
			t.Fatal("a third connection was served past the cap of 2")
		}
		held[0].Close()
		_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
		// The response may have been partly read above; a fresh reader
		// on the rest is enough to see it arrive.
		buf := make([]byte, 12)
		if _, err := io.ReadFull(third, buf); err != nil || string(buf) != "HTTP/1.1 200" {
			t.Fatalf("after a connection closed: %q %v", buf, err)
		}
		held[1].Close()
	})
}

// TestPerClientConnectionCap: many idle clients from one address hold at
// most MaxConnsPerClient connections; the rest are closed at once, so
// another client is still served (under the total cap they would have
// filled), and a slot freed is usable again.
func TestPerClientConnectionCap(t *testing.T) {
	const perClient, idle = 3, 40
	addr := serveLimited(t, api.ServerLimits{WriteTimeout: time.Second, IdleTimeout: time.Minute, MaxConns: idle, MaxConnsPerClient: perClient})
	dialFrom := func(t *testing.T, local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	served := func(c net.Conn) bool {
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	var conns []net.Conn
	for range idle { // idle: they send nothing
		conns = append(conns, dialFrom(t, "127.0.0.1"))
	}
	// Watched all at once: a held connection is one still open after a
	// second, and one at a time the held ones cost a second each.
	shut := make([]bool, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { shut[i] = closedWithin(c, time.Second) })
	}
	wg.Wait()
	var held []net.Conn
	closed := 0
	for i, c := range conns {
		if shut[i] {
			closed++
		} else {
			held = append(held, c)
		}
	}
	if len(held) != perClient || closed != idle-perClient {
		t.Fatalf("%d idle connections held and %d closed, want %d held", len(held), closed, perClient)
	}
	// The total cap (as many as the idle client tried) is not filled:
	// another client is served at once.
	if !served(dialFrom(t, "127.0.0.2")) {
		t.Fatal("another client was not served while one client's idle connections were capped")
	}
	// Over its cap, the idle client's next connection is closed too ...
	if !closedWithin(dialFrom(t, "127.0.0.1"), time.Second) {
		t.Fatal("a connection over the client's cap was kept")
	}
	// ... until one of its connections closes.
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for !served(dialFrom(t, "127.0.0.1")) {
		if time.Now().After(deadline) {
			t.Fatal("a freed slot was not given back to its client")
		}
	}
}
