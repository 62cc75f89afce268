package gcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clock is a settable emulator clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func countOps(calls []gcpemu.Call, op gcpemu.Op) int {
	n := 0
	for _, c := range calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

func TestGroupRefValidation(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
	good := cloud.GroupRef{Provider: "gcp", Project: "my-project", Zone: "us-central1-a", Group: "web"}
	for _, tc := range []struct {
		name string
		edit func(*cloud.GroupRef)
		want string // in the message
	}{
		{"other provider", func(g *cloud.GroupRef) { g.Provider = "aws" }, "provider"},
		{"no project", func(g *cloud.GroupRef) { g.Project = "" }, "project"},
		{"no group", func(g *cloud.GroupRef) { g.Group = "" }, "group"},
		{"neither zone nor region", func(g *cloud.GroupRef) { g.Zone = "" }, "zone"},
		{"both zone and region", func(g *cloud.GroupRef) { g.Region = "us-central1" }, "both"},
		{"group with a slash", func(g *cloud.GroupRef) { g.Group = "web/../../other" }, "group"},
		{"group with a query", func(g *cloud.GroupRef) { g.Group = "web?size=0" }, "group"},
		{"zone as a path", func(g *cloud.GroupRef) { g.Zone = "zones/us-central1-a" }, "zone"},
		{"region with a dot", func(g *cloud.GroupRef) { g.Zone, g.Region = "", ".." }, "region"},
		{"uppercase group", func(g *cloud.GroupRef) { g.Group = "Web" }, "group"},
		{"project with a space", func(g *cloud.GroupRef) { g.Project = "my project" }, "project"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := good
			tc.edit(&g)
			_, err := d.Describe(testCtx(t), g)
			if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("describe %+v: %v, want ErrInvalid mentioning %q", g, err, tc.want)
			}
			if err := d.SetDesired(testCtx(t), g, 1); !errors.Is(err, cloud.ErrInvalid) {
				t.Fatalf("set desired %+v: %v, want ErrInvalid", g, err)
			}
		})
	}
	if calls := emu.Calls(); len(calls) != 0 {
		t.Fatalf("invalid refs reached the API: %+v", calls)
	}
	// The accepted forms, for contrast: an empty provider and a
	// domain-scoped project are fine (the group just does not exist).
	for _, g := range []cloud.GroupRef{
		{Project: "my-project", Zone: "us-central1-a", Group: "web"},
		{Provider: "gcp", Project: "example.com:my-project", Region: "us-central1", Group: "web"},
	} {
		if _, err := d.Describe(testCtx(t), g); !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("describe %+v: %v, want ErrNotFound", g, err)
		}
	}
}

func TestZonalAndRegionalPaths(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: 5 * time.Millisecond}, time.Millisecond)
	z := cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: "us-central1-a", Group: "web"}
	r := cloud.GroupRef{Provider: "gcp", Project: testProject, Region: "us-central1", Group: "web"}
	if err := emu.CreateGroup(z, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := emu.CreateGroup(r, 7, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref      cloud.GroupRef
		size, to int
		path     string
	}{
		{z, 2, 3, "/compute/v1/projects/capstan-test/zones/us-central1-a/"},
		{r, 7, 9, "/compute/v1/projects/capstan-test/regions/us-central1/"},
	} {
		before := len(emu.Calls())
		gs, err := d.Describe(testCtx(t), tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		if gs.Desired != tc.size {
			t.Fatalf("%s: desired %d, want %d", tc.ref, gs.Desired, tc.size)
		}
		if err := d.SetDesired(testCtx(t), tc.ref, tc.to); err != nil {
			t.Fatal(err)
		}
		calls := emu.Calls()[before:]
		seen := map[gcpemu.Op]bool{}
		for _, c := range calls {
			seen[c.Op] = true
			if !strings.HasPrefix(c.Path, tc.path) {
				t.Errorf("%s: call %s %s, want it under %s", tc.ref, c.Method, c.Path, tc.path)
			}
		}
		if !seen[gcpemu.OpGet] || !seen[gcpemu.OpResize] || !seen[gcpemu.OpGetOperation] {
			t.Errorf("%s: calls %+v, want a get, a resize and an operation poll", tc.ref, calls)
		}
		if n, _ := emu.Desired(tc.ref); n != tc.to {
			t.Errorf("%s: emulator says %d, want %d", tc.ref, n, tc.to)
		}
	}
	// A zonal reference does not find the regional group of the same name.
	other := cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: "us-central1-b", Group: "web"}
	if _, err := d.Describe(testCtx(t), other); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("describe %s: %v, want ErrNotFound", other, err)
	}
}

