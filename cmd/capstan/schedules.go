package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// nextActivations is how many openings `policy validate` shows per window.
const nextActivations = 3

// writePolicyExtras prints what `policy validate` adds after OK for a
// priced or scheduled policy: the price of its size range, the size its
// budget pays for, and each
// window's bounds and next openings in the window's own time zone (and in
// UTC), so a user sees at once whether the zone is the one meant.
func writePolicyExtras(w io.Writer, p policy.Policy, from time.Time) error {
	var b strings.Builder
	if p.Cost.Priced() {
		fmt.Fprintf(&b, "cost: %s %s per instance-hour (%d..%d instances: %.2f..%.2f %s per hour)\n",
			strconv.FormatFloat(p.Cost.PerInstanceHour, 'f', -1, 64), p.Cost.Currency, p.Min, p.Max,
			p.Cost.Hourly(p.Min), p.Cost.Hourly(p.Max), p.Cost.Currency)
	}
	if limit, ok := p.Budget.Cap(p.Cost); ok {
		fmt.Fprintf(&b, "budget: %s %s per hour, at most %d instances", policy.FormatMoney(p.Budget.MaxHourlyCost), p.Cost.Currency, limit)
		if limit < p.Max {
			fmt.Fprintf(&b, " (below max %d: scale-out stops there, bound: budget)", p.Max)
		}
		b.WriteString("\n")
	}
	for _, s := range p.Schedules {
		var bounds []string
		if s.Min > 0 {
			bounds = append(bounds, "min "+strconv.Itoa(s.Min))
		}
		if s.Max > 0 {
			bounds = append(bounds, "max "+strconv.Itoa(s.Max))
		}
		fmt.Fprintf(&b, "schedule %s: %s, ", s.Name, strings.Join(bounds, ", "))
		if s.Recurring() {
			zone := s.TimeZone
			if zone == "" {
				zone = "UTC"
			}
			fmt.Fprintf(&b, "cron %q in %s for %s", s.Cron, zone, s.Duration)
		} else {
			b.WriteString("one-off")
		}
		acts := s.Next(from, nextActivations)
		if len(acts) == 0 {
			b.WriteString("; no opening after " + from.UTC().Format(time.RFC3339) + "\n")
			continue
		}
		b.WriteString("; next:\n")
		for _, a := range acts {
			fmt.Fprintf(&b, "  %s – %s  (%s UTC)\n", a.Start.Format("Mon 2006-01-02 15:04 MST"), a.End.Format("Mon 2006-01-02 15:04 MST"),
				a.Start.UTC().Format("2006-01-02 15:04"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
