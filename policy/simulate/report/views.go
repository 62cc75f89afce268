package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// Overlay is another replay of the same trace, drawn over the policy's run
// for comparison: the policy with prediction off, or the HPA reference.
type Overlay struct {
	// Label names the run in legends and tables ("prediction off", "HPA reference").
	Label string
	// Result is the run; its timeline must have the policy run's times.
	Result *simulate.Result
}

// checkOverlays verifies every overlay lines up with the policy's run.
func checkOverlays(r *simulate.Result, ovs []Overlay) error {
	n := len(r.Times)
	for _, o := range ovs {
		if o.Result == nil || len(o.Result.Times) != n || len(o.Result.Desired) != n || len(o.Result.Ready) != n {
			return fmt.Errorf("%w: overlay %q does not have the run's %d samples", ErrMismatch, o.Label, n)
		}
		if n > 0 && (o.Result.Times[0] != r.Times[0] || o.Result.Times[n-1] != r.Times[n-1]) {
			return fmt.Errorf("%w: overlay %q covers another span", ErrMismatch, o.Label)
		}
	}
	return nil
}

// Small multiples: one chart per day (or per week for long traces), each
// on its own vertical scale (see periodPanels).
const (
	smallWidth    = 600.0
	smallHeight   = 190.0
	smallPadLeft  = 40.0
	smallPadRight = padRight
	// maxDailyViews is the longest trace shown day by day; longer ones
	// are shown week by week (29 weeks for 200 days), and beyond
	// maxWeeklyViews weeks several weeks to a view, so a report of years
	// stays a readable (and bounded) page.
	maxDailyViews  = 21
	maxWeeklyViews = 53
	day            = 24 * time.Hour
	week           = 7 * day
)

// period is one small multiple's time range and the samples in it.
type period struct {
	start, end int64 // Unix nanoseconds, [start, end)
	i0, i1     int   // samples [i0, i1)
}

// periodLength picks days, weeks, or a whole number of weeks for a span
// of samples.
func periodLength(times []int64) time.Duration {
	span := time.Duration(times[len(times)-1] - times[0])
	if span <= maxDailyViews*day {
		return day
	}
	k := (span + maxWeeklyViews*week - 1) / (maxWeeklyViews * week)
	return time.Duration(k) * week
}

// periods splits the samples into UTC days, or runs of whole weeks starting
// on a Monday.
func periods(times []int64, length time.Duration) []period {
	origin := int64(0)
	if length >= week {
		origin = int64(4 * day) // 1970-01-05 was a Monday
	}
	l := int64(length)
	floor := func(t int64) int64 {
		k := (t - origin) / l
		if (t-origin)%l < 0 {
			k--
		}
		return origin + k*l
	}
	var out []period
	for i := 0; i < len(times); {
		start := floor(times[i])
		end := start + l
		j := i
		for j < len(times) && times[j] < end {
			j++
		}
		out = append(out, period{start: start, end: end, i0: i, i1: j})
		i = j
	}
	return out
}

// overlayClass is the CSS class of overlay k's lines.
func overlayClass(k int) string { return "ov" + strconv.Itoa(min(k, 2)) }

// capacityTop is the highest instance count any run or the demand reaches
// in samples [i0, i1), or that an action of the policy's made in [from,
// end) reached (an action between a period's last sample and its end
// lands on a size its samples do not show): the top of a capacity chart's
// vertical scale.
func capacityTop(r *simulate.Result, ovs []Overlay, i0, i1 int, from, end int64) int {
	top := 0
	for i := i0; i < i1; i++ {
		top = max(top, int(r.Needed[i]), int(r.Desired[i]), int(r.Ready[i]))
		for _, o := range ovs {
			top = max(top, int(o.Result.Desired[i]))
		}
	}
	for _, e := range r.Events {
		if e.At >= from && e.At < end {
			top = max(top, int(e.To))
		}
	}
	return top
}

