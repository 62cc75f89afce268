package sqs

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud/aws/awsclient"
	"github.com/capstan-io/capstan/cloud/aws/awsclient/awsclienttest"
	"github.com/capstan-io/capstan/metrics/sqs/sqsemu"
)

// TestSlowConnection: reads arrive whole when the request write and the
// response read overlap (see awsclient.MemoryBody).
func TestSlowConnection(t *testing.T) {
	hermetic(t)
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	rd, err := NewReader(context.Background(), Options{
		BaseEndpoint: srv.URL, HTTPClient: awsclienttest.SlowClient(64), MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	url := emu.CreateQueue("jobs")
	if err := emu.SetDepth(url, 123456789, 987654321); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		v, _, err := rd.Read(context.Background(), source(url, true))
		if err != nil || v != 123456789+987654321 {
			t.Fatalf("read %d: %v, %v", i, v, err)
		}
	}
}

// TestMemoryBody: the forwarded body is an in-memory copy that survives the
// SDK closing the original, and is replayable.
func TestMemoryBody(t *testing.T) {
	const payload = `{"AttributeNames":["ApproximateNumberOfMessages"],"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q"}`
	var orig io.ReadCloser
	next := doFunc(func(req *http.Request) (*http.Response, error) {
		orig.Close() // as smithy-go does once Do returns
		got, err := io.ReadAll(req.Body)
		if err != nil || string(got) != payload || req.ContentLength != int64(len(payload)) {
			t.Errorf("forwarded body %q (%v), length %d", got, err, req.ContentLength)
		}
		again, _ := req.GetBody()
		if b, _ := io.ReadAll(again); string(b) != payload {
			t.Errorf("GetBody gave %q", b)
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})
	orig = io.NopCloser(strings.NewReader(payload))
	req, err := http.NewRequest(http.MethodPost, "http://example.invalid/", orig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (awsclient.MemoryBody{Next: next}).Do(req); err != nil {
		t.Fatal(err)
	}
	big := io.NopCloser(bytes.NewReader(make([]byte, awsclient.MaxRequestBody+1)))
	req, _ = http.NewRequest(http.MethodPost, "http://example.invalid/", big)
	if _, err := (awsclient.MemoryBody{Next: next}).Do(req); err == nil {
		t.Error("an oversized body was accepted")
	}
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
