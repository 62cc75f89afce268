package policy

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSchedules(t *testing.T) {
	const rule = "must be <= schedules[0].max (10): the windows can be open at once, and overlapping windows combine by the highest min and the lowest max, which must not cross"
	tests := []struct {
		name string
		sch  string
		errs []FieldError
	}{
		{"recurring", `[{name: mornings, cron: "0 8 * * MON-FRI", timezone: Europe/Berlin, duration: 2h, min: 10}]`, nil},
		{"descriptor", `[{name: nightly, cron: "@daily", duration: 1h, max: 5}]`, nil},
		{"one-off", `[{name: black-friday, start: "2026-11-27T00:00:00-05:00", end: "2026-11-28T00:00:00-05:00", min: 20, max: 40}]`, nil},
		{"no name", `[{cron: "0 8 * * *", duration: 1h, min: 3}]`, []FieldError{{"schedules[0].name", "required"}}},
		{"bad name", `[{name: Big_Day, cron: "0 8 * * *", duration: 1h, min: 3}]`,
			[]FieldError{{"schedules[0].name", "must contain only lowercase letters, digits and '-'"}}},
		{"duplicate name", `[{name: a, cron: "0 8 * * *", duration: 1h, min: 3}, {name: a, cron: "0 9 * * *", duration: 1h, min: 3}]`,
			[]FieldError{{"schedules[1].name", "duplicate name, first used by schedules[0]"}}},
		{"bad cron", `[{name: a, cron: "0 25 * * *", duration: 1h, min: 3}]`, nil}, // checked by prefix below
		{"six fields", `[{name: a, cron: "0 0 8 * * *", duration: 1h, min: 3}]`, nil},
		{"every", `[{name: a, cron: "@every 1h", duration: 1h, min: 3}]`,
			[]FieldError{{"schedules[0].cron", "@every is not anchored to the clock: use a cron expression such as */30 * * * *"}}},
		{"tz in cron", `[{name: a, cron: "CRON_TZ=UTC 0 8 * * *", duration: 1h, min: 3}]`,
			[]FieldError{{"schedules[0].cron", "must not name a time zone: use the timezone field"}}},
		{"never", `[{name: a, cron: "0 0 30 2 *", duration: 1h, min: 3}]`, []FieldError{{"schedules[0].cron", "never matches a date"}}},
		{"bad zone", `[{name: a, cron: "0 8 * * *", timezone: Mars/Olympus, duration: 1h, min: 3}]`,
			[]FieldError{{"schedules[0].timezone", "must be an IANA time zone such as Europe/Berlin or America/New_York"}}},
		{"no duration", `[{name: a, cron: "0 8 * * *", min: 3}]`,
			[]FieldError{{"schedules[0].duration", "required for a cron window: a duration in (0s,31d]"}}},
		{"long duration", `[{name: a, cron: "0 8 * * *", duration: 40d, min: 3}]`,
			[]FieldError{{"schedules[0].duration", "required for a cron window: a duration in (0s,31d]"}}},
		{"both kinds", `[{name: a, cron: "0 8 * * *", duration: 1h, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min: 3}]`,
			[]FieldError{{"schedules[0].cron", "a window is either recurring (cron, timezone, duration) or one-off (start, end), not both"}}},
		{"neither kind", `[{name: a, min: 3}]`,
			[]FieldError{{"schedules[0]", "needs cron and duration (a recurring window) or start and end (a one-off window)"}}},
		{"no end", `[{name: a, start: "2026-11-27T00:00:00Z", min: 3}]`, []FieldError{{"schedules[0].end", "required for a one-off window"}}},
		{"end before start", `[{name: a, start: "2026-11-27T00:00:00Z", end: "2026-11-26T00:00:00Z", min: 3}]`,
			[]FieldError{{"schedules[0].end", "must be after start"}}},
		{"no offset", `[{name: a, start: "2026-11-27 00:00:00", end: "2026-11-28T00:00:00Z", min: 3}]`,
			[]FieldError{{"schedules[0].start", "must be an RFC 3339 time with an offset, such as 2026-11-27T00:00:00-05:00 or 2026-11-27T05:00:00Z"}}},
		{"zone on one-off", `[{name: a, timezone: UTC, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min: 3}]`,
			[]FieldError{{"schedules[0].timezone", "not used by a one-off window: write start and end with their offset"}}},
		{"no bounds", `[{name: a, cron: "0 8 * * *", duration: 1h}]`,
			[]FieldError{{"schedules[0]", "needs min (to raise the minimum) or max (to cap the size), or both"}}},
		{"min over policy max", `[{name: a, cron: "0 8 * * *", duration: 1h, min: 41}]`,
			[]FieldError{{"schedules[0].min", "must be <= the policy's max (40)"}}},
		{"max under policy min", `[{name: a, cron: "0 8 * * *", duration: 1h, max: 1}]`,
			[]FieldError{{"schedules[0].max", "must be >= the policy's min (2)"}}},
		{"min over own max", `[{name: a, cron: "0 8 * * *", duration: 1h, min: 9, max: 5}]`,
			[]FieldError{{"schedules[0].max", "must be >= the window's min (9)"}}},
		{"crossing windows", `[{name: a, cron: "0 8 * * *", duration: 1h, max: 10}, {name: b, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min: 12}]`,
			[]FieldError{{"schedules[1].min", rule}}},
		{"crossing recurring windows", `[{name: a, cron: "0 22 * * *", timezone: Europe/Berlin, duration: 8h, max: 10}, {name: b, cron: "0 4 * * MON", duration: 2h, min: 12}]`, // overlaps only in winter, when 06:00 Berlin is 05:00 UTC
			[]FieldError{{"schedules[1].min", rule}}},
		{"disjoint recurring windows may cross", `[{name: a, cron: "0 22 * * *", duration: 8h, max: 4}, {name: b, cron: "0 8 * * *", duration: 2h, min: 12}]`, nil},
		{"disjoint one-off and recurring", `[{name: a, cron: "0 22 * * *", duration: 8h, max: 4}, {name: b, start: "2026-11-27T08:00:00Z", end: "2026-11-27T20:00:00Z", min: 12}]`, nil},
		{"back to back one-offs", `[{name: a, start: "2026-11-26T00:00:00Z", end: "2026-11-27T00:00:00Z", max: 4}, {name: b, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", min: 12}]`, nil},
		{"unknown field", `[{name: a, cron: "0 8 * * *", duration: 1h, min: 3, desired: 4}]`,
			[]FieldError{{"schedules[0].desired", "unknown field"}}},
		{"not a list", `{name: a}`, []FieldError{{"schedules", "must be a list"}}},
		// The list itself is read as the metrics list is (walkList): too
		// many refused whole, said once; an alias refused where it stands.
		{"seventeen", "[" + strings.Repeat(`{name: a, cron: "0 8 * * *", duration: 1h, min: 3}, `, 16) + `{name: q, cron: "0 8 * * *", duration: 1h, min: 3}]`,
			[]FieldError{{"schedules", "at most 16 schedules are allowed"}}},
		{"alias item", `[&s {name: a, cron: "0 8 * * *", duration: 1h, min: 3}, *s]`,
			[]FieldError{{"schedules[0]", "anchors and aliases are not supported"}, {"schedules[1]", "anchors and aliases are not supported"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(policyDoc("schedules: " + tt.sch)))
			switch tt.name {
			case "bad cron", "six fields":
				fe := fieldErrors(t, err)
				if len(fe) != 1 || fe[0].Path != "schedules[0].cron" || !strings.HasPrefix(fe[0].Message, "must be a five-field cron expression") {
					t.Fatalf("errors = %v", fe)
				}
				return
			}
			if tt.errs != nil {
				if got := fieldErrors(t, err); !reflect.DeepEqual(got, tt.errs) {
					t.Fatalf("errors = %v, want %v", got, tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Schedules) == 0 || p.Schedules[0].compiled == nil {
				t.Fatalf("schedules not compiled: %+v", p.Schedules)
			}
			// Marshal writes them back, and JSON carries them.
			out, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Marshal) = %v\n%s", err, out)
			}
			js, _ := json.Marshal(p)
			viaJSON, err := Parse(js)
			if err != nil {
				t.Fatalf("Parse(JSON) = %v\n%s", err, js)
			}
			for _, q := range []Policy{back, viaJSON} {
				for i := range q.Schedules {
					a, b := q.Schedules[i], p.Schedules[i]
					a.compiled, b.compiled = nil, nil
					if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
						t.Fatalf("round trip window %v–%v, want %v–%v", a.Start, a.End, b.Start, b.End)
					}
					a.Start, a.End, b.Start, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
					if a != b {
						t.Fatalf("round trip %+v, want %+v", a, b)
					}
				}
			}
		})
	}
}

