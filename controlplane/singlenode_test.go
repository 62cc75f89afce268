package controlplane

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
)

// singleNode starts a one-server cluster on Raft's in-memory stores and
// transport with an in-process fake cloud.
func singleNode(tb testing.TB, tick time.Duration) (*Node, *fake.Cloud) {
	tb.Helper()
	return startSingleNode(tb, tick, nil)
}

// startSingleNode is singleNode with a hook that adjusts the node before
// it runs. The node needs no disk and no port, and its Raft timeouts are
// short: a lone server waits one heartbeat timeout (randomized up to
// twice it) before it elects itself, which at the agent's 500 ms was most
// of a small test's time; with no peer there is no leadership to lose.
// Tests of the durable storage (restart, corruption) and of the TCP and
// TLS transports build their nodes themselves; benchmarks that measure
// what a durable log costs use startDurableNode.
func startSingleNode(tb testing.TB, tick time.Duration, setup func(*Node)) (*Node, *fake.Cloud) {
	tb.Helper()
	return runSingleNode(tb, tick, setup, inmemRaft)
}

// inmemRaft gives a lone node Raft's in-memory stores and transport and
// short timeouts (startSingleNode).
func inmemRaft(cfg *Config) {
	addr, trans := raft.NewInmemTransport("10.0.0.1:7001")
	logs := raft.NewInmemStore()
	cfg.RaftAddr = string(addr)
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 20*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
	cfg.Storage = &RaftStorage{Logs: logs, Stable: logs, Snapshots: raft.NewInmemSnapshotStore(), Transport: trans}
}

// startDurableNode is startSingleNode on the agent's own storage and
// transport (raft-boltdb and file snapshots in a temporary directory, TCP
// on loopback) and its default Raft timing, for the benchmarks whose
// figures include the log's appends and fsyncs.
func startDurableNode(tb testing.TB, tick time.Duration, setup func(*Node)) (*Node, *fake.Cloud) {
	tb.Helper()
	return runSingleNode(tb, tick, setup, func(cfg *Config) { cfg.RaftAddr = freeAddr(tb) })
}

// runSingleNode starts a lone leading node whose configuration config
// completes (its storage, and whatever else a test needs before NewNode),
// and setup adjusts before it runs.
func runSingleNode(tb testing.TB, tick time.Duration, setup func(*Node), config func(*Config)) (*Node, *fake.Cloud) {
	tb.Helper()
	n, fc := newSingleNode(tb, tick, setup, config)
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	tb.Cleanup(func() { cancel(); n.Shutdown() })
	waitLeading(tb, n)
	return n, fc
}

// newSingleNode is runSingleNode without Run: no leader loop, no
// registration, no snapshot turns. Bootstrap it (bootstrapAlone) to have
// it lead.
func newSingleNode(tb testing.TB, tick time.Duration, setup func(*Node), config func(*Config)) (*Node, *fake.Cloud) {
	tb.Helper()
	fc := fake.New(fake.Options{AutoCreate: true, DefaultMax: 1000, DefaultDesired: 2})
	drv := fake.NewDriver(fc)
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir = "n1", filepath.Join(tb.TempDir(), "n1")
	cfg.HTTPAddr = "127.0.0.1:1"
	cfg.BootstrapExpect, cfg.Tick = 1, tick
	cfg.Drivers = func(string) (cloud.Driver, error) { return drv, nil }
	config(&cfg)
	n, err := NewNode(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if setup != nil {
		setup(n)
	}
	return n, fc
}

// bootstrapAlone makes a node that does not Run the only voter of its
// cluster and waits until it leads.
func bootstrapAlone(tb testing.TB, n *Node) {
	tb.Helper()
	self := raft.Server{ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(n.cfg.RaftAddr), Suffrage: raft.Voter}
	if err := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{self}}).Error(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Shutdown() })
	waitLeading(tb, n)
}

// waitLeading waits until node n leads, failing the test after 10 s.
func waitLeading(tb testing.TB, n *Node) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.Raft().State() != raft.Leader {
		if time.Now().After(deadline) {
			tb.Fatal("no leadership")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// baseRaftTiming gives cfg Raft's timing at multiplier 1 (500 ms), for the
// tests whose nodes talk over TCP or TLS: a failover in about a second,
// as they were written against, rather than the default multiplier's.
func baseRaftTiming(cfg *Config) {
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = baseRaftTimeout, baseRaftTimeout, baseRaftTimeout
}
