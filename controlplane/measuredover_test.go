package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// TestCPUSampleKeepsItsInstanceCount: one cpu sample of 90 % against a
// target of 50 on a group of 2 asks for 4 instances. They are in service
// at once (the fake cloud boots instantly), and the leader evaluates the
// same sample again every second: read over the 4 instances now in
// service, 90 % would ask for 8, then 15, then 27, up to max, with no new
// sample at all. The sample keeps the count it was measured over, so the
// group stays at 4.
func TestCPUSampleKeepsItsInstanceCount(t *testing.T) {
	t.Parallel()
	n, fc := startSingleNode(t, 20*time.Millisecond, nil)
	p, err := policy.Parse([]byte(`id: cpu
target: {provider: fake, group: cpu}
min: 2
max: 100
warmup: 1s
evaluation_interval: 1s
stale_after: 10m
metrics: [{name: cpu, type: cpu, target: 50}]
scale_out: {cooldown: 0s}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := n.PutPolicy(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := n.PushMetrics(ctx, []api.Sample{{Policy: "cpu", Metric: "cpu", Time: time.Now(), Value: 90}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if gs, err := fc.Describe("cpu"); err == nil && gs.Desired >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader never scaled out on 90 % against a target of 50")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3500 * time.Millisecond) // three more evaluations of the same sample, the 4 instances in service
	gs, err := fc.Describe("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if gs.Desired != 4 {
		t.Fatalf("the group is at %d after re-evaluating one sample of 90 %% measured over 2 instances; want 4", gs.Desired)
	}
}
