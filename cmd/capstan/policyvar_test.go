package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/scoreboard"
)

// policyVariant is one policy setting the boards never use: a change to the
// convention's policy, with the fields it writes (so that ApplyDefaults
// keeps an explicit zero, and derives lead and stale_after from what the
// change set).
type policyVariant struct {
	name    string
	written []string
	apply   func(p *policy.Policy)
	// metrics, when 2, replays the trace as a second metric of the same
	// type at 0.8 times the demand.
	metrics int
}

func dur(d time.Duration) policy.Duration { return policy.Duration(d) }

// policyVariants are the settings the probe replays the twelve traces
// under, one at a time, beside the convention itself.
func policyVariants() []policyVariant {
	return []policyVariant{
		{name: "convention", apply: func(*policy.Policy) {}},
		{name: "warmup-60s", written: []string{"warmup", "predictive.lead"}, apply: func(p *policy.Policy) {
			p.Warmup, p.Predictive.Lead = dur(time.Minute), dur(time.Minute)
		}},
		{name: "warmup-5m", written: []string{"warmup", "predictive.lead"}, apply: func(p *policy.Policy) {
			p.Warmup, p.Predictive.Lead = dur(5*time.Minute), dur(5*time.Minute)
		}},
		{name: "warmup-10m", written: []string{"warmup", "predictive.lead"}, apply: func(p *policy.Policy) {
			p.Warmup, p.Predictive.Lead = dur(10*time.Minute), dur(10*time.Minute)
		}},
		{name: "lead-2x-warmup", written: []string{"predictive.lead"}, apply: func(p *policy.Policy) {
			p.Predictive.Lead = 2 * p.Warmup
		}},
		{name: "eval-15s", written: []string{"evaluation_interval"}, apply: func(p *policy.Policy) {
			p.EvaluationInterval = dur(15 * time.Second)
		}},
		{name: "eval-5m", written: []string{"evaluation_interval"}, apply: func(p *policy.Policy) {
			p.EvaluationInterval = dur(5 * time.Minute)
		}},
		{name: "stabilization-0", written: []string{"scale_in.stabilization"}, apply: func(p *policy.Policy) {
			p.ScaleIn.Stabilization = 0
		}},
		{name: "stabilization-15m", written: []string{"scale_in.stabilization"}, apply: func(p *policy.Policy) {
			p.ScaleIn.Stabilization = dur(15 * time.Minute)
		}},
		{name: "stabilization-60s", written: []string{"scale_in.stabilization"}, apply: func(p *policy.Policy) {
			p.ScaleIn.Stabilization = dur(time.Minute)
		}},
		{name: "warmup-10m-stab-0", written: []string{"warmup", "predictive.lead", "scale_in.stabilization"}, apply: func(p *policy.Policy) {
			p.Warmup, p.Predictive.Lead, p.ScaleIn.Stabilization = dur(10*time.Minute), dur(10*time.Minute), 0
		}},
		{name: "tolerance-0", written: []string{"tolerance"}, apply: func(p *policy.Policy) { p.Tolerance = 0 }},
		{name: "tolerance-0.2", written: []string{"tolerance"}, apply: func(p *policy.Policy) { p.Tolerance = 0.2 }},
		{name: "scale-out-cooldown-5m", written: []string{"scale_out.cooldown"}, apply: func(p *policy.Policy) {
			p.ScaleOut.Cooldown = dur(5 * time.Minute)
		}},
		{name: "cooldown-5m-lead-8m", written: []string{"scale_out.cooldown", "predictive.lead"}, apply: func(p *policy.Policy) {
			// The README's advice: the lead covers the warmup and the cooldown.
			p.ScaleOut.Cooldown, p.Predictive.Lead = dur(5*time.Minute), p.Warmup+dur(5*time.Minute)
		}},
		{name: "scale-in-1-per-5m", written: []string{"scale_in.max_step.instances", "scale_in.max_step.percent", "scale_in.max_step.period"},
			apply: func(p *policy.Policy) {
				p.ScaleIn.MaxStep = policy.MaxStep{Instances: 1, Period: dur(5 * time.Minute)}
			}},
		{name: "scale-in-cooldown-10m", written: []string{"scale_in.cooldown"}, apply: func(p *policy.Policy) {
			p.ScaleIn.Cooldown = dur(10 * time.Minute)
		}},
		{name: "scale-out-1-per-min", written: []string{"scale_out.max_step.instances", "scale_out.max_step.percent"},
			apply: func(p *policy.Policy) {
				p.ScaleOut.MaxStep.Instances, p.ScaleOut.MaxStep.Percent = 1, 0
			}},
		{name: "lead-half-warmup", written: []string{"predictive.lead"}, apply: func(p *policy.Policy) {
			p.Predictive.Lead = p.Warmup / 2
		}},
		{name: "min-5", apply: func(p *policy.Policy) { p.Min = 5 }},
		{name: "target-0.5x", apply: func(p *policy.Policy) { p.Metrics[0].Target *= 0.5 }},
		{name: "target-2x", apply: func(p *policy.Policy) {
			// A cpu target stays a utilization: at most 100 %.
			p.Metrics[0].Target *= 2
			if p.Metrics[0].Type == policy.MetricCPU {
				p.Metrics[0].Target = min(p.Metrics[0].Target, 100)
			}
		}},
		{name: "max-extra-none", apply: func(p *policy.Policy) { p.Predictive.MaxExtra = policy.NoMaxExtra }},
		{name: "max-extra-20%", apply: func(p *policy.Policy) { p.Predictive.MaxExtra = 20 }},
		{name: "two-metrics", metrics: 2, apply: func(p *policy.Policy) {
			m := p.Metrics[0]
			m.Name = "demand_08"
			p.Metrics = append(p.Metrics, m)
		}},
	}
}

