// Package apitest provides an in-memory api.Backend for tests of the API,
// its client and the CLI, in the spirit of raft's in-memory stores: it
// honours the Backend contract (versions, If-Match, sentinel errors) with
// no Raft behind it, and lets a test switch leadership at will.
package apitest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// Backend is an in-memory api.Backend. The zero value is not usable; call
// NewBackend. It is safe for concurrent use.
type Backend struct {
	mu        sync.Mutex
	policies  map[string]api.PolicyRecord
	decisions map[string][]policy.Record // newest first
	status    map[string]api.PolicyStatus
	samples   []api.Sample
	members   []api.Member
	tokens    map[string]auth.Token
	audit     auditLog // see audit.go
	index     uint64   // the "Raft index" of the last write
	writes    int      // committed writes, for "nothing changed" checks

	leader     bool
	leaderAddr string
	notReady   error
	now        func() time.Time
	nodeID     string
	// defaultCosts are the agent's default prices Recording reports.
	defaultCosts map[string]policy.Cost
}

// Compile-time check that Backend satisfies the contract.
var _ api.Backend = (*Backend)(nil)

// NewBackend returns an empty backend that leads, named nodeID.
func NewBackend(nodeID string) *Backend {
	return &Backend{
		policies:  map[string]api.PolicyRecord{},
		decisions: map[string][]policy.Record{},
		status:    map[string]api.PolicyStatus{},
		tokens:    map[string]auth.Token{},
		leader:    true,
		nodeID:    nodeID,
		now:       time.Now,
		members:   []api.Member{{ID: nodeID, RaftAddr: "127.0.0.1:7000", Suffrage: "voter", Role: "leader"}},
	}
}

// SetLeader makes the backend lead (addr ignored) or follow a leader whose
// HTTP address is addr; a follower with addr "" has no leader, and Leader
// waits out its wait before returning api.ErrNoLeader.
func (b *Backend) SetLeader(self bool, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leader, b.leaderAddr = self, addr
}

// SetMembers replaces the members Cluster reports.
func (b *Backend) SetMembers(ms []api.Member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.members = slices.Clone(ms)
}

// SetNotReady makes Ready return err (nil: ready).
func (b *Backend) SetNotReady(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notReady = err
}

// AddDecisions appends decisions to a policy's history (oldest first in recs).
func (b *Backend) AddDecisions(id string, recs ...policy.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		b.decisions[id] = append([]policy.Record{r}, b.decisions[id]...)
	}
}

// SetStatus sets what PolicyStatus returns for a policy.
func (b *Backend) SetStatus(st api.PolicyStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status[st.ID] = st
}

// Writes is the number of writes committed so far; a test asserts that a
// refused request left it unchanged.
func (b *Backend) Writes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// Samples returns a copy of every sample accepted so far.
func (b *Backend) Samples() []api.Sample {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.samples)
}

// Policy returns a stored policy without going through the API.
func (b *Backend) Policy(id string) (api.PolicyRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.policies[id]
	return rec, ok
}

// check applies the Backend's If-Match rules to the current record.
func check(rec api.PolicyRecord, exists bool, id, ifMatch string) error {
	switch ifMatch {
	case "":
		return nil
	case "*":
		if !exists {
			return fmt.Errorf("policy %s does not exist (If-Match: *): %w", id, api.ErrPrecondition)
		}
		return nil
	case "0":
		if exists {
			return fmt.Errorf("policy %s already exists at version %d: %w", id, rec.Version, api.ErrPrecondition)
		}
		return nil
	}
	if !exists {
		return fmt.Errorf("policy %s does not exist (If-Match: %s): %w", id, ifMatch, api.ErrPrecondition)
	}
	if strconv.FormatUint(rec.Version, 10) != ifMatch {
		return fmt.Errorf("policy %s is at version %d, not %s: %w", id, rec.Version, ifMatch, api.ErrPrecondition)
	}
	return nil
}

// PutPolicy implements api.Backend.
func (b *Backend) PutPolicy(_ context.Context, p policy.Policy, ifMatch string) (api.PolicyRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.policies[p.ID]
	if err := check(cur, ok, p.ID, ifMatch); err != nil {
		return api.PolicyRecord{}, err
	}
	b.index++
	b.writes++
	rec := api.PolicyRecord{Policy: p, Version: b.index, UpdatedAt: b.now().UTC()}
	b.policies[p.ID] = rec
	return rec, nil
}

// DeletePolicy implements api.Backend.
func (b *Backend) DeletePolicy(_ context.Context, id, ifMatch string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.policies[id]
	if err := check(cur, ok, id, ifMatch); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("policy %s: %w", id, api.ErrNotFound)
	}
	b.index++
	b.writes++
	delete(b.policies, id)
	return nil
}

// GetPolicy implements api.Backend.
func (b *Backend) GetPolicy(_ context.Context, id string) (api.PolicyRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, ok := b.policies[id]
	if !ok {
		return api.PolicyRecord{}, fmt.Errorf("policy %s: %w", id, api.ErrNotFound)
	}
	return rec, nil
}

