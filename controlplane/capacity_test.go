package controlplane

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
)

// TestCapacityMetrics checks the per-policy capacity gauges one
// evaluation sets, the binding-rule enum, the action counters by
// direction, and that forgetting a policy drops its series.
func TestCapacityMetrics(t *testing.T) {
	p := policy.Policy{ID: "web", Metrics: []policy.Metric{{Name: "cpu", Type: "cpu", Target: 60}, {Name: "rps", Type: "request_rate", Target: 100}},
		Cost: policy.Cost{PerInstanceHour: 0.5, Currency: "EUR"}, Budget: policy.Budget{MaxHourlyCost: 3}}
	other := policy.Policy{ID: "batch", Metrics: []policy.Metric{{Name: "queue", Target: 10}}}
	in := policy.Inputs{Current: 4, Ready: 3}
	in.Metrics[0] = policy.Sample{Value: 75, Present: true}
	d := policy.Decision{Reactive: 5, Predictive: 7, Recommended: 7, Desired: 6, Action: policy.ActionScaleOut, Bound: policy.LimitRateLimit, NumMetrics: 2, HourlyCost: 3}
	d.Metrics[0].Forecast, d.Metrics[0].Upper = 390, 420
	d.Metrics[1].Forecast, d.Metrics[1].Upper = math.NaN(), math.NaN()

	reg := prometheus.NewRegistry()
	m := newCapacityMetrics()
	for _, c := range m.collectors() {
		reg.MustRegister(c)
	}
	m.observe(p, cloud.GroupState{Desired: 4, InService: 3, Pending: 1}, in, d)
	d.Action, d.Bound = policy.ActionScaleIn, policy.LimitCooldown
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d)
	d.Action, d.Bound = policy.ActionHold, policy.LimitBudget
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d)
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d)
	none := policy.Decision{NumMetrics: 1}
	none.Metrics[0].Forecast, none.Metrics[0].Upper = math.NaN(), math.NaN()
	m.observe(other, cloud.GroupState{Desired: 1}, policy.Inputs{}, none)

	want := `
# HELP capstan_group_instances The policy's instance group as the cloud reported it at the leader's last evaluation, by state: desired, in_service, pending.
# TYPE capstan_group_instances gauge
capstan_group_instances{policy="batch",state="desired"} 1
capstan_group_instances{policy="batch",state="in_service"} 0
capstan_group_instances{policy="batch",state="pending"} 0
capstan_group_instances{policy="web",state="desired"} 6
capstan_group_instances{policy="web",state="in_service"} 4
capstan_group_instances{policy="web",state="pending"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "capstan_group_instances"); err != nil {
		t.Error(err)
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"proposal reactive", []string{"web", "reactive"}, 5},
		{"proposal predictive", []string{"web", "predictive"}, 7},
		{"proposal recommended", []string{"web", "recommended"}, 7},
		{"proposal desired", []string{"web", "desired"}, 6},
		{"value cpu", []string{"web", "cpu"}, 75},
		{"target cpu", []string{"web", "cpu"}, 60},
		{"target rps", []string{"web", "rps"}, 100},
		{"forecast cpu", []string{"web", "cpu"}, 390},
		{"upper cpu", []string{"web", "cpu"}, 420},
		{"binding budget", []string{"web", "budget"}, 1},
		{"binding cooldown", []string{"web", "cooldown"}, 0},
		{"binding rate-limit", []string{"web", "rate-limit"}, 0},
		{"binding none (batch)", []string{"batch", "none"}, 1},
		{"cost web", []string{"web", "EUR"}, 3},
		{"actions out", []string{"web", "out"}, 1},
		{"actions in", []string{"web", "in"}, 1},
		{"budget web", []string{"web"}, 2},
	}
	for _, c := range checks {
		var got float64
		switch {
		case strings.HasPrefix(c.name, "proposal"):
			got = testutil.ToFloat64(m.proposal.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "value"):
			got = testutil.ToFloat64(m.value.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "target"):
			got = testutil.ToFloat64(m.target.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "forecast"):
			got = testutil.ToFloat64(m.forecast.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "upper"):
			got = testutil.ToFloat64(m.upper.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "binding"):
			got = testutil.ToFloat64(m.binding.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "cost"):
			got = testutil.ToFloat64(m.cost.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "budget"):
			got = testutil.ToFloat64(m.budget.WithLabelValues(c.labels...))
		case strings.HasPrefix(c.name, "actions"):
			got = testutil.ToFloat64(m.actions.WithLabelValues(c.labels...))
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// Absent for the unpriced batch policy: one series, web's.
	if n := testutil.CollectAndCount(m.cost); n != 1 {
		t.Errorf("capstan_policy_hourly_cost has %d series, want 1 (only web is priced)", n)
	}
	// Only the budgeted web policy has a budget series, until a new
	// version of it drops the budget.
	if n := testutil.CollectAndCount(m.budget); n != 1 {
		t.Errorf("capstan_policy_budget_bound_total has %d series, want 1 (only web has a budget)", n)
	}
	unbudgeted := p
	unbudgeted.Budget = policy.Budget{}
	m.observe(unbudgeted, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d)
	if n := testutil.CollectAndCount(m.budget); n != 0 {
		t.Errorf("capstan_policy_budget_bound_total has %d series after the budget was dropped, want 0", n)
	}
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d)
	// Absent, not zero: rps has no sample and no forecast.
	if n := testutil.CollectAndCount(m.value); n != 1 {
		t.Errorf("capstan_policy_metric_value has %d series, want 1 (only web/cpu has a sample)", n)
	}
	for _, g := range []*prometheus.GaugeVec{m.forecast, m.upper} {
		if n := testutil.CollectAndCount(g); n != 1 {
			t.Errorf("forecast gauge has %d series, want 1 (only web/cpu has a forecast)", n)
		}
	}
	// The rule label is bounded: one series per named rule and policy,
	// every rule the engine names and nothing else.
	rules := bindingRules()
	if n := testutil.CollectAndCount(m.binding); n != 2*len(rules) {
		t.Errorf("capstan_policy_binding_rule: %d series for %d rules, want 2 policies x %d", n, len(rules), len(rules))
	}
	for _, want := range []policy.Limit{policy.LimitNone, policy.LimitTolerance, policy.LimitStaleData, policy.LimitStabilization,
		policy.LimitCooldown, policy.LimitRateLimit, policy.LimitBounds, policy.LimitFlapping, policy.LimitSchedule, policy.LimitBudget} {
		if !slices.Contains(rules, want) {
			t.Errorf("binding rules %v lack %s", rules, want)
		}
	}
	for _, r := range rules {
		if strings.HasPrefix(r.String(), "limit(") {
			t.Errorf("binding rule %s has no name", r)
		}
	}

	m.forget("web")
	for _, c := range m.collectors() {
		if err := testutil.CollectAndCompare(c, strings.NewReader("")); err == nil {
			continue
		}
		// Only batch's series may remain.
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			for _, s := range mf.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "policy" && l.GetValue() == "web" {
						t.Errorf("%s still has a web series after forget", mf.GetName())
					}
				}
			}
		}
	}
	m.forget("")
	for _, c := range m.collectors() {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("%d series left after forgetting every policy", n)
		}
	}
}
