// Package policy owns the scaling policy model, its validation and its pure
// evaluation. Nothing in this package performs I/O, reads the clock, starts
// goroutines or logs: the live leader loop and the simulator both call
// Evaluate with the time and inputs they choose, so a simulated run is a
// faithful preview of production behaviour.
package policy

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// MaxMetrics is the largest number of metrics one policy may declare. It is
// fixed so that a Decision can carry its per-metric proposals without
// allocating.
const MaxMetrics = 8

// MetricType says how a metric's value turns into a number of instances.
type MetricType string

// The metric types a policy may track.
const (
	// MetricCPU is average utilization in percent over the group's
	// in-service instances: desired = ceil(current × value / target).
	MetricCPU MetricType = "cpu"
	// MetricRequestRate is the group's total request rate per second:
	// desired = ceil(value / target_per_instance).
	MetricRequestRate MetricType = "request_rate"
	// MetricQueueDepth is a backlog: desired = ceil(value / target_backlog_per_instance).
	MetricQueueDepth MetricType = "queue_depth"
)

// PredictiveMode selects whether forecasts are computed and whether they act.
type PredictiveMode string

// The predictive modes.
const (
	// PredictOff computes no forecast.
	PredictOff PredictiveMode = "off"
	// PredictForecastOnly records the predictive proposal without acting on it.
	PredictForecastOnly PredictiveMode = "forecast-only"
	// PredictForecastAndScale scales to the larger of the reactive and the
	// predictive proposal.
	PredictForecastAndScale PredictiveMode = "forecast-and-scale"
)

// scales reports whether m is PredictForecastAndScale. It is m ==
// PredictForecastAndScale in two pieces: the compiler compares a string
// with a constant of at most 16 bytes inline, and with a longer one (the
// mode is 18) calls runtime.memequal, at every evaluation.
// TestModeScales holds the pieces to the constant.
func (m PredictiveMode) scales() bool {
	return len(m) == len(PredictForecastAndScale) && m[:16] == "forecast-and-sca" && m[16:] == "le"
}

// Policy is one validated scaling policy. Build it with Parse (which applies
// defaults and validates) rather than by hand; Evaluate assumes a valid policy.
type Policy struct {
	// ID names the policy: [a-z0-9-], 1..63 characters.
	ID string `json:"id" yaml:"id"`
	// Target names the cloud group the policy resizes.
	Target Target `json:"target" yaml:"target"`
	// Min is the smallest size the policy will ever ask for.
	Min int `json:"min" yaml:"min"`
	// Max is the largest size the policy will ever ask for.
	Max int `json:"max" yaml:"max"`
	// Warmup is the boot-to-ready time of a new instance.
	Warmup Duration `json:"warmup" yaml:"warmup"`
	// EvaluationInterval is how often the leader evaluates the policy.
	EvaluationInterval Duration `json:"evaluation_interval" yaml:"evaluation_interval"`
	// Tolerance is the relative band around each target inside which no
	// change is proposed (0.1 means ±10 %).
	Tolerance float64 `json:"tolerance" yaml:"tolerance"`
	// Metrics are tracked independently; the largest proposal wins.
	Metrics []Metric `json:"metrics" yaml:"metrics"`
	// ScaleOut paces growth.
	ScaleOut ScaleOut `json:"scale_out" yaml:"scale_out"`
	// ScaleIn paces shrinking.
	ScaleIn ScaleIn `json:"scale_in" yaml:"scale_in"`
	// Predictive configures forecasting.
	Predictive Predictive `json:"predictive" yaml:"predictive"`
	// StaleAfter is the age beyond which a metric sample no longer counts.
	StaleAfter Duration `json:"stale_after" yaml:"stale_after"`
	// FallbackSize, when positive, is the size to grow to while every metric
	// is stale; 0 holds the current size. Stale data never scales in.
	FallbackSize int `json:"fallback_size" yaml:"fallback_size"`
	// Schedules are windows of scheduled capacity that raise min and/or
	// cap max while they are open.
	Schedules []Schedule `json:"schedules,omitempty" yaml:"schedules,omitempty"`
	// Cost prices the instances; the zero value means unpriced.
	Cost Cost `json:"cost,omitzero" yaml:"cost,omitempty"`
	// Budget caps the group's hourly cost (it needs Cost); the zero value
	// means no budget.
	Budget Budget `json:"budget,omitzero" yaml:"budget,omitempty"`
}

