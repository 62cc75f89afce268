package report

import (
	"html"
	"math"
	"strconv"
	"time"
)

// Chart geometry, in SVG user units. The SVG scales to the page width, so
// these only fix proportions; the plot width also sets the downsampling
// resolution (one column per unit).
const (
	svgWidth  = 1200.0
	padLeft   = 56.0
	padRight  = 14.0
	padTop    = 10.0
	padBottom = 30.0
	plotLeft  = padLeft
	plotRight = svgWidth - padRight
)

// xScale maps Unix nanoseconds onto the shared horizontal axis.
type xScale struct {
	t0, t1      int64
	left, right float64
}

func newXScale(times []int64) xScale {
	t0, t1 := times[0], times[len(times)-1]
	if t1 <= t0 { // a single sample still needs a non-empty axis
		t1 = t0 + int64(time.Minute)
	}
	return xScale{t0: t0, t1: t1, left: plotLeft, right: plotRight}
}

func (s xScale) x(t int64) float64 {
	return s.left + float64(t-s.t0)/float64(s.t1-s.t0)*(s.right-s.left)
}

// yScale maps values onto a chart's vertical axis (SVG y grows downwards).
type yScale struct {
	lo, hi, step float64
	top, bottom  float64
}

func (s yScale) y(v float64) float64 {
	return s.bottom - (v-s.lo)/(s.hi-s.lo)*(s.bottom-s.top)
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten: tick values
// people can read and interpolate between without effort.
func niceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	default:
		return 10 * p
	}
}

// newYScale picks a domain covering [lo, hi] with about ticks nice steps.
// A little headroom is kept above the data so a peak's stroke is never
// clipped by the top of the plot. integer forces whole-number steps for
// instance counts.
func newYScale(lo, hi float64, ticks int, integer bool, top, bottom float64) yScale {
	if math.IsInf(lo, 1) || math.IsNaN(lo) { // no data at all
		lo, hi = 0, 1
	}
	if hi <= lo {
		if hi == 0 {
			hi = 1
		} else {
			d := math.Abs(hi) * 0.1
			lo, hi = lo-d, hi+d
		}
	}
	step := niceStep((hi - lo) / float64(ticks))
	if integer {
		step = math.Max(1, math.Round(step))
	}
	dlo := math.Floor(lo/step) * step
	dhi := math.Ceil(hi/step) * step
	if dhi-hi < 0.02*(dhi-dlo) {
		dhi += step
	}
	return yScale{lo: dlo, hi: dhi, step: step, top: top, bottom: bottom}
}

// ticks lists the tick values of the domain, computed by index so that
// float accumulation never produces 0.30000000000000004.
func (s yScale) ticks() []float64 {
	n := int(math.Round((s.hi - s.lo) / s.step))
	out := make([]float64, 0, n+1)
	for i := 0; i <= n; i++ {
		out = append(out, s.lo+float64(i)*s.step)
	}
	return out
}

// formatTick renders a tick value with just enough decimals for its step,
// and with k/M suffixes so large request rates fit in the left margin.
func formatTick(v, step float64) string {
	if v == 0 {
		return "0" // the baseline reads "0" on every scale, not "0k"
	}
	suffix := ""
	switch a := math.Max(math.Abs(v), step); {
	case a >= 1e7:
		v, step, suffix = v/1e6, step/1e6, "M"
	case a >= 1e4:
		v, step, suffix = v/1e3, step/1e3, "k"
	}
	dec := 0 // as many decimals as the step has (2.5 needs one)
	for ; dec < 6; dec++ {
		if f := step * math.Pow10(dec); math.Abs(f-math.Round(f)) < 1e-6*f {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', dec, 64) + suffix
}

// timeSteps are the tick spacings the time axis may use, all of which land
// on round wall-clock values.
var timeSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
	91 * 24 * time.Hour, 182 * 24 * time.Hour, 364 * 24 * time.Hour,
}

// timeTick is one labelled position on the time axis.
type timeTick struct {
	t     int64
	label string
	date  bool // a day boundary: drawn a little stronger
}

// timeTicks places at most maxTicks ticks on round UTC times. Multi-day
// spans are labelled with dates; shorter ones with hh:mm, and a tick that
// falls on midnight shows the date so the day change is visible.
func timeTicks(xs xScale, maxTicks int) []timeTick {
	span := time.Duration(xs.t1 - xs.t0)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= time.Duration(maxTicks) {
			step = s
			break
		}
	}
	st := int64(step)
	first := xs.t0 / st * st
	if first < xs.t0 {
		first += st
	}
	var out []timeTick
	for t := first; t <= xs.t1; t += st {
		tm := time.Unix(0, t).UTC()
		midnight := tm.Hour() == 0 && tm.Minute() == 0 && tm.Second() == 0
		var label string
		switch {
		case step >= 24*time.Hour || midnight:
			label = tm.Format("Jan 2")
		case step < time.Minute:
			label = tm.Format("15:04:05")
		default:
			label = tm.Format("15:04")
		}
		out = append(out, timeTick{t: t, label: label, date: midnight})
	}
	return out
}

