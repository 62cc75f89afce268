package policy

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Schedule is a window of scheduled capacity: while it is active it raises
// the group's minimum to Min and/or caps its maximum at Max. A window is
// either recurring (Cron, TimeZone and Duration: it opens at every time the
// cron expression names, in that time zone, and lasts Duration) or one-off
// (Start and End). Overlapping windows combine by the highest min and the
// lowest max; Validate refuses schedules whose mins and maxes could cross.
//
// A window that opens within the policy's warmup raises the minimum early,
// so the instances it asks for are ready when it opens; a cap applies only
// while the window is open.
type Schedule struct {
	// Name identifies the window in decisions ("bound: schedule
	// black-friday"): [a-z0-9-], unique within the policy.
	Name string `json:"name" yaml:"name"`
	// Cron is a standard five-field cron expression (minute hour
	// day-of-month month day-of-week) or a descriptor such as @daily.
	Cron string `json:"cron,omitempty" yaml:"cron,omitempty"`
	// TimeZone is the IANA zone Cron is read in (Europe/Berlin); UTC when empty.
	TimeZone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	// Duration is how long a recurring window stays open.
	Duration Duration `json:"duration,omitempty" yaml:"duration,omitempty"`
	// Start and End bound a one-off window [Start, End), written in RFC 3339
	// with an offset (2026-11-27T00:00:00-05:00).
	Start time.Time `json:"start,omitzero" yaml:"start,omitempty"`
	End   time.Time `json:"end,omitzero" yaml:"end,omitempty"`
	// Min, when positive, is the group's minimum while the window is open.
	Min int `json:"min,omitempty" yaml:"min,omitempty"`
	// Max, when positive, caps the group's size while the window is open.
	Max int `json:"max,omitempty" yaml:"max,omitempty"`

	// compiled is the parsed cron expression and time zone, set by Parse so
	// that Evaluate neither re-parses nor reads zone files; nil otherwise
	// (Evaluate then compiles on the spot). It is shared read-only by
	// copies of the policy.
	compiled *compiledSchedule
}

// Recurring reports whether the window is a cron one.
func (s Schedule) Recurring() bool { return s.Cron != "" }

// OpenAt reports whether the window is open at t. A schedule that does
// not compile is never open.
func (s Schedule) OpenAt(t time.Time) bool {
	c, _, msg := s.compiledForm()
	return msg == "" && c.activeWithin(t, 0)
}

// Activation is one opening of a schedule: [Start, End).
type Activation struct {
	Start, End time.Time
}

// Limits of a schedule.
const (
	maxSchedules        = 16
	maxScheduleDuration = 31 * 24 * time.Hour
	maxOneOffSpan       = 366 * 24 * time.Hour
)

// cronParser reads five-field expressions and descriptors (@daily). It is
// an immutable value, not mutable state.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// compiledSchedule is a schedule ready to evaluate.
type compiledSchedule struct {
	spec       *cron.SpecSchedule // nil for a one-off window
	loc        *time.Location
	start, end time.Time
	duration   time.Duration
	// last remembers one answer of next: a cron walk costs microseconds
	// (zone lookups per step), and consecutive evaluations ask about
	// nearly the same instant. The answer is a fact about the calendar,
	// so sharing it between goroutines (the parallel replays of
	// recommend) only needs the pointer swap to be atomic.
	last *atomic.Pointer[nextAnswer]
}

// nextAnswer records that the first opening after any instant in
// [from, open) is open.
type nextAnswer struct{ from, open time.Time }

// compiledForm returns the schedule ready to evaluate: the form Parse
// compiled (whose remembered answers it shares), or a fresh one.
func (s Schedule) compiledForm() (compiledSchedule, string, string) {
	if s.compiled != nil {
		return *s.compiled, "", ""
	}
	return s.compile()
}

// compile parses the cron expression and loads the time zone, returning
// the rule the schedule breaks (with the field it concerns) on failure.
// Validation and listings use a fresh form each time, so that they leave
// nothing behind in a policy (two parses of one file stay deeply equal).
func (s Schedule) compile() (compiledSchedule, string, string) {
	c := compiledSchedule{loc: time.UTC, start: s.Start, end: s.End, duration: s.Duration.D()}
	if !s.Recurring() {
		return c, "", ""
	}
	if s.TimeZone != "" {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil || s.TimeZone == "Local" {
			return c, "timezone", "must be an IANA time zone such as Europe/Berlin or America/New_York"
		}
		c.loc = loc
	}
	expr := strings.TrimSpace(s.Cron)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return c, "cron", "must not name a time zone: use the timezone field"
	}
	if strings.HasPrefix(expr, "@every") {
		return c, "cron", "@every is not anchored to the clock: use a cron expression such as */30 * * * *"
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return c, "cron", "must be a five-field cron expression (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly: " + err.Error()
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return c, "cron", "must be a five-field cron expression"
	}
	spec.Location = c.loc
	c.spec = spec
	c.last = new(atomic.Pointer[nextAnswer])
	return c, "", ""
}

