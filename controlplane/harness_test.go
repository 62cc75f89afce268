package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// cluster is three nodes in one process: raft's in-memory log, stable
// and snapshot stores, InmemTransport between them, and one fake cloud
// that records each call with its caller's node and term. It starts in
// well under a second and needs no disk or port.
type cluster struct {
	t      *testing.T
	nodes  []*Node
	trans  []*raft.InmemTransport
	logs   []*raft.InmemStore
	snaps  []*raft.InmemSnapshotStore
	cloud  *fake.Cloud
	failed []*atomic.Bool // per node: make its barrier fail
}

type clusterOptions struct {
	// trailingLogs is how many entries a snapshot leaves (0: the default).
	trailingLogs uint64
	// cloudTimeout and cloudSettle replace the harness's 1 s call bound
	// and the default settle time when set.
	cloudTimeout, cloudSettle time.Duration
	// writeVersion is every node's Config.WriteVersion (0: the newest).
	writeVersion int
	// now replaces every node's clock when set.
	now func() time.Time
	// driver, when set, replaces the fake cloud's driver for every
	// provider (the fake cloud is still made, unused).
	driver cloud.Driver
	// snapshotTurns, when set, is every node's SnapshotThreshold, and the
	// test steps the snapshot turns itself (Node.snapshotIfDue).
	snapshotTurns uint64
	// snapshotBytes, when set, is every node's SnapshotBytes (with
	// snapshotTurns, which the test then steps).
	snapshotBytes uint64
	// groupRefresh replaces every node's GroupRefresh when set.
	groupRefresh time.Duration
	// wrap, when set, wraps the driver every node uses (the fake cloud's,
	// or driver).
	wrap func(cloud.Driver) cloud.Driver
	// defaultCosts is every node's Config.DefaultCosts.
	defaultCosts map[string]policy.Cost
	// configure, when set, changes node i's config last: drivers and a
	// call budget of its own, as each agent process has.
	configure func(i int, cfg *Config)
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, cloud: fake.New(fake.Options{AutoCreate: true, DefaultMax: 100, DefaultDesired: 2})}
	var drv cloud.Driver = fake.NewDriver(c.cloud)
	if o.driver != nil {
		drv = o.driver
	}
	if o.wrap != nil {
		drv = o.wrap(drv)
	}
	var servers []raft.Server
	for i := range 3 {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("10.0.0.%d:7001", i+1)))
		c.trans = append(c.trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i+1)), Address: addr, Suffrage: raft.Voter})
	}
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 3 {
		logs, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		c.logs, c.snaps = append(c.logs, logs), append(c.snaps, snaps)
		cfg := DefaultConfig()
		cfg.NodeID, cfg.DataDir = string(servers[i].ID), t.TempDir()
		cfg.RaftAddr, cfg.HTTPAddr = string(servers[i].Address), "127.0.0.1:1"
		// Short enough for quick failovers, long enough that a -race run
		// on a loaded 2-core machine does not lose its leader mid-test
		// (100/100/50 ms did, in TestCluster and the decisions-API test).
		// The lease is as long as Raft allows, the heartbeat timeout: it
		// does not slow a failover, and at 150 ms leaders stepped down
		// with the package's tests run sixteen at a time under -race.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
		cfg.Tick, cfg.ApplyTimeout, cfg.CloudTimeout = 20*time.Millisecond, 2*time.Second, time.Second
		cfg.SnapshotThreshold, cfg.SnapshotInterval = 1<<20, time.Hour // snapshots only when a test asks
		if o.trailingLogs > 0 {
			cfg.TrailingLogs = o.trailingLogs
		}
		if o.cloudTimeout > 0 {
			cfg.CloudTimeout = o.cloudTimeout
		}
		// An intent in doubt (under a loaded -race run a call can outlive
		// its deadline) settles soon, so tests do not wait the default 20 s.
		cfg.CloudSettle = 300 * time.Millisecond
		if o.cloudSettle > 0 {
			cfg.CloudSettle = o.cloudSettle
		}
		cfg.Drivers = func(string) (cloud.Driver, error) { return drv, nil }
		cfg.WriteVersion = o.writeVersion
		cfg.DefaultCosts = o.defaultCosts
		if o.groupRefresh > 0 {
			cfg.GroupRefresh = o.groupRefresh
		}
		if o.now != nil {
			cfg.Now = o.now
		}
		if o.snapshotTurns > 0 {
			cfg.SnapshotThreshold = o.snapshotTurns
		}
		if o.snapshotBytes > 0 {
			cfg.SnapshotBytes = o.snapshotBytes
		}
		cfg.Storage = &RaftStorage{Logs: logs, Stable: logs, Snapshots: snaps, Transport: c.trans[i]}
		if o.configure != nil {
			o.configure(i, &cfg)
		}
		n, err := NewNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.snapshotTurns = o.snapshotTurns == 0
		fail := new(atomic.Bool)
		c.failed = append(c.failed, fail)
		real := n.barrierFn
		n.barrierBackoff = time.Millisecond
		n.roundTripEvery = 20 * time.Millisecond
		n.barrierFn = func(timeout time.Duration) error {
			if fail.Load() {
				return raft.ErrEnqueueTimeout
			}
			return real(timeout)
		}
		if err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	// Connected only once every node is bootstrapped: a node bootstrapped
	// first can time out and ask for votes while the next is still being
	// made, and a node that has seen a term refuses to bootstrap (seen
	// under -race on a loaded machine).
	for i, a := range c.trans {
		for j, b := range c.trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for _, n := range c.nodes {
		go n.Run(ctx)
	}
	t.Cleanup(func() {
		cancel()
		for _, n := range c.nodes {
			n.Shutdown()
		}
	})
	return c
}

// waitFor polls cond until it holds, failing the test after 10 s.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leader waits for one of the nodes in among (all when empty) to lead.
func (c *cluster) leader(among ...int) (int, *Node) {
	c.t.Helper()
	if len(among) == 0 {
		among = []int{0, 1, 2}
	}
	found := -1
	c.waitFor("a leader", func() bool {
		for _, i := range among {
			if c.nodes[i].raft.State() == raft.Leader {
				found = i
				return true
			}
		}
		return false
	})
	return found, c.nodes[found]
}

// isolate cuts node i off from the others, both ways; heal reconnects it.
func (c *cluster) isolate(i int) {
	c.trans[i].DisconnectAll()
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

func (c *cluster) heal(i int) {
	for j, tr := range c.trans {
		if j != i {
			tr.Connect(c.trans[i].LocalAddr(), c.trans[i])
			c.trans[i].Connect(tr.LocalAddr(), tr)
		}
	}
}

// setDesiredCalls are the cloud's SetDesired calls made by a node.
func (c *cluster) setDesiredCalls() []fake.Call {
	var out []fake.Call
	for _, call := range c.cloud.Calls() {
		if call.Op == fake.OpSetDesired && call.Caller.Node != "" {
			out = append(out, call)
		}
	}
	return out
}

// committedIntents are the intents in node i's Raft log, by node, term
// and target size.
func (c *cluster) committedIntents(i int) map[string]bool {
	c.t.Helper()
	out := map[string]bool{}
	for _, in := range c.intents(i, "") {
		out[fmt.Sprintf("%s/%d/%d", in.Node, in.Term, in.To)] = true
	}
	return out
}

// intents are the intents in node i's Raft log, in log order: a policy's,
// or every policy's when policyID is empty.
func (c *cluster) intents(i int, policyID string) []store.Intent {
	c.t.Helper()
	var out []store.Intent
	c.eachEntry(i, func(_ uint64, cmd store.Command) bool {
		if in, ok := cmd.(store.PutIntent); ok && (policyID == "" || in.Intent.Policy == policyID) {
			out = append(out, in.Intent)
		}
		return true
	})
	return out
}

// eachEntry calls fn with each command in node i's Raft log and its
// index, in log order, while fn returns true.
func (c *cluster) eachEntry(i int, fn func(idx uint64, cmd store.Command) bool) {
	c.t.Helper()
	first, _ := c.logs[i].FirstIndex()
	last, _ := c.logs[i].LastIndex()
	for idx := first; idx <= last && idx > 0; idx++ {
		var l raft.Log
		if err := c.logs[i].GetLog(idx, &l); err != nil || l.Type != raft.LogCommand {
			continue
		}
		cmd, err := store.Decode(l.Data)
		if err != nil {
			c.t.Fatalf("entry %d: %v", idx, err)
		}
		if !fn(idx, cmd) {
			return
		}
	}
}

// settledReason waits for node n's settled decision on intent of policy
// id (the first settled one when intent is 0) and returns its reason.
func (c *cluster) settledReason(n *Node, id string, intent uint64) string {
	c.t.Helper()
	return c.waitDecision(n, id, "a settled decision", func(d policy.Record) bool {
		return d.Action == "settled" && (intent == 0 || strings.HasPrefix(d.Reason, fmt.Sprintf("intent %d ", intent)))
	})
}

// waitDecision waits for a decision on policy id in node n's history that
// match accepts (what names it if none comes) and returns its reason.
func (c *cluster) waitDecision(n *Node, id, what string, match func(policy.Record) bool) string {
	c.t.Helper()
	var reason string
	c.waitFor(what, func() bool {
		ds, _ := n.fsm.Decisions(id, 100)
		for _, d := range ds {
			if match(d) {
				reason = d.Reason
				return true
			}
		}
		return false
	})
	return reason
}

// firstIntent waits for a pending intent of policy id on node n and
// returns its id.
func (c *cluster) firstIntent(n *Node, id string) uint64 {
	c.t.Helper()
	var first uint64
	c.waitFor("the intent", func() bool {
		if v, _ := n.fsm.view(id); len(v.Pending) > 0 {
			first = v.Pending[0].ID
		}
		return first != 0
	})
	return first
}

// countsForCooldown waits until node n's state of policy id has a
// scale-out: the state a settle counted an intent in is committed by the
// same evaluation, just after its settled decision.
func (c *cluster) countsForCooldown(n *Node, id string) {
	c.t.Helper()
	c.waitFor("the applied resize to count for the cooldown", func() bool {
		_, st, err := n.fsm.status(id)
		return err == nil && !st.LastScaleOut.IsZero()
	})
}

// converged waits until the given nodes hold the same state.
func (c *cluster) converged(nodes ...int) {
	c.t.Helper()
	c.waitFor("the nodes to converge", func() bool {
		want, _ := c.nodes[nodes[0]].fsm.dump()
		for _, i := range nodes[1:] {
			if got, _ := c.nodes[i].fsm.dump(); !bytes.Equal(got, want) {
				return false
			}
		}
		return true
	})
}

func (c *cluster) groupAt(size int) func() bool {
	return func() bool {
		gs, err := c.cloud.Describe("web")
		return err == nil && gs.Desired == size
	}
}

func webPolicy(t *testing.T, min int) policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(fmt.Sprintf(`id: web
target: {provider: fake, group: web}
min: %d
max: 10
evaluation_interval: 1s
metrics: [{name: rps, type: request_rate, target: 100}]
`, min)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func others(i int) []int {
	var out []int
	for j := range 3 {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// reconcileAfterFailover: a leader committed an intent, its call landed
// (or not), and it died before committing the result. The next leader
// resolves the intent by describing the group and never repeats the call;
// the group stays where the cloud has it.
func reconcileAfterFailover(landed bool) func(t *testing.T, c *cluster) {
	return func(t *testing.T, c *cluster) {
		ctx := context.Background()
		li, l := c.leader()
		if _, err := l.PutPolicy(ctx, webPolicy(t, 1), ""); err != nil {
			t.Fatal(err)
		}
		in := store.Intent{Policy: "web", Group: "fake/web", From: 2, To: 5, Term: l.raft.CurrentTerm(), Node: l.cfg.NodeID, At: time.Now()}
		if err := l.apply(ctx, store.PutIntent{Intent: in}); err != nil {
			t.Fatal(err)
		}
		want := 2
		if landed {
			if err := c.cloud.SetDesired(ctx, "web", 5); err != nil {
				t.Fatal(err)
			}
			want = 5
		}
		c.isolate(li)
		_, nl := c.leader(others(li)...)
		c.waitFor("the new leader to resolve the pending intent", func() bool {
			v, _ := nl.fsm.view("web")
			return len(v.Pending) == 0
		})
		c.converged(others(li)...)
		if calls := c.setDesiredCalls(); len(calls) != 0 {
			t.Fatalf("calls %+v: reconciling describes the group, it never repeats the action", calls)
		}
		if gs, _ := c.cloud.Describe("web"); gs.Desired != want {
			t.Fatalf("group at %d, want %d", gs.Desired, want)
		}
	}
}

// TestCluster runs the control plane's multi-node behaviours on the
// in-process cluster, each checked by its effects: the calls the cloud
// received (with the caller's node and term), the intents in the Raft log,
// and the replicated state of every node.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		opts clusterOptions
		run  func(t *testing.T, c *cluster)
	}{
		{"intent, then the call, then the result", clusterOptions{}, func(t *testing.T, c *cluster) {
			li, l := c.leader()
			if _, err := l.PutPolicy(ctx, webPolicy(t, 3), ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the group to reach the policy's minimum", c.groupAt(3))
			c.converged(0, 1, 2)
			calls := c.setDesiredCalls()
			term := l.raft.CurrentTerm()
			if len(calls) != 1 || calls[0].To != 3 || calls[0].Caller.Node != l.cfg.NodeID || calls[0].Caller.Term != term {
				t.Fatalf("calls %+v: want one to 3 by %s in term %d", calls, l.cfg.NodeID, term)
			}
			if !c.committedIntents(li)[fmt.Sprintf("%s/%d/3", l.cfg.NodeID, term)] {
				t.Fatal("the call has no intent committed before it")
			}
			// The result is committed (or, had the call outlived its
			// deadline on a loaded machine, the intent settles soon after).
			c.waitFor("the intent's outcome on every node", func() bool {
				for _, n := range c.nodes {
					if v, _ := n.fsm.view("web"); len(v.Pending) != 0 {
						return false
					}
				}
				return true
			})
		}},
		{"a pending intent whose call landed is reconciled after a failover, never repeated", clusterOptions{}, reconcileAfterFailover(true)},
		{"a pending intent whose call never landed is reconciled after a failover, never repeated", clusterOptions{}, reconcileAfterFailover(false)},
		{"a deposed leader never calls", clusterOptions{}, func(t *testing.T, c *cluster) {
			li, l := c.leader()
			if _, err := l.PutPolicy(ctx, webPolicy(t, 3), ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the first action", c.groupAt(3))
			c.converged(0, 1, 2)
			oldTerm := l.raft.CurrentTerm()
			c.isolate(li)
			// The group drifts below the minimum: every node that still
			// believes it leads wants to act.
			if err := c.cloud.SetDesired(ctx, "web", 2); err != nil {
				t.Fatal(err)
			}
			ni, nl := c.leader(others(li)...)
			c.waitFor("the new leader to restore the minimum", c.groupAt(3))
			time.Sleep(300 * time.Millisecond) // room for a late call by the deposed leader
			intents := c.committedIntents(ni)
			for _, call := range c.setDesiredCalls() {
				key := fmt.Sprintf("%s/%d/%d", call.Caller.Node, call.Caller.Term, call.To)
				if !intents[key] {
					t.Fatalf("call %+v has no committed intent: a deposed leader acted", call)
				}
				if call.Caller.Node == l.cfg.NodeID && call.Caller.Term > oldTerm {
					t.Fatalf("the isolated node called in term %d", call.Caller.Term)
				}
			}
			if n := len(c.setDesiredCalls()); n != 2 {
				t.Fatalf("%d calls, want 2 (the first action and the new leader's)", n)
			}
			c.heal(li)
			c.converged(0, 1, 2)
			if nl.raft.CurrentTerm() <= oldTerm {
				t.Fatal("no new term")
			}
		}},
		{"a leader whose barrier keeps failing hands leadership over", clusterOptions{}, func(t *testing.T, c *cluster) {
			li, l := c.leader()
			target := others(li)[0]
			c.failed[target].Store(true)
			tn := c.nodes[target]
			if err := l.raft.LeadershipTransferToServer(raft.ServerID(tn.cfg.NodeID), c.trans[target].LocalAddr()).Error(); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the failing node to lead", func() bool { return tn.raft.State() == raft.Leader })
			c.waitFor("the failing node to hand leadership over", func() bool {
				return tn.raft.State() != raft.Leader && tn.raftLeader() != "" && tn.raftLeader() != tn.cfg.NodeID
			})
			c.failed[target].Store(false) // recovered: it may lead again later
			_, nl := c.leader()
			if _, err := nl.PutPolicy(ctx, webPolicy(t, 3), ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the new leader to evaluate", c.groupAt(3))
		}},
		{"a lagging node catches up by snapshot", clusterOptions{trailingLogs: 4}, func(t *testing.T, c *cluster) {
			li, l := c.leader()
			lag := others(li)[0]
			c.isolate(lag)
			for i := range 20 {
				p := webPolicy(t, 1)
				p.ID, p.Target.Group = fmt.Sprintf("p%02d", i), fmt.Sprintf("g%02d", i)
				if _, err := l.PutPolicy(ctx, p, ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.raft.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
			if first, _ := c.logs[li].FirstIndex(); first <= 2 {
				t.Fatalf("the leader's log starts at %d: the snapshot did not compact it", first)
			}
			c.heal(lag)
			c.converged(li, lag)
			if list, _ := c.snaps[lag].List(); len(list) == 0 {
				t.Fatal("the lagging node caught up without installing a snapshot")
			}
			if got := len(c.nodes[lag].fsm.Policies()); got != 20 {
				t.Fatalf("the lagging node holds %d policies, want 20", got)
			}
		}},
	}
	for v := store.VersionJSON; v <= store.CurrentVersion; v++ {
		tests = append(tests, struct {
			name string
			opts clusterOptions
			run  func(t *testing.T, c *cluster)
		}{fmt.Sprintf("the rolling-upgrade mode writes entries and snapshots in version %d", v), clusterOptions{writeVersion: int(v), trailingLogs: 4}, writesVersion(v)})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each scenario has its own in-memory cluster; they wait on
			// Raft's timeouts more than they compute.
			t.Parallel()
			tc.run(t, newCluster(t, tc.opts))
		})
	}
}

// binarySnapshotMagic opens every binary snapshot (store/snapshot.go); a
// version-1 snapshot is a JSON document and opens with '{'.
const binarySnapshotMagic = "\x89CSN"

// writesVersion: a cluster whose servers write version v (an upgrade from
// the servers of that version) commits every entry in v, with the intents'
// fence exactly when v has a place for it (3 on), writes its snapshots in
// v (or, for an entry version that changed only entries, the newest
// snapshot version before it), and a lagging node catches up from such a
// snapshot.
func writesVersion(v uint8) func(t *testing.T, c *cluster) {
	return func(t *testing.T, c *cluster) {
		ctx := context.Background()
		li, l := c.leader()
		lag := others(li)[0]
		c.isolate(lag)
		if _, err := l.PutPolicy(ctx, webPolicy(t, 3), ""); err != nil {
			t.Fatal(err)
		}
		c.waitFor("the action", c.groupAt(3))
		for i := range 10 {
			p := webPolicy(t, 1)
			p.ID, p.Target.Group = fmt.Sprintf("p%02d", i), fmt.Sprintf("g%02d", i)
			if _, err := l.PutPolicy(ctx, p, ""); err != nil {
				t.Fatal(err)
			}
		}
		first, _ := c.logs[li].FirstIndex()
		last, _ := c.logs[li].LastIndex()
		commands, intents := 0, 0
		for idx := first; idx <= last; idx++ {
			var e raft.Log
			if err := c.logs[li].GetLog(idx, &e); err != nil || e.Type != raft.LogCommand {
				continue
			}
			commands++
			if e.Data[1] != v {
				t.Fatalf("entry %d (%s) is in version %d, want %d", idx, store.CommandType(e.Data[0]), e.Data[1], v)
			}
			cmd, err := store.Decode(e.Data)
			if err != nil {
				t.Fatalf("entry %d: %v", idx, err)
			}
			if in, ok := cmd.(store.PutIntent); ok {
				intents++
				if fenced := !in.Intent.SendBy.IsZero() && !in.Intent.Settled.IsZero(); fenced != (v >= store.VersionFenced) {
					t.Fatalf("entry %d: intent in version %d with fence %v (send by %v, settled %v)", idx, v, fenced, in.Intent.SendBy, in.Intent.Settled)
				}
			}
		}
		if commands < 12 || intents == 0 {
			t.Fatalf("%d commands, %d intents in the log", commands, intents)
		}
		if err := l.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		list, _ := c.snaps[li].List()
		_, rc, err := c.snaps[li].Open(list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, len(binarySnapshotMagic)+1)
		_, err = io.ReadFull(rc, head)
		rc.Close()
		want := append([]byte(binarySnapshotMagic), store.SnapshotVersionFor(v))
		if v == store.VersionJSON {
			head, want = head[:1], []byte("{")
		}
		if err != nil || !bytes.Equal(head, want) {
			t.Fatalf("the snapshot starts with %q (%v), want %q", head, err, want)
		}
		c.heal(lag)
		c.converged(0, 1, 2)
		if list, _ := c.snaps[lag].List(); len(list) == 0 {
			t.Fatal("the lagging node caught up without installing the snapshot")
		}
	}
}
