package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// synthetic builds an n-sample, one-minute result with a daily cycle, the
// capacity lagging it, and a gap of missing samples. The first metric is
// named "<x>" so every rendering test also exercises escaping.
func synthetic(n int, forecast bool, seed int) (policy.Policy, *simulate.Result) {
	p := policy.Policy{
		ID: "web-<api>", Min: 2, Max: 40, Tolerance: 0.1,
		Warmup:             policy.Duration(3 * time.Minute),
		EvaluationInterval: policy.Duration(time.Minute),
		Metrics: []policy.Metric{
			{Name: "<x>", Type: policy.MetricRequestRate, Target: 100},
			{Name: "cpu", Type: policy.MetricCPU, Target: 60},
		},
		Predictive: policy.Predictive{Mode: policy.PredictOff},
	}
	if forecast {
		p.Predictive = policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(10 * time.Minute),
			Season: policy.Season{Auto: true}}
	}
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC).UnixNano()
	r := &simulate.Result{
		Times:    make([]int64, n),
		Observed: [][]float64{make([]float64, n), make([]float64, n)},
		Needed:   make([]int32, n),
		Desired:  make([]int32, n),
		Ready:    make([]int32, n),
		Rows:     make([]simulate.Row, n),
	}
	if forecast {
		r.Forecast = [][]float64{make([]float64, n), make([]float64, n)}
		r.Skill = [][]float64{make([]float64, n), make([]float64, n)}
		r.Trusted = [][]bool{make([]bool, n), make([]bool, n)}
	}
	r.Under = make([]bool, n)
	for i := range n {
		r.Times[i] = t0 + int64(i)*int64(time.Minute)
		phase := 2 * math.Pi * float64(i) / 1440
		v := 1000 + 800*math.Sin(phase) + 40*math.Sin(float64(i*7+seed))
		r.Observed[0][i] = v
		r.Observed[1][i] = 55 + 5*math.Sin(float64(i*3))
		if i%5000 >= 100 && i%5000 < 110 {
			r.Observed[0][i], r.Observed[1][i] = math.NaN(), math.NaN()
		}
		need := int32(math.Ceil(v / 100))
		r.Needed[i] = need
		lag := int32(math.Ceil((1000 + 800*math.Sin(phase-0.05)) / 100))
		r.Desired[i], r.Ready[i] = lag+1, lag
		if forecast {
			r.Forecast[0][i] = 1000 + 800*math.Sin(phase+0.04)
			r.Forecast[1][i] = math.NaN()
			r.Skill[0][i], r.Skill[1][i] = 0.5*math.Sin(phase), math.NaN()
			r.Trusted[0][i] = r.Skill[0][i] > 0
		}
		r.Under[i] = r.Ready[i] < need
		r.Rows[i] = simulate.Row{Action: policy.ActionHold, From: int32(lag + 1), To: int32(lag + 1)}
		if i > 0 && r.Desired[i] != r.Desired[i-1] {
			r.Events = append(r.Events, simulate.Event{At: r.Times[i], From: r.Desired[i-1], To: r.Desired[i]})
		}
	}
	r.Summary = simulate.Summary{Samples: n, Evaluations: n, InstanceHours: 12345.67, UnderProvisionedSamples: 321,
		UnderProvisionedFraction: 321 / float64(n), ScaleOuts: 77, ScaleIns: 66, PeakSize: 19, StaleSamples: 4}
	return p, r
}

func renderHTML(t *testing.T, opts HTMLOptions, p policy.Policy, r *simulate.Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, opts, p, r, r.Summary); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkWellFormed parses the page with the XML decoder in its lenient HTML
// mode (void elements auto-closed) and requires every element to close in
// order, then checks each SVG strictly, as a browser's SVG parser would.
func checkWellFormed(t *testing.T, doc string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(strings.TrimPrefix(doc, "<!DOCTYPE html>")))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("HTML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Name.Local {
				t.Fatalf("HTML: </%s> closes %v", tok.Name.Local, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("HTML: unclosed %v", stack)
	}
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(doc, -1)
	if len(svgs) == 0 {
		t.Fatal("no <svg> element")
	}
	for _, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG: %v", err)
			}
		}
	}
}