func TestDescribeSizes(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	d, emu := newTestDriver(t, gcpemu.Options{BootDelay: 90 * time.Second, Now: clk.Now}, time.Millisecond)
	g := zonal.ref("sizes")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	gs, err := d.Describe(testCtx(t), g)
	if err != nil {
		t.Fatal(err)
	}
	// No autoscaler: no provider bounds, reported as 0 and 0.
	if want := (cloud.GroupState{Desired: 2, InService: 2}); gs != want {
		t.Fatalf("describe: %+v, want %+v", gs, want)
	}
	if err := d.SetDesired(testCtx(t), g, 5); err != nil {
		t.Fatal(err)
	}
	gs, err = d.Describe(testCtx(t), g)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cloud.GroupState{Desired: 5, InService: 2, Pending: 3, Busy: true}); gs != want {
		t.Fatalf("describe while booting: %+v, want %+v", gs, want)
	}
	clk.Advance(90 * time.Second)
	if gs, err = d.Describe(testCtx(t), g); err != nil {
		t.Fatal(err)
	}
	if want := (cloud.GroupState{Desired: 5, InService: 5}); gs != want {
		t.Fatalf("describe after the boot delay: %+v, want %+v", gs, want)
	}
	if err := emu.SetAutoscaler(g, &gcpemu.Autoscaler{Min: 1, Max: 8}); err != nil {
		t.Fatal(err)
	}
	if gs, err = d.Describe(testCtx(t), g); err != nil {
		t.Fatal(err)
	}
	if gs.Min != 1 || gs.Max != 8 {
		t.Fatalf("describe with an autoscaler: %+v, want min 1, max 8", gs)
	}
}

func TestIdempotentSetDesiredDoesNotResize(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
	g := regional.ref("idem")
	if err := emu.CreateGroup(g, 4, &gcpemu.Autoscaler{Min: 1, Max: 5}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := d.SetDesired(testCtx(t), g, 4); err != nil {
			t.Fatal(err)
		}
	}
	if n := countOps(emu.Calls(), gcpemu.OpResize); n != 0 {
		t.Fatalf("%d resize calls for the current size, want none", n)
	}
}

func TestAutoscalerNotOffIsRefused(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{}, time.Millisecond)
	g := zonal.ref("autoscaled")
	if err := emu.CreateGroup(g, 3, &gcpemu.Autoscaler{Min: 2, Max: 10, Mode: "ON"}); err != nil {
		t.Fatal(err)
	}
	gs, err := d.Describe(testCtx(t), g)
	if err != nil || gs.Min != 2 || gs.Max != 10 {
		t.Fatalf("describe: %+v, %v; want min 2, max 10", gs, err)
	}
	err = d.SetDesired(testCtx(t), g, 5)
	if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), "mode ON") {
		t.Fatalf("resize of a group autoscaled by GCP: %v, want ErrInvalid naming the mode", err)
	}
	if n := countOps(emu.Calls(), gcpemu.OpResize); n != 0 {
		t.Fatalf("%d resize calls, want none", n)
	}
}

// TestErrorMapping checks each answer's class on the bare driver (no retry
// wrapper), one call at a time, and that the SDK's error stays wrapped.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault gcpemu.Fault
		op    string // "describe" or "set_desired"
		want  error
		code  int // the googleapi.Error status expected inside, 0 to skip
	}{
		{"get throttled", gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.Throttle}, "describe", cloud.ErrThrottled, 429},
		{"resize throttled", gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Throttle}, "set_desired", cloud.ErrThrottled, 429},
		{"get 503", gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.ServerError}, "describe", cloud.ErrUnavailable, 503},
		{"resize 500", gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.InternalError}, "set_desired", cloud.ErrUnavailable, 500},
		{"resize not ready", gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.NotReady}, "set_desired", cloud.ErrConflict, 400},
		{"resize 409", gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Conflict}, "set_desired", cloud.ErrConflict, 409},
		{"get 404", gcpemu.Fault{Op: gcpemu.OpGet, Kind: gcpemu.NotFound}, "describe", cloud.ErrNotFound, 404},
		{"resize 404", gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.NotFound}, "set_desired", cloud.ErrNotFound, 404},
		{"autoscaler 503", gcpemu.Fault{Op: gcpemu.OpGetAutoscaler, Kind: gcpemu.ServerError}, "describe", cloud.ErrUnavailable, 503},
		{"operation poll throttled", gcpemu.Fault{Op: gcpemu.OpGetOperation, Kind: gcpemu.Throttle}, "set_desired", cloud.ErrThrottled, 429},
		{"operation poll 503", gcpemu.Fault{Op: gcpemu.OpGetOperation, Kind: gcpemu.ServerError}, "set_desired", cloud.ErrUnavailable, 503},
		{"autoscaler gone", gcpemu.Fault{Op: gcpemu.OpGetAutoscaler, Kind: gcpemu.NotFound}, "describe", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: 5 * time.Millisecond}, time.Millisecond)
			g := zonal.ref("errs")
			if err := emu.CreateGroup(g, 2, &gcpemu.Autoscaler{Min: 0, Max: 10}); err != nil {
				t.Fatal(err)
			}
			if err := emu.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.op == "describe" {
				_, err = d.Describe(testCtx(t), g)
			} else {
				err = d.SetDesired(testCtx(t), g, 3)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			for _, other := range []error{cloud.ErrNotFound, cloud.ErrInvalid, cloud.ErrThrottled, cloud.ErrUnavailable, cloud.ErrConflict} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("error %v is also %v", err, other)
				}
			}
			var gerr *googleapi.Error
			if !errors.As(err, &gerr) || gerr.Code != tc.code {
				t.Fatalf("error %v does not wrap a googleapi.Error with code %d", err, tc.code)
			}
			// One attempt per call: the SDK's own retries (on 503 for
			// gets) are off, so they cannot multiply with cloud.Retrying.
			if n := countOps(emu.Calls(), tc.fault.Op); n != 1 {
				t.Fatalf("%d %s calls, want exactly 1", n, tc.fault.Op)
			}
		})
	}
}

