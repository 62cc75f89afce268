package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite examples/expected from the current results")

// runCLI runs the CLI in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// exampleRuns are the bundled policy/trace pairs `make test` replays.
var exampleRuns = []struct {
	policy, trace string
	extra         []string
}{
	{"app-cpu", "app_cpu_usage_1min.csv", nil},
	{"nyc-taxi", "nyc_taxi_passengers_30min.csv", nil},
	{"asg-cpu", "asg_cpu_utilization_5min.csv", []string{"--recorded-size", "10"}},
	{"batch-queue", "batch_queue_depth_5min.csv", nil},
	{"elb-requests", "elb_request_count_5min.csv", nil},
}

// TestExampleReplays replays every bundled example through the CLI, as a
// user would, and compares the JSON summary with examples/expected. Run
// `go test ./cmd/capstan -run TestExampleReplays -update` after an
// intended change of behaviour, and say why in the commit.
func TestExampleReplays(t *testing.T) {
	for _, ex := range exampleRuns {
		for _, mode := range []string{"off", "forecast-and-scale"} {
			name := ex.policy + "-" + mode
			t.Run(name, func(t *testing.T) {
				args := append([]string{"simulate", "-o", "json", "--predictive", mode,
					"--policy", filepath.Join("..", "..", "examples", "policies", ex.policy+".yaml"),
					"--trace", filepath.Join("..", "..", "examples", "traces", ex.trace)}, ex.extra...)
				code, out, errOut := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				var got map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("summary is not JSON: %v\n%s", err, out)
				}
				golden := filepath.Join("..", "..", "examples", "expected", name+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				raw, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				var want map[string]any
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				for k, w := range want {
					if g := got[k]; g != w {
						t.Errorf("%s: %v, want %v", k, g, w)
					}
				}
				if len(got) != len(want) {
					t.Errorf("summary has %d fields, expected file %d", len(got), len(want))
				}
			})
		}
	}
}

func TestSimulateWritesTimelineAndReport(t *testing.T) {
	dir := t.TempDir()
	csvPath, jsonPath, htmlPath := filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.json"), filepath.Join(dir, "r.html")
	for _, out := range []string{csvPath, jsonPath} {
		code, stdout, stderr := runCLI(t, "simulate", "--policy", "../../examples/policies/elb-requests.yaml",
			"--trace", "../../examples/traces/elb_request_count_5min.csv", "--timeline", out, "--report", htmlPath)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "under-provisioned samples") {
			t.Fatalf("no summary on stdout:\n%s", stdout)
		}
	}
	csvData, _ := os.ReadFile(csvPath)
	lines := strings.Split(strings.TrimSpace(string(csvData)), "\n")
	if lines[0] != "time,requests,forecast_requests,weekly_requests,season_scale_requests,needed,desired,ready,reason" || len(lines) != 4033 {
		t.Fatalf("timeline header %q and %d lines, want 4032 rows and a header", lines[0], len(lines))
	}
	var js struct {
		Summary  map[string]any   `json:"summary"`
		Timeline []map[string]any `json:"timeline"`
	}
	raw, _ := os.ReadFile(jsonPath)
	if err := json.Unmarshal(raw, &js); err != nil || len(js.Timeline) != 4032 {
		t.Fatalf("JSON timeline: %v, %d rows", err, len(js.Timeline))
	}
	html, _ := os.ReadFile(htmlPath)
	if !bytes.Contains(html, []byte("<svg")) {
		t.Fatal("report has no chart")
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "../../examples/policies/app-cpu.yaml"
	trace := "../../examples/traces/app_cpu_usage_1min.csv"
	bad := write("bad.yaml", "id: web\ntarget: {provider: fake, group: g}\nmin: 3\nmax: 2\nmetrics: []\nscale_in: {max_step: {percent: 150}}\n")
	badTrace := write("bad.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,abc\n2024-01-01 00:02:00,3\n")
	twoCols := write("two.csv", "time,a,b\n1700000000,1,2\n")
	cpuPolicy := "../../examples/policies/asg-cpu.yaml"
	cpuTrace := "../../examples/traces/asg_cpu_utilization_5min.csv"
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"validate lists every error", []string{"policy", "validate", "-f", bad},
			[]string{"max: must be >= min (3)", "metrics:", "scale_in.max_step.percent: must be in [0,100]"}},
		{"validate needs -f", []string{"policy", "validate"}, []string{`"file" not set`}},
		{"missing policy file", []string{"policy", "validate", "-f", filepath.Join(dir, "nope.yaml")}, []string{"no such file"}},
		{"bad trace row names the line", []string{"simulate", "--policy", good, "--trace", badTrace}, []string{"line 3"}},
		{"unmapped columns", []string{"simulate", "--policy", good, "--trace", twoCols}, []string{`metric usage: the trace has no column "usage"`, "--metric usage=COLUMN"}},
		{"unknown metric mapping", []string{"simulate", "--policy", good, "--trace", trace, "--metric", "nope=value"}, []string{`no metric "nope"`}},
		{"malformed mapping", []string{"simulate", "--policy", good, "--trace", trace, "--metric", "usage"}, []string{"must be NAME=COLUMN"}},
		{"unknown column", []string{"simulate", "--policy", good, "--trace", trace, "--metric", "usage=nope"}, []string{`no column "nope"`}},
		{"cpu needs recorded size", []string{"simulate", "--policy", cpuPolicy, "--trace", cpuTrace}, []string{"--recorded-size"}},
		{"bad predictive mode", []string{"simulate", "--policy", good, "--trace", trace, "--predictive", "sometimes"}, []string{"--predictive: must be one of"}},
		{"negative initial size", []string{"simulate", "--policy", good, "--trace", trace, "--initial-size", "-1"}, []string{"--initial-size: must be >= 0"}},
		{"bad timezone", []string{"simulate", "--policy", good, "--trace", trace, "--timezone", "Mars/Olympus"}, []string{"--timezone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code == 0 {
				t.Fatal("exit 0, want a failure")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestSkipBadRows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(p, []byte("timestamp,value\n2024-01-01 00:00:00,100\n2024-01-01 00:01:00,abc\n2024-01-01 00:02:00,300\n"), 0o644)
	code, stdout, stderr := runCLI(t, "simulate", "-o", "json", "--skip-bad-rows", "--policy", "../../examples/policies/app-cpu.yaml", "--trace", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "skipped 1 bad row") || !strings.Contains(stderr, "line 3") {
		t.Fatalf("skipped rows not reported: %s", stderr)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || s["samples"] != float64(2) {
		t.Fatalf("summary %v (%v), want 2 samples", s, err)
	}
}

func TestValidateOK(t *testing.T) {
	code, stdout, _ := runCLI(t, "policy", "validate", "-f", "../../examples/policies/nyc-taxi.yaml")
	if code != 0 || !strings.HasPrefix(stdout, "OK: policy nyc-taxi") {
		t.Fatalf("exit %d, output %q", code, stdout)
	}
}
