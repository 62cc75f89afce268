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
