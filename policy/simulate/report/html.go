package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// HTMLOptions labels an HTML report. Every field is optional; the report
// falls back to the policy's ID.
type HTMLOptions struct {
	// Title heads the page and names the browser tab.
	Title string
	// TraceName identifies the replayed trace, typically its file name.
	TraceName string
	// PolicyName identifies the policy when its ID alone is ambiguous,
	// typically the policy file's name.
	PolicyName string
	// Overlays are other runs of the same trace (prediction off, the HPA
	// reference) drawn over the policy's capacity and compared in a table.
	Overlays []Overlay
	// Units names the unit of a metric's values by metric name, e.g.
	// "requests/s"; without one a rate or backlog is in the trace's unit.
	Units map[string]string
}

// Chart heights in SVG units; the capacity chart is the one readers judge
// the policy by, so it gets more room.
const (
	metricChartHeight   = 250.0
	capacityChartHeight = 320.0
	maxTimeTicks        = 10
)

// WriteHTML writes a single self-contained HTML page describing the run: a
// header naming the policy and trace, the summary s (normally r.Summary) as
// cards, one chart per metric (value, forecast, target) and a capacity
// chart (needed, desired and ready instances, the deficit where ready falls
// short of needed filled in amber and marked on a strip under the axis),
// the actions per day, with prediction on the forecast's skill and, where
// a season scaled with the level beyond policy.ShapeShown, its shape's
// factor, all sharing one time axis; then the capacity chart day by day
// or week by week, each view on its own vertical scale, stated in its
// header (periodPanels says why). It uses inline CSS and SVG only — no scripts,
// fonts or other assets — so it can be mailed, attached to a ticket or
// archived as is. All text, policy IDs and metric names included, is escaped.
//
// Long traces are drawn per pixel column: the column's min–max range as a
// band, so every peak is kept, and a line through its mean. The file size
// is therefore bounded by the chart width, not the trace length.
func WriteHTML(w io.Writer, opts HTMLOptions, p policy.Policy, r *simulate.Result, s simulate.Summary) error {
	n, err := checkShape(p, r)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: no samples to chart", ErrMismatch)
	}
	if err := checkOverlays(r, opts.Overlays); err != nil {
		return err
	}
	pg := page{
		Title:    opts.Title,
		Subtitle: subtitle(opts, p, r),
		Settings: settings(p),
		Windows:  append(scheduleLines(p, r), budgetLines(p, r, s)...),
		Cards:    cards(r, s, p),
		Footnote: footnote(n, r.Forecast != nil, weeklyActed(r), shapeScaled(r)),
	}
	if pg.Title == "" {
		pg.Title = "Scaling simulation: " + p.ID
	}
	if len(opts.Overlays) > 0 {
		pg.Compare = comparisonRows(s, opts.Overlays)
	}

	xs := newXScale(r.Times)
	ticks := timeTicks(xs, maxTimeTicks)
	pg.Panels = append(pg.Panels, capacityPanel(r, opts.Overlays, xs, ticks))
	pg.Panels = append(pg.Panels, actionsPanel(r, s, opts.Overlays, xs, ticks))
	for j := range p.Metrics {
		pg.Panels = append(pg.Panels, metricPanel(p, r, j, opts.Units, xs, ticks))
	}
	if r.Skill != nil && r.Trusted != nil {
		pg.Panels = append(pg.Panels, skillPanel(p, r, xs, ticks))
	}
	if shapeScaled(r) {
		pg.Panels = append(pg.Panels, shapePanel(p, r, xs, ticks))
	}
	var mixed bool
	pg.ViewsTitle, pg.Views, mixed = periodPanels(p, r, opts.Overlays)
	pg.ViewsNote = "Each view is on its own scale, from 0 to its own peak, stated in its corner, so its shape " +
		"reads whatever the rest of the trace did. "
	pg.ViewsLegend = capacityLegend(opts.Overlays)
	if mixed {
		pg.ViewsNote += "The grey bar at a view's right is its scale's share of the largest view's. "
		pg.ViewsLegend = append(pg.ViewsLegend, legendItem{"gauge", "view's scale ÷ the largest view's"})
	} else if len(pg.Views) > 1 {
		pg.ViewsNote += "Here every view's peak gives the same scale, so their heights compare as they are. "
	}
	pg.ViewsNote += "The Capacity chart above keeps one scale for the whole trace."

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pg); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// page is the template's data. Everything but the SVG is plain text that
// html/template escapes.
type page struct {
	Title, Subtitle, Settings string
	Cards                     []card
	Compare                   []comparisonRow
	Panels                    []panel
	ViewsTitle                string
	// ViewsNote says how the views are scaled, so none is read against
	// its neighbour's axis.
	ViewsNote   string
	ViewsLegend []legendItem
	Views       []panel
	Footnote    []string
	// Windows describes the policy's scheduled windows and their openings
	// within the trace.
	Windows []string
}

