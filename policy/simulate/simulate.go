// Package simulate replays a recorded metric trace through policy.Evaluate
// with a virtual clock and a simulated group. Like the policy package it does
// no I/O: the caller parses the trace and writes the results.
//
// The simulated group: a scale-out adds instances that become ready after the
// policy's warmup; a scale-in removes instances at once, booting ones first.
//
// The load model, per metric type:
//   - request_rate and queue_depth are exogenous demand: the trace value is
//     what the policy sees, whatever the group's size;
//   - cpu is utilization recorded on a group of RecordedSize instances, so
//     the demand it implies is value × RecordedSize percent-instances; the
//     policy sees that demand spread over the simulated ready instances,
//     capped at 100 %.
//
// RunBaseline replays a trace the same way through the HPA-style reference
// of package baseline instead of the policy, so the two compare figure by
// figure.
package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate/baseline"
)

// Series is a trace already mapped onto a policy: Values[j] belongs to
// Policy.Metrics[j]. NaN marks a missing sample.
type Series struct {
	// Times are Unix nanoseconds, strictly increasing.
	Times []int64
	// Values holds one column per policy metric.
	Values [][]float64
}

// Config is a simulation's setup.
type Config struct {
	// Policy is the validated policy to replay.
	Policy policy.Policy
	// InitialSize is the group's size, all ready, at the first sample; 0
	// means the size the policy's targets ask for at the first sample.
	InitialSize int
	// RecordedSize is the size of the group a cpu trace was recorded on;
	// required when the policy has a cpu metric.
	RecordedSize int
	// Rows, when set, is called by Run as the timeline fills, with the
	// Result being built and done, the number of samples whose entries are
	// final: every RowsChunk samples once the series is whole (Arrived,
	// which Run asks again at each of those), every RowsTail samples over
	// the last RowsChunk, and once more when the replay ends.
	// The Result's per-sample slices (Times, Observed, Forecast, Weekly,
	// SeasonScale, Needed, Desired, Ready, Skill, Trusted, Under,
	// Scheduled, Rows) have their
	// full length before the first call and entries below done never
	// change again, so another goroutine may read them while the replay
	// goes on, if Rows hands done over with a synchronizing operation (a
	// channel send); Events and Summary are final only when Run returns.
	// capstan simulate writes its timeline CSV this way, on a second core.
	// It is never called when Run fails.
	Rows func(r *Result, done int)
	// Arrived, when set, says the series is still arriving (a trace still
	// being parsed on another goroutine, trace.Stream): its Times and
	// Values have room for every sample it can hold and never move, and
	// only the samples below the count Arrived returns are final. Run calls
	// it before it first reads a sample beyond that count; it blocks until
	// sample want is final or the series is whole, and returns the count
	// final (more than want unless whole) and whether the series is whole,
	// its length then being that count; or an error, which Run returns as
	// it is. A replay reads only the samples up to the one it evaluates, so
	// it runs while the rest arrives; what needs the whole series (the
	// forecasting window's grid on a trace with missing rows, the sizes
	// each sample needs, the length of the Result's slices) waits for it,
	// and Rows is first called once it is whole, so nothing is written
	// before every check on it has passed. The Result is the same as
	// Run's on the whole series.
	Arrived func(want int) (final int, whole bool, err error)
	// SummaryOnly scores the replay without keeping its timeline: the
	// Result holds Times and Summary, and its per-sample slices and Events
	// are nil. A caller that prints only the summary (capstan simulate
	// without --timeline or --report, the comparison runs without a
	// report) saves their memory, about 90 bytes a sample, and the time to
	// fill them; the Summary is the same. Rows is not called.
	SummaryOnly bool
	// Bar, when set, is what under-provisioning (Summary and Under) and
	// Needed are scored against instead of the policy's own metrics,
	// targets and tolerance: a what-if scores a candidate against the
	// stored policy's. It does not change what the policy decides.
	Bar *Bar
}

// RowsChunk is how many samples Config.Rows is called after.
const RowsChunk = 2048