// variantPolicy is the convention's policy for a trace with v applied
// before the defaults, as a policy file naming those fields would be.
func variantPolicy(t scoreboard.Trace, values []float64, v policyVariant) (policy.Policy, int, error) {
	conv, recorded, err := scoreboard.Policy(t, values)
	if err != nil {
		return policy.Policy{}, 0, err
	}
	p := policy.Policy{ID: conv.ID, Target: conv.Target, Min: conv.Min, Max: conv.Max,
		Metrics: append([]policy.Metric(nil), conv.Metrics...), Warmup: conv.Warmup,
		EvaluationInterval: conv.EvaluationInterval,
		Predictive: policy.Predictive{Mode: conv.Predictive.Mode, Lead: conv.Predictive.Lead,
			Season: conv.Predictive.Season}}
	v.apply(&p)
	p.ApplyDefaults(func(path string) bool {
		return scoreboard.ConventionWrites(path) || slices.Contains(v.written, path)
	})
	if err := p.Validate(); err != nil {
		return policy.Policy{}, 0, fmt.Errorf("%s under %s: %w", t.Name, v.name, err)
	}
	return p, recorded, nil
}

// probeRow is one trace under one setting: the three runs' summaries.
type probeRow struct {
	Setting  string           `json:"setting"`
	Trace    string           `json:"trace"`
	Baseline simulate.Summary `json:"baseline"`
	Off      simulate.Summary `json:"off"`
	Forecast simulate.Summary `json:"forecast"`
}

// findings are what the probe flags in a row: the forecast clearly worse
// than prediction off, or a run that looks pathological.
func (r probeRow) findings() []string {
	return append(r.worseThanOff(), r.pathologies()...)
}

// worseThanOff flags the forecast run clearly worse than prediction off:
// under-provisioned samples more than 10 % above off's (and at least 5
// more), instance-hours more than 6 % above, or actions more than 1.3
// times off's (and at least 5 more).
func (r probeRow) worseThanOff() []string {
	var out []string
	o, f := r.Off, r.Forecast
	if float64(f.UnderProvisionedSamples) > 1.1*float64(o.UnderProvisionedSamples) && f.UnderProvisionedSamples-o.UnderProvisionedSamples >= 5 {
		out = append(out, fmt.Sprintf("under %d>off %d", f.UnderProvisionedSamples, o.UnderProvisionedSamples))
	}
	if f.InstanceHours > 1.06*o.InstanceHours {
		out = append(out, fmt.Sprintf("inst-h %.3fx off", f.InstanceHours/o.InstanceHours))
	}
	if float64(f.Actions()) > 1.3*float64(o.Actions()) && f.Actions()-o.Actions() >= 5 {
		out = append(out, fmt.Sprintf("actions %.2fx off", float64(f.Actions())/float64(max(1, o.Actions()))))
	}
	return out
}

// pathologies flags a run (prediction off or forecast) that looks
// pathological against the reference: instance-hours above 1.5 times its,
// actions a day above twice its (and above 20), or no scale-in at all.
func (r probeRow) pathologies() []string {
	var out []string
	o, f, b := r.Off, r.Forecast, r.Baseline
	for _, run := range []struct {
		name string
		s    simulate.Summary
	}{{"off", o}, {"fc", f}} {
		if run.s.InstanceHours > 1.5*b.InstanceHours {
			out = append(out, fmt.Sprintf("%s inst-h %.2fx ref", run.name, run.s.InstanceHours/b.InstanceHours))
		}
		if run.s.ActionsPerDay > 2*b.ActionsPerDay && run.s.ActionsPerDay > 20 {
			out = append(out, fmt.Sprintf("%s %.0f acts/day (ref %.0f)", run.name, run.s.ActionsPerDay, b.ActionsPerDay))
		}
		if run.s.ScaleIns == 0 && b.ScaleIns > 0 {
			out = append(out, run.name+" never scales in")
		}
	}
	return out
}

