package azure_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
)

// secretToken is distinctive so a leak into an error or a log is easy to
// find.
const secretToken = "s3cr3t-T0KEN-4f9b2c7e-never-print-me"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// calls counts the emulator's calls of one op.
func calls(e *azemu.Emulator, op string) int {
	n := 0
	for _, c := range e.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// eventually reports whether cond holds within a second.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestEveryRequestCarriesTheBearerToken(t *testing.T) {
	e, d := serve(t, azemu.Options{Token: secretToken}, nil)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDesired(ctxT(t), ref("web"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Describe(ctxT(t), ref("web")); err != nil {
		t.Fatal(err)
	}
	got := e.Calls()
	ops := map[string]int{}
	for _, c := range got {
		ops[c.Op]++
		if c.Token != secretToken || c.APIVersion == "" || c.Status != http.StatusOK {
			t.Errorf("call %s %s: token %q, api-version %q, status %d; want the credential's token, an api-version, 200",
				c.Method, c.Path, c.Token, c.APIVersion, c.Status)
		}
	}
	// SetDesired: a read, the PATCH, at least one poll, the final GET;
	// Describe: the scale set and its instance view.
	if ops[azemu.OpSetDesired] != 1 || ops[azemu.OpPoll] < 1 || ops[azemu.OpDescribe] != 4 {
		t.Fatalf("calls by op %v, want 1 set_desired, >= 1 poll, 4 describe", ops)
	}
}

func TestAWrongTokenIsRefusedAsInvalid(t *testing.T) {
	e, d := serve(t, azemu.Options{Token: "the-right-one"}, func(o *azure.Options) {
		o.Credential = azemu.Credential{Token: "a-wrong-one"}
	})
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	_, err := d.Describe(ctxT(t), ref("web"))
	var re *azcore.ResponseError
	if !errors.Is(err, cloud.ErrInvalid) || !errors.As(err, &re) || re.ErrorCode != "InvalidAuthenticationToken" {
		t.Fatalf("error %v, want ErrInvalid wrapping a 401 InvalidAuthenticationToken", err)
	}
}

func TestGroupRefValidation(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	full := ref("web")
	tests := []struct {
		name    string
		mutate  func(*cloud.GroupRef)
		missing string
	}{
		{"no subscription", func(g *cloud.GroupRef) { g.Subscription = "" }, "subscription"},
		{"no resource group", func(g *cloud.GroupRef) { g.ResourceGroup = " " }, "resource_group"},
		{"no scale set", func(g *cloud.GroupRef) { g.ScaleSet = "" }, "scale_set"},
		{"nothing", func(g *cloud.GroupRef) { *g = cloud.GroupRef{Provider: "azure", Group: "web"} }, "subscription, resource_group, scale_set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := full
			tc.mutate(&g)
			_, derr := d.Describe(ctxT(t), g)
			serr := d.SetDesired(ctxT(t), g, 1)
			for _, err := range []error{derr, serr} {
				if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), "missing "+tc.missing) {
					t.Fatalf("error %v, want ErrInvalid naming %q", err, tc.missing)
				}
			}
		})
	}
	if err := d.SetDesired(ctxT(t), full, -1); !errors.Is(err, cloud.ErrInvalid) {
		t.Fatalf("negative size: %v, want ErrInvalid", err)
	}
	if err := d.SetDesired(ctxT(t), full, 1001); !errors.Is(err, cloud.ErrInvalid) {
		t.Fatalf("size beyond Azure's 1000: %v, want ErrInvalid", err)
	}
	if n := len(e.Calls()); n != 0 {
		t.Fatalf("%d calls reached Azure, want none for invalid references", n)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name  string
		fault *azemu.Fault
		group string // default "web"
		op    string // "describe" or "set_desired"
		want  error
		code  string // the ARM code the wrapped ResponseError carries
	}{
		{"missing scale set", nil, "nope", "describe", cloud.ErrNotFound, "ResourceNotFound"},
		{"missing scale set on update", nil, "nope", "set_desired", cloud.ErrNotFound, "ResourceNotFound"},
		{"invalid parameter", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpSetDesired, Status: 400, Code: "InvalidParameter", Message: "bad"}, "", "set_desired", cloud.ErrInvalid, "InvalidParameter"},
		{"quota exceeded is 409 but permanent", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpSetDesired, Status: 409, Code: "OperationNotAllowed",
			Message: "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Current Limit: 10"}, "", "set_desired", cloud.ErrInvalid, "OperationNotAllowed"},
		{"operation not allowed while marked for deletion", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpSetDesired, Status: 409, Code: "OperationNotAllowed",
			Message: "Operation 'Update Virtual Machine Scale Set' is not allowed on Virtual Machine Scale Set 'web' since it is marked for deletion."}, "", "set_desired", cloud.ErrConflict, "OperationNotAllowed"},
		{"concurrent operation", &azemu.Fault{Kind: azemu.Busy, Op: azemu.OpSetDesired}, "", "set_desired", cloud.ErrConflict, "Conflict"},
		{"stale etag", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpSetDesired, Status: 412, Code: "PreconditionFailed", Message: "not met"}, "", "set_desired", cloud.ErrConflict, "PreconditionFailed"},
		{"compute throttling", &azemu.Fault{Kind: azemu.Throttle, Op: azemu.OpDescribe, RetryAfter: 30 * time.Second}, "", "describe", cloud.ErrThrottled, "OperationNotAllowed"},
		{"ARM throttling", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpDescribe, Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down"}, "", "describe", cloud.ErrThrottled, "SubscriptionRequestsThrottled"},
		{"500", &azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpDescribe}, "", "describe", cloud.ErrUnavailable, "InternalExecutionError"},
		{"502", &azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpSetDesired, Status: 502}, "", "set_desired", cloud.ErrUnavailable, "BadGateway"},
		{"503", &azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpSetDesired, Status: 503}, "", "set_desired", cloud.ErrUnavailable, "ServiceUnavailable"},
		{"504", &azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpDescribe, Status: 504}, "", "describe", cloud.ErrUnavailable, "GatewayTimeout"},
		{"forbidden", &azemu.Fault{Kind: azemu.Error, Op: azemu.OpDescribe, Status: 403, Code: "AuthorizationFailed", Message: "no read permission"}, "", "describe", cloud.ErrInvalid, "AuthorizationFailed"},
		{"poll throttled", &azemu.Fault{Kind: azemu.Throttle, Op: azemu.OpPoll}, "", "set_desired", cloud.ErrThrottled, "OperationNotAllowed"},
		{"poll 503", &azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpPoll, Status: 503}, "", "set_desired", cloud.ErrUnavailable, "ServiceUnavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, d := serve(t, azemu.Options{OperationDuration: time.Millisecond}, nil)
			if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
				t.Fatal(err)
			}
			if tc.fault != nil {
				if err := e.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			g := ref("web")
			if tc.group != "" {
				g = ref(tc.group)
			}
			start := time.Now()
			var err error
			if tc.op == "describe" {
				_, err = d.Describe(ctxT(t), g)
			} else {
				err = d.SetDesired(ctxT(t), g, 4)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.ErrorCode != tc.code {
				t.Fatalf("error %v does not wrap a ResponseError with code %s", err, tc.code)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			// The SDK does not retry (nor sleep on Retry-After): every
			// request was sent once.
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("took %s: the SDK waited or retried", took)
			}
			if n := countErrors(e); n != 1 {
				t.Fatalf("%d error answers, want 1: the SDK retried", n)
			}
		})
	}
}

