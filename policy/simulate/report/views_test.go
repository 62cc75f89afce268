package report

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy/simulate"
)

func TestPeriods(t *testing.T) {
	mon := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC) // a Monday
	at := func(d time.Duration) int64 { return mon.Add(d).UnixNano() }
	times := []int64{at(-time.Hour), at(0), at(23 * time.Hour), at(24 * time.Hour), at(9 * 24 * time.Hour)}
	days := periods(times, day)
	want := []period{
		{at(-day), at(0), 0, 1}, {at(0), at(day), 1, 3}, {at(day), at(2 * day), 3, 4}, {at(9 * day), at(10 * day), 4, 5},
	}
	if len(days) != len(want) {
		t.Fatalf("days %+v, want %+v", days, want)
	}
	for i := range want {
		if days[i] != want[i] {
			t.Errorf("day %d: %+v, want %+v", i, days[i], want[i])
		}
	}
	weeks := periods(times, week)
	wantW := []period{{at(-week), at(0), 0, 1}, {at(0), at(week), 1, 4}, {at(week), at(2 * week), 4, 5}}
	if len(weeks) != len(wantW) {
		t.Fatalf("weeks %+v, want %+v", weeks, wantW)
	}
	for i := range wantW {
		if weeks[i] != wantW[i] {
			t.Errorf("week %d: %+v, want %+v", i, weeks[i], wantW[i])
		}
	}
}

func TestPeriodLength(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC).UnixNano()
	tests := []struct {
		span time.Duration
		want time.Duration
	}{
		{0, day}, {2 * day, day}, {21 * day, day}, {21*day + time.Minute, week}, {200 * day, week},
		{53 * week, week}, {53*week + time.Minute, 2 * week}, {3 * 365 * day, 3 * week},
	}
	for _, tt := range tests {
		if got := periodLength([]int64{t0, t0 + int64(tt.span)}); got != tt.want {
			t.Errorf("span %v: period %v, want %v", tt.span, got, tt.want)
		}
	}
}

