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
	"github.com/capstan-io/capstan/cloud/emukit"
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
// faster than the budget: the k-th request to arrive, beyond the bucket's
// burst, arrives no sooner than its token could be had. (Latency can only
// make a request later, so the bound holds however loaded the machine.)
func TestAWSEmulatorPacing(t *testing.T) {
	const rate, n = 100.0, 300 // burst 100: the last 200 calls take 2 s
	emu, drv, _ := newAWSHarness(t, budget.Options{Read: budget.Rates{"aws": rate}}, cloud.DefaultRetryOptions())
	if err := emu.CreateGroup("web", 1, 10, 2); err != nil {
		t.Fatal(err)
	}
	start := time.Now() // the bucket is made full at the first call, after this
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
	const slack = 2 * time.Millisecond // the clock's granularity
	for k := int(rate); k < n; k++ {
		earliest := start.Add(time.Duration(float64(k+1-int(rate)) / rate * float64(time.Second)))
		if calls[k].Time.Add(slack).Before(earliest) {
			t.Fatalf("request %d arrived %s after the start, before its token (%s)", k+1,
				calls[k].Time.Sub(start).Round(time.Millisecond), earliest.Sub(start).Round(time.Millisecond))
		}
	}
	most := 0
	for i := range calls {
		in := 0
		for j := i; j < len(calls) && calls[j].Time.Sub(calls[i].Time) < time.Second; j++ {
			in++
		}
		most = max(most, in)
	}
	t.Logf("all %d within %s of the start, at most %d in a second (budget: burst %d + %g/s)", n,
		calls[len(calls)-1].Time.Sub(start).Round(time.Millisecond), most, int(rate), rate)
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
	emu, drv, metric := newAWSHarness(t, budget.Options{Read: budget.Rates{"aws": 200}, Now: clk.Now}, fast)
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
		// 200 -> 100 -> 50 -> 25; the retry's success comes at the same
		// instant and adds nothing. (The retries wait for their tokens in
		// real time: a high rate keeps those waits short.)
		{"three throttles, then the retry goes through", 3, 1, 25},
		// a second each, a twentieth of 200 a second
		{"successes grow it back", 0, 5, 75},
		{"a throttle halves the grown rate", 1, 1, 37.5},
		{"back to the configured rate and no further", 0, 30, 200},
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

// TestAWSEmulatorRateLimitConverges: against the emulator's own
// per-account limit (awsemu Options.RateLimit, answering Throttling "Rate
// exceeded"), a budget configured at twice what the account allows is cut
// by the first throttles and then stays under the limit: from a second
// after the first throttle on, almost no call is throttled. With a fixed
// budget, half of them are.
func TestAWSEmulatorRateLimitConverges(t *testing.T) {
	// An account limit the eight callers exceed easily, even under the
	// race detector on a loaded machine.
	const limit, configured = 20.0, 40.0
	// The emulator's own per-account limit, answering Throttling "Rate
	// exceeded" beyond it as AWS does.
	emu := awsemu.New(awsemu.Options{RateLimit: emukit.RateLimit{ReadsPerSecond: limit, Burst: int(limit)}})
	if err := emu.CreateGroup("web", 1, 10, 2); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": t.TempDir() + "/config", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/credentials",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	d, err := aws.New(context.Background(), aws.Options{BaseEndpoint: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBUDGETTEST000001", "secret", "")})
	if err != nil {
		t.Fatal(err)
	}
	b, reg := newBudget(t, budget.Options{Read: budget.Rates{"aws": configured}})
	drv := cloud.NewRetrying(b.Wrap("aws", d), cloud.RetryOptions{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, MaxTries: 20})

	const run = 3500 * time.Millisecond
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < run {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := drv.Describe(ctx, cloud.GroupRef{Provider: "aws", Group: "web", Region: "us-east-1"})
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	calls := emu.Calls() // in effect order: sort by arrival time
	slices.SortFunc(calls, func(a, b awsemu.Call) int { return a.Time.Compare(b.Time) })
	// Adapted: from a second after the first throttle on.
	firstThrottle := slices.IndexFunc(calls, func(c awsemu.Call) bool { return c.Throttled })
	if firstThrottle < 0 {
		t.Fatal("the account never throttled: the test shows nothing")
	}
	adapted := calls[firstThrottle].Time.Add(time.Second)
	var before, beforeThr, after, afterThr int
	for _, c := range calls {
		if c.Time.Before(adapted) {
			before++
			if c.Throttled {
				beforeThr++
			}
			continue
		}
		after++
		if c.Throttled {
			afterThr++
		}
	}
	t.Logf("first throttle after %s; until a second later %d requests, %d throttled; then %d requests, %d throttled; read rate now %.3g/s",
		calls[firstThrottle].Time.Sub(start).Round(time.Millisecond), before, beforeThr, after, afterThr,
		value(t, reg, "capstan_cloud_budget_rate", map[string]string{"provider": "aws", "scope": "us-east-1", "bucket": "read"}))
	if after < 10 || float64(afterThr) > 0.1*float64(after) {
		t.Errorf("from a second after the first throttle: %d of %d requests throttled, want under 10%% of at least 10", afterThr, after)
	}
	if got := value(t, reg, "capstan_cloud_budget_rate", map[string]string{"provider": "aws", "scope": "us-east-1", "bucket": "read"}); got > limit {
		t.Errorf("read rate %g at the end, above the account's %g", got, limit)
	}
}