func countErrors(e *azemu.Emulator) int {
	n := 0
	for _, c := range e.Calls() {
		if c.Status >= 400 {
			n++
		}
	}
	return n
}

func TestResourceGroupAndSubscriptionNotFound(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		g    cloud.GroupRef
		code string
	}{
		{cloud.GroupRef{Subscription: testSub, ResourceGroup: "other-rg", ScaleSet: "web"}, "ResourceGroupNotFound"},
		{cloud.GroupRef{Subscription: "11111111-1111-1111-1111-111111111111", ResourceGroup: testRG, ScaleSet: "web"}, "SubscriptionNotFound"},
	} {
		_, err := d.Describe(ctxT(t), tc.g)
		var re *azcore.ResponseError
		if !errors.Is(err, cloud.ErrNotFound) || !errors.As(err, &re) || re.ErrorCode != tc.code {
			t.Fatalf("error %v, want ErrNotFound with %s", err, tc.code)
		}
	}
}

func TestNoAnswerIsUnavailable(t *testing.T) {
	e := azemu.New(azemu.Options{})
	srv := httptest.NewServer(e)
	opts := e.DriverOptions(srv.URL)
	srv.Close() // connection refused from now on
	d, err := azure.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Describe(ctxT(t), ref("web"))
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
}

// countingCredential counts token requests: each SDK client has its own
// bearer-token policy and cache, so one request per subscription proves
// one client per subscription.
type countingCredential struct {
	n atomic.Int64
}

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.n.Add(1)
	return azcore.AccessToken{Token: secretToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestOneClientPerSubscription(t *testing.T) {
	cred := &countingCredential{}
	e, d := serve(t, azemu.Options{}, func(o *azure.Options) { o.Credential = cred })
	subs := []string{"aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", "cccccccc-0000-0000-0000-000000000003"}
	for _, s := range subs {
		if err := e.CreateGroup(s, testRG, "web", 0, 10, 2); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := cloud.GroupRef{Subscription: subs[i%len(subs)], ResourceGroup: testRG, ScaleSet: "web"}
			if _, err := d.Describe(context.Background(), g); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := cred.n.Load(); n != int64(len(subs)) {
		t.Fatalf("%d token requests for %d subscriptions, want one each (one client, one token cache per subscription)", n, len(subs))
	}
}

func TestFailedOperationIsUnavailableAndNotRepeated(t *testing.T) {
	e, d := serve(t, azemu.Options{OperationDuration: 5 * time.Millisecond}, nil)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.InjectFault(azemu.Fault{Kind: azemu.OperationFails, Op: azemu.OpSetDesired}); err != nil {
		t.Fatal(err)
	}
	err := cloud.NewRetrying(d, drivertest.FastRetry()).SetDesired(ctxT(t), ref("web"), 6)
	var re *azcore.ResponseError
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.As(err, &re) || re.ErrorCode != "AllocationFailed" {
		t.Fatalf("error %v, want ErrUnavailable wrapping the operation's AllocationFailed", err)
	}
	if !strings.Contains(err.Error(), "AllocationFailed: Allocation failed") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("message %q should carry the operation's code and message on one line", err)
	}
	if n := calls(e, azemu.OpSetDesired); n != 1 {
		t.Fatalf("%d updates sent, want 1: a failed operation is not repeated at once", n)
	}
	gs, err := d.Describe(ctxT(t), ref("web"))
	if err != nil {
		t.Fatal(err)
	}
	if gs.Desired != 2 || gs.Busy {
		t.Fatalf("after the failure: %+v, want desired 2, not busy", gs)
	}
	// The next evaluation's attempt goes through.
	if err := d.SetDesired(ctxT(t), ref("web"), 6); err != nil {
		t.Fatal(err)
	}
}

func TestCancellationDuringPolling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *azemu.Fault
	}{
		{"between polls", nil},
		{"during a hung poll", &azemu.Fault{Kind: azemu.Slow, Op: azemu.OpPoll, Times: -1, Delay: 200 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The operation outlives the test; the poller would wait an
			// hour for it.
			e, d := serve(t, azemu.Options{OperationDuration: time.Hour}, func(o *azure.Options) { o.PollFrequency = 20 * time.Millisecond })
			if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
				t.Fatal(err)
			}
			if tc.fault != nil {
				if err := e.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			err := cloud.NewRetrying(d, drivertest.FastRetry()).SetDesired(ctx, ref("web"), 5)
			if took := time.Since(start); took > time.Second {
				t.Fatalf("returned %s after starting, want promptly after the 100ms cancel", took)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			// A hung poll is logged when it has run its course (the
			// emulator carries a request on after its client hangs up),
			// its delay after it arrived.
			if !eventually(func() bool { return calls(e, azemu.OpPoll) > 0 }) {
				t.Fatal("never polled: the cancel did not land during PollUntilDone")
			}
			// Azure accepted the update; it carries on without us.
			gs, err := e.State(testSub, testRG, "web")
			if err != nil {
				t.Fatal(err)
			}
			if gs.Desired != 5 || !gs.Busy {
				t.Fatalf("emulator state %+v, want desired 5 and busy", gs)
			}
		})
	}
}

