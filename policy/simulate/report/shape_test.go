package report

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/scoreboard"
)

// shapeChart is the seasonal shape factor chart's SVG in doc ("" when the
// report has none).
func shapeChart(doc string) string {
	return regexp.MustCompile(`(?s)aria-label="seasonal shape factor chart".*?</svg>`).FindString(doc)
}

// viewNotes maps each small multiple's title to its note.
func viewNotes(doc string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`<section class="panel">\s*<header><h2>([^<]*)<small>([^<]*)</small></h2><span class="scale">`).
		FindAllStringSubmatch(doc, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// wantRange is how the report writes the range lo..hi of a factor.
func wantRange(lo, hi float64) string {
	return "×" + strconv.FormatFloat(lo, 'f', 2, 64) + "–\u2060" + strconv.FormatFloat(hi, 'f', 2, 64)
}

// TestShapeFactorChart: the seasonal shape's factor gets its own chart,
// and each day's view the day's range of it, only when some factor lies
// more than the reasons' 5 % from 1; an additive season, factors within
// 5 % and prediction off leave no trace of it.
func TestShapeFactorChart(t *testing.T) {
	const perDay = 1440
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		// factor is metric <x>'s factor at sample i (the cpu metric's
		// season stays additive); nil: prediction off.
		factor func(i int) float64
		// chart is the chart's note's range for <x>, "" for no chart; days
		// each day's range in its view's note, "" for none.
		chart string
		days  [3]string
	}{
		{"day 2 ramps to ×1.5, day 3 stays within 5 %",
			func(i int) float64 {
				switch d := i / perDay; d {
				case 0:
					return nan
				case 1:
					return 1 + 0.5*float64(i-perDay)/float64(perDay-1)
				}
				return 1.02
			},
			wantRange(1, 1.5), [3]string{"", wantRange(1, 1.5), ""}},
		{"a fall to ×0.6 on day 1, and a day's factor alone",
			func(i int) float64 {
				if i < perDay {
					return 1 - 0.4*float64(i)/float64(perDay-1)
				}
				return 0.94
			},
			wantRange(0.6, 1), [3]string{wantRange(0.6, 1), "×0.94", "×0.94"}},
		{"within 5 % throughout", func(i int) float64 { return 1.04 - 0.08*float64(i%perDay)/perDay }, "", [3]string{}},
		{"an additive season", func(int) float64 { return nan }, "", [3]string{}},
		{"prediction off", nil, "", [3]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r := synthetic(3*perDay, tc.factor != nil, 0)
			if tc.factor != nil {
				r.SeasonScale = [][]float64{make([]float64, len(r.Times)), make([]float64, len(r.Times))}
				for i := range r.Times {
					r.SeasonScale[0][i], r.SeasonScale[1][i] = tc.factor(i), nan
				}
			}
			doc := renderHTML(t, HTMLOptions{}, p, r)
			checkWellFormed(t, doc)
			chart := shapeChart(doc)
			if tc.chart == "" {
				if chart != "" || strings.Contains(doc, "Seasonal shape") || strings.Contains(doc, "season_scale") {
					t.Fatal("a shape factor chart or note where no factor lies beyond 5 %")
				}
			} else {
				note := "· &lt;x&gt;\u00a0" + tc.chart + "</small>"
				if !strings.Contains(doc, "<h2>Seasonal shape&#39;s factor<small>") || !strings.Contains(doc, note) {
					t.Errorf("no chart titled with <x>'s range %q", tc.chart)
				}
				if !strings.Contains(chart, `<path class="sk0" d="M`) || !strings.Contains(chart, `<g class="named"><rect`) {
					t.Error("the chart lacks the factor's line or the strip where the reasons name it")
				}
				if strings.Contains(chart, `class="sk1"`) || strings.Contains(doc, "cpu factor") {
					t.Error("a line or a legend for the cpu metric, whose season stayed additive")
				}
			}
			notes := viewNotes(doc)
			for d, want := range tc.days {
				title := time.Unix(0, r.Times[d*perDay]).UTC().Format("Mon 2 Jan 2006")
				note, ok := notes[title]
				if !ok {
					t.Fatalf("no view %q among %v", title, notes)
				}
				got := ""
				if _, after, found := strings.Cut(note, "&lt;x&gt; shape\u00a0"); found {
					got, _, _ = strings.Cut(after, " ")
				}
				if got != want {
					t.Errorf("%s: the view's factor %q, want %q (note %q)", title, got, want, note)
				}
			}
		})
	}
}

// heldOut is the held-out board's variant named name.
func heldOut(name string) scoreboard.Variant {
	for _, v := range scoreboard.Variants() {
		if v.Name == name {
			return v
		}
	}
	panic("no variant " + name)
}

// TestShapeFactorAfterALevelShift: a daily trace doubled from the middle
// of its span on (the held-out board's level-shift variant), replayed
// under the scoreboard's convention, scales its daily shape, and the
// report charts the factors the replay recorded.
func TestShapeFactorAfterALevelShift(t *testing.T) {
	const perDay, days = 1440, 8
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s := simulate.Series{Values: [][]float64{make([]float64, days*perDay)}}
	for i := range days * perDay {
		// A quiet night and a busy day, the swing a share of the level.
		v := 100 * (1 + 0.6*math.Sin(2*math.Pi*float64(i%perDay)/perDay) + 0.01*math.Sin(float64(i)*1.7))
		s.Times = append(s.Times, t0.Add(time.Duration(i)*time.Minute).UnixNano())
		s.Values[0][i] = v
	}
	shifted, _, ok := heldOut(scoreboard.VariantLevelShift).Derive(s)
	if !ok {
		t.Fatal("the level-shift variant does not apply")
	}
	tr := scoreboard.Trace{Name: "doubled.csv", Type: policy.MetricRequestRate, Daily: true}
	rs, err := scoreboard.Replay(tr, shifted)
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Forecast
	lo, hi, moved := math.Inf(1), math.Inf(-1), false
	for _, k := range r.SeasonScale[0] {
		if k > 0 {
			lo, hi = math.Min(lo, k), math.Max(hi, k)
			moved = moved || math.Abs(k-1) > policy.ShapeShown
		}
	}
	if !moved {
		t.Fatalf("the doubled trace's season did not scale beyond 5 %%: factors %v to %v", lo, hi)
	}
	t.Logf("factors from %.3f to %.3f", lo, hi)
	doc := renderHTML(t, HTMLOptions{}, rs.Policy, r)
	checkWellFormed(t, doc)
	name := rs.Policy.Metrics[0].Name
	if shapeChart(doc) == "" || !strings.Contains(doc, "· "+name+"\u00a0"+wantRange(lo, hi)+"</small>") {
		t.Errorf("no shape factor chart with the replay's range %s", wantRange(lo, hi))
	}
	// The trace's first half, before the shift, reports no chart unless
	// its own season scaled beyond 5 %.
	half, _, _ := heldOut(scoreboard.VariantFirstHalf).Derive(s)
	rh, err := scoreboard.Replay(tr, half)
	if err != nil {
		t.Fatal(err)
	}
	scaled := false
	for _, k := range rh.Forecast.SeasonScale[0] {
		scaled = scaled || policy.ShapeMoved(k)
	}
	if got := shapeChart(renderHTML(t, HTMLOptions{}, rh.Policy, rh.Forecast)) != ""; got != scaled {
		t.Errorf("the first half: chart %v, season scaled beyond 5 %% %v", got, scaled)
	}
}
