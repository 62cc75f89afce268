package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

const whatIfPolicy = `id: shop
target: {provider: fake, group: shop}
min: 1
max: 40
warmup: 30s
evaluation_interval: 10s
stale_after: 30s
metrics:
  - {name: rps, type: request_rate, target: 100}
  - {name: cpu, type: cpu, target: 60}
`

// startWhatIf serves the shop policy with fifty minutes of rps and cpu
// history, its group 3 ready.
func startWhatIf(t *testing.T) (*apitest.Backend, string) {
	t.Helper()
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "shop.yaml", whatIfPolicy)), ""); err != nil {
		t.Fatal(err)
	}
	b.SetStatus(api.PolicyStatus{ID: "shop", Desired: 3, Ready: 3})
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-50 * time.Minute)
	var samples []api.Sample
	for i := range 300 {
		ts := at.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples, api.Sample{Policy: "shop", Metric: "rps", Time: ts, Value: 200 + 3*float64(i%100)},
			api.Sample{Policy: "shop", Metric: "cpu", Time: ts, Value: 35 + float64(i%40)})
	}
	if _, err := b.PushMetrics(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
	return b, url
}

// TestHistoryTraceFeedsSimulate: history --trace writes a CSV that
// simulate replays as it is (the cpu metric's recorded size taken from the
// file), with the very figures simulate --from-cluster gets from the
// cluster.
func TestHistoryTraceFeedsSimulate(t *testing.T) {
	_, url := startWhatIf(t)
	csv := filepath.Join(t.TempDir(), "shop.csv")
	code, _, stderr := runCLI(t, "history", "shop", "--trace", csv, "--addr", url)
	if code != 0 || !strings.Contains(stderr, "wrote 300 buckets of 10s") || !strings.Contains(stderr, "rps, cpu, recorded-size") {
		t.Fatalf("history --trace: exit %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(csv)
	if err != nil || !strings.HasPrefix(string(data), "time,rps,cpu,recorded-size\n") {
		t.Fatalf("%v\n%.200s", err, data)
	}
	policyFile := writeFile(t, "shop.yaml", whatIfPolicy)
	var fromFile, fromCluster simulate.Summary
	if err := json.Unmarshal([]byte(mustRun(t, "simulate", "--policy", policyFile, "--trace", csv, "-o", "json")), &fromFile); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(mustRun(t, "simulate", "--from-cluster", "shop", "-o", "json", "--addr", url)), &fromCluster); err != nil {
		t.Fatal(err)
	}
	if fromFile != fromCluster || fromFile.Samples != 300 {
		t.Errorf("simulate of the file %+v\nsimulate --from-cluster %+v\nwant the same", fromFile, fromCluster)
	}
	if out := mustRun(t, "history", "shop", "--trace", "-", "--metric", "rps", "--addr", url); !strings.HasPrefix(out, "time,rps\n") {
		t.Errorf("--trace - --metric rps: %.100s", out)
	}
	if code, _, stderr := runCLI(t, "simulate", "--policy", policyFile, "--trace", csv, "--recorded-size", "7"); code != 1 || !strings.Contains(stderr, "recorded-size 3") {
		t.Errorf("--recorded-size against the file's: exit %d %s", code, stderr)
	}
}

// TestDryRun: policy apply --dry-run and simulate --from-cluster --policy
// print the stored policy and the candidate side by side with a verdict,
// exit 0 when the candidate is no worse on all figures and 3 when it is
// worse on any, write the report with both, and write nothing to the
// cluster.
func TestDryRun(t *testing.T) {
	b, url := startWhatIf(t)
	writes := b.Writes()
	dir := t.TempDir()
	same := writeFile(t, "same.yaml", whatIfPolicy)
	lower := writeFile(t, "lower.yaml", strings.Replace(whatIfPolicy, "target: 100", "target: 40", 1))
	report := filepath.Join(dir, "dry-run.html")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "the stored policy is no worse than itself", args: []string{"policy", "apply", "--dry-run", "-f", same},
			stdout: []string{"replayed 300 buckets of 10s", "candidate", "stored", "candidate / stored: under-provisioned 1.00×", "verdict: no worse on all figures"}},
		{name: "a lower target costs more", args: []string{"policy", "apply", "--dry-run", "-f", lower, "--report", report},
			code: exitWorse, stdout: []string{"verdict: worse on: ", "instance-hours"}, stderr: []string{"error: the candidate is worse on: "}},
		{name: "the same through simulate --from-cluster", args: []string{"simulate", "--from-cluster", "shop", "--policy", lower},
			code: exitWorse, stdout: []string{"verdict: worse on: "}},
		{name: "a metric the cluster has no history of", args: []string{"policy", "apply", "--dry-run", "-f", writeFile(t, "qps.yaml", strings.Replace(whatIfPolicy, "name: rps", "name: qps", 1))},
			code: 1, stderr: []string{"metrics[0].name: the cluster has no recorded history"}},
		{name: "a policy the cluster does not have", args: []string{"policy", "apply", "--dry-run", "-f", writeFile(t, "new.yaml", strings.Replace(whatIfPolicy, "id: shop", "id: new", 1))},
			code: 1, stderr: []string{"policy new is not on the cluster"}},
		{name: "an invalid candidate", args: []string{"policy", "apply", "--dry-run", "-f", writeFile(t, "bad.yaml", strings.Replace(whatIfPolicy, "max: 40", "max: 0", 1))},
			code: 1, stderr: []string{"max: "}},
		{name: "--if-match with --dry-run", args: []string{"policy", "apply", "--dry-run", "-f", same, "--if-match", "1"}, code: 1, stderr: []string{"--if-match: not with --dry-run"}},
		{name: "a directory", args: []string{"policy", "apply", "--dry-run", "-f", dir}, code: 1, stderr: []string{"takes one policy file"}},
		{name: "--report without --dry-run", args: []string{"policy", "apply", "-f", same, "--report", report}, code: 1, stderr: []string{"only with --dry-run"}},
		{name: "a candidate of another id", args: []string{"simulate", "--from-cluster", "other", "--policy", same}, code: 1, stderr: []string{`its id is "shop"`}},
		{name: "a trace with --from-cluster", args: []string{"simulate", "--from-cluster", "shop", "--trace", "x.csv"}, code: 1, stderr: []string{"--trace: not with --from-cluster"}},
		{name: "simulate without a trace", args: []string{"simulate", "--policy", same}, code: 1, stderr: []string{"--trace: required (or replay the cluster's history with --from-cluster ID)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(tc.args, "--addr", url)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
	html, err := os.ReadFile(report)
	if err != nil || !strings.Contains(string(html), "stored policy") || !strings.Contains(string(html), "Capstan dry run: shop") {
		t.Errorf("the report does not draw both runs: %v (%d bytes)", err, len(html))
	}
	var w api.WhatIf
	code, stdout, _ := runCLI(t, "simulate", "--from-cluster", "shop", "--policy", lower, "-o", "json", "--addr", url)
	if err := json.Unmarshal([]byte(stdout), &w); code != exitWorse || err != nil || w.Verdict.NoWorse || w.History.RecordedSize != 3 || w.StoredVersion == 0 {
		t.Errorf("-o json: exit %d %v %+v", code, err, w)
	}
	if b.Writes() != writes {
		t.Errorf("dry runs committed %d write(s); they must write nothing", b.Writes()-writes)
	}
	if got, _ := b.GetPolicy(context.Background(), "shop"); got.Policy.Metrics[0].Target != 100 {
		t.Errorf("the stored policy changed: %+v", got.Policy.Metrics[0])
	}
}

// TestDryRunPricesAsTheNode: a node with default prices (the agent's
// --default-price) prices a policy with no cost of its own at them in
// the dry run, as its decisions and POST .../simulate do, and the
// verdict weighs cost; a policy's own cost still wins. Without defaults
// nothing is priced.
func TestDryRunPricesAsTheNode(t *testing.T) {
	b, url := startWhatIf(t)
	same := writeFile(t, "same.yaml", whatIfPolicy)
	own := writeFile(t, "own.yaml", whatIfPolicy+"cost: {per_instance_hour: 1, currency: EUR}\n")
	run := func(file string) api.WhatIf {
		t.Helper()
		var w api.WhatIf
		code, stdout, stderr := runCLI(t, "policy", "apply", "--dry-run", "-f", file, "-o", "json", "--addr", url)
		if err := json.Unmarshal([]byte(stdout), &w); err != nil || code == 1 {
			t.Fatalf("exit %d %v\n%s\n%s", code, err, stdout, stderr)
		}
		return w
	}
	if w := run(same); w.Stored.Currency != "" || w.Candidate.Currency != "" {
		t.Fatalf("priced without default prices: %+v %+v", w.Stored, w.Candidate)
	}
	b.SetDefaultCosts(map[string]policy.Cost{"fake": {PerInstanceHour: 0.5, Currency: "USD"}, "aws": {PerInstanceHour: 0.096, Currency: "USD"}})
	w := run(same)
	if w.Stored.Currency != "USD" || w.Candidate.Currency != "USD" || w.Stored.Cost != 0.5*w.Stored.InstanceHours || w.Candidate.Cost != w.Stored.Cost {
		t.Fatalf("not priced at the node's default: stored %+v candidate %+v", w.Stored, w.Candidate)
	}
	var server api.WhatIf
	if err := json.Unmarshal(mustSimulate(t, url, whatIfPolicy), &server); err != nil {
		t.Fatal(err)
	}
	if server.Stored.Cost != w.Stored.Cost || server.Candidate.Cost != w.Candidate.Cost || server.Stored.Currency != "USD" {
		t.Fatalf("the route priced %v/%v %s, the dry run %v/%v", server.Stored.Cost, server.Candidate.Cost, server.Stored.Currency, w.Stored.Cost, w.Candidate.Cost)
	}
	w = run(own)
	if w.Candidate.Currency != "EUR" || w.Candidate.Cost != w.Candidate.InstanceHours || w.Stored.Currency != "USD" {
		t.Fatalf("the candidate's own cost should win: stored %+v candidate %+v", w.Stored, w.Candidate)
	}
	if len(w.Warnings) == 0 || !strings.Contains(strings.Join(w.Warnings, " "), "cost is not compared") {
		t.Fatalf("warnings %q", w.Warnings)
	}
}

// mustSimulate posts a candidate to POST /v1/policies/shop/simulate.
func mustSimulate(t *testing.T, url, doc string) []byte {
	t.Helper()
	w, err := api.NewClient(url, nil).Simulate(context.Background(), "shop", []byte(doc), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSimulateStartsAtTheReadySize: simulate --trace on a history CSV
// with a ready-size column starts the group at its first row's size (the
// group's recorded size), --initial-size overrides it, and a trace
// without the column starts at what the targets ask for; the column is
// never taken for a metric.
func TestSimulateStartsAtTheReadySize(t *testing.T) {
	pol := writeFile(t, "p.yaml", `id: p
target: {provider: fake, group: p}
min: 1
max: 40
warmup: 30m
evaluation_interval: 1m
stale_after: 10m
metrics: [{name: rps, type: request_rate, target: 100}]
`)
	var rows, plain strings.Builder
	rows.WriteString("time,rps,ready-size\n")
	plain.WriteString("time,rps\n")
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		ts := start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		fmt.Fprintf(&rows, "%s,200,20\n", ts)
		fmt.Fprintf(&plain, "%s,200\n", ts)
	}
	withSizes, without := writeFile(t, "sizes.csv", rows.String()), writeFile(t, "plain.csv", plain.String())
	peak := func(args ...string) int {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"simulate", "--policy", pol, "-o", "json"}, args...)...)
		var s simulate.Summary
		if err := json.Unmarshal([]byte(stdout), &s); code != 0 || err != nil || s.Samples != 30 {
			t.Fatalf("exit %d %v\n%s\n%s", code, err, stdout, stderr)
		}
		return s.PeakSize
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"the recorded size", []string{"--trace", withSizes}, 20},
		{"--initial-size wins", []string{"--trace", withSizes, "--initial-size", "7"}, 7},
		{"no sizes: what the targets ask for", []string{"--trace", without}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := peak(tc.args...); got != tc.want {
				t.Fatalf("peak size %d, want %d", got, tc.want)
			}
		})
	}
}