// Target names a cloud group. Provider is aws, azure, gcp or fake; the other
// fields are provider-specific and checked by the cloud drivers.
type Target struct {
	// Provider selects the cloud driver.
	Provider string `json:"provider" yaml:"provider"`
	// Group is the AWS Auto Scaling group, the GCP instance group manager or the fake group name.
	Group string `json:"group,omitempty" yaml:"group,omitempty"`
	// Region is the AWS or GCP region.
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	// Zone is the GCP zone of a zonal managed instance group.
	Zone string `json:"zone,omitempty" yaml:"zone,omitempty"`
	// Project is the GCP project.
	Project string `json:"project,omitempty" yaml:"project,omitempty"`
	// Subscription is the Azure subscription id.
	Subscription string `json:"subscription,omitempty" yaml:"subscription,omitempty"`
	// ResourceGroup is the Azure resource group.
	ResourceGroup string `json:"resource_group,omitempty" yaml:"resource_group,omitempty"`
	// ScaleSet is the Azure VM scale set name.
	ScaleSet string `json:"scale_set,omitempty" yaml:"scale_set,omitempty"`
}

// Metric is one tracked signal and its per-instance target.
type Metric struct {
	// Name identifies the metric within the policy (and in traces and pushes).
	Name string `json:"name" yaml:"name"`
	// Type says how the value turns into a size.
	Type MetricType `json:"type" yaml:"type"`
	// Target is the utilization % (cpu), requests/s per instance
	// (request_rate) or backlog per instance (queue_depth).
	Target float64 `json:"target" yaml:"target"`
	// Source says where the metric's samples come from; the zero value is push.
	Source Source `json:"source,omitzero" yaml:"source,omitempty"`
}

// SourceKind names where a metric's samples come from.
type SourceKind string

// The source kinds.
const (
	// SourcePush takes samples pushed to POST /v1/metrics or sent by a
	// Prometheus remote-write (series labelled capstan_policy and
	// capstan_metric). It is the default.
	SourcePush SourceKind = "push"
	// SourcePrometheus runs a PromQL query against a Prometheus server at
	// every evaluation interval.
	SourcePrometheus SourceKind = "prometheus"
	// SourceSQS reads an Amazon SQS queue's approximate depth.
	SourceSQS SourceKind = "sqs"
)