// TestScheduleActivity checks when a window counts as open, with the lead
// that raises a min early.
func TestScheduleActivity(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err) // the system has none; nothing here can check a zone
	}
	mornings := Schedule{Name: "m", Cron: "0 8 * * MON-FRI", TimeZone: "Europe/Berlin", Duration: Duration(2 * time.Hour), Min: 5}
	oneOff := Schedule{Name: "o", Start: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC), Min: 5}
	at := func(y int, mo time.Month, d, h, mi int, loc *time.Location) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	tests := []struct {
		name  string
		s     Schedule
		now   time.Time
		ahead time.Duration
		want  bool
	}{
		{"opens at 08:00 Berlin (winter, 07:00 UTC)", mornings, at(2026, 12, 7, 7, 0, time.UTC), 0, true},
		{"before it opens", mornings, at(2026, 12, 7, 7, 59, berlin), 0, false},
		{"lead reaches the opening", mornings, at(2026, 12, 7, 7, 55, berlin), 5 * time.Minute, true},
		{"lead short of the opening", mornings, at(2026, 12, 7, 7, 54, berlin), 5 * time.Minute, false},
		{"last minute", mornings, at(2026, 12, 7, 9, 59, berlin), 0, true},
		{"closes at 10:00", mornings, at(2026, 12, 7, 10, 0, berlin), 0, false},
		{"summer time: 08:00 Berlin is 06:00 UTC", mornings, at(2026, 7, 6, 6, 30, time.UTC), 0, true},
		{"not on Saturday", mornings, at(2026, 12, 5, 8, 30, berlin), 0, false},
		{"one-off open", oneOff, at(2026, 11, 27, 12, 0, time.UTC), 0, true},
		{"one-off before, lead reaches", oneOff, at(2026, 11, 27, 4, 57, time.UTC), 3 * time.Minute, true},
		{"one-off before", oneOff, at(2026, 11, 27, 4, 57, time.UTC), time.Minute, false},
		{"one-off ended", oneOff, at(2026, 11, 28, 5, 0, time.UTC), time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, msg := tt.s.compile()
			if msg != "" {
				t.Fatal(msg)
			}
			if got := c.activeWithin(tt.now, tt.ahead); got != tt.want {
				t.Fatalf("active at %s (+%s) = %v, want %v", tt.now, tt.ahead, got, tt.want)
			}
		})
	}
}

