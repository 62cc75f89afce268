package sqsemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

const auth = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260301/eu-west-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"

// post sends a hand-made JSON-protocol request and returns the status,
// headers and body.
func post(t *testing.T, srv *httptest.Server, target, body string, mutate func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("X-Amzn-Query-Mode", "true")
	req.Header.Set("X-Amz-Date", "20260301T120000Z")
	req.Header.Set("Authorization", auth)
	if mutate != nil {
		mutate(req)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func newServer(t *testing.T, opts Options) (*Emulator, *httptest.Server) {
	t.Helper()
	emu := New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// TestWire checks the answers byte for byte against SQS's documented JSON
// shapes.
func TestWire(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	emu, srv := newServer(t, Options{Region: "eu-west-1", Now: func() time.Time { return created }})
	url := emu.CreateQueue("jobs")
	if url != "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs" {
		t.Fatalf("CreateQueue = %q", url)
	}
	if again := emu.CreateQueue("jobs"); again != url {
		t.Errorf("CreateQueue is not idempotent: %q", again)
	}
	if err := emu.SetDepth(url, 7, 3); err != nil {
		t.Fatal(err)
	}
	target := TargetPrefix + ActionGetQueueAttributes

	status, hdr, body := post(t, srv, target, `{"AttributeNames":["ApproximateNumberOfMessages","ApproximateNumberOfMessagesNotVisible"],"QueueUrl":"`+url+`"}`, nil)
	if status != 200 || hdr.Get("Content-Type") != ContentType || hdr.Get("x-amzn-RequestId") == "" ||
		body != `{"Attributes":{"ApproximateNumberOfMessages":"7","ApproximateNumberOfMessagesNotVisible":"3"}}` {
		t.Errorf("two attributes: %d %v %s", status, hdr, body)
	}

	// Any host naming the queue's path finds it.
	status, _, body = post(t, srv, target, `{"AttributeNames":["ApproximateNumberOfMessages"],"QueueUrl":"`+srv.URL+`/123456789012/jobs"}`, nil)
	if status != 200 || body != `{"Attributes":{"ApproximateNumberOfMessages":"7"}}` {
		t.Errorf("emulator host: %d %s", status, body)
	}

	status, _, body = post(t, srv, target, `{"QueueUrl":"`+url+`"}`, nil)
	if status != 200 || body != `{}` {
		t.Errorf("no attributes named: %d %s", status, body)
	}

	status, _, body = post(t, srv, target, `{"AttributeNames":["All"],"QueueUrl":"`+url+`"}`, nil)
	var all struct{ Attributes map[string]string }
	if err := json.Unmarshal([]byte(body), &all); err != nil || status != 200 {
		t.Fatalf("All: %d %s %v", status, body, err)
	}
	for k, want := range map[string]string{
		"ApproximateNumberOfMessages": "7", "ApproximateNumberOfMessagesNotVisible": "3",
		"ApproximateNumberOfMessagesDelayed": "0", "QueueArn": "arn:aws:sqs:eu-west-1:123456789012:jobs",
		"CreatedTimestamp": "1772366400", "VisibilityTimeout": "30",
	} {
		if all.Attributes[k] != want {
			t.Errorf("All: %s = %q, want %q", k, all.Attributes[k], want)
		}
	}
	if _, ok := all.Attributes["FifoQueue"]; ok {
		t.Error("a standard queue reports FifoQueue")
	}

	errCases := []struct {
		name, target, body string
		mutate             func(*http.Request)
		status             int
		typ, queryError    string
	}{
		{"missing queue", target, `{"AttributeNames":["ApproximateNumberOfMessages"],"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/123456789012/nope"}`, nil,
			400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
		{"unknown attribute", target, `{"AttributeNames":["Depth"],"QueueUrl":"` + url + `"}`, nil,
			400, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName;Sender"},
		{"bad queue URL", target, `{"QueueUrl":"jobs"}`, nil,
			404, "com.amazonaws.sqs#InvalidAddress", "InvalidAddress;Sender"},
		{"no queue URL", target, `{}`, nil,
			404, "com.amazonaws.sqs#InvalidAddress", "InvalidAddress;Sender"},
		{"unknown operation", TargetPrefix + "SendMessage", `{}`, nil,
			400, "com.amazon.coral.service#UnknownOperationException", "InvalidAction;Sender"},
		{"not JSON", target, `AttributeName.1=All`, nil,
			400, "com.amazon.coral.service#SerializationException", "SerializationException;Sender"},
		{"query protocol content type", target, `{}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") },
			400, "com.amazon.coral.service#SerializationException", "SerializationException;Sender"},
		{"unsigned", target, `{}`, func(r *http.Request) { r.Header.Del("Authorization") },
			403, "com.amazon.coral.service#MissingAuthenticationTokenException", "MissingAuthenticationToken;Sender"},
		{"signed for another service", target, `{}`, func(r *http.Request) { r.Header.Set("Authorization", strings.Replace(auth, "/sqs/", "/sns/", 1)) },
			400, "com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature;Sender"},
	}
	for _, tc := range errCases {
		status, hdr, body := post(t, srv, tc.target, tc.body, tc.mutate)
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Errorf("%s: body %q: %v", tc.name, body, err)
			continue
		}
		if status != tc.status || e.Type != tc.typ || e.Message == "" || hdr.Get("x-amzn-query-error") != tc.queryError ||
			hdr.Get("Content-Type") != ContentType || hdr.Get("x-amzn-RequestId") == "" {
			t.Errorf("%s: %d %v %s; want %d %s %s", tc.name, status, hdr, body, tc.status, tc.typ, tc.queryError)
		}
	}

	calls := emu.Calls()
	if len(calls) != 4+len(errCases) {
		t.Fatalf("%d calls logged, want %d", len(calls), 4+len(errCases))
	}
	c := calls[0]
	if c.Action != ActionGetQueueAttributes || c.QueueURL != url || len(c.AttributeNames) != 2 || !c.QueryMode ||
		c.Region != "eu-west-1" || c.AccessKeyID != "AKIDTEST" || c.Status != 200 || c.Code != "" || !c.Time.Equal(created) {
		t.Errorf("first call logged as %+v", c)
	}
	if c := calls[4]; c.Status != 400 || c.Code != CodeQueueDoesNotExist {
		t.Errorf("missing queue logged as %+v", c)
	}
}

// TestFaults: faults are consumed in order, aimed by queue, repeated when
// asked, and a delay ends with the client's request.
func TestFaults(t *testing.T) {
	emu, srv := newServer(t, Options{})
	a, b := emu.CreateQueue("a"), emu.CreateQueue("b")
	target := TargetPrefix + ActionGetQueueAttributes
	body := func(u string) string {
		return `{"AttributeNames":["ApproximateNumberOfMessages"],"QueueUrl":"` + u + `"}`
	}

	if err := emu.InjectFault(Fault{QueueURL: b, Code: CodeRequestThrottled, Times: 2}); err != nil {
		t.Fatal(err)
	}
	if err := emu.InjectFault(Fault{Code: CodeInternalFailure, Message: "boom"}); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := post(t, srv, target, body(b), nil); s != 403 {
		t.Errorf("b first: %d, want 403 RequestThrottled", s)
	}
	if s, hdr, out := post(t, srv, target, body(a), nil); s != 500 || !strings.Contains(out, "boom") || hdr.Get("x-amzn-query-error") != "InternalFailure;Receiver" {
		t.Errorf("a: %d %s, want the 500", s, out)
	}
	if s, _, _ := post(t, srv, target, body(b), nil); s != 403 {
		t.Errorf("b second: %d, want 403", s)
	}
	for _, u := range []string{a, b} {
		if s, _, out := post(t, srv, target, body(u), nil); s != 200 {
			t.Errorf("after the faults: %d %s", s, out)
		}
	}

	if err := emu.InjectFault(Fault{Code: "Custom", Status: 418, Times: -1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if s, hdr, out := post(t, srv, target, body(a), nil); s != 418 || !strings.Contains(out, "com.amazonaws.sqs#Custom") || hdr.Get("x-amzn-query-error") != "Custom;Sender" {
			t.Errorf("repeating fault: %d %v %s", s, hdr, out)
		}
	}
	emu.ClearFaults()

	if err := emu.InjectFault(Fault{Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", strings.NewReader(body(a)))
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("X-Amz-Date", "20260301T120000Z")
	req.Header.Set("Authorization", auth)
	start := time.Now()
	if _, err := srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow request: %v, want the client's deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("slow request took %s", took)
	}

	for _, f := range []Fault{{}, {Action: "SendMessage", Code: "X"}, {Delay: -1}, {Code: "X", Status: 200}, {QueueURL: "nope", Code: "X"}} {
		if err := emu.InjectFault(f); err == nil {
			t.Errorf("fault %+v accepted", f)
		}
	}
}

// TestState covers the test-facing API.
func TestState(t *testing.T) {
	emu := New(Options{AccountID: "000000000000", Region: "ap-south-1", MaxCalls: 2})
	url := emu.CreateQueue("orders.fifo")
	if url != "https://sqs.ap-south-1.amazonaws.com/000000000000/orders.fifo" {
		t.Fatalf("CreateQueue = %q", url)
	}
	if err := emu.SetDepth("http://localhost:1/000000000000/orders.fifo", 4, 2); err != nil {
		t.Fatalf("SetDepth by another host: %v", err)
	}
	if err := emu.SetDelayed(url, 9); err != nil {
		t.Fatal(err)
	}
	if q, ok := emu.Queue(url); !ok || q != (QueueInfo{Name: "orders.fifo", URL: url, Visible: 4, InFlight: 2, Delayed: 9}) {
		t.Errorf("Queue = %+v, %v", q, ok)
	}
	if err := emu.SetDepth(url, -1, 0); err == nil {
		t.Error("negative depth accepted")
	}
	if err := emu.SetDepth("https://sqs.ap-south-1.amazonaws.com/000000000000/none", 1, 1); err == nil {
		t.Error("SetDepth of a missing queue succeeded")
	}
	if !emu.DeleteQueue(url) || emu.DeleteQueue(url) {
		t.Error("DeleteQueue did not report existence")
	}
	if _, ok := emu.Queue(url); ok {
		t.Error("deleted queue still there")
	}
	for _, name := range []string{"", "a b", strings.Repeat("x", 81), ".fifo"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CreateQueue(%q) did not panic", name)
				}
			}()
			emu.CreateQueue(name)
		}()
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for range 5 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := len(emu.Calls()); n != 2 {
		t.Errorf("call log holds %d entries, want MaxCalls = 2", n)
	}
}

// TestSDK drives the emulator with the real client: the SDK resolves its
// errors to the modelled types with the Query-era codes.
func TestSDK(t *testing.T) {
	emu, srv := newServer(t, Options{Region: "eu-west-1"})
	url := emu.CreateQueue("jobs")
	if err := emu.SetDepth(url, 12, 5); err != nil {
		t.Fatal(err)
	}
	client := sqs.New(sqs.Options{
		Region: "eu-west-1", BaseEndpoint: awssdk.String(srv.URL), Retryer: awssdk.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	ctx := context.Background()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       awssdk.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil || out.Attributes["ApproximateNumberOfMessages"] != "12" || out.Attributes["ApproximateNumberOfMessagesNotVisible"] != "5" {
		t.Fatalf("GetQueueAttributes = %+v, %v", out, err)
	}

	_, err = client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: awssdk.String(url + "-gone")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) || missing.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("missing queue: %v, want *types.QueueDoesNotExist with the query code", err)
	}
	if err := emu.InjectFault(Fault{Code: CodeRequestThrottled}); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: awssdk.String(url)})
	var throttled *types.RequestThrottled
	if !errors.As(err, &throttled) {
		t.Errorf("throttled: %v, want *types.RequestThrottled", err)
	}
	if err := emu.InjectFault(Fault{Code: CodeAccessDenied}); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: awssdk.String(url)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" || apiErr.ErrorFault() != smithy.FaultClient {
		t.Errorf("access denied: %v, want code AccessDenied from x-amzn-query-error", err)
	}
}
