package policy

import "time"

// Defaults returns the values a policy gets for fields it does not set.
// They follow Kubernetes HPA's behavior defaults where one exists, so a
// policy that names only its target, bounds and metrics behaves like an HPA
// an operator already knows. Scale-in has no cooldown and no rate limit by
// default, as in HPA's behavior API (whose default scale-down policy, 100 %
// per 15 s, never binds): the stabilization window already keeps a
// scale-in from following a dip. A 300 s cooldown after every action cut
// the old max_step pace (10 % per 60 s) to 10 % per 300 s, and that pace
// itself, once the stabilization window had let go, kept paying for
// capacity the demand had left: with prediction off the scoreboard
// measured it at 1.26x the HPA reference's instance-hours on
// elb_request_count and 1.36x on batch_job_submissions, 1.09x and 1.04x
// without it. An operator who wants a pace sets scale_in.max_step
// ({instances: 2} alone means 2 per 60 s). The defaults:
//
//	warmup:              180s
//	evaluation_interval: 10s
//	tolerance:           0.1
//	scale_out:
//	  cooldown: 60s
//	  max_step: {instances: 4, percent: 100, period: 60s}
//	scale_in:
//	  cooldown:      0s
//	  stabilization: 300s
//	  max_step: {instances: 0, percent: 0, period: 60s} (no limit)
//	predictive:
//	  mode:    off
//	  lead:    the policy's warmup (180s when warmup is defaulted too)
//	  season:  auto
//	  history: 7d
//	  max_extra: 5% (the forecast's cost bound, over a trailing week;
//	             the zero value of ExtraBound)
//	stale_after:   60s, or 3 × evaluation_interval if that is larger
//	fallback_size: 0 (hold the current size while every metric is stale)
//
// id, target, min, max and metrics have no default. The returned Policy
// shows lead and stale_after as they come out with the other defaults;
// ApplyDefaults derives them from the policy's own warmup and interval.
func Defaults() Policy {
	return Policy{
		Warmup:             Duration(180 * time.Second),
		EvaluationInterval: Duration(10 * time.Second),
		Tolerance:          0.1,
		ScaleOut: ScaleOut{
			Cooldown: Duration(60 * time.Second),
			MaxStep:  MaxStep{Instances: 4, Percent: 100, Period: Duration(60 * time.Second)},
		},
		ScaleIn: ScaleIn{
			Cooldown:      0,
			Stabilization: Duration(300 * time.Second),
			MaxStep:       MaxStep{Period: Duration(60 * time.Second)},
		},
		Predictive: Predictive{
			Mode:    PredictOff,
			Lead:    Duration(180 * time.Second),
			Season:  Season{Auto: true},
			History: Duration(7 * 24 * time.Hour),
		},
		StaleAfter:   Duration(60 * time.Second),
		FallbackSize: 0,
	}
}

// minStaleAfter is the floor of the stale_after default: samples pushed or
// scraped every 15-30 s should survive one missed delivery.
const minStaleAfter = 60 * time.Second

// ApplyDefaults fills every field listed in Defaults that was not written
// in the policy. present reports whether a field was written, by its dotted
// path as used in FieldError ("tolerance", "scale_in.max_step.period",
// "predictive.lead"); only paths of defaulted fields are asked.
//
// Defaults are per field, not per block: `max_step: {instances: 10}` keeps
// percent 100 and period 60s from the defaults (write `percent: 0` to
// switch that half of the limit off).
//
// present may be nil, in which case a field counts as written when it is
// non-zero. That suits policies built in Go, but it cannot express an
// explicit zero such as `tolerance: 0` or `season: none`; a JSON request
// body should therefore go through Parse (JSON is YAML), which tracks
// presence exactly.
func (p *Policy) ApplyDefaults(present func(path string) bool) {
	d := Defaults()
	// Each entry is applied in order: lead reads the final warmup and
	// stale_after the final evaluation interval.
	for _, f := range []struct {
		path  string
		zero  bool
		apply func()
	}{
		{"warmup", p.Warmup == 0, func() { p.Warmup = d.Warmup }},
		{"evaluation_interval", p.EvaluationInterval == 0, func() { p.EvaluationInterval = d.EvaluationInterval }},
		{"tolerance", p.Tolerance == 0, func() { p.Tolerance = d.Tolerance }},
		{"scale_out.cooldown", p.ScaleOut.Cooldown == 0, func() { p.ScaleOut.Cooldown = d.ScaleOut.Cooldown }},
		{"scale_out.max_step.instances", p.ScaleOut.MaxStep.Instances == 0, func() { p.ScaleOut.MaxStep.Instances = d.ScaleOut.MaxStep.Instances }},
		{"scale_out.max_step.percent", p.ScaleOut.MaxStep.Percent == 0, func() { p.ScaleOut.MaxStep.Percent = d.ScaleOut.MaxStep.Percent }},
		{"scale_out.max_step.period", p.ScaleOut.MaxStep.Period == 0, func() { p.ScaleOut.MaxStep.Period = d.ScaleOut.MaxStep.Period }},
		{"scale_in.cooldown", p.ScaleIn.Cooldown == 0, func() { p.ScaleIn.Cooldown = d.ScaleIn.Cooldown }},
		{"scale_in.stabilization", p.ScaleIn.Stabilization == 0, func() { p.ScaleIn.Stabilization = d.ScaleIn.Stabilization }},
		{"scale_in.max_step.instances", p.ScaleIn.MaxStep.Instances == 0, func() { p.ScaleIn.MaxStep.Instances = d.ScaleIn.MaxStep.Instances }},
		{"scale_in.max_step.percent", p.ScaleIn.MaxStep.Percent == 0, func() { p.ScaleIn.MaxStep.Percent = d.ScaleIn.MaxStep.Percent }},
		{"scale_in.max_step.period", p.ScaleIn.MaxStep.Period == 0, func() { p.ScaleIn.MaxStep.Period = d.ScaleIn.MaxStep.Period }},
		{"predictive.mode", p.Predictive.Mode == "", func() { p.Predictive.Mode = d.Predictive.Mode }},
		{"predictive.lead", p.Predictive.Lead == 0, func() { p.Predictive.Lead = p.Warmup }},
		{"predictive.season", p.Predictive.Season == Season{}, func() { p.Predictive.Season = d.Predictive.Season }},
		{"predictive.history", p.Predictive.History == 0, func() { p.Predictive.History = d.Predictive.History }},
		{"stale_after", p.StaleAfter == 0, func() { p.StaleAfter = Duration(defaultStaleAfter(p.EvaluationInterval.D())) }},
		{"fallback_size", p.FallbackSize == 0, func() { p.FallbackSize = d.FallbackSize }},
	} {
		written := !f.zero
		if present != nil {
			written = present(f.path)
		}
		if !written {
			f.apply()
		}
	}
}

// defaultStaleAfter is 3 × the evaluation interval (a sample may miss two
// evaluations before it stops counting) but at least minStaleAfter. An
// interval outside its valid range falls back to the floor, because
// multiplying an absurd value could overflow and Validate reports the
// interval anyway.
func defaultStaleAfter(interval time.Duration) time.Duration {
	if interval <= 0 || interval > maxEvalInterval || 3*interval < minStaleAfter {
		return minStaleAfter
	}
	return 3 * interval
}