// RowsTail is how many samples Config.Rows is called after over the last
// RowsChunk samples of a replay. A writer that follows the rows on
// another core (capstan simulate's timeline) writes a stretch in about a
// third of the time the replay takes to make it, so at the end it still
// has up to a stretch and a remainder to write while the replay waits:
// in stretches this short it is at most one behind when the replay ends.
// Shorter stretches all along would cost the replay a wake-up of the
// writer per stretch.
const RowsTail = 256

// Errors returned for a simulation that cannot run.
var (
	// ErrNoSamples means the series is empty.
	ErrNoSamples = errors.New("simulate: the trace has no samples")
	// ErrShape means the series does not match the policy's metrics.
	ErrShape = errors.New("simulate: the trace does not match the policy's metrics")
	// ErrRecordedSize means a cpu metric needs the recorded group size.
	ErrRecordedSize = errors.New("simulate: a cpu metric needs the recorded group size (--recorded-size)")
)

// Row is the timeline entry of one trace sample. It takes 12 bytes (sizes
// as int32, like Event's and Result's, the flags together), as a timeline
// holds one per sample.
type Row struct {
	// Action, Bound and UsedForecast describe the decision shown for the
	// row: the last one since the previous sample that changed the size, or
	// else the one at the sample.
	Action       policy.Action
	Bound        policy.Limit
	UsedForecast bool
	// Stale is true when a metric was stale at the sample.
	Stale bool
	// From and To are that decision's sizes.
	From, To int32
}

// Result is a simulation's timeline and summary. Timeline slices have one
// entry per trace sample; with Config.SummaryOnly they and Events are nil.
type Result struct {
	// Times are the sample times (Unix nanoseconds).
	Times []int64
	// Observed[j] is metric j as the policy saw it at each sample (for cpu,
	// the utilization of the simulated ready instances). For request_rate
	// and queue_depth that is the series' own column, which Observed[j]
	// shares, as Times shares the series' times: do not write to either.
	Observed [][]float64
	// Forecast[j] is the forecast of metric j for now+lead made at each
	// sample (NaN when none), in the metric's demand unit (cpu: percent-instances
	// converted back to utilization over the desired size); nil with prediction off.
	Forecast [][]float64
	// Weekly[j] is what the weekly adjustment added to Forecast[j] at each
	// sample (policy.MetricProposal.Weekly; cpu: over the desired size, as
	// the forecast before its cap at 100), NaN where it did not act; nil
	// with prediction off.
	Weekly [][]float64
	// SeasonScale[j] is the factor metric j's forecast multiplied its
	// season by at each sample where the season scales with the level
	// (policy.MetricProposal.SeasonScale), NaN where it is additive,
	// there is none or no forecast; nil with prediction off.
	SeasonScale [][]float64
	// Needed is the instance count the samples' demand needs at the targets.
	Needed []int32
	// Desired and Ready are the group's sizes after the decision at each sample.
	Desired, Ready []int32
	// Skill[j] is the forecast skill the decision at each sample reported
	// for metric j (NaN until scored) and Trusted[j] whether that forecast
	// was trusted to act; nil with prediction off.
	Skill   [][]float64
	Trusted [][]bool
	// Under marks the samples counted as under-provisioned in the summary.
	Under []bool
	// Scheduled marks the samples at which one of the policy's scheduled
	// windows was open; nil when the policy has none.
	Scheduled []bool
	// Rows explain each sample's decision.
	Rows []Row
	// Events are every size change, in time order, including those made
	// by evaluations between two samples (which Rows fold into one).
	Events []Event
	// Summary scores the run.
	Summary Summary
}

// Event is one size change of the simulated group.
type Event struct {
	// At is the evaluation time (Unix nanoseconds).
	At int64
	// From and To are the sizes before and after.
	From, To int32
	// UsedForecast is true when a forecast raised the recommendation.
	UsedForecast bool
	// Bound is the rule that bound the decision.
	Bound policy.Limit
}