// ListPolicies implements api.Backend.
func (b *Backend) ListPolicies(context.Context) ([]api.PolicyRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.PolicyRecord, 0, len(b.policies))
	for _, rec := range b.policies {
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, c api.PolicyRecord) int {
		switch {
		case a.Policy.ID < c.Policy.ID:
			return -1
		case a.Policy.ID > c.Policy.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Decisions implements api.Backend.
func (b *Backend) Decisions(_ context.Context, id string, limit int) ([]policy.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.policies[id]; !ok {
		return nil, fmt.Errorf("policy %s: %w", id, api.ErrNotFound)
	}
	d := b.decisions[id]
	return slices.Clone(d[:min(limit, len(d))]), nil
}

// PolicyStatus implements api.Backend.
func (b *Backend) PolicyStatus(_ context.Context, id string) (api.PolicyStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.policies[id]; !ok {
		return api.PolicyStatus{}, fmt.Errorf("policy %s: %w", id, api.ErrNotFound)
	}
	st, ok := b.status[id]
	if !ok {
		st = api.PolicyStatus{ID: id, Metrics: []api.MetricStatus{}}
	}
	return st, nil
}

// PushMetrics implements api.Backend: a sample is accepted when its policy
// exists and declares its metric.
func (b *Backend) PushMetrics(_ context.Context, samples []api.Sample) (api.PushResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var res api.PushResult
	for i, s := range samples {
		rec, ok := b.policies[s.Policy]
		if !ok {
			res.Rejected = append(res.Rejected, api.RejectedItem{Index: i, Reason: fmt.Sprintf("no policy %q", s.Policy)})
			continue
		}
		if !slices.ContainsFunc(rec.Policy.Metrics, func(m policy.Metric) bool { return m.Name == s.Metric }) {
			res.Rejected = append(res.Rejected, api.RejectedItem{Index: i, Reason: fmt.Sprintf("policy %s has no metric %q", s.Policy, s.Metric)})
			continue
		}
		b.samples = append(b.samples, s)
		res.Accepted++
	}
	if res.Accepted > 0 {
		b.index++
		b.writes++
	}
	return res, nil
}

// Cluster implements api.Backend.
func (b *Backend) Cluster(context.Context) (api.ClusterInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	role := "follower"
	if b.leader {
		role = "leader"
	}
	info := api.ClusterInfo{
		Node: b.nodeID, Role: role, Term: 2, CommitIndex: b.index, AppliedIndex: b.index,
		Members: slices.Clone(b.members), LeaderHTTPAddr: b.leaderAddr, Bootstrapped: true,
	}
	if b.leader {
		info.LeaderID = b.nodeID
	}
	return info, nil
}

// Join implements api.Backend.
func (b *Backend) Join(_ context.Context, req api.JoinRequest) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.members {
		if m.ID == req.ID {
			if m.RaftAddr == req.RaftAddr {
				return nil
			}
			return fmt.Errorf("node %s is a member at %s: %w", req.ID, m.RaftAddr, api.ErrConflict)
		}
	}
	b.members = append(b.members, api.Member{ID: req.ID, RaftAddr: req.RaftAddr, HTTPAddr: req.HTTPAddr, Suffrage: "voter", Role: "follower"})
	b.index++
	b.writes++
	return nil
}

// RemoveMember implements api.Backend.
func (b *Backend) RemoveMember(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.members, func(m api.Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("member %s: %w", id, api.ErrNotFound)
	}
	b.members = slices.Delete(b.members, i, i+1)
	b.index++
	b.writes++
	return nil
}

// Ready implements api.Backend.
func (b *Backend) Ready(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notReady
}

// Leader implements api.Backend. A follower without a leader waits out
// wait (or ctx) and returns api.ErrNoLeader, as a node mid-election does.
func (b *Backend) Leader(ctx context.Context, wait time.Duration) (bool, string, error) {
	b.mu.Lock()
	self, addr := b.leader, b.leaderAddr
	b.mu.Unlock()
	if self || addr != "" {
		return self, addr, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, "", ctx.Err()
	case <-t.C:
		return false, "", fmt.Errorf("no leader after %s: %w", wait, api.ErrNoLeader)
	}
}

// CreateToken implements api.Backend.
func (b *Backend) CreateToken(_ context.Context, t auth.Token) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.tokens[t.Name]; ok {
		return fmt.Errorf("token %q exists: %w", t.Name, api.ErrConflict)
	}
	b.tokens[t.Name] = t
	b.index++
	b.writes++
	return nil
}

// DeleteToken implements api.Backend.
func (b *Backend) DeleteToken(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.tokens[name]; !ok {
		return fmt.Errorf("API token %q: %w", name, api.ErrNotFound)
	}
	delete(b.tokens, name)
	b.index++
	b.writes++
	return nil
}

// ListTokens implements api.Backend.
func (b *Backend) ListTokens(context.Context) ([]auth.Token, error) {
	return b.APITokens(), nil
}

// APITokens implements auth.Source, so an Authenticator in a test sees the
// tokens created through the API at once.
func (b *Backend) APITokens() []auth.Token {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]auth.Token, 0, len(b.tokens))
	for _, t := range b.tokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, c auth.Token) int { return strings.Compare(a.Name, c.Name) })
	return out
}
