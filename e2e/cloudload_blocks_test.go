package e2e

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/policy"
)

// TestLoadEmulators: each provider's load-run emulator makes groups of
// loadGroupSize that its policies' targets name (the policy parses with
// that target), answers their size, and logs and counts the calls; an
// unknown provider is refused naming the setting.
func TestLoadEmulators(t *testing.T) {
	for _, provider := range []string{"aws", "gcp", "azure"} {
		t.Run(provider, func(t *testing.T) {
			emu, err := newLoadEmulator(provider, emukit.RateLimit{ReadsPerSecond: 20, WritesPerSecond: 10})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := emu.create(i); err != nil {
					t.Fatal(err)
				}
				pol, err := policy.Parse([]byte(scalePolicyOn(i, emu.target(i))))
				if err != nil {
					t.Fatalf("policy %d on %s: %v", i, provider, err)
				}
				if pol.Target.Provider != provider {
					t.Fatalf("policy %d: provider %q, want %q", i, pol.Target.Provider, provider)
				}
				if n, err := emu.desired(i); err != nil || n != loadGroupSize {
					t.Fatalf("group %d: desired %d, %v; want %d", i, n, err, loadGroupSize)
				}
			}
			if _, err := emu.desired(5); err == nil {
				t.Fatal("a group never made has a size")
			}
			if s := emu.summary(); s.Throttled != 0 || len(s.Calls) != 0 {
				t.Fatalf("summary before any call: %+v", s)
			}
			if len(emu.args("http://127.0.0.1:1")) == 0 {
				t.Fatal("no agent flags naming the emulator")
			}
		})
	}
	if _, err := newLoadEmulator("fake", emukit.RateLimit{}); err == nil || !strings.Contains(err.Error(), "CAPSTAN_CLOUD_PROVIDER") {
		t.Fatalf("unknown provider: %v, want an error naming CAPSTAN_CLOUD_PROVIDER", err)
	}
}

// TestLoadPlanValues: a plan's Value replaces the daily cycle in every
// sample it sends.
func TestLoadPlanValues(t *testing.T) {
	p := scalePlan{Policies: 4, Clients: 1, Batch: 8, Period: 10 * time.Second,
		Value: func(pol, metric int, _ time.Time) float64 { return float64(100*pol + metric) }}
	for _, s := range p.batch(0, 0, time.Now()) {
		var pol, metric int
		for i := range 4 {
			if s.Policy == scalePolicyID(i) {
				pol = i
			}
		}
		if s.Metric == scaleMetrics[1] {
			metric = 1
		}
		if s.Value != float64(100*pol+metric) {
			t.Fatalf("sample %+v: value %v, want %d", s, s.Value, 100*pol+metric)
		}
	}
}

func TestIsThrottleReason(t *testing.T) {
	tests := []struct {
		reason string
		want   bool
	}{
		{"describing aws:us-east-1/s00001: aws: operation error Auto Scaling: SetDesiredCapacity, api error Throttling: Rate exceeded", true},
		{"cloud: throttled: googleapi: Error 403: Rate Limit Exceeded, rateLimitExceeded", true},
		{"googleapi: Error 403: Rate Limit Exceeded", true},
		{"azure: PATCH: RESPONSE 429: 429 Too Many Requests", true},
		{"TooManyRequests", true},
		{"cloud budget: no call token before the deadline", false},
		{"azure: cloud: invalid request", false},
		{"scale-out 3->7 bound:rate-limit: rps=800 (target 100) proposes 8", false},
	}
	for _, tc := range tests {
		if got := isThrottleReason(tc.reason); got != tc.want {
			t.Errorf("isThrottleReason(%q) = %v, want %v", tc.reason, got, tc.want)
		}
	}
}