// drawCapacity draws samples [i0, i1) of the capacity chart body: the
// deficit, ready area and line, needed, the overlays' desired sizes, the
// policy's desired size, the markers of the actions made in [from, end),
// and the under-provisioned strip under the axis.
func drawCapacity(b []byte, r *simulate.Result, ovs []Overlay, i0, i1 int, from, end int64, xs xScale, ys yScale) []byte {
	times := r.Times[i0:i1]
	n := len(times)
	at := func(i int) int64 { return times[i] }
	need := func(i int) float64 {
		// With every metric missing the simulator reports needed as 0;
		// drawing that would look like demand vanished, so leave a gap.
		for _, col := range r.Observed {
			if !math.IsNaN(col[i0+i]) {
				return float64(r.Needed[i0+i])
			}
		}
		return math.NaN()
	}
	// Scheduled windows shade the plot behind everything else.
	if len(r.Scheduled) == len(r.Times) {
		b = append(b, `<g class="sched">`...)
		b = rugBands(b, n, at, func(i int) bool { return r.Scheduled[i0+i] }, xs, ys.top, ys.bottom-ys.top)
		b = append(b, `</g>`...)
	}
	// Layering does the under-provisioning arithmetic: needed is filled in
	// the warning colour and the opaque ready area painted over it, so only
	// the deficit where needed rises above ready stays visible.
	b = append(b, `<path class="deficit" d="`...)
	b = stepMaxArea(b, r.Needed[i0:i1], times, xs, ys)
	b = append(b, `"/><path class="ready-area" d="`...)
	b = stepPath(b, r.Ready[i0:i1], times, xs, ys, true)
	b = append(b, `"/><path class="ready" d="`...)
	b = stepPath(b, r.Ready[i0:i1], times, xs, ys, false)
	b = append(b, `"/><path class="needed" d="`...)
	b = seriesPath(b, n > 2*int(xs.right-xs.left), n, at, need, 0, xs, ys)
	b = append(b, `"/>`...)
	for k := len(ovs) - 1; k >= 0; k-- {
		b = append(b, `<path class="`...)
		b = append(b, overlayClass(k)...)
		b = append(b, `" d="`...)
		b = stepPath(b, ovs[k].Result.Desired[i0:i1], times, xs, ys, false)
		b = append(b, `"/>`...)
	}
	b = append(b, `<path class="desired" d="`...)
	b = stepPath(b, r.Desired[i0:i1], times, xs, ys, false)
	b = append(b, `"/>`...)
	b = markers(b, r.Events, from, end, xs, ys)
	// A deficit of one instance is a hairline at this scale, so every
	// under-provisioned stretch is also marked on a strip under the axis.
	b = append(b, `<g class="rug">`...)
	under := func(i int) bool {
		if len(r.Under) == len(r.Times) {
			return r.Under[i0+i]
		}
		return r.Ready[i0+i] < r.Needed[i0+i]
	}
	b = rugBands(b, n, at, under, xs, ys.bottom+2, 5)
	return append(b, `</g>`...)
}

// markStrip is the room above a capacity plot for the action strips.
const markStrip = 14.0

