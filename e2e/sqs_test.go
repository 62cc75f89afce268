package e2e

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/sqs/sqsemu"
)

// TestSQSQueueDepthDrivesCluster points a cluster at an emulated SQS queue:
// the leader reads its depth through the AWS SDK before each evaluation
// and the fake group follows the backlog, across a leader failover.
func TestSQSQueueDepthDrivesCluster(t *testing.T) {
	emu := sqsemu.New(sqsemu.Options{Region: "us-east-1"})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	queue := emu.CreateQueue("jobs")
	if err := emu.SetDepth(queue, 200, 0); err != nil {
		t.Fatal(err)
	}
	c := startClusterEnv(t, 3,
		[]string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-not-a-secret", "AWS_EC2_METADATA_DISABLED=true"},
		"--sqs-endpoint", srv.URL)
	if err := c.fake.CreateGroup(ctx(t), "workers", 0, 100, 1); err != nil {
		t.Fatal(err)
	}
	leader := c.waitLeader(5 * time.Second)
	body := fmt.Sprintf(`{"id": "workers", "target": {"provider": "fake", "group": "workers"}, "min": 1, "max": 50,
		"warmup": "1s", "evaluation_interval": "1s",
		"metrics": [{"name": "backlog", "type": "queue_depth", "target": 50,
		             "source": {"kind": "sqs", "queue_url": %q, "region": "us-east-1", "include_in_flight": true}}],
		"scale_out": {"cooldown": "1s", "max_step": {"instances": 100, "percent": 0, "period": "1s"}},
		"scale_in": {"cooldown": "1s", "stabilization": "1s", "max_step": {"instances": 100, "percent": 0, "period": "1s"}},
		"stale_after": "1m"}`, queue)
	if _, err := c.follower(leader).client.PutPolicy(ctx(t), []byte(body), "application/json", ""); err != nil {
		t.Fatal(err)
	}
	waitDesired := func(want int) {
		t.Helper()
		eventually(t, 15*time.Second, fmt.Sprintf("the group at %d", want), func() error {
			groups, err := c.fake.Groups(ctx(t))
			if err != nil {
				return err
			}
			if d := groups["workers"].Desired; d != want {
				return fmt.Errorf("desired %d", d)
			}
			return nil
		})
	}
	waitDesired(4) // 200 visible / 50 per worker
	if err := emu.SetDepth(queue, 300, 200); err != nil {
		t.Fatal(err)
	}
	waitDesired(10) // 500 with the in-flight ones

	c.kill(leader)
	c.waitLeader(10*time.Second, leader)
	if err := emu.SetDepth(queue, 100, 0); err != nil {
		t.Fatal(err)
	}
	waitDesired(2)
}