// probeReplay replays s three times under p (the reference, forecast, and
// prediction off); v says whether s gets the second metric.
func probeReplay(v policyVariant, name string, p policy.Policy, recorded int, s simulate.Series) (probeRow, error) {
	if v.metrics == 2 {
		second := make([]float64, len(s.Values[0]))
		for i, x := range s.Values[0] {
			second[i] = 0.8 * x
		}
		s = simulate.Series{Times: s.Times, Values: [][]float64{s.Values[0], second}}
	}
	row := probeRow{Setting: v.name, Trace: name}
	rs, err := scoreboard.ReplayPolicy(p, recorded, s, true)
	if err != nil {
		return row, err
	}
	row.Baseline, row.Forecast, row.Off = rs.Baseline.Summary, rs.Forecast.Summary, rs.Off.Summary
	return row, nil
}

// TestPolicyVariantsProbe replays the twelve board traces under policy
// settings the boards never use (warmups, intervals, windows, tolerances,
// cooldowns, rate limits, floors, targets, two metrics) and prints, per
// setting, the rows where the forecast run is clearly worse than
// prediction off or a run looks pathological. It replays about 860 runs,
// so it runs only when CAPSTAN_POLICYVAR names a file to write the rows to
// (JSON); CAPSTAN_POLICYVAR_ONLY limits it to comma-separated settings,
// and CAPSTAN_POLICYVAR_HELDOUT=1 replays the held-out board's variants of
// the traces instead (scoreboard.Variants, each under the convention's
// target for it, as that board does).
func TestPolicyVariantsProbe(t *testing.T) {
	out := os.Getenv("CAPSTAN_POLICYVAR")
	if out == "" {
		t.Skip("set CAPSTAN_POLICYVAR=FILE to run the policy-settings probe")
	}
	only := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("CAPSTAN_POLICYVAR_ONLY"), ",") {
		if s != "" {
			only[s] = true
		}
	}
	heldOut := []scoreboard.Variant{{}} // the trace as recorded
	if os.Getenv("CAPSTAN_POLICYVAR_HELDOUT") != "" {
		heldOut = scoreboard.Variants()
	}
	series := map[string]simulate.Series{}
	for _, tr := range scoreboard.Traces() {
		s, err := loadSeries(filepath.Join("..", "..", "examples", "traces", tr.Name))
		if err != nil {
			t.Fatal(err)
		}
		series[tr.Name] = s
	}
	var (
		mu   sync.Mutex
		rows []probeRow
		jobs []scoreJob
	)
	for _, v := range policyVariants() {
		if len(only) > 0 && !only[v.name] {
			continue
		}
		for _, tr := range scoreboard.Traces() {
			for _, hv := range heldOut {
				jobs = append(jobs, func() error {
					s, convention := series[tr.Name], series[tr.Name].Values[0]
					div := 1.0
					name := tr.Name
					if hv.Name != "" {
						var ok bool
						if s, div, ok = hv.Derive(s); !ok {
							return nil
						}
						if !hv.TraceTarget {
							convention = s.Values[0]
						}
						name += "@" + hv.Name
					}
					p, recorded, err := variantPolicy(tr, convention, v)
					if err != nil {
						return err
					}
					p.Metrics[0].Target /= div
					row, err := probeReplay(v, name, p, recorded, s)
					if err != nil {
						return err
					}
					mu.Lock()
					rows = append(rows, row)
					mu.Unlock()
					return nil
				})
			}
		}
	}
	if err := runJobs(jobs, runtime.GOMAXPROCS(0)); err != nil {
		t.Fatal(err)
	}
	order := map[string]int{}
	for i, v := range policyVariants() {
		order[v.name] = i
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Setting != rows[j].Setting {
			return order[rows[i].Setting] < order[rows[j].Setting]
		}
		return rows[i].Trace < rows[j].Trace
	})
	data, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Per setting: the rows flagged, and the geometric means over the
	// twelve traces of the forecast's figures over off's and the
	// reference's (under-provisioned samples and actions plus one, so a
	// zero does not sink the mean).
	type agg struct {
		worse, patho                 int
		under, hours, acts, refUnder float64
		refHours, refActs, n         float64
		worst                        string
		worstRatio                   float64
	}
	aggs := map[string]*agg{}
	for _, r := range rows {
		a := aggs[r.Setting]
		if a == nil {
			a = &agg{}
			aggs[r.Setting] = a
		}
		plus := func(n int) float64 { return float64(n + 1) }
		a.n++
		a.under += math.Log(plus(r.Forecast.UnderProvisionedSamples) / plus(r.Off.UnderProvisionedSamples))
		a.hours += math.Log(r.Forecast.InstanceHours / r.Off.InstanceHours)
		a.acts += math.Log(plus(r.Forecast.Actions()) / plus(r.Off.Actions()))
		a.refUnder += math.Log(plus(r.Forecast.UnderProvisionedSamples) / plus(r.Baseline.UnderProvisionedSamples))
		a.refHours += math.Log(r.Forecast.InstanceHours / r.Baseline.InstanceHours)
		a.refActs += math.Log(plus(r.Forecast.Actions()) / plus(r.Baseline.Actions()))
		if len(r.worseThanOff()) > 0 {
			a.worse++
			if ratio := r.Forecast.InstanceHours / r.Off.InstanceHours; ratio > a.worstRatio {
				a.worst, a.worstRatio = strings.TrimSuffix(r.Trace, ".csv")+": "+strings.Join(r.worseThanOff(), "; "), ratio
			}
		}
		if len(r.pathologies()) > 0 {
			a.patho++
		}
	}
	t.Logf("%-22s %5s %5s  %-28s %-27s %s", "setting", "worse", "patho", "fc/off under inst-h actions", "fc/ref under inst-h actions", "worst row (forecast vs off)")
	for _, v := range policyVariants() {
		a := aggs[v.name]
		if a == nil {
			continue
		}
		g := func(x float64) float64 { return math.Exp(x / a.n) }
		t.Logf("%-22s %5d %5d  %8.3f %8.3f %8.3f  %8.3f %8.3f %8.3f  %s", v.name, a.worse, a.patho,
			g(a.under), g(a.hours), g(a.acts), g(a.refUnder), g(a.refHours), g(a.refActs), a.worst)
	}
	for _, r := range rows {
		fs := r.findings()
		mark := ""
		if len(fs) > 0 {
			mark = "  <- " + strings.Join(fs, "; ")
		}
		t.Logf("%-22s %-32s under ref/off/fc %5d %5d %5d  inst-h ref/off/fc %9.0f %9.0f %9.0f  acts/day %5.1f %5.1f %5.1f%s",
			r.Setting, r.Trace, r.Baseline.UnderProvisionedSamples, r.Off.UnderProvisionedSamples, r.Forecast.UnderProvisionedSamples,
			r.Baseline.InstanceHours, r.Off.InstanceHours, r.Forecast.InstanceHours,
			r.Baseline.ActionsPerDay, r.Off.ActionsPerDay, r.Forecast.ActionsPerDay, mark)
	}
}

