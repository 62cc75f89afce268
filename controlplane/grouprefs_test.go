package controlplane

import (
	"fmt"
	"slices"
	"testing"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestAllGroupRefsInAStableOrder: every refresh lists the groups in the
// same order (sorted, each once), so its batch calls hold the same groups
// each time and their answers can repeat. In the policy map's order they
// came out shuffled at every call.
func TestAllGroupRefsInAStableOrder(t *testing.T) {
	f := NewFSM(10)
	for i := range 200 {
		id := fmt.Sprintf("p%03d", i)
		p := policy.Policy{ID: id, Target: policy.Target{Provider: "aws", Region: "eu-west-1", Group: fmt.Sprintf("g%03d", (i*7)%150)}}
		f.state.Policies[id] = &store.Policy{Record: store.PolicyRecord{Policy: p}}
	}
	first := f.allGroupRefs()
	if len(first) != 150 {
		t.Fatalf("%d groups, want 150 (each once)", len(first))
	}
	if !slices.IsSortedFunc(first, compareRefs) {
		t.Fatalf("groups not in order: %v", first[:5])
	}
	for range 5 {
		if again := f.allGroupRefs(); !slices.Equal(again, first) {
			t.Fatal("two listings of the same policies differ")
		}
	}
	if compareRefs(cloud.GroupRef{Provider: "aws", Group: "a"}, cloud.GroupRef{Provider: "aws", Group: "b"}) >= 0 {
		t.Fatal("compareRefs does not order by group")
	}
}
