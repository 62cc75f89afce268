package budget_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/budget"
)

// newAWSHarness returns an Auto Scaling emulator and the AWS driver
// pointed at it, under a budget and cloud.Retrying as the agent wraps it,
// and a reader of the budget's metrics.
func newAWSHarness(t *testing.T, opts budget.Options, retry cloud.RetryOptions) (*awsemu.Emulator, cloud.Driver, func(name string, labels map[string]string) float64) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": t.TempDir() + "/config", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/credentials",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	emu := awsemu.New(awsemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	d, err := aws.New(context.Background(), aws.Options{BaseEndpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBUDGETTEST000001", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	b, reg := newBudget(t, opts)
	return emu, cloud.NewRetrying(b.Wrap("aws", d), retry),
		func(name string, labels map[string]string) float64 { return value(t, reg, name, labels) }
}

// TestAWSEmulatorPacing: a burst of describes reaches the emulator no
// faster than the budget: the requests the emulator logs in any window
// are at most the bucket's burst plus its rate over the window.
func TestAWSEmulatorPacing(t *testing.T) {
	const rate, n = 100.0, 300 // burst 100: the last 200 calls take 2 s
	emu, drv, _ := newAWSHarness(t, budget.Options{Read: budget.Rates{"aws": rate}}, cloud.DefaultRetryOptions())
	if err := emu.CreateGroup("web", 1, 10, 2); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := drv.Describe(ctx, cloud.GroupRef{Provider: "aws", Group: "web", Region: "us-east-1"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	calls := emu.Calls() // in effect order: sort by arrival time
	slices.SortFunc(calls, func(a, b awsemu.Call) int { return a.Time.Compare(b.Time) })
	if len(calls) != n {
		t.Fatalf("the emulator logged %d calls, want %d", len(calls), n)
	}
	// The emulator logs arrivals, which trail the budget's grants by the
	// request's varying latency (jitter): any window of w holds at most
	// burst + rate*(w+jitter) calls. Without the budget all 300 arrive
	// within a fraction of a second.
	const jitter = 400 * time.Millisecond
	if span := calls[len(calls)-1].Time.Sub(calls[0].Time); span < 2*time.Second-jitter {
		t.Errorf("the calls reached the emulator within %s, faster than the budget allows (2 s)", span)
	}
	for _, w := range []time.Duration{500 * time.Millisecond, time.Second} {
		limit := int(rate) + int(rate*(w+jitter).Seconds())
		most := 0
		for i := range calls {
			in := 0
			for j := i; j < len(calls) && calls[j].Time.Sub(calls[i].Time) < w; j++ {
				in++
			}
			most = max(most, in)
			if in > limit {
				t.Fatalf("%d calls reached the emulator within %s from call %d, more than the budget's %d", in, w, i, limit)
			}
		}
		t.Logf("at most %d calls in a %s window (budget: burst %d + %g/s); all %d within %s", most, w, int(rate), rate, n,
			calls[len(calls)-1].Time.Sub(calls[0].Time).Round(time.Millisecond))
	}
}

// TestAWSEmulatorThrottles: Throttling answers from the emulator cut the
// read rate once per answer to a call paced at the current rate, the
// retries go out at the cut rate until one succeeds, successes grow the
// rate back by a twentieth of the configured rate a second, and every
// throttle the emulator answered is counted.
func TestAWSEmulatorThrottles(t *testing.T) {
	fast := cloud.RetryOptions{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxTries: 10}
	// The budget's clock moves a second per describe; a describe's
	// retries come at the same instant.
	clk := newClock()
	emu, drv, metric := newAWSHarness(t, budget.Options{Read: budget.Rates{"aws": 20}, Now: clk.Now}, fast)
	if err := emu.CreateGroup("web", 1, 10, 4); err != nil {
		t.Fatal(err)
	}
	g := cloud.GroupRef{Provider: "aws", Group: "web", Region: "eu-west-1"}
	bucket := map[string]string{"provider": "aws", "scope": "eu-west-1", "bucket": "read"}
	cases := []struct {
		name      string
		throttles int // Throttling answers the emulator gives first
		describes int
		wantRate  float64
	}{
		// 20 -> 10 -> 5 -> 2.5; the retry's success comes at the same
		// instant and adds nothing.
		{"three throttles, then the retry goes through", 3, 1, 2.5},
		// a second each, a twentieth of 20 a second
		{"successes grow it back", 0, 5, 7.5},
		{"a throttle halves the grown rate", 1, 1, 3.75},
		{"back to the configured rate and no further", 0, 30, 20},
	}
	for _, tc := range cases {
		if tc.throttles > 0 {
			if err := emu.InjectFault(awsemu.Fault{Action: awsemu.ActionDescribe, Code: awsemu.CodeThrottling, Times: tc.throttles}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range tc.describes {
			clk.Advance(time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			gs, err := drv.Describe(ctx, g)
			cancel()
			if err != nil || gs.Desired != 4 {
				t.Fatalf("%s: describe %d: %+v, %v", tc.name, i, gs, err)
			}
		}
		if got := metric("capstan_cloud_budget_rate", bucket); fmt.Sprintf("%.4g", got) != fmt.Sprintf("%.4g", tc.wantRate) {
			t.Errorf("%s: read rate %g, want %g", tc.name, got, tc.wantRate)
		}
	}
	throttled := 0
	for _, c := range emu.Calls() {
		if c.Code == awsemu.CodeThrottling {
			throttled++
		}
	}
	if throttled != 4 {
		t.Errorf("the emulator throttled %d calls, want 4", throttled)
	}
	if got := metric("capstan_cloud_calls_total", map[string]string{"provider": "aws", "op": "describe", "result": "throttled"}); int(got) != throttled {
		t.Errorf("capstan_cloud_calls_total{result=throttled} = %g, the emulator throttled %d", got, throttled)
	}
	if got := metric("capstan_cloud_calls_total", map[string]string{"provider": "aws", "op": "describe", "result": "ok"}); int(got) != 37 {
		t.Errorf("capstan_cloud_calls_total{result=ok} = %g, want 37", got)
	}
}
