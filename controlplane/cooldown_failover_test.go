package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// cutAfterTransport is a node's Raft transport that goes dark once an
// entry matching cut has been replicated to one follower: the entry can
// commit (the leader and that follower are a quorum), and nothing the
// node sends after it reaches anyone. onCut runs when it happens. The
// cut happens once in the cluster (fired is shared by every node's
// transport): the next leader sends the same entry to a follower that
// lacked it, and must not go dark too.
type cutAfterTransport struct {
	raft.Transport
	cut   func(store.Command) bool
	onCut func()
	fired *atomic.Bool

	mu   sync.Mutex
	dark bool
}

var errTransportCut = errors.New("transport cut by the test")

func (t *cutAfterTransport) isDark() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dark
}

// AppendEntriesPipeline is refused so that every entry goes through
// AppendEntries, where the cut is made.
func (t *cutAfterTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t *cutAfterTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.isDark() {
		return errTransportCut
	}
	err := t.Transport.AppendEntries(id, target, args, resp)
	if err != nil || !resp.Success {
		return err
	}
	for _, e := range args.Entries {
		if e.Type != raft.LogCommand {
			continue
		}
		if c, derr := store.Decode(e.Data); derr == nil && t.cut(c) && t.fired.CompareAndSwap(false, true) {
			t.mu.Lock()
			t.dark = true
			t.mu.Unlock()
			t.onCut()
			break
		}
	}
	return err
}

func (t *cutAfterTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if t.isDark() {
		return errTransportCut
	}
	return t.Transport.RequestVote(id, target, args, resp)
}

func (t *cutAfterTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if t.isDark() {
		return errTransportCut
	}
	return t.Transport.TimeoutNow(id, target, args, resp)
}

// TestCooldownSurvivesFailoverAfterResult: the leader resizes a group,
// and its leadership ends just after the resize's result is committed.
// The cooldown the resize starts must survive: the next leader's state
// of the policy counts the scale-out, and the group is resized once.
//
// The leader commits the policy's state (which counts the action) before
// the result that ends the intent. Committed the other way round (as
// before this test), the cut below lands between the two: the successor
// finds the intent ended and a state without the scale-out, so the
// cooldown is lost (invariant 2), and LastScaleOut stays zero.
func TestCooldownSurvivesFailoverAfterResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var c *cluster
	cutNode := make(chan int, 1)
	fired := new(atomic.Bool)
	c = newCluster(t, clusterOptions{configure: func(i int, cfg *Config) {
		cfg.Storage.Transport = &cutAfterTransport{
			Transport: cfg.Storage.Transport,
			fired:     fired,
			cut: func(cmd store.Command) bool {
				r, ok := cmd.(store.IntentResult)
				return ok && r.Policy == "web" && r.Outcome == outcomeApplied
			},
			// The node hears nobody either: it steps down at its lease.
			onCut: func() {
				c.isolate(i)
				cutNode <- i
			},
		}
	}})
	_, l := c.leader()
	// min 5 over the fake group's 2: the leader resizes to 5 at once.
	if _, err := l.PutPolicy(ctx, webPolicy(t, 5), ""); err != nil {
		t.Fatal(err)
	}
	var cut int
	select {
	case cut = <-cutNode:
	case <-time.After(10 * time.Second):
		t.Fatal("no result of the resize was replicated in 10 s")
	}
	c.waitFor("the group to be at 5", c.groupAt(5))
	ni, next := c.leader(others(cut)...)
	if ni == cut {
		t.Fatalf("node %d led again", cut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, ok := next.fsm.view("web"); ok && len(v.Pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var states []string
			for k, nd := range c.nodes {
				v, _ := nd.fsm.view("web")
				last, _ := c.logs[k].LastIndex()
				states = append(states, fmt.Sprintf("n%d %s last %d applied %d pending %d", k+1, nd.raft.State(), last, nd.raft.AppliedIndex(), len(v.Pending)))
			}
			t.Fatalf("node %d (cut: %d) did not apply the result in 20 s: %v", ni, cut, states)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, st, err := next.fsm.status("web")
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScaleOut.IsZero() || len(st.Changes) == 0 {
		t.Fatalf("the next leader's state of web: LastScaleOut %v, changes %+v; want the scale-out to 5 counted (its cooldown running)", st.LastScaleOut, st.Changes)
	}
	if last := st.Changes[len(st.Changes)-1]; last.From != 2 || last.To != 5 {
		t.Fatalf("the last change counted is %+v, want 2 -> 5", last)
	}
	if sets := c.setDesiredCalls(); len(sets) != 1 {
		t.Fatalf("resizes %+v: want one", sets)
	}
	c.heal(cut)
}
