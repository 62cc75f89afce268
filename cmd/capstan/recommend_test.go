package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeRecommendInputs writes a small priced policy and one day of
// 5-minute samples of a daily cycle, so the CLI test replays a full search
// (135 candidates) in well under a second.
func writeRecommendInputs(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	doc := `id: web
target: {provider: fake, group: web}
min: 1
max: 40
warmup: 5m
evaluation_interval: 5m
stale_after: 10m
metrics: [{name: rps, type: request_rate, target: 50}]
cost: {per_instance_hour: 0.192, currency: USD}
`
	if err := os.WriteFile(pol, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("timestamp,rps\n")
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for i := range 288 {
		v := 600 - 500*math.Cos(2*math.Pi*float64(i)/288)
		fmt.Fprintf(&b, "%s,%.1f\n", t0.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339), v)
	}
	tr := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(tr, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return pol, tr
}

func TestRecommendCLI(t *testing.T) {
	pol, tr := writeRecommendInputs(t)
	code, out, stderr := runCLI(t, "recommend", "--policy", pol, "--trace", tr, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Rule    string
		Current struct{ Summary struct{ Cost float64 } }
		Front   []struct {
			Summary struct {
				Under int     `json:"underprovisioned_samples"`
				Hours float64 `json:"instance_hours"`
			}
		}
		Recommended *struct {
			Settings struct {
				TargetScale float64 `json:"target_scale"`
			}
		}
		VsCurrent  map[string]any `json:"recommended_vs_current"`
		AtEdge     []string       `json:"at_edge_of_search"`
		Diff       string
		Candidates int
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Candidates < 100 || len(got.Front) == 0 || got.Rule == "" || got.Current.Summary.Cost <= 0 {
		t.Fatalf("candidates %d, front %d, rule %q, current cost %v", got.Candidates, len(got.Front), got.Rule, got.Current.Summary.Cost)
	}
	for i := 1; i < len(got.Front); i++ {
		a, b := got.Front[i-1].Summary, got.Front[i].Summary
		if tie := a == b; a.Hours > b.Hours || (a.Under <= b.Under && !tie) {
			t.Fatalf("front not ordered by cost with falling under-provisioning: %+v then %+v", a, b)
		}
	}
	if got.Recommended == nil || got.Diff == "" || got.VsCurrent["cost_difference"] == nil {
		t.Fatalf("no recommendation on a policy with room: %s", out)
	}
	// The diff applies: the candidate it describes parses.
	if !strings.HasPrefix(got.Diff, "--- current\n+++ candidate\n") {
		t.Fatalf("diff:\n%s", got.Diff)
	}

	code, text, stderr := runCLI(t, "recommend", "--policy", pol, "--trace", tr, "--report", filepath.Join(t.TempDir(), "r.html"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"current", "front 1", "cost (USD)", "Rule: ", "Recommendation (* above)", "--- current"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	// The text names the settings at the edge of the search, as the JSON does.
	if note := strings.Contains(text, "at the edge of the range searched"); note != (len(got.AtEdge) > 0) ||
		(note && !strings.Contains(text, "Note: "+strings.Join(got.AtEdge, ", "))) {
		t.Errorf("at edge %v, text note %v:\n%s", got.AtEdge, note, text)
	}
	if !strings.Contains(stderr, "candidates") {
		t.Errorf("stderr does not state the search: %q", stderr)
	}
}

func TestRecommendCLIErrors(t *testing.T) {
	pol, tr := writeRecommendInputs(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no policy", []string{"--trace", tr}, `"policy" not set`},
		{"no trace", []string{"--policy", pol}, `"trace" not set`},
		{"bad workers", []string{"--policy", pol, "--trace", tr, "--workers", "-1"}, "--workers: must be >= 0"},
		{"bad recorded size", []string{"--policy", pol, "--trace", tr, "--recorded-size", "-2"}, "--recorded-size: must be >= 0"},
		{"bad format", []string{"--policy", pol, "--trace", tr, "-o", "csv"}, "--output: must be one of table, json, yaml"},
		{"recorded size without cpu", []string{"--policy", pol, "--trace", tr, "--recorded-size", "3"}, "--recorded-size: applies only to cpu metrics"},
		{"bad zone", []string{"--policy", pol, "--trace", tr, "--timezone", "Mars/Base"}, "--timezone"},
		{"unknown column", []string{"--policy", pol, "--trace", tr, "--metric", "rps=nope"}, `no column "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"recommend"}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want an error with %q", code, stderr, tt.want)
			}
		})
	}
}

// TestSimulateCostCLI: a priced policy's simulate summary, in every
// format, and its comparison with the HPA reference show the cost and the
// difference in money.
func TestSimulateCostCLI(t *testing.T) {
	pol, tr := writeRecommendInputs(t)
	code, out, stderr := runCLI(t, "simulate", "--policy", pol, "--trace", tr, "-o", "json", "--baseline", "hpa")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Policy, Baseline struct {
			Hours    float64 `json:"instance_hours"`
			Cost     float64
			Currency string
		}
		VsBaseline struct {
			Cost           float64 `json:"cost"`
			CostDifference float64 `json:"cost_difference"`
			Currency       string
		} `json:"policy_vs_baseline"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if math.Abs(got.Policy.Cost-0.192*got.Policy.Hours) > 1e-9 || got.Policy.Currency != "USD" || got.Baseline.Currency != "USD" {
		t.Fatalf("policy %+v, baseline %+v", got.Policy, got.Baseline)
	}
	if d := got.Policy.Cost - got.Baseline.Cost; math.Abs(got.VsBaseline.CostDifference-d) > 1e-9 || got.VsBaseline.Currency != "USD" {
		t.Fatalf("vs baseline %+v, want difference %v", got.VsBaseline, d)
	}
	code, text, _ := runCLI(t, "simulate", "--policy", pol, "--trace", tr, "--baseline", "hpa")
	if code != 0 || !strings.Contains(text, "cost (USD)") || !strings.Contains(text, "policy / hpa: ") || !strings.Contains(text, ", cost ") {
		t.Fatalf("exit %d, table:\n%s", code, text)
	}
	code, plain, _ := runCLI(t, "simulate", "--policy", pol, "--trace", tr)
	if code != 0 || !strings.Contains(plain, "cost") || !strings.Contains(plain, "USD") {
		t.Fatalf("exit %d, summary:\n%s", code, plain)
	}
}
