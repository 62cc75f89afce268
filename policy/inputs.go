package policy

import "time"

// Inputs is everything Evaluate needs to know about the world at one instant.
// The caller fetches it (from the cloud driver and the metric windows, or from
// the simulator's virtual group); Evaluate only computes.
type Inputs struct {
	// Current is the group's desired size as the cloud reports it.
	Current int
	// Ready is the number of in-service instances. CPU utilization is an
	// average over these, so it is what a cpu proposal scales from.
	Ready int
	// Metrics holds the latest sample of each policy metric, indexed like
	// Policy.Metrics.
	Metrics [MaxMetrics]Sample
	// History optionally holds each metric's recent bucketed values, indexed
	// like Policy.Metrics. Forecasting uses it to detect a season and to warm
	// up a model from scratch; steady-state evaluation does not read it.
	History [MaxMetrics]Window
}

// Sample is one metric observation.
type Sample struct {
	// Time is when the value was measured; its age decides staleness.
	Time time.Time
	// Value is the measurement in the unit of the metric's type.
	Value float64
	// Present is false when no sample has ever been seen.
	Present bool
	// Over is, for a cpu metric, how many instances were in service when
	// the average was measured; 0 means unknown, and the instances in
	// service now (Inputs.Ready) stand for it. A sample is evaluated again
	// until the next one arrives: if the instances a scale-out ordered
	// become ready meanwhile, the old utilization over the new count reads
	// as more demand and asks for another scale-out, and so on until the
	// next sample (an hourly cpu trace took the HPA reference to 2,000
	// instances). Callers that keep a sample across evaluations record
	// the count they first saw it with.
	Over int
}

// MeasuredOver is the number of instances the cpu average smp covers:
// the count it was measured over (Sample.Over), else the instances in
// service now, or the desired size while none report as in service. The
// engine, the HPA reference and the leader (which records Over) all read
// a cpu sample through it.
func (in *Inputs) MeasuredOver(smp Sample) int {
	if smp.Over > 0 {
		return smp.Over
	}
	if in.Ready > 0 {
		return in.Ready
	}
	return in.Current
}

// Window is a run of fixed-step metric values, oldest first. Missing steps
// are NaN. Values are demand, the quantity forecasts are made of: for
// request_rate and queue_depth that is the value as measured; for cpu it is
// utilization × in-service instances at the time (percent-instances), because
// utilization alone changes whenever the group is resized.
type Window struct {
	// Start is the time of Values[0].
	Start time.Time
	// Step is the spacing of Values.
	Step time.Duration
	// Values are the bucketed values; the slice is only read.
	Values []float64
}

// End is the time just after the last value.
func (w Window) End() time.Time { return w.Start.Add(time.Duration(len(w.Values)) * w.Step) }