// next returns the first activation opening after t (zero if none within
// the cron library's five-year search).
func (c *compiledSchedule) next(t time.Time) time.Time {
	if c.last != nil {
		if a := c.last.Load(); a != nil && !t.Before(a.from) && t.Before(a.open) {
			return a.open
		}
	}
	open := c.spec.Next(t)
	if c.last != nil && !open.IsZero() {
		c.last.Store(&nextAnswer{from: t, open: open})
	}
	return open
}

// activeWithin reports whether the window is open at some instant of
// [now, now+ahead].
func (c *compiledSchedule) activeWithin(now time.Time, ahead time.Duration) bool {
	if c.spec == nil {
		return !c.start.After(now.Add(ahead)) && now.Before(c.end)
	}
	// The first opening after now-duration is the one whose window still
	// covers now, or the next one.
	open := c.next(now.Add(-c.duration))
	return !open.IsZero() && !open.After(now.Add(ahead))
}

// Next lists the next n activations of the schedule opening after t (a
// one-off window's single activation if it has not ended), in the
// schedule's time zone. A schedule that does not compile has none.
func (s Schedule) Next(t time.Time, n int) []Activation {
	c, _, msg := s.compile()
	if msg != "" || n <= 0 {
		return nil
	}
	if c.spec == nil {
		if t.Before(s.End) {
			return []Activation{{s.Start, s.End}}
		}
		return nil
	}
	var out []Activation
	for from := t; len(out) < n; {
		open := c.next(from)
		if open.IsZero() {
			break
		}
		open = open.In(c.loc)
		out = append(out, Activation{open, open.Add(s.Duration.D())})
		from = open
	}
	return out
}

// scheduleBounds is what the active schedules ask of the bounds at one
// evaluation: the highest min (and the window asking it) and the lowest max
// (and its window); 0 and "" where none asks.
type scheduleBounds struct {
	min, max         int
	minFrom, maxFrom string
}

// boundsAt combines the schedules active at now (and, for mins, those
// opening within lead, so capacity is ready when they open).
func boundsAt(scheds []Schedule, now time.Time, lead time.Duration) scheduleBounds {
	var b scheduleBounds
	for _, s := range scheds {
		c, _, msg := s.compiledForm()
		if msg != "" {
			continue // Validate refuses it; a decoded policy that skipped Validate must not panic here
		}
		if s.Min > b.min && c.activeWithin(now, lead) {
			b.min, b.minFrom = s.Min, s.Name
		}
		if s.Max > 0 && (b.max == 0 || s.Max < b.max) && c.activeWithin(now, 0) {
			b.max, b.maxFrom = s.Max, s.Name
		}
	}
	return b
}

// apply narrows the policy's bounds to the schedules'.
func (b scheduleBounds) apply(lo, hi int) (int, int) {
	if b.min > lo {
		lo = b.min
	}
	if b.max > 0 && b.max < hi {
		hi = b.max
	}
	if lo > hi { // validated never to cross; a cap wins if they ever did
		lo = hi
	}
	return lo, hi
}

// binding names the schedule that set the bound a clamped size landed on.
func (b scheduleBounds) binding(size, policyMin, policyMax int, raised bool) string {
	switch {
	case raised && b.minFrom != "" && size == b.min && b.min > policyMin:
		return b.minFrom
	case !raised && b.maxFrom != "" && size == b.max && b.max < policyMax:
		return b.maxFrom
	}
	return ""
}