func TestWriteHTML(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		forecast bool
		opts     HTMLOptions
	}{
		{"short sparse", 300, false, HTMLOptions{}},
		{"short with forecast", 300, true, HTMLOptions{Title: "A & B", TraceName: "<trace>.csv", PolicyName: "p.yaml"}},
		{"20k dense with forecast", 20_000, true, HTMLOptions{TraceName: "prod.csv"}},
		{"single sample", 1, true, HTMLOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, r := synthetic(tt.n, tt.forecast, 0)
			doc := renderHTML(t, tt.opts, p, r)
			checkWellFormed(t, doc)
			if len(doc) >= 2<<20 {
				t.Errorf("%d bytes, want < 2 MB", len(doc))
			}
			// Capacity, actions per day, one chart per metric, forecast
			// skill with prediction on, and one view per UTC day.
			want := 2 + len(p.Metrics) + (tt.n+1439)/1440
			if tt.forecast {
				want++
			}
			if got := strings.Count(doc, "<svg "); got != want {
				t.Errorf("%d charts, want %d", got, want)
			}
			if got := strings.Contains(doc, `class="fc"`); got != tt.forecast {
				t.Errorf("forecast line present = %v", got)
			}
			for _, want := range []string{
				groupInt(tt.n), "12,345.7", "321 samples", ">77<", ">66<", ">19<",
				"&lt;x&gt;", "web-&lt;api&gt;", "Under-provisioned: a sample",
			} {
				if !strings.Contains(doc, want) {
					t.Errorf("missing %q", want)
				}
			}
			if tt.opts.Title != "" && !strings.Contains(doc, "<h1>A &amp; B</h1>") {
				t.Error("title not escaped")
			}
			if strings.Contains(doc, "<x>") || strings.Contains(doc, "<api>") || strings.Contains(doc, "<trace>") {
				t.Error("an unescaped name leaked into the page")
			}
			if strings.Contains(doc, "<script") || strings.Contains(doc, "http://") || strings.Contains(doc, "https://") {
				t.Error("the page must not load scripts or external assets")
			}
		})
	}
}

// TestDownsamplingKeepsSpike plants a single spike among 20,000 flat
// samples: after downsampling to a few points per pixel column, the chart
// must still reach the spike's exact height.
func TestDownsamplingKeepsSpike(t *testing.T) {
	const n, spikeAt, spike = 20_000, 12_345, 5000.0
	p, r := synthetic(n, false, 0)
	for i := range r.Observed[0] {
		r.Observed[0][i] = 500
	}
	r.Observed[0][spikeAt] = spike

	xs := newXScale(r.Times)
	ys := metricYScale(p, r, 0, xs)
	spikeY := "," + string(appendCoord(nil, ys.y(spike)))
	flatY := "," + string(appendCoord(nil, ys.y(500)))

	doc := renderHTML(t, HTMLOptions{}, p, r)
	band := regexp.MustCompile(`<path class="band" d="([^"]*)"`).FindStringSubmatch(doc)
	if band == nil {
		t.Fatal("no band path in a dense chart")
	}
	if !strings.Contains(band[1], spikeY) {
		t.Errorf("band path lacks the spike's y %s", spikeY)
	}
	if strings.Count(band[1], spikeY) != 1 {
		t.Errorf("the spike should reach %s in exactly one column", spikeY)
	}
	if !strings.Contains(band[1], flatY) {
		t.Errorf("band path lacks the baseline's y %s", flatY)
	}

	// The M4 line used for sparse charts keeps it too, within its budget
	// of four points per column.
	at := func(i int) int64 { return r.Times[i] }
	path := string(linePath(nil, n, at, func(i int) float64 { return r.Observed[0][i] }, 0, xs, ys))
	if !strings.Contains(path, spikeY) {
		t.Errorf("line path lacks the spike's y %s", spikeY)
	}
	if pts, cols := strings.Count(path, ","), int(xs.right-xs.left)+1; pts > 4*cols {
		t.Errorf("%d points for %d columns", pts, cols)
	}
}

