package aws

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// clock is a settable time source for the emulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ref(group string) cloud.GroupRef {
	return cloud.GroupRef{Provider: "aws", Group: group, Region: testRegion}
}

// TestErrorMapping checks each AWS answer maps to the right sentinel, keeps
// the SDK's error (and its code) wrapped, and names the call.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name     string
		fault    awsemu.Fault
		n        int    // size asked for; the group is 1..5 at 2
		group    string // "" means the existing group
		want     error  // nil: no sentinel applies
		wantCode string // the API error code still reachable with errors.As
	}{
		{name: "Throttling", fault: awsemu.Fault{Code: "Throttling"}, n: 3, want: cloud.ErrThrottled, wantCode: "Throttling"},
		{name: "ThrottlingException", fault: awsemu.Fault{Code: "ThrottlingException"}, n: 3, want: cloud.ErrThrottled, wantCode: "ThrottlingException"},
		{name: "RequestLimitExceeded", fault: awsemu.Fault{Code: "RequestLimitExceeded", Status: 503}, n: 3, want: cloud.ErrThrottled, wantCode: "RequestLimitExceeded"},
		{name: "429 with an unknown code", fault: awsemu.Fault{Code: "Mystery", Status: 429}, n: 3, want: cloud.ErrThrottled, wantCode: "Mystery"},
		{name: "InternalFailure 500", fault: awsemu.Fault{Code: "InternalFailure"}, n: 3, want: cloud.ErrUnavailable, wantCode: "InternalFailure"},
		{name: "ServiceUnavailable 503", fault: awsemu.Fault{Code: "ServiceUnavailable"}, n: 3, want: cloud.ErrUnavailable, wantCode: "ServiceUnavailable"},
		{name: "unknown code with 502", fault: awsemu.Fault{Code: "BadGateway", Status: 502}, n: 3, want: cloud.ErrUnavailable, wantCode: "BadGateway"},
		{name: "ScalingActivityInProgress", fault: awsemu.Fault{Code: "ScalingActivityInProgress"}, n: 3, want: cloud.ErrConflict, wantCode: "ScalingActivityInProgress"},
		{name: "ResourceContention is a conflict despite its 500", fault: awsemu.Fault{Code: "ResourceContention"}, n: 3, want: cloud.ErrConflict, wantCode: "ResourceContention"},
		{name: "above max", n: 6, want: cloud.ErrInvalid, wantCode: "ValidationError"},
		{name: "below min", n: 0, want: cloud.ErrInvalid, wantCode: "ValidationError"},
		{name: "missing group", group: "nope", n: 1, want: cloud.ErrNotFound, wantCode: "ValidationError"},
		{name: "AccessDenied", fault: awsemu.Fault{Code: "AccessDenied", Status: 403}, n: 3, want: cloud.ErrInvalid, wantCode: "AccessDenied"},
		{name: "ExpiredToken", fault: awsemu.Fault{Code: "ExpiredToken", Status: 403}, n: 3, want: cloud.ErrInvalid, wantCode: "ExpiredToken"},
		{name: "dropped connection", fault: awsemu.Fault{Disconnect: true}, n: 3, want: cloud.ErrUnavailable},
		{name: "unknown 400 code", fault: awsemu.Fault{Code: "SomethingNew"}, n: 3, want: nil, wantCode: "SomethingNew"},
	}
	sentinels := []error{cloud.ErrNotFound, cloud.ErrInvalid, cloud.ErrThrottled, cloud.ErrUnavailable, cloud.ErrConflict}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, awsemu.Options{})
			if err := h.emu.CreateGroup("grp", 1, 5, 2); err != nil {
				t.Fatal(err)
			}
			if tc.fault != (awsemu.Fault{}) {
				if err := h.emu.InjectFault(tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			group := tc.group
			if group == "" {
				group = "grp"
			}
			err := h.drv.SetDesired(context.Background(), ref(group), tc.n)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(err, %v) = %v; err: %v", s, got, err)
				}
			}
			if tc.wantCode != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.wantCode {
					t.Errorf("API error code not reachable as %q: %v", tc.wantCode, err)
				}
			}
			if want := "aws autoscaling SetDesiredCapacity " + group + " (" + testRegion + ")"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if d, _ := h.emu.Desired("grp"); d != 2 {
				t.Errorf("desired %d after a failed call, want 2", d)
			}
		})
	}
}

