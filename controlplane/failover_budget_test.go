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
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// throttleCounter counts the throttle answers one node's calls got from
// the cloud: it sits right above the emulator, under the node's budget and
// retries, so every attempt the emulator refused is counted, for the node
// that sent it.
type throttleCounter struct {
	*fake.Driver
	throttled *atomic.Int64
}

func (d throttleCounter) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	gs, err := d.Driver.Describe(ctx, g)
	if errors.Is(err, cloud.ErrThrottled) {
		d.throttled.Add(1)
	}
	return gs, err
}

// DescribeBatch counts a batch whose first throttled group ended it (the
// fake's batch stops at its first refused provider call) as one answer.
func (d throttleCounter) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	out, err := d.Driver.DescribeBatch(ctx, refs)
	for _, o := range out {
		if errors.Is(o.Err, cloud.ErrThrottled) {
			d.throttled.Add(1)
			break
		}
	}
	return out, err
}

// TestNewLeaderStaysWithinTheAccountLimit: three agents, each with its own
// call budget (as each agent process has) set to the account's limit,
// share a fake cloud that throttles reads beyond that limit per account.
// A leader evaluates and refreshes every group; then the account's bucket
// is spent (as the leader's own refresh or any other client of the
// account leaves it) and leadership moves. The new leader's first
// describes of every group must get no throttle answer from the cloud
// (before AssumeSpent its own full bucket sent a burst into the spent
// one), no evaluation of it may fail to describe its group, the one
// policy whose demand arrives with it resizes its group on state described
// in this term and no other does, and after its first periodic refresh
// every group's cached state is at most twice the refresh period old.
func TestNewLeaderStaysWithinTheAccountLimit(t *testing.T) {
	t.Parallel() // its own cluster and cloud; it waits on refresh periods
	// A run in which leadership moved by itself (a loaded machine) is not
	// the scenario: it is run again on a fresh cluster and cloud.
	for attempt := 1; !newLeaderWithinTheAccountLimit(t); attempt++ {
		if attempt == 3 {
			t.Fatal("leadership moved by itself in every run")
		}
		t.Logf("leadership moved by itself in run %d; running again", attempt)
	}
}

