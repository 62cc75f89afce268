package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

var nan = math.NaN()

func testPolicy() policy.Policy {
	return policy.Policy{
		ID:  "web",
		Min: 1, Max: 20,
		Metrics: []policy.Metric{
			{Name: "cpu", Type: policy.MetricCPU, Target: 60},
			{Name: "rps", Type: policy.MetricRequestRate, Target: 100},
		},
		Predictive: policy.Predictive{Mode: policy.PredictForecastAndScale, Lead: policy.Duration(5 * time.Minute)},
	}
}

// smallResult is a hand-made three-sample run covering a missing value, a
// large value that 'g' writes with an exponent, a sub-second timestamp and
// every reason flag.
func smallResult(forecast bool) *simulate.Result {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	r := &simulate.Result{
		Times:    []int64{t0, t0 + int64(time.Minute), t0 + int64(time.Minute) + int64(500*time.Millisecond)},
		Observed: [][]float64{{50, nan, 62.5}, {100, 1e6, 0.1}},
		Needed:   []int32{2, 3, 4},
		Desired:  []int32{2, 4, 4},
		Ready:    []int32{2, 2, 4},
		Rows: []simulate.Row{
			{Action: policy.ActionHold, From: 2, To: 2},
			{Action: policy.ActionScaleOut, From: 2, To: 4, UsedForecast: true, Bound: policy.LimitRateLimit},
			{Action: policy.ActionHold, From: 4, To: 4, Bound: policy.LimitStaleData, Stale: true},
		},
		Summary: simulate.Summary{Samples: 3, Evaluations: 5, InstanceHours: 0.2, UnderProvisionedSamples: 1,
			UnderProvisionedFraction: 1.0 / 3, ScaleOuts: 1, PeakSize: 4, StaleSamples: 1},
	}
	if forecast {
		r.Forecast = [][]float64{{nan, 55, 60}, {nan, nan, 120}}
	}
	return r
}

