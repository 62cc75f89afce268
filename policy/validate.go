package policy

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is matched (with errors.Is) by every error Parse and Validate
// return for a bad policy, so callers such as the REST API can map them to
// one status code without inspecting messages. errors.As with a
// *ValidationError gives the individual problems.
var ErrInvalid = errors.New("invalid policy")

// FieldError is one problem with a policy, named by the dotted path of the
// field it concerns ("scale_in.max_step.percent", "metrics[1].target") and a
// message that states the rule it breaks. Path is empty for problems with the
// document as a whole (empty input, YAML syntax, size).
type FieldError struct {
	// Path is the dotted field path, as written in the policy file.
	Path string `json:"path"`
	// Message states the rule that the field breaks.
	Message string `json:"message"`
}

// Error renders the problem as "path: message", the form operators see in
// the CLI and in the API's error text.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// ValidationError carries every problem found in a policy at once, so an
// operator can fix a file in one pass instead of one error per attempt.
type ValidationError struct {
	// Fields lists the problems in document order (or, for Validate, in the
	// order fields are declared in Policy).
	Fields []FieldError `json:"fields"`
}

// Error joins the problems one per line as "path: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = f.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid so that errors.Is(err, ErrInvalid) holds for
// every validation failure without callers knowing the concrete type.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Limits enforced by Validate. They are not configurable: they exist to
// catch typos ("max: 4000000") and units mistakes ("warmup: 180h") before
// such a policy can resize a production group.
const (
	maxIDLen           = 63
	maxMetricNameLen   = 63
	maxCloudNameLen    = 255
	maxGroupSize       = 100000
	maxWarmup          = time.Hour
	minEvalInterval    = time.Second
	maxEvalInterval    = time.Hour
	maxPacingWindow    = 24 * time.Hour // cooldowns, stabilization, max_step.period, predictive.lead
	maxScaleOutPercent = 1000
	maxScaleInPercent  = 100
	maxCPUTarget       = 100
	minSeason          = time.Minute
	maxSeason          = 30 * 24 * time.Hour
	minHistory         = time.Hour
	minHistoryStep     = time.Second
	maxHistoryStep     = time.Hour
	maxHistory         = 90 * 24 * time.Hour
)

// maxMaxExtra bounds predictive.max_extra: beyond it the forecast could
// hold more than the reactive rule's instance-time again, no longer a
// bound worth the name.
const maxMaxExtra ExtraBound = 100

// MaxHistoryBuckets bounds the buckets a predictive.history_step may
// cut predictive.history into: 7 days of 1-minute buckets. A bucket is
// about 10 bytes of every node's memory per metric (BENCHMARKS.md).
const MaxHistoryBuckets = 10_080

// Validate checks every rule a policy must satisfy and returns nil or a
// *ValidationError (which matches ErrInvalid) listing all violations.
//
// It is meant for policies that already carry their defaults: Parse calls it
// after applying them, and code that builds or decodes a Policy some other
// way should call ApplyDefaults first. Because a Policy value cannot say
// whether a field was written, zero values are judged as written here
// (max 0 fails "must be >= 1"; Parse reports "required" instead).
func (p Policy) Validate() error {
	c := ruleChecker{}
	c.policy(p)
	return c.err()
}

// ruleChecker accumulates FieldErrors. Parse uses the same rules as Validate
// but knows more: which fields were present (so absent required fields say
// "required") and which fields already failed to decode (so a field that is
// not an integer is not also reported as being out of range).
type ruleChecker struct {
	errs []FieldError
	// present reports whether a path was written; nil means every field
	// counts as written, which is all Validate can assume.
	present func(path string) bool
	// broken reports whether a path, or one of its ancestors, already failed
	// to decode; nil means none did.
	broken func(path string) bool
}

func (c *ruleChecker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: c.errs}
}

// add records a violation unless the field already failed to decode, in
// which case the decoding error is the one the operator needs.
func (c *ruleChecker) add(path, msg string) {
	if c.broken != nil && c.broken(path) {
		return
	}
	c.errs = append(c.errs, FieldError{Path: path, Message: msg})
}

