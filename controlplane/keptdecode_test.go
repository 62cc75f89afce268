package controlplane

import (
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestNewTermKeepsDecodedStateTight: a new term's first evaluation of a
// policy starts from the committed state, decoded, and the leader keeps
// that state for the rest of the term. Its models' seasons and weekly
// slots are decoded to their size: grown by append from nothing, a
// 48-slot season took 64 and the 168 weekly slots 256 (a load-run
// policy's two 288-slot seasons took 512 each: 4.2 KB more a policy,
// about 42 MB at 10,000 policies after every failover or restart,
// BenchmarkEvaluatedEntries -entries.newterm). What it holds is the
// committed state's, as the term before kept it.
func TestNewTermKeepsDecodedStateTight(t *testing.T) {
	t.Parallel()
	r := newEvalRig(t, weeklySpec, nil)
	at, value := plantWeekly(t, r)
	r.evaluate(t, value(at)) // the term's first evaluation commits the whole state
	before := keptState(r)
	v, _ := r.n.fsm.view("p")
	var committed policy.State
	if err := committed.UnmarshalBinary(v.State); err != nil || len(committed.Models) != 1 {
		t.Fatalf("committed state: %v, %d models", err, len(committed.Models))
	}
	if a, b := committed.Models[0].Model.Season, before.Models[0].Model.Season; len(a) != len(b) || a[0] != b[0] {
		t.Fatalf("the committed season is not the kept one's: %d and %d slots", len(a), len(b))
	}

	r.newTerm(t)
	r.advance(10 * time.Second)
	r.evaluate(t, value(r.now()))
	kept := keptState(r)
	if len(kept.Models) != 1 {
		t.Fatalf("the new term keeps %d models, want 1", len(kept.Models))
	}
	m := kept.Models[0].Model
	if len(m.Season) == 0 || !m.Week.Active() {
		t.Fatalf("the new term's model has %d season slots, weekly adjustment acting %v: not the committed one's", len(m.Season), m.Week.Active())
	}
	if cap(m.Season) != len(m.Season) || cap(m.Week.Slots) != len(m.Week.Slots) {
		t.Errorf("the new term keeps a season of %d slots in an array of %d and %d weekly slots in one of %d; want no room beyond them",
			len(m.Season), cap(m.Season), len(m.Week.Slots), cap(m.Week.Slots))
	}
}
