package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// TestRestartAppliesSamplesWithoutARace: a node restarted on a log that
// holds samples applies them as soon as it learns they are committed,
// from Raft's FSM goroutine, which NewRaft starts before NewNode has set
// n.raft. The samples' wake-up (notifyFresh) read n.raft there without
// synchronization: the race detector (CI runs every test under -race)
// reported it in an e2e agent restarted mid-stream
// (TestLeaderKillMidStreamLosesNoWindow, 1 of 3 runs under CPU load), and
// here in 11 of 15 runs of the old code (each run a process of its own:
// the detector reports a race once per process). The restarted node is
// not Run and nothing else touches its Raft, so no other synchronization
// hides the read.
func TestRestartAppliesSamplesWithoutARace(t *testing.T) {
	t.Parallel()
	const addr = "10.0.0.1:7001"
	logs, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	storage := func(cfg *Config) {
		_, trans := raft.NewInmemTransport(addr)
		cfg.RaftAddr = addr
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 20*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
		cfg.Storage = &RaftStorage{Logs: logs, Stable: logs, Snapshots: snaps, Transport: trans}
	}
	ctx := context.Background()
	first, _ := newSingleNode(t, 20*time.Millisecond, nil, storage)
	bootstrapAlone(t, first)
	if _, err := first.PutPolicy(ctx, webPolicy(t, 1), ""); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	if res, err := first.PushMetrics(ctx, []api.Sample{{Policy: "web", Metric: "rps", Time: at, Value: 150}}); err != nil || res.Accepted != 1 {
		t.Fatalf("push: %+v, %v", res, err)
	}
	last := first.raft.LastIndex()
	if err := first.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// The same log, a new node: it elects itself and applies the log.
	again, _ := newSingleNode(t, 20*time.Millisecond, nil, storage)
	t.Cleanup(func() { again.Shutdown() })
	// Waited for on Raft's atomics only: a read of the FSM (its lock)
	// would order this goroutine's NewNode before the FSM's next apply.
	for deadline := time.Now().Add(10 * time.Second); again.raft.AppliedIndex() < last; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of %d entries in 10 s", again.raft.AppliedIndex(), last)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, ok := again.fsm.view("web")
		if s, has := v.Sample("rps"); ok && has && s.Value == 150 && s.Time.Equal(at) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted node never applied the pushed sample")
		}
	}
}
