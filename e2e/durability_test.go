package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// TestRestartAllKeepsEverything kill -9s every agent and starts them again
// on their data directories: policies, decision history and policy state
// come back intact, and the cluster elects a leader with no flag changes.
func TestRestartAllKeepsEverything(t *testing.T) {
	c := startCluster(t, 3)
	if err := c.fake.CreateGroup(ctx(t), "web", 0, 100, 2); err != nil {
		t.Fatal(err)
	}
	leader := c.waitLeader(5 * time.Second)
	putWeb(t, leader, "1h")
	push(t, leader, 700)
	eventually(t, 5*time.Second, "scale-out to 7", func() error {
		if d := c.groupDesired(t); d != 7 {
			return fmt.Errorf("desired %d", d)
		}
		return nil
	})
	beforePolicy, err := leader.client.GetPolicy(ctx(t), "web")
	if err != nil {
		t.Fatal(err)
	}
	// The decision and the state are committed right after the cloud call.
	var beforeDecisions []policy.Record
	var beforeState api.PolicyStatus
	eventually(t, 5*time.Second, "the decision and the cooldown", func() error {
		var err error
		if beforeDecisions, err = leader.client.Decisions(ctx(t), "web", 100); err != nil || len(beforeDecisions) == 0 {
			return fmt.Errorf("decisions %v %v", beforeDecisions, err)
		}
		if beforeState, err = leader.client.State(ctx(t), "web"); err != nil || beforeState.ScaleOutCooldownUntil == nil {
			return fmt.Errorf("state %+v %v: want a running scale-out cooldown", beforeState, err)
		}
		return nil
	})

	for _, nd := range c.nodes {
		c.kill(nd)
	}
	for _, nd := range c.nodes {
		c.restart(nd)
	}
	next := c.waitLeader(10 * time.Second)
	for _, nd := range c.nodes {
		eventually(t, 5*time.Second, "state on "+nd.id, func() error {
			p, err := nd.client.GetPolicy(ctx(t), "web")
			if err != nil {
				return err
			}
			if p.Version != beforePolicy.Version {
				return fmt.Errorf("version %d, want %d", p.Version, beforePolicy.Version)
			}
			d, err := nd.client.Decisions(ctx(t), "web", 100)
			if err != nil {
				return err
			}
			// The history may have grown after the restart; what was there must still be.
			if len(d) < len(beforeDecisions) || !containsDecision(d, beforeDecisions[0].Time) {
				return fmt.Errorf("decision history lost: %d records, want at least %d", len(d), len(beforeDecisions))
			}
			return nil
		})
	}
	st, err := next.client.State(ctx(t), "web")
	if err != nil || st.ScaleOutCooldownUntil == nil || !st.ScaleOutCooldownUntil.Equal(*beforeState.ScaleOutCooldownUntil) {
		t.Fatalf("cooldown after restart %+v (%v), want it to end at %v", st.ScaleOutCooldownUntil, err, beforeState.ScaleOutCooldownUntil)
	}
	// Still in cooldown: more demand does not scale out.
	pushed := time.Now()
	push(t, next, 1500)
	decidedOn(t, next, "web", pushed, 1500)
	if d := c.groupDesired(t); d != 7 {
		t.Fatalf("desired %d after restart, want 7 (cooldown)", d)
	}
}

func containsDecision(list []policy.Record, at time.Time) bool {
	for _, r := range list {
		if r.Time.Equal(at) {
			return true
		}
	}
	return false
}

// TestLaggingNodeCatchesUpFromSnapshot stops a follower, writes enough to
// make the others snapshot and compact their logs, and restarts it: it must
// catch up by installing a snapshot.
func TestLaggingNodeCatchesUpFromSnapshot(t *testing.T) {
	c := startCluster(t, 3, "--snapshot-threshold", "64", "--snapshot-interval", "200ms", "--trailing-logs", "16")
	leader := c.waitLeader(5 * time.Second)
	lag := c.follower(leader)
	c.kill(lag)
	const n = 300
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"id":"p%03d","target":{"provider":"fake","group":"g%03d"},"min":0,"max":3,"metrics":[{"name":"rps","type":"request_rate","target":10}],"evaluation_interval":"1h"}`, i, i)
		if _, err := leader.client.PutPolicy(ctx(t), []byte(body), "application/json", ""); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// The live nodes have snapshotted by now.
	eventually(t, 10*time.Second, "a snapshot on the leader", func() error {
		entries, _ := os.ReadDir(filepath.Join(leader.dataDir, "snapshots"))
		if len(entries) == 0 {
			return fmt.Errorf("no snapshot yet")
		}
		return nil
	})
	c.restart(lag)
	eventually(t, 15*time.Second, "the lagging node catches up", func() error {
		list, err := lag.client.ListPolicies(ctx(t))
		if err != nil {
			return err
		}
		if len(list) != n {
			return fmt.Errorf("%d policies, want %d", len(list), n)
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(lag.dataDir, "snapshots"))
	if len(entries) == 0 {
		t.Fatal("the lagging node caught up without installing a snapshot")
	}
}
