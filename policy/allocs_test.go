package policy

import (
	"math"
	"testing"
	"time"
)

// evalPath is how a test or benchmark carries the state from one
// evaluation to the next.
type evalPath int

const (
	byValue    evalPath = iota // Evaluate, as the daemon calls it
	intoReused                 // EvaluateInto a reused Decision
	inPlace                    // EvaluateNext on a reused Decision, as the simulator does
)

func (e evalPath) String() string {
	return [...]string{"Evaluate", "EvaluateInto", "EvaluateNext"}[e]
}

// steadyEvaluations returns a function that runs the next evaluation, 10 s
// of virtual time after the last, of a three-metric policy with prediction
// on (a configured 24 h season, forecast-and-scale with the default cost
// bound, the zero max_extra, every pacing rule),
// after 10,000 evaluations that reach steady state (models configured,
// queues at capacity): through Evaluate (by value, as the daemon calls it)
// or EvaluateInto (into a reused Decision). Each of
// prep then edits the state once before the first evaluation it returns.
func steadyEvaluations(into bool, prep ...func(*State)) func() {
	if into {
		return steadyEvaluationsOn(intoReused, prep...)
	}
	return steadyEvaluationsOn(byValue, prep...)
}

// steadyEvaluationsOn is steadyEvaluations on any evalPath.
func steadyEvaluationsOn(path evalPath, prep ...func(*State)) func() {
	p := basePolicy(
		Metric{Name: "cpu", Type: MetricCPU, Target: 60},
		Metric{Name: "rps", Type: MetricRequestRate, Target: 200},
		Metric{Name: "jobs", Type: MetricQueueDepth, Target: 50},
	)
	p.Tolerance = 0.1
	p.ScaleOut = ScaleOut{Cooldown: Duration(time.Minute), MaxStep: MaxStep{Instances: 4, Percent: 100, Period: Duration(time.Minute)}}
	p.ScaleIn = ScaleIn{Cooldown: Duration(5 * time.Minute), Stabilization: Duration(5 * time.Minute), MaxStep: MaxStep{Instances: 2, Percent: 10, Period: Duration(time.Minute)}}
	p.Predictive = Predictive{Mode: PredictForecastAndScale, Lead: Duration(3 * time.Minute), Season: Season{Period: 24 * time.Hour}, History: Duration(7 * 24 * time.Hour)}
	var (
		s State
		d Decision
		i int
	)
	in := Inputs{Current: 10, Ready: 10}
	step := func() {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		phase := 2 * math.Pi * float64(i%8640) / 8640
		in.Metrics[0] = Sample{Time: now, Value: 55 + 10*math.Sin(phase), Present: true}
		in.Metrics[1] = Sample{Time: now, Value: 2000 + 500*math.Sin(phase), Present: true}
		in.Metrics[2] = Sample{Time: now, Value: 400 + 100*math.Cos(phase), Present: true}
		switch path {
		case intoReused:
			EvaluateInto(&d, &p, &in, s, now)
		case inPlace:
			EvaluateNext(&d, &p, &in, now) // the state stays in d.Next
		default:
			d = Evaluate(p, in, s, now)
		}
		if path != inPlace {
			s = d.Next
		}
		in.Current, in.Ready = d.Desired, d.Desired
		i++
	}
	for range 10000 {
		step()
	}
	state := &s // where the state is carried
	if path == inPlace {
		state = &d.Next
	}
	for _, f := range prep {
		f(state)
	}
	return step
}

// TestEvaluateForecastAllocatesNothing: steady-state evaluation with
// prediction on (observing, scoring and forecasting three metrics, every
// pacing rule) allocates nothing, by value, into a reused Decision and in
// place.
func TestEvaluateForecastAllocatesNothing(t *testing.T) {
	for _, path := range []evalPath{byValue, intoReused, inPlace} {
		if allocs := testing.AllocsPerRun(500, steadyEvaluationsOn(path)); allocs != 0 {
			t.Errorf("%v: %v allocations per evaluation", path, allocs)
		}
	}
}
