package report

import (
	"io"
	"strconv"
	"strings"

	"github.com/capstan-io/capstan/policy/simulate"
)

// WriteSummary writes s as a small aligned table for a terminal:
//
//	samples                     11520
//	evaluations                 11520
//	instance-hours             1234.5
//	under-provisioned samples      12  (0.10%)
//	scale-out actions              41
//	...
//
// Numbers are right-aligned so their magnitudes compare at a glance, and
// carry no thousands separators so they can be copied into other tools.
func WriteSummary(w io.Writer, s simulate.Summary) error {
	rows := []struct{ label, value, note string }{
		{"samples", strconv.Itoa(s.Samples), ""},
		{"evaluations", strconv.Itoa(s.Evaluations), ""},
		{"instance-hours", strconv.FormatFloat(s.InstanceHours, 'f', 1, 64), ""},
		{"under-provisioned samples", strconv.Itoa(s.UnderProvisionedSamples),
			"(" + strconv.FormatFloat(100*s.UnderProvisionedFraction, 'f', 2, 64) + "%)"},
		{"scale-out actions", strconv.Itoa(s.ScaleOuts), ""},
		{"scale-in actions", strconv.Itoa(s.ScaleIns), ""},
		{"actions per day", strconv.FormatFloat(s.ActionsPerDay, 'f', 1, 64), ""},
		{"peak size", strconv.Itoa(s.PeakSize), ""},
		{"stale samples", strconv.Itoa(s.StaleSamples), ""},
		{"reversals", strconv.Itoa(s.Reversals), ""},
		{"damped decisions", strconv.Itoa(s.Damped), ""},
	}
	if s.HeldBack > 0 {
		rows = append(rows, struct{ label, value, note string }{"forecast held back", strconv.Itoa(s.HeldBack), "(predictive.max_extra)"})
	}
	if s.BudgetBound > 0 {
		rows = append(rows, struct{ label, value, note string }{"budget-capped decisions", strconv.Itoa(s.BudgetBound), "(bound: budget)"})
	}
	if s.Priced() {
		rows = append(rows, struct{ label, value, note string }{"cost", strconv.FormatFloat(s.Cost, 'f', 2, 64), s.Currency})
	}
	lw, vw := 0, 0
	for _, r := range rows {
		lw, vw = max(lw, len(r.label)), max(vw, len(r.value))
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.label)
		b.WriteString(strings.Repeat(" ", lw-len(r.label)+2+vw-len(r.value)))
		b.WriteString(r.value)
		if r.note != "" {
			b.WriteString("  ")
			b.WriteString(r.note)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