func TestSummarizeDecisions(t *testing.T) {
	recs := []policy.Record{
		{Action: "scale-out", GroupAge: policy.Duration(2 * time.Second), Reason: "scale-out 3->7"},
		{Action: "failed", GroupAge: policy.Duration(40 * time.Second), Reason: "api error Throttling: Rate exceeded; scale-out 3->7"},
		{Action: "failed", Reason: "cloud budget: no call token before the deadline; scale-out 3->7"},
		{Action: "in_doubt", Reason: "context deadline exceeded; scale-out 3->7"},
		{Action: "hold", Reason: "hold bound:cooldown"},
	}
	s := summarizeDecisions(recs)
	if s.Records != 5 || s.Throttled != 1 || s.HeldBack != 1 || len(s.Failures) != 3 {
		t.Fatalf("summary %+v: want 5 records, 1 throttled, 1 held back, 3 failures", s)
	}
	if s.Actions["failed"] != 2 || s.Actions["scale-out"] != 1 || s.Examples["failed"] != recs[1].Reason {
		t.Fatalf("actions %v, examples %v", s.Actions, s.Examples)
	}
	if len(s.Ages) != 2 || s.Ages[1] != 40*time.Second {
		t.Fatalf("ages %v, want the two recorded", s.Ages)
	}
}

func TestSummarizeLeaderMetrics(t *testing.T) {
	const page = `# TYPE capstan_group_state_age_seconds histogram
capstan_group_state_age_seconds_bucket{le="15"} 900
capstan_group_state_age_seconds_bucket{le="20"} 990
capstan_group_state_age_seconds_bucket{le="30"} 995
capstan_group_state_age_seconds_bucket{le="+Inf"} 1000
capstan_group_state_age_seconds_sum 9000
capstan_group_state_age_seconds_count 1000
# TYPE capstan_cloud_calls_total counter
capstan_cloud_calls_total{op="describe_batch",provider="aws",result="ok"} 200
capstan_cloud_calls_total{op="describe_batch",provider="aws",result="throttled"} 3
capstan_cloud_calls_total{op="set_desired",provider="aws",result="ok"} 10
# TYPE capstan_evaluation_errors_total counter
capstan_evaluation_errors_total{stage="describe"} 7
capstan_evaluation_errors_total{stage="driver"} 1
# TYPE capstan_group_describes_total counter
capstan_group_describes_total{reason="refresh"} 10000
capstan_group_describes_total{reason="prefetch"} 12
# TYPE capstan_cloud_budget_rate gauge
capstan_cloud_budget_rate{bucket="read",provider="aws",scope="us-east-1"} 10
capstan_cloud_budget_rate{bucket="write",provider="aws",scope="us-east-1"} 10
# TYPE capstan_group_state_oldest_seconds gauge
capstan_group_state_oldest_seconds 16.5
`
	f, err := parseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	lm := summarizeLeaderMetrics(f)
	if lm.Evaluations != 1000 || lm.Over30s != 5 || lm.AgeP99 != 20 {
		t.Errorf("ages: %d evaluations, %d over 30 s, p99 bucket %v; want 1000, 5, 20", lm.Evaluations, lm.Over30s, lm.AgeP99)
	}
	if lm.Calls["describe_batch throttled"] != 3 || lm.Calls["set_desired ok"] != 10 || lm.DescribeErrors != 7 {
		t.Errorf("calls %v, describe errors %v", lm.Calls, lm.DescribeErrors)
	}
	if lm.Described["refresh"] != 10000 || lm.Rates["read"] != 10 || f.gauge("capstan_group_state_oldest_seconds") != 16.5 {
		t.Errorf("described %v, rates %v", lm.Described, lm.Rates)
	}
	// Past the last finite bucket the p99 is unbounded.
	f, err = parseMetrics(strings.NewReader(strings.NewReplacer(`le="20"} 990`, `le="20"} 950`, `le="30"} 995`, `le="30"} 960`).Replace(page)))
	if err != nil {
		t.Fatal(err)
	}
	if lm := summarizeLeaderMetrics(f); lm.Over30s != 40 || !math.IsInf(lm.AgeP99, 1) {
		t.Errorf("over 30 s %d, p99 %v; want 40 and +Inf", lm.Over30s, lm.AgeP99)
	}
}