// newLeaderWithinTheAccountLimit runs TestNewLeaderStaysWithinTheAccountLimit's
// scenario once; false: leadership moved by itself.
func newLeaderWithinTheAccountLimit(t *testing.T) bool {
	const (
		groups  = 600
		rate    = 6 // reads a second, the account's and each budget's: 6 pages of 100 groups
		refresh = 2 * time.Second
	)
	cl := fake.New(fake.Options{AutoCreate: true, DefaultMax: 100, DefaultDesired: 2,
		RateLimit: emukit.RateLimit{ReadsPerSecond: rate}})
	var throttled [3]atomic.Int64
	c := newCluster(t, clusterOptions{groupRefresh: refresh, cloudTimeout: 3 * time.Second, configure: func(i int, cfg *Config) {
		b, err := budget.New(budget.Options{Read: budget.Rates{"fake": rate}})
		if err != nil {
			t.Fatal(err)
		}
		drv := cloud.NewRetrying(b.Wrap("fake", throttleCounter{fake.NewDriver(cl), &throttled[i]}), cloud.DefaultRetryOptions())
		cfg.Drivers = func(string) (cloud.Driver, error) { return drv, nil }
		cfg.CloudBudget = b
	}})
	ctx := context.Background()
	ai, a := c.leader()
	ids := make(chan int)
	var wg sync.WaitGroup
	var moved atomic.Bool // a put found leadership moved
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				p, err := policy.Parse(fmt.Appendf(nil, `id: p%03d
target: {provider: fake, group: g%03d}
min: 1
max: 10
evaluation_interval: 5s
metrics: [{name: rps, type: request_rate, target: 100}]
`, i, i))
				if err == nil {
					_, err = a.PutPolicy(ctx, p, "")
				}
				switch {
				case errors.Is(err, api.ErrNoLeader), errors.Is(err, api.ErrOutcomeUnknown):
					// Leadership moved by itself (600 puts under -race
					// on a loaded machine, twice in three runs of the
					// package with both cores busy).
					moved.Store(true)
				case err != nil:
					t.Error(err) // and take the rest, so the sender is not stuck
				}
			}
		})
	}
	for i := range groups {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if moved.Load() {
		return false
	}
	// The first leader has described every group and refreshed them.
	c.waitFor("the first leader's refresh of every group", func() bool {
		return testutil.ToFloat64(a.metrics.groupsCached) == groups
	})
	if a.raft.State() != raft.Leader {
		return false
	}
	// The account's bucket is spent: another client takes every token.
	other := fake.NewDriver(cl)
	for n := 0; ; n++ {
		if _, err := other.Describe(ctx, cloud.GroupRef{Provider: "fake", Group: "g000"}); errors.Is(err, cloud.ErrThrottled) {
			break
		} else if err != nil || n > 100 {
			t.Fatalf("spending the account's bucket: %v after %d describes", err, n)
		}
	}
	bi := others(ai)[0]
	b := c.nodes[bi]
	failed := func() int { return int(testutil.ToFloat64(b.metrics.evalErrors.WithLabelValues("describe"))) }
	evals0, failed0 := evaluations(b), failed() // should it have led before
	if err := a.raft.LeadershipTransferToServer(raft.ServerID(b.cfg.NodeID), c.trans[bi].LocalAddr()).Error(); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the transfer", func() bool { return b.raft.State() == raft.Leader })
	leading := time.Now()
	term := b.raft.CurrentTerm()
	// One policy's demand arrives with the new leader: 800 requests/s at
	// 100 an instance want 8 (the default rate limit lets it grow to 4 at
	// once).
	if err := b.apply(ctx, store.Samples{Samples: []store.Sample{{Policy: "p000", Metric: "rps", Time: b.now(), Value: 800}}}); err != nil {
		return false // leadership moved again
	}
	c.waitFor("the new leader's evaluation of every policy", func() bool { return evaluations(b) >= evals0+groups })
	evaluated := time.Since(leading)
	// Its first periodic refresh ends about a period in.
	c.waitFor("the new leader's first refresh", func() bool { return testutil.ToFloat64(b.metrics.groupsCached) == groups })
	if b.raft.State() != raft.Leader || b.raft.CurrentTerm() != term {
		return false
	}
	if n := throttled[bi].Load(); n != 0 {
		t.Errorf("the new leader's calls got %d throttle answers from the cloud, want none", n)
	}
	if n := failed() - failed0; n != 0 {
		t.Errorf("%d of the new leader's evaluations failed to describe their group, want none", n)
	}
	if oldest := time.Duration(testutil.ToFloat64(b.metrics.groupOldest) * float64(time.Second)); oldest > 2*refresh {
		t.Errorf("the oldest cached group state is %s old after the first refresh, want at most %s", oldest, 2*refresh)
	}
	// It is acted on, from state described in this term, and nothing else is.
	var grown int
	c.waitFor("the demanded scale-out", func() bool {
		gs, err := cl.Describe("g000")
		grown = gs.Desired
		return err == nil && gs.Desired > 2
	})
	for _, call := range cl.Calls() {
		if call.Op == fake.OpSetDesired && (call.Group != "g000" || call.To != grown || call.Caller.Term != term) {
			t.Errorf("a resize (%+v): only the new leader's of g000 to %d is asked for", call, grown)
		}
	}
	c.waitFor("the scale-out's decision", func() bool {
		ds, _ := b.fsm.Decisions("p000", 1)
		return len(ds) == 1 && ds[0].Desired == grown
	})
	ds, _ := b.fsm.Decisions("p000", 1)
	if age := ds[0].GroupAge.D(); age <= 0 || age > 2*refresh {
		t.Errorf("the scale-out was decided on group state %s old, want some in (0, %s]", age, 2*refresh)
	}
	t.Logf("throttle answers: old leader %d, new leader %d; the cloud refused %d calls in all (one of them the test's own); "+
		"every policy evaluated %s after the new leader took over; g000 resized to %d on state %s old",
		throttled[ai].Load(), throttled[bi].Load(), cl.Throttled(), evaluated.Round(time.Millisecond), grown, ds[0].GroupAge.D())
	return true
}