type card struct {
	Label, Value, Detail string
	// Warn highlights a number that signals trouble when non-zero.
	Warn bool
}

type panel struct {
	Title, Note string
	// Scale states a chart's vertical range where it is the chart's own
	// rather than one its neighbours share (the small multiples).
	Scale  string
	Legend []legendItem
	SVG    template.HTML
}

// legendItem names a series; Class picks the swatch style matching the
// series' CSS class in the chart.
type legendItem struct{ Class, Label string }

func subtitle(opts HTMLOptions, p policy.Policy, r *simulate.Result) string {
	var parts []string
	pol := "policy " + p.ID
	if opts.PolicyName != "" && opts.PolicyName != p.ID {
		pol += " (" + opts.PolicyName + ")"
	}
	parts = append(parts, pol)
	if opts.TraceName != "" {
		parts = append(parts, "trace "+opts.TraceName)
	}
	t0 := time.Unix(0, r.Times[0]).UTC()
	t1 := time.Unix(0, r.Times[len(r.Times)-1]).UTC()
	parts = append(parts, t0.Format("2006-01-02 15:04")+" – "+t1.Format("2006-01-02 15:04")+" UTC ("+
		humanDuration(t1.Sub(t0)+sampleStep(r.Times))+")")
	return strings.Join(parts, " · ")
}

// settings lists the policy knobs that shape the capacity chart, so a
// reader comparing two reports sees what differs without opening YAML.
func settings(p policy.Policy) string {
	mode := string(p.Predictive.Mode)
	if mode == "" {
		mode = string(policy.PredictOff)
	}
	pred := "predictive " + mode
	if mode != string(policy.PredictOff) {
		pred += " (lead " + p.Predictive.Lead.String() + ", season " + p.Predictive.Season.String() + ")"
	}
	parts := []string{
		pred,
		"min " + strconv.Itoa(p.Min), "max " + strconv.Itoa(p.Max),
		"warmup " + p.Warmup.String(),
		"tolerance " + strconv.FormatFloat(100*p.Tolerance, 'f', -1, 64) + " %",
		"scale-out cooldown " + p.ScaleOut.Cooldown.String(),
		"scale-in cooldown " + p.ScaleIn.Cooldown.String(),
		"stabilization " + p.ScaleIn.Stabilization.String(),
	}
	return strings.Join(parts, " · ")
}

func cards(r *simulate.Result, s simulate.Summary, p policy.Policy) []card {
	step := sampleStep(r.Times)
	hours := float64(time.Duration(r.Times[len(r.Times)-1]-r.Times[0])+step) / float64(time.Hour)
	avg := ""
	if hours > 0 {
		avg = "avg size " + strconv.FormatFloat(s.InstanceHours/hours, 'f', 1, 64)
	}
	peak := ""
	if p.Max > 0 {
		peak = "policy max " + strconv.Itoa(p.Max)
	}
	cs := []card{
		{Label: "Samples", Value: groupInt(s.Samples), Detail: "every " + humanDuration(step)},
		{Label: "Evaluations", Value: groupInt(s.Evaluations), Detail: "every " + humanDuration(p.EvaluationInterval.D())},
		{Label: "Instance-hours", Value: groupFloat(s.InstanceHours, 1), Detail: avg},
		{Label: "Under-provisioned", Value: strconv.FormatFloat(100*s.UnderProvisionedFraction, 'f', 2, 64) + " %",
			Detail: groupInt(s.UnderProvisionedSamples) + " samples", Warn: s.UnderProvisionedSamples > 0},
		{Label: "Scale-outs", Value: groupInt(s.ScaleOuts), Detail: "actions"},
		{Label: "Scale-ins", Value: groupInt(s.ScaleIns), Detail: "actions"},
		{Label: "Actions per day", Value: strconv.FormatFloat(s.ActionsPerDay, 'f', 1, 64), Detail: "scale-outs and scale-ins"},
		{Label: "Peak size", Value: groupInt(s.PeakSize), Detail: peak},
		{Label: "Stale samples", Value: groupInt(s.StaleSamples), Detail: "missing or stale", Warn: s.StaleSamples > 0},
		{Label: "Reversals", Value: groupInt(s.Reversals), Detail: "out then in, or in then out"},
		{Label: "Damped", Value: groupInt(s.Damped), Detail: "scale-ins held by anti-flapping"},
	}
	if s.Priced() {
		cs = append(cs, card{Label: "Cost", Value: groupFloat(s.Cost, 2) + " " + s.Currency,
			Detail: strconv.FormatFloat(p.Cost.PerInstanceHour, 'f', -1, 64) + " " + s.Currency + " per instance-hour"})
	}
	return cs
}

