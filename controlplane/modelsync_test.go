package controlplane

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// roundStates runs one round of r and returns the evaluations it
// committed with a state: whole (models and all) or a pacing state.
func roundStates(t *testing.T, r *loadRig) (whole, pacing []store.Evaluated) {
	t.Helper()
	from := r.n.Raft().LastIndex()
	r.round(t)
	countEntries(t, r.n.storage.Logs, from, r.n.Raft().LastIndex(), func(x store.Evaluated) {
		switch {
		case x.State != nil:
			whole = append(whole, x)
		case x.Pacing != nil:
			pacing = append(pacing, x)
		}
	})
	return whole, pacing
}

// acted reports whether an evaluation recorded an action (not a hold):
// its state goes whatever is due.
func acted(x store.Evaluated) bool { return x.Record != nil && x.Record.Action != "hold" }

// TestModelsSpreadOverModelSync: a term's first evaluations commit every
// policy's models in one round, and a burst of actions commits the models
// of the policies that act; the commits after are spread over ModelSync
// by each policy's own times, so that no later round carries most of the
// policies' models again (the load run's leader took about 85 MB of
// states in one round every ModelSync), and still no policy goes longer
// than ModelSync and a round without committing its models. The daily
// load makes most policies act together after their first scale-out's
// cooldown; only the models that go without an action are counted.
func TestModelsSpreadOverModelSync(t *testing.T) {
	const (
		policies  = 96
		rounds    = 24
		modelSync = time.Minute // six rounds
	)
	for _, tc := range []struct {
		name  string
		value func(policy, metric int, t time.Time) float64
	}{{"flat", flatValue}, {"daily", loadValue}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoadRig(t, policies, time.Hour, tc.value, func(n *Node) {
				n.cfg.StateSync, n.cfg.ModelSync = modelSync, modelSync
			})
			last := map[string]int{} // the round each policy's models last went in
			most, withAction := 0, 0
			for round := range rounds {
				whole, _ := roundStates(t, r)
				synced := 0
				for _, x := range whole {
					last[x.Policy] = round
					if acted(x) {
						withAction++
					} else {
						synced++
					}
				}
				if round == 0 && synced+withAction < policies {
					t.Fatalf("the term's first round committed the models of %d policies, want all %d", synced+withAction, policies)
				}
				if round > 0 {
					most = max(most, synced)
				}
				for _, id := range r.ids {
					// A round is 10 s: models due ModelSync after their
					// last commit go in the round that reaches that time.
					if age := round - last[id]; age > int(modelSync/(10*time.Second)) {
						t.Fatalf("round %d: %s last committed its models in round %d", round, id, last[id])
					}
				}
			}
			t.Logf("models with actions: %d; the most that one round after the first committed without one: %d of %d", withAction, most, policies)
			// Spread evenly, a round carries a sixth of the policies
			// (16), give or take the hash's chance; without the policies'
			// own times every sixth round carried all of them.
			if limit := policies / 3; most > limit {
				t.Fatalf("a round after the first committed the models of %d of %d policies without an action, want at most %d", most, policies, limit)
			}
		})
	}
}