func (c *ruleChecker) addf(path, format string, args ...any) {
	c.add(path, fmt.Sprintf(format, args...))
}

// has reports whether a field was written and decoded cleanly, i.e. whether
// its value can be trusted by a rule that spans several fields.
func (c *ruleChecker) has(path string) bool {
	if c.broken != nil && c.broken(path) {
		return false
	}
	return c.present == nil || c.present(path)
}

// required reports whether a required field can be checked further, and
// records "required" when it was not written at all.
func (c *ruleChecker) required(path string) bool {
	if c.present != nil && !c.present(path) {
		c.add(path, "required")
		return false
	}
	return c.broken == nil || !c.broken(path)
}

func (c *ruleChecker) policy(p Policy) {
	c.id(p.ID)
	c.target(p.Target)
	c.bounds(p)
	c.metrics(p.Metrics)

	c.durationIn("warmup", p.Warmup.D(), 0, maxWarmup)
	evalOK := c.durationIn("evaluation_interval", p.EvaluationInterval.D(), minEvalInterval, maxEvalInterval)
	if checkFinite(c, "tolerance", p.Tolerance) && (p.Tolerance < 0 || p.Tolerance >= 1) {
		c.add("tolerance", "must be in [0,1)")
	}

	c.durationIn("scale_out.cooldown", p.ScaleOut.Cooldown.D(), 0, maxPacingWindow)
	c.maxStep("scale_out.max_step", p.ScaleOut.MaxStep, maxScaleOutPercent)
	c.durationIn("scale_in.cooldown", p.ScaleIn.Cooldown.D(), 0, maxPacingWindow)
	c.durationIn("scale_in.stabilization", p.ScaleIn.Stabilization.D(), 0, maxPacingWindow)
	c.maxStep("scale_in.max_step", p.ScaleIn.MaxStep, maxScaleInPercent)

	c.predictive(p.Predictive)

	// Comparing with an out-of-range interval would only repeat that error.
	if evalOK && c.has("evaluation_interval") && p.StaleAfter < p.EvaluationInterval {
		c.addf("stale_after", "must be >= evaluation_interval (%s)", fmtDur(p.EvaluationInterval.D()))
	}
	c.fallback(p)
	c.schedules(p)
	c.cost(p.Cost)
	c.budget(p)
}

func (c *ruleChecker) id(id string) {
	switch {
	case id == "":
		c.add("id", "required")
	case len(id) > maxIDLen:
		c.addf("id", "must be at most %d characters", maxIDLen)
	case !onlyChars(id, '-'):
		c.add("id", "must contain only lowercase letters, digits and '-'")
	case id[0] == '-' || id[len(id)-1] == '-':
		c.add("id", "must not start or end with '-'")
	}
}

// onlyChars reports whether s holds only [a-z0-9] and the one extra byte
// allowed. IDs and metric names appear in URLs, Raft keys and metric labels,
// so they are kept to a character set that needs no escaping anywhere.
func onlyChars(s string, extra byte) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == extra) {
			return false
		}
	}
	return true
}

// targetField names a provider-specific Target field by its path.
type targetField struct {
	name  string
	value string
}

func (c *ruleChecker) target(t Target) {
	fields := []targetField{
		{"group", t.Group},
		{"region", t.Region},
		{"zone", t.Zone},
		{"project", t.Project},
		{"subscription", t.Subscription},
		{"resource_group", t.ResourceGroup},
		{"scale_set", t.ScaleSet},
	}
	var need []string
	switch t.Provider {
	case "":
		c.add("target.provider", "required")
		return
	case "aws":
		need = []string{"group", "region"}
	case "azure":
		need = []string{"subscription", "resource_group", "scale_set"}
	case "gcp":
		need = []string{"project", "group"}
	case "fake":
		need = []string{"group"}
	default:
		c.add("target.provider", "must be one of aws, azure, gcp, fake")
		return
	}
	if !c.has("target.provider") {
		return
	}
	for _, f := range fields {
		path := "target." + f.name
		switch {
		case slices.Contains(need, f.name):
			if f.value == "" {
				c.addf(path, "required for provider %s", t.Provider)
			}
			c.cloudName(t.Provider, path, f.value)
		case t.Provider == "gcp" && (f.name == "zone" || f.name == "region"):
			// Presence is checked below: a GCP group is zonal or regional, never both.
			c.cloudName(t.Provider, path, f.value)
		case f.value != "":
			c.addf(path, "not used by provider %s", t.Provider)
		}
	}
	if t.Provider == "gcp" {
		switch {
		case t.Zone == "" && t.Region == "":
			c.add("target.zone", "provider gcp needs exactly one of zone or region")
		case t.Zone != "" && t.Region != "":
			c.add("target.region", "provider gcp needs exactly one of zone or region")
		}
	}
}