func footnote(n int, forecast, weekly, scaled bool) []string {
	notes := []string{
		"Under-provisioned: a sample at which some metric's demand exceeded what the ready instances " +
			"serve at target × (1 + tolerance) — value > ready × target × (1 + tolerance) for request_rate and " +
			"queue_depth, recorded utilization × recorded size > ready × target × (1 + tolerance) for cpu. " +
			"The capacity charts fill the deficit where needed rises above ready, and mark the samples the summary " +
			"counts on the strip under their axis.",
		"Markers: every scale-out ticks the upper green row above a capacity chart, every scale-in the lower red " +
			"row, so the density of actions shows however many there are. Where they are sparse enough to tell apart, " +
			"▲ also marks a scale-out above the size it reached and ▼ a scale-in below it. Actions in one pixel " +
			"column share a tick; the per-day chart and the views' titles count every action.",
		"Needed is the instance count the sample's demand needs at the targets; desired is the size the policy " +
			"asked for (booting instances included); ready is the instances serving.",
	}
	if forecast {
		notes = append(notes, "Forecasts are drawn at the time they predict, one lead after they were made, "+
			"so they line up with the values that actually arrived.")
	}
	if weekly {
		notes = append(notes, "Where the weekly adjustment acted (a daily model that learned how each hour of the "+
			"week differs), the dotted line is the same forecast without it: the gap is what the day of the week "+
			"added, as the decisions' weekly part records it.")
	}
	if scaled {
		notes = append(notes, "Where a season scales with the level, the forecast multiplies the shape the model was "+
			"built with by the level's mean over about a season divided by the level then (within ¼× to 4×): the "+
			"seasonal shape's factor, which each decision records as season_scale and the timeline as "+
			"season_scale_<metric>; a gap in its chart is where the season was additive or there was none. The "+
			"views' titles give each period's range where it lies more than "+
			strconv.FormatFloat(100*policy.ShapeShown, 'f', -1, 64)+" % from 1, as the reasons name it.")
	}
	if isDense(n) {
		notes = append(notes, "With "+groupInt(n)+" samples the charts draw each pixel column as the range of its "+
			"values (the shaded band, so peaks and troughs are exact) and a line through their mean; the CSV or "+
			"JSON timeline has every sample.")
	}
	return append(notes, "Times are UTC.")
}