// TestDescribeErrors checks Describe's own mapping: an empty answer is not
// found, and faults map as they do for writes.
func TestDescribeErrors(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	if _, err := h.drv.Describe(context.Background(), ref("absent")); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("describe of a missing group: %v, want ErrNotFound", err)
	}
	if err := h.emu.CreateGroup("grp", 0, 3, 1); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]error{"Throttling": cloud.ErrThrottled, "InternalFailure": cloud.ErrUnavailable} {
		if err := h.emu.InjectFault(awsemu.Fault{Action: awsemu.ActionDescribe, Code: code}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.drv.Describe(context.Background(), ref("grp")); !errors.Is(err, want) {
			t.Errorf("describe with %s: %v, want %v", code, err, want)
		}
	}
}

// TestClassify covers errors the emulator cannot easily produce.
func TestClassify(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), nil},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), cloud.ErrUnavailable},
		{"net timeout", fmt.Errorf("x: %w", timeout), cloud.ErrUnavailable},
		{"truncated body", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), cloud.ErrUnavailable},
		{"connection closed mid-answer", &smithy.DeserializationError{Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}}, cloud.ErrUnavailable},
		{"generic", errors.New("no credentials"), nil},
		{"validation not found", &smithy.GenericAPIError{Code: "ValidationError", Message: "AutoScalingGroup name not found - null"}, cloud.ErrNotFound},
		{"validation other", &smithy.GenericAPIError{Code: "ValidationError", Message: "New SetDesiredCapacity value 9 is above max value 5 for the AutoScalingGroup."}, cloud.ErrInvalid},
		{"InternalError", &smithy.GenericAPIError{Code: "InternalError"}, cloud.ErrUnavailable},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestCancellationAndDeadline: a cancelled call wraps context.Canceled and
// is not transient; a call past its deadline is unavailable and wraps
// context.DeadlineExceeded.
func TestCancellationAndDeadline(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	if err := h.emu.CreateGroup("grp", 0, 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.InjectFault(awsemu.Fault{Delay: time.Minute, Times: -1}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := h.drv.SetDesired(ctx, ref("grp"), 2)
	if !errors.Is(err, context.Canceled) || cloud.Transient(err) {
		t.Errorf("cancelled: %v (transient %v), want context.Canceled and not transient", err, cloud.Transient(err))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancelled call took %s", took)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = h.drv.Describe(ctx, ref("grp"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Errorf("deadline: %v, want context.DeadlineExceeded and ErrUnavailable", err)
	}
}

// TestConnectionRefused: an endpoint that is down is unavailable.
func TestConnectionRefused(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	h.srv.Close()
	err := h.drv.SetDesired(context.Background(), ref("grp"), 1)
	if !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("refused connection: %v, want ErrUnavailable", err)
	}
}

// TestValidation: bad targets and sizes fail with ErrInvalid and a message
// naming the field, before any request is sent.
func TestValidation(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	long := strings.Repeat("g", 256)
	cases := []struct {
		name string
		g    cloud.GroupRef
		n    int
		want string
	}{
		{"no group", cloud.GroupRef{Provider: "aws", Region: "us-east-1"}, 1, "target.group"},
		{"no region", cloud.GroupRef{Provider: "aws", Group: "web"}, 1, "target.region"},
		{"neither", cloud.GroupRef{Provider: "aws"}, 1, "target.group"},
		{"region with a dot", cloud.GroupRef{Group: "web", Region: "evil.example.com"}, 1, "target.region"},
		{"region upper case", cloud.GroupRef{Group: "web", Region: "US-EAST-1"}, 1, "target.region"},
		{"region with a space", cloud.GroupRef{Group: "web", Region: "us east 1"}, 1, "target.region"},
		{"group too long", cloud.GroupRef{Group: long, Region: "us-east-1"}, 1, "target.group"},
		{"another provider", cloud.GroupRef{Provider: "gcp", Group: "web", Region: "us-east-1"}, 1, "target.provider"},
		{"negative size", ref("web"), -1, "out of range"},
		{"size beyond int32", ref("web"), math.MaxInt32 + 1, "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h.drv.SetDesired(context.Background(), tc.g, tc.n)
			if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetDesired: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
			if tc.n >= 0 && tc.n <= math.MaxInt32 {
				if _, err := h.drv.Describe(context.Background(), tc.g); !errors.Is(err, cloud.ErrInvalid) {
					t.Errorf("Describe: %v, want ErrInvalid", err)
				}
			}
		})
	}
	if calls := h.emu.Calls(); len(calls) != 0 {
		t.Errorf("invalid targets reached the endpoint: %+v", calls)
	}
	if n := h.drv.clientCount(); n != 0 {
		t.Errorf("%d region clients made for invalid targets", n)
	}
}

