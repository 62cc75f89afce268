package policy

import (
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validFullPolicy is testdata/full.yaml as a Go value, built by hand so the
// Validate tests do not depend on Parse.
func validFullPolicy() Policy {
	return Policy{
		ID:                 "web",
		Target:             Target{Provider: "aws", Group: "web-asg", Region: "us-east-1"},
		Min:                2,
		Max:                40,
		Warmup:             Duration(180 * time.Second),
		EvaluationInterval: Duration(10 * time.Second),
		Tolerance:          0.1,
		Metrics: []Metric{
			{Name: "cpu", Type: MetricCPU, Target: 60},
			{Name: "rps", Type: MetricRequestRate, Target: 200},
			{Name: "jobs", Type: MetricQueueDepth, Target: 50},
		},
		ScaleOut: ScaleOut{
			Cooldown: Duration(60 * time.Second),
			MaxStep:  MaxStep{Instances: 4, Percent: 100, Period: Duration(60 * time.Second)},
		},
		ScaleIn: ScaleIn{
			Cooldown:      Duration(300 * time.Second),
			Stabilization: Duration(300 * time.Second),
			MaxStep:       MaxStep{Instances: 2, Percent: 10, Period: Duration(60 * time.Second)},
		},
		Predictive: Predictive{
			Mode:    PredictForecastAndScale,
			Lead:    Duration(180 * time.Second),
			Season:  Season{Auto: true},
			History: Duration(7 * 24 * time.Hour),
		},
		StaleAfter:   Duration(60 * time.Second),
		FallbackSize: 0,
	}
}

func TestValidateFullPolicyIsValid(t *testing.T) {
	if err := validFullPolicy().Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
}

// TestValidateRules has one case per rule; each breaks exactly one rule of
// an otherwise valid policy and expects exactly that one field error.
func TestValidateRules(t *testing.T) {
	const h, d = time.Hour, 24 * time.Hour
	nine := make([]Metric, 9)
	for i := range nine {
		nine[i] = Metric{Name: "m" + string(rune('a'+i)), Type: MetricQueueDepth, Target: 1}
	}
	tests := []struct {
		name   string
		mutate func(p *Policy)
		path   string
		msg    string
	}{
		{"id required", func(p *Policy) { p.ID = "" }, "id", "required"},
		{"id charset upper", func(p *Policy) { p.ID = "Web" }, "id", "must contain only lowercase letters, digits and '-'"},
		{"id charset underscore", func(p *Policy) { p.ID = "web_app" }, "id", "must contain only lowercase letters, digits and '-'"},
		{"id too long", func(p *Policy) { p.ID = strings.Repeat("a", 64) }, "id", "must be at most 63 characters"},
		{"id leading dash", func(p *Policy) { p.ID = "-web" }, "id", "must not start or end with '-'"},
		{"id trailing dash", func(p *Policy) { p.ID = "web-" }, "id", "must not start or end with '-'"},

		{"provider required", func(p *Policy) { p.Target = Target{} }, "target.provider", "required"},
		{"provider enum", func(p *Policy) { p.Target.Provider = "openstack" }, "target.provider", "must be one of aws, azure, gcp, fake"},
		{"aws group", func(p *Policy) { p.Target.Group = "" }, "target.group", "required for provider aws"},
		{"aws region", func(p *Policy) { p.Target.Region = "" }, "target.region", "required for provider aws"},
		{"aws no zone", func(p *Policy) { p.Target.Zone = "us-east-1a" }, "target.zone", "not used by provider aws"},
		{"aws no project", func(p *Policy) { p.Target.Project = "x" }, "target.project", "not used by provider aws"},
		{"aws no scale_set", func(p *Policy) { p.Target.ScaleSet = "x" }, "target.scale_set", "not used by provider aws"},
		{"azure subscription", func(p *Policy) { p.Target = Target{Provider: "azure", ResourceGroup: "rg", ScaleSet: "ss"} }, "target.subscription", "required for provider azure"},
		{"azure resource_group", func(p *Policy) { p.Target = Target{Provider: "azure", Subscription: "s", ScaleSet: "ss"} }, "target.resource_group", "required for provider azure"},
		{"azure scale_set", func(p *Policy) { p.Target = Target{Provider: "azure", Subscription: "s", ResourceGroup: "rg"} }, "target.scale_set", "required for provider azure"},
		{"azure no group", func(p *Policy) {
			p.Target = Target{Provider: "azure", Subscription: "s", ResourceGroup: "rg", ScaleSet: "ss", Group: "g"}
		}, "target.group", "not used by provider azure"},
		{"gcp project", func(p *Policy) { p.Target = Target{Provider: "gcp", Group: "g", Zone: "z"} }, "target.project", "required for provider gcp"},
		{"gcp group", func(p *Policy) { p.Target = Target{Provider: "gcp", Project: "p", Region: "r"} }, "target.group", "required for provider gcp"},
		{"gcp neither zone nor region", func(p *Policy) { p.Target = Target{Provider: "gcp", Project: "p", Group: "g"} }, "target.zone", "provider gcp needs exactly one of zone or region"},
		{"gcp both zone and region", func(p *Policy) {
			p.Target = Target{Provider: "gcp", Project: "p", Group: "g", Zone: "z", Region: "r"}
		}, "target.region", "provider gcp needs exactly one of zone or region"},
		{"gcp no subscription", func(p *Policy) {
			p.Target = Target{Provider: "gcp", Project: "p", Group: "g", Zone: "z", Subscription: "s"}
		}, "target.subscription", "not used by provider gcp"},
		{"target name length", func(p *Policy) { p.Target.Group = strings.Repeat("g", 256) }, "target.group", "must be at most 255 characters"},
		{"target name control chars", func(p *Policy) { p.Target.Region = "us-east-1\n" }, "target.region", "must not contain control characters"},
		{"target name invalid UTF-8", func(p *Policy) { p.Target.Region = "us\xffeast" }, "target.region", "must not contain control characters"},
		{"azure resource group ..", func(p *Policy) {
			p.Target = Target{Provider: "azure", Subscription: "s", ResourceGroup: "..", ScaleSet: "ss"}
		}, "target.resource_group", `must not be ".." (provider azure puts it in a request path)`},
		{"azure scale set .", func(p *Policy) {
			p.Target = Target{Provider: "azure", Subscription: "s", ResourceGroup: "rg", ScaleSet: "."}
		}, "target.scale_set", `must not be "." (provider azure puts it in a request path)`},
		{"azure subscription with a slash", func(p *Policy) {
			p.Target = Target{Provider: "azure", Subscription: "s/../t", ResourceGroup: "rg", ScaleSet: "ss"}
		}, "target.subscription", `must not contain '/', '?', '#' or '\' (provider azure puts it in a request path)`},
		{"gcp zone ..", func(p *Policy) { p.Target = Target{Provider: "gcp", Project: "p", Group: "g", Zone: ".."} }, "target.zone", `must not be ".." (provider gcp puts it in a request path)`},
		{"gcp group with a query", func(p *Policy) { p.Target = Target{Provider: "gcp", Project: "p", Group: "g?x=1", Zone: "z"} }, "target.group", `must not contain '/', '?', '#' or '\' (provider gcp puts it in a request path)`},
		{"fake group", func(p *Policy) { p.Target = Target{Provider: "fake"} }, "target.group", "required for provider fake"},
		{"fake no region", func(p *Policy) { p.Target = Target{Provider: "fake", Group: "g", Region: "r"} }, "target.region", "not used by provider fake"},

		{"min >= 0", func(p *Policy) { p.Min = -1 }, "min", "must be >= 0"},
		{"max >= 1", func(p *Policy) { p.Min, p.Max = 0, 0 }, "max", "must be >= 1"},
		{"max <= 100000", func(p *Policy) { p.Max = 100001 }, "max", "must be <= 100000"},
		{"min <= max", func(p *Policy) { p.Min, p.Max = 5, 3 }, "max", "must be >= min (5)"},

		{"metrics required", func(p *Policy) { p.Metrics = nil }, "metrics", "at least one metric is required"},
		{"metrics at most MaxMetrics", func(p *Policy) { p.Metrics = nine }, "metrics", "at most 8 metrics are allowed"},
		{"metric name required", func(p *Policy) { p.Metrics[1].Name = "" }, "metrics[1].name", "required"},
		{"metric name charset", func(p *Policy) { p.Metrics[1].Name = "req-rate" }, "metrics[1].name", "must contain only lowercase letters, digits and '_'"},
		{"metric name too long", func(p *Policy) { p.Metrics[1].Name = strings.Repeat("x", 64) }, "metrics[1].name", "must be at most 63 characters"},
		{"metric name unique", func(p *Policy) { p.Metrics[2].Name = "cpu" }, "metrics[2].name", "duplicate name, first used by metrics[0]"},
		{"metric type required", func(p *Policy) { p.Metrics[1].Type = "" }, "metrics[1].type", "required"},
		{"metric type enum", func(p *Policy) { p.Metrics[1].Type = "gpu" }, "metrics[1].type", "must be one of cpu, request_rate, queue_depth"},
		{"metric target > 0", func(p *Policy) { p.Metrics[1].Target = 0 }, "metrics[1].target", "must be > 0"},
		{"metric target negative", func(p *Policy) { p.Metrics[2].Target = -5 }, "metrics[2].target", "must be > 0"},
		{"metric target NaN", func(p *Policy) { p.Metrics[1].Target = math.NaN() }, "metrics[1].target", "must be a finite number"},
		{"metric target Inf", func(p *Policy) { p.Metrics[1].Target = math.Inf(1) }, "metrics[1].target", "must be a finite number"},
		{"cpu target <= 100", func(p *Policy) { p.Metrics[0].Target = 100.5 }, "metrics[0].target", "must be in (0,100] for cpu"},

		{"warmup >= 0", func(p *Policy) { p.Warmup = Duration(-time.Second) }, "warmup", "must be in [0s,1h]"},
		{"warmup <= 1h", func(p *Policy) { p.Warmup, p.Predictive.Lead = Duration(h+time.Second), 0 }, "warmup", "must be in [0s,1h]"},
		{"evaluation_interval >= 1s", func(p *Policy) { p.EvaluationInterval = Duration(500 * time.Millisecond) }, "evaluation_interval", "must be in [1s,1h]"},
		{"evaluation_interval <= 1h", func(p *Policy) { p.EvaluationInterval = Duration(2 * h) }, "evaluation_interval", "must be in [1s,1h]"},
		{"tolerance >= 0", func(p *Policy) { p.Tolerance = -0.01 }, "tolerance", "must be in [0,1)"},
		{"tolerance < 1", func(p *Policy) { p.Tolerance = 1 }, "tolerance", "must be in [0,1)"},
		{"tolerance NaN", func(p *Policy) { p.Tolerance = math.NaN() }, "tolerance", "must be a finite number"},
		{"stale_after >= evaluation_interval", func(p *Policy) { p.EvaluationInterval = Duration(2 * time.Minute) }, "stale_after", "must be >= evaluation_interval (2m)"},
		{"fallback_size negative", func(p *Policy) { p.FallbackSize = -1 }, "fallback_size", "must be 0 or within [min,max]"},
		{"fallback_size below min", func(p *Policy) { p.FallbackSize = 1 }, "fallback_size", "must be 0 or within [min,max] ([2,40])"},
		{"fallback_size above max", func(p *Policy) { p.FallbackSize = 41 }, "fallback_size", "must be 0 or within [min,max] ([2,40])"},

		{"scale_out.cooldown >= 0", func(p *Policy) { p.ScaleOut.Cooldown = Duration(-time.Second) }, "scale_out.cooldown", "must be in [0s,24h]"},
		{"scale_out.cooldown <= 24h", func(p *Policy) { p.ScaleOut.Cooldown = Duration(d + time.Second) }, "scale_out.cooldown", "must be in [0s,24h]"},
		{"scale_in.cooldown <= 24h", func(p *Policy) { p.ScaleIn.Cooldown = Duration(25 * h) }, "scale_in.cooldown", "must be in [0s,24h]"},
		{"scale_in.stabilization >= 0", func(p *Policy) { p.ScaleIn.Stabilization = Duration(-time.Second) }, "scale_in.stabilization", "must be in [0s,24h]"},
		{"scale_in.stabilization <= 24h", func(p *Policy) { p.ScaleIn.Stabilization = Duration(2 * d) }, "scale_in.stabilization", "must be in [0s,24h]"},

		{"scale_out instances >= 0", func(p *Policy) { p.ScaleOut.MaxStep.Instances = -1 }, "scale_out.max_step.instances", "must be >= 0"},
		{"scale_in instances >= 0", func(p *Policy) { p.ScaleIn.MaxStep.Instances = -2 }, "scale_in.max_step.instances", "must be >= 0"},
		{"scale_out percent >= 0", func(p *Policy) { p.ScaleOut.MaxStep.Percent = -1 }, "scale_out.max_step.percent", "must be in [0,1000]"},
		{"scale_out percent <= 1000", func(p *Policy) { p.ScaleOut.MaxStep.Percent = 1000.5 }, "scale_out.max_step.percent", "must be in [0,1000]"},
		{"scale_out percent NaN", func(p *Policy) { p.ScaleOut.MaxStep.Percent = math.NaN() }, "scale_out.max_step.percent", "must be a finite number"},
		{"scale_in percent <= 100", func(p *Policy) { p.ScaleIn.MaxStep.Percent = 101 }, "scale_in.max_step.percent", "must be in [0,100]"},
		{"scale_in percent >= 0", func(p *Policy) { p.ScaleIn.MaxStep.Percent = -1 }, "scale_in.max_step.percent", "must be in [0,100]"},
		{"scale_in percent Inf", func(p *Policy) { p.ScaleIn.MaxStep.Percent = math.Inf(-1) }, "scale_in.max_step.percent", "must be a finite number"},
		{"period > 0 when limited", func(p *Policy) { p.ScaleOut.MaxStep.Period = 0 }, "scale_out.max_step.period", "must be in (0s,24h] when instances or percent is set"},
		{"period > 0 when only percent", func(p *Policy) {
			p.ScaleIn.MaxStep = MaxStep{Percent: 10}
		}, "scale_in.max_step.period", "must be in (0s,24h] when instances or percent is set"},
		{"period <= 24h", func(p *Policy) { p.ScaleIn.MaxStep.Period = Duration(d + 1) }, "scale_in.max_step.period", "must be in (0s,24h] when instances or percent is set"},
		{"period >= 0 when unlimited", func(p *Policy) {
			p.ScaleIn.MaxStep = MaxStep{Period: Duration(-time.Second)}
		}, "scale_in.max_step.period", "must be in [0s,24h]"},

		{"predictive.mode enum", func(p *Policy) { p.Predictive.Mode = "always" }, "predictive.mode", "must be one of off, forecast-only, forecast-and-scale"},
		{"predictive.mode empty", func(p *Policy) { p.Predictive.Mode = "" }, "predictive.mode", "must be one of off, forecast-only, forecast-and-scale"},
		{"predictive.lead >= 0", func(p *Policy) { p.Predictive.Lead = Duration(-time.Second) }, "predictive.lead", "must be in [0s,24h]"},
		{"predictive.lead <= 24h", func(p *Policy) { p.Predictive.Lead = Duration(25 * h) }, "predictive.lead", "must be in [0s,24h]"},
		{"season >= 1m", func(p *Policy) { p.Predictive.Season = Season{Period: 30 * time.Second} }, "predictive.season", "must be none, auto or a duration in [1m,30d]"},
		{"season <= 30d", func(p *Policy) {
			p.Predictive.Season, p.Predictive.History = Season{Period: 31 * d}, Duration(90*d)
		}, "predictive.season", "must be none, auto or a duration in [1m,30d]"},
		{"season negative", func(p *Policy) { p.Predictive.Season = Season{Period: -h} }, "predictive.season", "must be none, auto or a duration in [1m,30d]"},
		{"season auto and period", func(p *Policy) { p.Predictive.Season = Season{Auto: true, Period: h} }, "predictive.season", "must be none, auto or a duration in [1m,30d]"},
		{"history >= 1h", func(p *Policy) { p.Predictive.History = Duration(59 * time.Minute) }, "predictive.history", "must be in [1h,90d]"},
		{"history <= 90d", func(p *Policy) { p.Predictive.History = Duration(91 * d) }, "predictive.history", "must be in [1h,90d]"},
		{"history >= 2 x season", func(p *Policy) {
			p.Predictive.Season, p.Predictive.History = Season{Period: d}, Duration(36*h)
		}, "predictive.history", "must be at least twice the season (48h)"},
		{"history >= 2 x weekly season", func(p *Policy) {
			p.Predictive.Season, p.Predictive.History = Season{Period: 7 * d}, Duration(10*d)
		}, "predictive.history", "must be at least twice the season (14d)"},
		{"max_extra >= 0", func(p *Policy) { p.Predictive.MaxExtra = -2 }, "predictive.max_extra", "must be none or a percentage in (0%,100%], such as 5%"},
		{"max_extra <= 100%", func(p *Policy) { p.Predictive.MaxExtra = 100.5 }, "predictive.max_extra", "must be none or a percentage in (0%,100%], such as 5%"},
		{"max_extra not NaN", func(p *Policy) { p.Predictive.MaxExtra = ExtraBound(math.NaN()) }, "predictive.max_extra", "must be none or a percentage in (0%,100%], such as 5%"},
		{"history_step >= 1s", func(p *Policy) { p.Predictive.HistoryStep = Duration(-time.Second) }, "predictive.history_step", "must be in [1s,1h]"},
		{"history_step <= 1h", func(p *Policy) { p.Predictive.HistoryStep = Duration(61 * time.Minute) }, "predictive.history_step", "must be in [1s,1h]"},
		{"history_step whole seconds", func(p *Policy) { p.Predictive.HistoryStep = Duration(1500 * time.Millisecond) }, "predictive.history_step", "must be a whole number of seconds"},
		{"history_step at most 10,080 buckets", func(p *Policy) {
			p.Predictive.History, p.Predictive.HistoryStep = Duration(14*d), Duration(time.Minute)
		}, "predictive.history_step", "must be at least predictive.history / 10080 (2m), so that the history is at most 10080 buckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validFullPolicy()
			tt.mutate(&p)
			want := []FieldError{{Path: tt.path, Message: tt.msg}}
			if got := fieldErrors(t, p.Validate()); !reflect.DeepEqual(got, want) {
				t.Errorf("Validate() fields = %q\nwant %q", got, want)
			}
		})
	}
}