func TestScheduleNext(t *testing.T) {
	s := Schedule{Name: "m", Cron: "30 8 * * MON", TimeZone: "America/New_York", Duration: Duration(time.Hour), Min: 3}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // New York moves to summer time on 8 March 2026
	got := s.Next(from, 3)
	want := []string{"2026-03-02T08:30:00-05:00", "2026-03-09T08:30:00-04:00", "2026-03-16T08:30:00-04:00"}
	if len(got) != len(want) {
		t.Fatalf("got %d activations, want 3", len(got))
	}
	for i, a := range got {
		if a.Start.Format(time.RFC3339) != want[i] || a.End.Sub(a.Start) != time.Hour {
			t.Errorf("activation %d = %s–%s, want %s for 1h", i, a.Start.Format(time.RFC3339), a.End.Format(time.RFC3339), want[i])
		}
	}
	one := Schedule{Name: "o", Start: from.Add(time.Hour), End: from.Add(2 * time.Hour), Min: 3}
	if got := one.Next(from, 3); len(got) != 1 || !got[0].Start.Equal(one.Start) {
		t.Fatalf("one-off Next = %v", got)
	}
	if got := one.Next(from.Add(3*time.Hour), 3); got != nil {
		t.Fatalf("ended one-off Next = %v", got)
	}
}

