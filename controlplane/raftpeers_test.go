package controlplane

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// memRaft is a Raft instance on in-memory stores and transport, with the
// given bootstrap configuration (none when empty).
func memRaft(t *testing.T, id string, servers []raft.Server) *raft.Raft {
	t.Helper()
	store := raft.NewInmemStore()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(id + "-addr"))
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	r, err := raft.NewRaft(conf, NewFSM(10), store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown().Error() })
	if len(servers) > 0 {
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func voter(id string) raft.Server {
	return raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + "-addr"), Suffrage: raft.Voter}
}

// TestRaftPeersLookup: who the Raft stream layer lets in, in each state a
// node can be in.
func TestRaftPeersLookup(t *testing.T) {
	named := api.ClusterInfo{Node: "n2", NodeRaftAddr: "n2-addr", Members: []api.Member{{ID: "n3", RaftAddr: "n3-addr"}}}
	for _, tc := range []struct {
		name    string
		servers []raft.Server // the bootstrap configuration; none: fresh
		leader  bool          // wait until this node leads
		expect  *api.ClusterInfo
		learn   *api.ClusterInfo
		want    map[string]raft.ServerAddress // id -> address; absent ids are refused
		refused []string
	}{
		{name: "fresh, no join peers: any node of the CA",
			want: map[string]raft.ServerAddress{"n2": "", "n9": ""}},
		{name: "fresh, with join peers: only the servers they named", expect: &named,
			want: map[string]raft.ServerAddress{"n2": "n2-addr", "n3": "n3-addr"}, refused: []string{"n9"}},
		{name: "a member with a leader: only the configuration", servers: []raft.Server{voter("n1")}, leader: true, learn: &named,
			want: map[string]raft.ServerAddress{"n1": "n1-addr"}, refused: []string{"n2", "n3", "n9"}},
		{name: "a member without a leader: the configuration and what a member reports",
			servers: []raft.Server{voter("n1"), voter("n4")}, learn: &api.ClusterInfo{Members: []api.Member{{ID: "n5", RaftAddr: "n5-addr"}}},
			want: map[string]raft.ServerAddress{"n1": "n1-addr", "n4": "n4-addr", "n5": "n5-addr"}, refused: []string{"n9"}},
		{name: "a member without a leader forgets what it learned before",
			servers: []raft.Server{voter("n1"), voter("n4")}, expect: &named, learn: &api.ClusterInfo{},
			want: map[string]raft.ServerAddress{"n1": "n1-addr"}, refused: []string{"n2", "n3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &raftPeers{}
			if _, ok := p.lookup("n1"); ok {
				t.Fatal("a node whose Raft has not started let a peer in")
			}
			r := memRaft(t, "n1", tc.servers)
			p.r.Store(r)
			if tc.leader {
				deadline := time.Now().Add(5 * time.Second)
				for r.State() != raft.Leader {
					if time.Now().After(deadline) {
						t.Fatal("no leadership")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if tc.expect != nil {
				p.expect(*tc.expect)
			}
			if tc.learn != nil {
				p.learn(*tc.learn)
			}
			for id, want := range tc.want {
				if got, ok := p.lookup(id); !ok || got != want {
					t.Errorf("%s: %q %v, want let in at %q", id, got, ok, want)
				}
			}
			for _, id := range tc.refused {
				if _, ok := p.lookup(id); ok {
					t.Errorf("%s: let in, want refused", id)
				}
			}
		})
	}
}

// TestRefreshPeersForgetsOnceALeaderIsKnown: what a node learned while it
// had no leader stops counting once it has one, so a member named then
// and removed since is not let in.
func TestRefreshPeersForgetsOnceALeaderIsKnown(t *testing.T) {
	t.Parallel()
	n, _ := singleNode(t, time.Hour)
	n.peers.learn(api.ClusterInfo{Members: []api.Member{{ID: "gone", RaftAddr: "127.0.0.1:9"}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.refreshPeers(ctx, 5*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n.peers.mu.Lock()
		left := len(n.peers.expected)
		n.peers.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d learned servers kept while a leader is known", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
