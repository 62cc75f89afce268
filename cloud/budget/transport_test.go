package budget_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
)

// httpDriver is a driver over HTTP shaped like the real ones: a describe
// is two GETs (the group and its instance view, as Azure's), a resize a
// GET, a POST and two GETs polling its operation (as GCP's and Azure's),
// a batch one POST per 50 groups (as AWS's DescribeAutoScalingGroups).
// A failed request is "unavailable", as the drivers classify connection
// failures; a 429 is throttled.
type httpDriver struct {
	base   string
	client *http.Client
}

func (d *httpDriver) do(ctx context.Context, method, path string) error {
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, cloud.ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s %s: %w", method, path, cloud.ErrThrottled)
	}
	return nil
}

func (d *httpDriver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	if err := d.do(ctx, http.MethodGet, "/groups/"+g.Group); err != nil {
		return cloud.GroupState{}, err
	}
	return cloud.GroupState{Desired: 1}, d.do(ctx, http.MethodGet, "/groups/"+g.Group+"/view")
}

func (d *httpDriver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	for _, step := range []struct{ method, path string }{
		{http.MethodGet, "/groups/" + g.Group},
		{http.MethodPost, "/groups/" + g.Group + "/resize"},
		{http.MethodGet, "/operations/1"},
		{http.MethodGet, "/operations/1"},
	} {
		if err := d.do(ctx, step.method, step.path); err != nil {
			return err
		}
	}
	return nil
}

func (d *httpDriver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	for i := 0; i < len(refs); i += 50 {
		if err := d.do(ctx, http.MethodPost, "/describe"); err != nil {
			return nil, err
		}
	}
	return make([]cloud.Described, len(refs)), nil
}

// countingServer counts requests by method and path, and answers 429 to
// the paths in throttle.
type countingServer struct {
	mu       sync.Mutex
	requests map[string]int
	throttle map[string]bool
}

func (s *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.Method+" "+r.URL.Path]++
	if s.throttle[r.URL.Path] {
		w.WriteHeader(http.StatusTooManyRequests)
	}
}

func (s *countingServer) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[key]
}

// newMetered is an httpDriver metered by a budget, the server it calls,
// and a reader of the budget's series of provider azure, scope sub.
func newMetered(t *testing.T, opts budget.Options) (cloud.Driver, *countingServer, func(name, bucket string) float64) {
	t.Helper()
	srv := &countingServer{requests: map[string]int{}, throttle: map[string]bool{}}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b, reg := newBudget(t, opts)
	d := b.WrapMetered("azure", &httpDriver{base: hs.URL, client: &http.Client{Transport: b.Transport("azure", nil)}})
	metric := func(name, bucket string) float64 {
		v := value(t, reg, name, map[string]string{"provider": "azure", "scope": "sub", "bucket": bucket})
		if v != v { // NaN: no series yet
			return 0
		}
		return v
	}
	return d, srv, metric
}

var azRef = cloud.GroupRef{Provider: "azure", Subscription: "sub", ResourceGroup: "rg", ScaleSet: "ss", Group: "ss"}

// TestMeteredTokensPerRequest: metered, a call spends one token per
// request it makes: a GET from the read bucket, any other method from the
// call's own bucket.
func TestMeteredTokensPerRequest(t *testing.T) {
	cases := []struct {
		name              string
		call              func(ctx context.Context, d cloud.Driver) error
		wantRead, wantOut float64 // read and write tokens
	}{
		{"describe: two reads", func(ctx context.Context, d cloud.Driver) error { _, err := d.Describe(ctx, azRef); return err }, 2, 0},
		{"resize: one write, its read and two polls", func(ctx context.Context, d cloud.Driver) error { return d.SetDesired(ctx, azRef, 3) }, 3, 1},
		{"batch of 120: three pages, read though POST", func(ctx context.Context, d cloud.Driver) error {
			refs := make([]cloud.GroupRef, 120)
			for i := range refs {
				refs[i] = azRef
			}
			_, err := d.(cloud.BatchDescriber).DescribeBatch(ctx, refs)
			return err
		}, 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _, metric := newMetered(t, budget.Options{})
			if err := tc.call(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			r, w := metric("capstan_cloud_budget_tokens_total", "read"), metric("capstan_cloud_budget_tokens_total", "write")
			if r != tc.wantRead || w != tc.wantOut {
				t.Errorf("tokens read %g, write %g; want %g, %g", r, w, tc.wantRead, tc.wantOut)
			}
		})
	}
}