// TestEvaluateSchedules drives Evaluate around scheduled windows: a min
// raised early by the warmup and named in the decision, a cap, overlapping
// windows combining, and the policy's own bounds outside the windows.
func TestEvaluateSchedules(t *testing.T) {
	base, err := Parse([]byte(policyDoc(
		"metrics: [{name: rps, type: request_rate, target: 100}]",
		"warmup: 5m",
		`schedules: [{name: peak, cron: "0 8 * * *", duration: 2h, min: 10}, {name: event, start: "2026-01-05T09:00:00Z", end: "2026-01-05T09:30:00Z", min: 15, max: 20}, {name: quiet, cron: "0 22 * * *", duration: 8h, max: 4}]`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		at       time.Duration // after midnight
		rps      float64
		current  int
		desired  int
		bound    Limit
		schedule string
	}{
		{"outside windows: policy min", 7 * time.Hour, 50, 2, 2, LimitBounds, ""},
		{"within warmup of 08:00: raised early", 7*time.Hour + 56*time.Minute, 50, 2, 10, LimitSchedule, "peak"},
		{"before the warmup: not yet", 7*time.Hour + 54*time.Minute, 50, 2, 2, LimitBounds, ""},
		{"open: demand above the raised min wins", 8*time.Hour + 30*time.Minute, 1500, 10, 15, LimitNone, ""},
		{"overlap: highest min", 9*time.Hour + 10*time.Minute, 50, 10, 15, LimitSchedule, "event"},
		{"overlap: lowest max caps", 9*time.Hour + 10*time.Minute, 5000, 15, 20, LimitSchedule, "event"},
		{"quiet hours cap", 23 * time.Hour, 3000, 4, 4, LimitSchedule, "quiet"},
		{"policy max outside windows", 12 * time.Hour, 90000, 36, 40, LimitBounds, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := day.Add(tt.at)
			var in Inputs
			in.Current, in.Ready = tt.current, tt.current
			in.Metrics[0] = Sample{Time: now, Value: tt.rps, Present: true}
			// A fresh state: no cooldown or rate limit in the way.
			p := base
			p.ScaleOut.MaxStep = MaxStep{}
			p.ScaleIn.MaxStep = MaxStep{}
			p.ScaleIn.Stabilization = 0
			d := Evaluate(p, in, State{}, now)
			if d.Desired != tt.desired || d.Bound != tt.bound || d.Schedule != tt.schedule {
				t.Fatalf("desired %d bound %s schedule %q, want %d %s %q (%s)", d.Desired, d.Bound, d.Schedule, tt.desired, tt.bound, tt.schedule, d.Reason())
			}
			if tt.schedule != "" && !strings.Contains(d.Reason(), "bound:schedule "+tt.schedule) {
				t.Fatalf("reason %q does not name the schedule", d.Reason())
			}
			if r := d.Record(p); r.Schedule != tt.schedule {
				t.Fatalf("record schedule %q", r.Schedule)
			}
			// A policy decoded without Parse (as the store does; the
			// schedules compile as they decode) and one built as a Go
			// value (compiled at each evaluation) evaluate the same.
			js, _ := json.Marshal(p)
			var q Policy
			if err := json.Unmarshal(js, &q); err != nil {
				t.Fatal(err)
			}
			if q.Schedules[0].compiled == nil {
				t.Fatal("json.Unmarshal left a schedule uncompiled")
			}
			r := p
			r.Schedules = slices.Clone(p.Schedules)
			for i := range r.Schedules {
				r.Schedules[i].compiled = nil
			}
			for name, pol := range map[string]Policy{"decoded": q, "built": r} {
				if e := Evaluate(pol, in, State{}, now); e.Desired != d.Desired || e.Schedule != d.Schedule {
					t.Fatalf("%s policy: desired %d schedule %q", name, e.Desired, e.Schedule)
				}
			}
		})
	}
}

// TestEmptySchedulesReadAsNone: "schedules: []" (found by FuzzParse) and
// its JSON form parse to no schedules, as Marshal writes them, and a zero
// offset reads as UTC whatever the machine's zone.
func TestEmptySchedulesReadAsNone(t *testing.T) {
	for _, doc := range []string{policyDoc("schedules: []"), `{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"metrics":[{"name":"m","type":"queue_depth","target":5}],"schedules":[]}`} {
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if p.Schedules != nil {
			t.Fatalf("schedules = %#v, want nil", p.Schedules)
		}
	}
	p, err := Parse([]byte(policyDoc(`schedules: [{name: a, start: "2026-11-27T00:00:00+00:00", end: "2026-11-28T00:00:00.5-05:00", min: 3}]`)))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Schedules[0]; s.Start.Location() != time.UTC {
		t.Fatalf("start %v is not in UTC", s.Start)
	}
	out, _ := Marshal(p)
	back, err := Parse(out)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %v\n%s", err, out)
	}
}

