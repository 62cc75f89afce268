package controlplane

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
)

// policySeries exports the per-policy series of the leader's last
// evaluation of each policy: the freshness of each metric, and the gauges
// that let a dashboard draw a group's capacity against its demand (the
// group's sizes, each metric's value, target and forecast, the proposals,
// the rule that bound the last decision, the hourly cost) and the scaling
// actions by direction. Only the leader evaluates, so only the leader
// exports them; it drops them when it stops leading or the policy is
// deleted (forget).
//
// It is a prometheus.Collector that builds the series at scrape time from
// one small record per policy, which each evaluation overwrites in place.
// Held as GaugeVec children, the 26 series of each of 10,000 policies took
// 108 MB of the leader's heap (BenchmarkPolicyGauges), each child keeping
// its label values, label pairs and hash.
type policySeries struct {
	// sortedRules are bindingRules by name, the order a scrape sends
	// them in.
	sortedRules []policy.Limit

	// The families, one Desc each.
	group, proposal, value, target, forecast, upper, binding, cost, actions, budget, stale, age *prometheus.Desc

	mu       sync.Mutex
	policies map[string]*policyRecord
}

// policyRecord is what the series of one policy are built from.
type policyRecord struct {
	// group: desired, in_service, pending; proposal: reactive,
	// predictive, recommended, desired.
	group    [3]float64
	proposal [4]float64
	metrics  []metricRecord
	bound    policy.Limit
	// currency is empty for a policy without a cost (no series).
	currency string
	cost     float64
	// out and in count the evaluations that decided to resize, by
	// direction; a direction's series appears with its first one.
	out, in float64
	// budgeted: the policy has a budget, so its budget series exists
	// (from 0); budgetBound counts the evaluations it capped.
	budgeted    bool
	budgetBound float64
}

// metricRecord is one policy metric at the last evaluation. NaN marks a
// series that is absent (no sample, no forecast).
type metricRecord struct {
	name                           string
	target, value, forecast, upper float64
	stale                          bool
	age                            float64
}

// bindingRules are the values of the rule label of
// capstan_policy_binding_rule: every named policy.Limit (those whose
// name is not the "limit(N)" fallback), so the label is bounded and a
// rule that did not bind reads 0 rather than vanishing. Limits the engine
// adds later are picked up by name.
func bindingRules() []policy.Limit {
	var out []policy.Limit
	for l := policy.LimitNone; l < math.MaxUint8; l++ {
		if !strings.HasPrefix(l.String(), "limit(") {
			out = append(out, l)
		}
	}
	return out
}

func newPolicySeries() *policySeries {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"policy"}, labels...), nil)
	}
	return &policySeries{
		sortedRules: slices.SortedFunc(slices.Values(bindingRules()), func(a, b policy.Limit) int { return strings.Compare(a.String(), b.String()) }),
		group: desc("capstan_group_instances",
			"The policy's instance group as the cloud reported it at the leader's last evaluation, by state: desired, in_service, pending.", "state"),
		proposal: desc("capstan_policy_proposed_instances",
			"The leader's last decision's sizes, by source: reactive (largest fresh per-metric proposal), predictive (largest forecast proposal, 0 when none), recommended (before cooldowns, rate limits and bounds), desired (the final size).", "source"),
		value: desc("capstan_policy_metric_value",
			"The metric value the leader's last evaluation used (absent while no sample has arrived).", "metric"),
		target: desc("capstan_policy_metric_target",
			"The policy's target for the metric (per instance).", "metric"),
		forecast: desc("capstan_policy_metric_forecast",
			"The value the leader's last evaluation expects at now + the policy's lead (for cpu: utilization x in-service instances); absent when no forecast was made.", "metric"),
		upper: desc("capstan_policy_metric_forecast_upper",
			"The forecast's upper bound at the leader's last evaluation (forecast plus the recent bias and 1.645 standard deviations of the lead-ahead error); absent until enough forecasts are scored.", "metric"),
		binding: desc("capstan_policy_binding_rule",
			"1 for the rule that last changed the leader's last decision on its way to the desired size (none, tolerance, stale-data, stabilization, cooldown, rate-limit, bounds, flapping, schedule, budget), 0 for the others.", "rule"),
		cost: desc("capstan_policy_hourly_cost",
			"What the leader's last decision's desired size costs per hour at the policy's cost.per_instance_hour, in the policy's currency (label); absent for a policy without a cost.", "currency"),
		actions: desc("capstan_policy_scaling_decisions_total",
			"Evaluations of the leader that decided to resize the group, by direction (out, in).", "direction"),
		budget: desc("capstan_policy_budget_bound_total",
			"Evaluations of the leader whose size the policy's budget capped: demand asked for more instances than budget.max_hourly_cost pays for."),
		stale: desc("capstan_metric_stale",
			"1 while a policy metric's newest sample is missing or older than the policy's stale_after (no scale-in then), else 0; exported by the leader.", "metric"),
		age: desc("capstan_metric_age_seconds",
			"Age of a policy metric's newest sample at the leader's last evaluation; absent while no sample has arrived.", "metric"),
		policies: map[string]*policyRecord{},
	}
}

