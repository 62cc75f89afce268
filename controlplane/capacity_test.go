package controlplane

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

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

	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	in.Metrics[0].Time = now.Add(-30 * time.Second)
	reg := prometheus.NewRegistry()
	m := newPolicySeries()
	reg.MustRegister(m)
	m.observe(p, cloud.GroupState{Desired: 4, InService: 3, Pending: 1}, in, d, now)
	d.Action, d.Bound = policy.ActionScaleIn, policy.LimitCooldown
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	d.Action, d.Bound = policy.ActionHold, policy.LimitBudget
	d.Metrics[1].Stale = true
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	none := policy.Decision{NumMetrics: 1}
	none.Metrics[0].Forecast, none.Metrics[0].Upper = math.NaN(), math.NaN()
	m.observe(other, cloud.GroupState{Desired: 1}, policy.Inputs{}, none, now)

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
		family, series string
		want           float64
	}{
		{"capstan_policy_proposed_instances", "policy=web,source=reactive", 5},
		{"capstan_policy_proposed_instances", "policy=web,source=predictive", 7},
		{"capstan_policy_proposed_instances", "policy=web,source=recommended", 7},
		{"capstan_policy_proposed_instances", "policy=web,source=desired", 6},
		{"capstan_policy_metric_value", "metric=cpu,policy=web", 75},
		{"capstan_policy_metric_target", "metric=cpu,policy=web", 60},
		{"capstan_policy_metric_target", "metric=rps,policy=web", 100},
		{"capstan_policy_metric_forecast", "metric=cpu,policy=web", 390},
		{"capstan_policy_metric_forecast_upper", "metric=cpu,policy=web", 420},
		{"capstan_policy_binding_rule", "policy=web,rule=budget", 1},
		{"capstan_policy_binding_rule", "policy=web,rule=cooldown", 0},
		{"capstan_policy_binding_rule", "policy=web,rule=rate-limit", 0},
		{"capstan_policy_binding_rule", "policy=batch,rule=none", 1},
		{"capstan_policy_hourly_cost", "currency=EUR,policy=web", 3},
		{"capstan_policy_scaling_decisions_total", "direction=out,policy=web", 1},
		{"capstan_policy_scaling_decisions_total", "direction=in,policy=web", 1},
		{"capstan_policy_budget_bound_total", "policy=web", 2},
		{"capstan_metric_stale", "metric=cpu,policy=web", 0},
		{"capstan_metric_stale", "metric=rps,policy=web", 1},
		{"capstan_metric_age_seconds", "metric=cpu,policy=web", 30},
	}
	for _, c := range checks {
		got, ok := gatherSeries(t, reg, c.family)[c.series]
		if !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", c.family, c.series, got, ok, c.want)
		}
	}
	count := func(family string) int { return len(gatherSeries(t, reg, family)) }
	// Absent for the unpriced batch policy: one series, web's.
	if n := count("capstan_policy_hourly_cost"); n != 1 {
		t.Errorf("capstan_policy_hourly_cost has %d series, want 1 (only web is priced)", n)
	}
	// Only the budgeted web policy has a budget series, until a new
	// version of it drops the budget.
	if n := count("capstan_policy_budget_bound_total"); n != 1 {
		t.Errorf("capstan_policy_budget_bound_total has %d series, want 1 (only web has a budget)", n)
	}
	unbudgeted := p
	unbudgeted.Budget = policy.Budget{}
	m.observe(unbudgeted, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	if n := count("capstan_policy_budget_bound_total"); n != 0 {
		t.Errorf("capstan_policy_budget_bound_total has %d series after the budget was dropped, want 0", n)
	}
	m.observe(p, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	if got := gatherSeries(t, reg, "capstan_policy_budget_bound_total")["policy=web"]; got != 1 {
		t.Errorf("capstan_policy_budget_bound_total = %v after the budget came back, want 1 (counted afresh)", got)
	}
	// Absent, not zero: rps has no sample and no forecast.
	for _, family := range []string{"capstan_policy_metric_value", "capstan_metric_age_seconds", "capstan_policy_metric_forecast", "capstan_policy_metric_forecast_upper"} {
		if n := count(family); n != 1 {
			t.Errorf("%s has %d series, want 1 (only web/cpu has a sample and a forecast)", family, n)
		}
	}
	// A new version without rps drops rps's series.
	cpuOnly := p
	cpuOnly.Metrics = p.Metrics[:1]
	m.observe(cpuOnly, cloud.GroupState{Desired: 6, InService: 4, Pending: 2}, in, d, now)
	for _, family := range []string{"capstan_policy_metric_target", "capstan_metric_stale"} {
		if _, ok := gatherSeries(t, reg, family)["metric=rps,policy=web"]; ok {
			t.Errorf("%s still has rps after a version without it", family)
		}
	}
	// The rule label is bounded: one series per named rule and policy,
	// every rule the engine names and nothing else.
	rules := bindingRules()
	if n := count("capstan_policy_binding_rule"); n != 2*len(rules) {
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
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "policy" && l.GetValue() != "batch" {
					t.Errorf("%s still has a %s series after forget", mf.GetName(), l.GetValue())
				}
			}
		}
	}
	if n := count("capstan_group_instances"); n != 3 {
		t.Errorf("capstan_group_instances has %d series after forgetting web, want batch's 3", n)
	}
	m.forget("")
	if n := testutil.CollectAndCount(m); n != 0 {
		t.Errorf("%d series left after forgetting every policy", n)
	}
}

// gatherSeries returns the values of one family's series in reg, by
// their labels as "name=value,..." in name order.
func gatherSeries(t *testing.T, reg prometheus.Gatherer, family string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := s.GetGauge().GetValue()
			if s.Counter != nil {
				v = s.GetCounter().GetValue()
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

// TestPolicySeriesCollectedInOrder: each family's series leave Collect in
// the order the registry sorts them into (label values, labels by name),
// which keeps a scrape's sort linear; a new rule, source or label must
// keep it so.
func TestPolicySeriesCollectedInOrder(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	m := newPolicySeries()
	for i, id := range []string{"web", "api", "batch", "queue"} {
		p := policy.Policy{ID: id, Metrics: []policy.Metric{{Name: "rps", Target: 100}, {Name: "cpu", Target: 60}},
			Cost: policy.Cost{PerInstanceHour: 1, Currency: []string{"USD", "EUR"}[i%2]}, Budget: policy.Budget{MaxHourlyCost: 9}}
		in := policy.Inputs{}
		in.Metrics[0] = policy.Sample{Time: now, Value: 1, Present: true}
		in.Metrics[1] = policy.Sample{Time: now, Value: 2, Present: true}
		d := policy.Decision{NumMetrics: 2, Action: []policy.Action{policy.ActionScaleOut, policy.ActionScaleIn}[i%2]}
		m.observe(p, cloud.GroupState{Desired: i}, in, d, now)
		d.Action = policy.ActionScaleOut
		m.observe(p, cloud.GroupState{Desired: i}, in, d, now)
	}
	ch := make(chan prometheus.Metric, 1000)
	m.Collect(ch)
	close(ch)
	last := map[string][]string{}
	families := 0
	for c := range ch {
		var pb dto.Metric
		if err := c.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, l := range pb.GetLabel() { // in name order
			values = append(values, l.GetValue())
		}
		name := c.Desc().String()
		if prev, ok := last[name]; ok && slices.Compare(prev, values) >= 0 {
			t.Errorf("%s: %v sent after %v", name, values, prev)
		} else if !ok {
			families++
		}
		last[name] = values
	}
	if families != 12 {
		t.Errorf("%d families collected, want all 12", families)
	}
}
