package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/policy"
)

// startAPI serves the real API handler over an in-memory backend.
func startAPI(t *testing.T) (*apitest.Backend, string) {
	t.Helper()
	b := apitest.NewBackend("n1")
	srv := httptest.NewServer(api.NewHandler(api.Options{Backend: b}))
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("capstan %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func TestPolicyApplyListGetDelete(t *testing.T) {
	b, url := startAPI(t)
	file := "../../examples/policies/app-cpu.yaml"

	out := mustRun(t, "policy", "apply", "-f", file, "--addr", url)
	rec, ok := b.Policy("app-cpu")
	if !ok || out != "applied app-cpu (version 1)\n" {
		t.Fatalf("apply printed %q; stored %v", out, ok)
	}
	want, err := loadPolicy(file)
	if err != nil {
		t.Fatal(err)
	}
	if !policiesEqual(rec.Policy, want) {
		t.Fatalf("stored %+v\nwant   %+v", rec.Policy, want)
	}

	out = mustRun(t, "policy", "list", "--addr", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID PROVIDER GROUP MIN MAX METRICS VERSION" ||
		strings.Join(strings.Fields(lines[1]), " ") != "app-cpu fake app 2 30 usage 1" {
		t.Fatalf("list:\n%s", out)
	}
	var l api.PolicyList
	if err := json.Unmarshal([]byte(mustRun(t, "policy", "list", "-o", "json", "--addr", url)), &l); err != nil || len(l.Policies) != 1 {
		t.Fatalf("list -o json: %v %+v", err, l)
	}

	// get -o yaml is a policy file: applying it back changes nothing but the version.
	y := mustRun(t, "policy", "get", "app-cpu", "--addr", url)
	if !strings.HasPrefix(y, "# version 1, updated ") {
		t.Fatalf("get:\n%s", y)
	}
	back := writeFile(t, "back.yaml", y)
	if out := mustRun(t, "policy", "apply", "-f", back, "--if-match", "1", "--addr", url); out != "applied app-cpu (version 2)\n" {
		t.Fatalf("re-apply: %q", out)
	}
	if rec, _ := b.Policy("app-cpu"); !policiesEqual(rec.Policy, want) {
		t.Fatalf("round trip through get changed the policy: %+v", rec.Policy)
	}
	var got api.PolicyRecord
	if err := json.Unmarshal([]byte(mustRun(t, "policy", "get", "app-cpu", "-o", "json", "--addr", url)), &got); err != nil || got.Version != 2 {
		t.Fatalf("get -o json: %v %+v", err, got)
	}

	// A stale --if-match is refused and changes nothing.
	code, _, stderr := runCLI(t, "policy", "apply", "-f", file, "--if-match", "1", "--addr", url)
	if code != 1 || !strings.Contains(stderr, "precondition_failed") {
		t.Fatalf("stale apply: exit %d %s", code, stderr)
	}
	if out := mustRun(t, "policy", "delete", "app-cpu", "--yes", "--addr", url); out != "deleted app-cpu\n" {
		t.Fatalf("delete: %q", out)
	}
	if _, ok := b.Policy("app-cpu"); ok {
		t.Fatal("still there after delete")
	}
	code, _, stderr = runCLI(t, "policy", "get", "app-cpu", "--addr", url)
	if code != 1 || !strings.Contains(stderr, "not_found") {
		t.Fatalf("get after delete: exit %d %s", code, stderr)
	}
	if out := mustRun(t, "policy", "list", "--addr", url); !strings.HasPrefix(out, "no policies") {
		t.Fatalf("empty list: %q", out)
	}
}

// policiesEqual compares through JSON, which is how the API carries them.
func policiesEqual(a, b policy.Policy) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestPolicyApplyValidationErrors(t *testing.T) {
	b, url := startAPI(t)
	bad := writeFile(t, "bad.yaml", "id: web\ntarget: {provider: fake, group: g}\nmin: 3\nmax: 2\nmetrics: []\nscale_in: {max_step: {percent: 150}}\n")
	code, stdout, stderr := runCLI(t, "policy", "apply", "-f", bad, "--addr", url)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"3 error(s):", "\n  max: must be >= min (3)", "\n  metrics: ", "\n  scale_in.max_step.percent: must be in [0,100]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	badJSON := writeFile(t, "bad.json", `{"id": "web", "min": }`)
	code, _, stderr = runCLI(t, "policy", "apply", "-f", badJSON, "--addr", url)
	if code != 1 || !strings.Contains(stderr, "malformed JSON") {
		t.Fatalf("malformed JSON: exit %d %s", code, stderr)
	}
	if b.Writes() != 0 {
		t.Fatal("an invalid policy was written")
	}
}

func TestAddrFromEnvironment(t *testing.T) {
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, "../../examples/policies/app-cpu.yaml"), ""); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAPSTAN_ADDR", url)
	if out := mustRun(t, "policy", "list"); !strings.Contains(out, "app-cpu") {
		t.Fatalf("list via CAPSTAN_ADDR: %q", out)
	}
	// --addr wins over the environment.
	t.Setenv("CAPSTAN_ADDR", "http://127.0.0.1:1")
	if out := mustRun(t, "policy", "list", "--addr", url); !strings.Contains(out, "app-cpu") {
		t.Fatalf("--addr over CAPSTAN_ADDR: %q", out)
	}
	code, _, stderr := runCLI(t, "policy", "list")
	if code == 0 || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Fatalf("unreachable CAPSTAN_ADDR: exit %d %s", code, stderr)
	}
	// Several addresses: a node that does not answer is skipped.
	if out := mustRun(t, "policy", "list", "--addr", "http://127.0.0.1:1,"+url); !strings.Contains(out, "app-cpu") {
		t.Fatalf("failover: %q", out)
	}
	_, _, help := runCLI(t, "policy", "list", "--help")
	_, helpOut, _ := runCLI(t, "policy", "list", "--help")
	if !strings.Contains(help+helpOut, "CAPSTAN_ADDR") {
		t.Fatalf("help does not mention CAPSTAN_ADDR:\n%s", help+helpOut)
	}
}