// observe records one evaluation of p at now: the group gs as the cloud
// reported it, the inputs in and the decision d. It allocates only for a
// policy it has not seen or whose metrics grew.
func (m *policySeries) observe(p policy.Policy, gs cloud.GroupState, in policy.Inputs, d policy.Decision, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.policies[p.ID]
	if r == nil {
		r = &policyRecord{}
		m.policies[p.ID] = r
	}
	r.group = [3]float64{float64(gs.Desired), float64(gs.InService), float64(gs.Pending)}
	r.proposal = [4]float64{float64(d.Reactive), float64(d.Predictive), float64(d.Recommended), float64(d.Desired)}
	r.bound = d.Bound
	// A new policy version may rename or drop metrics: their series go.
	r.metrics = r.metrics[:0]
	for i, pm := range p.Metrics {
		mr := metricRecord{name: pm.Name, target: pm.Target, value: math.NaN(), age: math.NaN(),
			forecast: finiteOrNaN(i < d.NumMetrics, d.Metrics[i].Forecast), upper: finiteOrNaN(i < d.NumMetrics, d.Metrics[i].Upper),
			stale: d.Metrics[i].Stale}
		if in.Metrics[i].Present {
			mr.value, mr.age = in.Metrics[i].Value, now.Sub(in.Metrics[i].Time).Seconds()
		}
		r.metrics = append(r.metrics, mr)
	}
	// One series per policy: a currency changed by a new policy version
	// replaces the old one rather than leaving it behind.
	r.currency, r.cost = "", 0
	if p.Cost.Priced() {
		r.currency, r.cost = p.Cost.Currency, d.HourlyCost
	}
	switch d.Action {
	case policy.ActionScaleOut:
		r.out++
	case policy.ActionScaleIn:
		r.in++
	}
	// Present from 0 for a budgeted policy so that increase() sees the
	// first capped evaluation; a budget removed by a new version removes
	// the series, and its count.
	if p.Budget.IsZero() {
		r.budgeted, r.budgetBound = false, 0
	} else {
		r.budgeted = true
		if d.Bound == policy.LimitBudget {
			r.budgetBound++
		}
	}
}

// finiteOrNaN is v when ok and v is a finite number (NaN means "none" in
// a decision), else NaN: the series is then absent rather than 0.
func finiteOrNaN(ok bool, v float64) float64 {
	if ok && !math.IsInf(v, 0) {
		return v
	}
	return math.NaN()
}

// forget drops the series of policy id, or of every policy when id is "".
func (m *policySeries) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == "" {
		clear(m.policies)
		return
	}
	delete(m.policies, id)
}