func TestWriteTimelineCSV(t *testing.T) {
	tests := []struct {
		name     string
		forecast bool
		want     string
	}{
		{"without forecast", false, "" +
			"time,cpu,rps,needed,desired,ready,reason\n" +
			"2024-01-02T03:04:05Z,50,100,2,2,2,hold\n" +
			"2024-01-02T03:05:05Z,,1e+06,3,4,2,scale-out 2->4 forecast bound:rate-limit\n" +
			"2024-01-02T03:05:05.5Z,62.5,0.1,4,4,4,hold bound:stale-data stale\n"},
		{"with forecast", true, "" +
			"time,cpu,rps,forecast_cpu,forecast_rps,needed,desired,ready,reason\n" +
			"2024-01-02T03:04:05Z,50,100,,,2,2,2,hold\n" +
			"2024-01-02T03:05:05Z,,1e+06,55,,3,4,2,scale-out 2->4 forecast bound:rate-limit\n" +
			"2024-01-02T03:05:05.5Z,62.5,0.1,60,120,4,4,4,hold bound:stale-data stale\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTimelineCSV(&b, testPolicy(), smallResult(tt.forecast)); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// weeklyResult is smallResult with forecasts and the weekly adjustment's
// part of them: acting for cpu at the second sample, for both at the third.
func weeklyResult() *simulate.Result {
	r := smallResult(true)
	r.Weekly = [][]float64{{nan, 2.5, -0.125}, {nan, nan, -12}}
	return r
}

// scaledResult is weeklyResult with the factor each forecast's season was
// scaled by: cpu's season scales at the second and third samples, rps's
// is additive.
func scaledResult() *simulate.Result {
	r := weeklyResult()
	r.SeasonScale = [][]float64{{nan, 1.84, 0.4375}, {nan, nan, nan}}
	return r
}

// TestTimelinePartColumns: a run with the weekly adjustment's parts has
// weekly_<metric> columns in the CSV (empty where it did not act) and a
// "weekly" object on the JSON entries where it acted for a metric, null
// for one where it did not; none on the others. A run with season
// factors too has season_scale_<metric> columns after the weekly ones
// (empty where the season is additive or there is no forecast) and a
// "season_scale" object alike.
func TestTimelinePartColumns(t *testing.T) {
	tests := []struct {
		name string
		r    *simulate.Result
		csv  string
		cols func(*simulate.Result) [][]float64
	}{
		{"weekly", weeklyResult(), "" +
			"time,cpu,rps,forecast_cpu,forecast_rps,weekly_cpu,weekly_rps,needed,desired,ready,reason\n" +
			"2024-01-02T03:04:05Z,50,100,,,,,2,2,2,hold\n" +
			"2024-01-02T03:05:05Z,,1e+06,55,,2.5,,3,4,2,scale-out 2->4 forecast bound:rate-limit\n" +
			"2024-01-02T03:05:05.5Z,62.5,0.1,60,120,-0.125,-12,4,4,4,hold bound:stale-data stale\n",
			func(r *simulate.Result) [][]float64 { return r.Weekly }},
		{"season_scale", scaledResult(), "" +
			"time,cpu,rps,forecast_cpu,forecast_rps,weekly_cpu,weekly_rps,season_scale_cpu,season_scale_rps,needed,desired,ready,reason\n" +
			"2024-01-02T03:04:05Z,50,100,,,,,,,2,2,2,hold\n" +
			"2024-01-02T03:05:05Z,,1e+06,55,,2.5,,1.84,,3,4,2,scale-out 2->4 forecast bound:rate-limit\n" +
			"2024-01-02T03:05:05.5Z,62.5,0.1,60,120,-0.125,-12,0.4375,,4,4,4,hold bound:stale-data stale\n",
			func(r *simulate.Result) [][]float64 { return r.SeasonScale }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTimelineCSV(&b, testPolicy(), tc.r); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.csv {
				t.Errorf("CSV\n%s\nwant\n%s", got, tc.csv)
			}
			b.Reset()
			if err := WriteTimelineJSON(&b, testPolicy(), tc.r); err != nil {
				t.Fatal(err)
			}
			var out struct {
				Timeline []map[string]json.RawMessage `json:"timeline"`
			}
			if err := json.Unmarshal(b.Bytes(), &out); err != nil {
				t.Fatalf("%v:\n%s", err, b.String())
			}
			if n := strings.Count(b.String(), `"`+tc.name+`":{`); n != 2 {
				t.Errorf("%d entries with a %s object, want 2:\n%s", n, tc.name, b.String())
			}
			if raw, ok := out.Timeline[0][tc.name]; ok {
				t.Errorf("entry 0: %s %s, want none", tc.name, raw)
			}
			for i := 1; i < 3; i++ {
				var got map[string]*float64
				if err := json.Unmarshal(out.Timeline[i][tc.name], &got); err != nil {
					t.Fatalf("entry %d: %s: %v", i, tc.name, err)
				}
				for j, m := range testPolicy().Metrics {
					checkJSONFloat(t, m.Name, got, tc.cols(tc.r)[j][i])
				}
			}
		})
	}
}

func TestWriteTimelineCSVQuotesHeader(t *testing.T) {
	p := testPolicy()
	p.Metrics[0].Name = `a,"b"`
	var b bytes.Buffer
	if err := WriteTimelineCSV(&b, p, smallResult(true)); err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(b.String(), "\n")
	want := `time,"a,""b""",rps,"forecast_a,""b""",forecast_rps,needed,desired,ready,reason`
	if header != want {
		t.Errorf("header %s, want %s", header, want)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		row  simulate.Row
		want string
	}{
		{simulate.Row{Action: policy.ActionHold, From: 3, To: 3}, "hold"},
		{simulate.Row{Action: policy.ActionHold, Bound: policy.LimitTolerance}, "hold bound:tolerance"},
		{simulate.Row{Action: policy.ActionScaleOut, From: 4, To: 7}, "scale-out 4->7"},
		{simulate.Row{Action: policy.ActionScaleOut, From: 4, To: 7, UsedForecast: true, Bound: policy.LimitRateLimit},
			"scale-out 4->7 forecast bound:rate-limit"},
		{simulate.Row{Action: policy.ActionScaleIn, From: 10, To: 8, Bound: policy.LimitBounds}, "scale-in 10->8 bound:bounds"},
		{simulate.Row{Action: policy.ActionScaleOut, From: 2, To: 5, Bound: policy.LimitStaleData, Stale: true},
			"scale-out 2->5 bound:stale-data stale"},
	}
	for _, tt := range tests {
		if got := string(appendReason(nil, tt.row)); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.row, got, tt.want)
		}
	}
}

func TestTimeAppender(t *testing.T) {
	base := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC).UnixNano()
	cases := []int64{
		0, 1, -1, base, base + 999_999_999, base + 1e9, base + 120_000_000, base + 5,
		time.Date(1969, 12, 31, 12, 0, 0, 250_000_000, time.UTC).UnixNano(),
		time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC).UnixNano(),
		math.MinInt64, math.MaxInt64, // the years 1677 and 2262: the date still takes 11 bytes
	}
	var ta timeAppender
	for _, ns := range cases {
		want := time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
		if got := string(ta.append(nil, ns)); got != want {
			t.Errorf("%d: got %s, want %s", ns, got, want)
		}
	}
}