func TestSizesRefused(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{MaxZonalSize: 50}, time.Millisecond)
	g := zonal.ref("limits")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	// Negative: refused before any call.
	if err := d.SetDesired(testCtx(t), g, -1); !errors.Is(err, cloud.ErrInvalid) {
		t.Fatalf("size -1: %v, want ErrInvalid", err)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Fatalf("a negative size made %d calls", n)
	}
	// Above the provider's limit: the API's 400.
	err := d.SetDesired(testCtx(t), g, 51)
	var gerr *googleapi.Error
	if !errors.Is(err, cloud.ErrInvalid) || !errors.As(err, &gerr) || gerr.Code != 400 {
		t.Fatalf("size 51 over a limit of 50: %v, want ErrInvalid from a 400", err)
	}
	if n, _ := emu.Desired(g); n != 2 {
		t.Fatalf("desired %d after refused resizes, want 2", n)
	}
}

func TestFailedOperation(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: 5 * time.Millisecond}, time.Millisecond)
	g := regional.ref("opfail")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.OperationFails}); err != nil {
		t.Fatal(err)
	}
	err := d.SetDesired(testCtx(t), g, 4)
	var oerr *gcp.OperationError
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.As(err, &oerr) {
		t.Fatalf("error %v, want ErrUnavailable wrapping an OperationError", err)
	}
	// The operation's 500 must not be read as an HTTP answer to our call.
	if errors.Is(err, cloud.ErrInvalid) || oerr.HTTPStatus != 500 || len(oerr.Errors) != 1 || oerr.Errors[0].Code != "INTERNAL_ERROR" || !strings.HasPrefix(oerr.Name, "operation-") {
		t.Fatalf("operation error %+v", oerr)
	}
}

func TestFailedOperationIsNotRetriedAtOnce(t *testing.T) {
	d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: 5 * time.Millisecond}, time.Millisecond)
	g := zonal.ref("opfail-once")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.OperationFails, Times: 1}); err != nil {
		t.Fatal(err)
	}
	err := cloud.NewRetrying(d, drivertest.FastRetry()).SetDesired(testCtx(t), g, 4)
	if !errors.Is(err, cloud.ErrOperationFailed) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("error %v, want a failed operation (unavailable)", err)
	}
	if n := countOps(emu.Calls(), gcpemu.OpResize); n != 1 {
		t.Fatalf("%d resize calls, want 1: the next evaluation retries, not the wrapper", n)
	}
	if n, _ := emu.Desired(g); n != 2 {
		t.Fatalf("desired %d, want 2", n)
	}
}

// TestOperationErrorWithoutHTTPStatus serves a failed operation that has
// error.errors but no httpErrorStatusCode. The SDK's Operation.Wait would
// call that a success; the driver must not.
func TestOperationErrorWithoutHTTPStatus(t *testing.T) {
	emu := gcpemu.New(gcpemu.Options{OperationDelay: 5 * time.Millisecond})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/operations/") {
			emu.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, r)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		delete(body, "httpErrorStatusCode")
		delete(body, "httpErrorMessage")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	g := zonal.ref("silent-failure")
	if err := emu.CreateGroup(g, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.OperationFails}); err != nil {
		t.Fatal(err)
	}
	err = d.SetDesired(testCtx(t), g, 4)
	var oerr *gcp.OperationError
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.As(err, &oerr) || oerr.HTTPStatus != 0 || oerr.Errors[0].Code != "INTERNAL_ERROR" {
		t.Fatalf("error %v, want ErrUnavailable wrapping the operation's errors", err)
	}
}

