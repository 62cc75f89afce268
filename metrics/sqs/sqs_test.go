package sqs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/metrics/sqs/sqsemu"
	"github.com/capstan-io/capstan/policy"
)

// metricReader is the control plane's MetricReader, restated so this
// package need not import controlplane; the assignment below keeps the two
// in step at compile time.
type metricReader interface {
	Read(ctx context.Context, src policy.Source) (value float64, at time.Time, err error)
}

var _ metricReader = (*Reader)(nil)

// sentinels are the errors a Read error may wrap.
func sentinels() []error { return []error{ErrQueueNotFound, ErrThrottled, ErrUnavailable, ErrInvalid} }

// TestRead reads depths through the real SDK and checks the request on the
// wire: one GetQueueAttributes, in the JSON protocol's query-compatible
// mode, naming exactly the attributes needed, signed for the source's
// region.
func TestRead(t *testing.T) {
	cases := []struct {
		name                      string
		queue                     string
		visible, inFlight, delayd int64
		includeInFlight           bool
		want                      float64
		wantAttrs                 []string
	}{
		{name: "visible only", queue: "jobs", visible: 42, inFlight: 7, want: 42,
			wantAttrs: []string{"ApproximateNumberOfMessages"}},
		{name: "with in-flight", queue: "jobs", visible: 42, inFlight: 7, includeInFlight: true, want: 49,
			wantAttrs: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}},
		{name: "empty queue", queue: "idle", includeInFlight: true, want: 0,
			wantAttrs: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}},
		{name: "delayed messages are not depth", queue: "later", visible: 3, inFlight: 1, delayd: 100, includeInFlight: true, want: 4,
			wantAttrs: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}},
		{name: "fifo queue", queue: "orders.fifo", visible: 9, want: 9,
			wantAttrs: []string{"ApproximateNumberOfMessages"}},
		{name: "beyond int32", queue: "huge", visible: 1 << 40, inFlight: 1, includeInFlight: true, want: 1<<40 + 1,
			wantAttrs: []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			url := h.emu.CreateQueue(tc.queue)
			if err := h.emu.SetDepth(url, tc.visible, tc.inFlight); err != nil {
				t.Fatal(err)
			}
			if err := h.emu.SetDelayed(url, tc.delayd); err != nil {
				t.Fatal(err)
			}
			v, at, err := h.rd.Read(context.Background(), source(url, tc.includeInFlight))
			if err != nil {
				t.Fatal(err)
			}
			if v != tc.want || !at.Equal(fixedNow()) {
				t.Errorf("Read = %v at %v, want %v at %v", v, at, tc.want, fixedNow())
			}
			calls := h.emu.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1: %+v", len(calls), calls)
			}
			c := calls[0]
			if c.Action != sqsemu.ActionGetQueueAttributes || c.QueueURL != url || !slices.Equal(c.AttributeNames, tc.wantAttrs) ||
				!c.QueryMode || c.Region != testRegion || c.AccessKeyID != testAccessKey || c.Status != http.StatusOK {
				t.Errorf("call %+v: want GetQueueAttributes of %s for %v in query mode, signed for %s by %s",
					c, url, tc.wantAttrs, testRegion, testAccessKey)
			}
		})
	}
}