// Summary scores a run on the three things that matter together: time under
// provisioned, cost and churn.
type Summary struct {
	// Samples is the number of trace samples replayed.
	Samples int `json:"samples"`
	// Evaluations is how many times Evaluate ran (samples plus the
	// evaluation_interval steps between them).
	Evaluations int `json:"evaluations"`
	// InstanceHours integrates the desired size (booting instances cost too)
	// over the trace's span, the last sample lasting one trace step.
	InstanceHours float64 `json:"instance_hours"`
	// UnderProvisionedSamples counts samples at which some metric's demand
	// exceeded what the ready instances serve at target × (1 + tolerance):
	// value > ready × target × (1 + tolerance) for request_rate and
	// queue_depth, recorded utilization × recorded size > ready × target ×
	// (1 + tolerance) for cpu.
	UnderProvisionedSamples int `json:"underprovisioned_samples"`
	// UnderProvisionedFraction is UnderProvisionedSamples / Samples.
	UnderProvisionedFraction float64 `json:"underprovisioned_fraction"`
	// ScaleOuts and ScaleIns count actions.
	ScaleOuts int `json:"scale_out_actions"`
	ScaleIns  int `json:"scale_in_actions"`
	// ActionsPerDay is (ScaleOuts + ScaleIns) per 24 h of the trace's span
	// (the last sample lasting one step): churn that compares across traces
	// of different lengths.
	ActionsPerDay float64 `json:"actions_per_day"`
	// PeakSize is the largest desired size reached.
	PeakSize int `json:"peak_size"`
	// StaleSamples counts samples evaluated with a stale or missing metric.
	StaleSamples int `json:"stale_samples"`
	// Reversals counts actions that reversed the direction of the one
	// before (a scale-in after a scale-out or the other way round): how
	// much the group went back and forth. Counted from the size changes,
	// so a baseline run has them too.
	Reversals int `json:"reversals"`
	// Damped counts evaluations at which anti-flapping held back a
	// scale-in (policy.Decision.Damped): how often the damping acted.
	Damped int `json:"damped_decisions"`
	// HeldBack counts evaluations at which the forecast's cost bound
	// (predictive.max_extra) held a trusted forecast back
	// (policy.Decision.HeldBack): how often prediction's extra
	// instance-time had reached its share. Left out when 0.
	HeldBack int `json:"forecast_held_back_decisions,omitempty"`
	// BudgetBound counts evaluations whose size the policy's budget
	// capped (policy.LimitBudget): how often money was chosen over the
	// capacity demand asked for. Left out when 0.
	BudgetBound int `json:"budget_bound_decisions,omitempty"`
	// Cost is InstanceHours at the policy's price, in Currency; both are
	// left out when the policy is not priced.
	Cost     float64 `json:"cost,omitempty"`
	Currency string  `json:"currency,omitempty"`
}

// group is the simulated cloud group: instances become ready warmup after
// they are requested and leave at once.
type group struct {
	desired int
	ready   int
	pending []int64 // ready-at times, ascending
	head    int     // pending[head:] are still booting
}

func (g *group) advance(now int64) {
	for g.head < len(g.pending) && g.pending[g.head] <= now {
		g.head++
		g.ready++
	}
	if g.head == len(g.pending) {
		g.pending, g.head = g.pending[:0], 0
	}
}

func (g *group) resize(now int64, n int, warmup time.Duration) {
	for ; g.desired < n; g.desired++ {
		if warmup <= 0 {
			g.ready++
			continue
		}
		g.pending = append(g.pending, now+int64(warmup))
	}
	for ; g.desired > n; g.desired-- {
		if len(g.pending) > g.head { // booting instances go first: they serve nothing yet
			g.pending = g.pending[:len(g.pending)-1]
			continue
		}
		g.ready--
	}
}

// Run replays s through p.Evaluate. Evaluation happens at every sample and
// every evaluation_interval between samples.
func Run(cfg Config, s Series) (*Result, error) { return run(cfg, s, nil) }

// RunBaseline replays s through the HPA-style reference (package baseline)
// instead of policy.Evaluate, on the same simulated group, load model and
// evaluation times, so its summary compares with Run's figure by figure.
// From the policy it takes min, max, warmup, the evaluation interval and
// the metrics' types and targets; prediction is off. Under-provisioning is
// scored with the policy's tolerance, like Run's.
func RunBaseline(cfg Config, s Series) (*Result, error) {
	cfg.Policy.Predictive.Mode = policy.PredictOff
	return run(cfg, s, new(baseline.HPA))
}

