package report

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/capstan-io/capstan/policy/simulate"
)

// Run is one labelled run of a side-by-side comparison: the policy, the
// policy with prediction off, or the HPA reference.
type Run struct {
	// Label heads the run's column ("policy", "off", "hpa").
	Label string
	// Summary is the run's summary.
	Summary simulate.Summary
}

// WriteComparison writes runs side by side, one column each, then the
// first run's figures over every other run's:
//
//	                              policy      off      hpa
//	under-provisioned samples        134      316      299
//	...
//	policy / hpa: under-provisioned 0.45×, instance-hours 1.02×, actions 1.03×
func WriteComparison(w io.Writer, runs []Run) error {
	if len(runs) == 0 {
		return nil
	}
	pct := func(s simulate.Summary) string {
		return strconv.FormatFloat(100*s.UnderProvisionedFraction, 'f', 2, 64) + "%"
	}
	rows := []struct {
		label string
		value func(simulate.Summary) string
	}{
		{"samples", func(s simulate.Summary) string { return strconv.Itoa(s.Samples) }},
		{"evaluations", func(s simulate.Summary) string { return strconv.Itoa(s.Evaluations) }},
		{"instance-hours", func(s simulate.Summary) string { return strconv.FormatFloat(s.InstanceHours, 'f', 1, 64) }},
		{"under-provisioned samples", func(s simulate.Summary) string { return strconv.Itoa(s.UnderProvisionedSamples) }},
		{"under-provisioned fraction", pct},
		{"scale-out actions", func(s simulate.Summary) string { return strconv.Itoa(s.ScaleOuts) }},
		{"scale-in actions", func(s simulate.Summary) string { return strconv.Itoa(s.ScaleIns) }},
		{"actions per day", func(s simulate.Summary) string { return strconv.FormatFloat(s.ActionsPerDay, 'f', 1, 64) }},
		{"peak size", func(s simulate.Summary) string { return strconv.Itoa(s.PeakSize) }},
		{"stale samples", func(s simulate.Summary) string { return strconv.Itoa(s.StaleSamples) }},
		{"reversals", func(s simulate.Summary) string { return strconv.Itoa(s.Reversals) }},
		{"damped decisions", func(s simulate.Summary) string { return strconv.Itoa(s.Damped) }},
	}
	// Only when the forecast's cost bound held a forecast back in some
	// run: a comparison of max_extra settings shows how often each did.
	if slices.ContainsFunc(runs, func(r Run) bool { return r.Summary.HeldBack > 0 }) {
		rows = append(rows, struct {
			label string
			value func(simulate.Summary) string
		}{"forecast held back", func(s simulate.Summary) string { return strconv.Itoa(s.HeldBack) }})
	}
	// Only when a budget bound in some run: a dry-run that adds or
	// lowers a budget shows what it held back.
	if slices.ContainsFunc(runs, func(r Run) bool { return r.Summary.BudgetBound > 0 }) {
		rows = append(rows, struct {
			label string
			value func(simulate.Summary) string
		}{"budget-capped decisions", func(s simulate.Summary) string { return strconv.Itoa(s.BudgetBound) }})
	}
	if runs[0].Summary.Priced() {
		rows = append(rows, struct {
			label string
			value func(simulate.Summary) string
		}{"cost (" + runs[0].Summary.Currency + ")", func(s simulate.Summary) string {
			if !s.Priced() {
				return "-"
			}
			return strconv.FormatFloat(s.Cost, 'f', 2, 64)
		}})
	}
	cells := make([][]string, len(rows)+1)
	cells[0] = append(cells[0], "")
	for _, r := range runs {
		cells[0] = append(cells[0], r.Label)
	}
	for i, row := range rows {
		cells[i+1] = append(cells[i+1], row.label)
		for _, r := range runs {
			cells[i+1] = append(cells[i+1], row.value(r.Summary))
		}
	}
	widths := make([]int, len(runs)+1)
	for _, line := range cells {
		for k, c := range line {
			widths[k] = max(widths[k], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		for k, c := range line {
			pad := widths[k] - len([]rune(c))
			if k == 0 {
				b.WriteString(c)
				b.WriteString(strings.Repeat(" ", pad))
				continue
			}
			b.WriteString(strings.Repeat(" ", pad+3))
			b.WriteString(c)
		}
		b.WriteByte('\n')
	}
	for _, other := range runs[1:] {
		r := simulate.Compare(runs[0].Summary, other.Summary)
		b.WriteString(runs[0].Label + " / " + other.Label + ": under-provisioned " + r.UnderProvisioned.String() +
			", instance-hours " + r.InstanceHours.String() + ", actions " + r.Actions.String())
		if note := r.CostNote(); note != "" {
			b.WriteString(", " + note)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
