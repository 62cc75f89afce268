package controlplane

// Membership: forming or joining the cluster at start, keeping this
// node's API address registered, and the join and remove operations the
// API serves. Peers are reached through api.Client, the one client of
// Capstan's API.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/store"
)

// formCluster bootstraps a new cluster once BootstrapExpect servers are
// known, or joins an existing one. A node with Raft state does nothing: it
// rejoins with its stored configuration.
func (n *Node) formCluster(ctx context.Context) error {
	has, err := raft.HasExistingState(n.storage.Logs, n.storage.Stable, n.storage.Snapshots)
	if err != nil {
		return fmt.Errorf("checking raft state: %w", err)
	}
	if has {
		return nil
	}
	self := raft.Server{ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(n.cfg.RaftAddr), Suffrage: raft.Voter}
	if n.cfg.BootstrapExpect == 1 {
		return n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{self}}).Error()
	}
	backoff := 200 * time.Millisecond
	// Failures are expected while peers start, so they are logged only
	// after 10 s and then at most every 10 s; a node that can never join (a certificate from another
	// CA, a wrong token) then says why instead of waiting silently.
	lastWarn := time.Now()
	warn := func(msg string, args ...any) {
		if time.Since(lastWarn) >= 10*time.Second {
			lastWarn = time.Now()
			n.log.Warn(msg, args...)
		}
	}
	for ctx.Err() == nil {
		servers, joinable, err := n.discover(ctx)
		switch {
		case joinable != "":
			if err := n.joinVia(ctx, joinable); err == nil {
				n.log.Info("joined the cluster", "via", joinable)
				return nil
			} else {
				warn("joining the cluster failed; retrying", "via", joinable, "err", err)
			}
		case err != nil:
			warn("no peer answered yet; retrying", "join", strings.Join(n.cfg.Join, ","), "err", err)
		case err == nil && n.cfg.BootstrapExpect > 1 && len(servers)+1 >= n.cfg.BootstrapExpect:
			servers = append(servers, self)
			sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
			n.log.Info("bootstrapping the cluster", "servers", len(servers))
			err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return fmt.Errorf("bootstrap: %w", err)
			}
			return nil
		}
		if st := n.raft.State(); st == raft.Leader || st == raft.Follower && n.raftLeader() != "" {
			return nil // someone added us meanwhile
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	return ctx.Err()
}

// discover asks each peer for its identity. It returns the distinct other
// fresh servers it found, or the address of a peer that already belongs to
// a cluster (so this node should join rather than bootstrap).
func (n *Node) discover(ctx context.Context) ([]raft.Server, string, error) {
	seen := map[raft.ServerID]raft.Server{}
	var lastErr error
	for _, peer := range n.cfg.Join {
		info, err := n.peerInfo(ctx, peer)
		if err != nil {
			lastErr = err
			continue
		}
		if info.Node == n.cfg.NodeID {
			continue
		}
		n.peers.expect(info)
		if info.Bootstrapped && info.LeaderID != "" {
			return nil, peer, nil
		}
		seen[raft.ServerID(info.Node)] = raft.Server{ID: raft.ServerID(info.Node), Address: raft.ServerAddress(info.NodeRaftAddr), Suffrage: raft.Voter}
	}
	out := make([]raft.Server, 0, len(seen))
	for _, s := range seen {
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, "", lastErr
	}
	return out, "", nil
}

// peerInfo reads a peer's view of the cluster (GET /v1/cluster).
func (n *Node) peerInfo(ctx context.Context, peer string) (api.ClusterInfo, error) {
	info, err := n.peerClient(peer).Cluster(ctx)
	if err != nil {
		return info, fmt.Errorf("%s: %w", peer, err)
	}
	return info, nil
}

// joinVia asks a peer (which forwards to the leader) to add this node.
func (n *Node) joinVia(ctx context.Context, peer string) error {
	req := api.JoinRequest{ID: n.cfg.NodeID, RaftAddr: n.cfg.RaftAddr, HTTPAddr: n.apiAddr()}
	if err := n.peerClient(peer).Join(ctx, req); err != nil {
		return fmt.Errorf("%s: %w", peer, err)
	}
	return nil
}

// peerClient is the API client of a peer (host:port or a URL), over this
// node's HTTP client: the one client of Capstan's API, shared with the CLI.
func (n *Node) peerClient(peer string) *api.Client {
	return api.NewClient(n.peerURL(peer, ""), n.cfg.HTTPClient)
}

// register keeps this node's HTTP address in the replicated node registry,
// so followers can forward writes to whichever node leads.
func (n *Node) register(ctx context.Context) {
	defer close(n.registered)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if n.fsm.nodeHTTPAddr(n.cfg.NodeID) == n.apiAddr() {
			return
		}
		if err := n.registerSelf(ctx); err != nil {
			n.log.Debug("registering failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// registerSelf is the one way a node records its HTTP address in the
// registry: a leader commits it, a follower asks the leader (a join, which
// re-registers a member). The register loop calls it until the address is
// in, and a new leader at once, so writes forwarded to it find it.
func (n *Node) registerSelf(ctx context.Context) error {
	if n.raft.State() == raft.Leader {
		return n.apply(ctx, store.RegisterNode{ID: n.cfg.NodeID, HTTPAddr: n.apiAddr()})
	}
	leader := n.raftLeader()
	if leader == "" {
		return errors.New("no leader known")
	}
	addr := n.fsm.nodeHTTPAddr(leader)
	if addr == "" {
		return fmt.Errorf("the leader %s has no registered address yet", leader)
	}
	if err := n.joinVia(ctx, addr); err != nil {
		return fmt.Errorf("through the leader: %w", err)
	}
	return nil
}

// Join adds a voter (or re-registers a member's HTTP address). It must run
// on the leader; the API forwards it there.
func (n *Node) Join(ctx context.Context, req api.JoinRequest) error {
	if req.ID == "" || req.RaftAddr == "" || req.HTTPAddr == "" {
		return fmt.Errorf("%w: id, raft_addr and http_addr are required", api.ErrBadRequest)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	member := false
	for _, s := range f.Configuration().Servers {
		switch {
		case s.ID == raft.ServerID(req.ID) && s.Address == raft.ServerAddress(req.RaftAddr):
			member = true
		case s.ID == raft.ServerID(req.ID):
			return fmt.Errorf("%w: server %q is a member at %s, not %s; remove it first", api.ErrConflict, req.ID, s.Address, req.RaftAddr)
		case s.Address == raft.ServerAddress(req.RaftAddr):
			return fmt.Errorf("%w: %s belongs to server %q", api.ErrConflict, req.RaftAddr, s.ID)
		}
	}
	if err := n.verifyJoin(ctx, req, !member); err != nil {
		return err
	}
	if !member {
		if err := n.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return raftErr("adding the voter", err)
		}
		n.log.Info("added a voter", "id", req.ID, "raft_addr", req.RaftAddr)
	}
	return n.apply(ctx, store.RegisterNode{ID: req.ID, HTTPAddr: req.HTTPAddr})
}

// RemoveMember removes a server from the Raft configuration.
func (n *Node) RemoveMember(_ context.Context, id string) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(id) {
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return raftErr("removing the server", err)
			}
			n.log.Info("removed a server", "id", id)
			if n.layer != nil {
				n.layer.Prune()
			}
			return nil
		}
	}
	return fmt.Errorf("server %q: %w", id, api.ErrNotFound)
}
