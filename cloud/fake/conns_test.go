package fake_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/fake"
)

// TestClientConnectionReuse: the fake cloud's client keeps connections
// alive. It used to close one per decoded answer (the JSON decoder stops
// before the body's end, and net/http does not reuse a connection whose
// body was not read to the end), leaving thousands of sockets in
// TIME_WAIT under a loaded leader (issue 15).
func TestClientConnectionReuse(t *testing.T) {
	c := fake.New(fake.Options{})
	if err := c.CreateGroup("web", 0, 100, 1); err != nil {
		t.Fatal(err)
	}
	srv, conns := drivertest.ConnCountingServer(t, fake.NewHandler(c))
	cl := fake.NewClient(srv.URL, nil)
	ctx := context.Background()
	web := cloud.GroupRef{Provider: "fake", Group: "web"}
	missing := cloud.GroupRef{Provider: "fake", Group: "missing"}
	for i := range 50 {
		if _, err := cl.Describe(ctx, web); err != nil {
			t.Fatal(err)
		}
		if err := cl.SetDesired(ctx, web, 1+i%2); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.DescribeBatch(ctx, []cloud.GroupRef{web, missing}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Describe(ctx, missing); err == nil {
			t.Fatal("describing a missing group succeeded")
		}
	}
	if n := conns(); n > 2 {
		t.Fatalf("200 sequential calls opened %d connections, want 1 (2 at most)", n)
	}
	// Bursts of overlapping calls (each describe takes 2 ms at the
	// server), as a leader's evaluations come in ticks, from a client built
	// as the agent builds it: an http.Client with a timeout and no
	// transport of its own. Net/http's default transport keeps two idle
	// connections per host and closes the rest when a burst ends, so every
	// burst used to open about as many connections as it had calls.
	if err := c.InjectFault(fake.Fault{Op: fake.OpDescribe, Delay: 2 * time.Millisecond, Times: -1}); err != nil {
		t.Fatal(err)
	}
	before := conns()
	agentLike := fake.NewClient(srv.URL, &http.Client{Timeout: 10 * time.Second})
	for range 10 {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if _, err := agentLike.Describe(ctx, web); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	t.Logf("10 bursts of 16 calls opened %d connections", conns()-before)
	if n := conns() - before; n > 32 {
		t.Fatalf("10 bursts of 16 calls opened %d connections, want at most 32", n)
	}
}
