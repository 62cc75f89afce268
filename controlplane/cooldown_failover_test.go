package controlplane

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// cutAfterTransport is a node's Raft transport that goes dark once an
// entry matching cut has been replicated to one follower: the entry can
// commit (the leader and that follower are a quorum), and nothing the
// node sends after it reaches anyone. onCut runs once, when it happens.
type cutAfterTransport struct {
	raft.Transport
	cut   func(store.Command) bool
	onCut func()

	once sync.Once
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
		if c, derr := store.Decode(e.Data); derr == nil && t.cut(c) {
			t.mu.Lock()
			t.dark = true
			t.mu.Unlock()
			t.once.Do(t.onCut)
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
	c = newCluster(t, clusterOptions{configure: func(i int, cfg *Config) {
		cfg.Storage.Transport = &cutAfterTransport{
			Transport: cfg.Storage.Transport,
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
	c.waitFor("the next leader to apply the result", func() bool {
		v, ok := next.fsm.view("web")
		return ok && len(v.Pending) == 0
	})
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