// TestRegionClients: one client per region, made once even under
// concurrency, and each request is signed for its target's region.
func TestRegionClients(t *testing.T) {
	h := newHarness(t, awsemu.Options{})
	if err := h.emu.CreateGroup("grp", 0, 100, 1); err != nil {
		t.Fatal(err)
	}
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 40 {
		wg.Go(func() {
			g := cloud.GroupRef{Provider: "aws", Group: "grp", Region: regions[i%len(regions)]}
			if _, err := h.drv.Describe(context.Background(), g); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.drv.clientCount(); n != len(regions) {
		t.Errorf("%d region clients, want %d", n, len(regions))
	}
	before := h.drv.clientCount()
	c1 := h.drv.client("us-east-1")
	if c2 := h.drv.client("us-east-1"); c1 != c2 || h.drv.clientCount() != before {
		t.Error("a second lookup of a region made a new client")
	}
	seen := map[string]int{}
	for _, c := range h.emu.Calls() {
		seen[c.Region]++
		if c.AccessKeyID != testAccessKey {
			t.Errorf("call signed with access key %q, want the configured static one", c.AccessKeyID)
		}
	}
	for _, r := range regions {
		if seen[r] != 10 {
			t.Errorf("region %s: %d calls signed for it, want 10 (all: %v)", r, seen[r], seen)
		}
	}
}

// TestHonorCooldownFalse: every resize says HonorCooldown=false, so AWS
// never refuses one for the group's own cooldown. The emulator enforces
// the cooldown when asked to honour it, so back-to-back resizes prove it.
func TestHonorCooldownFalse(t *testing.T) {
	clk := newClock()
	h := newHarness(t, awsemu.Options{Now: clk.Now, DefaultCooldown: time.Hour})
	if err := h.emu.CreateGroup("grp", 0, 10, 1); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 2, 2, 7} {
		if err := h.drv.SetDesired(context.Background(), ref("grp"), n); err != nil {
			t.Fatalf("resize to %d inside the cooldown: %v", n, err)
		}
	}
	calls := h.emu.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4 (the repeat of the current size is sent too)", len(calls))
	}
	for _, c := range calls {
		if c.Action != awsemu.ActionSetDesired || c.HonorCooldown != "false" {
			t.Errorf("call %+v: want SetDesiredCapacity with HonorCooldown=false", c)
		}
	}
}

// TestDescribeState: sizes, pending and in-service counts as instances
// boot, scale-in, and Busy while the group is being deleted.
func TestDescribeState(t *testing.T) {
	clk := newClock()
	h := newHarness(t, awsemu.Options{Now: clk.Now, BootDelay: 3 * time.Minute})
	if err := h.emu.CreateGroup("grp", 1, 10, 2); err != nil {
		t.Fatal(err)
	}
	describe := func(want cloud.GroupState) {
		t.Helper()
		gs, err := h.drv.Describe(context.Background(), ref("grp"))
		if err != nil {
			t.Fatal(err)
		}
		if gs != want {
			t.Fatalf("describe: %+v, want %+v", gs, want)
		}
	}
	describe(cloud.GroupState{Desired: 2, Min: 1, Max: 10, InService: 2})
	if err := h.drv.SetDesired(context.Background(), ref("grp"), 5); err != nil {
		t.Fatal(err)
	}
	// Booting instances are Pending, not Busy: AWS accepts resizes meanwhile.
	describe(cloud.GroupState{Desired: 5, Min: 1, Max: 10, InService: 2, Pending: 3})
	clk.Advance(3 * time.Minute)
	describe(cloud.GroupState{Desired: 5, Min: 1, Max: 10, InService: 5})
	if err := h.drv.SetDesired(context.Background(), ref("grp"), 8); err != nil {
		t.Fatal(err)
	}
	if err := h.drv.SetDesired(context.Background(), ref("grp"), 6); err != nil {
		t.Fatal(err)
	}
	// Scale-in terminated the booting instances first.
	describe(cloud.GroupState{Desired: 6, Min: 1, Max: 10, InService: 5, Pending: 1})

	if err := h.emu.SetStatus("grp", awsemu.StatusDeleting); err != nil {
		t.Fatal(err)
	}
	describe(cloud.GroupState{Desired: 6, Min: 1, Max: 10, InService: 5, Pending: 1, Busy: true})
	if err := h.drv.SetDesired(context.Background(), ref("grp"), 3); !errors.Is(err, cloud.ErrConflict) {
		t.Fatalf("resize while deleting: %v, want ErrConflict", err)
	}
}

// TestSDKRetriesOff: one driver call is one request, even when the
// environment asks the SDK for more attempts; retrying is cloud.Retrying's
// job.
func TestSDKRetriesOff(t *testing.T) {
	hermetic(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	emu := awsemu.New(awsemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.CreateGroup("grp", 0, 5, 1); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{awsemu.CodeThrottling, awsemu.CodeInternalFailure, awsemu.CodeServiceUnavailable} {
		if err := emu.InjectFault(awsemu.Fault{Code: code, Times: -1}); err != nil {
			t.Fatal(err)
		}
		before := len(emu.Calls())
		if err := drv.SetDesired(context.Background(), ref("grp"), 2); !cloud.Transient(err) {
			t.Fatalf("%s: %v, want a transient error", code, err)
		}
		if n := len(emu.Calls()) - before; n != 1 {
			t.Errorf("%s: %d requests for one call, want 1", code, n)
		}
		emu.ClearFaults()
	}
}

// TestDefaultCredentialChain: with no Credentials option the SDK's chain is
// used; here it finds the environment variables.
func TestDefaultCredentialChain(t *testing.T) {
	hermetic(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	emu := awsemu.New(awsemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{BaseEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.CreateGroup("grp", 0, 5, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Describe(context.Background(), ref("grp")); err != nil {
		t.Fatal(err)
	}
	if calls := emu.Calls(); len(calls) != 1 || calls[0].AccessKeyID != "AKIDFROMENVIRONMENT1" {
		t.Fatalf("calls %+v, want one signed with the environment's key", calls)
	}
}

// TestNoCredentials: when the chain finds nothing, the call fails with the
// SDK's explanation, unclassified (not retried), and never reaches AWS.
func TestNoCredentials(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{BaseEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = drv.Describe(context.Background(), ref("grp"))
	if err == nil || cloud.Transient(err) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("describe without credentials: %v, want a non-transient credentials error", err)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Fatalf("%d unsigned calls reached the endpoint", n)
	}
}

// TestNewRejectsBadEndpoint: a malformed override fails at start-up, not at
// the first call.
func TestNewRejectsBadEndpoint(t *testing.T) {
	hermetic(t)
	for _, ep := range []string{"autoscaling.example.com", "ftp://x", "http://", "::"} {
		if _, err := New(context.Background(), Options{BaseEndpoint: ep}); !errors.Is(err, cloud.ErrInvalid) {
			t.Errorf("endpoint %q: %v, want ErrInvalid", ep, err)
		}
	}
}

// TestNoSecretInErrorsOrLogs drives every failure path and asserts the
// secret access key never appears in an error or a log record, and that
// the access key id and signature stay out of the errors too.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	drv, err := New(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "session-token-SECRET"),
		HTTPClient:   &http.Client{Timeout: 5 * time.Second},
		Logger:       log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.CreateGroup("grp", 1, 5, 2); err != nil {
		t.Fatal(err)
	}
	var errs []error
	faults := []awsemu.Fault{
		{Code: "Throttling"}, {Code: "InternalFailure"}, {Code: "ScalingActivityInProgress"},
		{Code: "SignatureDoesNotMatch", Status: 403, Message: "The request signature we calculated does not match the signature you provided."},
		{Code: "AccessDenied", Status: 403}, {Disconnect: true}, {Code: "Odd", Status: 502},
	}
	for _, f := range faults {
		if err := emu.InjectFault(f); err != nil {
			t.Fatal(err)
		}
		errs = append(errs, drv.SetDesired(context.Background(), ref("grp"), 3))
	}
	errs = append(errs,
		drv.SetDesired(context.Background(), ref("grp"), 9),
		drv.SetDesired(context.Background(), ref("missing"), 1),
		drv.SetDesired(context.Background(), cloud.GroupRef{Group: "grp"}, 1),
	)
	_, err = drv.Describe(context.Background(), ref("missing"))
	errs = append(errs, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs = append(errs, drv.SetDesired(ctx, ref("grp"), 3))
	if err := drv.SetDesired(context.Background(), ref("grp"), 4); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	errs = append(errs, drv.SetDesired(context.Background(), ref("grp"), 3))

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, secret := range []string{testSecretKey, "session-token-SECRET", "Signature=", testAccessKey} {
				if strings.Contains(text, secret) {
					t.Errorf("case %d: error text contains %q: %s", i, secret, text)
				}
			}
		}
	}
	for _, secret := range []string{testSecretKey, "session-token-SECRET"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "desired capacity set") {
		t.Errorf("no debug record of the resize in the logs: %s", logs.String())
	}
}

// TestTLSAndCABundle: over TLS, the SDK's own client trusts a private CA
// named by AWS_CA_BUNDLE, and a custom HTTPClient works alongside the
// bundle setting (the SDK would refuse to load the bundle into it).
func TestTLSAndCABundle(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	if err := emu.CreateGroup("grp", 0, 5, 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(emu)
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	for name, client := range map[string]*http.Client{"sdk client": nil, "custom client": srv.Client()} {
		drv, err := New(context.Background(), Options{BaseEndpoint: srv.URL, Credentials: creds, HTTPClient: client})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := drv.Describe(context.Background(), ref("grp")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