func mustParse(t *testing.T, file string) policy.Policy {
	t.Helper()
	p, err := loadPolicy(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecisionsShowCost: the decisions table has a COST/H column, the
// hourly cost of the size each decision chose, when a decision is priced,
// "-" on a record without one, and no column when none is.
func TestDecisionsShowCost(t *testing.T) {
	b, url := startAPI(t)
	p := mustParse(t, "../../examples/policies/app-cpu.yaml")
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	b.AddDecisions("app-cpu", policy.Record{Time: at, Action: "hold", Current: 2, Desired: 2, Bound: policy.LimitCooldown, Reason: "hold"})
	if out := mustRun(t, "decisions", "app-cpu", "--addr", url); strings.Contains(out, "COST/H") {
		t.Fatalf("an unpriced policy's decisions show a cost column:\n%s", out)
	}
	b.AddDecisions("app-cpu", policy.Record{Time: at.Add(time.Minute), Action: "scale-out", Current: 2, Desired: 5, Bound: policy.LimitNone, HourlyCost: 0.96, Reason: "scale-out 2->5"})
	lines := strings.Split(strings.TrimSpace(mustRun(t, "decisions", "app-cpu", "--addr", url)), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "TIME ACTION FROM->TO BOUND GROUP AGE COST/H REASON" ||
		strings.Fields(lines[1])[6] != "0.96" || strings.Fields(lines[2])[6] != "-" {
		t.Fatalf("decisions:\n%s", strings.Join(lines, "\n"))
	}
}

// TestDecisionsShowWeekly: a decision whose forecast the weekly adjustment
// moved shows it in the table's reason and as each metric's weekly in -o
// json; a metric it did not act for has none.
func TestDecisionsShowWeekly(t *testing.T) {
	b, url := startAPI(t)
	p := mustParse(t, "../../examples/policies/nyc-taxi.yaml")
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	v, f, wk := 11893.0, 16442.4, 4142.9
	b.AddDecisions("nyc-taxi", policy.Record{Time: time.Date(2014, 12, 6, 8, 30, 0, 0, time.UTC), Action: "scale-out", Current: 13, Desired: 17,
		Forecast: true, Reason: "scale-out 13->17 forecast: passengers=1.189e+04 (target 1000) proposes 12, forecast 1.644e+04 (weekly +4143) proposes 17 (skill 0.71); recommended 17, desired 17",
		Metrics: []policy.MetricRecord{{Name: "passengers", Value: &v, Reactive: 12, Forecast: &f, Weekly: &wk, Predictive: 17, Trusted: true}, {Name: "other", Stale: true}}})
	if out := mustRun(t, "decisions", "nyc-taxi", "--addr", url); !strings.Contains(out, "forecast 1.644e+04 (weekly +4143) proposes 17") {
		t.Fatalf("the table's reason does not show the weekly part:\n%s", out)
	}
	out := mustRun(t, "decisions", "nyc-taxi", "-o", "json", "--addr", url)
	var dl api.DecisionList
	if err := json.Unmarshal([]byte(out), &dl); err != nil || len(dl.Decisions) != 1 || len(dl.Decisions[0].Metrics) != 2 {
		t.Fatalf("decisions -o json: %v\n%s", err, out)
	}
	if m := dl.Decisions[0].Metrics; m[0].Weekly == nil || *m[0].Weekly != wk || m[1].Weekly != nil || strings.Count(out, `"weekly"`) != 1 {
		t.Fatalf("decisions -o json: weekly parts %v, %v:\n%s", m[0].Weekly, m[1].Weekly, out)
	}
}

// TestDecisionsShowSeasonScale: a decision whose forecast's daily shape
// scales with the level shows the factor in the table's reason (the
// reason Decision.Record writes) and as the metric's season_scale in -o
// json and -o yaml; a decision with an additive season shows neither.
func TestDecisionsShowSeasonScale(t *testing.T) {
	b, url := startAPI(t)
	p := mustParse(t, "../../examples/policies/nyc-taxi.yaml")
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	decision := func(at time.Time, k float64) policy.Record {
		d := policy.Decision{Time: at, Current: 13, Ready: 13, Reactive: 12, Predictive: 17, Recommended: 17, Desired: 17,
			Action: policy.ActionScaleOut, UsedForecast: true, NumMetrics: 1}
		d.Metrics[0] = policy.MetricProposal{Value: 11893, Reactive: 12, Forecast: 16442.4, Predictive: 17, Upper: math.NaN(), Weekly: math.NaN(),
			SeasonScale: k, Season: 24 * time.Hour, Skill: 0.71, SlotSkill: float32(math.NaN()), Trusted: true}
		return d.Record(p)
	}
	at := time.Date(2014, 12, 6, 8, 30, 0, 0, time.UTC)
	b.AddDecisions("nyc-taxi", decision(at, 0), decision(at.Add(30*time.Minute), 1.84))
	out := mustRun(t, "decisions", "nyc-taxi", "--addr", url)
	if !strings.Contains(out, "forecast 1.644e+04 (daily shape ×1.84) proposes 17") || strings.Count(out, "shape") != 1 {
		t.Fatalf("the table's reasons do not show the factor once:\n%s", out)
	}
	out = mustRun(t, "decisions", "nyc-taxi", "-o", "json", "--addr", url)
	var dl api.DecisionList
	if err := json.Unmarshal([]byte(out), &dl); err != nil || len(dl.Decisions) != 2 {
		t.Fatalf("decisions -o json: %v\n%s", err, out)
	}
	for _, r := range dl.Decisions {
		want := 0.0
		if r.Time.After(at) {
			want = 1.84
		}
		if got := r.Metrics[0].SeasonScale; got != want {
			t.Fatalf("decisions -o json: the decision at %v has season_scale %v, want %v:\n%s", r.Time, got, want, out)
		}
	}
	if strings.Count(out, `"season_scale": 1.84`)+strings.Count(out, `"season_scale":1.84`) != 1 {
		t.Fatalf("decisions -o json: want one season_scale of 1.84:\n%s", out)
	}
	if out := mustRun(t, "decisions", "nyc-taxi", "-o", "yaml", "--addr", url); strings.Count(out, "season_scale: 1.84") != 1 {
		t.Fatalf("decisions -o yaml: want one season_scale of 1.84:\n%s", out)
	}
}

func TestDecisionsAndStatus(t *testing.T) {
	b, url := startAPI(t)
	p := mustParse(t, "../../examples/policies/app-cpu.yaml")
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	d1 := policy.Record{Time: at, Action: "scale-out", Current: 2, Desired: 4, Bound: policy.LimitRateLimit, GroupAge: policy.Duration(4200 * time.Millisecond),
		Reason: "scale-out 2->4 bound:rate-limit: usage=40 (target 10) proposes 4"}
	d2 := policy.Record{Time: at.Add(time.Minute), Action: "hold", Current: 4, Desired: 4, Bound: policy.LimitCooldown, Reason: "hold bound:cooldown"}
	b.AddDecisions("app-cpu", d1, d2)
	b.SetStatus(api.PolicyStatus{ID: "app-cpu", Desired: 4, Ready: 3, LastDecision: &d2})

	out := mustRun(t, "decisions", "app-cpu", "--addr", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "TIME ACTION FROM->TO BOUND GROUP AGE REASON" ||
		!slices.Equal(strings.Fields(lines[1])[2:6], []string{"hold", "4->4", "cooldown", "-"}) ||
		!slices.Equal(strings.Fields(lines[2])[2:6], []string{"scale-out", "2->4", "rate-limit", "4.2s"}) {
		t.Fatalf("decisions:\n%s", out)
	}
	var dl api.DecisionList
	if err := json.Unmarshal([]byte(mustRun(t, "decisions", "app-cpu", "--limit", "1", "-o", "json", "--addr", url)), &dl); err != nil || len(dl.Decisions) != 1 {
		t.Fatalf("decisions -o json: %v %+v", err, dl)
	}
	code, _, stderr := runCLI(t, "decisions", "nope", "--addr", url)
	if code != 1 || !strings.Contains(stderr, "not_found") {
		t.Fatalf("decisions of a missing policy: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "decisions", "app-cpu", "--limit", "0", "--addr", url); code == 0 || !strings.Contains(stderr, "--limit") {
		t.Fatalf("--limit 0: exit %d %s", code, stderr)
	}

	out = mustRun(t, "status", "--addr", url)
	for _, want := range []string{"node:", "n1 (leader)", "commit/applied:", "MEMBER", "127.0.0.1:7000", "app-cpu", "hold 4->4 (bound: cooldown)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(mustRun(t, "status", "-o", "json", "--addr", url)), &rep); err != nil ||
		rep.Cluster.Node != "n1" || len(rep.Policies) != 1 || rep.Policies[0].Desired != 4 {
		t.Fatalf("status -o json: %v %+v", err, rep)
	}
}

const feedTrace = `timestamp,rps,cpu
2024-01-01 00:00:00,100,10
2024-01-01 00:01:00,110,11
2024-01-01 00:02:00,,12
2024-01-01 00:03:00,130,13
2024-01-01 00:04:00,140,14
2024-01-01 00:05:00,150,15
2024-01-01 00:06:00,160,16
`

const feedPolicy = `id: web
target: {provider: fake, group: web}
min: 1
max: 10
metrics: [{name: rps, type: request_rate, target: 100}]
`

func TestFeedSendsTheTrace(t *testing.T) {
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "p.yaml", feedPolicy)), ""); err != nil {
		t.Fatal(err)
	}
	tr := writeFile(t, "t.csv", feedTrace)
	start := time.Now()
	out := mustRun(t, "feed", "--trace", tr, "--policy", "web", "--metric", "rps", "--speed", "1e6", "--batch", "2", "--progress", "2", "--addr", url)
	got := b.Samples()
	want := []float64{100, 110, 130, 140, 150, 160} // the empty cell is skipped
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d:\n%s", len(got), len(want), out)
	}
	for i, s := range got {
		if s.Policy != "web" || s.Metric != "rps" || s.Value != want[i] {
			t.Errorf("sample %d: %+v, want web/rps %v", i, s, want[i])
		}
		if s.Time.Before(start.Add(-time.Second)) || s.Time.After(time.Now()) {
			t.Errorf("sample %d stamped %s, not the time it was sent", i, s.Time)
		}
		if i > 0 {
			// 60 s of trace at 1e6x is 60 µs of wall time.
			if d := s.Time.Sub(got[i-1].Time); d <= 0 || d > time.Millisecond {
				t.Errorf("samples %d and %d are %s apart", i-1, i, d)
			}
		}
	}
	if !strings.Contains(out, "sent 2 samples") || !strings.Contains(out, "done: sent 6 samples") || !strings.Contains(out, "6 accepted") {
		t.Fatalf("output:\n%s", out)
	}

	// --column picks another column; the metric must exist in the policy.
	code, _, stderr := runCLI(t, "feed", "--trace", tr, "--policy", "web", "--metric", "cpu", "--column", "cpu", "--speed", "1e6", "--addr", url)
	if code == 0 || !strings.Contains(stderr, `policy web has no such metric`) {
		t.Fatalf("unknown metric: exit %d %s", code, stderr)
	}
}

func TestFeedPacesInRealTime(t *testing.T) {
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "p.yaml", feedPolicy)), ""); err != nil {
		t.Fatal(err)
	}
	tr := writeFile(t, "t.csv", feedTrace)
	start := time.Now()
	// 6 minutes of trace at 3600x: 100 ms from first to last sample.
	mustRun(t, "feed", "--trace", tr, "--policy", "web", "--metric", "rps", "--speed", "3600", "--addr", url)
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("replay took %s, want at least 100ms", el)
	}
	got := b.Samples()
	if d := got[len(got)-1].Time.Sub(got[0].Time); math.Abs(float64(d-100*time.Millisecond)) > float64(time.Millisecond) {
		t.Fatalf("first and last sample stamped %s apart, want 100ms", d)
	}
}

