package drivertest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// ConnCountingServer serves h on a test server that counts the TCP
// connections clients open to it, for the connection-reuse tests each
// driver has: a client that keeps connections alive opens a handful for
// hundreds of calls, one that does not opens about one per call (and
// leaves as many sockets in TIME_WAIT). conns reports the count so far.
func ConnCountingServer(t testing.TB, h http.Handler) (srv *httptest.Server, conns func() int64) {
	t.Helper()
	var n atomic.Int64
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, n.Load
}

// Bursts makes rounds bursts of width concurrent calls, each burst
// waiting for the last to end, as a leader's evaluations come in ticks:
// the pattern that shows an idle pool too small for the concurrency, whose
// surplus connections close when a burst ends and are dialled again by
// the next. Make the calls overlap (a slow fault of a few milliseconds)
// for the pattern to show.
func Bursts(t testing.TB, rounds, width int, call func() error) {
	t.Helper()
	for range rounds {
		var wg sync.WaitGroup
		for range width {
			wg.Go(func() {
				if err := call(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