// TestNewTermCommitsModelsWhenDue: a new term (a restart's, a
// failover's) commits a policy's models when the committed ones come due
// on the policy's own times, not all of them in its first round: in its
// first ModelSync each policy's models go at most once without an action
// (they went twice: in the first round, and again at the policy's time),
// the first round carries few of them, and the models every node holds
// stay at most ModelSync and a round behind the round's time throughout,
// as the term before kept them. A policy whose models are older than the
// period (a restart after an outage) still commits them at once.
func TestNewTermCommitsModelsWhenDue(t *testing.T) {
	const (
		policies  = 96
		modelSync = time.Minute // six rounds
		rounds    = int(modelSync / (10 * time.Second))
	)
	const rewritten = 10 // policies written again between the terms
	for _, tc := range []struct {
		name   string
		outage time.Duration // between the terms
		ahead  time.Duration // the samples' stamps ahead of the clock
		// rewrite: the first policies are written again (same metrics)
		// between the terms: their first state in the new version goes
		// whole, models and all.
		rewrite bool
		value   func(policy, metric int, t time.Time) float64
	}{
		{name: "flat", value: flatValue},
		{name: "daily", value: loadValue},
		{name: "samples stamped 3 minutes ahead", ahead: 3 * time.Minute, value: flatValue},
		{name: "policies written again between the terms", rewrite: true, value: flatValue},
		{name: "after an outage longer than ModelSync", outage: 2 * modelSync, value: flatValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLoadRig(t, policies, time.Hour, tc.value, func(n *Node) {
				n.cfg.StateSync, n.cfg.ModelSync = modelSync, modelSync
			})
			r.ahead = tc.ahead
			for range rounds + 1 {
				roundStates(t, r)
			}
			r.clock.Add(int64(tc.outage))
			if tc.rewrite {
				for _, id := range r.ids[:rewritten] {
					p := loadPolicy(t, id)
					p.Max++
					if _, err := r.n.PutPolicy(context.Background(), p, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.startTerm()
			times := map[string]int{}
			for round := range rounds {
				whole, _ := roundStates(t, r)
				synced := 0
				for _, x := range whole {
					if !acted(x) {
						times[x.Policy]++
						synced++
					}
				}
				if round == 0 {
					t.Logf("the new term's first round committed the models of %d of %d policies (%d without an action)", len(whole), policies, synced)
				}
				if round == 0 && tc.rewrite {
					for _, id := range r.ids[:rewritten] {
						if !slices.ContainsFunc(whole, func(x store.Evaluated) bool { return x.Policy == id }) {
							t.Fatalf("%s, written again, did not commit its models in the new term's first round", id)
						}
					}
					synced -= rewritten
				}
				switch {
				case round == 0 && tc.outage > modelSync && len(whole) < policies:
					t.Fatalf("after the outage the term's first round committed the models of %d of %d policies, want all", len(whole), policies)
				case round == 0 && tc.outage == 0 && synced > policies/3:
					t.Fatalf("the new term's first round committed the models of %d of %d policies without an action, want at most %d", synced, policies, policies/3)
				}
				// The round's samples' time: the clock less the round,
				// plus their stamps' lead.
				at := r.now().Add(-10*time.Second + r.ahead)
				for _, id := range r.ids {
					if age := at.Sub(committedModelsAt(t, r, id)); age > modelSync+10*time.Second {
						t.Fatalf("round %d: %s's committed models are %s old, want at most %s", round, id, age, modelSync+10*time.Second)
					}
				}
			}
			for id, n := range times {
				if n > 1 && tc.outage == 0 && !(tc.rewrite && slices.Contains(r.ids[:rewritten], id)) {
					t.Fatalf("%s committed its models %d times without an action in the new term's first ModelSync, want at most once", id, n)
				}
			}
		})
	}
}

// committedModelsAt is the time of the last observation the committed
// models of policy id absorbed (the oldest of its metrics').
func committedModelsAt(t *testing.T, r *loadRig, id string) time.Time {
	t.Helper()
	v, ok := r.n.fsm.view(id)
	if !ok {
		t.Fatalf("no policy %s", id)
	}
	var s policy.State
	if err := s.UnmarshalBinary(v.State); err != nil || len(s.Models) == 0 {
		t.Fatalf("%s: committed state: %v, %d models", id, err, len(s.Models))
	}
	oldest := s.Models[0].Model.LastUnixNano
	for _, m := range s.Models {
		oldest = min(oldest, m.Model.LastUnixNano)
	}
	return time.Unix(0, oldest)
}

// TestModelSyncOffset: a policy's offset is within the period, the same
// at every call, and the offsets of a cluster's ids, which differ in
// their last characters, cover the period evenly.
func TestModelSyncOffset(t *testing.T) {
	const period = 5 * time.Minute
	var slots [30]int
	for i := range 10_000 {
		id := fmt.Sprintf("s%05d", i)
		off := modelSyncOffset(id, period)
		if off < 0 || off >= period {
			t.Fatalf("%s: offset %s outside [0, %s)", id, off, period)
		}
		if again := modelSyncOffset(id, period); again != off {
			t.Fatalf("%s: offset %s, then %s", id, off, again)
		}
		slots[off*time.Duration(len(slots))/period]++
	}
	// 333 ids a slot on average; a slot holds a binomial count whose
	// standard deviation is about 18.
	for k, c := range slots {
		if c < 250 || c > 420 {
			t.Fatalf("slot %d of %d holds %d of 10,000 offsets, want about 333: %v", k, len(slots), c, slots)
		}
	}
	if got := modelSyncOffset("p", 0); got != 0 {
		t.Fatalf("offset in a period of 0: %s", got)
	}
}
