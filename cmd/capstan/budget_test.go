package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
	"github.com/capstan-io/capstan/metrics/promtest"
)

// TestCloudBudgetFlags: the budget flags reach the drivers (the fake
// provider, unlimited by default, limited to one resize per 10 s here),
// come from a config file too, and bad values are refused naming the flag
// before anything starts.
func TestCloudBudgetFlags(t *testing.T) {
	o := agentOptions{CloudTimeout: time.Second, FakeBootDelay: time.Second}
	if err := o.CloudWriteRate.Set("fake=0.1"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	drivers, _, err := newDrivers(o, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := drivers("fake")
	if err != nil {
		t.Fatal(err)
	}
	g := cloud.GroupRef{Provider: "fake", Group: "web"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.SetDesired(ctx, g, 2); err != nil {
		t.Fatalf("first resize: %v", err)
	}
	if err := d.SetDesired(ctx, g, 3); !errors.Is(err, budget.ErrWaitExceeded) {
		t.Fatalf("second resize within the second: %v, want ErrWaitExceeded", err)
	}
	if got, _ := promtest.Value(t, reg, "capstan_cloud_calls_total", map[string]string{"provider": "fake", "op": "set_desired", "result": "budget_wait_exceeded"}); got != 1 {
		t.Errorf("capstan_cloud_calls_total{result=budget_wait_exceeded} = %g, want 1", got)
	}

	// From a config file; a flag on the command line wins.
	file := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(file, []byte("cloud_read_rate: {aws: 20, gcp: 8}\ncloud_write_rate: {aws: 2, gcp: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fromFile agentOptions
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.Var(&fromFile.CloudReadRate, "cloud-read-rate", "")
	fs.Var(&fromFile.CloudWriteRate, "cloud-write-rate", "")
	if err := fs.Parse([]string{"--cloud-write-rate", "aws=4"}); err != nil {
		t.Fatal(err)
	}
	if err := loadAgentConfig(file, &fromFile, fs); err != nil {
		t.Fatal(err)
	}
	if got := fromFile.CloudWriteRate.String(); got != "aws=4" {
		t.Errorf("write rates %q, want the flag's aws=4 alone", got)
	}
	if got := fromFile.CloudReadRate.String(); got != "aws=20,gcp=8" {
		t.Errorf("read rates %q, want the file's aws=20,gcp=8", got)
	}
	if err := os.WriteFile(file, []byte("cloud_read_rate:\n  aws: -3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := loadAgentConfig(file, &agentOptions{}, pflag.NewFlagSet("agent", pflag.ContinueOnError)); err == nil ||
		!strings.Contains(err.Error(), `provider "aws": rate must be a finite number`) {
		t.Errorf("a negative rate in the config file: %v", err)
	}

	for args, want := range map[string]string{
		"--cloud-read-rate aws=-1":      `invalid argument "aws=-1" for "--cloud-read-rate" flag: provider "aws": rate must be a finite number`,
		"--cloud-write-rate aws":        `invalid argument "aws" for "--cloud-write-rate" flag: entry "aws": must be provider=rate`,
		"--cloud-write-rate oracle=1":   `--cloud-read-rate, --cloud-write-rate: write rate of provider "oracle": unknown provider (known: aws, azure, fake, gcp)`,
		"--cloud-read-rate gcp=1,gcp=2": `provider "gcp": given twice`,
	} {
		if err := runAgentArgs(t, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("capstan agent %s: %v, want an error containing %q", args, err, want)
		}
	}
}

// TestCloudBudgetMeters: the agent's GCP and Azure drivers send every
// request through the budget's transport: a describe that reads the group
// and its autoscaler (GCP) or its instance view (Azure) takes two read
// tokens, and the emulators see exactly the requests the budget counted.
func TestCloudBudgetMeters(t *testing.T) {
	gemu := gcpemu.New(gcpemu.Options{})
	zemu := azemu.New(azemu.Options{})
	gsrv, zsrv := httptest.NewServer(gemu), httptest.NewServer(zemu)
	t.Cleanup(gsrv.Close)
	t.Cleanup(zsrv.Close)
	mig := cloud.GroupRef{Provider: "gcp", Project: "capstan-test", Zone: "us-central1-a", Group: "workers"}
	if err := gemu.CreateGroup(mig, 2, &gcpemu.Autoscaler{Min: 0, Max: 50}); err != nil {
		t.Fatal(err)
	}
	const sub = "00000000-0000-0000-0000-000000000000"
	if err := zemu.CreateGroup(sub, "rg", "api", 0, 50, 2); err != nil {
		t.Fatal(err)
	}
	vmss := cloud.GroupRef{Provider: "azure", Subscription: sub, ResourceGroup: "rg", ScaleSet: "api"}
	o := agentOptions{CloudTimeout: 5 * time.Second, FakeBootDelay: time.Second, GCPEndpoint: gsrv.URL, GCPNoAuth: true,
		AzureEndpoint: zsrv.URL, AzureEmulatorToken: azemu.DefaultToken}
	reg := prometheus.NewRegistry()
	drivers, _, err := newDrivers(o, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		g     cloud.GroupRef
		scope string
		calls func() int
	}{
		{mig, "capstan-test", func() int { return len(gemu.Calls()) }},
		{vmss, sub, func() int { return len(zemu.Calls()) }},
	}
	for _, tc := range cases {
		d, err := drivers(tc.g.Provider)
		if err != nil {
			t.Fatal(err)
		}
		before := tc.calls()
		if _, err := d.Describe(context.Background(), tc.g); err != nil {
			t.Fatalf("%s: %v", tc.g.Provider, err)
		}
		sent := tc.calls() - before
		tokens, _ := promtest.Value(t, reg, "capstan_cloud_budget_tokens_total", map[string]string{"provider": tc.g.Provider, "scope": tc.scope, "bucket": "read"})
		if sent != 2 || tokens != float64(sent) {
			t.Errorf("%s describe: %d requests reached the emulator, %g tokens taken; want 2 and 2", tc.g.Provider, sent, tokens)
		}
	}
}

// TestCloudBudgetBatches: through the agent's drivers (cloud.Retrying over
// the budget over each driver), a batch describe of many groups takes one
// read token per request its provider's emulator receives: AWS pages of
// 100 names, GCP's lists per zone, Azure's list (its scale sets are steady:
// no instance view).
func TestCloudBudgetBatches(t *testing.T) {
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": t.TempDir() + "/config", "AWS_SHARED_CREDENTIALS_FILE": t.TempDir() + "/credentials",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ACCESS_KEY_ID": "AKIDBUDGETTEST000001", "AWS_SECRET_ACCESS_KEY": "not-a-secret",
	} {
		t.Setenv(k, v)
	}
	aemu, gemu, zemu := awsemu.New(awsemu.Options{}), gcpemu.New(gcpemu.Options{}), azemu.New(azemu.Options{})
	servers := map[string]string{}
	for name, h := range map[string]http.Handler{"aws": aemu, "gcp": gemu, "azure": zemu} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		servers[name] = srv.URL
	}
	const sub = "00000000-0000-0000-0000-000000000000"
	var awsRefs, gcpRefs, azRefs []cloud.GroupRef
	for i := range 120 {
		name := fmt.Sprintf("g%03d", i)
		if err := aemu.CreateGroup(name, 0, 10, 1); err != nil {
			t.Fatal(err)
		}
		awsRefs = append(awsRefs, cloud.GroupRef{Provider: "aws", Group: name, Region: "us-east-1"})
		mig := cloud.GroupRef{Provider: "gcp", Project: "capstan-test", Zone: "us-central1-a", Group: name}
		if err := gemu.CreateGroup(mig, 1, &gcpemu.Autoscaler{Min: 0, Max: 10}); err != nil {
			t.Fatal(err)
		}
		gcpRefs = append(gcpRefs, mig)
		if i < 30 {
			if err := zemu.CreateGroup(sub, "rg", name, 0, 10, 1); err != nil {
				t.Fatal(err)
			}
			azRefs = append(azRefs, cloud.GroupRef{Provider: "azure", Subscription: sub, ResourceGroup: "rg", ScaleSet: name})
		}
	}
	// Read budgets high enough that no describe waits long.
	o := agentOptions{CloudTimeout: 10 * time.Second, FakeBootDelay: time.Second, AWSEndpoint: servers["aws"],
		GCPEndpoint: servers["gcp"], GCPNoAuth: true, AzureEndpoint: servers["azure"], AzureEmulatorToken: azemu.DefaultToken,
		CloudReadRate: budget.Rates{"aws": 100, "gcp": 100, "azure": 100}}
	reg := prometheus.NewRegistry()
	drivers, _, err := newDrivers(o, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		refs      []cloud.GroupRef
		scope     string
		requests  func() int
		wantCalls int // what the driver's batch costs, per its own tests
	}{
		{awsRefs, "us-east-1", func() int { return len(aemu.Calls()) }, 2},
		{gcpRefs, "capstan-test", func() int { return len(gemu.Calls()) }, 2},
		{azRefs, sub, func() int { return len(zemu.Calls()) }, 1},
	}
	for _, tc := range cases {
		provider := tc.refs[0].Provider
		d, err := drivers(provider)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.(cloud.BatchDescriber); !ok {
			t.Fatalf("%s: the agent's driver hides the batch call", provider)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := cloud.DescribeAll(ctx, d, tc.refs)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", provider, err)
		}
		for i, r := range out {
			if r.Err != nil || r.State.Desired != 1 {
				t.Fatalf("%s group %d: %+v", provider, i, r)
			}
		}
		sent := tc.requests()
		tokens, _ := promtest.Value(t, reg, "capstan_cloud_budget_tokens_total", map[string]string{"provider": provider, "scope": tc.scope, "bucket": "read"})
		if sent != tc.wantCalls || tokens != float64(sent) {
			t.Errorf("%s: %d groups cost %d requests and %g tokens; want %d and as many tokens", provider, len(tc.refs), sent, tokens, tc.wantCalls)
		}
	}
}

// TestGCPListsEnd: a batch describe's list that the emulator holds for
// far longer than any deadline ends, through the agent's GCP driver, at
// the caller's deadline, or without one at about --cloud-timeout (the
// HTTP client's timeout). The Compute SDK's List methods build their
// requests without the caller's context (cloud.google.com/go/compute
// v1.75.0: Get sets it, List does not); the batch describe's lists are
// the driver's own requests, which carry it, and the SDK's own lists get
// it through the client the agent gives the driver (gcp.Options.HTTPClient).
func TestGCPListsEnd(t *testing.T) {
	const hold = 4 * time.Second
	cases := []struct {
		name                   string
		cloudTimeout, deadline time.Duration // deadline 0: the caller sets none
	}{
		{"at the caller's deadline", 10 * time.Second, 300 * time.Millisecond},
		{"at the cloud timeout without one", 300 * time.Millisecond, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gemu := gcpemu.New(gcpemu.Options{})
			gsrv := httptest.NewServer(gemu)
			t.Cleanup(gsrv.Close)
			var refs []cloud.GroupRef
			for _, name := range []string{"workers", "batch"} {
				g := cloud.GroupRef{Provider: "gcp", Project: "capstan-test", Zone: "us-central1-a", Group: name}
				if err := gemu.CreateGroup(g, 2, &gcpemu.Autoscaler{Min: 0, Max: 50}); err != nil {
					t.Fatal(err)
				}
				refs = append(refs, g)
			}
			if err := gemu.InjectFault(gcpemu.Fault{Op: gcpemu.OpList, Kind: gcpemu.Slow, Delay: hold, Times: -1}); err != nil {
				t.Fatal(err)
			}
			o := agentOptions{CloudTimeout: tc.cloudTimeout, FakeBootDelay: time.Second, GCPEndpoint: gsrv.URL, GCPNoAuth: true}
			drivers, _, err := newDrivers(o, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			d, err := drivers("gcp")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start := time.Now()
			got, err := cloud.DescribeAll(ctx, d, refs)
			took := time.Since(start)
			failed := err != nil
			for _, r := range got {
				failed = failed || r.Err != nil
			}
			if !failed {
				t.Fatalf("a list held for %s answered %+v", hold, got)
			}
			if took >= hold-time.Second {
				t.Fatalf("the batch describe took %s; want it to end near 300 ms, before the emulator's %s", took, hold)
			}
		})
	}
}
