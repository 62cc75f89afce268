package controlplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/store"
)

// modelsCommitted returns the policies whose whole state (models and
// all, not a pacing state) the log holds in (from, to].
func modelsCommitted(tb testing.TB, logs raft.LogStore, from, to uint64) []string {
	tb.Helper()
	var ids []string
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
				ids = append(ids, x.Policy)
			}
		}
	}
	return ids
}

// TestModelsSpreadOverModelSync: a term's first evaluations commit every
// policy's models in one round; the ones after are spread over
// ModelSync by each policy's offset, so that no later round carries most
// of the policies' models again (the load run's leader took about 85 MB
// of states in one round every ModelSync), and still no policy goes
// longer than ModelSync and a round without committing its models.
func TestModelsSpreadOverModelSync(t *testing.T) {
	const (
		policies  = 96
		rounds    = 20
		modelSync = time.Minute // six rounds
	)
	r := newLoadRig(t, policies, time.Hour, flatValue, func(n *Node) {
		n.cfg.StateSync, n.cfg.ModelSync = modelSync, modelSync
	})
	last := map[string]int{} // the round each policy's models last went in
	most := 0
	for round := range rounds {
		from := r.n.Raft().LastIndex()
		r.round(t)
		ids := modelsCommitted(t, r.n.storage.Logs, from, r.n.Raft().LastIndex())
		if round == 0 {
			if len(ids) != policies {
				t.Fatalf("the term's first round committed the models of %d policies, want all %d", len(ids), policies)
			}
		} else {
			most = max(most, len(ids))
		}
		for _, id := range ids {
			last[id] = round
		}
		for _, id := range r.ids {
			// A round is 10 s: models due ModelSync after their last
			// commit go in the round that reaches that time.
			if age := round - last[id]; age > int(modelSync/(10*time.Second)) {
				t.Fatalf("round %d: %s last committed its models in round %d", round, id, last[id])
			}
		}
	}
	t.Logf("the most policies whose models one round after the first committed: %d of %d", most, policies)
	// Spread evenly, a round carries a sixth of the policies (16) give
	// or take the hash's chance; without the offsets every sixth round
	// carried all of them.
	if limit := policies / 3; most > limit {
		t.Fatalf("a round after the first committed the models of %d of %d policies, want at most %d", most, policies, limit)
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
