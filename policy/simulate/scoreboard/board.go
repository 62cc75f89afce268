package scoreboard

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Board is the whole scoreboard: one row per trace and one per bundled
// example policy.
type Board struct {
	// Rows are the traces, in the order scored.
	Rows []Row `json:"traces"`
	// Examples are the bundled example policies.
	Examples []ExampleRow `json:"examples"`
}

// Pass reports whether every target of every row is met.
func (b Board) Pass() bool {
	for _, r := range b.Rows {
		if !r.Pass() {
			return false
		}
	}
	for _, r := range b.Examples {
		if !r.Pass() {
			return false
		}
	}
	return true
}

// Missed counts the checks that failed and the checks made.
func (b Board) Missed() (missed, total int) {
	count := func(cs []Check) {
		for _, c := range cs {
			total++
			if !c.Pass {
				missed++
			}
		}
	}
	for _, r := range b.Rows {
		count(r.Checks)
	}
	for _, r := range b.Examples {
		count(r.Checks)
	}
	return missed, total
}

// WriteText writes the board as aligned tables for a terminal. Per trace:
// under-provisioned samples, instance-hours and actions per day of the
// reference (ref), prediction off (off) and forecast-and-scale (fcst), the
// forecast's ratio to the reference, and each target as PASS or FAIL with
// its figure.
func (b Board) WriteText(w io.Writer) error {
	// Numbers align right; names are padded to one width so they read left-aligned.
	nameW := len("trace")
	for _, r := range b.Rows {
		nameW = max(nameW, len(strings.TrimSuffix(r.Trace.Name, ".csv")))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", nameW-len(s)) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, pad("trace")+"\tclass\ttarget\tunder ref\toff\tfcst\tfcst/ref\tinst-h ref\toff\tfcst\tfcst/ref\tacts/day ref\toff\tfcst\tfcst/ref\t")
	for _, r := range b.Rows {
		ref, off, fc := r.Baseline, r.Off, r.Forecast
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%.0f\t%.0f\t%.0f\t%s\t%.1f\t%.1f\t%.1f\t%s\t\n",
			pad(strings.TrimSuffix(r.Trace.Name, ".csv")), class(r.Trace), strconv.FormatFloat(r.Target, 'g', 4, 64),
			ref.UnderProvisionedSamples, off.UnderProvisionedSamples, fc.UnderProvisionedSamples,
			r.Ratios.UnderProvisioned, ref.InstanceHours, off.InstanceHours, fc.InstanceHours, r.Ratios.InstanceHours,
			ref.ActionsPerDay, off.ActionsPerDay, fc.ActionsPerDay, r.Ratios.Actions)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "trace\ttargets (forecast-and-scale against the HPA reference)\t")
	for _, r := range b.Rows {
		fmt.Fprintf(tw, "%s\t%s\t\n", strings.TrimSuffix(r.Trace.Name, ".csv"), checksText(r.Checks))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(b.Examples) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "example policy\tunder\tinst-h\tscale-outs\tscale-ins\tacts/day\ttargets\t")
		for _, r := range b.Examples {
			s := r.Summary
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\t%.1f\t%s\t\n", r.Example.Policy, s.UnderProvisionedSamples,
				s.InstanceHours, s.ScaleOuts, s.ScaleIns, s.ActionsPerDay, checksText(r.Checks))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	missed, total := b.Missed()
	verdict := "all targets met"
	if missed > 0 {
		verdict = fmt.Sprintf("%d of %d targets missed", missed, total)
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

// WriteMarkdown writes the board as Markdown tables, the form BENCHMARKS.md keeps.
func (b Board) WriteMarkdown(w io.Writer) error {
	var sb strings.Builder
	sb.WriteString("| trace | class | under-provisioned ref / off / fcst | instance-hours ref / off / fcst | actions/day ref / off / fcst | targets |\n")
	sb.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range b.Rows {
		ref, off, fc := r.Baseline, r.Off, r.Forecast
		fmt.Fprintf(&sb, "| %s | %s | %d / %d / %d (**%s**) | %.0f / %.0f / %.0f (**%s**) | %.1f / %.1f / %.1f (**%s**) | %s |\n",
			strings.TrimSuffix(r.Trace.Name, ".csv"), class(r.Trace),
			ref.UnderProvisionedSamples, off.UnderProvisionedSamples, fc.UnderProvisionedSamples,
			r.Ratios.UnderProvisioned, ref.InstanceHours, off.InstanceHours, fc.InstanceHours, r.Ratios.InstanceHours,
			ref.ActionsPerDay, off.ActionsPerDay, fc.ActionsPerDay, r.Ratios.Actions, checksText(r.Checks))
	}
	if len(b.Examples) > 0 {
		sb.WriteString("\n| example policy | under-provisioned | instance-hours | scale-outs / scale-ins | actions/day | targets |\n")
		sb.WriteString("|---|---|---|---|---|---|\n")
		for _, r := range b.Examples {
			s := r.Summary
			fmt.Fprintf(&sb, "| %s | %d | %.0f | %d / %d | %.1f | %s |\n", r.Example.Policy, s.UnderProvisionedSamples,
				s.InstanceHours, s.ScaleOuts, s.ScaleIns, s.ActionsPerDay, checksText(r.Checks))
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// checksText renders checks as "under 0.42× PASS · hours 1.03× PASS".
func checksText(cs []Check) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fig := c.Ratio.String()
		if c.Name == "actions per day" {
			fig = strconv.FormatFloat(float64(c.Ratio)*MaxActionsPerDay, 'f', 1, 64)
		}
		parts[i] = fmt.Sprintf("%s %s %s (%s)", verdict, c.Name, fig, c.Rule)
	}
	return strings.Join(parts, " · ")
}