// markers marks every scale action of [from, to): a tick in the strip
// above the plot (scale-outs in the upper row, scale-ins in the lower), so
// the density of actions reads at a glance however many there are; and,
// when the actions are sparse enough to tell apart (at most one per
// sparseMarkCols plot columns), a triangle at the size each one reached,
// ▲ above it for a scale-out and ▼ below it for a scale-in. Actions in the
// same plot column share one tick and one triangle (the highest scale-out,
// the lowest scale-in).
func markers(b []byte, events []simulate.Event, from, to int64, xs xScale, ys yScale) []byte {
	const sparseMarkCols = 8
	type mark struct {
		col  int
		x    float64
		size int32
	}
	var ups, downs []mark
	add := func(ms []mark, col int, x float64, size int32, out bool) []mark {
		if k := len(ms) - 1; k >= 0 && ms[k].col == col {
			if out {
				ms[k].size = max(ms[k].size, size)
			} else {
				ms[k].size = min(ms[k].size, size)
			}
			return ms
		}
		return append(ms, mark{col: col, x: x, size: size})
	}
	for _, e := range events {
		if e.At < from || e.At >= to {
			continue
		}
		x := xs.x(e.At)
		col := int(x - xs.left)
		if e.To > e.From {
			ups = add(ups, col, x, e.To, true)
		} else {
			downs = add(downs, col, x, e.To, false)
		}
	}
	strip := func(class string, ms []mark, y float64) {
		if len(ms) == 0 {
			return
		}
		b = append(b, `<g class="`...)
		b = append(b, class...)
		b = append(b, `">`...)
		for _, m := range ms {
			b = rect(b, m.x-0.5, y, 1, 5)
		}
		b = append(b, `</g>`...)
	}
	strip("tk-out", ups, ys.top-markStrip)
	strip("tk-in", downs, ys.top-markStrip+6)
	if cols := int(xs.right - xs.left); (len(ups)+len(downs))*sparseMarkCols > cols {
		return b
	}
	tri := func(class string, ms []mark, dy, tip float64) {
		if len(ms) == 0 {
			return
		}
		b = append(b, `<path class="`...)
		b = append(b, class...)
		b = append(b, `" d="`...)
		for _, m := range ms {
			b = append(b, 'M')
			b = appendCoord(b, m.x)
			b = append(b, ',')
			b = appendCoord(b, ys.y(float64(m.size))+tip)
			b = append(b, 'l', '-', '3', '.', '5', ',')
			b = appendCoord(b, dy)
			b = append(b, "h7z"...)
		}
		b = append(b, `"/>`...)
	}
	tri("mk-out", ups, 6, -8)
	tri("mk-in", downs, -6, 8)
	return b
}

// periodPanels draws the small multiples: the capacity chart of each day
// or week, with the period's own figures in its title.
//
// Each view is scaled to its own range, from 0 to its own peak, and says
// so in its header (Scale): one outlier (a marathon, a news spike, a batch
// burst) would otherwise set a shared scale that flattens every quiet view
// to a line near zero, where its ramps, lags and deficits no longer read.
// A shared scale clipped at a robust quantile was the other choice; it
// keeps heights comparable, but cuts off the outlier's own view, the one an
// SRE opens the report to look at, and an area clipped at the top hides
// whether ready kept up with needed there. Comparing sizes across the
// trace is the Capacity chart's job, which keeps one scale for it all; the
// views stay at 0 at the bottom, so the ready area's height is still the
// instance count and not a difference from some floor.
//
// mixed reports whether the views' scales differ; only then does each
// view get a gauge of its scale's share of the largest (where all are
// the same, a full bar in every view would say nothing).
func periodPanels(p policy.Policy, r *simulate.Result, ovs []Overlay) (name string, views []panel, mixed bool) {
	length := periodLength(r.Times)
	ps := periods(r.Times, length)
	name = "By day"
	switch {
	case length == week:
		name = "By week"
	case length > week:
		name = "By " + strconv.Itoa(int(length/week)) + " weeks"
	}
	out := make([]panel, 0, len(ps))
	scaled := shapeScaled(r)
	scales := make([]yScale, len(ps))
	widest := 0.0
	for k, pd := range ps {
		scales[k] = newYScale(0, float64(capacityTop(r, ovs, pd.i0, pd.i1, pd.start, pd.end)), 4, true, padTop+markStrip, smallHeight-padBottom)
		widest = max(widest, scales[k].hi)
		mixed = mixed || scales[k].hi != scales[0].hi
	}
	for k, pd := range ps {
		xs := xScale{t0: pd.start, t1: pd.end, left: smallPadLeft, right: smallWidth - smallPadRight}
		ys := scales[k]
		ticks := timeTicks(xs, 8)
		body := drawCapacity(nil, r, ovs, pd.i0, pd.i1, pd.start, pd.end, xs, ys)
		if mixed {
			body = scaleGauge(body, ys, widest, xs.right+gaugeGap)
		}
		title := time.Unix(0, pd.start).UTC().Format("Mon 2 Jan 2006")
		switch {
		case length == week:
			title = "Week of " + title
		case length > week:
			title = time.Unix(0, pd.start).UTC().Format("2 Jan 2006") + " – " + time.Unix(0, pd.end-1).UTC().Format("2 Jan 2006")
		}
		note := periodFigures(r, ovs, pd)
		if scaled {
			for _, s := range shapeNotes(p, r, pd.i0, pd.i1) {
				note += " · " + s
			}
		}
		scale := scaleText(ys)
		out = append(out, panel{
			Title: title,
			Note:  note,
			Scale: scale,
			SVG:   chartSVG("capacity, "+title+", "+scale, smallHeight, xs, ys, ticks, body),
		})
	}
	return name, out, mixed
}

