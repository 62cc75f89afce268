package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// TestLeaderExportsMetricFreshness checks capstan_metric_stale and
// capstan_metric_age_seconds: set per metric at each evaluation, and gone
// once the policy is deleted.
func TestLeaderExportsMetricFreshness(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	n, _ := runSingleNode(t, 20*time.Millisecond, nil, func(cfg *Config) { inmemRaft(cfg); cfg.Registerer = reg })
	ctx := context.Background()

	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,
"evaluation_interval":"1s","stale_after":"1h",
"metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutPolicy(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	sampleTime := time.Now().Add(-30 * time.Second)
	if _, err := n.PushMetrics(ctx, []api.Sample{{Policy: "web", Metric: "cpu", Time: sampleTime, Value: 55}}); err != nil {
		t.Fatal(err)
	}
	series := func(family string) map[string]float64 { return gatherSeries(t, reg, family) }
	stale := func(metric string) (float64, bool) {
		v, ok := series("capstan_metric_stale")["metric="+metric+",policy=web"]
		return v, ok
	}
	// The policy may be evaluated once before the sample arrives (both
	// stale); the sample triggers another evaluation.
	waitFor(t, func() bool {
		v, ok := stale("cpu")
		return len(series("capstan_metric_stale")) == 2 && ok && v == 0
	})
	if got, _ := stale("rps"); got != 1 {
		t.Errorf("capstan_metric_stale{metric=rps} = %v, want 1 (no sample)", got)
	}
	ages := series("capstan_metric_age_seconds")
	if got := len(ages); got != 1 {
		t.Errorf("capstan_metric_age_seconds has %d series, want 1 (only cpu has a sample)", got)
	}
	if age := ages["metric=cpu,policy=web"]; age < 30 || age > 60 {
		t.Errorf("capstan_metric_age_seconds{metric=cpu} = %v, want about 30", age)
	}

	if err := n.DeletePolicy(ctx, "web", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return len(series("capstan_metric_stale")) == 0 && len(series("capstan_metric_age_seconds")) == 0
	})
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