// cloudName checks the one thing every provider agrees on for resource
// names, so that a stray newline or a pasted blob fails here with the field
// named rather than later as an opaque cloud API error (or a forged log line).
// GCP and Azure put these names into request paths, where "." and ".." are
// dot segments and '/', '?', '#' or '\' change the path's shape (a resource
// group ".." addressed another subscription's scale set, issue 14): the
// drivers refuse them, and the policy is refused here, at write time, so
// that it never reaches the cluster.
func (c *ruleChecker) cloudName(provider, path, v string) {
	switch {
	case len(v) > maxCloudNameLen:
		c.addf(path, "must be at most %d characters", maxCloudNameLen)
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		c.add(path, "must not contain control characters")
	case provider != "gcp" && provider != "azure":
	case v == "." || v == "..":
		c.addf(path, "must not be %q (provider %s puts it in a request path)", v, provider)
	case strings.ContainsAny(v, `/?#\`):
		c.addf(path, "must not contain '/', '?', '#' or '\\' (provider %s puts it in a request path)", provider)
	}
}

func (c *ruleChecker) bounds(p Policy) {
	minOK := c.required("min")
	if minOK && p.Min < 0 {
		c.add("min", "must be >= 0")
		minOK = false
	}
	if !c.required("max") {
		return
	}
	switch {
	case p.Max < 1:
		c.add("max", "must be >= 1")
	case p.Max > maxGroupSize:
		c.addf("max", "must be <= %d", maxGroupSize)
	case minOK && p.Min > p.Max:
		c.addf("max", "must be >= min (%d)", p.Min)
	}
}

func (c *ruleChecker) metrics(ms []Metric) {
	switch {
	case len(ms) == 0:
		c.add("metrics", "at least one metric is required")
	case len(ms) > MaxMetrics:
		c.addf("metrics", "at most %d metrics are allowed", MaxMetrics)
	}
	first := make(map[string]int, len(ms))
	for i, m := range ms {
		base := "metrics[" + strconv.Itoa(i) + "]"
		name := base + ".name"
		switch {
		case m.Name == "":
			c.add(name, "required")
		case len(m.Name) > maxMetricNameLen:
			c.addf(name, "must be at most %d characters", maxMetricNameLen)
		case !onlyChars(m.Name, '_'):
			c.add(name, "must contain only lowercase letters, digits and '_'")
		}
		if m.Name != "" && c.has(name) {
			if j, dup := first[m.Name]; dup {
				c.addf(name, "duplicate name, first used by metrics[%d]", j)
			} else {
				first[m.Name] = i
			}
		}

		typ := base + ".type"
		switch m.Type {
		case "":
			c.add(typ, "required")
		case MetricCPU, MetricRequestRate, MetricQueueDepth:
		default:
			c.add(typ, "must be one of cpu, request_rate, queue_depth")
		}

		c.source(base+".source", m)

		tgt := base + ".target"
		if !c.required(tgt) || !checkFinite(c, tgt, m.Target) {
			continue
		}
		switch {
		case m.Target <= 0:
			c.add(tgt, "must be > 0")
		case m.Type == MetricCPU && c.has(typ) && m.Target > maxCPUTarget:
			c.addf(tgt, "must be in (0,%d] for cpu", maxCPUTarget)
		}
	}
}

// maxQueryLen bounds a PromQL query: long enough for any real expression,
// short enough that a policy stays a small replicated record.
const maxQueryLen = 4096

// source checks a metric's source: the fields its kind needs, and none of
// another kind's.
func (c *ruleChecker) source(path string, m Metric) {
	s := m.Source
	// notFor reports field, set (set) though the source's kind does not
	// use it: one message for every field of another kind.
	notFor := func(field string, set bool) {
		if set {
			c.addf(path+"."+field, "not used by source kind %s", s.EffectiveKind())
		}
	}
	if s.EffectiveKind() != SourcePush {
		notFor("match", s.Match != nil)
		notFor("match_re", s.MatchRE != nil)
	}
	switch s.EffectiveKind() {
	case SourcePush:
		c.matchers(path, s)
		notFor("query", s.Query != "")
		notFor("queue_url", s.QueueURL != "")
		notFor("region", s.Region != "")
		notFor("include_in_flight", s.IncludeInFlight)
	case SourcePrometheus:
		switch {
		case strings.TrimSpace(s.Query) == "":
			c.add(path+".query", "required for source kind prometheus")
		case len(s.Query) > maxQueryLen:
			c.addf(path+".query", "must be at most %d characters", maxQueryLen)
		}
		notFor("queue_url", s.QueueURL != "")
		notFor("region", s.Region != "")
		notFor("include_in_flight", s.IncludeInFlight)
	case SourceSQS:
		if u, err := url.Parse(s.QueueURL); s.QueueURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.add(path+".queue_url", "required for source kind sqs: the queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
		}
		if s.Region == "" {
			c.add(path+".region", "required for source kind sqs")
		} else if !onlyChars(s.Region, '-') {
			c.add(path+".region", "must contain only lowercase letters, digits and '-'")
		}
		notFor("query", s.Query != "")
		if m.Type != "" && m.Type != MetricQueueDepth {
			c.add(path+".kind", "sqs measures a backlog: the metric's type must be queue_depth")
		}
	default:
		c.add(path+".kind", "must be one of push, prometheus, sqs")
	}
}

// durationIn checks lo <= d <= hi and reports whether it holds.
func (c *ruleChecker) durationIn(path string, d, lo, hi time.Duration) bool {
	if d < lo || d > hi {
		c.addf(path, "must be in [%s,%s]", fmtDur(lo), fmtDur(hi))
		return false
	}
	return true
}

func (c *ruleChecker) maxStep(path string, s MaxStep, maxPercent float64) {
	if s.Instances < 0 {
		c.add(path+".instances", "must be >= 0")
	}
	if checkFinite(c, path+".percent", s.Percent) && (s.Percent < 0 || s.Percent > maxPercent) {
		c.addf(path+".percent", "must be in [0,%g]", maxPercent)
	}
	period := s.Period.D()
	limited := s.Instances > 0 || s.Percent > 0
	switch {
	case limited && (period <= 0 || period > maxPacingWindow):
		// A rate limit over an empty window would divide by zero in the
		// evaluator or, read literally, allow nothing at all.
		c.addf(path+".period", "must be in (0s,%s] when instances or percent is set", fmtDur(maxPacingWindow))
	case !limited:
		c.durationIn(path+".period", period, 0, maxPacingWindow)
	}
}

func (c *ruleChecker) predictive(pr Predictive) {
	switch pr.Mode {
	case PredictOff, PredictForecastOnly, PredictForecastAndScale:
	default:
		c.add("predictive.mode", "must be one of off, forecast-only, forecast-and-scale")
	}
	c.durationIn("predictive.lead", pr.Lead.D(), 0, maxPacingWindow)
	seasonOK := true
	if s := pr.Season; (s.Auto && s.Period != 0) || (!s.Auto && s.Period != 0 && (s.Period < minSeason || s.Period > maxSeason)) {
		c.add("predictive.season", seasonMessage)
		seasonOK = false
	}
	if m := pr.MaxExtra; m != NoMaxExtra && !(m >= 0 && m <= maxMaxExtra) {
		c.addf("predictive.max_extra", "must be none or a percentage in (0%%,%g%%], such as 5%%", float64(maxMaxExtra))
	}
	if !c.durationIn("predictive.history", pr.History.D(), minHistory, maxHistory) {
		return
	}
	if st := pr.HistoryStep.D(); st != 0 && c.durationIn("predictive.history_step", st, minHistoryStep, maxHistoryStep) {
		switch {
		case st%time.Second != 0:
			c.add("predictive.history_step", "must be a whole number of seconds")
		case pr.History.D()/st > MaxHistoryBuckets:
			c.addf("predictive.history_step", "must be at least predictive.history / %d (%s), so that the history is at most %d buckets",
				MaxHistoryBuckets, fmtDur((pr.History.D()+MaxHistoryBuckets-1)/MaxHistoryBuckets), MaxHistoryBuckets)
		}
	}
	// Holt-Winters needs at least two full seasons to estimate the
	// seasonal component; with less it fits noise.
	if seasonOK && c.has("predictive.season") && pr.Season.Period > 0 && pr.History.D() < 2*pr.Season.Period {
		c.addf("predictive.history", "must be at least twice the season (%s)", fmtDur(2*pr.Season.Period))
	}
}

// seasonMessage is shared by Parse (text that is not a season) and Validate
// (a season out of range) so both read the same.
const seasonMessage = "must be none, auto or a duration in [1m,30d]"

func (c *ruleChecker) fallback(p Policy) {
	if !c.has("fallback_size") || p.FallbackSize == 0 {
		return
	}
	if p.FallbackSize < 0 {
		c.add("fallback_size", "must be 0 or within [min,max]")
		return
	}
	if c.has("min") && c.has("max") && (p.FallbackSize < p.Min || p.FallbackSize > p.Max) {
		c.addf("fallback_size", "must be 0 or within [min,max] ([%d,%d])", p.Min, p.Max)
	}
}

// finite reports whether v is a finite number, recording the violation if
// not: NaN compares false with everything, so range checks alone would let
// it through.
func checkFinite(c *ruleChecker, path string, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		c.add(path, "must be a finite number")
		return false
	}
	return true
}

// fmtDur renders durations in messages the way operators write them:
// hours below a week ("48h" rather than "2d", which reads oddly next to
// "24h"), whole days from a week up ("30d").
func fmtDur(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= 7*day && d%day == 0 {
		return Duration(d).String()
	}
	if d >= day && d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return Duration(d).String()
}

// Limits of a source's label matchers.
const (
	maxMatchers          = 16
	maxMatcherValueBytes = 1024
)

// labelNameRE is Prometheus's label name syntax.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// matchers checks a push source's label matchers: valid label names,
// values within bounds, regular expressions that compile, and at least one
// matcher that an absent label cannot satisfy (as PromQL demands of a
// selector), so that a matcher never routes every series to a policy.
func (c *ruleChecker) matchers(path string, s Source) {
	if s.Match == nil && s.MatchRE == nil {
		return
	}
	if len(s.Match)+len(s.MatchRE) > maxMatchers {
		c.addf(path+".match", "at most %d label matchers in match and match_re together", maxMatchers)
		return
	}
	selective := false
	check := func(field string, m map[string]string, regex bool) {
		if m != nil && len(m) == 0 {
			c.add(path+"."+field, "must name at least one label")
		}
		for _, name := range slices.Sorted(maps.Keys(m)) {
			value, at := m[name], joinPath(path+"."+field, name)
			switch {
			case !labelNameRE.MatchString(name):
				c.add(at, "must be a Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*")
				continue
			case name == "capstan_policy" || name == "capstan_metric":
				c.add(at, "capstan_policy and capstan_metric route a series by themselves; match on the series' own labels instead")
				continue
			case len(value) > maxMatcherValueBytes:
				c.addf(at, "must be at most %d bytes", maxMatcherValueBytes)
				continue
			}
			if !regex {
				selective = selective || value != ""
				continue
			}
			if _, err := regexp.Compile(value); err != nil {
				c.addf(at, "must be an RE2 regular expression: %v", err)
				continue
			}
			re := regexp.MustCompile("^(?s:" + value + ")$")
			selective = selective || !re.MatchString("")
		}
	}
	check("match", s.Match, false)
	check("match_re", s.MatchRE, true)
	if !selective && (len(s.Match) > 0 || len(s.MatchRE) > 0) {
		c.add(path+".match", "needs at least one matcher that a series without the label cannot satisfy (a non-empty value in match, or a match_re that does not match the empty string)")
	}
}