func TestDeadlineDuringPollingIsUnavailable(t *testing.T) {
	e, d := serve(t, azemu.Options{OperationDuration: time.Hour}, nil)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	err := d.SetDesired(ctx, ref("web"), 5)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("error %v, want DeadlineExceeded and ErrUnavailable", err)
	}
}

func TestOperationWaitReturnsWhileTheOperationRuns(t *testing.T) {
	e, d := serve(t, azemu.Options{OperationDuration: time.Hour}, func(o *azure.Options) { o.OperationWait = 50 * time.Millisecond })
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.SetDesired(ctxT(t), ref("web"), 5); err != nil {
		t.Fatalf("error %v, want success once the wait is over", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s, want about the 50ms wait", took)
	}
	gs, err := d.Describe(ctxT(t), ref("web"))
	if err != nil {
		t.Fatal(err)
	}
	if gs.Desired != 5 || !gs.Busy {
		t.Fatalf("describe %+v, want desired 5, busy while the operation runs", gs)
	}
	// Another resize meets the running operation: a conflict.
	if err := d.SetDesired(ctxT(t), ref("web"), 7); !errors.Is(err, cloud.ErrConflict) {
		t.Fatalf("resize during the operation: %v, want ErrConflict", err)
	}
}

// manualClock is an emulator clock a test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// TestDescribeInstancesAndBusy: while a scale-out runs the new instances
// are pending and the scale set busy; once they are provisioned its
// operation ends and every instance is in service.
func TestDescribeInstancesAndBusy(t *testing.T) {
	clk := &manualClock{t: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
	// The driver stops waiting for the operation after 50 ms; the
	// emulator's clock does not move meanwhile.
	e, d := serve(t, azemu.Options{BootDelay: time.Hour, Now: clk.now}, func(o *azure.Options) { o.OperationWait = 50 * time.Millisecond })
	if err := e.CreateGroup(testSub, testRG, "web", 1, 0, 3); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDesired(ctxT(t), ref("web"), 5); err != nil {
		t.Fatal(err)
	}
	gs, err := d.Describe(ctxT(t), ref("web"))
	if err != nil {
		t.Fatal(err)
	}
	want := cloud.GroupState{Desired: 5, Min: 1, Max: 0, InService: 3, Pending: 2, Busy: true}
	if gs != want {
		t.Fatalf("describe %+v, want %+v (no max tag: Max 0)", gs, want)
	}
	clk.add(time.Hour)
	want = cloud.GroupState{Desired: 5, Min: 1, InService: 5}
	if gs, err = d.Describe(ctxT(t), ref("web")); err != nil || gs != want {
		t.Fatalf("after boot: %+v, %v; want %+v", gs, err, want)
	}
	if err := e.SetProvisioningState(testSub, testRG, "web", "Updating"); err != nil {
		t.Fatal(err)
	}
	if gs, err = d.Describe(ctxT(t), ref("web")); err != nil || !gs.Busy {
		t.Fatalf("describe %+v, %v: want busy while another operation runs", gs, err)
	}
	if err := e.SetProvisioningState(testSub, testRG, "web", "Succeeded"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDesired(ctxT(t), ref("web"), 2); err != nil {
		t.Fatal(err)
	}
	if gs, err = d.Describe(ctxT(t), ref("web")); err != nil || gs.InService != 2 || gs.Pending != 0 {
		t.Fatalf("after scale-in: %+v, %v", gs, err)
	}
}

func TestSetDesiredSkipsTheCurrentCapacity(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 3); err != nil {
		t.Fatal(err)
	}
	if err := d.SetDesired(ctxT(t), ref("web"), 3); err != nil {
		t.Fatal(err)
	}
	if n := calls(e, azemu.OpSetDesired); n != 0 {
		t.Fatalf("%d updates for the current capacity, want none", n)
	}
}

// TestUpdateIsConditionalOnTheETag: a change between the driver's read and
// its update (here another client's resize) makes the update a conflict
// instead of overwriting it.
func TestUpdateIsConditionalOnTheETag(t *testing.T) {
	e := azemu.New(azemu.Options{})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	opts := e.DriverOptions(srv.URL)
	var once sync.Once
	opts.Transport = transportFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodPatch {
			once.Do(func() {
				// Someone else resizes first.
				other, _ := http.NewRequest(http.MethodPatch, req.URL.String(), strings.NewReader(`{"sku":{"capacity":3}}`))
				other.Header.Set("Authorization", "Bearer "+azemu.DefaultToken)
				resp, err := http.DefaultClient.Do(other)
				if err == nil {
					resp.Body.Close()
				}
			})
		}
		return http.DefaultTransport.RoundTrip(req)
	})
	d, err := azure.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = d.SetDesired(ctxT(t), ref("web"), 6)
	var re *azcore.ResponseError
	if !errors.Is(err, cloud.ErrConflict) || !errors.As(err, &re) || re.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("error %v, want ErrConflict from 412", err)
	}
	if n, _ := e.Desired(testSub, testRG, "web"); n != 3 {
		t.Fatalf("desired %d, want the other client's 3 kept", n)
	}
	var sawIfMatch bool
	for _, c := range e.Calls() {
		if c.Op == azemu.OpSetDesired && c.IfMatch == `"1"` {
			sawIfMatch = true
		}
	}
	if !sawIfMatch {
		t.Fatal(`the driver's update did not carry If-Match: "1"`)
	}
}

