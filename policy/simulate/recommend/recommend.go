// Package recommend searches a policy's settings that matter most (metric
// targets, scale-in stabilization and cooldown, predictive mode and lead,
// min) by replaying one trace through the same pure engine as `capstan
// simulate`, once per candidate, in parallel. It returns every candidate's
// summary, the Pareto front of under-provisioned time against
// instance-hours (cost, when the policy is priced: the same order, since
// one price applies to every candidate), and one recommended point chosen
// by a stated rule. Every replay's under-provisioning is scored against
// the current policy's targets (see Search), the operator's definition of
// enough capacity, not against the candidate's own.
//
// Like package simulate it does no I/O; the caller parses the trace and
// prints the result.
package recommend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// Space lists the values tried for each setting. Every combination is one
// candidate; an empty list keeps the policy's own value.
type Space struct {
	// TargetScales multiply every metric's target (a cpu target is capped
	// at 100 %): 0.9 runs each instance 10 % cooler.
	TargetScales []float64
	// Stabilizations are scale-in stabilization windows.
	Stabilizations []policy.Duration
	// ScaleInCooldowns are scale-in cooldowns.
	ScaleInCooldowns []policy.Duration
	// Predictive lists predictive settings (mode and lead).
	Predictive []Prediction
	// Mins are group minimums.
	Mins []int
}

// Prediction is one predictive setting tried.
type Prediction struct {
	// Mode is off or forecast-and-scale (forecast-only changes nothing a
	// replay can score).
	Mode policy.PredictiveMode
	// Lead is the forecast lead; ignored when Mode is off.
	Lead policy.Duration
}

// Size is the number of candidates the space holds.
func (s Space) Size() int {
	n := 1
	for _, k := range []int{len(s.TargetScales), len(s.Stabilizations), len(s.ScaleInCooldowns), len(s.Predictive), len(s.Mins)} {
		n *= max(k, 1)
	}
	return n
}

// DefaultSpace is the search around p: targets from 0.8× to 1.2×, the
// stabilization window and scale-in cooldown halved, kept and doubled (0,
// one warmup and two when the policy has none),
// prediction off or forecast-and-scale with the policy's own lead (when it
// scales on forecasts) and a lead of one and two warmups,
// and min kept or raised to the size the trace needs 10 % of the time or
// less (floorMin, from Floor). It holds 5 × 3 × 3 × 4 × 2 = 360 candidates
// at most (fewer when values coincide or fall outside the policy's limits).
func DefaultSpace(p policy.Policy, floorMin int) Space {
	s := Space{TargetScales: []float64{0.8, 0.9, 1, 1.1, 1.2}}
	warm := p.Warmup
	if warm <= 0 {
		warm = policy.Duration(time.Minute)
	}
	s.Stabilizations = around(p.ScaleIn.Stabilization, warm, maxPacing)
	s.ScaleInCooldowns = around(p.ScaleIn.Cooldown, warm, maxPacing)
	s.Predictive = []Prediction{{Mode: policy.PredictOff}}
	leads := []policy.Duration{warm, 2 * warm}
	if p.Predictive.Mode == policy.PredictForecastAndScale {
		leads = append([]policy.Duration{p.Predictive.Lead}, leads...)
	}
	for _, lead := range uniqueDurations(leads, maxPacing) {
		s.Predictive = append(s.Predictive, Prediction{Mode: policy.PredictForecastAndScale, Lead: lead})
	}
	s.Mins = []int{p.Min}
	if f := min(floorMin, p.Max); f > p.Min {
		s.Mins = append(s.Mins, f)
	}
	return s
}

// maxPacing is the policy package's limit on pacing windows (24 h).
const maxPacing = policy.Duration(24 * time.Hour)

// around is d halved, kept and doubled, without duplicates or values above
// hi; for a zero d (off), 0, one and two units.
func around(d, unit, hi policy.Duration) []policy.Duration {
	if d <= 0 {
		return uniqueDurations([]policy.Duration{0, unit, 2 * unit}, hi)
	}
	return uniqueDurations([]policy.Duration{d / 2, d, 2 * d}, hi)
}

