package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
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
	drivers, err := newDrivers(o, slog.New(slog.DiscardHandler), reg)
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
	if got := callsTotal(t, reg, "fake", "set_desired", "budget_wait_exceeded"); got != 1 {
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
		cmd := newAgentCommand()
		cmd.SetArgs(append([]string{"--node-id", "n1", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--insecure-no-auth"}, strings.Fields(args)...))
		cmd.SetErr(io.Discard)
		cmd.SetOut(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("capstan agent %s: %v, want an error containing %q", args, err, want)
		}
	}
}

// callsTotal is capstan_cloud_calls_total's value for the labels, 0 if absent.
func callsTotal(t *testing.T, reg *prometheus.Registry, provider, op, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "capstan_cloud_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["provider"] == provider && l["op"] == op && l["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