// run is Run, or RunBaseline when ref is not nil.
func run(cfg Config, s Series, ref *baseline.HPA) (*Result, error) {
	p := cfg.Policy
	// n is the series' length once it is whole, and until then the room
	// it has (Config.Arrived); final is how many samples can be read.
	n := len(s.Times)
	final, whole := n, true
	if cfg.Arrived != nil {
		// medianStep reads the first gaps (at most 64) and the group's
		// first size the first sample; a Bar is checked against the
		// whole series, so with one the replay waits for it (no sample
		// has index n).
		want := max(0, min(64, n-1))
		if cfg.Bar != nil {
			want = n
		}
		var err error
		if final, whole, err = cfg.Arrived(want); err != nil {
			return nil, err
		}
		if whole {
			n = final
		}
	}
	if n == 0 {
		return nil, ErrNoSamples
	}
	if len(s.Values) != len(p.Metrics) {
		return nil, fmt.Errorf("%w: %d columns for %d metrics", ErrShape, len(s.Values), len(p.Metrics))
	}
	hasCPU := false
	for j, m := range p.Metrics {
		if len(s.Values[j]) != len(s.Times) {
			return nil, fmt.Errorf("%w: metric %s has %d values for %d times", ErrShape, m.Name, len(s.Values[j]), len(s.Times))
		}
		hasCPU = hasCPU || m.Type == policy.MetricCPU
	}
	if cfg.Bar != nil {
		if err := cfg.Bar.check(n); err != nil {
			return nil, err
		}
		for _, m := range cfg.Bar.Metrics {
			hasCPU = hasCPU || m.Type == policy.MetricCPU
		}
	}
	if hasCPU && cfg.RecordedSize <= 0 {
		return nil, ErrRecordedSize
	}
	predicting := p.Predictive.Mode != policy.PredictOff && p.Predictive.Mode != ""

	// What the per-sample loops read of each metric, taken out of the
	// policy once: ranging over p.Metrics copied a 128-byte Metric per
	// metric, per loop, per sample, and compared its type as a string.
	isCPU, targets := make([]bool, len(p.Metrics)), make([]float64, len(p.Metrics))
	for j := range p.Metrics {
		isCPU[j], targets[j] = p.Metrics[j].Type == policy.MetricCPU, p.Metrics[j].Target
	}
	keep := !cfg.SummaryOnly // the timeline: every per-sample slice, Rows and Events
	res := &Result{}
	if keep {
		res.Observed = make([][]float64, len(p.Metrics))
		res.Needed, res.Desired, res.Ready = make([]int32, n), make([]int32, n), make([]int32, n)
		res.Rows, res.Under = make([]Row, n), make([]bool, n)
		for j, cpu := range isCPU {
			// Demand the policy sees as recorded is the series' own column
			// (like Times); only cpu utilization is worked out per sample.
			if res.Observed[j] = s.Values[j]; cpu {
				res.Observed[j] = make([]float64, n)
			}
		}
	}
	// demand[j] is what the forecasting window holds: the demand observed at
	// each sample, in the model's unit (cpu: percent-instances). For
	// request_rate and queue_depth that is the trace's own column (NaN where
	// a sample is missing, which the models skip whatever its bits), so the
	// window reads it in place instead of a copy filled sample by sample;
	// the policy only reads a window, and only up to the current sample.
	// A window holds one value per step from its start, as the leader's
	// windows do (a missing bucket is NaN there): on a trace with missing
	// rows, slots places each sample at its own time instead of at its row,
	// or every sample after a missing row would sit a step early and the
	// daily shape the model learns from the window would drift by a step
	// per missing row (nil when every sample is one step after the last).
	step := medianStep(s.Times[:min(final, n)])
	var slots []int
	demand := make([][]float64, len(p.Metrics))
	copied := make([]bool, len(p.Metrics)) // demand[j] is a buffer run fills
	// grid lays the forecasting windows out over the whole series, the
	// samples before the first one evaluated (done) already in cpu demand
	// buffers of the same grid. While a series arrives, every sample read
	// so far sits at its own step (regular), so the windows the policy
	// read up to sample done are the same on the final grid.
	grid := func(done int) error {
		if !predicting {
			return nil
		}
		var gridLen int
		var err error
		if slots, gridLen, err = gridSlots(s.Times[:n], int64(step)); err != nil {
			return err
		}
		for j := range p.Metrics {
			switch {
			case isCPU[j]:
				if demand[j] != nil && slots == nil {
					demand[j] = demand[j][:gridLen]
					continue
				}
				before := demand[j]
				demand[j], copied[j] = make([]float64, gridLen), true
				if slots != nil {
					fillNaN(demand[j]) // the slots no sample lands on
				}
				copy(demand[j], before[:done]) // slots[i] == i below done
			case slots != nil:
				demand[j] = make([]float64, gridLen)
				fillNaN(demand[j])
				for i, v := range s.Values[j][:n] {
					demand[j][slots[i]] = v
				}
			default:
				demand[j] = s.Values[j][:n]
			}
		}
		return nil
	}
	if !whole && predicting {
		// Until the series is whole, the windows read it in place (a cpu
		// metric's demand in a buffer with room for all of it), as on a
		// regular grid; regular says sample i sits at step i.
		for j := range p.Metrics {
			if demand[j] = s.Values[j]; isCPU[j] {
				demand[j], copied[j] = make([]float64, n), true
			}
		}
	}
	t0 := s.Times[0]
	regular := func(i int) bool { return (s.Times[i]-t0+int64(step)/2)/int64(step) == int64(i) }
	if predicting && keep {
		res.Forecast = make([][]float64, len(p.Metrics))
		res.Weekly = make([][]float64, len(p.Metrics))
		res.SeasonScale = make([][]float64, len(p.Metrics))
		res.Skill = make([][]float64, len(p.Metrics))
		res.Trusted = make([][]bool, len(p.Metrics))
		for j := range res.Forecast {
			res.Forecast[j] = make([]float64, n)
			res.Weekly[j] = make([]float64, n)
			res.SeasonScale[j] = make([]float64, n)
			res.Skill[j] = make([]float64, n)
			res.Trusted[j] = make([]bool, n)
		}
	}

	interval := int64(p.EvaluationInterval.D())
	warmup := p.Warmup.D()
	tol := 1 + p.Tolerance
	recorded := float64(cfg.RecordedSize)

	// The bar a replay is scored against: the trace's own demand
	// (traceBar), or the caller's (cfg.Bar). Methods rather than closures
	// held in func variables, so that the per-sample calls are direct.
	tb := traceBar{values: s.Values, isCPU: isCPU, targets: targets, recorded: recorded, tol: tol}
	g := group{desired: cfg.InitialSize}
	if g.desired <= 0 {
		g.desired = min(max(tb.needed(0), p.Min), p.Max)
	}
	g.ready = g.desired
	// underAt reports whether sample i's demand exceeds what the ready
	// instances serve at target × (1 + tolerance) for some metric.
	underAt := func(i int) bool {
		if cfg.Bar != nil {
			return cfg.Bar.under(i, g.ready, recorded)
		}
		return tb.under(i, g.ready)
	}
	histLen := 0 // the grid steps in.History holds: it grows with the sample, not at every evaluation between two
	// finish does what needs the whole series, once it is whole: at the
	// start, or when Config.Arrived says so, done samples into the replay.
	finish := func(done int) error {
		if err := grid(done); err != nil {
			return err
		}
		histLen = 0 // the windows may have moved to the grid's buffers
		res.Times = s.Times[:n]
		if !keep {
			return nil
		}
		res.Needed, res.Desired, res.Ready = res.Needed[:n], res.Desired[:n], res.Ready[:n]
		res.Rows, res.Under = res.Rows[:n], res.Under[:n]
		if res.Scheduled != nil {
			res.Scheduled = res.Scheduled[:n]
		}
		for j := range res.Observed {
			res.Observed[j] = res.Observed[j][:n]
		}
		for j := range res.Forecast {
			res.Forecast[j], res.Weekly[j] = res.Forecast[j][:n], res.Weekly[j][:n]
			res.SeasonScale[j], res.Skill[j], res.Trusted[j] = res.SeasonScale[j][:n], res.Skill[j][:n], res.Trusted[j][:n]
		}
		// The size each sample needs depends on the trace alone, so it is
		// worked out here, in a loop of its own: between two evaluations
		// each sample's division and ceiling waited out their latency,
		// here they overlap (about 0.25 ms of a 16-day 1-minute replay).
		if bar := cfg.Bar; bar != nil {
			for i := range res.Needed {
				res.Needed[i] = int32(bar.needed(i, recorded))
			}
		} else {
			for i := range res.Needed {
				res.Needed[i] = int32(tb.needed(i))
			}
		}
		return nil
	}
	if whole {
		if err := finish(0); err != nil {
			return nil, err
		}
	}
	// arrive waits for sample want (Config.Arrived), done samples into
	// the replay, and finishes once the series is whole.
	arrive := func(want, done int) error {
		var err error
		if final, whole, err = cfg.Arrived(want); err != nil {
			return err
		}
		if whole {
			n = final
			return finish(done)
		}
		return nil
	}

	var (
		in        policy.Inputs
		dec       policy.Decision // written in place by EvaluateInto: no copies of it, the policy or the inputs per evaluation
		sum       Summary
		lastEval  int64
		instNanos float64
		row       Row
		acted     bool
	)
	// account carries a decision out on the group and counts it.
	// lastDir is the direction of the latest size change: reversals are
	// counted here from the changes, not taken from the decisions, so the
	// HPA reference's are counted the same way.
	lastDir := policy.ActionHold
	account := func(now int64, d *policy.Decision) {
		sum.Evaluations++
		if d.Action != policy.ActionHold && d.Desired != g.desired {
			if lastDir != policy.ActionHold && lastDir != d.Action {
				sum.Reversals++
			}
			lastDir = d.Action
		}
		if d.HeldBack > 0 {
			sum.HeldBack++
		}
		if d.Damped {
			sum.Damped++
		}
		if d.Bound == policy.LimitBudget {
			sum.BudgetBound++
		}
		if d.Desired != g.desired {
			g.resize(now, d.Desired, warmup)
			if d.Action == policy.ActionScaleOut {
				sum.ScaleOuts++
			} else {
				sum.ScaleIns++
			}
			sum.PeakSize = max(sum.PeakSize, d.Desired)
			if keep {
				res.Events = append(res.Events, Event{At: now, From: int32(d.Current), To: int32(d.Desired), UsedForecast: d.UsedForecast, Bound: d.Bound})
				row = Row{Action: d.Action, Bound: d.Bound, UsedForecast: d.UsedForecast, From: int32(d.Current), To: int32(d.Desired), Stale: d.Stale}
				acted = true
			}
		}
	}
	if predicting {
		for j := range p.Metrics {
			in.History[j] = policy.Window{Start: time.Unix(0, s.Times[0]).UTC(), Step: step}
		}
	}
	// evaluate returns the decision in dec, valid until the next call.
	evaluate := func(now int64, t time.Time, i int) *policy.Decision {
		g.advance(now)
		if sum.Evaluations > 0 {
			instNanos += float64(g.desired) * float64(now-lastEval)
		}
		lastEval = now
		in.Current, in.Ready = g.desired, g.ready
		if h := slotOf(slots, i) + 1; predicting && histLen != h {
			histLen = h
			for j := range p.Metrics {
				in.History[j].Values = demand[j][:histLen]
			}
		}
		if ref != nil {
			h := ref.Evaluate(&p, &in, t)
			dec = policy.Decision{Time: t, Current: in.Current, Ready: in.Ready, Reactive: h.Recommended,
				Recommended: h.Recommended, Desired: h.Desired, Action: h.Action, Bound: h.Bound}
			account(now, &dec)
			return &dec
		}
		// The state carries over in dec.Next, evaluated in place: passed
		// to EvaluateInto it was copied into the argument and back (about
		// 280 bytes each way) at every evaluation.
		policy.EvaluateNext(&dec, &p, &in, t)
		account(now, &dec)
		return &dec
	}

	sum.PeakSize = g.desired
	for i := 0; ; i++ {
		for !whole && (i >= final || predicting && !regular(i)) {
			want := i
			if i < final {
				// Sample i is off its step: the grid needs the whole
				// series (no sample has index n, the room).
				want = n
			}
			if err := arrive(want, i); err != nil {
				return nil, err
			}
		}
		if i >= n {
			break
		}
		now := s.Times[i]
		if i > 0 && interval > 0 {
			for e := s.Times[i-1] + interval; e < now; e += interval {
				evaluate(e, time.Unix(0, e).UTC(), i-1)
			}
		}
		// The sample arrives: cpu utilization is measured over the ready instances now.
		g.advance(now)
		t := time.Unix(0, now).UTC() // the sample's time and the evaluation's
		for j, cpu := range isCPU {
			v := s.Values[j][i]
			if math.IsNaN(v) {
				if keep && cpu {
					res.Observed[j][i] = math.NaN()
				}
				if copied[j] {
					demand[j][slotOf(slots, i)] = math.NaN()
				}
				continue // the previous sample ages; staleness decides
			}
			over := 0 // the instances a cpu average was measured over, kept with the sample
			if cpu {
				over = g.ready
				if over == 0 {
					over = g.desired
				}
				util := 100.0
				if over > 0 {
					util = math.Min(100, v*recorded/float64(over))
				}
				v = util
				if copied[j] {
					demand[j][slotOf(slots, i)] = util * float64(over)
				}
				if keep {
					res.Observed[j][i] = v
				}
			}
			in.Metrics[j] = policy.Sample{Time: t, Value: v, Present: true, Over: over}
		}
		d := evaluate(now, t, i)
		if d.Stale {
			sum.StaleSamples++
		}
		if !keep {
			if underAt(i) {
				sum.UnderProvisionedSamples++
			}
			continue
		}
		if !acted {
			row = Row{Action: d.Action, Bound: d.Bound, UsedForecast: d.UsedForecast, From: int32(d.Current), To: int32(d.Desired), Stale: d.Stale}
		}
		res.Rows[i], acted = row, false
		if predicting {
			for j, cpu := range isCPU {
				f, wk := d.Metrics[j].Forecast, d.Metrics[j].Weekly
				if cpu && !math.IsNaN(f) {
					f = math.Min(100, f/float64(max(g.desired, 1)))
					wk /= float64(max(g.desired, 1))
				}
				res.Forecast[j][i], res.Weekly[j][i] = f, wk
				k := d.Metrics[j].SeasonScale
				if k == 0 { // none: a missing value in the timeline, as Weekly's
					k = math.NaN()
				}
				res.SeasonScale[j][i] = k
				res.Skill[j][i] = d.Metrics[j].Skill
				res.Trusted[j][i] = d.Metrics[j].Trusted
			}
		}
		res.Desired[i], res.Ready[i] = int32(g.desired), int32(g.ready)
		if len(p.Schedules) > 0 {
			if res.Scheduled == nil {
				res.Scheduled = make([]bool, n)
			}
			t := time.Unix(0, now).UTC()
			for _, sc := range p.Schedules {
				res.Scheduled[i] = res.Scheduled[i] || sc.OpenAt(t)
			}
		}
		if underAt(i) {
			sum.UnderProvisionedSamples++
			res.Under[i] = true
		}
		if cfg.Rows != nil && (i+1)%RowsTail == 0 {
			switch {
			case (i+1)%RowsChunk == 0:
				if !whole {
					// The rest may have arrived since the replay last asked
					// (sample i has): the rows wait for a whole series, so
					// ask again here rather than a stretch of samples later.
					if err := arrive(i, i+1); err != nil {
						return nil, err
					}
				}
				if whole {
					cfg.Rows(res, i+1)
				}
			case whole && i+1 < n && n-(i+1) < RowsChunk:
				cfg.Rows(res, i+1) // the last stretches are shorter: see RowsTail
			}
		}
	}
	if cfg.Rows != nil && keep && n%RowsChunk != 0 {
		cfg.Rows(res, n)
	}
	instNanos += float64(g.desired) * float64(step)
	span := float64(s.Times[n-1]-s.Times[0]) + float64(step)
	sum.ActionsPerDay = float64(sum.ScaleOuts+sum.ScaleIns) / (span / float64(24*time.Hour))
	sum.Samples = n
	sum.InstanceHours = instNanos / float64(time.Hour)
	sum.UnderProvisionedFraction = float64(sum.UnderProvisionedSamples) / float64(n)
	if p.Cost.Priced() {
		sum.Cost, sum.Currency = p.Cost.Of(sum.InstanceHours), p.Cost.Currency
	}
	res.Summary = sum
	return res, nil
}

