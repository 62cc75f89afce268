package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
)

// TestLeaderFailover kills (and, separately, pauses) the leader after it
// scaled out and started a cooldown. A new leader must take over and
// evaluate (within a generous 5 s bound: the speed itself is measured by
// BenchmarkFailover in `make bench-cluster`, not asserted here, since a
// loaded CI machine stretches elections), keep every acknowledged write, honour the cooldown, and the
// fake cloud must never see a call from a deposed leader.
func TestLeaderFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGKILL", syscall.SIGKILL},
		{"SIGSTOP", syscall.SIGSTOP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 3)
			if err := c.fake.CreateGroup(ctx(t), "web", 0, 100, 2); err != nil {
				t.Fatal(err)
			}
			leader := c.waitLeader(5 * time.Second)
			f := c.follower(leader)
			putWeb(t, f, "30s")
			push(t, f, 500)
			eventually(t, 5*time.Second, "scale-out to 5", func() error {
				if d := c.groupDesired(t); d != 5 {
					return fmt.Errorf("desired %d", d)
				}
				return nil
			})
			// An acknowledged write just before the failure.
			ack, err := f.client.PutPolicy(ctx(t), []byte(`{"id":"acked","target":{"provider":"fake","group":"acked"},"min":1,"max":3,"metrics":[{"name":"rps","type":"request_rate","target":1}]}`), "application/json", "")
			if err != nil {
				t.Fatal(err)
			}

			failedAt := time.Now()
			if tc.sig == syscall.SIGKILL {
				c.kill(leader)
			} else {
				c.signal(leader, syscall.SIGSTOP)
			}
			next := c.waitLeader(5*time.Second, leader)
			// The new leader evaluates: the policy's last evaluation moves past the failure.
			var firstEval time.Time
			eventually(t, 5*time.Second, "evaluation by the new leader", func() error {
				st, err := next.client.State(ctx(t), "web")
				if err != nil {
					return err
				}
				if st.LastEvaluation == nil || !st.LastEvaluation.After(failedAt) {
					return fmt.Errorf("last evaluation %v", st.LastEvaluation)
				}
				firstEval = *st.LastEvaluation
				return nil
			})
			took := firstEval.Sub(failedAt)
			t.Logf("%s: first evaluation by %s %s after the leader failed", tc.name, next.id, took.Round(time.Millisecond))
			if took > 5*time.Second {
				t.Errorf("failover took %s, want under 5s", took)
			}
			if got, err := next.client.GetPolicy(ctx(t), "acked"); err != nil || got.Version != ack.Version {
				t.Fatalf("acknowledged write lost: %+v %v", got, err)
			}

			// Demand rises, but the cooldown that began before the failover
			// still holds. Checked once the new leader has decided on the
			// new demand (at 500 and size 5 it records nothing, so its
			// first record after the push is that decision): its resize,
			// had it made one, comes before its record.
			pushed := time.Now()
			push(t, next, 900)
			rec := decidedOn(t, next, "web", pushed, 900)
			if d := c.groupDesired(t); d != 5 {
				t.Fatalf("desired %d during the cooldown, want 5", d)
			}
			if rec.Bound.String() != "cooldown" {
				t.Fatalf("latest decision %+v: want a hold bound by the cooldown", rec)
			}

			if tc.sig == syscall.SIGSTOP {
				c.signal(leader, syscall.SIGCONT)
				waitFollowing(t, leader, next)
			}
			calls, err := c.fake.Calls(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			checkNoDeposedCalls(t, calls)
		})
	}
}

// decidedOn waits for a decision nd records on policy id after since from
// a sample of value, and returns it. A test that checks what a rise in
// demand did not do waits on it rather than on a fixed time: the leader
// resizes before it records the decision, so by then the group is as that
// evaluation left it.
func decidedOn(t *testing.T, nd *node, id string, since time.Time, value float64) policy.Record {
	t.Helper()
	var found policy.Record
	eventually(t, 5*time.Second, fmt.Sprintf("a decision on %g after %s", value, since.Format("15:04:05.000")), func() error {
		recs, err := nd.client.Decisions(ctx(t), id, 20)
		if err != nil {
			return err
		}
		for _, r := range recs {
			for _, m := range r.Metrics {
				if r.Time.After(since) && m.Value != nil && *m.Value == value {
					found = r
					return nil
				}
			}
		}
		return fmt.Errorf("latest decisions %+v", recs)
	})
	return found
}

// waitFollowing waits until old, a leader woken from SIGSTOP, follows
// leader: whatever it would still do as a leader it has done before it
// steps down, so a check of the cloud's calls after it covers that.
func waitFollowing(t *testing.T, old, leader *node) {
	t.Helper()
	eventually(t, 5*time.Second, old.id+" following "+leader.id, func() error {
		info, err := old.client.Cluster(ctx(t))
		if err != nil {
			return err
		}
		if info.Role != "follower" || info.LeaderID != leader.id {
			return fmt.Errorf("role %s, leader %q", info.Role, info.LeaderID)
		}
		return nil
	})
}

// checkNoDeposedCalls asserts on the fake cloud's call log, in EFFECT
// order (the order that decides a group's size; the log is kept in it),
// that resizes come with identified callers, one node per term, and that
// per group the terms of resizes that took effect never go back: a resize
// of an older term landing after a newer one would be a deposed leader's
// call undoing its successor's (fake.CheckResizes). Sorting by arrival, as
// this check did before, passed exactly the case that matters: a slow
// resize that arrives first and lands last.
func checkNoDeposedCalls(t *testing.T, calls []fake.Call) {
	t.Helper()
	if err := fake.CheckResizes(calls); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.Op == fake.OpSetDesired {
			return
		}
	}
	t.Fatal("no resize calls recorded")
}