// TestPolicyVariantsBuild checks the probe's settings on one trace: each
// builds a valid policy, an explicit zero stays zero, and the defaults that
// derive from a changed field (the lead from the warmup, stale_after from
// the evaluation interval) follow it as they would in a policy file.
func TestPolicyVariantsBuild(t *testing.T) {
	tr := scoreboard.Traces()[0]
	s, err := loadSeries(filepath.Join("..", "..", "examples", "traces", tr.Name))
	if err != nil {
		t.Fatal(err)
	}
	conv, _, err := scoreboard.Policy(tr, s.Values[0])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]policy.Policy{}
	for _, v := range policyVariants() {
		p, _, err := variantPolicy(tr, s.Values[0], v)
		if err != nil {
			t.Fatal(err)
		}
		got[v.name] = p
	}
	if p := got["convention"]; p.StaleAfter != conv.StaleAfter || p.Tolerance != conv.Tolerance || p.ScaleIn != conv.ScaleIn {
		t.Errorf("convention: %+v, want the board's %+v", p, conv)
	}
	checks := []struct {
		setting string
		ok      bool
	}{
		{"warmup-10m", got["warmup-10m"].Predictive.Lead == dur(10*time.Minute)},
		{"lead-2x-warmup", got["lead-2x-warmup"].Predictive.Lead == dur(6*time.Minute)},
		{"eval-15s", got["eval-15s"].StaleAfter == dur(time.Minute)},
		{"eval-5m", got["eval-5m"].StaleAfter == dur(15*time.Minute)},
		{"stabilization-0", got["stabilization-0"].ScaleIn.Stabilization == 0},
		{"tolerance-0", got["tolerance-0"].Tolerance == 0},
		{"scale-in-1-per-5m", got["scale-in-1-per-5m"].ScaleIn.MaxStep == policy.MaxStep{Instances: 1, Period: dur(5 * time.Minute)}},
		{"target-2x", got["target-2x"].Metrics[0].Target == 2*conv.Metrics[0].Target},
		{"two-metrics", len(got["two-metrics"].Metrics) == 2},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.setting, got[c.setting])
		}
	}
}
