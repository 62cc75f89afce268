package awsemu_test

import (
	"context"
	"errors"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/capstan-io/capstan/cloud/aws/awsclient"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"

	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// setup serves an emulator and returns a bare SDK client for it: no
// driver, no retries, so the tests see exactly what the wire carried. Its
// HTTP client buffers request bodies (awsclient.MemoryBody), which changes
// nothing on the wire but keeps smithy-go's body-close race (see
// cloud/aws/transport_test.go) from failing these tests now and then.
func setup(t *testing.T, opts awsemu.Options) (*awsemu.Emulator, *autoscaling.Client, string) {
	t.Helper()
	emu := awsemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	client := autoscaling.New(autoscaling.Options{
		Region:       "ap-northeast-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEMUTEST", "secret", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   awsclient.MemoryBody{Next: awshttp.NewBuildableClient()},
	})
	return emu, client, srv.URL
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestDescribeDecodes: the SDK decodes every field the emulator sends.
func TestDescribeDecodes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	emu, client, _ := setup(t, awsemu.Options{Now: clk.Now, BootDelay: time.Minute, AccountID: "111122223333"})
	if err := emu.CreateGroup("web", 1, 9, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, err := client.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(3),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("%d groups, want 1", len(out.AutoScalingGroups))
	}
	g := out.AutoScalingGroups[0]
	if aws.ToString(g.AutoScalingGroupName) != "web" || aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 9 || aws.ToInt32(g.DesiredCapacity) != 3 {
		t.Errorf("sizes: %s %d..%d at %d", aws.ToString(g.AutoScalingGroupName), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize), aws.ToInt32(g.DesiredCapacity))
	}
	if want := "arn:aws:autoscaling:ap-northeast-1:111122223333:"; !strings.HasPrefix(aws.ToString(g.AutoScalingGroupARN), want) {
		t.Errorf("ARN %q, want prefix %q", aws.ToString(g.AutoScalingGroupARN), want)
	}
	if len(g.AvailabilityZones) != 3 || g.AvailabilityZones[0] != "ap-northeast-1a" {
		t.Errorf("zones %v", g.AvailabilityZones)
	}
	if g.CreatedTime == nil || !g.CreatedTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("created %v", g.CreatedTime)
	}
	if aws.ToInt32(g.DefaultCooldown) != 300 || aws.ToString(g.HealthCheckType) != "EC2" || g.Status != nil {
		t.Errorf("cooldown %d, health check %q, status %v", aws.ToInt32(g.DefaultCooldown), aws.ToString(g.HealthCheckType), g.Status)
	}
	states := map[types.LifecycleState]int{}
	for _, in := range g.Instances {
		states[in.LifecycleState]++
		if !strings.HasPrefix(aws.ToString(in.InstanceId), "i-") || aws.ToString(in.HealthStatus) != "Healthy" || in.LaunchTemplate == nil {
			t.Errorf("instance %+v", in)
		}
	}
	if states[types.LifecycleStateInService] != 2 || states[types.LifecycleStatePending] != 1 {
		t.Errorf("lifecycle states %v, want 2 InService and 1 Pending", states)
	}
	if err := emu.SetStatus("web", awsemu.StatusDeleting); err != nil {
		t.Fatal(err)
	}
	out, err = client.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(out.AutoScalingGroups[0].Status); s != awsemu.StatusDeleting {
		t.Errorf("status %q, want %q", s, awsemu.StatusDeleting)
	}
}

// TestDescribeSelection: named groups in order, unknown names left out,
// every group when none is named.
func TestDescribeSelection(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{})
	for _, n := range []string{"b", "a", "c"} {
		if err := emu.CreateGroup(n, 0, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	names := func(in *autoscaling.DescribeAutoScalingGroupsInput) string {
		out, err := client.DescribeAutoScalingGroups(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, g := range out.AutoScalingGroups {
			s = append(s, aws.ToString(g.AutoScalingGroupName))
		}
		return strings.Join(s, ",")
	}
	if got := names(&autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"c", "zz", "a"}}); got != "c,a" {
		t.Errorf("named: %q, want c,a", got)
	}
	if got := names(&autoscaling.DescribeAutoScalingGroupsInput{}); got != "a,b,c" {
		t.Errorf("all: %q, want a,b,c", got)
	}
	if got := names(&autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"zz"}}); got != "" {
		t.Errorf("unknown: %q, want none", got)
	}
}