// traceBar scores a replay against the trace's own demand: a sample's
// load on the group, per metric, in "instances at target" units once
// divided by the target (a cpu utilization times the recorded size).
type traceBar struct {
	values        [][]float64
	isCPU         []bool
	targets       []float64
	recorded, tol float64
}

// demand is sample i's load for metric j.
func (b *traceBar) demand(j, i int) float64 {
	v := b.values[j][i]
	if b.isCPU[j] {
		return v * b.recorded
	}
	return v
}

// needed is the size sample i's demand needs at target.
func (b *traceBar) needed(i int) int {
	need := 0
	for j, target := range b.targets {
		if v := b.demand(j, i); !math.IsNaN(v) {
			need = max(need, int(math.Ceil(v/target-1e-9)))
		}
	}
	return need
}

// under reports whether sample i's demand exceeds what ready instances
// serve at target × (1 + tolerance) for some metric.
func (b *traceBar) under(i, ready int) bool {
	for j, target := range b.targets {
		if v := b.demand(j, i); !math.IsNaN(v) && v > float64(ready)*target*b.tol {
			return true
		}
	}
	return false
}

// maxGridSlack bounds how many more grid steps than samples gridSlots
// lays out (on top of 4× the samples): a trace whose few samples span a
// long time at a short median step would otherwise need a window of
// millions of empty steps.
const maxGridSlack = 1 << 20