func uniqueDurations(ds []policy.Duration, hi policy.Duration) []policy.Duration {
	var out []policy.Duration
	for _, d := range ds {
		d = policy.Duration(d.D().Round(time.Second))
		if d <= hi && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// Floor is the size the trace's demand needs at the policy's targets at
// the given quantile of its samples (0.1: needed 90 % of the time), as a
// candidate min. It reads the same load model as the simulator (cpu
// demand is utilization × recorded size).
func Floor(p policy.Policy, s simulate.Series, recordedSize int, q float64) int {
	need := make([]int, 0, len(s.Times))
	for i := range s.Times {
		n, seen := 0, false
		for j, m := range p.Metrics {
			v := s.Values[j][i]
			if math.IsNaN(v) {
				continue
			}
			if m.Type == policy.MetricCPU {
				v *= float64(recordedSize)
			}
			n, seen = max(n, int(math.Ceil(v/m.Target-1e-9))), true
		}
		if seen {
			need = append(need, n)
		}
	}
	if len(need) == 0 {
		return 0
	}
	sort.Ints(need)
	return need[min(len(need)-1, int(q*float64(len(need))))]
}

// Settings are one candidate's values of the searched settings.
type Settings struct {
	TargetScale     float64               `json:"target_scale"`
	Stabilization   policy.Duration       `json:"stabilization"`
	ScaleInCooldown policy.Duration       `json:"scale_in_cooldown"`
	Mode            policy.PredictiveMode `json:"predictive_mode"`
	Lead            policy.Duration       `json:"lead,omitempty"`
	Min             int                   `json:"min"`
}

// Candidate is one replayed policy and its score.
type Candidate struct {
	// Settings are the values tried.
	Settings Settings `json:"settings"`
	// Policy is the candidate policy (the input policy with Settings applied).
	Policy policy.Policy `json:"-"`
	// Summary scores its replay.
	Summary simulate.Summary `json:"summary"`
}

// Result is a search's outcome.
type Result struct {
	// Current is the input policy's own replay.
	Current Candidate `json:"current"`
	// Candidates are every valid candidate, in the space's order.
	Candidates []Candidate `json:"-"`
	// Front indexes the Pareto-optimal candidates (no other is at most as
	// under-provisioned and as costly and strictly better on one), by
	// instance-hours ascending.
	Front []int `json:"-"`
	// Recommended indexes the candidate the rule picks; -1 when none beats
	// the current policy (keep it).
	Recommended int `json:"-"`
	// Skipped counts combinations that did not validate (for example a
	// raised min above a lowered max).
	Skipped int `json:"skipped"`
}

// Rule states how Search picks its recommendation, for the CLI and the report.
const Rule = "the cheapest candidate (instance-hours, or cost) whose under-provisioned samples are no more than the current policy's and whose actions per day are at most 1.5× the current policy's (or 1 more, for a quiet policy); ties go to fewer under-provisioned samples, then fewer actions. None: keep the current policy."

// churnFactor bounds the actions per day a recommendation may add: a
// policy that saves money by resizing three times as often is not better.
const churnFactor = 1.5

// ErrEmptySpace means the space held no valid candidate.
var ErrEmptySpace = errors.New("recommend: no valid candidate in the search space")

// Search replays cfg's policy and every candidate of space over s, on
// workers goroutines (at least one), and picks the front and the
// recommendation. It stops early with ctx's error when ctx is done.
// Only the replays' summaries are used, so they run with
// cfg.SummaryOnly: no per-sample timeline is kept for any of them.
//
// Every replay is scored against one bar: cfg.Bar when the caller sets
// it, else the current policy's own (simulate.StoredBar of cfg.Policy over
// s). Candidates change the targets, and a candidate scored against its
// own would be judged by its own bar: a 1.2× target would pass by its
// looser one and look cheaper at no cost in under-provisioning.
func Search(ctx context.Context, cfg simulate.Config, s simulate.Series, space Space, workers int) (*Result, error) {
	cfg.SummaryOnly = true
	base := cfg.Policy
	if cfg.Bar == nil {
		bar := simulate.StoredBar(base, s)
		cfg.Bar = &bar
	}
	cur, err := simulate.Run(cfg, s)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Current: Candidate{Settings: settingsOf(base, 1), Policy: base, Summary: cur.Summary},
	}
	for _, st := range space.combinations(base) {
		p := apply(base, st)
		if p.Validate() != nil {
			res.Skipped++
			continue
		}
		res.Candidates = append(res.Candidates, Candidate{Settings: st, Policy: p})
	}
	if len(res.Candidates) == 0 {
		return nil, ErrEmptySpace
	}
	if err := replayAll(ctx, cfg, s, res.Candidates, workers); err != nil {
		return nil, err
	}
	res.Front = Front(res.Candidates)
	res.Recommended = pick(res.Current.Summary, res.Candidates)
	return res, nil
}

// replayAll fills each candidate's summary, sharing the candidates among
// workers goroutines that all end before it returns.
func replayAll(ctx context.Context, cfg simulate.Config, s simulate.Series, cands []Candidate, workers int) error {
	workers = max(1, min(workers, len(cands)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := cfg
				c.Policy = cands[i].Policy
				r, err := simulate.Run(c, s)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("candidate %d: %w", i, err); cancel() })
					continue
				}
				cands[i].Summary = r.Summary
			}
		}()
	}