// timelineJSON mirrors WriteTimelineJSON's output; pointers tell null
// apart from zero.
type timelineJSON struct {
	Summary  simulate.Summary `json:"summary"`
	Timeline []struct {
		Time        time.Time           `json:"time"`
		Values      map[string]*float64 `json:"values"`
		Forecast    map[string]*float64 `json:"forecast"`
		Weekly      map[string]*float64 `json:"weekly"`
		SeasonScale map[string]*float64 `json:"season_scale"`
		Needed      int32               `json:"needed"`
		Desired     int32               `json:"desired"`
		Ready       int32               `json:"ready"`
		Reason      string              `json:"reason"`
	} `json:"timeline"`
}

func TestWriteTimelineJSON(t *testing.T) {
	for _, forecast := range []bool{false, true} {
		r := smallResult(forecast)
		var b bytes.Buffer
		if err := WriteTimelineJSON(&b, testPolicy(), r); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b.Bytes()) {
			t.Fatalf("invalid JSON:\n%s", b.String())
		}
		if got := strings.Contains(b.String(), `"forecast":{`); got != forecast {
			t.Errorf("forecast=%v: forecast object present = %v", forecast, got)
		}
		var out timelineJSON
		if err := json.Unmarshal(b.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		if out.Summary != r.Summary {
			t.Errorf("summary %+v, want %+v", out.Summary, r.Summary)
		}
		if len(out.Timeline) != len(r.Times) {
			t.Fatalf("%d entries, want %d", len(out.Timeline), len(r.Times))
		}
		for i, e := range out.Timeline {
			if e.Time.UnixNano() != r.Times[i] {
				t.Errorf("%d: time %v", i, e.Time)
			}
			for j, m := range testPolicy().Metrics {
				checkJSONFloat(t, m.Name, e.Values, r.Observed[j][i])
				if forecast {
					checkJSONFloat(t, "forecast "+m.Name, e.Forecast, r.Forecast[j][i])
				}
			}
			if e.Needed != r.Needed[i] || e.Desired != r.Desired[i] || e.Ready != r.Ready[i] {
				t.Errorf("%d: sizes %d/%d/%d", i, e.Needed, e.Desired, e.Ready)
			}
			if want := string(appendReason(nil, r.Rows[i])); e.Reason != want {
				t.Errorf("%d: reason %q, want %q", i, e.Reason, want)
			}
		}
	}
}

func checkJSONFloat(t *testing.T, name string, m map[string]*float64, want float64) {
	t.Helper()
	got, ok := m[strings.TrimPrefix(name, "forecast ")]
	switch {
	case !ok:
		t.Errorf("%s: key missing", name)
	case math.IsNaN(want) && got != nil:
		t.Errorf("%s: got %v, want null", name, *got)
	case !math.IsNaN(want) && (got == nil || *got != want):
		t.Errorf("%s: got %v, want %v", name, got, want)
	}
}

func TestWriteTimelineJSONEscapesNames(t *testing.T) {
	p := testPolicy()
	p.Metrics[0].Name = "a\"b\\<c>"
	var b bytes.Buffer
	if err := WriteTimelineJSON(&b, p, smallResult(true)); err != nil {
		t.Fatal(err)
	}
	var out timelineJSON
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Timeline[0].Values[p.Metrics[0].Name]; !ok {
		t.Errorf("key %q missing from %v", p.Metrics[0].Name, out.Timeline[0].Values)
	}
}

func TestAppendJSONFloat(t *testing.T) {
	for _, v := range []float64{0, 1, -2.5, 1e-7, 123456789, 1e21, 1.5e300, 5e-324} {
		got := appendJSONFloat(nil, v)
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", v, got, want)
		}
	}
	for _, v := range []float64{nan, math.Inf(1), math.Inf(-1)} {
		if got := string(appendJSONFloat(nil, v)); got != "null" {
			t.Errorf("%v: got %s, want null", v, got)
		}
	}
}

func TestShapeMismatch(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *simulate.Result)
	}{
		{"short rows", func(r *simulate.Result) { r.Rows = r.Rows[:2] }},
		{"missing metric column", func(r *simulate.Result) { r.Observed = r.Observed[:1] }},
		{"short metric column", func(r *simulate.Result) { r.Observed[1] = r.Observed[1][:1] }},
		{"short forecast column", func(r *simulate.Result) { r.Forecast[0] = nil }},
		{"missing weekly column", func(r *simulate.Result) { r.Weekly = r.Weekly[:1] }},
		{"short weekly column", func(r *simulate.Result) { r.Weekly[1] = r.Weekly[1][:2] }},
		{"missing season_scale column", func(r *simulate.Result) { r.SeasonScale = r.SeasonScale[:1] }},
		{"short season_scale column", func(r *simulate.Result) { r.SeasonScale[0] = r.SeasonScale[0][:1] }},
	}
	writers := map[string]func(io.Writer, policy.Policy, *simulate.Result) error{
		"csv":  WriteTimelineCSV,
		"json": WriteTimelineJSON,
		"html": func(w io.Writer, p policy.Policy, r *simulate.Result) error {
			return WriteHTML(w, HTMLOptions{}, p, r, r.Summary)
		},
	}
	for _, tt := range tests {
		for wn, write := range writers {
			r := scaledResult()
			tt.mutate(r)
			if err := write(io.Discard, testPolicy(), r); !errors.Is(err, ErrMismatch) {
				t.Errorf("%s/%s: got %v, want ErrMismatch", tt.name, wn, err)
			}
		}
	}
}