// Describe sends the families' descriptions (prometheus.Collector).
func (m *policySeries) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.group, m.proposal, m.value, m.target, m.forecast, m.upper, m.binding, m.cost,
		m.actions, m.budget, m.stale, m.age} {
		ch <- d
	}
}

// Collect builds every policy's series from a copy of the records taken
// under the lock, so that evaluations are not held up for the scrape
// (prometheus.Collector). Each family's series go out in the order the
// registry sorts them into (by label values, the labels in name order),
// which makes its sort a linear pass: the sort of 260,000 series in
// arbitrary order was a third of a scrape's CPU.
func (m *policySeries) Collect(ch chan<- prometheus.Metric) {
	type entry struct {
		id string
		r  policyRecord
	}
	m.mu.Lock()
	entries := make([]entry, 0, len(m.policies))
	for id, r := range m.policies {
		e := entry{id: id, r: *r}
		e.r.metrics = slices.Clone(r.metrics)
		entries = append(entries, e)
	}
	m.mu.Unlock()
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.id, b.id) })

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	// {policy, ...}: by policy, then the second label's values in order.
	for _, e := range entries {
		for i, state := range [...]string{"desired", "in_service", "pending"} {
			gauge(m.group, e.r.group[i], e.id, state)
		}
	}
	// The sources of policyRecord.proposal, and the order of their names.
	sources := [...]string{"reactive", "predictive", "recommended", "desired"}
	for _, e := range entries {
		for _, i := range [...]int{3, 1, 0, 2} {
			gauge(m.proposal, e.r.proposal[i], e.id, sources[i])
		}
	}
	for _, e := range entries {
		for _, rule := range m.sortedRules {
			v := 0.0
			if e.r.bound == rule {
				v = 1
			}
			gauge(m.binding, v, e.id, rule.String())
		}
	}
	for _, e := range entries {
		if e.r.budgeted {
			counter(m.budget, e.r.budgetBound, e.id)
		}
	}
	// {direction, policy}: in before out.
	for _, e := range entries {
		if e.r.in > 0 {
			counter(m.actions, e.r.in, e.id, "in")
		}
	}
	for _, e := range entries {
		if e.r.out > 0 {
			counter(m.actions, e.r.out, e.id, "out")
		}
	}
	// {currency, policy}: by currency, then policy.
	priced := make([]int, 0, len(entries))
	for i := range entries {
		if entries[i].r.currency != "" {
			priced = append(priced, i)
		}
	}
	slices.SortStableFunc(priced, func(a, b int) int { return strings.Compare(entries[a].r.currency, entries[b].r.currency) })
	for _, i := range priced {
		gauge(m.cost, entries[i].r.cost, entries[i].id, entries[i].r.currency)
	}
	// {metric, policy}: by metric name, then policy.
	type ref struct{ e, m int }
	refs := make([]ref, 0, 2*len(entries))
	for i := range entries {
		for j := range entries[i].r.metrics {
			refs = append(refs, ref{i, j})
		}
	}
	metric := func(r ref) *metricRecord { return &entries[r.e].r.metrics[r.m] }
	slices.SortStableFunc(refs, func(a, b ref) int { return strings.Compare(metric(a).name, metric(b).name) })
	for _, f := range []struct {
		d *prometheus.Desc
		v func(*metricRecord) float64
	}{
		{m.value, func(mr *metricRecord) float64 { return mr.value }},
		{m.target, func(mr *metricRecord) float64 { return mr.target }},
		{m.forecast, func(mr *metricRecord) float64 { return mr.forecast }},
		{m.upper, func(mr *metricRecord) float64 { return mr.upper }},
		{m.age, func(mr *metricRecord) float64 { return mr.age }},
		{m.stale, func(mr *metricRecord) float64 {
			if mr.stale {
				return 1
			}
			return 0
		}},
	} {
		for _, r := range refs {
			// NaN: absent (no sample, no forecast).
			if v := f.v(metric(r)); !math.IsNaN(v) {
				gauge(f.d, v, entries[r.e].id, metric(r).name)
			}
		}
	}
}