// TestMeteredRefusals: a resize whose write request gets no token was not
// sent, and fails with ErrWaitExceeded alone, whatever the driver made of
// the failed request; once the write went out, a refused poll leaves the
// driver's "unavailable" (in doubt) in place, because the resize may land.
func TestMeteredRefusals(t *testing.T) {
	cases := []struct {
		name        string
		opts        budget.Options
		wantResizes int
		inDoubt     bool
	}{
		{"no write token: not sent, not in doubt", budget.Options{Write: budget.Rates{"azure": 0.1}}, 0, false},
		{"a poll without a token after the write: in doubt", budget.Options{Read: budget.Rates{"azure": 0.1}}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, srv, _ := newMetered(t, tc.opts)
			// The limited bucket holds one token: the write bucket's goes
			// to an earlier resize; the read bucket's to the resize's
			// own first GET, so that its first poll finds none.
			if !tc.inDoubt {
				if err := d.SetDesired(context.Background(), cloud.GroupRef{Provider: "azure", Subscription: "sub", Group: "other"}, 1); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := d.SetDesired(ctx, azRef, 3)
			if !errors.Is(err, budget.ErrWaitExceeded) {
				t.Fatalf("resize: %v, want it to say the budget held a request back", err)
			}
			if got := errors.Is(err, cloud.ErrUnavailable); got != tc.inDoubt {
				t.Errorf("resize error %v: unavailable (in doubt) %v, want %v", err, got, tc.inDoubt)
			}
			if got := srv.count("POST /groups/ss/resize"); got != tc.wantResizes {
				t.Errorf("%d resize requests reached the provider, want %d", got, tc.wantResizes)
			}
			if ctx.Err() != nil {
				t.Error("the call waited out its deadline instead of failing at once")
			}
		})
	}
}

// TestMeteredThrottle: a provider's 429 cuts the bucket of the request it
// answered: a describe's read, a resize's write, or the resize's poll (a
// read, although the call is a write).
func TestMeteredThrottle(t *testing.T) {
	cases := []struct {
		name              string
		path              string // the path answered 429
		call              func(d cloud.Driver) error
		wantRead, wantOut float64
	}{
		{"a describe's second read", "/groups/ss/view", func(d cloud.Driver) error { _, err := d.Describe(context.Background(), azRef); return err }, 4, 6},
		{"a resize's write", "/groups/ss/resize", func(d cloud.Driver) error { return d.SetDesired(context.Background(), azRef, 2) }, 8, 3},
		{"a resize's poll", "/operations/1", func(d cloud.Driver) error { return d.SetDesired(context.Background(), azRef, 2) }, 4, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, srv, metric := newMetered(t, budget.Options{Read: budget.Rates{"azure": 8}, Write: budget.Rates{"azure": 6}})
			srv.mu.Lock()
			srv.throttle[tc.path] = true
			srv.mu.Unlock()
			if err := tc.call(d); !errors.Is(err, cloud.ErrThrottled) {
				t.Fatalf("%v, want throttled", err)
			}
			if r, w := metric("capstan_cloud_budget_rate", "read"), metric("capstan_cloud_budget_rate", "write"); r != tc.wantRead || w != tc.wantOut {
				t.Errorf("rates read %g, write %g; want %g, %g", r, w, tc.wantRead, tc.wantOut)
			}
		})
	}
}