// appendCoord writes a coordinate rounded to 0.1 unit: finer precision is
// invisible at any zoom a report is read at and only grows the file.
func appendCoord(b []byte, v float64) []byte {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// hLine draws a horizontal line at y across the plot, as path data: a
// reference value (a cpu target, skill 0, a factor of 1).
func hLine(b []byte, xs xScale, y float64) []byte {
	b = append(b, 'M')
	b = appendCoord(b, xs.left)
	b = append(b, ',')
	b = appendCoord(b, y)
	b = append(b, 'H')
	return appendCoord(b, xs.right)
}

// linePath draws a polyline through n samples, downsampled per plot column:
// each column keeps its first, lowest, highest and last sample in time
// order (the M4 method), so peaks and troughs survive exactly while a long
// trace costs at most four points per column. A NaN lifts the pen, leaving
// a visible gap for missing data. shift moves every sample right in time
// (forecasts are drawn at the time they are about); samples beyond the axis
// are dropped.
func linePath(b []byte, n int, at func(int) int64, val func(int) float64, shift int64, xs xScale, ys yScale) []byte {
	const none = -1
	col := math.MinInt
	var idx [4]int // first, min, max, last of the current column
	pen := false   // whether the next point continues a line
	flush := func() {
		if idx[0] == none {
			return
		}
		// Emit the (up to) four kept samples in time order, once each.
		pts := idx
		for i := 1; i < 4; i++ {
			for j := i; j > 0 && pts[j] < pts[j-1]; j-- {
				pts[j], pts[j-1] = pts[j-1], pts[j]
			}
		}
		prev := none
		for _, k := range pts {
			if k == prev {
				continue
			}
			prev = k
			if pen {
				b = append(b, 'L')
			} else {
				b = append(b, 'M')
				pen = true
			}
			b = appendCoord(b, xs.x(at(k)+shift))
			b = append(b, ',')
			b = appendCoord(b, ys.y(val(k)))
		}
		idx = [4]int{none, none, none, none}
	}
	idx = [4]int{none, none, none, none}
	for i := 0; i < n; i++ {
		t := at(i) + shift
		if t > xs.t1 {
			break
		}
		if t < xs.t0 {
			continue
		}
		v := val(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			flush()
			pen = false
			continue
		}
		c := int(xs.x(t) - xs.left)
		if c != col {
			flush()
			col = c
		}
		if idx[0] == none {
			idx = [4]int{i, i, i, i}
			continue
		}
		if v < val(idx[1]) {
			idx[1] = i
		}
		if v > val(idx[2]) {
			idx[2] = i
		}
		idx[3] = i
	}
	flush()
	return b
}

// stepPath draws an integer series as a step line (a size holds until the
// next change), downsampled per plot column: a column with several changes
// becomes one vertical stroke spanning its lowest and highest size and
// ending at its last. area closes the path down to the baseline for a fill.
func stepPath(b []byte, vals []int32, times []int64, xs xScale, ys yScale, area bool) []byte {
	if len(vals) == 0 {
		return b
	}
	cur := vals[0]
	b = append(b, 'M')
	b = appendCoord(b, xs.x(times[0]))
	b = append(b, ',')
	b = appendCoord(b, ys.y(float64(cur)))
	col := math.MinInt
	var lo, hi, last int32
	pending := false
	flush := func() {
		if !pending {
			return
		}
		for _, v := range [...]int32{lo, hi, last} {
			if v != cur {
				b = append(b, 'V')
				b = appendCoord(b, ys.y(float64(v)))
				cur = v
			}
		}
		pending = false
	}
	for i := 1; i < len(vals); i++ {
		v := vals[i]
		x := xs.x(times[i])
		c := int(x - xs.left)
		if c != col {
			flush()
			col = c
		}
		if !pending {
			if v == cur {
				continue
			}
			b = append(b, 'H')
			b = appendCoord(b, x)
			lo, hi, last, pending = v, v, v, true
			continue
		}
		lo, hi, last = min(lo, v), max(hi, v), v
	}
	flush()
	b = append(b, 'H')
	b = appendCoord(b, xs.x(times[len(times)-1]))
	if area {
		b = append(b, 'V')
		b = appendCoord(b, ys.bottom)
		b = append(b, 'H')
		b = appendCoord(b, xs.x(times[0]))
		b = append(b, 'Z')
	}
	return b
}

// svgText escapes text for SVG inside HTML. Charts are assembled as strings
// (html/template cannot template SVG path data efficiently), so every piece
// of text that reaches them goes through here.
func svgText(s string) string { return html.EscapeString(s) }

// column is one plot column's worth of samples of a dense series.
type column struct {
	x       float64 // the column's centre
	lo, hi  float64
	sum     float64
	samples int
}

// columns buckets a series into plot columns for dense drawing, splitting
// it into segments wherever a NaN marks missing data. shift and the axis
// clipping work as in linePath.
func columns(n int, at func(int) int64, val func(int) float64, shift int64, xs xScale) [][]column {
	var segs [][]column
	var seg []column
	last := int(xs.right-xs.left) - 1
	for i := 0; i < n; i++ {
		t := at(i) + shift
		if t > xs.t1 {
			break
		}
		if t < xs.t0 {
			continue
		}
		v := val(i)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(seg) > 0 {
				segs, seg = append(segs, seg), nil
			}
			continue
		}
		c := min(int(xs.x(t)-xs.left), last)
		x := xs.left + float64(c) + 0.5
		if k := len(seg) - 1; k >= 0 && seg[k].x == x {
			col := &seg[k]
			col.lo, col.hi = math.Min(col.lo, v), math.Max(col.hi, v)
			col.sum += v
			col.samples++
			continue
		}
		seg = append(seg, column{x: x, lo: v, hi: v, sum: v, samples: 1})
	}
	if len(seg) > 0 {
		segs = append(segs, seg)
	}
	return segs
}