// gaugeGap and gaugeWidth place a view's scale gauge in the plot's right
// margin.
const (
	gaugeGap   = 4.0
	gaugeWidth = 4.0
)

// scaleGauge draws, at x beside a view's plot, a bar as tall as the plot
// standing for widest, the largest of the views' scales, filled from the
// bottom to this view's share of it: views on scales of their own still
// compare at a glance (a quiet day's fill is short, the marathon's full)
// without one flattening the others.
func scaleGauge(b []byte, ys yScale, widest, x float64) []byte {
	b = append(b, `<g class="gauge-bg">`...)
	b = rect(b, x, ys.top, gaugeWidth, ys.bottom-ys.top)
	b = append(b, `</g><g class="gauge">`...)
	h := (ys.bottom - ys.top) * ys.hi / widest
	b = rect(b, x, ys.bottom-h, gaugeWidth, h)
	return append(b, `</g>`...)
}

// scaleText states a view's vertical scale as its axis labels it: "0–30
// instances".
func scaleText(ys yScale) string {
	return formatTick(ys.lo, ys.step) + "–" + formatTick(ys.hi, ys.step) + " instances"
}

// periodFigures summarizes one period: the policy's actions and
// under-provisioned samples, and each overlay's.
func periodFigures(r *simulate.Result, ovs []Overlay, pd period) string {
	outs, ins := countActions(r.Events, pd.start, pd.end)
	s := actionsText(outs+ins) + " (" + strconv.Itoa(outs) + " out, " + strconv.Itoa(ins) + " in) · " +
		strconv.Itoa(countUnder(r, pd)) + " under-provisioned"
	for _, o := range ovs {
		oo, oi := countActions(o.Result.Events, pd.start, pd.end)
		s += " · " + o.Label + ": " + actionsText(oo+oi) + ", " + strconv.Itoa(countUnder(o.Result, pd)) + " under"
	}
	return s
}

// actionsText counts actions in words: "1 action", "12 actions" (a quiet
// first week read "1 actions").
func actionsText(n int) string {
	if n == 1 {
		return "1 action"
	}
	return strconv.Itoa(n) + " actions"
}

// countUnder counts the period's samples the run's summary counts as
// under-provisioned (0 when the run does not mark them).
func countUnder(r *simulate.Result, pd period) int {
	n := 0
	if len(r.Under) == len(r.Times) {
		for i := pd.i0; i < pd.i1; i++ {
			if r.Under[i] {
				n++
			}
		}
	}
	return n
}

func countActions(events []simulate.Event, from, to int64) (outs, ins int) {
	for _, e := range events {
		if e.At < from || e.At >= to {
			continue
		}
		if e.To > e.From {
			outs++
		} else {
			ins++
		}
	}
	return outs, ins
}