// TestValidateAcceptsBoundaries pins the inclusive ends of every range, so
// an off-by-one in a rule shows up as a failure here.
func TestValidateAcceptsBoundaries(t *testing.T) {
	const h, d = time.Hour, 24 * time.Hour
	tests := []struct {
		name   string
		mutate func(p *Policy)
	}{
		{"id 63 chars", func(p *Policy) { p.ID = strings.Repeat("a", 63) }},
		{"id digits and dashes", func(p *Policy) { p.ID = "0-web-9" }},
		{"id one char", func(p *Policy) { p.ID = "a" }},
		{"min 0", func(p *Policy) { p.Min = 0 }},
		{"min == max", func(p *Policy) { p.Min, p.Max = 40, 40 }},
		{"max 100000", func(p *Policy) { p.Max = 100000 }},
		{"max 1", func(p *Policy) { p.Min, p.Max = 0, 1 }},
		{"metrics exactly MaxMetrics", func(p *Policy) {
			for i := len(p.Metrics); i < MaxMetrics; i++ {
				p.Metrics = append(p.Metrics, Metric{Name: "q_" + string(rune('a'+i)), Type: MetricQueueDepth, Target: 1})
			}
		}},
		{"metric name with underscore and 63 chars", func(p *Policy) { p.Metrics[0].Name = "cpu_" + strings.Repeat("9", 59) }},
		{"cpu target 100", func(p *Policy) { p.Metrics[0].Target = 100 }},
		{"request_rate above 100", func(p *Policy) { p.Metrics[1].Target = 5000 }},
		{"tiny target", func(p *Policy) { p.Metrics[2].Target = 1e-9 }},
		{"warmup 0", func(p *Policy) { p.Warmup = 0 }},
		{"warmup 1h", func(p *Policy) { p.Warmup = Duration(h) }},
		{"evaluation_interval 1s", func(p *Policy) { p.EvaluationInterval = Duration(time.Second) }},
		{"evaluation_interval 1h", func(p *Policy) { p.EvaluationInterval, p.StaleAfter = Duration(h), Duration(h) }},
		{"tolerance 0", func(p *Policy) { p.Tolerance = 0 }},
		{"tolerance 0.99", func(p *Policy) { p.Tolerance = 0.99 }},
		{"stale_after == evaluation_interval", func(p *Policy) { p.StaleAfter = p.EvaluationInterval }},
		{"fallback_size min", func(p *Policy) { p.FallbackSize = 2 }},
		{"fallback_size max", func(p *Policy) { p.FallbackSize = 40 }},
		{"cooldowns 0 and 24h", func(p *Policy) { p.ScaleOut.Cooldown, p.ScaleIn.Cooldown = 0, Duration(d) }},
		{"stabilization 24h", func(p *Policy) { p.ScaleIn.Stabilization = Duration(d) }},
		{"no rate limit at all", func(p *Policy) { p.ScaleOut.MaxStep, p.ScaleIn.MaxStep = MaxStep{}, MaxStep{} }},
		{"scale_out percent 1000", func(p *Policy) { p.ScaleOut.MaxStep.Percent = 1000 }},
		{"scale_in percent 100", func(p *Policy) { p.ScaleIn.MaxStep.Percent = 100 }},
		{"period 24h", func(p *Policy) { p.ScaleIn.MaxStep.Period = Duration(d) }},
		{"mode off", func(p *Policy) { p.Predictive.Mode = PredictOff }},
		{"mode forecast-only", func(p *Policy) { p.Predictive.Mode = PredictForecastOnly }},
		{"lead 0 and 24h", func(p *Policy) { p.Predictive.Lead = 0; p.Predictive.Lead = Duration(d) }},
		{"season none", func(p *Policy) { p.Predictive.Season = Season{} }},
		{"season 1m", func(p *Policy) { p.Predictive.Season = Season{Period: time.Minute} }},
		{"season 30d history 60d", func(p *Policy) {
			p.Predictive.Season, p.Predictive.History = Season{Period: 30 * d}, Duration(60*d)
		}},
		{"history exactly twice the season", func(p *Policy) {
			p.Predictive.Season, p.Predictive.History = Season{Period: d}, Duration(2*d)
		}},
		{"history 1h and 90d", func(p *Policy) { p.Predictive.History = Duration(h); p.Predictive.History = Duration(90 * d) }},
		{"history_step 1m over 7d: 10,080 buckets", func(p *Policy) {
			p.Predictive.History, p.Predictive.HistoryStep = Duration(7*d), Duration(time.Minute)
		}},
		{"history_step 1s over 1h", func(p *Policy) { p.Predictive.History, p.Predictive.HistoryStep = Duration(h), Duration(time.Second) }},
		{"history_step 1h over 90d", func(p *Policy) { p.Predictive.History, p.Predictive.HistoryStep = Duration(90*d), Duration(h) }},
		{"gcp regional", func(p *Policy) { p.Target = Target{Provider: "gcp", Project: "p", Group: "g", Region: "r"} }},
		{"azure", func(p *Policy) {
			p.Target = Target{Provider: "azure", Subscription: "s", ResourceGroup: "rg", ScaleSet: "ss"}
		}},
		{"fake", func(p *Policy) { p.Target = Target{Provider: "fake", Group: "g"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validFullPolicy()
			tt.mutate(&p)
			if err := p.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// TestValidateReportsEverything checks that Validate does not stop at the
// first problem, and that it lists problems in the order fields are declared.
func TestValidateReportsEverything(t *testing.T) {
	p := validFullPolicy()
	p.ID = "Bad"
	p.Max = 0
	p.Metrics[1].Type = "gpu"
	p.Tolerance = 2
	p.ScaleIn.MaxStep.Percent = 150
	p.Predictive.Mode = "sometimes"
	want := []FieldError{
		{"id", "must contain only lowercase letters, digits and '-'"},
		{"max", "must be >= 1"},
		{"metrics[1].type", "must be one of cpu, request_rate, queue_depth"},
		{"tolerance", "must be in [0,1)"},
		{"scale_in.max_step.percent", "must be in [0,100]"},
		{"predictive.mode", "must be one of off, forecast-only, forecast-and-scale"},
	}
	if got := fieldErrors(t, p.Validate()); !reflect.DeepEqual(got, want) {
		t.Errorf("fields:\n%q\nwant\n%q", got, want)
	}
}

func TestValidationErrorShape(t *testing.T) {
	p := validFullPolicy()
	p.Min, p.Max = 7, 3
	p.Target.Zone = "a"
	err := p.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	const want = "target.zone: not used by provider aws\nmax: must be >= min (7)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	// Wrapping must keep both the sentinel and the field list reachable.
	wrapped := errors.Join(errors.New("put policy"), err)
	var ve *ValidationError
	if !errors.As(wrapped, &ve) || len(ve.Fields) != 2 || !errors.Is(wrapped, ErrInvalid) {
		t.Errorf("errors.As through a wrapper lost the fields: %v", wrapped)
	}
	if (FieldError{Message: "policy is empty"}).Error() != "policy is empty" {
		t.Error("a document-level FieldError should render without a path")
	}
}

// TestValidateMatchesParse checks that every valid example in testdata,
// once parsed, also passes Validate on its own: the API validates decoded
// policies the same way.
func TestValidateMatchesParse(t *testing.T) {
	for _, name := range []string{"full.yaml", "full.json", "minimal.yaml", "gcp.yaml", "azure.yaml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
}

// fieldErrors extracts the field list from err (nil for nil), failing the
// test when err is of another kind.
func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	return ve.Fields
}
