package aws

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
)

// Test credentials. The secret is distinctive so tests can prove it never
// appears in an error.
const (
	testAccessKey = "AKIDCAPSTANTEST00001"
	testSecretKey = "capstanSECRET/do-not-leak+9f8e7d6c5b4a"
	testRegion    = "eu-west-1"
)

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
		"AWS_ENDPOINT_URL":            "",
		"AWS_MAX_ATTEMPTS":            "",
		"AWS_RETRY_MODE":              "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               "",
	} {
		t.Setenv(k, v)
	}
}

// harness is an emulator behind an httptest server and a driver pointed at
// it with static credentials.
type harness struct {
	emu *awsemu.Emulator
	srv *httptest.Server
	drv *Driver
}

func newHarness(t testing.TB, opts awsemu.Options) *harness {
	t.Helper()
	hermetic(t)
	emu := awsemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{emu: emu, srv: srv, drv: drv}
}

// conformanceEmulator adapts awsemu to drivertest.
type conformanceEmulator struct{ emu *awsemu.Emulator }

func (c conformanceEmulator) CreateGroup(t testing.TB, name string, min, max, desired int) cloud.GroupRef {
	if err := c.emu.CreateGroup(name, min, max, desired); err != nil {
		t.Fatal(err)
	}
	return cloud.GroupRef{Provider: "aws", Group: name, Region: testRegion}
}

func (c conformanceEmulator) Missing(testing.TB) cloud.GroupRef {
	return cloud.GroupRef{Provider: "aws", Group: "no-such-group", Region: testRegion}
}

// Inject maps the suite's provider-neutral faults to AWS's answers.
func (c conformanceEmulator) Inject(t testing.TB, f drivertest.Fault) {
	af := awsemu.Fault{Times: f.Times, Delay: f.Delay}
	if af.Times < 0 {
		af.Times = -1
	}
	switch f.Op {
	case "describe", "describe_batch":
		af.Action = awsemu.ActionDescribe
	case "set_desired":
		af.Action = awsemu.ActionSetDesired
	}
	switch f.Kind {
	case drivertest.Throttle:
		af.Code = awsemu.CodeThrottling
	case drivertest.ServerError:
		af.Code = awsemu.CodeInternalFailure
	case drivertest.Busy:
		af.Code = awsemu.CodeScalingActivityInProgress
	case drivertest.Slow:
		// The delay alone.
	case drivertest.OperationFails:
		t.Fatal("AWS resizes are not long-running operations; the suite should have skipped this case")
	}
	if err := c.emu.InjectFault(af); err != nil {
		t.Fatal(err)
	}
}

func (c conformanceEmulator) Desired(t testing.TB, g cloud.GroupRef) int {
	d, ok := c.emu.Desired(g.Group)
	if !ok {
		t.Fatalf("no group %q in the emulator", g.Group)
	}
	return d
}

// TestConformance runs the drivertest suite: the real SDK client, through
// the driver wrapped as the control plane wraps it, against the emulator.
func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Setup {
		h := newHarness(t, awsemu.Options{BootDelay: time.Minute})
		return drivertest.Setup{
			Driver:    cloud.NewRetrying(h.drv, drivertest.FastRetry()),
			Emulator:  conformanceEmulator{h.emu},
			Batch:     h.drv,
			BatchPage: awsemu.MaxDescribeRecords,
		}
	})
}