// actionsPanel charts the scale actions of each UTC day: the policy's as
// bars (scale-outs stacked on scale-ins), each overlay's total as a step
// line. The note quotes the summary's average, so page and summary agree.
// It shares the other charts' time axis xs, so a day lines up with the
// same day above and below it, and a day the trace covers in part (its
// first and last) gets a bar as wide as the part it covers: a last day
// of 40 minutes with 5 actions is a sliver, not a full day that reads as
// the policy going quiet.
func actionsPanel(r *simulate.Result, s simulate.Summary, ovs []Overlay, xs xScale, ticks []timeTick) panel {
	ps := periods(r.Times, day)
	from := func(pd period) int64 { return max(pd.start, xs.t0) }
	to := func(pd period) int64 { return min(pd.end, xs.t1) }
	type counts struct{ outs, ins int }
	policyDays := make([]counts, len(ps))
	ovDays := make([][]int, len(ovs))
	top := 0
	for k, pd := range ps {
		o, i := countActions(r.Events, pd.start, pd.end)
		policyDays[k] = counts{o, i}
		top = max(top, o+i)
	}
	for j, ov := range ovs {
		ovDays[j] = make([]int, len(ps))
		for k, pd := range ps {
			o, i := countActions(ov.Result.Events, pd.start, pd.end)
			ovDays[j][k] = o + i
			top = max(top, o+i)
		}
	}
	const height = 200.0
	ys := newYScale(0, float64(top), 4, true, padTop, height-padBottom)
	var b []byte
	var outs, ins []byte
	for k, pd := range ps {
		x0, x1 := xs.x(from(pd)), xs.x(to(pd))
		if w := x1 - x0; w >= 3 {
			gap := math.Min(2, w/4)
			x0, x1 = x0+gap/2, x1-gap/2
		}
		c := policyDays[k]
		if c.ins > 0 {
			ins = rect(ins, x0, ys.y(float64(c.ins)), x1-x0, ys.bottom-ys.y(float64(c.ins)))
		}
		if c.outs > 0 {
			yTop := ys.y(float64(c.ins + c.outs))
			outs = rect(outs, x0, yTop, x1-x0, ys.y(float64(c.ins))-yTop)
		}
	}
	b = append(b, `<g class="bar-in">`...)
	b = append(b, ins...)
	b = append(b, `</g><g class="bar-out">`...)
	b = append(b, outs...)
	b = append(b, `</g>`...)
	for j := len(ovs) - 1; j >= 0; j-- {
		vals := make([]int32, len(ps)+1)
		times := make([]int64, len(ps)+1)
		for k, pd := range ps {
			vals[k], times[k] = int32(ovDays[j][k]), from(pd)
		}
		vals[len(ps)], times[len(ps)] = vals[len(ps)-1], to(ps[len(ps)-1])
		b = append(b, `<path class="`...)
		b = append(b, overlayClass(j)...)
		b = append(b, `" d="`...)
		b = stepPath(b, vals, times, xs, ys, false)
		b = append(b, `"/>`...)
	}
	legend := []legendItem{{"bar-out", "scale-outs"}, {"bar-in", "scale-ins"}}
	for j, o := range ovs {
		legend = append(legend, legendItem{overlayClass(j), o.Label + " (all actions)"})
	}
	return panel{
		Title:  "Actions per day",
		Note:   "scale actions in each UTC day · " + strconv.FormatFloat(s.ActionsPerDay, 'f', 1, 64) + " a day over the trace",
		Legend: legend,
		SVG:    chartSVG("actions per day chart", height, xs, ys, ticks, b),
	}
}

func rect(b []byte, x, y, w, h float64) []byte {
	b = append(b, `<rect x="`...)
	b = appendCoord(b, x)
	b = append(b, `" y="`...)
	b = appendCoord(b, y)
	b = append(b, `" width="`...)
	b = appendCoord(b, math.Max(w, 0.6))
	b = append(b, `" height="`...)
	b = appendCoord(b, h)
	return append(b, `"/>`...)
}

// skillPanel charts each metric's forecast skill as the engine scored it
// (1 − the forecast's mean squared error over persistence's, clipped to
// [−1, 1]), with the stretches where the forecast was trusted to act
// marked under the axis.
func skillPanel(p policy.Policy, r *simulate.Result, xs xScale, ticks []timeTick) panel {
	const height = 200.0
	ys := yScale{lo: -1, hi: 1, step: 0.5, top: padTop, bottom: height - padBottom}
	n := len(r.Times)
	at := func(i int) int64 { return r.Times[i] }
	var b []byte
	b = append(b, `<path class="ref" d="`...)
	b = hLine(b, xs, ys.y(0))
	b = append(b, `"/>`...)
	var legend []legendItem
	for j, m := range p.Metrics {
		cls := "sk" + strconv.Itoa(min(j, 2))
		sk := r.Skill[j]
		val := func(i int) float64 {
			v := sk[i]
			if math.IsNaN(v) {
				return v
			}
			return math.Max(-1, math.Min(1, v))
		}
		b = append(b, `<path class="`...)
		b = append(b, cls...)
		b = append(b, `" d="`...)
		b = seriesPath(b, isDense(n), n, at, val, 0, xs, ys)
		b = append(b, `"/>`...)
		legend = append(legend, legendItem{cls, m.Name + " skill"})
	}
	b = append(b, `<g class="trust">`...)
	for j := range p.Metrics {
		tr := r.Trusted[j]
		b = rugBands(b, n, at, func(i int) bool { return tr[i] }, xs, ys.bottom+2+float64(j)*6, 5)
	}
	b = append(b, `</g>`...)
	legend = append(legend, legendItem{"trust", "forecast trusted (acts)"})
	return panel{
		Title:  "Forecast skill",
		Note:   "1 − forecast error ÷ persistence error at the lead, as each decision scored it; above 0 beats \"no change\"",
		Legend: legend,
		SVG:    chartSVG("forecast skill chart", height, xs, ys, ticks, b),
	}
}