type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, d := serve(t, azemu.Options{Token: secretToken, OperationDuration: time.Millisecond},
		func(o *azure.Options) { o.Credential = azemu.Credential{Token: secretToken}; o.Logger = logger })
	if err := e.CreateGroup(testSub, testRG, "web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	var errs []error
	try := func(f azemu.Fault, op string) {
		if f.Kind != 0 {
			if err := e.InjectFault(f); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if op == "describe" {
			_, err = d.Describe(ctxT(t), ref("web"))
		} else {
			err = d.SetDesired(ctxT(t), ref("web"), 3+len(errs)%2)
		}
		errs = append(errs, err)
	}
	try(azemu.Fault{Kind: azemu.Throttle, Op: azemu.OpDescribe}, "describe")
	try(azemu.Fault{Kind: azemu.ServerError, Op: azemu.OpSetDesired}, "set")
	try(azemu.Fault{Kind: azemu.Busy, Op: azemu.OpSetDesired}, "set")
	try(azemu.Fault{Kind: azemu.OperationFails, Op: azemu.OpSetDesired}, "set")
	try(azemu.Fault{Kind: azemu.Error, Op: azemu.OpDescribe, Status: 403, Code: "AuthorizationFailed", Message: "denied"}, "describe")
	try(azemu.Fault{}, "set")
	try(azemu.Fault{}, "describe")
	_, err := d.Describe(ctxT(t), ref("missing"))
	errs = append(errs, err)
	// A credential the emulator refuses.
	_, bad := serve(t, azemu.Options{Token: "other"}, func(o *azure.Options) { o.Credential = azemu.Credential{Token: secretToken}; o.Logger = logger })
	_, err = bad.Describe(ctxT(t), ref("web"))
	errs = append(errs, err)
	failures := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failures++
		if strings.Contains(err.Error(), secretToken) || strings.Contains(fmt.Sprintf("%+v", err), secretToken) {
			t.Fatalf("the token leaked into an error: %v", err)
		}
	}
	if failures < 6 {
		t.Fatalf("only %d failures exercised", failures)
	}
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing logged: the check proves nothing")
	}
	if strings.Contains(logs.String(), secretToken) {
		t.Fatalf("the token leaked into the logs:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewValidatesOptions(t *testing.T) {
	e := azemu.New(azemu.Options{})
	good := e.DriverOptions("http://127.0.0.1:1")
	tests := []struct {
		name   string
		mutate func(*azure.Options)
		want   string
	}{
		{"http without the insecure flag", func(o *azure.Options) { o.InsecureAllowCredentialWithHTTP = false }, "plain http"},
		{"no audience", func(o *azure.Options) {
			o.Cloud = azemu.CloudConfig("http://127.0.0.1:1")
			rm := o.Cloud.Services["resourceManager"]
			rm.Audience = ""
			o.Cloud.Services["resourceManager"] = rm
		}, "Endpoint and Audience"},
		{"no authority host for the default credential", func(o *azure.Options) {
			o.Credential = nil
			o.Cloud.ActiveDirectoryAuthorityHost = ""
		}, "ActiveDirectoryAuthorityHost"},
		{"transport and client", func(o *azure.Options) {
			o.Transport = http.DefaultClient
			o.HTTPClient = http.DefaultClient
		}, "at most one"},
		{"negative poll", func(o *azure.Options) { o.PollFrequency = -time.Second }, "poll frequency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			o.Cloud = azemu.CloudConfig("http://127.0.0.1:1")
			tc.mutate(&o)
			if _, err := azure.New(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := azure.New(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	// The zero value is Azure public cloud with the default credential,
	// which builds without any environment.
	if _, err := azure.New(context.Background(), azure.Options{}); err != nil {
		t.Fatalf("zero options: %v", err)
	}
}