feed:
	for i := range cands {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// combinations lists the space's settings in a fixed order, dropping
// duplicates (a lead only matters with prediction on).
func (sp Space) combinations(p policy.Policy) []Settings {
	or := func(list []float64, v float64) []float64 {
		if len(list) == 0 {
			return []float64{v}
		}
		return list
	}
	orD := func(list []policy.Duration, v policy.Duration) []policy.Duration {
		if len(list) == 0 {
			return []policy.Duration{v}
		}
		return list
	}
	preds := sp.Predictive
	if len(preds) == 0 {
		preds = []Prediction{{Mode: p.Predictive.Mode, Lead: p.Predictive.Lead}}
	}
	mins := sp.Mins
	if len(mins) == 0 {
		mins = []int{p.Min}
	}
	var out []Settings
	seen := map[Settings]bool{}
	for _, ts := range or(sp.TargetScales, 1) {
		for _, st := range orD(sp.Stabilizations, p.ScaleIn.Stabilization) {
			for _, cd := range orD(sp.ScaleInCooldowns, p.ScaleIn.Cooldown) {
				for _, pr := range preds {
					for _, mn := range mins {
						s := Settings{TargetScale: ts, Stabilization: st, ScaleInCooldown: cd, Mode: pr.Mode, Lead: pr.Lead, Min: mn}
						if s.Mode == policy.PredictOff || s.Mode == "" {
							s.Lead = p.Predictive.Lead
						}
						if !seen[s] {
							seen[s] = true
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	return out
}

// settingsOf reads p's searched settings.
func settingsOf(p policy.Policy, scale float64) Settings {
	return Settings{TargetScale: scale, Stabilization: p.ScaleIn.Stabilization, ScaleInCooldown: p.ScaleIn.Cooldown,
		Mode: p.Predictive.Mode, Lead: p.Predictive.Lead, Min: p.Min}
}

// apply returns p with st's settings; p's metrics are copied, not shared.
func apply(p policy.Policy, st Settings) policy.Policy {
	p.Metrics = slices.Clone(p.Metrics)
	for i := range p.Metrics {
		m := &p.Metrics[i]
		t := m.Target * st.TargetScale
		if m.Type == policy.MetricCPU {
			t = min(t, 100)
		}
		m.Target = roundTarget(t)
	}
	p.ScaleIn.Stabilization, p.ScaleIn.Cooldown = st.Stabilization, st.ScaleInCooldown
	p.Predictive.Mode, p.Predictive.Lead = st.Mode, st.Lead
	p.Min = st.Min
	if p.FallbackSize > 0 && p.FallbackSize < p.Min {
		p.FallbackSize = p.Min
	}
	return p
}

// roundTarget keeps a scaled target readable in a policy file (60 × 0.9 is
// 54, not 54.00000000000001): four significant digits.
func roundTarget(v float64) float64 {
	if v <= 0 {
		return v
	}
	mag := math.Pow(10, 3-math.Floor(math.Log10(v)))
	return math.Round(v*mag) / mag
}

// dominates reports whether a is at least as good as b on both figures
// and strictly better on one.
func dominates(a, b simulate.Summary) bool {
	return a.UnderProvisionedSamples <= b.UnderProvisionedSamples && a.InstanceHours <= b.InstanceHours &&
		(a.UnderProvisionedSamples < b.UnderProvisionedSamples || a.InstanceHours < b.InstanceHours)
}

// Front returns the indexes of the Pareto-optimal candidates by
// instance-hours ascending (then under-provisioning). Candidates with the
// same two figures are all kept, the first in order first.
func Front(cands []Candidate) []int {
	idx := make([]int, len(cands))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := cands[idx[a]].Summary, cands[idx[b]].Summary
		if x.InstanceHours != y.InstanceHours {
			return x.InstanceHours < y.InstanceHours
		}
		return x.UnderProvisionedSamples < y.UnderProvisionedSamples
	})
	// Sweep by cost: a candidate is on the front when it is strictly less
	// under-provisioned than every cheaper one (or ties the last one kept).
	var front []int
	best := math.MaxInt
	var last simulate.Summary
	for _, i := range idx {
		s := cands[i].Summary
		switch {
		case s.UnderProvisionedSamples < best:
			front = append(front, i)
			best, last = s.UnderProvisionedSamples, s
		case len(front) > 0 && s.UnderProvisionedSamples == last.UnderProvisionedSamples && s.InstanceHours == last.InstanceHours:
			front = append(front, i)
		}
	}
	return front
}

// pick applies Rule.
func pick(cur simulate.Summary, cands []Candidate) int {
	churn := max(churnFactor*cur.ActionsPerDay, cur.ActionsPerDay+1)
	best := -1
	for i, c := range cands {
		s := c.Summary
		if s.UnderProvisionedSamples > cur.UnderProvisionedSamples || s.ActionsPerDay > churn {
			continue
		}
		if best < 0 || better(s, cands[best].Summary) {
			best = i
		}
	}
	if best >= 0 && !dominates(cands[best].Summary, cur) && cands[best].Summary.InstanceHours >= cur.InstanceHours {
		return -1 // no cheaper and no less under-provisioned: keep the current policy
	}
	return best
}

func better(a, b simulate.Summary) bool {
	if a.InstanceHours != b.InstanceHours {
		return a.InstanceHours < b.InstanceHours
	}
	if a.UnderProvisionedSamples != b.UnderProvisionedSamples {
		return a.UnderProvisionedSamples < b.UnderProvisionedSamples
	}
	return a.ActionsPerDay < b.ActionsPerDay
}

// AtEdge names the settings of st that sit at the end of their searched
// range (the smallest or largest of two or more values tried): there the
// search may have stopped short of a better point, and another search
// around st can go further. Mode and min are not ranges and are never named.
func (sp Space) AtEdge(st Settings) []string {
	var out []string
	if edge(sp.TargetScales, st.TargetScale) {
		out = append(out, "target")
	}
	if edge(sp.Stabilizations, st.Stabilization) {
		out = append(out, "scale_in.stabilization")
	}
	if edge(sp.ScaleInCooldowns, st.ScaleInCooldown) {
		out = append(out, "scale_in.cooldown")
	}
	var leads []policy.Duration
	for _, pr := range sp.Predictive {
		if pr.Mode == policy.PredictForecastAndScale {
			leads = append(leads, pr.Lead)
		}
	}
	if st.Mode == policy.PredictForecastAndScale && edge(leads, st.Lead) {
		out = append(out, "predictive.lead")
	}
	return out
}

// edge reports whether v is the smallest or the largest of two or more values.
func edge[T float64 | policy.Duration](values []T, v T) bool {
	if len(values) < 2 {
		return false
	}
	return v == slices.Min(values) || v == slices.Max(values)
}
