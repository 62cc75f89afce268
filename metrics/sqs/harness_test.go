package sqs

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/metrics/sqs/sqsemu"
	"github.com/capstan-io/capstan/policy"
)

const (
	testAccessKey = "AKIDCAPSTANSQSTEST01"
	testSecretKey = "sqsSECRET/never-in-errors+0a1b2c3d4e5f"
	testToken     = "session-token-SQS-SECRET"
	testRegion    = "eu-west-1"
)

// fixedNow is the reader's clock in tests: every value read is stamped
// with it.
func fixedNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// hermetic keeps the developer's or CI's AWS settings out of a test: no
// shared config or credentials files, no profile, no endpoint overrides, no
// instance metadata lookups.
func hermetic(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_SQS":        "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               "",
	} {
		t.Setenv(k, v)
	}
}

// harness is an emulator behind an httptest server and a reader pointed at
// it with static credentials.
type harness struct {
	emu *sqsemu.Emulator
	srv *httptest.Server
	rd  *Reader
}

// newHarness starts an emulator whose queue URLs name testRegion and a
// reader for it; opts.BaseEndpoint, Credentials and Now are filled in when
// empty.
func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	hermetic(t)
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if opts.BaseEndpoint == "" {
		opts.BaseEndpoint = srv.URL
	}
	if opts.Credentials == nil {
		opts.Credentials = credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	rd, err := NewReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{emu: emu, srv: srv, rd: rd}
}

// source is an sqs source for a queue URL in testRegion.
func source(queueURL string, inFlight bool) policy.Source {
	return policy.Source{Kind: policy.SourceSQS, QueueURL: queueURL, Region: testRegion, IncludeInFlight: inFlight}
}
