package aws

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/capstan-io/capstan/cloud/aws/awsclient"
	"github.com/capstan-io/capstan/cloud/aws/awsclient/awsclienttest"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// TestLargeResponseNotCutOff: a describe of a big group arrives whole even
// when the request write and the response read overlap (see awsclient.MemoryBody).
func TestLargeResponseNotCutOff(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	if err := emu.CreateGroup("big", 0, 1000, 300); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	drv, err := New(context.Background(), Options{BaseEndpoint: srv.URL, Credentials: creds, HTTPClient: awsclienttest.SlowClient(512)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		gs, err := drv.Describe(context.Background(), ref("big"))
		if err != nil {
			t.Fatalf("describe %d: %v", i, err)
		}
		if gs.InService != 300 {
			t.Fatalf("describe %d: %+v, want 300 in service", i, gs)
		}
	}

	// The bare SDK client, for the record: if this stops failing, the SDK
	// has fixed the race and awsclient.MemoryBody can go.
	raw := autoscaling.New(autoscaling.Options{
		Region: testRegion, BaseEndpoint: awssdk.String(srv.URL), Credentials: creds,
		HTTPClient: awsclienttest.SlowClient(512), Retryer: awssdk.NopRetryer{},
	})
	_, err = raw.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"big"}})
	t.Logf("bare SDK client under the same conditions: %v", err)
}

// TestMemoryBody: the forwarded body is an in-memory copy that survives the
// SDK closing the original, and is replayable.
func TestMemoryBody(t *testing.T) {
	const payload = "Action=DescribeAutoScalingGroups&Version=2011-01-01"
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