// shapeScaled reports whether some metric's season scaled with the level
// by more than the reasons' policy.ShapeShown in the run: only then does
// the report chart the factor, since within it no decision names it and
// a line hugging 1 would say nothing.
func shapeScaled(r *simulate.Result) bool {
	return r.SeasonScale != nil && slices.ContainsFunc(r.SeasonScale, func(col []float64) bool {
		return slices.ContainsFunc(col, policy.ShapeMoved)
	})
}

// shapeRange is the lowest and highest factor metric j's season was
// scaled by in samples [i0, i1), and whether any lies beyond
// policy.ShapeShown (NaN, NaN, false when it never scaled there).
func shapeRange(r *simulate.Result, j, i0, i1 int) (lo, hi float64, moved bool) {
	lo, hi = math.NaN(), math.NaN()
	for _, k := range r.SeasonScale[j][i0:i1] {
		if !(k > 0) {
			continue
		}
		if math.IsNaN(lo) {
			lo, hi = k, k
		}
		lo, hi = math.Min(lo, k), math.Max(hi, k)
		moved = moved || policy.ShapeMoved(k)
	}
	return lo, hi, moved
}

// factorText renders a season's factor, or a range of them, as the
// decisions' reasons do: "×1.84", "×0.90–1.12" (a word joiner after the
// dash, so a wrapping title does not split the range).
func factorText(lo, hi float64) string {
	a, b := strconv.FormatFloat(lo, 'f', 2, 64), strconv.FormatFloat(hi, 'f', 2, 64)
	if a == b {
		return "×" + a
	}
	return "×" + a + "–\u2060" + b
}

// shapeNotes names, for each metric whose season scaled beyond
// policy.ShapeShown in samples [i0, i1), the range of its factors there:
// "shape ×0.84–0.90" (with the metric's name when there are several).
func shapeNotes(p policy.Policy, r *simulate.Result, i0, i1 int) []string {
	var out []string
	for j, m := range p.Metrics {
		lo, hi, moved := shapeRange(r, j, i0, i1)
		if !moved {
			continue
		}
		s := "shape\u00a0" + factorText(lo, hi)
		if len(p.Metrics) > 1 {
			s = m.Name + " " + s
		}
		out = append(out, s)
	}
	return out
}