func TestFeedLoopsUntilInterrupted(t *testing.T) {
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "p.yaml", feedPolicy)), ""); err != nil {
		t.Fatal(err)
	}
	tr := writeFile(t, "t.csv", feedTrace)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"feed", "--trace", tr, "--policy", "web", "--metric", "rps", "--speed", "36000", "--loop", "--progress", "0", "--addr", url}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := len(b.Samples()); n <= 6 {
		t.Fatalf("%d samples after 300ms of a 10ms trace on --loop", n)
	}
	if !strings.Contains(stdout.String(), "stopped: sent") {
		t.Fatalf("output: %s", stdout.String())
	}
	// The seam keeps the rhythm: consecutive samples are never stamped out of order.
	got := b.Samples()
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Fatalf("samples %d and %d stamped %s and %s", i-1, i, got[i-1].Time, got[i].Time)
		}
	}
}

func TestFeedErrors(t *testing.T) {
	_, url := startAPI(t)
	tr := writeFile(t, "t.csv", feedTrace)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing policy", []string{"--policy", "nope", "--metric", "rps"}, "policy nope does not exist"},
		{"ambiguous column", []string{"--policy", "web", "--metric", "load"}, "pick one with --column"},
		{"unknown column", []string{"--policy", "web", "--metric", "rps", "--column", "mem"}, `--column "mem"`},
		{"bad speed", []string{"--policy", "web", "--metric", "rps", "--speed", "0"}, "--speed"},
		{"bad batch", []string{"--policy", "web", "--metric", "rps", "--batch", "10001"}, "--batch"},
		{"bad start", []string{"--policy", "web", "--metric", "rps", "--start", "tomorrow"}, "--start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"feed", "--trace", tr, "--addr", url}, tc.args...)
			code, _, stderr := runCLI(t, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, stderr, tc.want)
			}
		})
	}
}

func TestFeedStartInThePastSkipsAhead(t *testing.T) {
	b, url := startAPI(t)
	if _, err := b.PutPolicy(context.Background(), mustParse(t, writeFile(t, "p.yaml", feedPolicy)), ""); err != nil {
		t.Fatal(err)
	}
	tr := writeFile(t, "t.csv", feedTrace)
	// At 360x, a start 550 ms ago is 3.3 minutes into the trace: the replay
	// sends the 00:03 sample at once and goes on from there.
	start := time.Now().Add(-550 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	mustRun(t, "feed", "--trace", tr, "--policy", "web", "--metric", "rps", "--speed", "360", "--start", start, "--addr", url)
	var vals []float64
	for _, s := range b.Samples() {
		vals = append(vals, s.Value)
	}
	if len(vals) != 4 || vals[0] != 130 || vals[3] != 160 {
		t.Fatalf("sent %v, want [130 140 150 160]", vals)
	}
}