// TestViewsPerDayOrWeek: two days read day by day, 30 days week by week,
// each view titled with its period and its own figures.
func TestViewsPerDayOrWeek(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		heading string
		titles  []string
	}{
		{"two days", 2 * 1440, "By day", []string{"Mon 3 Mar 2025", "Tue 4 Mar 2025"}},
		{"thirty days", 30 * 1440, "By week", []string{"Week of Mon 3 Mar 2025", "Week of Mon 10 Mar 2025",
			"Week of Mon 17 Mar 2025", "Week of Mon 24 Mar 2025", "Week of Mon 31 Mar 2025"}},
		{"two years", 2 * 365 * 1440, "By 2 weeks", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Long spans are sampled every 30 minutes to keep the test fast.
			stretch := max(1, tt.n/(60*1440))
			if stretch > 1 {
				stretch = 30
			}
			p, r := synthetic(tt.n/stretch, false, 0)
			t0 := r.Times[0]
			for i := range r.Times {
				r.Times[i] = t0 + (r.Times[i]-t0)*int64(stretch)
			}
			for k := range r.Events {
				r.Events[k].At = t0 + (r.Events[k].At-t0)*int64(stretch)
			}
			doc := renderHTML(t, HTMLOptions{}, p, r)
			checkWellFormed(t, doc)
			if !strings.Contains(doc, `<h2 class="views">`+tt.heading+`</h2>`) {
				t.Errorf("no %q heading", tt.heading)
			}
			views := regexp.MustCompile(`<section class="panel">\s*<header><h2>([^<]*)<small>(\d+) actions? \((\d+) out, (\d+) in\) · (\d+) under-provisioned</small>`).
				FindAllStringSubmatch(doc, -1)
			if tt.titles == nil { // too many to list: check the count and the first
				weeks := (tt.n/1440 + 13) / 14 // two-week views
				if len(views) != weeks || views[0][1] != "3 Mar 2025 – 16 Mar 2025" {
					t.Fatalf("%d views, the first %q; want %d from 3 Mar 2025 – 16 Mar 2025", len(views), views[0][1], weeks)
				}
				tt.titles = make([]string, len(views))
				for i := range views {
					tt.titles[i] = views[i][1]
				}
			}
			if len(views) != len(tt.titles) {
				t.Fatalf("%d views, want %d", len(views), len(tt.titles))
			}
			total, under := 0, 0
			for i, v := range views {
				if v[1] != tt.titles[i] {
					t.Errorf("view %d titled %q, want %q", i, v[1], tt.titles[i])
				}
				total += atoi(t, v[2])
				under += atoi(t, v[5])
			}
			if total != len(r.Events) {
				t.Errorf("views count %d actions, the run made %d", total, len(r.Events))
			}
			wantUnder := 0
			for _, u := range r.Under {
				if u {
					wantUnder++
				}
			}
			if under != wantUnder {
				t.Errorf("views count %d under-provisioned samples, the run has %d", under, wantUnder)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestMarkers: every action ticks its strip; triangles mark them while
// they are sparse, and give way to the ticks alone when they are not.
func TestMarkers(t *testing.T) {
	xs := xScale{t0: 0, t1: 1000, left: 0, right: 1000}
	ys := yScale{lo: 0, hi: 10, top: 20, bottom: 120}
	sparse := []simulate.Event{{At: 100, From: 2, To: 4}, {At: 300, From: 4, To: 6}, {At: 600, From: 6, To: 3}, {At: 2000, From: 3, To: 9}}
	got := string(markers(nil, sparse, 0, 1000, xs, ys))
	// The event at 2000 is outside [0, 1000).
	if n := strings.Count(got, `<g class="tk-out"><rect`); n != 1 || strings.Count(got, "<rect") != 3 {
		t.Errorf("ticks: %s", got)
	}
	out := regexp.MustCompile(`<path class="mk-out" d="([^"]*)"`).FindStringSubmatch(got)
	in := regexp.MustCompile(`<path class="mk-in" d="([^"]*)"`).FindStringSubmatch(got)
	if out == nil || in == nil || strings.Count(out[1], "M") != 2 || strings.Count(in[1], "M") != 1 {
		t.Fatalf("triangles: %s", got)
	}
	// A scale-out's ▲ sits above the size it reached, a scale-in's ▼ below.
	if !strings.HasPrefix(out[1], "M100,72l-3.5,6h7zM300,52l-3.5,6h7z") || !strings.HasPrefix(in[1], "M600,98l-3.5,-6h7z") {
		t.Errorf("triangle placement: out %s in %s", out[1], in[1])
	}

	var dense []simulate.Event
	for i := range 500 {
		dense = append(dense, simulate.Event{At: int64(i * 2), From: 2, To: int32(3 + i%2)})
	}
	got = string(markers(nil, dense, 0, 1000, xs, ys))
	if strings.Contains(got, "mk-out") || !strings.Contains(got, "tk-out") {
		t.Errorf("500 actions in 1000 columns should be ticks only: %.200s", got)
	}
	// Two actions in one column share a tick.
	got = string(markers(nil, []simulate.Event{{At: 500, From: 1, To: 2}, {At: 500, From: 2, To: 5}}, 0, 1000, xs, ys))
	if strings.Count(got, "<rect") != 1 || !strings.Contains(got, "M500,62") {
		t.Errorf("same column: %s", got)
	}
}

// TestOverlaysAndComparison: the prediction-off and reference runs are
// drawn over every capacity chart and compared in the table.
func TestOverlaysAndComparison(t *testing.T) {
	p, r := synthetic(2*1440, true, 0)
	_, off := synthetic(2*1440, false, 3)
	_, ref := synthetic(2*1440, false, 5)
	off.Summary.UnderProvisionedSamples, ref.Summary.UnderProvisionedSamples = 642, 107
	opts := HTMLOptions{Overlays: []Overlay{{"prediction off", off}, {"HPA reference", ref}}}
	doc := renderHTML(t, opts, p, r)
	checkWellFormed(t, doc)
	// The overview capacity chart, two day views, and the actions chart's lines.
	for _, cls := range []string{"ov0", "ov1"} {
		if got := strings.Count(doc, `<path class="`+cls+`" d="M`); got != 4 {
			t.Errorf("%d %s lines, want 4", got, cls)
		}
	}
	// Each view compares the day's figures of every run.
	offOuts, offIns := countActions(off.Events, r.Times[0], r.Times[0]+int64(day))
	refOuts, refIns := countActions(ref.Events, r.Times[0], r.Times[0]+int64(day))
	firstDay := period{start: r.Times[0], end: r.Times[0] + int64(day), i0: 0, i1: 1440}
	wantNote := fmt.Sprintf("prediction off: %d actions, %d under · HPA reference: %d actions, %d under",
		offOuts+offIns, countUnder(off, firstDay), refOuts+refIns, countUnder(ref, firstDay))
	if !strings.Contains(doc, wantNote) {
		t.Errorf("the first day's view lacks %q", wantNote)
	}
	for _, want := range []string{"<td>prediction off</td>", "<td>HPA reference</td>",
		"under-provisioned 0.50× · instance-hours 1.00×", "under-provisioned 3.00× · instance-hours 1.00×",
		"desired, prediction off", "desired, HPA reference", "prediction off (all actions)"} {
		if !strings.Contains(doc, want) {
			t.Errorf("missing %q", want)
		}
	}
	// Without overlays there is no table and no overlay line.
	plain := renderHTML(t, HTMLOptions{}, p, r)
	if strings.Contains(plain, `class="cmp"`) || strings.Contains(plain, `class="ov0"`) {
		t.Error("comparison drawn without overlays")
	}
	// An overlay of another trace is refused.
	_, short := synthetic(1440, false, 0)
	err := WriteHTML(&strings.Builder{}, HTMLOptions{Overlays: []Overlay{{"off", short}}}, p, r, r.Summary)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("error %v, want ErrMismatch", err)
	}
}

// TestSkillAndActionsCharts: the skill chart draws the engine's skill with
// the trusted stretches underneath; the actions chart has one bar per day
// with actions.
func TestSkillAndActionsCharts(t *testing.T) {
	p, r := synthetic(3*1440, true, 0)
	doc := renderHTML(t, HTMLOptions{}, p, r)
	skill := regexp.MustCompile(`(?s)aria-label="forecast skill chart".*?</svg>`).FindString(doc)
	if !strings.Contains(skill, `<path class="sk0" d="M`) || !strings.Contains(skill, `<g class="trust"><rect`) {
		t.Errorf("skill chart lacks the skill line or the trusted strip")
	}
	actions := regexp.MustCompile(`(?s)aria-label="actions per day chart".*?</svg>`).FindString(doc)
	bars := regexp.MustCompile(`(?s)<g class="bar-out">(.*?)</g>`).FindStringSubmatch(actions)
	if bars == nil || strings.Count(bars[1], "<rect") != 3 {
		t.Errorf("want one scale-out bar per day: %v", bars)
	}
	r.Summary.ActionsPerDay = 12.34
	if doc := renderHTML(t, HTMLOptions{}, p, r); !strings.Contains(doc, "scale actions in each UTC day · 12.3 a day over the trace") {
		t.Error("the actions chart does not quote the summary's actions per day")
	}
	_, noFc := synthetic(3*1440, false, 0)
	if doc := renderHTML(t, HTMLOptions{}, p, noFc); strings.Contains(doc, "forecast skill chart") {
		t.Error("a skill chart without forecasts")
	}
}

// TestUnits: a rate keeps the trace's unit unless the user names one; it
// is never assumed to be per second.
func TestUnits(t *testing.T) {
	p, r := synthetic(300, false, 0)
	doc := renderHTML(t, HTMLOptions{}, p, r)
	if !strings.Contains(doc, "request rate, in the trace&#39;s unit · target 100 per instance") || strings.Contains(doc, "requests/s") {
		t.Error("a rate without a unit should read in the trace's unit")
	}
	doc = renderHTML(t, HTMLOptions{Units: map[string]string{"<x>": "requests per 5 min"}}, p, r)
	if !strings.Contains(doc, "request rate, in requests per 5 min · target 100 per instance") {
		t.Error("the user's unit is not shown")
	}
	if !strings.Contains(doc, "cpu utilization of the ready instances, % · target 60 %") {
		t.Error("cpu is not in %")
	}
}

// TestViewMarksActionsBeforeItsFirstSample: an action made by an
// evaluation between the last sample of one day and the first of the next
// is marked in the next day's view.
func TestViewMarksActionsBeforeItsFirstSample(t *testing.T) {
	p, r := synthetic(2*1440, false, 0)
	for i := range r.Times {
		r.Times[i] += int64(30 * time.Second)
	}
	day2 := time.Date(2025, 3, 4, 0, 0, 10, 0, time.UTC).UnixNano()
	r.Events = []simulate.Event{{At: day2, From: 3, To: 5}}
	doc := renderHTML(t, HTMLOptions{}, p, r)
	views := regexp.MustCompile(`(?s)aria-label="capacity, (Mon|Tue) [^"]*".*?</svg>`).FindAllString(doc, -1)
	if len(views) != 2 {
		t.Fatalf("%d day views, want 2", len(views))
	}
	if strings.Contains(views[0], "tk-out") || !strings.Contains(views[1], `<g class="tk-out"><rect x="39.6"`) {
		t.Errorf("the action at 00:00:10 should tick the second day's view at its left edge:\n%.300s\n%.300s", views[0], views[1])
	}
}

// TestViewsAlignTheirCharts: a view whose title wraps onto more lines
// than its neighbour's still has its chart at the same height in the row
// (the charts sit at the bottom of equally tall panels), so the days of a
// row compare at a glance.
func TestViewsAlignTheirCharts(t *testing.T) {
	p, r := synthetic(2*1440, false, 0)
	doc := renderHTML(t, HTMLOptions{}, p, r)
	for _, rule := range []string{
		".multiples .panel{margin:0;padding:8px 10px 4px;display:flex;flex-direction:column}",
		".multiples .panel svg{margin-top:auto}",
	} {
		if !strings.Contains(doc, rule) {
			t.Errorf("the stylesheet lacks %s", rule)
		}
	}
}

// TestActionsShareTheTimeAxis: the actions chart spans the trace as the
// charts above it do, so a day the trace covers in part gets a bar as
// wide as that part, not a full day's.
func TestActionsShareTheTimeAxis(t *testing.T) {
	p, r := synthetic(2*1440+60, false, 0) // two days and the next one's first hour
	doc := renderHTML(t, HTMLOptions{}, p, r)
	actions := regexp.MustCompile(`(?s)aria-label="actions per day chart".*?</svg>`).FindString(doc)
	rects := regexp.MustCompile(`<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"`).FindAllStringSubmatch(actions, -1)
	if len(rects) == 0 {
		t.Fatal("no bars")
	}
	lo, hi, widest, last := math.Inf(1), math.Inf(-1), 0.0, 0.0
	for _, m := range rects {
		x, _ := strconv.ParseFloat(m[1], 64)
		w, _ := strconv.ParseFloat(m[2], 64)
		lo, hi, widest = math.Min(lo, x), math.Max(hi, x+w), math.Max(widest, w)
		if x+w >= hi {
			last = w
		}
	}
	if lo < plotLeft-0.1 || hi > plotRight+0.1 {
		t.Errorf("bars span %v to %v, beyond the plot's %v to %v", lo, hi, plotLeft, plotRight)
	}
	// The third day's hour is 60 of the trace's 2,940 minutes (less the gap
	// of up to 2 units between bars).
	if want := (plotRight - plotLeft) * 60 / (2*1440 + 59); math.Abs(last-want) > 3 || last > widest/10 {
		t.Errorf("the last day's bar is %v wide (the widest %v); want about %.1f, its hour's", last, widest, want)
	}
	caps := regexp.MustCompile(`(?s)aria-label="capacity chart".*?</svg>`).FindString(doc)
	dayTick := regexp.MustCompile(`<path class="day" d="M([0-9.]+),`)
	if a, c := dayTick.FindAllStringSubmatch(actions, -1), dayTick.FindAllStringSubmatch(caps, -1); fmt.Sprint(a) != fmt.Sprint(c) {
		t.Errorf("midnights at %v in the actions chart, at %v in the capacity chart", a, c)
	}
}

// pathYs lists the y coordinates a path's data visits (M and L points, V
// lines; H keeps the y it had).
func pathYs(t *testing.T, d string) []float64 {
	t.Helper()
	var ys []float64
	for _, m := range regexp.MustCompile(`([MLHVZ])([-0-9.]*)(?:,([-0-9.]+))?`).FindAllStringSubmatch(d, -1) {
		var s string
		switch m[1] {
		case "M", "L":
			s = m[3]
		case "V":
			s = m[2]
		default:
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("path %q: %v", d, err)
		}
		ys = append(ys, v)
	}
	return ys
}

// TestViewsOwnScale: a trace with one outlier day (an hour at 200
// instances, against days of 3 to 19) draws each day's view on its own
// scale, so a quiet day's capacity spans most of its chart's height
// instead of lying flat under the outlier's; each view states its scale,
// and the axis and its data agree with it; a gauge shows each scale's
// share of the largest; the Capacity chart over the trace keeps one scale.
func TestViewsOwnScale(t *testing.T) {
	const perDay = 1440
	p, r := synthetic(3*perDay, false, 0)
	for i := perDay + 600; i < perDay+660; i++ { // day 2, 10:00-11:00
		r.Needed[i], r.Desired[i], r.Ready[i] = 200, 200, 200
	}
	r.Events = nil
	for i := 1; i < len(r.Times); i++ {
		if r.Desired[i] != r.Desired[i-1] {
			r.Events = append(r.Events, simulate.Event{At: r.Times[i], From: r.Desired[i-1], To: r.Desired[i]})
		}
	}
	doc := renderHTML(t, HTMLOptions{}, p, r)
	checkWellFormed(t, doc)
	top, bottom := padTop+markStrip, smallHeight-padBottom
	yTop := regexp.MustCompile(`<text class="yl" x="[0-9.]+" y="[0-9.]+">([^<]*)</text>`)
	views := regexp.MustCompile(`(?s)aria-label="capacity, ([^",]*), ([^"]*)".*?</svg>`).FindAllStringSubmatch(doc, -1)
	if len(views) != 3 {
		t.Fatalf("%d day views, want 3", len(views))
	}
	badges := map[string]string{}
	for _, m := range regexp.MustCompile(`<h2>([^<]*)<small>[^<]*</small></h2><span class="scale">([^<]*)</span>`).FindAllStringSubmatch(doc, -1) {
		badges[m[1]] = m[2]
	}
	widest := 0.0
	his := make([]float64, len(views))
	for d, v := range views {
		title, svg := v[1], v[0]
		// The policy's desired size: a quiet day's rises and falls over most
		// of the chart's height (3 to 19 on 0 to 20), not a tenth of it.
		desired := regexp.MustCompile(`<path class="desired" d="([^"]*)"`).FindStringSubmatch(svg)
		if desired == nil {
			t.Fatalf("%s: no desired line", title)
		}
		ys := pathYs(t, desired[1])
		span := (slices.Max(ys) - slices.Min(ys)) / (bottom - top)
		if d != 1 && span < 0.6 {
			t.Errorf("%s: the desired size spans %.0f %% of the chart's height, want most of it", title, 100*span)
		}
		// The stated scale is the axis' and fits the day's data: its peak
		// lies within the top step of the scale.
		var lo, hi int
		if _, err := fmt.Sscanf(badges[title], "%d–%d instances", &lo, &hi); err != nil {
			t.Fatalf("%s: scale %q: %v", title, badges[title], err)
		}
		if v[2] != badges[title] { // a screen reader hears the same scale
			t.Errorf("%s: the chart's accessible name states %q, its corner %q", title, v[2], badges[title])
		}
		labels := yTop.FindAllStringSubmatch(svg, -1)
		if len(labels) < 3 || labels[0][1] != strconv.Itoa(lo) || labels[len(labels)-1][1] != strconv.Itoa(hi) {
			t.Errorf("%s: states %d–%d, the axis reads %v", title, lo, hi, labels)
		}
		step := atoi(t, labels[1][1]) - lo
		peak := 0
		for i := d * perDay; i < (d+1)*perDay; i++ {
			peak = max(peak, int(r.Needed[i]), int(r.Desired[i]), int(r.Ready[i]))
		}
		if lo != 0 || peak > hi || peak <= hi-2*step {
			t.Errorf("%s: states %d–%d (steps of %d) for a peak of %d", title, lo, hi, step, peak)
		}
		his[d] = float64(hi)
		widest = max(widest, float64(hi))
	}
	// Each view's gauge is filled to its scale's share of the largest.
	for d, v := range views {
		g := regexp.MustCompile(`<g class="gauge"><rect x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="([0-9.]+)"/>`).FindStringSubmatch(v[0])
		if g == nil {
			t.Fatalf("%s: no scale gauge", v[1])
		}
		h, _ := strconv.ParseFloat(g[1], 64)
		if want := (bottom - top) * his[d] / widest; math.Abs(h-want) > 0.1 {
			t.Errorf("%s: gauge %v high, want %v (%v of %v)", v[1], h, want, his[d], widest)
		}
	}
	// The Capacity chart over the whole trace keeps the outlier's scale.
	capacity := regexp.MustCompile(`(?s)aria-label="capacity chart".*?</svg>`).FindString(doc)
	labels := yTop.FindAllStringSubmatch(capacity, -1)
	if len(labels) == 0 || atoi(t, labels[len(labels)-1][1]) < 200 {
		t.Errorf("the Capacity chart's axis reads %v, want it to reach the outlier's 200", labels)
	}
}

// TestCapacityTop: a view's scale reaches the highest size in its samples,
// of any run or the demand, and the size an action in its span reached
// even when no sample of the period shows it (an action after the last).
func TestCapacityTop(t *testing.T) {
	r := &simulate.Result{
		Times:   []int64{0, 10, 20, 30},
		Needed:  []int32{1, 4, 2, 9},
		Desired: []int32{2, 3, 3, 9},
		Ready:   []int32{2, 2, 3, 9},
	}
	ov := Overlay{Label: "off", Result: &simulate.Result{Desired: []int32{1, 7, 1, 1}}}
	tests := []struct {
		name     string
		ovs      []Overlay
		events   []simulate.Event
		i0, i1   int
		from, to int64
		want     int
	}{
		{"samples", nil, nil, 0, 3, 0, 30, 4},
		{"an overlay", []Overlay{ov}, nil, 0, 3, 0, 30, 7},
		{"an action after the last sample", nil, []simulate.Event{{At: 25, From: 3, To: 6}}, 0, 3, 0, 30, 6},
		{"an action of another period", nil, []simulate.Event{{At: 30, From: 3, To: 6}}, 0, 3, 0, 30, 4},
		{"the whole trace", []Overlay{ov}, nil, 0, 4, 0, 31, 9},
	}
	for _, tt := range tests {
		r.Events = tt.events
		if got := capacityTop(r, tt.ovs, tt.i0, tt.i1, tt.from, tt.to); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestViewsGaugeOnlyWhenScalesDiffer: the gauge of a view's scale against
// the largest view's, and its legend, appear only when the views' scales
// differ; where every view has the same one, the page says their heights
// compare as they are.
func TestViewsGaugeOnlyWhenScalesDiffer(t *testing.T) {
	tests := []struct {
		name    string
		outlier bool
		gauges  int
		note    string
	}{
		{"one scale", false, 0, "every view&#39;s peak gives the same scale"},
		{"an outlier day", true, 3, "The grey bar at a view&#39;s right is its scale&#39;s share of the largest view&#39;s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := synthetic(3*1440, false, 0)
			if tt.outlier {
				r.Needed[1440+600] = 200
			}
			doc := renderHTML(t, HTMLOptions{}, p, r)
			if got := strings.Count(doc, `<g class="gauge">`); got != tt.gauges {
				t.Errorf("%d gauges, want %d", got, tt.gauges)
			}
			if legend := strings.Contains(doc, `<i class="sw gauge">`); legend != (tt.gauges > 0) {
				t.Errorf("gauge legend shown: %v, want %v", legend, tt.gauges > 0)
			}
			if !strings.Contains(doc, tt.note) {
				t.Errorf("the views' note lacks %q", tt.note)
			}
		})
	}
}

// TestPeriodFiguresCountInWords: a view's title counts its actions in
// words that agree with the number, its own and each other run's.
func TestPeriodFiguresCountInWords(t *testing.T) {
	r := &simulate.Result{Times: []int64{0, 10}}
	ev := func(n int) []simulate.Event {
		var out []simulate.Event
		for i := range n {
			out = append(out, simulate.Event{At: int64(i), From: 1, To: 2})
		}
		return out
	}
	tests := []struct {
		policy, other int
		want          string
	}{
		{0, 1, "0 actions (0 out, 0 in) · 0 under-provisioned · off: 1 action, 0 under"},
		{1, 2, "1 action (1 out, 0 in) · 0 under-provisioned · off: 2 actions, 0 under"},
		{3, 0, "3 actions (3 out, 0 in) · 0 under-provisioned · off: 0 actions, 0 under"},
	}
	for _, tt := range tests {
		r.Events = ev(tt.policy)
		o := Overlay{Label: "off", Result: &simulate.Result{Times: r.Times, Events: ev(tt.other)}}
		if got := periodFigures(r, []Overlay{o}, period{start: 0, end: 20, i0: 0, i1: 2}); got != tt.want {
			t.Errorf("%d and %d actions: %q, want %q", tt.policy, tt.other, got, tt.want)
		}
	}
}