// BenchmarkEvaluateSchedules times an evaluation of a one-metric policy
// with a recurring window in a zone with daylight saving and a one-off
// window, every 10 s of virtual time: "parsed" as Parse returns it (the
// cron walk's answer remembered between evaluations), "decoded" as a
// policy unmarshalled from JSON without Parse (as the store holds it;
// Schedule.UnmarshalJSON compiles too), "built" as a Go value (compiled,
// zone file included, at every evaluation), and "none" without the windows.
func BenchmarkEvaluateSchedules(b *testing.B) {
	parsed, err := Parse([]byte(policyDoc("metrics: [{name: rps, type: request_rate, target: 100}]",
		`schedules: [{name: m, cron: "0 8 * * MON-FRI", timezone: Europe/Berlin, duration: 2h, min: 10}, {name: o, start: "2026-11-27T00:00:00Z", end: "2026-11-28T00:00:00Z", max: 30}]`)))
	if err != nil {
		b.Fatal(err)
	}
	js, _ := json.Marshal(parsed)
	var decoded Policy
	if err := json.Unmarshal(js, &decoded); err != nil {
		b.Fatal(err)
	}
	none := parsed
	none.Schedules = nil
	built := parsed
	built.Schedules = []Schedule{
		{Name: "m", Cron: "0 8 * * MON-FRI", TimeZone: "Europe/Berlin", Duration: Duration(2 * time.Hour), Min: 10},
		{Name: "o", Start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), Max: 30},
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		p    Policy
	}{{"parsed", parsed}, {"decoded", decoded}, {"built", built}, {"none", none}} {
		b.Run(c.name, func(b *testing.B) {
			var s State
			in := Inputs{Current: 3, Ready: 3}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now := start.Add(time.Duration(i) * 10 * time.Second)
				in.Metrics[0] = Sample{Time: now, Value: 250, Present: true}
				d := Evaluate(c.p, in, s, now)
				s, in.Current, in.Ready = d.Next, d.Desired, d.Desired
				i++
			}
		})
	}
}