// TestReadErrors checks each SQS answer maps to the right sentinel after
// the right number of requests, keeps the SDK's error (and its code)
// wrapped, and names the call.
func TestReadErrors(t *testing.T) {
	cases := []struct {
		name      string
		fault     sqsemu.Fault
		missing   bool    // read a queue that does not exist
		want      error   // nil: success, or no sentinel when wantErr
		wantErr   bool    // an error is expected
		wantValue float64 // on success
		calls     int     // requests the read should make
		wantCode  string  // API error code reachable with errors.As
	}{
		{name: "missing queue", missing: true, want: ErrQueueNotFound, wantErr: true, calls: 1,
			wantCode: "AWS.SimpleQueueService.NonExistentQueue"},
		{name: "deleted queue as a fault", fault: sqsemu.Fault{Code: sqsemu.CodeQueueDoesNotExist}, want: ErrQueueNotFound, wantErr: true, calls: 1,
			wantCode: "AWS.SimpleQueueService.NonExistentQueue"},
		{name: "throttled once is retried", fault: sqsemu.Fault{Code: sqsemu.CodeRequestThrottled}, wantValue: 5, calls: 2},
		{name: "throttled twice is retried twice", fault: sqsemu.Fault{Code: sqsemu.CodeRequestThrottled, Times: 2}, wantValue: 5, calls: 3},
		{name: "throttled always", fault: sqsemu.Fault{Code: sqsemu.CodeRequestThrottled, Times: -1}, want: ErrThrottled, wantErr: true, calls: 3,
			wantCode: "RequestThrottled"},
		{name: "front-end throttling always", fault: sqsemu.Fault{Code: sqsemu.CodeThrottlingException, Times: -1}, want: ErrThrottled, wantErr: true, calls: 3,
			wantCode: "ThrottlingException"},
		{name: "429 with an unknown code", fault: sqsemu.Fault{Code: "Mystery", Status: 429, Times: -1}, want: ErrThrottled, wantErr: true, calls: 3,
			wantCode: "Mystery"},
		{name: "500 once is retried", fault: sqsemu.Fault{Code: sqsemu.CodeInternalFailure}, wantValue: 5, calls: 2},
		{name: "500 always", fault: sqsemu.Fault{Code: sqsemu.CodeInternalFailure, Times: -1}, want: ErrUnavailable, wantErr: true, calls: 3,
			wantCode: "InternalFailure"},
		{name: "503 always", fault: sqsemu.Fault{Code: sqsemu.CodeServiceUnavailable, Times: -1}, want: ErrUnavailable, wantErr: true, calls: 3,
			wantCode: "ServiceUnavailable"},
		{name: "502 with an unknown code", fault: sqsemu.Fault{Code: "BadGateway", Status: 502, Times: -1}, want: ErrUnavailable, wantErr: true, calls: 3,
			wantCode: "BadGateway"},
		{name: "dropped connections", fault: sqsemu.Fault{Disconnect: true, Times: -1}, want: ErrUnavailable, wantErr: true, calls: 3},
		{name: "access denied", fault: sqsemu.Fault{Code: sqsemu.CodeAccessDenied}, want: ErrInvalid, wantErr: true, calls: 1,
			wantCode: "AccessDenied"},
		{name: "invalid address", fault: sqsemu.Fault{Code: sqsemu.CodeInvalidAddress}, want: ErrInvalid, wantErr: true, calls: 1,
			wantCode: "InvalidAddress"},
		{name: "expired token", fault: sqsemu.Fault{Code: "ExpiredToken", Status: 403}, want: ErrInvalid, wantErr: true, calls: 1,
			wantCode: "ExpiredToken"},
		{name: "unknown 400 code is not retried", fault: sqsemu.Fault{Code: "SomethingNew"}, wantErr: true, calls: 1,
			wantCode: "SomethingNew"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			url := h.emu.CreateQueue("jobs")
			if err := h.emu.SetDepth(url, 5, 1); err != nil {
				t.Fatal(err)
			}
			if tc.fault != (sqsemu.Fault{}) {
				if err := h.emu.InjectFault(tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			read := url
			if tc.missing {
				read = strings.Replace(url, "/jobs", "/absent", 1)
			}
			v, at, err := h.rd.Read(context.Background(), source(read, false))
			if n := len(h.emu.Calls()); n != tc.calls {
				t.Errorf("%d requests, want %d", n, tc.calls)
			}
			if !tc.wantErr {
				if err != nil || v != tc.wantValue || !at.Equal(fixedNow()) {
					t.Fatalf("Read = %v, %v, %v; want %v at the reader's clock", v, at, err, tc.wantValue)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read = %v, want an error", v)
			}
			if v != 0 || !at.IsZero() {
				t.Errorf("a failed read returned %v at %v", v, at)
			}
			for _, s := range sentinels() {
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
			if want := "sqs GetQueueAttributes " + read + " (" + testRegion + ")"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if tc.calls > 1 && !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", tc.calls)) {
				t.Errorf("error %q does not say how many attempts were made", err)
			}
		})
	}
}

// TestQueueDoesNotExistType: the SDK resolves the emulator's error to its
// modelled type, with the Query-era code from x-amzn-query-error, as it
// does for SQS's own answers.
func TestQueueDoesNotExistType(t *testing.T) {
	h := newHarness(t, Options{})
	_, _, err := h.rd.Read(context.Background(), source(h.srv.URL+"/123456789012/absent", false))
	var typed *types.QueueDoesNotExist
	if !errors.As(err, &typed) || typed.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" || typed.ErrorMessage() == "" {
		t.Fatalf("err %v: want a *types.QueueDoesNotExist with the query code", err)
	}
}

// TestCancellation: a cancelled read returns promptly, wraps
// context.Canceled and carries no sentinel (SQS did nothing wrong); a read
// past its deadline, the caller's or Options.Timeout, is unavailable and
// wraps context.DeadlineExceeded. The emulator's delay ends with the
// request's context, so nothing lingers.
func TestCancellation(t *testing.T) {
	h := newHarness(t, Options{})
	url := h.emu.CreateQueue("slow")
	if err := h.emu.InjectFault(sqsemu.Fault{Delay: time.Minute, Times: -1}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := h.rd.Read(ctx, source(url, false))
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled read took %s", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	for _, s := range sentinels() {
		if errors.Is(err, s) {
			t.Errorf("cancelled read carries %v: %v", s, err)
		}
	}
	// The emulator logs the request when its handler sees the client
	// go, which may be just after Read returned.
	if n := waitCalls(h.emu, 1); n != 1 {
		t.Errorf("cancelled read made %d requests, want 1", n)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, err = h.rd.Read(ctx, source(url, false))
	if took := time.Since(start); took > time.Second {
		t.Errorf("read past the caller's deadline took %s", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("caller's deadline: %v, want context.DeadlineExceeded and ErrUnavailable", err)
	}

	short := newHarness(t, Options{Timeout: 100 * time.Millisecond})
	url = short.emu.CreateQueue("slow")
	if err := short.emu.InjectFault(sqsemu.Fault{Delay: time.Minute, Times: -1}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, _, err = short.rd.Read(context.Background(), source(url, false))
	if took := time.Since(start); took > time.Second {
		t.Errorf("read past Options.Timeout took %s", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Options.Timeout: %v, want context.DeadlineExceeded and ErrUnavailable", err)
	}
}

// TestRetryStaysWithinDeadline: when the next backoff would outlast the
// read's deadline the reader stops and reports what SQS said, instead of
// sleeping into the deadline.
func TestRetryStaysWithinDeadline(t *testing.T) {
	h := newHarness(t, Options{MaxAttempts: 10})
	url := h.emu.CreateQueue("busy")
	if err := h.emu.InjectFault(sqsemu.Fault{Code: sqsemu.CodeRequestThrottled, Times: -1}); err != nil {
		t.Fatal(err)
	}
	// The first wait (100ms ±20%) fits in 250ms; the second (200ms ±20%)
	// does not fit in what is left, so the read stops after two requests,
	// with at least 10ms to spare.
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := h.rd.Read(ctx, source(url, false))
	took := time.Since(start)
	if !errors.Is(err, ErrThrottled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v: want ErrThrottled, not the deadline", err)
	}
	// The error and the request count above say the read gave up when
	// the next wait did not fit, rather than waiting into the deadline;
	// the time is a loose check on top, with room for a loaded machine
	// (the two requests under -race once took the read to 251 ms).
	if took >= 350*time.Millisecond {
		t.Errorf("read took %s, well past its 250ms deadline", took)
	}
	if n := len(h.emu.Calls()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestRegionClients: one client per region, made once even under
// concurrency, and each request is signed for its source's region. Queue
// URLs on the emulator's own host carry no region, so any region may read
// them.
func TestRegionClients(t *testing.T) {
	h := newHarness(t, Options{})
	url := h.srv.URL + "/123456789012/shared"
	h.emu.CreateQueue("shared")
	if err := h.emu.SetDepth(url, 11, 0); err != nil {
		t.Fatal(err)
	}
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			src := policy.Source{Kind: policy.SourceSQS, QueueURL: url, Region: regions[i%len(regions)]}
			if v, _, err := h.rd.Read(context.Background(), src); err != nil || v != 11 {
				errs <- fmt.Errorf("read in %s: %v, %v", src.Region, v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := h.rd.clientCount(); n != len(regions) {
		t.Errorf("%d region clients, want %d", n, len(regions))
	}
	c1 := h.rd.client("us-east-1")
	if c2 := h.rd.client("us-east-1"); c1 != c2 || h.rd.clientCount() != len(regions) {
		t.Error("a second lookup of a region made a new client")
	}
	seen := map[string]int{}
	for _, c := range h.emu.Calls() {
		seen[c.Region]++
	}
	for _, r := range regions {
		if seen[r] != 10 {
			t.Errorf("region %s: %d calls signed for it, want 10 (all: %v)", r, seen[r], seen)
		}
	}
}

// TestValidation: sources that cannot work fail with ErrInvalid and a
// message naming the field, before any request is sent or client made.
func TestValidation(t *testing.T) {
	h := newHarness(t, Options{})
	good := "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
	cases := []struct {
		name string
		src  policy.Source
		want string
	}{
		{"push source", policy.Source{QueueURL: good, Region: testRegion}, "not sqs"},
		{"prometheus source", policy.Source{Kind: policy.SourcePrometheus, Query: "up"}, "not sqs"},
		{"no queue", policy.Source{Kind: policy.SourceSQS, Region: testRegion}, "queue_url is required"},
		{"no region", policy.Source{Kind: policy.SourceSQS, QueueURL: good}, "region"},
		{"not a URL", policy.Source{Kind: policy.SourceSQS, QueueURL: "http://[::1", Region: testRegion}, "not a URL"},
		{"relative", policy.Source{Kind: policy.SourceSQS, QueueURL: "/123456789012/jobs", Region: testRegion}, "queue_url"},
		{"no queue name", policy.Source{Kind: policy.SourceSQS, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012", Region: testRegion}, "queue_url"},
		{"extra path", policy.Source{Kind: policy.SourceSQS, QueueURL: good + "/more", Region: testRegion}, "queue_url"},
		{"bad queue name", policy.Source{Kind: policy.SourceSQS, QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/jo%20bs", Region: testRegion}, "queue_url"},
		{"ftp", policy.Source{Kind: policy.SourceSQS, QueueURL: "ftp://sqs.eu-west-1.amazonaws.com/1/jobs", Region: testRegion}, "queue_url"},
		{"query string", policy.Source{Kind: policy.SourceSQS, QueueURL: good + "?Action=x", Region: testRegion}, "queue_url"},
		{"region with a dot", policy.Source{Kind: policy.SourceSQS, QueueURL: good, Region: "evil.example.com"}, "region"},
		{"region upper case", policy.Source{Kind: policy.SourceSQS, QueueURL: good, Region: "EU-WEST-1"}, "region"},
		{"region mismatch", policy.Source{Kind: policy.SourceSQS, QueueURL: good, Region: "us-east-1"}, `does not match the queue URL's region "eu-west-1"`},
		{"fips region mismatch", policy.Source{Kind: policy.SourceSQS, QueueURL: "https://sqs-fips.us-east-2.amazonaws.com/1/jobs", Region: "us-east-1"}, "does not match"},
		{"legacy host mismatch", policy.Source{Kind: policy.SourceSQS, QueueURL: "https://ap-south-1.queue.amazonaws.com/1/jobs", Region: "us-east-1"}, "does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.rd.Read(context.Background(), tc.src)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if calls := h.emu.Calls(); len(calls) != 0 {
		t.Errorf("invalid sources reached the endpoint: %+v", calls)
	}
	if n := h.rd.clientCount(); n != 0 {
		t.Errorf("%d region clients made for invalid sources", n)
	}
	// Hosts the reader knows no region for are left to SQS.
	for _, u := range []string{
		"https://vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com/123456789012/jobs",
		"http://localhost:9324/queue/jobs",
		"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs",
	} {
		region := testRegion
		if strings.Contains(u, "cn-north-1") {
			region = "cn-north-1"
		}
		if _, err := parseSource(policy.Source{Kind: policy.SourceSQS, QueueURL: u, Region: region}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestMalformedAnswer: a 200 without a usable count is unavailable, not
// zero (a zero would let the policy scale in), and is not retried.
func TestMalformedAnswer(t *testing.T) {
	hermetic(t)
	for name, body := range map[string]string{
		"missing attribute": `{"Attributes":{"QueueArn":"arn:aws:sqs:eu-west-1:1:jobs"}}`,
		"no attributes":     `{}`,
		"not a number":      `{"Attributes":{"ApproximateNumberOfMessages":"many"}}`,
		"negative":          `{"Attributes":{"ApproximateNumberOfMessages":"-1"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var calls int
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				mu.Unlock()
				w.Header().Set("Content-Type", sqsemu.ContentType)
				_, _ = io.WriteString(w, body)
			}))
			t.Cleanup(srv.Close)
			rd, err := NewReader(context.Background(), Options{BaseEndpoint: srv.URL,
				Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := rd.Read(context.Background(), source(srv.URL+"/1/jobs", false))
			if !errors.Is(err, ErrUnavailable) || v != 0 {
				t.Errorf("Read = %v, %v; want ErrUnavailable", v, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != 1 {
				t.Errorf("%d requests, want 1", calls)
			}
		})
	}
}

// TestSDKRetriesOff: one attempt is one request, even when the environment
// asks the SDK for more; retrying is Read's job.
func TestSDKRetriesOff(t *testing.T) {
	hermetic(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	rd, err := NewReader(context.Background(), Options{
		BaseEndpoint: srv.URL, MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	url := emu.CreateQueue("jobs")
	for _, code := range []string{sqsemu.CodeRequestThrottled, sqsemu.CodeInternalFailure, sqsemu.CodeServiceUnavailable} {
		if err := emu.InjectFault(sqsemu.Fault{Code: code, Times: -1}); err != nil {
			t.Fatal(err)
		}
		before := len(emu.Calls())
		if _, _, err := rd.Read(context.Background(), source(url, false)); !errors.Is(err, ErrThrottled) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: %v, want a throttled or unavailable error", code, err)
		}
		if n := len(emu.Calls()) - before; n != 1 {
			t.Errorf("%s: %d requests for one attempt, want 1", code, n)
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
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	rd, err := NewReader(context.Background(), Options{BaseEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	url := emu.CreateQueue("jobs")
	if _, _, err := rd.Read(context.Background(), source(url, false)); err != nil {
		t.Fatal(err)
	}
	if calls := emu.Calls(); len(calls) != 1 || calls[0].AccessKeyID != "AKIDFROMENVIRONMENT1" {
		t.Fatalf("calls %+v, want one signed with the environment's key", calls)
	}
}

// TestNoCredentials: when the chain finds nothing, the read fails with the
// SDK's explanation, is not retried, and never reaches SQS.
func TestNoCredentials(t *testing.T) {
	hermetic(t)
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	rd, err := NewReader(context.Background(), Options{BaseEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = rd.Read(context.Background(), source(emu.CreateQueue("jobs"), false))
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("read without credentials: %v, want a credentials error", err)
	}
	for _, s := range sentinels() {
		if errors.Is(err, s) {
			t.Errorf("credentials error carries %v", s)
		}
	}
	if n := len(emu.Calls()); n != 0 {
		t.Fatalf("%d unsigned calls reached the endpoint", n)
	}
}

// TestNewReaderRejects: a malformed endpoint or negative option fails at
// start-up, not at the first read, and an endpoint's password is not
// repeated.
func TestNewReaderRejects(t *testing.T) {
	hermetic(t)
	for _, ep := range []string{"sqs.example.com", "ftp://x", "http://", "::", "https://user:hunter2@sqs.example.com"} {
		_, err := NewReader(context.Background(), Options{BaseEndpoint: ep})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("endpoint %q: %v, want ErrInvalid", ep, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("endpoint error repeats the password: %v", err)
		}
	}
	for _, o := range []Options{{Timeout: -time.Second}, {MaxAttempts: -1}} {
		if _, err := NewReader(context.Background(), o); !errors.Is(err, ErrInvalid) {
			t.Errorf("options %+v: %v, want ErrInvalid", o, err)
		}
	}
}

// TestNoSecretInErrorsOrLogs drives every failure path and asserts the
// secret access key and session token never appear in an error or a log
// record, and that the access key id and signature stay out of the errors
// too.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	hermetic(t)
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rd, err := NewReader(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, testToken),
		Logger:       log,
		MaxAttempts:  2,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := emu.CreateQueue("jobs")
	read := func(ctx context.Context, src policy.Source) error {
		_, _, err := rd.Read(ctx, src)
		return err
	}
	var errs []error
	faults := []sqsemu.Fault{
		{Code: sqsemu.CodeRequestThrottled, Times: 2}, {Code: sqsemu.CodeInternalFailure, Times: 2},
		{Code: "SignatureDoesNotMatch", Status: 403, Message: "The request signature we calculated does not match the signature you provided."},
		{Code: sqsemu.CodeAccessDenied}, {Disconnect: true, Times: 2}, {Code: "Odd", Status: 502, Times: 2},
	}
	for _, f := range faults {
		if err := emu.InjectFault(f); err != nil {
			t.Fatal(err)
		}
		errs = append(errs, read(context.Background(), source(url, true)))
	}
	errs = append(errs,
		read(context.Background(), source(srv.URL+"/123456789012/missing", false)),
		read(context.Background(), policy.Source{Kind: policy.SourceSQS, QueueURL: "https://user:" + testSecretKey + "@sqs.eu-west-1.amazonaws.com/1/jobs", Region: testRegion}),
		read(context.Background(), policy.Source{Kind: policy.SourceSQS, QueueURL: url}),
	)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs = append(errs, read(ctx, source(url, false)))
	if err := read(context.Background(), source(url, false)); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	errs = append(errs, read(context.Background(), source(url, false)))

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, secret := range []string{testSecretKey, testToken, "Signature=", testAccessKey} {
				if strings.Contains(text, secret) {
					t.Errorf("case %d: error text contains %q: %s", i, secret, text)
				}
			}
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{testSecretKey, testToken} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "sqs client created") {
		t.Errorf("no debug records of the client and the retries in the logs: %s", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestMetrics: each read counts once by its final outcome and is timed;
// a second reader on the same registry shares the series.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h := newHarness(t, Options{Registerer: reg})
	url := h.emu.CreateQueue("jobs")
	ctx := context.Background()
	if _, _, err := h.rd.Read(ctx, source(url, false)); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.InjectFault(sqsemu.Fault{Code: sqsemu.CodeRequestThrottled}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.rd.Read(ctx, source(url, false)); err != nil {
		t.Fatal(err) // retried: one ok read
	}
	_, _, _ = h.rd.Read(ctx, source(h.srv.URL+"/1/missing", false))
	_, _, _ = h.rd.Read(ctx, policy.Source{Kind: policy.SourceSQS})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, _ = h.rd.Read(cctx, source(url, false))

	second, err := NewReader(ctx, Options{BaseEndpoint: h.srv.URL, Registerer: reg,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if err != nil {
		t.Fatalf("second reader on the same registry: %v", err)
	}
	if _, _, err := second.Read(ctx, source(url, false)); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP capstan_source_queries_total ` + queriesHelp + `
# TYPE capstan_source_queries_total counter
capstan_source_queries_total{kind="sqs",outcome="canceled"} 1
capstan_source_queries_total{kind="sqs",outcome="invalid"} 1
capstan_source_queries_total{kind="sqs",outcome="not_found"} 1
capstan_source_queries_total{kind="sqs",outcome="ok"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "capstan_source_queries_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "capstan_source_query_duration_seconds"); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "capstan_source_query_duration_seconds" {
			if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != 6 {
				t.Errorf("%d reads timed, want 6", got)
			}
		}
	}
}

// TestConnectionRefused: an endpoint that is down is unavailable, after
// the retries.
func TestConnectionRefused(t *testing.T) {
	h := newHarness(t, Options{})
	url := h.emu.CreateQueue("jobs")
	h.srv.Close()
	_, _, err := h.rd.Read(context.Background(), source(url, false))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("refused connection: %v, want ErrUnavailable", err)
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
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ErrUnavailable},
		{"net timeout", fmt.Errorf("x: %w", timeout), ErrUnavailable},
		{"truncated body", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), ErrUnavailable},
		{"connection closed mid-answer", &smithy.DeserializationError{Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}}, ErrUnavailable},
		{"generic", errors.New("no credentials"), nil},
		{"typed not found without the header", &types.QueueDoesNotExist{}, ErrQueueNotFound},
		{"typed throttled", &types.RequestThrottled{}, ErrThrottled},
		{"query-era internal error", &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.InternalError"}, ErrUnavailable},
		{"coral access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, ErrInvalid},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// waitCalls waits up to a second for the emulator's call log to reach n
// entries and returns its length.
func waitCalls(emu *sqsemu.Emulator, n int) int {
	deadline := time.Now().Add(time.Second)
	for {
		got := len(emu.Calls())
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