func TestWriteSummary(t *testing.T) {
	s := simulate.Summary{Samples: 11520, Evaluations: 23040, InstanceHours: 1234.56, UnderProvisionedSamples: 12,
		UnderProvisionedFraction: 12.0 / 11520, ScaleOuts: 41, ScaleIns: 38, ActionsPerDay: 9.875, PeakSize: 24, StaleSamples: 0,
		Reversals: 17, Damped: 230}
	var b strings.Builder
	if err := WriteSummary(&b, s); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"samples                     11520\n" +
		"evaluations                 23040\n" +
		"instance-hours             1234.6\n" +
		"under-provisioned samples      12  (0.10%)\n" +
		"scale-out actions              41\n" +
		"scale-in actions               38\n" +
		"actions per day               9.9\n" +
		"peak size                      24\n" +
		"stale samples                   0\n" +
		"reversals                      17\n" +
		"damped decisions              230\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// BenchmarkWriteTimelineCSV reports the per-row cost the 2M samples/s
// pipeline budget (500 ns per row) is measured against.
func BenchmarkWriteTimelineCSV(b *testing.B) {
	p, r := synthetic(100_000, true, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := WriteTimelineCSV(io.Discard, p, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.Times)), "ns/row")
}

// BenchmarkWriteTimelineCSVTraceValues is BenchmarkWriteTimelineCSV with
// the values a recorded trace holds (three decimals, as a CSV trace
// states them) instead of arbitrary floats: the shape the float appenders'
// fast paths are for.
func BenchmarkWriteTimelineCSVTraceValues(b *testing.B) {
	p, r := synthetic(100_000, true, 0)
	for _, col := range r.Observed {
		for i, v := range col {
			col[i] = math.Round(v*1000) / 1000
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := WriteTimelineCSV(io.Discard, p, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.Times)), "ns/row")
}

func BenchmarkWriteTimelineJSON(b *testing.B) {
	p, r := synthetic(100_000, true, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := WriteTimelineJSON(io.Discard, p, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(r.Times)), "ns/row")
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriterErrorsSurface(t *testing.T) {
	p, r := synthetic(20_000, true, 0)
	boom := errors.New("boom")
	writers := map[string]func(io.Writer) error{
		"csv":     func(w io.Writer) error { return WriteTimelineCSV(w, p, r) },
		"json":    func(w io.Writer) error { return WriteTimelineJSON(w, p, r) },
		"summary": func(w io.Writer) error { return WriteSummary(w, r.Summary) },
		"html":    func(w io.Writer) error { return WriteHTML(w, HTMLOptions{}, p, r, r.Summary) },
	}
	for name, write := range writers {
		if err := write(failingWriter{boom}); !errors.Is(err, boom) {
			t.Errorf("%s: got %v, want the writer's error", name, err)
		}
	}
}

// TestTimelineCSVInStretches: written a stretch of rows at a time, as it
// follows a running replay, the CSV is byte for byte the one written at once,
// whatever the stretches (repeated or past the end included).
func TestTimelineCSVInStretches(t *testing.T) {
	p, r := synthetic(5000, true, 3)
	var whole bytes.Buffer
	if err := WriteTimelineCSV(&whole, p, r); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ends []int
	}{
		{"row by row, then the rest", []int{1, 2, 3, 5000}},
		{"chunks", []int{2048, 4096, 5000}},
		{"repeated and shrinking ends", []int{10, 10, 7, 4000, 5000}},
		{"past the end", []int{9000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			w, err := NewTimelineCSV(&b, p, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, end := range tc.ends {
				if err := w.WriteRows(end); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), whole.Bytes()) {
				t.Fatalf("%d bytes in stretches, %d at once", b.Len(), whole.Len())
			}
		})
	}
	bad := *r
	bad.Rows = bad.Rows[:10]
	if _, err := NewTimelineCSV(io.Discard, p, &bad); !errors.Is(err, ErrMismatch) {
		t.Fatalf("mismatched result: %v, want ErrMismatch", err)
	}
}