// TestCancelDuringOperationWait: an operation that never finishes, and the
// caller giving up (cancel or deadline) while the driver polls it.
func TestCancelDuringOperationWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The default poll interval (1 s) on purpose: the wait must
			// end with the context, not at the next poll.
			d, emu := newTestDriver(t, gcpemu.Options{OperationDelay: time.Hour}, 0)
			g := zonal.ref("stuck")
			if err := emu.CreateGroup(g, 2, nil); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := d.SetDesired(ctx, g, 4)
			took := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if cloud.Transient(err) && tc.want == context.Canceled {
				t.Fatalf("a cancelled wait is transient: %v", err)
			}
			if took > 500*time.Millisecond {
				t.Fatalf("returned after %s, want promptly after the 100 ms cancel", took)
			}
			if n := countOps(emu.Calls(), gcpemu.OpResize); n != 1 {
				t.Fatalf("%d resize calls, want 1 (the wait, not the resize, was cancelled)", n)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    error // nil: none of the sentinels
	}{
		{"garbled body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"targetSize": "many"`))
		}, cloud.ErrUnavailable},
		{"504 from a proxy, not JSON", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		}, cloud.ErrUnavailable},
		{"408", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusRequestTimeout)
		}, cloud.ErrUnavailable},
		{"403 permission denied", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":403,"message":"Required 'compute.instanceGroupManagers.get' permission","errors":[{"reason":"forbidden","domain":"global"}],"status":"PERMISSION_DENIED"}}`))
		}, nil},
		{"403 rate limit", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"rateLimitExceeded","domain":"usageLimits"}]}}`))
		}, cloud.ErrThrottled},
		{"412 fingerprint", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusPreconditionFailed)
			_, _ = w.Write([]byte(`{"error":{"code":412,"message":"Supplied fingerprint does not match current metadata fingerprint.","errors":[{"reason":"conditionNotMet","domain":"global"}]}}`))
		}, cloud.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			_, err = d.Describe(testCtx(t), zonal.ref("web"))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want == nil && (cloud.Transient(err) || errors.Is(err, cloud.ErrConflict) || errors.Is(err, cloud.ErrInvalid) || errors.Is(err, cloud.ErrNotFound)) {
				t.Fatalf("error %v, want no sentinel", err)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		d, err := gcp.New(context.Background(), gcp.Options{Endpoint: url, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if _, err := d.Describe(testCtx(t), zonal.ref("web")); !errors.Is(err, cloud.ErrUnavailable) {
			t.Fatalf("error %v, want ErrUnavailable", err)
		}
	})
}

func TestNewOptions(t *testing.T) {
	for _, ep := range []string{"compute.googleapis.com", "ftp://x", "http://"} {
		if _, err := gcp.New(context.Background(), gcp.Options{Endpoint: ep, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}}); err == nil {
			t.Errorf("endpoint %q accepted", ep)
		}
	}
	if _, err := gcp.New(context.Background(), gcp.Options{PollInterval: -time.Second, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}}); err == nil {
		t.Error("negative poll interval accepted")
	}
	// A trailing slash on the endpoint must not double the path's slash.
	emu := gcpemu.New(gcpemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL + "/", ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	g := zonal.ref("slash")
	if err := emu.CreateGroup(g, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Describe(testCtx(t), g); err != nil {
		t.Fatal(err)
	}
}

// TestLogsCarryNoCredentials: debug logging of a resize mentions the group
// and the operation, and nothing from the request headers.
func TestLogsCarryNoCredentials(t *testing.T) {
	// The driver logs from the calling goroutine, so a plain buffer will do.
	var buf bytes.Buffer
	emu := gcpemu.New(gcpemu.Options{OperationDelay: 2 * time.Millisecond})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := gcp.New(context.Background(), gcp.Options{
		Endpoint:      srv.URL,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
		Logger:        log,
		PollInterval:  time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	g := zonal.ref("logged")
	if err := emu.CreateGroup(g, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDesired(testCtx(t), g, 2); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "gcp resize done") || !strings.Contains(out, "operation-") {
		t.Fatalf("log %q lacks the resize", out)
	}
	for _, bad := range []string{"Authorization", "Bearer", "x-goog"} {
		if strings.Contains(out, bad) {
			t.Fatalf("log mentions %q: %s", bad, out)
		}
	}
}