// gridSlots returns, for each sample, its index on the grid of step from
// the first sample (the nearest whole step), and the grid's length; nil
// slots when every sample is one step after the one before (the grid is
// the samples themselves). Times ascend.
func gridSlots(times []int64, step int64) (slots []int, length int, err error) {
	n := len(times)
	if n == 0 || step <= 0 {
		return nil, n, nil
	}
	slotAt := func(t int64) int { return int((t - times[0] + step/2) / step) }
	regular := true
	for i := 1; i < n && regular; i++ {
		regular = slotAt(times[i]) == i
	}
	if regular {
		return nil, n, nil
	}
	length = slotAt(times[n-1]) + 1
	if length > 4*n+maxGridSlack {
		return nil, 0, fmt.Errorf("%w: %d samples span %d steps of %v, too sparse to forecast from one value a step (at most 4 × the samples + %d steps)",
			ErrShape, n, length, time.Duration(step), maxGridSlack)
	}
	slots = make([]int, n)
	for i, t := range times {
		slots[i] = slotAt(t)
	}
	return slots, length, nil
}

// slotOf is sample i's index in a forecasting window (gridSlots).
func slotOf(slots []int, i int) int {
	if slots == nil {
		return i
	}
	return slots[i]
}

// fillNaN marks every value of v missing.
func fillNaN(v []float64) {
	for i := range v {
		v[i] = math.NaN()
	}
}

// medianStep is the typical spacing of the samples; one minute for a single sample.
func medianStep(times []int64) time.Duration {
	if len(times) < 2 {
		return time.Minute
	}
	// A full sort would allocate; traces are near-regular, so the median of
	// a bounded prefix of gaps is the step.
	const probe = 64
	k := min(len(times)-1, probe)
	gaps := make([]int64, k)
	for i := range gaps {
		gaps[i] = times[i+1] - times[i]
	}
	for i := 1; i < len(gaps); i++ { // insertion sort on at most 64 values
		for j := i; j > 0 && gaps[j] < gaps[j-1]; j-- {
			gaps[j], gaps[j-1] = gaps[j-1], gaps[j]
		}
	}
	return time.Duration(gaps[len(gaps)/2])
}
