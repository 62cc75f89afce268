package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// DefaultRevokeWait bounds how long a revocation waits for the other
// members to apply it before it is acknowledged (waitApplied).
const DefaultRevokeWait = 3 * time.Second

// errNotApplied: a member answered but had not applied an entry in time.
var errNotApplied = errors.New("a live member has not applied the change yet")

// errNoAddress: a member has not registered its API address yet.
var errNoAddress = errors.New("no API address registered")

// waitApplied returns once every other live member of the configuration
// has applied the log up to index, as its GET /v1/cluster reports it
// (applied_index). A member that does not answer at all is down, not
// live: it applies the entry when it catches up, before it can lead. A
// member that answers but stays behind past within is an error, so that
// the caller does not claim what is not true.
//
// The leader has applied index itself when Apply returns, so after this
// a change such as a token's revocation holds on every live node.
func (n *Node) waitApplied(ctx context.Context, index uint64, within time.Duration) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.NodeID) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.waitMemberApplied(ctx, string(s.ID), index); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitMemberApplied polls one member until it has applied index. It
// returns nil when the member applied it or never answered (it is down,
// or has not registered its API address yet).
func (n *Node) waitMemberApplied(ctx context.Context, id string, index uint64) error {
	delay := 2 * time.Millisecond
	answered := false
	for {
		var (
			info api.ClusterInfo
			err  = errNoAddress
		)
		if addr := n.fsm.nodeHTTPAddr(id); addr != "" {
			info, err = n.peerInfo(ctx, addr)
		}
		switch {
		case err == nil && info.AppliedIndex >= index:
			return nil
		case err == nil:
			answered = true
		}
		select {
		case <-ctx.Done():
			if !answered {
				n.log.Warn("a member did not answer while a change was being confirmed; taking it for down", "member", id, "index", index, "err", err)
				return nil
			}
			return fmt.Errorf("member %s: index %d: %w", id, index, errNotApplied)
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}
