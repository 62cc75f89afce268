package controlplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// wholeStates returns the evaluations whose whole state (models and
// all, not a pacing state) the log holds in (from, to].
func wholeStates(tb testing.TB, logs raft.LogStore, from, to uint64) []store.Evaluated {
	tb.Helper()
	var out []store.Evaluated
	for i := from + 1; i <= to; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			tb.Fatalf("log %d: %v", i, err)
		}
		if e.Type != raft.LogCommand || len(e.Data) == 0 {
			continue
		}
		if t := store.CommandType(e.Data[0]); t != store.CmdEvaluated && t != store.CmdEvaluations {
			continue
		}
		cmd, err := store.Decode(e.Data)
		if err != nil {
			tb.Fatalf("log %d: %v", i, err)
		}
		var items []store.Evaluated
		switch cmd := cmd.(type) {
		case store.Evaluated:
			items = append(items, cmd)
		case store.Evaluations:
			items = cmd.Items
		}
		for _, x := range items {
			if x.State != nil {
				out = append(out, x)
			}
		}
	}
	return out
}

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
			most, acted := 0, 0
			for round := range rounds {
				from := r.n.Raft().LastIndex()
				r.round(t)
				synced := 0
				for _, x := range wholeStates(t, r.n.storage.Logs, from, r.n.Raft().LastIndex()) {
					last[x.Policy] = round
					if x.Record == nil || x.Record.Action == "hold" {
						synced++
					} else {
						acted++
					}
				}
				if round == 0 && synced+acted < policies {
					t.Fatalf("the term's first round committed the models of %d policies, want all %d", synced+acted, policies)
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
			t.Logf("models with actions: %d; the most that one round after the first committed without one: %d of %d", acted, most, policies)
			// Spread evenly, a round carries a sixth of the policies
			// (16), give or take the hash's chance; without the policies'
			// own times every sixth round carried all of them.
			if limit := policies / 3; most > limit {
				t.Fatalf("a round after the first committed the models of %d of %d policies without an action, want at most %d", most, policies, limit)
			}
		})
	}
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
