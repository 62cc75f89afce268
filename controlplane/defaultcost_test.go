package controlplane

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/policy"
)

// TestDefaultCostPricesUnpricedPolicies: a policy without a cost of its
// own is priced at the agent's default price for its provider, in the
// decision history every node shows and in capstan_policy_hourly_cost; a
// policy's own cost wins, and a provider without a default stays unpriced.
func TestDefaultCostPricesUnpricedPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		defaults map[string]policy.Cost
		own      policy.Cost
		want     float64 // per hour for the 3 instances of min
		currency string
	}{
		{"unpriced takes its provider's default", map[string]policy.Cost{"fake": {PerInstanceHour: 0.25, Currency: "EUR"}}, policy.Cost{}, 0.75, "EUR"},
		{"its own cost wins", map[string]policy.Cost{"fake": {PerInstanceHour: 0.25, Currency: "EUR"}}, policy.Cost{PerInstanceHour: 1, Currency: "USD"}, 3, "USD"},
		{"no default for its provider", map[string]policy.Cost{"aws": {PerInstanceHour: 0.25, Currency: "EUR"}}, policy.Cost{}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, clusterOptions{defaultCosts: tt.defaults})
			_, l := c.leader()
			p := webPolicy(t, 3)
			p.Cost = tt.own
			if _, err := l.PutPolicy(ctx, p, ""); err != nil {
				t.Fatal(err)
			}
			c.waitFor("the group to reach the policy's minimum", c.groupAt(3))
			c.converged(0, 1, 2)
			for i, n := range c.nodes {
				// The decision is committed after the call that reached
				// the group, so the nodes can agree before it is there.
				var ds []policy.Record
				c.waitFor(fmt.Sprintf("node %d's decision", i), func() bool {
					ds, _ = n.Decisions(ctx, "web", 10)
					return len(ds) > 0
				})
				if got := ds[0].HourlyCost; got != tt.want || ds[0].Desired != 3 {
					t.Fatalf("node %d: decision to %d at %v per hour, want 3 at %v", i, ds[0].Desired, got, tt.want)
				}
			}
			want := ""
			if tt.currency != "" {
				want = fmt.Sprintf(`
# HELP capstan_policy_hourly_cost What the leader's last decision's desired size costs per hour at the policy's cost.per_instance_hour, in the policy's currency (label); absent for a policy without a cost.
# TYPE capstan_policy_hourly_cost gauge
capstan_policy_hourly_cost{currency=%q,policy="web"} %v
`, tt.currency, tt.want)
			}
			if err := testutil.CollectAndCompare(l.metrics.policies, strings.NewReader(want), "capstan_policy_hourly_cost"); err != nil {
				t.Fatal(err)
			}
			// The stored policy is the one written: the default prices
			// evaluations, it does not rewrite the policy.
			if v, _ := l.fsm.view("web"); v.Record.Policy.Cost != tt.own {
				t.Fatalf("stored cost %+v, want %+v", v.Record.Policy.Cost, tt.own)
			}
		})
	}
}