func (c *ruleChecker) schedules(p Policy) {
	if len(p.Schedules) > maxSchedules {
		c.addf("schedules", "at most %d schedules are allowed", maxSchedules)
		return
	}
	first := map[string]int{}
	for i, s := range p.Schedules {
		base := "schedules[" + strconv.Itoa(i) + "]"
		switch {
		case s.Name == "":
			c.add(base+".name", "required")
		case len(s.Name) > maxIDLen:
			c.addf(base+".name", "must be at most %d characters", maxIDLen)
		case !onlyChars(s.Name, '-'):
			c.add(base+".name", "must contain only lowercase letters, digits and '-'")
		default:
			if j, dup := first[s.Name]; dup {
				c.addf(base+".name", "duplicate name, first used by schedules[%d]", j)
			} else {
				first[s.Name] = i
			}
		}
		oneOff := !s.Start.IsZero() || !s.End.IsZero()
		switch {
		case s.Recurring() && oneOff:
			c.add(base+".cron", "a window is either recurring (cron, timezone, duration) or one-off (start, end), not both")
		case s.Recurring():
			if cs, field, msg := s.compile(); msg != "" {
				c.add(base+"."+field, msg)
			} else if cs.next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
				c.add(base+".cron", "never matches a date")
			}
			if s.Duration <= 0 || s.Duration.D() > maxScheduleDuration {
				c.addf(base+".duration", "required for a cron window: a duration in (0s,%s]", fmtDur(maxScheduleDuration))
			}
		case oneOff:
			if s.TimeZone != "" {
				c.add(base+".timezone", "not used by a one-off window: write start and end with their offset")
			}
			if s.Duration != 0 {
				c.add(base+".duration", "not used by a one-off window: end closes it")
			}
			switch {
			case s.Start.IsZero():
				c.add(base+".start", "required for a one-off window")
			case s.End.IsZero():
				c.add(base+".end", "required for a one-off window")
			case !s.End.After(s.Start):
				c.add(base+".end", "must be after start")
			case s.End.Sub(s.Start) > maxOneOffSpan:
				c.addf(base+".end", "must be at most %s after start", fmtDur(maxOneOffSpan))
			}
		default:
			c.add(base, "needs cron and duration (a recurring window) or start and end (a one-off window)")
		}
		c.scheduleBounds(base, p, s)
	}
	c.scheduleCrossing(p.Schedules)
}

func (c *ruleChecker) scheduleBounds(base string, p Policy, s Schedule) {
	switch {
	case s.Min == 0 && s.Max == 0:
		c.add(base, "needs min (to raise the minimum) or max (to cap the size), or both")
	case s.Min < 0:
		c.add(base+".min", "must be >= 1 when set")
	case s.Max < 0:
		c.add(base+".max", "must be >= 1 when set")
	case s.Min > 0 && s.Max > 0 && s.Min > s.Max:
		c.addf(base+".max", "must be >= the window's min (%d)", s.Min)
	}
	if c.has("max") && s.Min > p.Max {
		c.addf(base+".min", "must be <= the policy's max (%d)", p.Max)
	}
	if c.has("min") && s.Max > 0 && s.Max < p.Min {
		c.addf(base+".max", "must be >= the policy's min (%d)", p.Min)
	}
}

// scheduleCrossing refuses two windows that can be open at once when the
// one's min exceeds the other's max. Whether they can overlap is checked
// on the calendar: a one-off window against the other's activations within
// it, two recurring ones over overlapCheckSpan (a leap-year cycle, both
// daylight-saving seasons); a window that opens more than
// maxOverlapActivations times there is assumed to overlap.
func (c *ruleChecker) scheduleCrossing(scheds []Schedule) {
	for j, b := range scheds {
		for i, a := range scheds[:j] {
			crossMin := b.Min > 0 && a.Max > 0 && b.Min > a.Max
			crossMax := a.Min > 0 && b.Max > 0 && a.Min > b.Max
			if (!crossMin && !crossMax) || !canOverlap(a, b) {
				continue
			}
			if crossMax {
				c.addf("schedules["+strconv.Itoa(j)+"].max", "must be >= schedules[%d].min (%d): the windows can be open at once, and overlapping windows combine by the highest min and the lowest max, which must not cross", i, a.Min)
			}
			if crossMin {
				c.addf("schedules["+strconv.Itoa(j)+"].min", "must be <= schedules[%d].max (%d): the windows can be open at once, and overlapping windows combine by the highest min and the lowest max, which must not cross", i, a.Max)
			}
		}
	}
}

// The calendar search of canOverlap.
var overlapCheckStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	overlapCheckSpan      = 4 * 366 * 24 * time.Hour
	maxOverlapActivations = 1500
)

// canOverlap reports whether two valid windows can be open at one instant.
// Windows that do not compile are reported elsewhere and count as not
// overlapping here.
func canOverlap(a, b Schedule) bool {
	ca, _, ma := a.compile()
	cb, _, mb := b.compile()
	if ma != "" || mb != "" {
		return false
	}
	if ca.spec == nil && cb.spec == nil {
		return a.Start.Before(b.End) && b.Start.Before(a.End)
	}
	if ca.spec == nil { // walk the recurring one: b
		ca, cb = cb, ca
	}
	// ca is recurring; walk its openings over cb's span (one-off) or the
	// check span, asking whether cb is open during each.
	from, to := overlapCheckStart, overlapCheckStart.Add(overlapCheckSpan)
	if cb.spec == nil {
		from, to = cb.start.Add(-ca.duration), cb.end
	}
	n := 0
	for open := ca.next(from); !open.IsZero() && open.Before(to); open = ca.next(open) {
		if n++; n > maxOverlapActivations {
			return true
		}
		if cb.openDuring(open, open.Add(ca.duration)) {
			return true
		}
	}
	return false
}

