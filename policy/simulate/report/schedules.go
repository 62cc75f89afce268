package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// maxListedOpenings bounds the openings listed per window: a daily window
// over a 60-day trace is summarized, not listed.
const maxListedOpenings = 5

// scheduleLines describes each scheduled window: its bounds, its rule, and
// when it opened within the trace (in its own time zone), plus how many
// decisions it bound, so a reader can tell a step in the capacity chart
// that a schedule made from one that demand made.
func scheduleLines(p policy.Policy, r *simulate.Result) []string {
	if len(p.Schedules) == 0 || len(r.Times) == 0 {
		return nil
	}
	first := time.Unix(0, r.Times[0]).UTC()
	last := time.Unix(0, r.Times[len(r.Times)-1]).UTC()
	var out []string
	for _, s := range p.Schedules {
		var b strings.Builder
		b.WriteString("schedule " + s.Name + ":")
		if s.Min > 0 {
			b.WriteString(" min " + strconv.Itoa(s.Min))
		}
		if s.Max > 0 {
			b.WriteString(" max " + strconv.Itoa(s.Max))
		}
		if s.Recurring() {
			zone := s.TimeZone
			if zone == "" {
				zone = "UTC"
			}
			b.WriteString(" · cron " + s.Cron + " (" + zone + ") for " + s.Duration.String())
		} else {
			b.WriteString(" · one-off")
		}
		// Windows already open at the first sample count too.
		var opens []policy.Activation
		from := first.Add(-s.Duration.D())
		if !s.Recurring() {
			from = first.Add(-s.End.Sub(s.Start))
		}
		for _, a := range s.Next(from, maxListedOpenings+2) {
			if !a.Start.After(last) && a.End.After(first) {
				opens = append(opens, a)
			}
		}
		switch {
		case len(opens) == 0:
			b.WriteString(" · not open during the trace")
		default:
			b.WriteString(" · open ")
			for k, a := range opens[:min(len(opens), maxListedOpenings)] {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteString(a.Start.Format("Mon 2006-01-02 15:04 MST"))
			}
			if len(opens) > maxListedOpenings {
				b.WriteString(" and more")
			}
		}
		out = append(out, b.String())
	}
	n := 0
	for _, e := range r.Events {
		if e.Bound == policy.LimitSchedule {
			n++
		}
	}
	return append(out, strconv.Itoa(n)+" of "+strconv.Itoa(len(r.Events))+" size changes were set by a scheduled window (bound: schedule)")
}
