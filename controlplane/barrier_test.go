package controlplane

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/policy"
)

// TestLeaderRetriesAFailedBarrier: a barrier that fails at the start of
// leadership is retried while the node leads, and the leader then
// evaluates and acts. Before the fix the leader loop returned at the first
// failure and the node stayed leader without ever evaluating, so the group
// stayed below the policy's minimum. A lone node cannot hand leadership
// over, so past the step-down count it keeps retrying too.
func TestLeaderRetriesAFailedBarrier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int32
	}{
		{"fails twice", 2},
		{"fails past the step-down count on a lone node", barrierStepDownAfter + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			n, fc := startSingleNode(t, 20*time.Millisecond, func(n *Node) {
				real := n.barrierFn
				n.barrierBackoff = time.Millisecond
				n.barrierFn = func(timeout time.Duration) error {
					if calls.Add(1) <= tc.failures {
						return raft.ErrEnqueueTimeout
					}
					return real(timeout)
				}
			})
			p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 3
max: 10
evaluation_interval: 1s
metrics: [{name: rps, type: request_rate, target: 100}]
`))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.PutPolicy(context.Background(), p, ""); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				gs, err := fc.Describe("web")
				if err == nil && gs.Desired == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the group is at %+v (%v) after %d barrier calls: the leader never evaluated", gs, err, calls.Load())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := calls.Load(); got != tc.failures+1 {
				t.Fatalf("%d barrier calls, want %d", got, tc.failures+1)
			}
			if n.Raft().State() != raft.Leader {
				t.Fatal("the lone node stopped leading")
			}
		})
	}
}