// TestSetDesiredRules: bounds, missing groups and the cooldown, with AWS's
// codes and wording.
func TestSetDesiredRules(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	emu, client, _ := setup(t, awsemu.Options{Now: clk.Now, DefaultCooldown: 5 * time.Minute})
	if err := emu.CreateGroup("web", 2, 6, 3); err != nil {
		t.Fatal(err)
	}
	set := func(group string, n int32, honor *bool) error {
		_, err := client.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(n), HonorCooldown: honor,
		})
		return err
	}
	cases := []struct {
		group   string
		n       int32
		code    string
		message string
	}{
		{"web", 7, "ValidationError", "New SetDesiredCapacity value 7 is above max value 6 for the AutoScalingGroup."},
		{"web", 1, "ValidationError", "New SetDesiredCapacity value 1 is below min value 2 for the AutoScalingGroup."},
		{"gone", 1, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup gone not found"},
	}
	for _, tc := range cases {
		err := set(tc.group, tc.n, nil)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.message {
			t.Errorf("%s to %d: %v, want %s %q", tc.group, tc.n, err, tc.code, tc.message)
		}
	}
	if d, _ := emu.Desired("web"); d != 3 {
		t.Fatalf("desired %d after refusals, want 3", d)
	}
	// The first resize starts a cooldown; honouring it refuses the next.
	if err := set("web", 4, aws.Bool(true)); err != nil {
		t.Fatal(err)
	}
	var busy *types.ScalingActivityInProgressFault
	if err := set("web", 5, aws.Bool(true)); !errors.As(err, &busy) {
		t.Fatalf("inside the cooldown with HonorCooldown=true: %v, want ScalingActivityInProgressFault", err)
	}
	if err := set("web", 5, aws.Bool(false)); err != nil {
		t.Fatalf("inside the cooldown with HonorCooldown=false: %v", err)
	}
	clk.Advance(5 * time.Minute)
	if err := set("web", 6, aws.Bool(true)); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
	// The current size is a no-op success.
	if err := set("web", 6, nil); err != nil {
		t.Fatal(err)
	}
	calls := emu.Calls()
	if last := calls[len(calls)-1]; last.HonorCooldown != "" || last.DesiredCapacity != 6 || last.Status != 200 {
		t.Errorf("last call %+v", last)
	}
	if c := calls[len(calls)-2]; c.HonorCooldown != "true" {
		t.Errorf("call %+v, want HonorCooldown recorded as sent", c)
	}
}

// TestBootAndScaleIn: instances boot for BootDelay; scale-in removes the
// booting ones first.
func TestBootAndScaleIn(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	emu, client, _ := setup(t, awsemu.Options{Now: clk.Now, BootDelay: 2 * time.Minute})
	if err := emu.CreateGroup("web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	set := func(n int32) {
		t.Helper()
		if _, err := client.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(n),
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(in, pending int) {
		t.Helper()
		g, _ := emu.Group("web")
		if g.InService != in || g.Pending != pending {
			t.Fatalf("group %+v, want %d in service and %d pending", g, in, pending)
		}
	}
	check(2, 0)
	set(6)
	check(2, 4)
	clk.Advance(time.Minute)
	set(8)
	clk.Advance(time.Minute)
	check(6, 2)
	set(5)
	check(5, 0)
	set(0)
	check(0, 0)
}

// TestFaults: matching by action and group, counts, delays honouring the
// client going away, and validation.
func TestFaults(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{})
	for _, n := range []string{"a", "b"} {
		if err := emu.CreateGroup(n, 0, 10, 1); err != nil {
			t.Fatal(err)
		}
	}
	describe := func(group string) error {
		_, err := client.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
		return err
	}
	set := func(group string) error {
		_, err := client.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(2)})
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(emu.InjectFault(awsemu.Fault{Action: awsemu.ActionSetDesired, Group: "b", Code: awsemu.CodeThrottling, Times: 2}))
	must(describe("b"))
	must(set("a"))
	for i := 0; i < 2; i++ {
		if code := apiCode(set("b")); code != "Throttling" {
			t.Fatalf("set b #%d: code %q, want Throttling", i, code)
		}
	}
	must(set("b"))

	must(emu.InjectFault(awsemu.Fault{Code: awsemu.CodeInternalFailure, Times: -1}))
	for i := 0; i < 3; i++ {
		if code := apiCode(describe("a")); code != "InternalFailure" {
			t.Fatalf("describe #%d: code %q, want InternalFailure", i, code)
		}
	}
	emu.ClearFaults()
	must(describe("a"))

	// A slow answer ends when the client gives up.
	must(emu.InjectFault(awsemu.Fault{Delay: time.Minute}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"a"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("slow describe: %v after %s", err, time.Since(start))
	}

	// A slow resize still lands after its client gave up, as AWS applies a
	// request it has received; the log has it in effect order.
	// The client's deadline leaves time for the request to reach the
	// emulator on a loaded machine (at 50 ms it sometimes did not, and
	// then nothing could land); the delay outlasts it well.
	must(emu.InjectFault(awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: 2 * time.Second}))
	sctx, scancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer scancel()
	if _, err := client.SetDesiredCapacity(sctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("a"), DesiredCapacity: aws.Int32(5)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow resize: %v, want the client's deadline", err)
	}
	if d, _ := emu.Desired("a"); d != 2 {
		t.Fatalf("desired %d before the slow resize lands, want 2", d)
	}
	must(set("b")) // arrives later, lands first
	deadline := time.Now().Add(5 * time.Second)
	for d, _ := emu.Desired("a"); d != 5; d, _ = emu.Desired("a") {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned resize never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	calls := emu.Calls()
	last, prev := calls[len(calls)-1], calls[len(calls)-2]
	if last.DesiredCapacity != 5 || last.Status != http.StatusOK || prev.Groups[0] != "b" || last.Arrival >= prev.Arrival {
		t.Fatalf("log ends %+v, %+v: want b's resize, then the earlier-arrived resize of a", prev, last)
	}

	for _, bad := range []awsemu.Fault{{}, {Action: "Nope", Code: "X"}, {Code: "X", Status: 200}, {Delay: -1}} {
		if err := emu.InjectFault(bad); err == nil {
			t.Errorf("fault %+v accepted", bad)
		}
	}
}

