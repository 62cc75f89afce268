package controlplane

import (
	"math"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
)

// capacityMetrics are the per-policy gauges that let a dashboard draw a
// group's capacity against its demand: the group's sizes, each metric's
// value, target and forecast, the proposals, the rule that bound the last
// decision, and the scaling actions by direction. Only the leader
// evaluates, so only the leader exports them; it drops them when it stops
// leading or the policy is deleted (forget).
type capacityMetrics struct {
	group     *prometheus.GaugeVec   // policy, state: desired, in_service, pending
	proposal  *prometheus.GaugeVec   // policy, source: reactive, predictive, recommended, desired
	value     *prometheus.GaugeVec   // policy, metric
	target    *prometheus.GaugeVec   // policy, metric
	forecast  *prometheus.GaugeVec   // policy, metric
	upper     *prometheus.GaugeVec   // policy, metric
	binding   *prometheus.GaugeVec   // policy, rule
	cost      *prometheus.GaugeVec   // policy, currency
	actions   *prometheus.CounterVec // policy, direction: out, in
	budget    *prometheus.CounterVec // policy
	instances []prometheus.Collector
	rules     []policy.Limit
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

func newCapacityMetrics() *capacityMetrics {
	m := &capacityMetrics{
		group: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_group_instances",
			Help: "The policy's instance group as the cloud reported it at the leader's last evaluation, by state: desired, in_service, pending."},
			[]string{"policy", "state"}),
		proposal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_proposed_instances",
			Help: "The leader's last decision's sizes, by source: reactive (largest fresh per-metric proposal), predictive (largest forecast proposal, 0 when none), recommended (before cooldowns, rate limits and bounds), desired (the final size)."},
			[]string{"policy", "source"}),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_metric_value",
			Help: "The metric value the leader's last evaluation used (absent while no sample has arrived)."},
			[]string{"policy", "metric"}),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_metric_target",
			Help: "The policy's target for the metric (per instance)."},
			[]string{"policy", "metric"}),
		forecast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_metric_forecast",
			Help: "The value the leader's last evaluation expects at now + the policy's lead (for cpu: utilization x in-service instances); absent when no forecast was made."},
			[]string{"policy", "metric"}),
		upper: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_metric_forecast_upper",
			Help: "The forecast's upper bound at the leader's last evaluation (forecast plus the recent bias and 1.645 standard deviations of the lead-ahead error); absent until enough forecasts are scored."},
			[]string{"policy", "metric"}),
		binding: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_binding_rule",
			Help: "1 for the rule that last changed the leader's last decision on its way to the desired size (none, tolerance, stale-data, stabilization, cooldown, rate-limit, bounds, flapping, schedule, budget), 0 for the others."},
			[]string{"policy", "rule"}),
		cost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "capstan_policy_hourly_cost",
			Help: "What the leader's last decision's desired size costs per hour at the policy's cost.per_instance_hour, in the policy's currency (label); absent for a policy without a cost."},
			[]string{"policy", "currency"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_policy_scaling_decisions_total",
			Help: "Evaluations of the leader that decided to resize the group, by direction (out, in)."},
			[]string{"policy", "direction"}),
		budget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_policy_budget_bound_total",
			Help: "Evaluations of the leader whose size the policy's budget capped: demand asked for more instances than budget.max_hourly_cost pays for."},
			[]string{"policy"}),
	}
	m.rules = bindingRules()
	m.instances = []prometheus.Collector{m.group, m.proposal, m.value, m.target, m.forecast, m.upper, m.binding, m.cost, m.actions, m.budget}
	return m
}

// collectors lists the metrics to register.
func (m *capacityMetrics) collectors() []prometheus.Collector { return m.instances }

// observe records one evaluation of p: the group gs as the cloud reported
// it, the inputs in and the decision d.
func (m *capacityMetrics) observe(p policy.Policy, gs cloud.GroupState, in policy.Inputs, d policy.Decision) {
	m.group.WithLabelValues(p.ID, "desired").Set(float64(gs.Desired))
	m.group.WithLabelValues(p.ID, "in_service").Set(float64(gs.InService))
	m.group.WithLabelValues(p.ID, "pending").Set(float64(gs.Pending))
	m.proposal.WithLabelValues(p.ID, "reactive").Set(float64(d.Reactive))
	m.proposal.WithLabelValues(p.ID, "predictive").Set(float64(d.Predictive))
	m.proposal.WithLabelValues(p.ID, "recommended").Set(float64(d.Recommended))
	m.proposal.WithLabelValues(p.ID, "desired").Set(float64(d.Desired))
	for i, pm := range p.Metrics {
		m.target.WithLabelValues(p.ID, pm.Name).Set(pm.Target)
		if in.Metrics[i].Present {
			m.value.WithLabelValues(p.ID, pm.Name).Set(in.Metrics[i].Value)
		} else {
			m.value.DeleteLabelValues(p.ID, pm.Name)
		}
		setOrDelete(m.forecast, p.ID, pm.Name, i < d.NumMetrics, d.Metrics[i].Forecast)
		setOrDelete(m.upper, p.ID, pm.Name, i < d.NumMetrics, d.Metrics[i].Upper)
	}
	for _, r := range m.rules {
		v := 0.0
		if d.Bound == r {
			v = 1
		}
		m.binding.WithLabelValues(p.ID, r.String()).Set(v)
	}
	// One series per policy: a currency changed by a new policy version
	// replaces the old one rather than leaving it behind.
	m.cost.DeletePartialMatch(prometheus.Labels{"policy": p.ID})
	if p.Cost.Priced() {
		m.cost.WithLabelValues(p.ID, p.Cost.Currency).Set(d.HourlyCost)
	}
	switch d.Action {
	case policy.ActionScaleOut:
		m.actions.WithLabelValues(p.ID, "out").Inc()
	case policy.ActionScaleIn:
		m.actions.WithLabelValues(p.ID, "in").Inc()
	}
	// Created at 0 for a budgeted policy so that increase() sees the
	// first capped evaluation.
	if p.Budget.IsZero() {
		m.budget.DeleteLabelValues(p.ID) // a budget removed by a new version
	} else if c := m.budget.WithLabelValues(p.ID); d.Bound == policy.LimitBudget {
		c.Inc()
	}
}

// forget drops the series of policy id, or of every policy when id is "".
func (m *capacityMetrics) forget(id string) {
	for _, c := range []interface {
		Reset()
		DeletePartialMatch(prometheus.Labels) int
	}{m.group, m.proposal, m.value, m.target, m.forecast, m.upper, m.binding, m.cost, m.actions, m.budget} {
		if id == "" {
			c.Reset()
		} else {
			c.DeletePartialMatch(prometheus.Labels{"policy": id})
		}
	}
}

// setOrDelete sets the gauge of (policy, metric) to v when ok and v is a
// finite number (NaN means "none" in a decision), else removes it, so a
// missing value reads as absent rather than as 0.
func setOrDelete(g *prometheus.GaugeVec, policy, metric string, ok bool, v float64) {
	if ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
		g.WithLabelValues(policy, metric).Set(v)
		return
	}
	g.DeleteLabelValues(policy, metric)
}