// bandPath outlines the range each column's samples span: along the highs
// and back along the lows. It is how a dense series keeps its peaks and
// troughs visible without the unreadable zigzag a full-resolution line
// becomes at ten samples per pixel.
func bandPath(b []byte, segs [][]column, ys yScale) []byte {
	for _, seg := range segs {
		for k, c := range seg {
			if k == 0 {
				b = append(b, 'M')
			} else {
				b = append(b, 'L')
			}
			b = appendCoord(b, c.x)
			b = append(b, ',')
			b = appendCoord(b, ys.y(c.hi))
		}
		for k := len(seg) - 1; k >= 0; k-- {
			b = append(b, 'L')
			b = appendCoord(b, seg[k].x)
			b = append(b, ',')
			b = appendCoord(b, ys.y(seg[k].lo))
		}
		b = append(b, 'Z')
	}
	return b
}

// meanPath draws a dense series' trend through each column's mean.
func meanPath(b []byte, segs [][]column, ys yScale) []byte {
	for _, seg := range segs {
		for k, c := range seg {
			if k == 0 {
				b = append(b, 'M')
			} else {
				b = append(b, 'L')
			}
			b = appendCoord(b, c.x)
			b = append(b, ',')
			b = appendCoord(b, ys.y(c.sum/float64(c.samples)))
		}
	}
	return b
}

// stepMaxArea fills from the baseline up to an integer series drawn as a
// step line at each column's highest value. Drawn under an opaque ready
// area, only the part of needed that rises above ready stays visible: the
// under-provisioned deficit, at its true depth.
func stepMaxArea(b []byte, vals []int32, times []int64, xs xScale, ys yScale) []byte {
	if len(vals) == 0 {
		return b
	}
	b = append(b, 'M')
	b = appendCoord(b, xs.x(times[0]))
	b = append(b, ',')
	b = appendCoord(b, ys.bottom)
	col, colX := math.MinInt, 0.0
	cur, peak := int32(-1), int32(0) // -1: the path still sits on the baseline
	flush := func() {
		if col != math.MinInt && peak != cur {
			b = append(b, 'H')
			b = appendCoord(b, colX)
			b = append(b, 'V')
			b = appendCoord(b, ys.y(float64(peak)))
			cur = peak
		}
	}
	for i, v := range vals {
		x := xs.x(times[i])
		if c := int(x - xs.left); c != col {
			flush()
			col, colX, peak = c, x, v
			continue
		}
		peak = max(peak, v)
	}
	flush()
	b = append(b, 'H')
	b = appendCoord(b, xs.x(times[len(times)-1]))
	b = append(b, 'V')
	b = appendCoord(b, ys.bottom)
	return append(b, 'Z')
}
