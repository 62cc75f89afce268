package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// TestClusterScalesEmulatedProviders runs three agents that drive an AWS
// Auto Scaling group, a GCP managed instance group and an Azure scale set,
// each through the real SDK against an emulator of its wire protocol, and
// keeps doing so across a leader failover.
func TestClusterScalesEmulatedProviders(t *testing.T) {
	aemu := awsemu.New(awsemu.Options{})
	gemu := gcpemu.New(gcpemu.Options{})
	zemu := azemu.New(azemu.Options{})
	servers := map[string]*httptest.Server{}
	for name, h := range map[string]http.Handler{"aws": aemu, "gcp": gemu, "azure": zemu} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		servers[name] = srv
	}
	if err := aemu.CreateGroup("web-asg", 0, 50, 2); err != nil {
		t.Fatal(err)
	}
	mig := cloud.GroupRef{Provider: "gcp", Project: "capstan-test", Zone: "us-central1-a", Group: "workers"}
	if err := gemu.CreateGroup(mig, 2, &gcpemu.Autoscaler{Min: 0, Max: 50}); err != nil {
		t.Fatal(err)
	}
	const sub = "00000000-0000-0000-0000-000000000000"
	if err := zemu.CreateGroup(sub, "rg", "api", 0, 50, 2); err != nil {
		t.Fatal(err)
	}
	c := startClusterEnv(t, 3,
		[]string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-not-a-secret", "AWS_EC2_METADATA_DISABLED=true"},
		"--aws-endpoint", servers["aws"].URL,
		"--gcp-endpoint", servers["gcp"].URL, "--gcp-no-auth",
		"--azure-endpoint", servers["azure"].URL, "--azure-emulator-token", azemu.DefaultToken)
	leader := c.waitLeader(5 * time.Second)
	policies := map[string]string{
		"asg":  `"target": {"provider": "aws", "group": "web-asg", "region": "us-east-1"}`,
		"mig":  `"target": {"provider": "gcp", "project": "capstan-test", "zone": "us-central1-a", "group": "workers"}`,
		"vmss": `"target": {"provider": "azure", "subscription": "` + sub + `", "resource_group": "rg", "scale_set": "api"}`,
	}
	for id, target := range policies {
		body := fmt.Sprintf(`{"id": %q, %s, "min": 1, "max": 50, "warmup": "1s", "evaluation_interval": "1s",
			"metrics": [{"name": "rps", "type": "request_rate", "target": 100}],
			"scale_out": {"cooldown": "1s", "max_step": {"instances": 100, "percent": 0, "period": "1s"}},
			"scale_in": {"cooldown": "1h", "stabilization": "1h"}, "stale_after": "1h"}`, id, target)
		if _, err := c.follower(leader).client.PutPolicy(ctx(t), []byte(body), "application/json", ""); err != nil {
			t.Fatalf("policy %s: %v", id, err)
		}
	}
	desired := func() (int, int, int) {
		a, _ := aemu.Desired("web-asg")
		g, _ := gemu.Desired(mig)
		z, _ := zemu.Desired(sub, "rg", "api")
		return a, g, z
	}
	pushAll := func(nd *node, v float64) {
		for id := range policies {
			if _, err := nd.client.PushMetrics(ctx(t), []api.Sample{{Policy: id, Metric: "rps", Time: time.Now().UTC(), Value: v}}); err != nil {
				t.Fatalf("push %s: %v", id, err)
			}
		}
	}
	pushAll(leader, 500)
	eventually(t, 20*time.Second, "all three groups at 5", func() error {
		if a, g, z := desired(); a != 5 || g != 5 || z != 5 {
			return fmt.Errorf("aws %d, gcp %d, azure %d", a, g, z)
		}
		return nil
	})

	c.kill(leader)
	next := c.waitLeader(10*time.Second, leader)
	time.Sleep(1100 * time.Millisecond) // past the scale-out cooldown
	pushAll(next, 800)
	eventually(t, 20*time.Second, "all three groups at 8 under the new leader", func() error {
		if a, g, z := desired(); a != 8 || g != 8 || z != 8 {
			return fmt.Errorf("aws %d, gcp %d, azure %d", a, g, z)
		}
		return nil
	})
	// The decision is committed right after the cloud call returns.
	for id := range policies {
		eventually(t, 5*time.Second, "the decision of "+id, func() error {
			recs, err := next.client.Decisions(ctx(t), id, 1)
			if err != nil || len(recs) == 0 || recs[0].Desired != 8 {
				return fmt.Errorf("latest decision %+v %v", recs, err)
			}
			return nil
		})
	}
}