func metricPanel(p policy.Policy, r *simulate.Result, j int, units map[string]string, xs xScale, ticks []timeTick) panel {
	m := p.Metrics[j]
	n := len(r.Times)
	obs := r.Observed[j]
	var fc []float64
	var lead int64
	if r.Forecast != nil {
		fc = r.Forecast[j]
		lead = int64(p.Predictive.Lead.D())
	}
	daily := withoutWeekly(r, j)
	at := func(i int) int64 { return r.Times[i] }
	ys := metricYScale(p, r, j, xs)
	dense := isDense(n)
	var b []byte
	if dense {
		segs := columns(n, at, func(i int) float64 { return obs[i] }, 0, xs)
		b = append(b, `<path class="band" d="`...)
		b = bandPath(b, segs, ys)
		b = append(b, `"/>`...)
	}
	// The reference line: for cpu the observed value is a utilization, so
	// the target itself; for rates and backlogs the observed value is total
	// demand, so what the ready instances serve at target.
	b = append(b, `<path class="ref" d="`...)
	if m.Type == policy.MetricCPU {
		b = hLine(b, xs, ys.y(m.Target))
	} else {
		b = refStep(b, r, m.Target, xs, ys)
	}
	b = append(b, `"/>`...)
	// The forecast goes under the observed line: where the two agree the
	// observed value, the ground truth, is the one left readable.
	if daily != nil {
		b = append(b, `<path class="fcd" d="`...)
		b = seriesPath(b, dense, n, at, daily, lead, xs, ys)
		b = append(b, `"/>`...)
	}
	if fc != nil {
		b = append(b, `<path class="fc" d="`...)
		b = seriesPath(b, dense, n, at, func(i int) float64 { return fc[i] }, lead, xs, ys)
		b = append(b, `"/>`...)
	}
	b = append(b, `<path class="val" d="`...)
	b = seriesPath(b, dense, n, at, func(i int) float64 { return obs[i] }, 0, xs, ys)
	b = append(b, `"/>`...)

	pn := panel{Title: m.Name}
	legend := []legendItem{}
	tgt := strconv.FormatFloat(m.Target, 'g', -1, 64)
	unit := unitNote(m, units)
	switch m.Type {
	case policy.MetricCPU:
		pn.Note = "cpu utilization of the ready instances, " + unit + " · target " + tgt + " %"
		legend = append(legend, legendItem{"val", "utilization"})
		legend = append(legend, legendItem{"ref", "target"})
	case policy.MetricRequestRate:
		pn.Note = "request rate, in " + unit + " · target " + tgt + " per instance"
		legend = append(legend, legendItem{"val", "request rate"})
		legend = append(legend, legendItem{"ref", "ready × target"})
	default:
		pn.Note = "backlog (" + string(m.Type) + "), in " + unit + " · target " + tgt + " per instance"
		legend = append(legend, legendItem{"val", string(m.Type)})
		legend = append(legend, legendItem{"ref", "ready × target"})
	}
	if fc != nil {
		legend = slices.Insert(legend, 1, legendItem{"fc", "forecast (lead " + p.Predictive.Lead.String() + ")"})
	}
	if daily != nil {
		legend = slices.Insert(legend, 2, legendItem{"fcd", "forecast without the weekly adjustment, where it acted"})
	}
	pn.Legend = legend
	pn.SVG = chartSVG(m.Name+" chart", metricChartHeight, xs, ys, ticks, b)
	return pn
}

