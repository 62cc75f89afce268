package recommend

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// HTMLOptions label a recommendation report.
type HTMLOptions struct {
	// Title heads the page; empty means "Capstan recommend: ID".
	Title string
	// TraceName and PolicyName name the inputs in the subtitle.
	TraceName, PolicyName string
}

// WriteHTML writes a self-contained page (inline CSS and SVG, no scripts
// or external assets, like the simulate report) that draws every candidate
// as a point of instance-hours (or cost) against under-provisioned time,
// joins the Pareto front, marks the current policy and the recommendation,
// and lists the front's settings and the recommended diff.
func WriteHTML(w io.Writer, opts HTMLOptions, res *Result) error {
	if res == nil || len(res.Candidates) == 0 {
		return ErrEmptySpace
	}
	cur := res.Current
	pg := frontPage{
		Title:    opts.Title,
		Subtitle: "policy " + cur.Policy.ID,
		Rule:     Rule,
		XLabel:   "instance-hours",
		Count:    len(res.Candidates),
	}
	if pg.Title == "" {
		pg.Title = "Capstan recommend: " + cur.Policy.ID
	}
	if opts.PolicyName != "" {
		pg.Subtitle += " (" + opts.PolicyName + ")"
	}
	if opts.TraceName != "" {
		pg.Subtitle += " · trace " + opts.TraceName
	}
	priced := cur.Summary.Priced()
	if priced {
		pg.XLabel = "cost (" + cur.Summary.Currency + ")"
	}
	x := func(s simulate.Summary) float64 {
		if priced {
			return s.Cost
		}
		return s.InstanceHours
	}
	pg.SVG = frontSVG(res, x, pg.XLabel)
	row := func(label string, c Candidate) frontRow {
		r := frontRow{
			Label: label, Target: strconv.FormatFloat(c.Settings.TargetScale, 'f', 2, 64) + "×",
			Stabilization: c.Settings.Stabilization.String(), Cooldown: c.Settings.ScaleInCooldown.String(),
			Mode: string(c.Settings.Mode), Min: strconv.Itoa(c.Settings.Min),
			Under: strconv.Itoa(c.Summary.UnderProvisionedSamples) + " (" + strconv.FormatFloat(100*c.Summary.UnderProvisionedFraction, 'f', 2, 64) + " %)",
			Hours: strconv.FormatFloat(c.Summary.InstanceHours, 'f', 1, 64), PerDay: strconv.FormatFloat(c.Summary.ActionsPerDay, 'f', 1, 64),
		}
		if c.Settings.Mode == policy.PredictForecastAndScale {
			r.Mode += " (lead " + c.Settings.Lead.String() + ")"
		}
		if priced {
			r.Cost = simulate.Money(c.Summary.Cost, c.Summary.Currency)
		}
		return r
	}
	pg.Rows = append(pg.Rows, row("current", cur))
	for k, i := range res.Front {
		label := "front " + strconv.Itoa(k+1)
		if i == res.Recommended {
			label += " ★ recommended"
		}
		pg.Rows = append(pg.Rows, row(label, res.Candidates[i]))
	}
	pg.Priced = priced
	if res.Recommended >= 0 {
		rec := res.Candidates[res.Recommended]
		if !onFront(res, res.Recommended) {
			pg.Rows = append(pg.Rows, row("★ recommended", rec))
		}
		d, err := Diff(cur.Policy, rec.Policy)
		if err != nil {
			return err
		}
		pg.Diff = d
		r := simulate.Compare(rec.Summary, cur.Summary)
		pg.Verdict = "Recommended over current: under-provisioned " + r.UnderProvisioned.String() + ", instance-hours " +
			r.InstanceHours.String() + ", actions " + r.Actions.String()
		if note := r.CostNote(); note != "" {
			pg.Verdict += ", " + note
		}
	} else {
		pg.Verdict = "No candidate beats the current policy by the rule: keep it."
	}
	var buf bytes.Buffer
	if err := frontTemplate.Execute(&buf, pg); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func onFront(res *Result, i int) bool {
	for _, j := range res.Front {
		if j == i {
			return true
		}
	}
	return false
}

type frontPage struct {
	Title, Subtitle, Rule, XLabel, Verdict, Diff string
	Count                                        int
	Priced                                       bool
	SVG                                          template.HTML
	Rows                                         []frontRow
}

type frontRow struct {
	Label, Target, Stabilization, Cooldown, Mode, Min, Under, Hours, PerDay, Cost string
}

// Plot geometry, in SVG user units.
const (
	plotW, plotH           = 720.0, 400.0
	padL, padR, padT, padB = 70.0, 20.0, 20.0, 50.0
)

// frontSVG draws the scatter. Only numbers computed here enter the SVG;
// the axis label goes through html/template's escaper first.
func frontSVG(res *Result, x func(simulate.Summary) float64, xLabel string) template.HTML {
	all := append([]Candidate{res.Current}, res.Candidates...)
	x0, x1 := x(all[0].Summary), x(all[0].Summary)
	y1 := 0.0
	for _, c := range all {
		x0, x1 = min(x0, x(c.Summary)), max(x1, x(c.Summary))
		y1 = max(y1, 100*c.Summary.UnderProvisionedFraction)
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == 0 {
		y1 = 1
	}
	px := func(v float64) float64 { return padL + (v-x0)/(x1-x0)*(plotW-padL-padR) }
	py := func(v float64) float64 { return plotH - padB - v/y1*(plotH-padT-padB) }
	pt := func(s simulate.Summary) (float64, float64) { return px(x(s)), py(100 * s.UnderProvisionedFraction) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="Pareto front">`, plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<line class="ax" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="ax" x1="%g" y1="%g" x2="%g" y2="%g"/>`,
		padL, plotH-padB, plotW-padR, plotH-padB, padL, padT, padL, plotH-padB)
	for k := 0; k <= 4; k++ {
		xv, yv := x0+(x1-x0)*float64(k)/4, y1*float64(k)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, px(xv), plotH-padB+16, strconv.FormatFloat(xv, 'f', 1, 64))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%s %%</text>`, padL-6, py(yv)+4, strconv.FormatFloat(yv, 'f', 2, 64))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, (padL+plotW-padR)/2, plotH-10, template.HTMLEscapeString(xLabel))
	fmt.Fprintf(&b, `<text x="14" y="%g" transform="rotate(-90 14 %g)" text-anchor="middle">under-provisioned time</text>`, (plotH-padB)/2, (plotH-padB)/2)
	for _, c := range res.Candidates {
		cx, cy := pt(c.Summary)
		fmt.Fprintf(&b, `<circle class="cand" cx="%.1f" cy="%.1f" r="3"/>`, cx, cy)
	}
	b.WriteString(`<polyline class="front" points="`)
	for _, i := range res.Front {
		cx, cy := pt(res.Candidates[i].Summary)
		fmt.Fprintf(&b, "%.1f,%.1f ", cx, cy)
	}
	b.WriteString(`"/>`)
	for _, i := range res.Front {
		cx, cy := pt(res.Candidates[i].Summary)
		fmt.Fprintf(&b, `<circle class="fp" cx="%.1f" cy="%.1f" r="4"/>`, cx, cy)
	}
	cx, cy := pt(res.Current.Summary)
	fmt.Fprintf(&b, `<rect class="cur" x="%.1f" y="%.1f" width="10" height="10"><title>current policy</title></rect>`, cx-5, cy-5)
	if res.Recommended >= 0 {
		cx, cy := pt(res.Candidates[res.Recommended].Summary)
		fmt.Fprintf(&b, `<circle class="rec" cx="%.1f" cy="%.1f" r="8"><title>recommended</title></circle>`, cx, cy)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers and an escaped label only
}

var frontTemplate = template.Must(template.New("front").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}.sub{color:#666;margin:0 0 16px}
svg text{font-size:11px;fill:#444}.ax{stroke:#999}
.cand{fill:#bbb}.front{fill:none;stroke:#1f6feb;stroke-width:1.5}.fp{fill:#1f6feb}
.cur{fill:none;stroke:#d1242f;stroke-width:2}.rec{fill:none;stroke:#1a7f37;stroke-width:2.5}
table{border-collapse:collapse;margin:16px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}pre{background:#f6f8fa;padding:8px}
.legend span{margin-right:16px}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}} · {{.Count}} candidates replayed</p>
<p class="legend"><span style="color:#999">● candidate</span><span style="color:#1f6feb">● Pareto front</span><span style="color:#d1242f">□ current policy</span><span style="color:#1a7f37">◯ recommended</span></p>
{{.SVG}}
<p><strong>{{.Verdict}}</strong></p>
<p>Rule: {{.Rule}}</p>
<table>
<tr><th>point</th><th>target ×</th><th>stabilization</th><th>scale-in cooldown</th><th>predictive</th><th>min</th><th>under-provisioned</th><th>instance-hours</th>{{if .Priced}}<th>cost</th>{{end}}<th>actions/day</th></tr>
{{- range .Rows}}
<tr><td>{{.Label}}</td><td>{{.Target}}</td><td>{{.Stabilization}}</td><td>{{.Cooldown}}</td><td>{{.Mode}}</td><td>{{.Min}}</td><td>{{.Under}}</td><td>{{.Hours}}</td>{{if $.Priced}}<td>{{.Cost}}</td>{{end}}<td>{{.PerDay}}</td></tr>
{{- end}}
</table>
{{if .Diff}}<h2>Recommended change</h2><pre>{{.Diff}}</pre>{{end}}
</body></html>
`))