// TestScheduleHoldsAndSteps: a hold while a window's bound holds the group
// names the window, not the pacing rule that also held it, and a step the
// window made (the rules held, the bound moved the group) is no direction
// reversal and leaves the last direction as demand set it; a step demand
// asked for in the same direction still counts.
func TestScheduleHoldsAndSteps(t *testing.T) {
	base, err := Parse([]byte(policyDoc(
		"min: 1",
		"metrics: [{name: rps, type: request_rate, target: 100}]",
		"warmup: 1m",
		"scale_in: {cooldown: 5m, stabilization: 1m}",
		"scale_out: {cooldown: 5m}",
		`schedules: [{name: launch, start: "2026-01-05T09:00:00Z", end: "2026-01-05T10:00:00Z", min: 20}, {name: quiet, cron: "0 22 * * *", duration: 8h, max: 4}]`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	base.ScaleOut.MaxStep, base.ScaleIn.MaxStep = MaxStep{}, MaxStep{}
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	launch, quiet := day.Add(9*time.Hour+30*time.Minute), day.Add(23*time.Hour)
	ago := func(now time.Time, d time.Duration) time.Time { return now.Add(-d) }
	// flapping is a state with four reversals in the last half hour and a
	// scale-out a minute ago: anti-flapping damps a scale-in.
	flapping := func(now time.Time) State {
		return State{LastAction: ActionScaleOut, LastScaleOut: ago(now, time.Minute), LastScaleIn: ago(now, 10*time.Minute),
			Reversals: []time.Time{ago(now, 30*time.Minute), ago(now, 20*time.Minute), ago(now, 10*time.Minute), ago(now, time.Minute)}}
	}
	tests := []struct {
		name      string
		now       time.Time
		rps       float64
		current   int
		state     func(now time.Time) State
		noCooling bool // scale-in cooldown off, so only anti-flapping holds
		desired   int
		bound     Limit
		schedule  string
		damped    bool
		reversal  bool
		last      Action // the state's last direction after the decision
		reversals int    // kept in the state after the decision
	}{
		{name: "hold at the raised min in the scale-in cooldown names the window", now: launch, rps: 200, current: 20,
			state: func(now time.Time) State {
				return State{LastAction: ActionScaleOut, LastScaleOut: ago(now, time.Minute)}
			},
			desired: 20, bound: LimitSchedule, schedule: "launch", last: ActionScaleOut},
		{name: "hold at the raised min while damped names the window", now: launch, rps: 200, current: 20, state: flapping, noCooling: true,
			desired: 20, bound: LimitSchedule, schedule: "launch", last: ActionScaleOut, reversals: 4},
		{name: "damped above the raised min stays flapping", now: launch, rps: 200, current: 25, state: flapping, noCooling: true,
			desired: 25, bound: LimitFlapping, damped: true, last: ActionScaleOut, reversals: 4},
		{name: "cooldown above the raised min stays cooldown", now: launch, rps: 200, current: 25,
			state: func(now time.Time) State {
				return State{LastAction: ActionScaleOut, LastScaleOut: ago(now, time.Minute)}
			},
			desired: 25, bound: LimitCooldown, last: ActionScaleOut},
		{name: "hold at the lowered max in the scale-out cooldown names the window", now: quiet, rps: 900, current: 4,
			state: func(now time.Time) State {
				return State{LastAction: ActionScaleOut, LastScaleOut: ago(now, time.Minute)}
			},
			desired: 4, bound: LimitSchedule, schedule: "quiet", last: ActionScaleOut},
		{name: "the window's scale-out after a scale-in is no reversal", now: launch, rps: 200, current: 9,
			state:   func(now time.Time) State { return State{LastAction: ActionScaleIn, LastScaleIn: ago(now, time.Hour)} },
			desired: 20, bound: LimitSchedule, schedule: "launch", last: ActionScaleIn},
		{name: "a scale-out demand asked for, raised by the window, is a reversal", now: launch, rps: 1500, current: 9,
			state:   func(now time.Time) State { return State{LastAction: ActionScaleIn, LastScaleIn: ago(now, time.Hour)} },
			desired: 20, bound: LimitSchedule, schedule: "launch", reversal: true, last: ActionScaleOut, reversals: 1},
		{name: "the window's cap after a scale-out is no reversal", now: quiet, rps: 1000, current: 10,
			state:   func(now time.Time) State { return State{LastAction: ActionScaleOut, LastScaleOut: ago(now, time.Hour)} },
			desired: 4, bound: LimitSchedule, schedule: "quiet", last: ActionScaleOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			if tt.noCooling {
				p.ScaleIn.Cooldown = 0
			}
			var in Inputs
			in.Current, in.Ready = tt.current, tt.current
			in.Metrics[0] = Sample{Time: tt.now, Value: tt.rps, Present: true}
			s := tt.state(tt.now)
			d := Evaluate(p, in, s, tt.now)
			if d.Desired != tt.desired || d.Bound != tt.bound || d.Schedule != tt.schedule || d.Damped != tt.damped || d.Reversal != tt.reversal {
				t.Fatalf("desired %d bound %s schedule %q damped %v reversal %v; want %d %s %q %v %v (%s)",
					d.Desired, d.Bound, d.Schedule, d.Damped, d.Reversal, tt.desired, tt.bound, tt.schedule, tt.damped, tt.reversal, d.Reason())
			}
			if d.Next.LastAction != tt.last || len(d.Next.Reversals) != tt.reversals {
				t.Fatalf("next state: last action %s, %d reversals; want %s, %d", d.Next.LastAction, len(d.Next.Reversals), tt.last, tt.reversals)
			}
		})
	}
}