// TestWire: the raw protocol, including what the SDK never sends.
func TestWire(t *testing.T) {
	emu, _, base := setup(t, awsemu.Options{})
	if err := emu.CreateGroup("web", 0, 3, 1); err != nil {
		t.Fatal(err)
	}
	post := func(form url.Values, signed bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if signed {
			req.Header.Set("X-Amz-Date", "20260101T000000Z")
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDRAW/20260101/sa-east-1/autoscaling/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	describe := url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}, "AutoScalingGroupNames.member.1": {"web"}}

	status, body := post(describe, false)
	if status != 403 || !strings.Contains(body, "<Code>MissingAuthenticationToken</Code>") {
		t.Errorf("unsigned: %d %s", status, body)
	}
	status, body = post(describe, true)
	if status != 200 || !strings.Contains(body, `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>web</AutoScalingGroupName>`) ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") || !strings.Contains(body, "sa-east-1a") {
		t.Errorf("describe: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"SetDesiredCapacity"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {"web"}, "DesiredCapacity": {"9"}}, true)
	want := `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>New SetDesiredCapacity value 9 is above max value 3 for the AutoScalingGroup.</Message></Error><RequestId>`
	if status != 400 || !strings.Contains(body, want) {
		t.Errorf("above max: %d %s", status, body)
	}
	status, body = post(url.Values{"Action": {"SetDesiredCapacity"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {"web"}, "DesiredCapacity": {"2"}}, true)
	if status != 200 || !strings.Contains(body, "<SetDesiredCapacityResponse") || strings.Contains(body, "Result") {
		t.Errorf("set: %d %s", status, body)
	}
	if err := emu.InjectFault(awsemu.Fault{Code: awsemu.CodeServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	status, body = post(describe, true)
	if status != 503 || !strings.Contains(body, "<Type>Receiver</Type><Code>ServiceUnavailable</Code>") {
		t.Errorf("unavailable: %d %s", status, body)
	}
	for _, form := range []url.Values{
		{"Action": {"TerminateInstanceInAutoScalingGroup"}, "Version": {"2011-01-01"}},
		{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2010-08-01"}},
	} {
		if status, body := post(form, true); status != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
			t.Errorf("%v: %d %s", form, status, body)
		}
	}
	calls := emu.Calls()
	if len(calls) != 7 || calls[1].Region != "sa-east-1" || calls[1].AccessKeyID != "AKIDRAW" || calls[3].DesiredCapacity != 2 {
		t.Errorf("calls %+v", calls)
	}
}

// TestCallLogBounded: the log keeps the newest MaxCalls entries.
func TestCallLogBounded(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{MaxCalls: 3})
	for i := range 10 {
		if _, err := client.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
			AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(int32(i)),
		}); err == nil {
			t.Fatal("resize of a missing group succeeded")
		}
	}
	calls := emu.Calls()
	if len(calls) != 3 || calls[0].DesiredCapacity != 7 || calls[2].DesiredCapacity != 9 {
		t.Fatalf("calls %+v, want the last three", calls)
	}
}

// TestCreateGroupChecks: bad sizes and duplicates are refused.
func TestCreateGroupChecks(t *testing.T) {
	emu := awsemu.New(awsemu.Options{})
	for _, c := range [][3]int{{-1, 2, 1}, {3, 2, 2}, {0, 2, 3}, {2, 5, 1}} {
		if err := emu.CreateGroup("g", c[0], c[1], c[2]); err == nil {
			t.Errorf("sizes %v accepted", c)
		}
	}
	if err := emu.CreateGroup("", 0, 1, 0); err == nil {
		t.Error("empty name accepted")
	}
	if err := emu.CreateGroup("g", 0, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := emu.CreateGroup("g", 0, 1, 0); err == nil {
		t.Error("duplicate accepted")
	}
	if _, ok := emu.Desired("nope"); ok {
		t.Error("Desired of a missing group reports it exists")
	}
}