// shapePanel charts the factor each metric's forecast multiplied its
// seasonal shape by where the season scales with the level
// (simulate.Result.SeasonScale): after a launch it shows when the
// forecaster scaled its daily shape and how far. The band around 1 is
// the ±policy.ShapeShown within which the decisions' reasons do not name
// it; the strips under the axis mark where they do. A gap is where the
// season was additive or there was none; a metric whose season never
// scaled gets no line.
func shapePanel(p policy.Policy, r *simulate.Result, xs xScale, ticks []timeTick) panel {
	const height = 170.0
	n := len(r.Times)
	lo, hi := 1-policy.ShapeShown, 1+policy.ShapeShown
	for j := range r.SeasonScale {
		if l, h, _ := shapeRange(r, j, 0, n); !math.IsNaN(l) {
			lo, hi = min(lo, l), max(hi, h)
		}
	}
	ys := newYScale(lo, hi, 4, false, padTop, height-padBottom)
	at := func(i int) int64 { return r.Times[i] }
	var b []byte
	b = append(b, `<path class="quiet" d="`...)
	b = hLine(b, xs, ys.y(1+policy.ShapeShown))
	b = append(b, 'V')
	b = appendCoord(b, ys.y(1-policy.ShapeShown))
	b = append(b, 'H')
	b = appendCoord(b, xs.left)
	b = append(b, `Z"/><path class="ref" d="`...)
	b = hLine(b, xs, ys.y(1))
	b = append(b, `"/>`...)
	var legend []legendItem
	var ranges []string
	for j, m := range p.Metrics {
		cls := "sk" + strconv.Itoa(min(j, 2))
		col := r.SeasonScale[j]
		if !slices.ContainsFunc(col, func(k float64) bool { return k > 0 }) {
			continue
		}
		b = append(b, `<path class="`...)
		b = append(b, cls...)
		b = append(b, `" d="`...)
		b = seriesPath(b, isDense(n), n, at, func(i int) float64 {
			if k := col[i]; k > 0 {
				return k
			}
			return math.NaN()
		}, 0, xs, ys)
		b = append(b, `"/>`...)
		legend = append(legend, legendItem{cls, m.Name + " factor"})
		if lo, hi, moved := shapeRange(r, j, 0, n); moved {
			ranges = append(ranges, m.Name+"\u00a0"+factorText(lo, hi))
		}
	}
	b = append(b, `<g class="named">`...)
	for j := range p.Metrics {
		col := r.SeasonScale[j]
		b = rugBands(b, n, at, func(i int) bool { return policy.ShapeMoved(col[i]) }, xs, ys.bottom+2+float64(j)*6, 5)
	}
	b = append(b, `</g>`...)
	pct := strconv.FormatFloat(100*policy.ShapeShown, 'f', -1, 64) + " %"
	legend = append(legend, legendItem{"quiet", "within ±" + pct + " (reasons do not name it)"},
		legendItem{"named", "named in the reasons, e.g. (daily shape ×1.84)"})
	return panel{
		Title:  "Seasonal shape's factor",
		Note:   "× the season's shape as the model was built (1 = unchanged, 2 = a swing twice as large) · " + strings.Join(ranges, " · "),
		Legend: legend,
		SVG:    chartSVG("seasonal shape factor chart", height, xs, ys, ticks, b),
	}
}

// comparisonRow is one run's line of the comparison table.
type comparisonRow struct {
	Label                                           string
	Under, UnderPct, Hours, Outs, Ins, PerDay, Peak string
	// Cost is the run's cost with its currency; "-" when not priced.
	Cost string
	// Ratios are the policy's figures over this run's; empty for the policy's own row.
	Ratios string
}

func comparisonRows(s simulate.Summary, ovs []Overlay) []comparisonRow {
	row := func(label string, x simulate.Summary) comparisonRow {
		r := comparisonRow{
			Label: label, Under: groupInt(x.UnderProvisionedSamples),
			UnderPct: strconv.FormatFloat(100*x.UnderProvisionedFraction, 'f', 2, 64) + " %",
			Hours:    groupFloat(x.InstanceHours, 1), Outs: groupInt(x.ScaleOuts), Ins: groupInt(x.ScaleIns),
			PerDay: strconv.FormatFloat(x.ActionsPerDay, 'f', 1, 64), Peak: groupInt(x.PeakSize), Cost: "-",
		}
		if x.Priced() {
			r.Cost = groupFloat(x.Cost, 2) + " " + x.Currency
		}
		return r
	}
	rows := []comparisonRow{row("policy", s)}
	for _, o := range ovs {
		cr := row(o.Label, o.Result.Summary)
		q := simulate.Compare(s, o.Result.Summary)
		cr.Ratios = "under-provisioned " + q.UnderProvisioned.String() + " · instance-hours " + q.InstanceHours.String() +
			" · actions " + q.Actions.String()
		if note := q.CostNote(); note != "" {
			cr.Ratios += " · " + note
		}
		rows = append(rows, cr)
	}
	return rows
}

// unitNote is how a metric's values read: the unit the user named, or
// what the metric type alone says. A request rate or backlog keeps the
// trace's own unit: a count recorded per 5 minutes is not requests/s.
func unitNote(m policy.Metric, units map[string]string) string {
	if u := units[m.Name]; u != "" {
		return u
	}
	if m.Type == policy.MetricCPU {
		return "%"
	}
	return "the trace's unit"
}