// TestDetachedRequests: a request outside a metered call (the GCP SDK
// sends its lists without the caller's context) takes a token of the
// account its URL names, waiting at most DetachedWait; one whose URL names
// none (a credential fetch) passes untouched.
func TestDetachedRequests(t *testing.T) {
	srv := &countingServer{requests: map[string]int{}, throttle: map[string]bool{}}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b, reg := newBudget(t, budget.Options{Read: budget.Rates{"gcp": 0.1}, DetachedWait: 50 * time.Millisecond})
	client := &http.Client{Transport: b.Transport("gcp", nil)}
	tokens := func() float64 {
		v := value(t, reg, "capstan_cloud_budget_tokens_total", map[string]string{"provider": "gcp", "scope": "p1", "bucket": "read"})
		if v != v {
			return 0
		}
		return v
	}
	cases := []struct {
		path       string
		wantErr    bool
		wantTokens float64
	}{
		{"/token", false, 0},
		{"/token", false, 0},
		{"/compute/v1/projects/p1/zones/z/instanceGroupManagers", false, 1},
		// The bucket's one token is gone: no token within 50 ms.
		{"/compute/v1/projects/p1/zones/z/autoscalers", true, 1},
	}
	for _, tc := range cases {
		resp, err := client.Get(hs.URL + tc.path)
		if err == nil {
			resp.Body.Close()
		}
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, budget.ErrWaitExceeded)) {
			t.Errorf("GET %s: %v, want an error %v", tc.path, err, tc.wantErr)
		}
		if got := tokens(); got != tc.wantTokens {
			t.Errorf("GET %s: %g tokens of p1 taken, want %g", tc.path, got, tc.wantTokens)
		}
	}
	if got := srv.count("GET /compute/v1/projects/p1/zones/z/autoscalers"); got != 0 {
		t.Errorf("the refused request reached the provider %d times", got)
	}
}

// partialBatch describes each group with its own GET and, as the Azure
// driver does, fails only the group whose request failed.
type partialBatch struct{ httpDriver }

func (p *partialBatch) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	out := make([]cloud.Described, len(refs))
	for i, g := range refs {
		out[i].Err = p.do(ctx, http.MethodGet, "/groups/"+g.Group+"/view")
	}
	return out, nil
}

// TestMeteredPartialBatch: a batch whose driver answered some groups keeps
// their answers when the budget held a later request back; that group
// alone carries the refusal.
func TestMeteredPartialBatch(t *testing.T) {
	srv := &countingServer{requests: map[string]int{}, throttle: map[string]bool{}}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b, reg := newBudget(t, budget.Options{Read: budget.Rates{"azure": 0.1}})
	d := b.WrapMetered("azure", &partialBatch{httpDriver{base: hs.URL, client: &http.Client{Transport: b.Transport("azure", nil)}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	refs := []cloud.GroupRef{azRef, {Provider: "azure", Subscription: "sub", Group: "b"}}
	out, err := d.(cloud.BatchDescriber).DescribeBatch(ctx, refs)
	if err != nil {
		t.Fatalf("the batch failed as a whole: %v", err)
	}
	if out[0].Err != nil || !errors.Is(out[1].Err, budget.ErrWaitExceeded) {
		t.Errorf("answers %+v: want the first group described and the second held back", out)
	}
	if got := calls(t, reg, "azure", "describe_batch", "budget_wait_exceeded"); got != 1 {
		t.Errorf("the batch counted as budget_wait_exceeded %g times, want 1", got)
	}
}

// TestMeteredBackground: a call under budget.Background makes background
// reads of its requests through the transport too (the mark travels in
// the request's context): with a token every two seconds, a background
// describe's second read is refused at once for want of a token before its
// deadline, as a background read (never reserved ahead), and a foreground
// describe's is reserved and waited for.
func TestMeteredBackground(t *testing.T) {
	for _, tc := range []struct {
		name       string
		background bool
		wantErr    string // in the error; "" for none
	}{
		{"background", true, "a background read"},
		{"foreground", false, "the next token comes in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, srv, _ := newMetered(t, budget.Options{Read: budget.Rates{"azure": 0.5}})
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if tc.background {
				ctx = budget.Background(ctx)
			}
			_, err := d.Describe(ctx, azRef)
			if !errors.Is(err, budget.ErrWaitExceeded) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("describe: %v, want ErrWaitExceeded saying %q", err, tc.wantErr)
			}
			if n := srv.count("GET /groups/ss"); n != 1 {
				t.Fatalf("%d first reads sent, want 1", n)
			}
		})
	}
}