// Source configures where a metric's samples come from.
type Source struct {
	// Kind is push (the default when empty), prometheus or sqs.
	Kind SourceKind `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Query is the PromQL expression (prometheus); it must return one
	// series or a scalar.
	Query string `json:"query,omitempty" yaml:"query,omitempty"`
	// QueueURL and Region name the SQS queue (sqs).
	QueueURL string `json:"queue_url,omitempty" yaml:"queue_url,omitempty"`
	Region   string `json:"region,omitempty" yaml:"region,omitempty"`
	// IncludeInFlight adds the messages received but not yet deleted
	// (ApproximateNumberOfMessagesNotVisible) to the depth (sqs).
	IncludeInFlight bool `json:"include_in_flight,omitempty" yaml:"include_in_flight,omitempty"`
	// Match and MatchRE route Prometheus remote-write series to the metric
	// by their labels (push): a series feeds it when every label in Match
	// has exactly that value and every label in MatchRE matches that
	// regular expression (RE2, anchored at both ends, as in PromQL). When
	// several series feed one metric, the leader combines the newest
	// sample of each series not older than stale_after: request_rate and
	// queue_depth add them up (the group's total rate or backlog), cpu
	// averages them. Series labelled capstan_policy and capstan_metric need
	// no matcher and are taken as group values.
	Match   map[string]string `json:"match,omitempty" yaml:"match,omitempty"`
	MatchRE map[string]string `json:"match_re,omitempty" yaml:"match_re,omitempty"`
}

// IsZero reports whether the source is entirely unset.
func (s Source) IsZero() bool {
	return s.Kind == "" && s.Query == "" && s.QueueURL == "" && s.Region == "" && !s.IncludeInFlight &&
		len(s.Match) == 0 && len(s.MatchRE) == 0
}

// Matches reports whether the source routes remote-write series by label
// matchers.
func (s Source) Matches() bool { return len(s.Match) > 0 || len(s.MatchRE) > 0 }

// EffectiveKind is the source kind, with the default applied.
func (s Source) EffectiveKind() SourceKind {
	if s.Kind == "" {
		return SourcePush
	}
	return s.Kind
}

// MaxStep is a rate limit in the style of Kubernetes HPA behavior policies:
// within any Period the size may change by at most the larger of Instances
// and Percent of the size at the start of the period. A zero Instances or
// Percent disables that half of the limit; both zero means no limit.
type MaxStep struct {
	// Instances is an absolute change allowed per period.
	Instances int `json:"instances" yaml:"instances"`
	// Percent is a change allowed per period relative to the size at its start.
	Percent float64 `json:"percent" yaml:"percent"`
	// Period is the sliding window the limit applies to.
	Period Duration `json:"period" yaml:"period"`
}

// ScaleOut paces growth.
type ScaleOut struct {
	// Cooldown is the minimum time between two scale-outs.
	Cooldown Duration `json:"cooldown" yaml:"cooldown"`
	// MaxStep limits growth per period.
	MaxStep MaxStep `json:"max_step" yaml:"max_step"`
}

// ScaleIn paces shrinking.
type ScaleIn struct {
	// Cooldown is the minimum time after any scaling action before a scale-in.
	Cooldown Duration `json:"cooldown" yaml:"cooldown"`
	// Stabilization is the window whose highest recommendation a scale-in
	// may not go below.
	Stabilization Duration `json:"stabilization" yaml:"stabilization"`
	// MaxStep limits shrinking per period.
	MaxStep MaxStep `json:"max_step" yaml:"max_step"`
}

// Predictive configures forecasting.
type Predictive struct {
	// Mode is off, forecast-only or forecast-and-scale.
	Mode PredictiveMode `json:"mode" yaml:"mode"`
	// Lead is how far ahead to forecast; about the instance warm-up.
	Lead Duration `json:"lead" yaml:"lead"`
	// Season is "none", "auto" or a duration such as "24h".
	Season Season `json:"season" yaml:"season"`
	// History is how much metric history forecasting and season detection use.
	History Duration `json:"history" yaml:"history"`
	// HistoryStep is the bucket width the cluster keeps that history in
	// (a replay of it is no finer). Zero is the default: the history in
	// at most 2,016 buckets, never narrower than the evaluation interval
	// (5 minutes for 7 days). A finer step costs memory and snapshot
	// bytes in proportion: 1m keeps 7 days in 10,080 buckets, about
	// 100 KB a metric.
	HistoryStep Duration `json:"history_step,omitempty" yaml:"history_step,omitempty"`
	// MaxExtra bounds the forecast's cost (forecast-and-scale only): the
	// instance-time prediction holds above what the reactive rule alone
	// would hold, over a trailing week, as a share of the rest. Once it is
	// spent a trusted forecast does not raise the recommendation until the
	// spending ages out. Written "5%" (the default); "none" or 0 turns the
	// bound off. The zero value is the default, so that a policy stored
	// before the setting existed has the bound and one that keeps the
	// default is stored byte for byte as before (omitted from its JSON).
	MaxExtra ExtraBound `json:"max_extra,omitzero" yaml:"max_extra,omitempty"`
}

// ExtraBound is predictive.max_extra, in percent. The zero value is the
// default (DefaultMaxExtra) and NoMaxExtra turns the bound off; any other
// value is the share itself, in (0,100].
type ExtraBound float64

// DefaultMaxExtra is the forecast's cost bound by default, in percent:
// prediction holds at most 5 % more instance-time than the reactive rule
// alone would, over a trailing week. At 5 % the board's asg_cpu and elb
// traces pass their instance-hours bar (1.05x the HPA reference's) and the
// held-out board misses 40 rows instead of 61; at 6 % asg_cpu missed
// (1.059x, i9-budget's q06w). The nyc-taxi example's under-provisioned
// samples rise 165 -> 309 at 5 % (172 -> 209 at 6 % on i9-budget's
// base). BENCHMARKS.md, issue 9, the forecast's cost bound.
const DefaultMaxExtra = 5

// NoMaxExtra is the bound turned off ("none" or 0 in a policy file).
const NoMaxExtra ExtraBound = -1

// Percent is the bound in percent (DefaultMaxExtra for the zero value),
// 0 when it is off.
func (b ExtraBound) Percent() float64 {
	switch {
	case b == 0:
		return DefaultMaxExtra
	case b < 0:
		return 0
	}
	return float64(b)
}

// On reports whether the bound is on.
func (b ExtraBound) On() bool { return b >= 0 }

// String renders the bound as it is written in a policy file: "5%", or
// "none" when it is off.
func (b ExtraBound) String() string {
	if !b.On() {
		return "none"
	}
	return strconv.FormatFloat(b.Percent(), 'g', -1, 64) + "%"
}

// MarshalText renders the bound as it is written in a policy file.
func (b ExtraBound) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses "none", "0" or a percentage such as "5%" or "2.5 %".
func (b *ExtraBound) UnmarshalText(text []byte) error {
	v, err := ParseExtraBound(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ErrBadExtraBound is returned for text that is not "none", "0" or a
// percentage such as "5%".
var ErrBadExtraBound = errors.New("must be none, 0 or a percentage such as 5%")

// ParseExtraBound parses "none", "0" or "0%" (NoMaxExtra), or a finite
// non-negative number followed by "%" (space allowed before it); the
// default's percentage parses to the zero value, so that a policy reads
// the same whether it writes the default or leaves it out. The upper end
// of the range is Validate's to check.
func ParseExtraBound(s string) (ExtraBound, error) {
	if s == "none" || s == "0" {
		return NoMaxExtra, nil
	}
	num, ok := strings.CutSuffix(s, "%")
	num = strings.TrimRight(num, " ")
	if !ok || num == "" || strings.ContainsAny(num, "xXpP_") {
		return 0, ErrBadExtraBound
	}
	v, err := strconv.ParseFloat(num, 64)
	switch {
	case err != nil || !isFinite(v) || v < 0:
		return 0, ErrBadExtraBound
	case v == 0:
		return NoMaxExtra, nil
	case v == DefaultMaxExtra:
		return 0, nil
	}
	return ExtraBound(v), nil
}

// Season is the seasonal period used by Holt-Winters forecasting.
// Auto asks for detection from history; a zero Period with Auto false means none.
type Season struct {
	// Auto requests automatic detection.
	Auto bool
	// Period is a configured season length; zero when none or auto.
	Period time.Duration
}

// String renders the season as it is written in a policy file.
func (s Season) String() string {
	switch {
	case s.Auto:
		return "auto"
	case s.Period == 0:
		return "none"
	default:
		return Duration(s.Period).String()
	}
}

// MarshalText renders the season as it is written in a policy file.
func (s Season) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses "none", "auto" or a duration.
func (s *Season) UnmarshalText(b []byte) error {
	switch string(b) {
	case "auto":
		*s = Season{Auto: true}
		return nil
	case "none", "":
		*s = Season{}
		return nil
	}
	d, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*s = Season{Period: d}
	return nil
}
