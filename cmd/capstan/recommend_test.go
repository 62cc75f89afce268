package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/simulate"
)

// writeRecommendInputs writes a small priced policy and one day of
// 5-minute samples of a daily cycle, so the CLI test replays a full search
// (270 candidates) in well under a second. Its long scale-in cooldown and
// stabilization and its reactive scaling leave room a candidate can take.
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
scale_in: {cooldown: 40m, stabilization: 30m}
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
		{"no policy", []string{"--trace", tr}, "--policy: required (or search the cluster's history with --from-cluster ID)"},
		{"no trace", []string{"--policy", pol}, "--trace: required"},
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

// TestRecommendFromCluster: recommend --from-cluster searches the
// cluster's history around the stored policy (or --policy FILE) exactly as
// recommend --trace searches the CSV history --trace writes, its current
// point is simulate --from-cluster's replay, it writes the report, and it
// writes nothing to the cluster.
func TestRecommendFromCluster(t *testing.T) {
	b, url := startWhatIf(t)
	csv := filepath.Join(t.TempDir(), "shop.csv")
	mustRun(t, "history", "shop", "--trace", csv, "--addr", url)
	stored := writeFile(t, "shop.yaml", whatIfPolicy)
	lower := writeFile(t, "shop.yaml", strings.Replace(whatIfPolicy, "target: 100", "target: 40", 1))
	writes := b.Writes()
	tests := []struct {
		name     string
		cluster  []string // recommend --from-cluster shop, then these
		file     string   // the policy recommend --trace reads
		simulate []string // the simulate run whose summary is the current point
	}{
		{"around the stored policy", nil, stored, []string{"--from-cluster", "shop"}},
		{"around --policy FILE", []string{"--policy", lower}, lower, []string{"--policy", lower, "--trace", csv}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "r.html")
			code, out, stderr := runCLI(t, append([]string{"recommend", "--from-cluster", "shop", "-o", "json", "--addr", url, "--report", report}, tc.cluster...)...)
			// shop keeps no history_step, so its history has no sizes: the replay says where it starts.
			if code != 0 || !strings.Contains(stderr, "over the cluster's history of shop (300 buckets of 10s)") ||
				!strings.Contains(stderr, "warning: the history records no group size in any bucket") {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			fromFile := mustRun(t, "recommend", "--policy", tc.file, "--trace", csv, "-o", "json")
			if out != fromFile {
				t.Errorf("--from-cluster:\n%.600s\n--trace of its history:\n%.600s", out, fromFile)
			}
			var got struct {
				Current    struct{ Summary simulate.Summary }
				Candidates int
			}
			var sim simulate.Summary
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(mustRun(t, append([]string{"simulate", "-o", "json", "--addr", url}, tc.simulate...)...)), &sim); err != nil {
				t.Fatal(err)
			}
			if got.Current.Summary != sim || sim.Samples != 300 || got.Candidates < 100 {
				t.Errorf("current %+v\nsimulate %+v (%d candidates)", got.Current.Summary, sim, got.Candidates)
			}
			if html, err := os.ReadFile(report); err != nil || !strings.Contains(string(html), "the cluster&#39;s history of shop") {
				t.Errorf("report: %v %.300s", err, html)
			}
		})
	}
	if b.Writes() != writes {
		t.Errorf("recommend committed %d write(s); it must write nothing", b.Writes()-writes)
	}
	if got, _ := b.GetPolicy(context.Background(), "shop"); got.Policy.Metrics[0].Target != 100 {
		t.Errorf("the stored policy changed: %+v", got.Policy.Metrics[0])
	}
}

func TestRecommendFromClusterErrors(t *testing.T) {
	b, url := startWhatIf(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "quiet.yaml", strings.ReplaceAll(whatIfPolicy, "shop", "quiet"))), ""); err != nil {
		t.Fatal(err)
	}
	shop := writeFile(t, "shop.yaml", whatIfPolicy)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown policy", []string{"--from-cluster", "nope"}, []string{"--from-cluster nope: policy nope is not on the cluster"}},
		{"no history yet", []string{"--from-cluster", "quiet"}, []string{"--from-cluster quiet: ", "policy quiet has no recorded history yet"}},
		{"unreachable cluster", []string{"--from-cluster", "shop", "--addr", "http://127.0.0.1:1"}, []string{"--from-cluster shop: the node did not answer", "Point --addr"}},
		{"a policy of another id", []string{"--from-cluster", "quiet", "--policy", shop}, []string{`--policy ` + shop + `: its id is "shop", not the --from-cluster policy "quiet"`}},
		{"a metric the cluster has no history of", []string{"--from-cluster", "shop", "--policy", writeFile(t, "qps.yaml", strings.Replace(whatIfPolicy, "name: rps", "name: qps", 1))},
			[]string{"metric qps: the trace has no column \"qps\""}},
		{"a trace with --from-cluster", []string{"--from-cluster", "shop", "--trace", "x.csv"}, []string{"--trace: not with --from-cluster"}},
		{"a recorded size with --from-cluster", []string{"--from-cluster", "shop", "--recorded-size", "3"}, []string{"--recorded-size: not with --from-cluster"}},
		{"neither", nil, []string{"--policy: required (or search the cluster's history with --from-cluster ID)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writes := b.Writes()
			args := append([]string{"recommend"}, tc.args...)
			if !slices.Contains(args, "--addr") {
				args = append(args, "--addr", url)
			}
			code, _, stderr := runCLI(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if b.Writes() != writes {
				t.Errorf("a failed recommend wrote %d time(s)", b.Writes()-writes)
			}
		})
	}
}

// TestRecommendScoresAgainstTheCurrentTargets: every candidate is scored
// against the current policy's targets. At a steady 120 requests per
// second and a target of 50 the group needs 3; the 1.2× target (60) runs
// 2, which its own target calls enough and the current one 33 % short, so
// it is under-provisioned throughout and not recommended, and nothing
// else is cheaper: keep the current policy.
func TestRecommendScoresAgainstTheCurrentTargets(t *testing.T) {
	pol, _ := writeRecommendInputs(t)
	var b strings.Builder
	b.WriteString("timestamp,rps\n")
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for i := range 288 {
		fmt.Fprintf(&b, "%s,120\n", t0.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339))
	}
	tr := writeFile(t, "steady.csv", b.String())
	code, out, stderr := runCLI(t, "recommend", "--policy", pol, "--trace", tr, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Current struct {
			Summary simulate.Summary
		}
		Front []struct {
			Settings struct {
				TargetScale float64 `json:"target_scale"`
				Min         int
			}
			Summary simulate.Summary
		}
		Recommended *json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Current.Summary.UnderProvisionedSamples != 0 || got.Current.Summary.PeakSize != 3 {
		t.Fatalf("current %+v", got.Current.Summary)
	}
	if got.Recommended != nil {
		t.Errorf("recommended %s; want none", *got.Recommended)
	}
	seen := false
	for _, c := range got.Front {
		if c.Settings.TargetScale == 1.2 && c.Settings.Min == 1 {
			seen = true
			if c.Summary.UnderProvisionedSamples != c.Summary.Samples || c.Summary.PeakSize != 2 {
				t.Errorf("the 1.2× target: %+v; want 2 instances under-provisioned on every sample", c.Summary)
				break
			}
		}
	}
	if !seen {
		t.Errorf("the 1.2× target at min 1 is not on the front (cheapest): %.2000s", out)
	}
}