// metricYScale fits metric j's chart to its values, its forecasts that fall
// inside the time axis and its reference line, from a zero baseline.
func metricYScale(p policy.Policy, r *simulate.Result, j int, xs xScale) yScale {
	m := p.Metrics[j]
	obs := r.Observed[j]
	var fc []float64
	var lead int64
	if r.Forecast != nil {
		fc = r.Forecast[j]
		lead = int64(p.Predictive.Lead.D())
	}
	ref := func(i int) float64 {
		if m.Type == policy.MetricCPU {
			return m.Target
		}
		return float64(r.Ready[i]) * m.Target
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	widen := func(v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	for i := range r.Times {
		widen(obs[i])
		widen(ref(i))
		if fc != nil && r.Times[i]+lead <= xs.t1 {
			widen(fc[i])
		}
	}
	if daily := withoutWeekly(r, j); daily != nil {
		for i := range r.Times {
			if r.Times[i]+lead <= xs.t1 {
				widen(daily(i))
			}
		}
	}
	if lo > 0 { // demand charts read best against a zero baseline
		lo = 0
	}
	return newYScale(lo, hi, 5, false, padTop, metricChartHeight-padBottom)
}

// withoutWeekly is metric j's forecast without the weekly adjustment's
// part, NaN where the adjustment did not act (so its line shows only where
// the two differ); nil when it never acted in the run.
func withoutWeekly(r *simulate.Result, j int) func(int) float64 {
	if r.Forecast == nil || r.Weekly == nil || !slices.ContainsFunc(r.Weekly[j], isNumber) {
		return nil
	}
	fc, wk := r.Forecast[j], r.Weekly[j]
	return func(i int) float64 { return fc[i] - wk[i] }
}

// weeklyActed reports whether the weekly adjustment acted for any metric
// in the run.
func weeklyActed(r *simulate.Result) bool {
	return r.Forecast != nil && slices.ContainsFunc(r.Weekly, func(col []float64) bool { return slices.ContainsFunc(col, isNumber) })
}

// isNumber reports whether v is not NaN.
func isNumber(v float64) bool { return !math.IsNaN(v) }

// isDense reports whether a trace has so many samples per plot column that
// a line through every sample would smear into a solid zigzag; such series
// are drawn as a min–max band with a line through the column means.
func isDense(n int) bool { return n > 2*int(plotRight-plotLeft) }

// seriesPath draws a series as a line: through every kept sample (M4) when
// sparse, through the column means when dense (the band carries the peaks).
func seriesPath(b []byte, dense bool, n int, at func(int) int64, val func(int) float64, shift int64, xs xScale, ys yScale) []byte {
	if dense {
		return meanPath(b, columns(n, at, val, shift, xs), ys)
	}
	return linePath(b, n, at, val, shift, xs, ys)
}

// refStep draws ready × target as a step line without materializing the
// product series.
func refStep(b []byte, r *simulate.Result, target float64, xs xScale, ys yScale) []byte {
	scaled := yScale{lo: ys.lo / target, hi: ys.hi / target, top: ys.top, bottom: ys.bottom}
	return stepPath(b, r.Ready, r.Times, xs, scaled, false)
}

func capacityPanel(r *simulate.Result, ovs []Overlay, xs xScale, ticks []timeTick) panel {
	ys := newYScale(0, float64(capacityTop(r, ovs, 0, len(r.Times), xs.t0, xs.t1+1)), 5, true, padTop+markStrip, capacityChartHeight-padBottom)
	b := drawCapacity(nil, r, ovs, 0, len(r.Times), xs.t0, xs.t1+1, xs, ys)
	legend := capacityLegend(ovs)
	if slices.Contains(r.Scheduled, true) {
		legend = append(legend, legendItem{"sched", "scheduled window open"})
	}
	return panel{
		Title:  "Capacity",
		Note:   "instances",
		Legend: legend,
		SVG:    chartSVG("capacity chart", capacityChartHeight, xs, ys, ticks, b),
	}
}

// capacityLegend names the capacity charts' series.
func capacityLegend(ovs []Overlay) []legendItem {
	l := []legendItem{{"needed", "needed"}, {"desired", "desired"}, {"ready", "ready"}}
	for k, o := range ovs {
		l = append(l, legendItem{overlayClass(k), "desired, " + o.Label})
	}
	return append(l, legendItem{"mk-out", "scale-out"}, legendItem{"mk-in", "scale-in"},
		legendItem{"under", "under-provisioned"})
}

// rugBands marks, as a strip at y of height h, the stretches of samples
// [0, n) where on holds. A stretch lasts until the next sample (the last
// one to the axis' end); stretches closer than a pixel are merged so a
// flapping trace does not emit thousands of slivers.
func rugBands(b []byte, n int, at func(int) int64, on func(int) bool, xs xScale, y, h float64) []byte {
	var x0, x1 float64
	open := false
	emit := func() {
		if !open {
			return
		}
		b = rect(b, x0, y, math.Max(x1-x0, 1), h)
		open = false
	}
	for i := 0; i < n; i++ {
		if !on(i) {
			continue
		}
		j := i
		for j+1 < n && on(j+1) {
			j++
		}
		s, e := xs.x(at(i)), xs.right
		if j+1 < n {
			e = xs.x(at(j + 1))
		}
		if open && s-x1 < 1 {
			x1 = e
		} else {
			emit()
			x0, x1, open = s, e, true
		}
		i = j
	}
	emit()
	return b
}

// chartSVG frames a chart body with gridlines and axes. label becomes the
// SVG's accessible name.
func chartSVG(label string, height float64, xs xScale, ys yScale, ticks []timeTick, body []byte) template.HTML {
	var b []byte
	b = append(b, `<svg viewBox="0 0 `...)
	b = strconv.AppendFloat(b, xs.right+padRight, 'f', -1, 64)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, height, 'f', -1, 64)
	b = append(b, `" role="img" aria-label="`...)
	b = append(b, svgText(label)...)
	b = append(b, `"><g class="grid">`...)
	for _, v := range ys.ticks() {
		b = append(b, `<path d="M`...)
		b = appendCoord(b, xs.left)
		b = append(b, ',')
		b = appendCoord(b, ys.y(v))
		b = append(b, 'H')
		b = appendCoord(b, xs.right)
		b = append(b, `"/>`...)
	}
	for _, t := range ticks {
		if t.date {
			b = append(b, `<path class="day" d="M`...)
		} else {
			b = append(b, `<path d="M`...)
		}
		b = appendCoord(b, xs.x(t.t))
		b = append(b, ',')
		b = appendCoord(b, ys.top)
		b = append(b, 'V')
		b = appendCoord(b, ys.bottom)
		b = append(b, `"/>`...)
	}
	b = append(b, `</g>`...)
	b = append(b, body...)
	b = append(b, `<path class="baseline" d="M`...)
	b = appendCoord(b, xs.left)
	b = append(b, ',')
	b = appendCoord(b, ys.bottom)
	b = append(b, 'H')
	b = appendCoord(b, xs.right)
	b = append(b, `"/><g class="axis">`...)
	for _, v := range ys.ticks() {
		b = append(b, `<text class="yl" x="`...)
		b = appendCoord(b, xs.left-8)
		b = append(b, `" y="`...)
		b = appendCoord(b, ys.y(v)+4)
		b = append(b, `">`...)
		b = append(b, svgText(formatTick(v, ys.step))...)
		b = append(b, `</text>`...)
	}
	for _, t := range ticks {
		x := xs.x(t.t)
		anchor := "middle"
		switch { // keep edge labels inside the SVG
		case x-xs.left < 20:
			anchor = "start"
		case xs.right-x < 20:
			anchor = "end"
		}
		b = append(b, `<text x="`...)
		b = appendCoord(b, x)
		b = append(b, `" y="`...)
		b = appendCoord(b, ys.bottom+21)
		b = append(b, `" text-anchor="`...)
		b = append(b, anchor...)
		if t.date {
			b = append(b, `" class="date`...)
		}
		b = append(b, `">`...)
		b = append(b, svgText(t.label)...)
		b = append(b, `</text>`...)
	}
	b = append(b, `</g></svg>`...)
	return template.HTML(b) // built from numbers and escaped text only
}

// sampleStep is the trace's typical spacing: the median of the first gaps,
// which ignores the odd missing sample.
func sampleStep(times []int64) time.Duration {
	if len(times) < 2 {
		return time.Minute
	}
	gaps := make([]int64, 0, 64)
	for i := 1; i < len(times) && len(gaps) < cap(gaps); i++ {
		gaps = append(gaps, times[i]-times[i-1])
	}
	slices.Sort(gaps)
	return time.Duration(gaps[len(gaps)/2])
}

// humanDuration renders spans the way people say them: "8d", "3h 20m", "45s".
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.String()
	}
	d = d.Round(time.Second)
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var parts []string
	for _, u := range units {
		if k := d / u.d; k > 0 && len(parts) < 2 {
			parts = append(parts, strconv.FormatInt(int64(k), 10)+u.name)
			d -= k * u.d
		} else if len(parts) > 0 {
			break // "2d 3h", never "2d 0h 5m"
		}
	}
	return strings.Join(parts, " ")
}

