package controlplane

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// raftPeers answers the Raft stream layer's question "may this node hold
// a Raft connection with us?" (raftls.Members): yes for the servers of the
// current Raft configuration, at their configured address.
//
// Two cases have no configuration to go by, and take the servers named by
// peers this node asked over verified TLS instead:
//   - a fresh node (waiting to bootstrap or be added) has none: it takes
//     the servers its join peers named (discover): the peers themselves
//     and the members of the cluster they belong to. Started without
//     join peers (an operator adds it), it takes any node of the CA
//     until its first configuration arrives;
//   - a node whose configuration is stale (it was down while the members
//     changed) would refuse a leader that joined meanwhile, and never
//     catch up: while it has no leader, it takes the members that a
//     member of its own configuration reports (refreshPeers).
//
// Once a configuration holds and a leader is known, only it counts, so a
// removed member is refused at its next request.
type raftPeers struct {
	r atomic.Pointer[raft.Raft]

	mu       sync.Mutex
	expected map[raft.ServerID]raft.ServerAddress
}

// lookup is a raftls.Members.
func (p *raftPeers) lookup(id string) (raft.ServerAddress, bool) {
	r := p.r.Load()
	if r == nil {
		return "", false // Raft is not started: nothing to talk to yet
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return "", false
	}
	servers := f.Configuration().Servers
	for _, s := range servers {
		if s.ID == raft.ServerID(id) {
			return s.Address, true
		}
	}
	if _, leader := r.LeaderWithID(); len(servers) > 0 && leader != "" {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(servers) == 0 && len(p.expected) == 0 {
		// A fresh node started without join peers waits for an operator
		// to add it, and cannot tell its future leader from another node
		// of the CA: it takes any (it holds no state to protect yet).
		return "", true
	}
	addr, ok := p.expected[raft.ServerID(id)]
	return addr, ok
}

// expect records the servers a join peer named: the peer and the members
// of its cluster.
func (p *raftPeers) expect(info api.ClusterInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expected == nil {
		p.expected = map[raft.ServerID]raft.ServerAddress{}
	}
	if info.Node != "" && info.NodeRaftAddr != "" {
		p.expected[raft.ServerID(info.Node)] = raft.ServerAddress(info.NodeRaftAddr)
	}
	for _, m := range info.Members {
		p.expected[raft.ServerID(m.ID)] = raft.ServerAddress(m.RaftAddr)
	}
}

// learn replaces the expected servers with the members a member of this
// node's configuration reports, so a member removed since is not kept.
func (p *raftPeers) learn(info api.ClusterInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = make(map[raft.ServerID]raft.ServerAddress, len(info.Members))
	for _, m := range info.Members {
		p.expected[raft.ServerID(m.ID)] = raft.ServerAddress(m.RaftAddr)
	}
}

// refreshPeers runs until ctx ends: while this node is a member without a
// leader, it asks the other members of its configuration for the current
// members every interval, so a leader that joined while this node was
// down can reach it (see raftPeers); once a leader is known it forgets
// them again.
func (n *Node) refreshPeers(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		if n.raftLeader() != "" || n.raft.State() == raft.Leader {
			if len(f.Configuration().Servers) > 0 {
				// The configuration holds and a leader is known: what was
				// learned while there was none is stale (a member named
				// then may have been removed since).
				n.peers.learn(api.ClusterInfo{})
			}
			continue
		}
		for _, s := range f.Configuration().Servers {
			addr := n.fsm.nodeHTTPAddr(string(s.ID))
			if s.ID == raft.ServerID(n.cfg.NodeID) || addr == "" {
				continue
			}
			info, err := n.peerInfo(ctx, addr)
			if err != nil || info.Node != string(s.ID) || info.LeaderID == "" {
				continue
			}
			n.peers.learn(info)
			break
		}
	}
}