func TestLinePathGapsAndShift(t *testing.T) {
	times := []int64{0, 10, 20, 30, 40}
	vals := []float64{1, 2, nan, 4, 5}
	xs := xScale{t0: 0, t1: 40, left: 0, right: 400}
	ys := yScale{lo: 0, hi: 10, top: 0, bottom: 100}
	at := func(i int) int64 { return times[i] }
	val := func(i int) float64 { return vals[i] }
	if got, want := string(linePath(nil, 5, at, val, 0, xs, ys)), "M0,90L100,80M300,60L400,50"; got != want {
		t.Errorf("gap: got %s, want %s", got, want)
	}
	// Shifted by 10, the last sample falls beyond the axis and is dropped.
	if got, want := string(linePath(nil, 5, at, val, 10, xs, ys)), "M100,90L200,80M400,60"; got != want {
		t.Errorf("shift: got %s, want %s", got, want)
	}
}

func TestStepPath(t *testing.T) {
	times := []int64{0, 10, 20, 30}
	xs := xScale{t0: 0, t1: 30, left: 0, right: 300}
	ys := yScale{lo: 0, hi: 10, top: 0, bottom: 100}
	tests := []struct {
		vals []int32
		area bool
		want string
	}{
		{[]int32{2, 2, 5, 5}, false, "M0,80H200V50H300"},
		{[]int32{2, 2, 5, 5}, true, "M0,80H200V50H300V100H0Z"},
		{[]int32{3, 3, 3, 3}, false, "M0,70H300"},
		{[]int32{1, 4, 2, 2}, false, "M0,90H100V60H200V80H300"},
	}
	for _, tt := range tests {
		if got := string(stepPath(nil, tt.vals, times, xs, ys, tt.area)); got != tt.want {
			t.Errorf("%v area=%v: got %s, want %s", tt.vals, tt.area, got, tt.want)
		}
	}
	// Many changes inside one column collapse to one vertical stroke that
	// spans them and ends at the last.
	dense := []int64{0, 1000, 1001, 1002, 3000}
	xs = xScale{t0: 0, t1: 3000, left: 0, right: 300}
	if got, want := string(stepPath(nil, []int32{5, 9, 1, 4, 4}, dense, xs, ys, false)), "M0,50H100V90V10V60H300"; got != want {
		t.Errorf("dense: got %s, want %s", got, want)
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct {
		lo, hi  float64
		integer bool
		want    []float64
	}{
		{0, 87, false, []float64{0, 20, 40, 60, 80, 100}},
		{0, 3600, false, []float64{0, 1000, 2000, 3000, 4000}},
		{0, 0.37, false, []float64{0, 0.1, 0.2, 0.3, 0.4}},
		{0, 3, true, []float64{0, 1, 2, 3, 4}},
		{0, 29, true, []float64{0, 10, 20, 30}},
		{-12, 40, false, []float64{-20, 0, 20, 40, 60}}, // 40 sits on the top tick: headroom added
		{5, 5, false, []float64{4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6}},
		{0, 0, true, []float64{0, 1, 2}},
	}
	for _, tt := range tests {
		ys := newYScale(tt.lo, tt.hi, 5, tt.integer, 0, 100)
		got := ys.ticks()
		if len(got) != len(tt.want) {
			t.Errorf("[%v,%v]: ticks %v, want %v", tt.lo, tt.hi, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("[%v,%v]: ticks %v, want %v", tt.lo, tt.hi, got, tt.want)
				break
			}
		}
	}
}

func TestFormatTick(t *testing.T) {
	tests := []struct {
		v, step float64
		want    string
	}{
		{0, 20, "0"}, {40, 20, "40"}, {0.3, 0.1, "0.3"}, {0.25, 0.05, "0.25"},
		{20000, 5000, "20k"}, {12500, 2500, "12.5k"}, {3e7, 1e7, "30M"}, {-0.0, 1, "0"},
		{0, 10000, "0"}, {0, 1e7, "0"}, {10000, 10000, "10k"},
	}
	for _, tt := range tests {
		if got := formatTick(tt.v, tt.step); got != tt.want {
			t.Errorf("formatTick(%v, %v) = %s, want %s", tt.v, tt.step, got, tt.want)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		start, end time.Time
		want       []string
	}{
		{"eight days: dates", day, day.Add(8*24*time.Hour - time.Minute),
			[]string{"Mar 3", "Mar 4", "Mar 5", "Mar 6", "Mar 7", "Mar 8", "Mar 9", "Mar 10"}},
		{"five hours: hh:mm", day.Add(9 * time.Hour), day.Add(14 * time.Hour),
			[]string{"09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00", "13:30", "14:00"}},
		{"across midnight: the date marks the day change", day.Add(18 * time.Hour), day.Add(30 * time.Hour),
			[]string{"18:00", "20:00", "22:00", "Mar 4", "02:00", "04:00", "06:00"}},
		{"two minutes: seconds", day.Add(10 * time.Second), day.Add(130 * time.Second),
			[]string{"00:00:15", "00:00:30", "00:00:45", "00:01:00", "00:01:15", "00:01:30", "00:01:45", "00:02:00"}},
	}
	for _, tt := range tests {
		xs := newXScale([]int64{tt.start.UnixNano(), tt.end.UnixNano()})
		var got []string
		for _, tk := range timeTicks(xs, maxTimeTicks) {
			got = append(got, tk.label)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHumanAndGrouping(t *testing.T) {
	durs := map[time.Duration]string{
		8 * 24 * time.Hour: "8d", 5 * time.Hour: "5h", 3*time.Hour + 20*time.Minute: "3h 20m",
		2*24*time.Hour + 5*time.Minute: "2d", 30 * time.Second: "30s", 0: "0s",
	}
	for d, want := range durs {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %s, want %s", d, got, want)
		}
	}
	ints := map[int]string{0: "0", 999: "999", 1000: "1,000", 11520: "11,520", -1234567: "-1,234,567"}
	for v, want := range ints {
		if got := groupInt(v); got != want {
			t.Errorf("groupInt(%d) = %s, want %s", v, got, want)
		}
	}
	if got := groupFloat(12345.67, 1); got != "12,345.7" {
		t.Errorf("groupFloat = %s", got)
	}
}

// TestWriteHTMLCost checks that a priced run shows a cost card and that the
// comparison table gives each run's cost and the policy's difference.
func TestWriteHTMLCost(t *testing.T) {
	p, r := synthetic(300, false, 0)
	p.Cost = policy.Cost{PerInstanceHour: 0.192, Currency: "USD"}
	r.Summary.Cost, r.Summary.Currency = 0.192*r.Summary.InstanceHours, "USD"
	ref := *r
	ref.Summary.InstanceHours, ref.Summary.Cost, ref.Summary.Currency = 10000, 1920, "USD"
	doc := renderHTML(t, HTMLOptions{Overlays: []Overlay{{Label: "HPA reference", Result: &ref}}}, p, r)
	checkWellFormed(t, doc)
	cost := groupFloat(r.Summary.Cost, 2) + " USD"
	// html/template writes the sign as &#43;.
	diff := strings.Replace(simulate.SignedMoney(r.Summary.Cost-1920, "USD"), "+", "&#43;", 1) + ")"
	for _, want := range []string{">Cost<", cost, "0.192 USD per instance-hour", "<th>cost</th>", "1,920.00 USD", diff} {
		if !strings.Contains(doc, want) {
			t.Errorf("missing %q", want)
		}
	}
	p.Cost = policy.Cost{}
	_, r = synthetic(300, false, 0)
	if doc := renderHTML(t, HTMLOptions{}, p, r); strings.Contains(doc, ">Cost<") {
		t.Error("an unpriced run shows a cost card")
	}
}

// TestWriteHTMLSchedules checks that the report lists the policy's windows
// with their openings within the trace and counts the changes they made.
func TestWriteHTMLSchedules(t *testing.T) {
	p, r := synthetic(3*1440, false, 0) // three days of one-minute samples
	first := time.Unix(0, r.Times[0]).UTC()
	p.Schedules = []policy.Schedule{
		{Name: "mornings", Cron: "0 8 * * *", TimeZone: "Europe/Berlin", Duration: policy.Duration(2 * time.Hour), Min: 5},
		{Name: "later", Start: first.AddDate(0, 1, 0), End: first.AddDate(0, 1, 1), Max: 9},
	}
	r.Events = append(r.Events, simulate.Event{At: r.Times[10], From: 2, To: 5, Bound: policy.LimitSchedule})
	plain := renderHTML(t, HTMLOptions{}, p, r)
	if strings.Contains(plain, `<g class="sched">`) || strings.Contains(plain, "scheduled window open") {
		t.Error("shading drawn without the simulator's marks")
	}
	r.Scheduled = make([]bool, len(r.Times))
	for i := 480; i < 600; i++ { // two hours of the first day
		r.Scheduled[i] = true
	}
	doc := renderHTML(t, HTMLOptions{}, p, r)
	checkWellFormed(t, doc)
	// The capacity chart and the first day's view each shade one stretch.
	if got := strings.Count(doc, `<g class="sched"><rect`); got != 2 {
		t.Errorf("%d shaded capacity charts, want 2 (the whole run and day 1)", got)
	}
	if !strings.Contains(doc, "scheduled window open") {
		t.Error("no legend for the shading")
	}
	opening := time.Date(first.Year(), first.Month(), first.Day(), 8, 0, 0, 0, mustZone(t, "Europe/Berlin"))
	if opening.Before(first) {
		opening = opening.AddDate(0, 0, 1)
	}
	for _, want := range []string{
		"schedule mornings: min 5 · cron 0 8 * * * (Europe/Berlin) for 2h · open " + opening.Format("Mon 2006-01-02 15:04 MST"),
		"schedule later: max 9 · one-off · not open during the trace",
		"1 of " + strconv.Itoa(len(r.Events)) + " size changes were set by a scheduled window",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Count(doc, "<li>schedule mornings") != 1 || strings.Count(doc, "CET, ") != 2 {
		t.Errorf("want one line for mornings with its three openings")
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	return loc
}

// TestHTMLDrawsForecastWithoutWeekly: where the weekly adjustment acted,
// a metric's chart also draws its forecast without it (and says so in the
// legend), for the metrics it acted on only; a run where it never acted
// draws no such line.
func TestHTMLDrawsForecastWithoutWeekly(t *testing.T) {
	tests := []struct {
		name   string
		weekly [][]float64
		lines  int
	}{
		{"acted for both metrics", [][]float64{{nan, 2.5, -0.125}, {nan, nan, -12}}, 2},
		{"acted for one", [][]float64{{nan, nan, nan}, {nan, 40, nan}}, 1},
		{"never acted", [][]float64{{nan, nan, nan}, {nan, nan, nan}}, 0},
		{"no weekly parts kept", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := smallResult(true)
			r.Weekly = tc.weekly
			doc := renderHTML(t, HTMLOptions{}, testPolicy(), r)
			checkWellFormed(t, doc)
			if got := strings.Count(doc, `<path class="fcd"`); got != tc.lines {
				t.Errorf("%d lines of the forecast without the weekly adjustment, want %d", got, tc.lines)
			}
			if got, want := strings.Count(doc, "forecast without the weekly adjustment"), tc.lines; got != want {
				t.Errorf("%d legend entries, want %d", got, want)
			}
			if got, want := strings.Contains(doc, "the dotted line is the same forecast without it"), tc.lines > 0; got != want {
				t.Errorf("the footnote on it present = %v, want %v", got, want)
			}
		})
	}
}