// groupInt adds thousands separators: card values are read, not parsed.
func groupInt(v int) string {
	s := strconv.Itoa(v)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// groupFloat formats v with dec decimals and thousands separators.
func groupFloat(v float64, dec int) string {
	s := strconv.FormatFloat(v, 'f', dec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(intPart)
	if err != nil { // Inf, NaN or beyond int: show as is
		return s
	}
	g := groupInt(n)
	if intPart == "-0" {
		g = "-0"
	}
	if frac != "" {
		g += "." + frac
	}
	return g
}

var pageTemplate = template.Must(template.New("report").Parse(pageHTML))

// pageHTML is the report's skeleton. The styles live here rather than on the
// SVG elements so each of the thousands of path points stays small.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f6f8fb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:28px 24px 36px}
h1{font-size:22px;line-height:1.25;margin:0 0 6px;font-weight:650}
.sub{color:#334155;margin:0}
.settings{color:var(--muted);margin:2px 0 0;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:10px;margin:20px 0 18px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 11px 11px}
.card .k{font-size:11.5px;color:var(--muted);font-weight:600;white-space:nowrap}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px;white-space:nowrap}
.card .d{font-size:12px;color:var(--muted)}
.card.warn{border-color:#fcd34d;background:#fffbeb}
.card.warn .v{color:#b45309}
.panel{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px 8px;margin-bottom:12px}
.panel header{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap;gap:4px 24px;margin-bottom:4px}
.panel h2{font-size:15px;margin:0;font-weight:650}
.panel h2 small{font-size:13px;font-weight:400;color:var(--muted);margin-left:8px}
.legend{display:flex;gap:4px 18px;flex-wrap:wrap;font-size:12px;color:#334155}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:20px;height:0;border-top:2px solid}
.sw.val{border-color:#2563eb}
.sw.fc{border-top:2px dashed #c026d3}
.sw.fcd{border-top:2px dotted #c026d3;opacity:.6}
.sw.ref{border-top:1.5px dashed #64748b}
.sw.needed{border-top:1.5px solid #6b7280}
.sw.desired{border-color:#0f172a}
.sw.ready{height:11px;border:0;border-top:2px solid #2563eb;background:#bfdbfe}
.sw.under{height:11px;border:0;background:#f59e0b}
.sched rect{fill:#6366f1;fill-opacity:.10}.sw.sched{height:11px;border:0;background:#6366f120}
svg{display:block;width:100%;height:auto;overflow:visible}
svg path{fill:none;stroke-linejoin:round;stroke-linecap:round}
.grid path{stroke:#edf1f6;stroke-width:1}
.grid path.day{stroke:#dbe2ea}
.baseline{stroke:#94a3b8;stroke-width:1}
.axis text{fill:#64748b;font-size:11.5px;font-variant-numeric:tabular-nums}
.axis text.yl{text-anchor:end}
.axis text.date{fill:#334155;font-weight:600}
.val{stroke:#2563eb;stroke-width:1.4}
.fc{stroke:#c026d3;stroke-width:1.5;stroke-dasharray:5 3}
.fcd{stroke:#c026d3;stroke-width:1.2;stroke-dasharray:1.5 2.5;stroke-opacity:.6}
.ref{stroke:#64748b;stroke-width:1.2;stroke-dasharray:3 3}
svg path.band{fill:#bfdbfe;fill-opacity:.8;stroke:none}
svg path.deficit{fill:#f59e0b;stroke:none}
svg path.ready-area{fill:#dbeafe;stroke:none}
.rug rect{fill:#f59e0b}
.ready{stroke:#2563eb;stroke-width:1.2}
.desired{stroke:#0f172a;stroke-width:1.3}
.needed{stroke:#6b7280;stroke-width:.9}
.sw.ov0{border-top:2px dashed #ea580c}
.sw.ov1{border-top:2px dotted #7c3aed}
.sw.ov2{border-top:2px dotted #0d9488}
.sw.mk-out,.sw.mk-in{width:0;height:0;border:0;border-left:5px solid transparent;border-right:5px solid transparent}
.sw.mk-out{border-bottom:8px solid #16a34a}
.sw.mk-in{border-top:8px solid #dc2626}
.sw.bar-out{height:11px;border:0;background:#16a34a}
.sw.bar-in{height:11px;border:0;background:#f87171}
.sw.sk0{border-color:#c026d3}.sw.sk1{border-color:#0891b2}.sw.sk2{border-color:#65a30d}
.sw.trust{height:6px;border:0;background:#e879f9}
.ov0{stroke:#ea580c;stroke-width:1.3;stroke-dasharray:6 3;stroke-opacity:.8}
.ov1{stroke:#7c3aed;stroke-width:1.5;stroke-dasharray:1.5 2.5;stroke-opacity:.8}
.ov2{stroke:#0d9488;stroke-width:1.5;stroke-dasharray:1.5 2.5}
svg path.mk-out{fill:#16a34a;stroke:none}
svg path.mk-in{fill:#dc2626;stroke:none}
.bar-out rect{fill:#16a34a}
.bar-in rect{fill:#f87171}
.sk0{stroke:#c026d3;stroke-width:1.3}.sk1{stroke:#0891b2;stroke-width:1.3}.sk2{stroke:#65a30d;stroke-width:1.3}
.trust rect{fill:#e879f9}
.sw.quiet{height:11px;border:0;background:#f1f5f9}.sw.named{height:6px;border:0;background:#0f766e}
svg path.quiet{fill:#f1f5f9;stroke:none}
.named rect{fill:#0f766e}
.tk-out rect{fill:#16a34a}
.tk-in rect{fill:#dc2626}
table.cmp{border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px;margin:0 0 14px;font-variant-numeric:tabular-nums;width:100%}
table.cmp th,table.cmp td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
table.cmp th:first-child,table.cmp td:first-child{text-align:left}
table.cmp td.r{text-align:left;color:#334155;white-space:normal}
table.cmp th{font-size:12px;color:var(--muted);font-weight:600}
h2.views{font-size:17px;margin:22px 0 4px}
.views-legend{margin:0 0 10px}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:10px}
.multiples .panel{margin:0;padding:8px 10px 4px;display:flex;flex-direction:column}
.multiples .panel svg{margin-top:auto}
.multiples .panel h2{font-size:13.5px}
.multiples .panel h2 small{font-size:12px}
.multiples header{flex-wrap:nowrap;align-items:flex-start}
.gauge-bg rect{fill:#e2e8f0}.gauge rect{fill:#64748b}
.sw.gauge{width:5px;height:12px;border:0;background:linear-gradient(#e2e8f0 40%,#64748b 40%)}
.scale{flex:none;font-size:11.5px;font-weight:600;color:#334155;background:#eef2f7;border-radius:4px;padding:1px 6px;white-space:nowrap;font-variant-numeric:tabular-nums}
footer{color:var(--muted);font-size:12.5px;margin-top:16px;border-top:1px solid var(--line);padding-top:10px}
footer p{margin:4px 0;max-width:1000px}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
<p class="settings">{{.Settings}}</p>
{{- if .Windows}}
<ul class="settings">{{range .Windows}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
<section class="cards">
{{- range .Cards}}
<div class="card{{if .Warn}} warn{{end}}"><div class="k">{{.Label}}</div><div class="v">{{.Value}}</div><div class="d">{{.Detail}}</div></div>
{{- end}}
</section>
{{- if .Compare}}
<table class="cmp">
<tr><th>run</th><th>under-provisioned</th><th>%</th><th>instance-hours</th><th>scale-outs</th><th>scale-ins</th><th>actions/day</th><th>peak</th><th>cost</th><th>policy ÷ run</th></tr>
{{- range .Compare}}
<tr><td>{{.Label}}</td><td>{{.Under}}</td><td>{{.UnderPct}}</td><td>{{.Hours}}</td><td>{{.Outs}}</td><td>{{.Ins}}</td><td>{{.PerDay}}</td><td>{{.Peak}}</td><td>{{.Cost}}</td><td class="r">{{.Ratios}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- range .Panels}}
<section class="panel">
<header><h2>{{.Title}}<small>{{.Note}}</small></h2><div class="legend">
{{- range .Legend}}<span><i class="sw {{.Class}}"></i>{{.Label}}</span>{{end -}}
</div></header>
{{.SVG}}
</section>
{{- end}}
{{- if .Views}}
<h2 class="views">{{.ViewsTitle}}</h2>
<p class="settings">{{.ViewsNote}}</p>
<div class="legend views-legend">
{{- range .ViewsLegend}}<span><i class="sw {{.Class}}"></i>{{.Label}}</span>{{end -}}
</div>
<div class="multiples">
{{- range .Views}}
<section class="panel">
<header><h2>{{.Title}}<small>{{.Note}}</small></h2><span class="scale">{{.Scale}}</span></header>
{{.SVG}}
</section>
{{- end}}
</div>
{{- end}}
<footer>
{{- range .Footnote}}
<p>{{.}}</p>
{{- end}}
</footer>
</main>
</body>
</html>
`