// openDuring reports whether the window is open at some instant of [from, to).
func (c *compiledSchedule) openDuring(from, to time.Time) bool {
	if c.spec == nil {
		return c.start.Before(to) && from.Before(c.end)
	}
	open := c.next(from.Add(-c.duration))
	return !open.IsZero() && open.Before(to)
}

// compileSchedules returns scheds with each window compiled and its times
// in fixed zones (a new slice, so no caller's policy changes under it):
// nil when empty, scheds itself when one does not compile.
func compileSchedules(scheds []Schedule) []Schedule {
	if len(scheds) == 0 {
		return nil // "schedules: []" reads as none, as Marshal writes it
	}
	out := make([]Schedule, len(scheds))
	for i, s := range scheds {
		s.Start, s.End = fixedZone(s.Start), fixedZone(s.End)
		c, _, msg := s.compile()
		if msg != "" {
			return scheds
		}
		s.compiled = &c
		out[i] = s
	}
	return out
}

// UnmarshalJSON decodes a schedule and compiles it, as Parse does, so a
// policy decoded from JSON without Parse (the replicated store does that)
// evaluates without re-reading its cron expression and zone file at every
// evaluation. A schedule that does not compile is kept as written, for
// Validate to report.
func (s *Schedule) UnmarshalJSON(data []byte) error {
	type plain Schedule // without this method
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = Schedule(v)
	s.compiled = nil
	s.Start, s.End = fixedZone(s.Start), fixedZone(s.End)
	if c, _, msg := s.compile(); msg == "" {
		s.compiled = &c
	}
	return nil
}

// fixedZone keeps t's instant and offset but not the machine's Local zone,
// which time.Parse picks when the offset happens to match it: the same
// file then reads the same on every machine.
func fixedZone(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	_, off := t.Zone()
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", off))
}

// schedules decodes the schedules list of a policy file.
func (w *walker) schedules(dst *[]Schedule) fieldHandler {
	return walkList(w, dst, "schedules", maxSchedules, maxSchedules, func(at string, item *yaml.Node, s *Schedule) {
		w.fields(at, item, map[string]fieldHandler{
			"name":     w.text(&s.Name),
			"cron":     w.text(&s.Cron),
			"timezone": w.text(&s.TimeZone),
			"duration": w.duration(&s.Duration),
			"start":    w.timestamp(&s.Start),
			"end":      w.timestamp(&s.End),
			"min":      w.integer(&s.Min),
			"max":      w.integer(&s.Max),
		})
	})
}

// timestamp reads an RFC 3339 time with an offset: a one-off window must
// say which time zone it means.
func (w *walker) timestamp(dst *time.Time) fieldHandler {
	const msg = "must be an RFC 3339 time with an offset, such as 2026-11-27T00:00:00-05:00 or 2026-11-27T05:00:00Z"
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			w.fail(path, msg)
			return
		}
		t, err := time.Parse(time.RFC3339, n.Value)
		if err != nil {
			w.fail(path, msg)
			return
		}
		*dst = t
	}
}

// yamlSchedules renders the schedules for Marshal, one flow mapping each,
// or nil when there are none.
func yamlSchedules(scheds []Schedule) *yaml.Node {
	if len(scheds) == 0 {
		return nil
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range scheds {
		var start, end, dur, lo, hi *yaml.Node
		if !s.Start.IsZero() {
			start = yamlStr(s.Start.Format(time.RFC3339Nano))
		}
		if !s.End.IsZero() {
			end = yamlStr(s.End.Format(time.RFC3339Nano))
		}
		if s.Duration != 0 {
			dur = yamlDur(s.Duration)
		}
		if s.Min != 0 {
			lo = yamlInt(s.Min)
		}
		if s.Max != 0 {
			hi = yamlInt(s.Max)
		}
		item := yamlMap("name", yamlStr(s.Name), "cron", yamlOptStr(s.Cron), "timezone", yamlOptStr(s.TimeZone),
			"duration", dur, "start", start, "end", end, "min", lo, "max", hi)
		item.Style = yaml.FlowStyle
		list.Content = append(list.Content, item)
	}
	return list
}
