package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

var histStart = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

// buckets makes n buckets of step from histStart, value f(i); f returning
// NaN leaves bucket i out, as an empty bucket is left out of a window.
func buckets(n int, step time.Duration, f func(i int) float64) []api.HistoryBucket {
	var out []api.HistoryBucket
	for i := range n {
		if v := f(i); !math.IsNaN(v) {
			out = append(out, api.HistoryBucket{Time: histStart.Add(time.Duration(i) * step), Value: v})
		}
	}
	return out
}

// daily is a daily cycle between lo and hi over 5-minute buckets.
func daily(lo, hi float64) func(int) float64 {
	return func(i int) float64 {
		return lo + (hi-lo)*(1-math.Cos(2*math.Pi*float64(i)/288))/2
	}
}

func mustPolicy(t *testing.T, doc string) policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return p
}

// TestHistoryTraceRoundTrip: the history CSV parses back (trace.Parse,
// as capstan simulate reads it) to the recorded buckets: one time column,
// one column per metric named as in the policy, empty cells where a
// metric has no bucket, and cpu demand recovered exactly as utilization ×
// the recorded size the CSV states.
func TestHistoryTraceRoundTrip(t *testing.T) {
	step := 5 * time.Minute
	nan := math.NaN()
	tests := []struct {
		name         string
		history      []api.MetricHistory
		ready        int
		wantCols     []string
		wantRows     int
		wantRecorded int
	}{
		{name: "request rate and a queue with a gap", ready: 3,
			history: []api.MetricHistory{
				{Metric: "rps", Type: "request_rate", Buckets: buckets(10, step, daily(100, 900))},
				{Metric: "jobs", Type: "queue_depth", Buckets: buckets(12, step, func(i int) float64 {
					if i == 4 {
						return nan
					}
					return float64(i * 7)
				})},
			},
			wantCols: []string{"rps", "jobs"}, wantRows: 12},
		{name: "cpu over the ready size", ready: 4,
			history:  []api.MetricHistory{{Metric: "cpu", Type: "cpu", Buckets: buckets(6, step, func(i int) float64 { return 120 + float64(i)*10.5 })}},
			wantCols: []string{"cpu", api.RecordedSizeColumn}, wantRows: 6, wantRecorded: 4},
		{name: "cpu demand above what the ready size carries raises the recorded size", ready: 2,
			history:  []api.MetricHistory{{Metric: "cpu", Type: "cpu", Buckets: buckets(3, step, func(i int) float64 { return []float64{150, 350, 90}[i] })}},
			wantCols: []string{"cpu", api.RecordedSizeColumn}, wantRows: 3, wantRecorded: 4},
		{name: "cpu before any evaluation", ready: 0,
			history:  []api.MetricHistory{{Metric: "cpu", Type: "cpu", Buckets: buckets(2, step, func(int) float64 { return 40 })}, {Metric: "rps", Type: "request_rate", Buckets: []api.HistoryBucket{}}},
			wantCols: []string{"cpu", "rps", api.RecordedSizeColumn}, wantRows: 2, wantRecorded: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := api.Recording{Policy: api.PolicyRecord{Policy: policy.Policy{ID: "web"}}, History: tc.history, Ready: tc.ready}
			tr, recorded, err := api.HistoryTrace(rec)
			if err != nil {
				t.Fatal(err)
			}
			if recorded != tc.wantRecorded {
				t.Errorf("recorded size %d, want %d", recorded, tc.wantRecorded)
			}
			var csv bytes.Buffer
			if err := api.WriteTraceCSV(&csv, tr); err != nil {
				t.Fatal(err)
			}
			got, err := trace.Parse(&csv, trace.Options{})
			if err != nil {
				t.Fatalf("trace.Parse of the history CSV: %v\n%s", err, csv.String())
			}
			if !slices.Equal(got.Columns, tc.wantCols) || len(got.Times) != tc.wantRows {
				t.Fatalf("columns %v and %d rows, want %v and %d", got.Columns, len(got.Times), tc.wantCols, tc.wantRows)
			}
			if tc.wantRecorded > 0 {
				rc, _ := got.Column(api.RecordedSizeColumn)
				for i, v := range got.Values[rc] {
					if v != float64(tc.wantRecorded) {
						t.Fatalf("row %d: recorded size %v, want %d", i, v, tc.wantRecorded)
					}
				}
			}
			for _, h := range tc.history {
				c, _ := got.Column(h.Metric)
				seen := 0
				for i, ts := range got.Times {
					at := time.Unix(0, ts).UTC()
					j := slices.IndexFunc(h.Buckets, func(b api.HistoryBucket) bool { return b.Time.Equal(at) })
					v := got.Values[c][i]
					if j < 0 {
						if !math.IsNaN(v) {
							t.Errorf("%s at %s: %v, want an empty cell (no bucket)", h.Metric, at, v)
						}
						continue
					}
					seen++
					want := h.Buckets[j].Value
					if h.Type == "cpu" {
						if v > 100 {
							t.Errorf("%s at %s: utilization %v over 100 %%", h.Metric, at, v)
						}
						v *= float64(tc.wantRecorded) // simulate's load model
					}
					if math.Abs(v-want) > 1e-9*math.Max(1, want) {
						t.Errorf("%s at %s: %v, want %v", h.Metric, at, v, want)
					}
				}
				if seen != len(h.Buckets) {
					t.Errorf("%s: %d of %d buckets in the CSV", h.Metric, seen, len(h.Buckets))
				}
			}
		})
	}
}

// TestHistoryTraceRefuses: nothing recorded, and a metric named like a
// trace's time column, are errors that say so.
func TestHistoryTraceRefuses(t *testing.T) {
	tests := []struct {
		name    string
		history []api.MetricHistory
		is      error
		msg     string
	}{
		{name: "no samples yet", history: []api.MetricHistory{{Metric: "rps", Type: "request_rate"}}, is: api.ErrConflict, msg: "no recorded history"},
		{name: "a metric named time", history: []api.MetricHistory{{Metric: "time", Type: "request_rate", Buckets: buckets(2, time.Minute, daily(1, 2))}},
			is: api.ErrBadRequest, msg: "metrics[0].name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.HistoryTrace(api.Recording{Policy: api.PolicyRecord{Policy: policy.Policy{ID: "web"}}, History: tc.history})
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %v, want %v naming %q", err, tc.is, tc.msg)
			}
		})
	}
}

// TestJudge: a candidate is no worse only when no figure grows; each
// figure that grows is named, cost only when both runs are priced alike,
// and instance-hours within rounding are equal.
func TestJudge(t *testing.T) {
	base := simulate.Summary{UnderProvisionedSamples: 10, InstanceHours: 100, ScaleOuts: 5, ScaleIns: 5}
	priced := func(s simulate.Summary, cost float64, cur string) simulate.Summary {
		s.Cost, s.Currency = cost, cur
		return s
	}
	with := func(f func(*simulate.Summary)) simulate.Summary {
		s := base
		f(&s)
		return s
	}
	tests := []struct {
		name      string
		stored    simulate.Summary
		candidate simulate.Summary
		worse     []string
	}{
		{"the same", base, base, nil},
		{"better on everything", base, with(func(s *simulate.Summary) { s.UnderProvisionedSamples, s.InstanceHours, s.ScaleIns = 3, 80, 1 }), nil},
		{"more under-provisioning", base, with(func(s *simulate.Summary) { s.UnderProvisionedSamples = 11 }), []string{api.FigureUnderProvisioned}},
		{"cheaper but under-provisioned", base, with(func(s *simulate.Summary) { s.UnderProvisionedSamples, s.InstanceHours = 40, 60 }), []string{api.FigureUnderProvisioned}},
		{"more instance-hours", base, with(func(s *simulate.Summary) { s.InstanceHours = 100.5 }), []string{api.FigureInstanceHours}},
		{"instance-hours within rounding", base, with(func(s *simulate.Summary) { s.InstanceHours = 100 * (1 + 1e-12) }), nil},
		{"more actions", base, with(func(s *simulate.Summary) { s.ScaleOuts = 6 }), []string{api.FigureActions}},
		{"worse on all", base, with(func(s *simulate.Summary) { s.UnderProvisionedSamples, s.InstanceHours, s.ScaleOuts = 12, 101, 9 }),
			[]string{api.FigureUnderProvisioned, api.FigureInstanceHours, api.FigureActions}},
		{"a dearer price", priced(base, 19.2, "USD"), priced(base, 25, "USD"), []string{api.FigureCost}},
		{"another currency is not compared", priced(base, 19.2, "USD"), priced(base, 25, "EUR"), nil},
		{"an unpriced candidate is not compared", priced(base, 19.2, "USD"), base, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := api.Judge(tc.stored, tc.candidate)
			if !slices.Equal(v.Worse, tc.worse) && (len(v.Worse) != 0 || tc.worse != nil) {
				t.Errorf("worse %v, want %v (%s)", v.Worse, tc.worse, v.Text)
			}
			if v.NoWorse != (len(tc.worse) == 0) {
				t.Errorf("no_worse %v with worse %v", v.NoWorse, v.Worse)
			}
			if v.NoWorse && v.Text != "no worse on all figures" || !v.NoWorse && !strings.HasPrefix(v.Text, "worse on: ") {
				t.Errorf("text %q", v.Text)
			}
		})
	}
}

const rpsPolicy = `id: web
target: {provider: fake, group: web}
min: 1
max: 50
warmup: 60s
evaluation_interval: 60s
stale_after: 10m
metrics:
  - {name: rps, type: request_rate, target: 100}
  - {name: cpu, type: cpu, target: 60}
`

// twoDays is two days of 5-minute history of rps and cpu demand; the rps
// has a ±15 % ripple from bucket to bucket, as real traffic does, which a
// policy without a scale-in stabilization follows down and back up.
func twoDays() api.Recording {
	step := 5 * time.Minute
	smooth := daily(200, 2000)
	rippled := func(i int) float64 { return smooth(i) * (1 + 0.15*math.Sin(2.4*float64(i))) }
	return api.Recording{
		Policy: api.PolicyRecord{Version: 7},
		History: []api.MetricHistory{
			{Metric: "rps", Type: "request_rate", Step: "5m0s", Buckets: buckets(576, step, rippled)},
			{Metric: "cpu", Type: "cpu", Step: "5m0s", Buckets: buckets(576, step, daily(300, 900))},
		},
		Ready: 10,
	}
}

// TestReplayHistory: the stored policy and a candidate replay over the
// same history; the verdict follows their figures, and a candidate that
// does not fit the history is refused naming the field.
func TestReplayHistory(t *testing.T) {
	stored := mustPolicy(t, rpsPolicy)
	rec := twoDays()
	rec.Policy.Policy = stored
	tr, _, err := api.HistoryTrace(rec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		candidate string
		noWorse   bool
		worse     string // a figure that must be named
		field     string // a refusal naming this field
	}{
		{name: "the stored policy itself", candidate: rpsPolicy, noWorse: true},
		{name: "a lower target costs instance-hours", candidate: strings.Replace(rpsPolicy, "target: 100", "target: 50", 1), worse: api.FigureInstanceHours},
		{name: "a slower warmup under-provisions", candidate: strings.Replace(rpsPolicy, "warmup: 60s", "warmup: 30m", 1), worse: api.FigureUnderProvisioned},
		{name: "no stabilization churns", candidate: rpsPolicy + "scale_in: {stabilization: 0s, max_step: {instances: 100, percent: 100}}\n", worse: api.FigureActions},
		{name: "a metric with no history", candidate: strings.Replace(rpsPolicy, "name: rps", "name: qps", 1), field: "metrics[0].name"},
		{name: "a metric of another type", candidate: strings.Replace(rpsPolicy, "{name: rps, type: request_rate", "{name: rps, type: queue_depth", 1), field: "metrics[0].type"},
		{name: "too many evaluations", candidate: strings.Replace(strings.Replace(rpsPolicy, "evaluation_interval: 60s", "evaluation_interval: 1s", 1), "stale_after: 10m", "stale_after: 10s", 1),
			field: "evaluation_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cand := mustPolicy(t, tc.candidate)
			if tc.field == "evaluation_interval" {
				// two days at 1 s is 172,800 evaluations: stretch the
				// history's span past the bound without more buckets.
				long := *tr
				long.Times = slices.Clone(tr.Times)
				long.Times[len(long.Times)-1] += int64(30 * 24 * time.Hour)
				rp, err := api.ReplayHistory(&long, stored, cand)
				checkField(t, rp, err, tc.field)
				return
			}
			rp, err := api.ReplayHistory(tr, stored, cand)
			if tc.field != "" {
				checkField(t, rp, err, tc.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := rp.WhatIf
			if w.Verdict.NoWorse != tc.noWorse || tc.worse != "" && !slices.Contains(w.Verdict.Worse, tc.worse) {
				t.Errorf("verdict %+v, want no_worse %v naming %q\nstored %+v\ncandidate %+v", w.Verdict, tc.noWorse, tc.worse, w.Stored, w.Candidate)
			}
			if w.History.Samples != 576 || w.History.Step != "5m0s" || w.History.RecordedSize != 10 || !w.History.From.Equal(histStart) {
				t.Errorf("history %+v", w.History)
			}
			if w.Stored.Samples != 576 || rp.Stored == nil || rp.Candidate == nil || len(rp.Candidate.Desired) != 576 {
				t.Errorf("the runs are not the whole history: %+v", w.Stored)
			}
			if _, err := json.Marshal(w); err != nil {
				t.Errorf("the answer does not encode: %v", err)
			}
		})
	}
	t.Run("one bucket", func(t *testing.T) {
		one := *tr
		one.Times, one.Values = tr.Times[:1], [][]float64{tr.Values[0][:1], tr.Values[1][:1], tr.Values[2][:1]}
		if _, err := api.ReplayHistory(&one, stored, stored); !errors.Is(err, api.ErrConflict) {
			t.Errorf("err %v, want ErrConflict", err)
		}
	})
}

func checkField(t *testing.T, rp *api.Replay, err error, field string) {
	t.Helper()
	var ve *policy.ValidationError
	if !errors.As(err, &ve) || rp != nil {
		t.Fatalf("err %v, want a validation error naming %s", err, field)
	}
	if !slices.ContainsFunc(ve.Fields, func(f policy.FieldError) bool { return f.Path == field }) {
		t.Errorf("fields %+v, want %s", ve.Fields, field)
	}
}

// TestSimulateRoute: POST /v1/policies/{id}/simulate replays a YAML or
// JSON candidate beside the stored policy over the node's history and
// writes nothing; GET .../history?format=csv is the trace it replays.
func TestSimulateRoute(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	n.b.SetStatus(api.PolicyStatus{ID: "web", Ready: 3, Desired: 3})
	c := api.NewClient(n.srv.URL, nil)
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-50 * time.Minute)
	var samples []api.Sample
	for i := range 300 { // 50 minutes, one sample each 10 s bucket
		ts := at.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples, api.Sample{Policy: "web", Metric: "cpu", Time: ts, Value: 30 + float64(i%60)},
			api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: 150 + float64(i)})
	}
	if _, err := c.PushMetrics(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
	csv, err := c.HistoryCSV(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trace.ParseBytes(csv, trace.Options{})
	if err != nil || len(tr.Times) != 300 || !slices.Equal(tr.Columns, []string{"cpu", "rps", api.RecordedSizeColumn}) {
		t.Fatalf("history CSV: %v, columns %v\n%.300s", err, tr, csv)
	}
	if r := send(t, "GET", n.srv.URL+"/v1/policies/web/history?format=csv", nil, ""); !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("Content-Type %q, want text/csv", r.header.Get("Content-Type"))
	}

	writes := n.b.Writes()
	tests := []struct {
		name, ctype, body string
		noWorse           bool
	}{
		{"the stored policy as JSON", "application/json", webJSON, true},
		{"a lower rps target as YAML", "application/yaml", strings.Replace(strings.Replace(webJSON, `"target":100`, `"target":20`, 1), "\n", " ", -1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := c.Simulate(context.Background(), "web", []byte(tc.body), tc.ctype)
			if err != nil {
				t.Fatal(err)
			}
			if w.Verdict.NoWorse != tc.noWorse || w.Policy != "web" || w.StoredVersion == 0 || w.History.Samples != 300 || w.History.RecordedSize < 3 {
				t.Errorf("answer %+v", w)
			}
			if !tc.noWorse && !slices.Contains(w.Verdict.Worse, api.FigureInstanceHours) {
				t.Errorf("a lower target should cost instance-hours: %+v", w.Verdict)
			}
		})
	}
	if n.b.Writes() != writes {
		t.Errorf("simulate committed %d write(s); it must write nothing", n.b.Writes()-writes)
	}
}

// TestSimulateRouteRefuses: bad candidates and requests are refused with
// the field named, and nothing is written.
func TestSimulateRouteRefuses(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.MaxBodyBytes = 2048 })
	putWeb(t, n)
	if err := n.b.DeletePolicy(context.Background(), "web", ""); err != nil {
		t.Fatal(err)
	}
	putWeb(t, n) // no samples yet
	writes := n.b.Writes()
	json := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, path string
		hdr        map[string]string
		body       string
		status     int
		code       string
		field      string
	}{
		{"invalid candidate", "/v1/policies/web/simulate", json, strings.Replace(webJSON, `"max":10`, `"max":0`, 1), 400, api.CodeInvalidPolicy, "max"},
		{"id differs from the URL", "/v1/policies/web/simulate", json, strings.Replace(webJSON, `"id":"web"`, `"id":"api"`, 1), 400, api.CodeInvalidPolicy, "id"},
		{"malformed JSON", "/v1/policies/web/simulate", json, `{"id":`, 400, api.CodeBadRequest, ""},
		{"not a policy type", "/v1/policies/web/simulate", map[string]string{"Content-Type": "text/plain"}, webJSON, 415, "unsupported_media_type", ""},
		{"oversized", "/v1/policies/web/simulate", json, webJSON + strings.Repeat(" ", 4096), 413, "body_too_large", ""},
		{"unknown policy", "/v1/policies/nope/simulate", json, strings.Replace(webJSON, `"id":"web"`, `"id":"nope"`, 1), 404, api.CodeNotFound, ""},
		{"no history yet", "/v1/policies/web/simulate", json, webJSON, 409, api.CodeConflict, ""},
		{"history in an unknown format", "/v1/policies/web/history?format=xml", nil, "", 400, api.CodeBadRequest, "format"},
		{"history CSV with no history yet", "/v1/policies/web/history?format=csv", nil, "", 409, api.CodeConflict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			r := send(t, method, n.srv.URL+tc.path, tc.hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			e := r.errBody(t)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			if tc.field != "" && !slices.ContainsFunc(e.Fields, func(f policy.FieldError) bool { return f.Path == tc.field }) {
				t.Errorf("fields %+v, want %s", e.Fields, tc.field)
			}
		})
	}
	if n.b.Writes() != writes {
		t.Errorf("refused requests committed %d write(s)", n.b.Writes()-writes)
	}
}

// TestReplayScoredAgainstStored: both runs' under-provisioning is scored
// against the stored policy's targets, not each run's own: a candidate
// with a higher target is under-provisioned by the operator's bar even
// where its own laxer bar finds it enough, and one with a lower target is
// not judged by its own stricter bar.
func TestReplayScoredAgainstStored(t *testing.T) {
	stored := mustPolicy(t, rpsPolicy)
	rec := twoDays()
	rec.Policy.Policy = stored
	tr, recorded, err := api.HistoryTrace(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to string
		underWorse     bool
	}{
		{"a laxer target under-provisions", "target: 100", "target: 200", true},
		{"a stricter target does not", "target: 100", "target: 50", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cand := mustPolicy(t, strings.Replace(rpsPolicy, tc.from, tc.to, 1))
			rp, err := api.ReplayHistory(tr, stored, cand)
			if err != nil {
				t.Fatal(err)
			}
			w := rp.WhatIf
			if w.ScoredAgainst != api.ScoredAgainstStored {
				t.Errorf("scored_against %q", w.ScoredAgainst)
			}
			// The candidate scored by its own bar, as before.
			own, err := simulate.Run(simulate.Config{Policy: cand, RecordedSize: recorded}, simulate.Series{Times: tr.Times, Values: tr.Values[:2]})
			if err != nil {
				t.Fatal(err)
			}
			got, ownCount, storedCount := w.Candidate.UnderProvisionedSamples, own.Summary.UnderProvisionedSamples, w.Stored.UnderProvisionedSamples
			if own.Summary.InstanceHours != w.Candidate.InstanceHours {
				t.Fatalf("the bar changed the candidate's run: %v instance-hours, %v by its own bar", w.Candidate.InstanceHours, own.Summary.InstanceHours)
			}
			if tc.underWorse {
				if got <= storedCount || ownCount >= got {
					t.Errorf("under-provisioned: candidate %d by the stored bar, %d by its own, stored %d; want more than stored, fewer by its own", got, ownCount, storedCount)
				}
			} else if got > storedCount || ownCount <= got {
				t.Errorf("under-provisioned: candidate %d by the stored bar, %d by its own, stored %d; want at most stored, more by its own", got, ownCount, storedCount)
			}
			if slices.Contains(w.Verdict.Worse, api.FigureUnderProvisioned) != tc.underWorse {
				t.Errorf("verdict %+v", w.Verdict)
			}
		})
	}
}

// TestHistoryStatesDefaultPrices: the history CSV's answer states the
// node's default prices in the agent flags' forms (none without any), a
// client reads them back, and one it cannot read is an error naming the
// header.
func TestHistoryStatesDefaultPrices(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-time.Minute)
	if _, err := api.NewClient(n.srv.URL, nil).PushMetrics(context.Background(), []api.Sample{{Policy: "web", Metric: "rps", Time: at, Value: 1}}); err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(n.srv.URL, nil)
	ans, err := c.HistoryDownload(context.Background(), "web", "")
	if err != nil || ans.DefaultCosts != nil || len(ans.CSV) == 0 {
		t.Fatalf("without default prices: %v %+v", err, ans.DefaultCosts)
	}
	costs := map[string]policy.Cost{"aws": {PerInstanceHour: 0.096, Currency: "EUR"}, "gcp": {PerInstanceHour: 0.0949, Currency: "EUR"}}
	n.b.SetDefaultCosts(costs)
	r := send(t, "GET", n.srv.URL+"/v1/policies/web/history?format=csv", nil, "")
	if got, cur := r.header.Get(api.HeaderDefaultPrice), r.header.Get(api.HeaderDefaultPriceCurrency); got != "aws=0.096,gcp=0.0949" || cur != "EUR" {
		t.Fatalf("headers %q %q", got, cur)
	}
	if ans, err = c.HistoryDownload(context.Background(), "web", ""); err != nil || !reflect.DeepEqual(ans.DefaultCosts, costs) {
		t.Fatalf("read back %v %+v, want %+v", err, ans.DefaultCosts, costs)
	}
	for _, tc := range []struct{ price, currency, want string }{
		{"aws=free", "USD", api.HeaderDefaultPrice},
		{"mars=1", "USD", api.HeaderDefaultPrice},
		{"aws=1", "usd", api.HeaderDefaultPriceCurrency},
		{"", "USD", api.HeaderDefaultPrice},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(api.HeaderDefaultPrice, tc.price)
			w.Header().Set(api.HeaderDefaultPriceCurrency, tc.currency)
			w.Write([]byte("time,rps\n"))
		}))
		_, err := api.NewClient(srv.URL, nil).HistoryDownload(context.Background(), "web", "")
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want+" header") {
			t.Errorf("%q %q: err %v, want one naming %s", tc.price, tc.currency, err, tc.want)
		}
	}
}

// TestHistoryTraceReadySizes: a recording with the group's sizes gives
// the trace a ready-size column, the size in force at each row (empty
// before the first), which parses back; a replay starts both runs at the
// first row's size (or the first size recorded after it), and a column
// that is not whole instances is refused.
func TestHistoryTraceReadySizes(t *testing.T) {
	// Scale-in paced at an instance per 5 minutes, so the size a replay
	// starts at shows in its instance-hours: the group comes down from it
	// step by step instead of at the first evaluation.
	stored := mustPolicy(t, rpsPolicy+"scale_in: {max_step: {instances: 1, percent: 1, period: 5m}}\n")
	rec := twoDays()
	rec.Policy.Policy = stored
	step := 5 * time.Minute
	rec.Sizes = []api.SizeAt{{Time: histStart.Add(-time.Hour), Ready: 14}, {Time: histStart.Add(2*step + time.Second), Ready: 7}, {Time: histStart.Add(4 * step), Ready: 6}}
	tr, _, err := api.HistoryTrace(rec)
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := api.WriteTraceCSV(&csv, tr); err != nil {
		t.Fatal(err)
	}
	back, err := trace.ParseBytes(csv.Bytes(), trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := back.Column(api.ReadySizeColumn)
	if !ok || !slices.Equal(back.Columns, []string{"rps", "cpu", api.RecordedSizeColumn, api.ReadySizeColumn}) {
		t.Fatalf("columns %v", back.Columns)
	}
	if got, want := back.Values[idx][:6], []float64{14, 14, 14, 7, 6, 6}; !slices.Equal(got, want) {
		t.Fatalf("ready sizes %v, want %v", got, want)
	}
	rp, err := api.ReplayHistory(back, stored, stored)
	if err != nil {
		t.Fatal(err)
	}
	if rp.WhatIf.History.InitialSize != 14 || rp.Stored.Desired[0] != rp.Candidate.Desired[0] {
		t.Fatalf("initial size %d, first sizes %d %d", rp.WhatIf.History.InitialSize, rp.Stored.Desired[0], rp.Candidate.Desired[0])
	}
	if slices.ContainsFunc(rp.WhatIf.Warnings, func(w string) bool { return strings.Contains(w, "no group size") }) {
		t.Fatalf("warned of no size: %q", rp.WhatIf.Warnings)
	}
	// Without sizes the group starts at what the targets ask for (5: a cpu
	// demand of 300 at a target of 60): another first hour.
	plain := twoDays()
	plain.Policy.Policy = stored
	ptr, _, _ := api.HistoryTrace(plain)
	rp0, err := api.ReplayHistory(ptr, stored, stored)
	if err != nil || rp0.WhatIf.History.InitialSize != 0 || rp0.Stored.Summary.InstanceHours == rp.Stored.Summary.InstanceHours {
		t.Fatalf("without sizes: %v, initial %d, %v instance-hours both ways", err, rp0.WhatIf.History.InitialSize, rp.Stored.Summary.InstanceHours)
	}
	if !slices.ContainsFunc(rp0.WhatIf.Warnings, func(w string) bool { return strings.Contains(w, "no group size in any bucket") }) {
		t.Fatalf("no warning of the missing size: %q", rp0.WhatIf.Warnings)
	}
	// A history that begins before its first size (a fresh cluster):
	// empty there, and the replay starts at the first size recorded,
	// without the warning.
	late := rec
	late.Sizes = rec.Sizes[1:]
	ltr, _, _ := api.HistoryTrace(late)
	if !math.IsNaN(ltr.Values[3][0]) {
		t.Fatalf("before the first size: %v", ltr.Values[3][0])
	}
	rpl, err := api.ReplayHistory(ltr, stored, stored)
	if err != nil || rpl.WhatIf.History.InitialSize != 7 {
		t.Fatalf("sizes from the third bucket: %v, initial %d", err, rpl.WhatIf.History.InitialSize)
	}
	if slices.ContainsFunc(rpl.WhatIf.Warnings, func(w string) bool { return strings.Contains(w, "no group size") }) {
		t.Fatalf("warned of no size with one recorded later: %q", rpl.WhatIf.Warnings)
	}
	for _, bad := range []float64{-1, 2.5, 2e6} {
		b := *back
		b.Values = slices.Clone(back.Values)
		b.Values[idx] = slices.Clone(back.Values[idx])
		b.Values[idx][3] = bad
		if _, err := api.ReplayHistory(&b, stored, stored); !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), api.ReadySizeColumn) {
			t.Errorf("ready size %v: %v", bad, err)
		}
	}
}

// TestTraceInitialSize: the size a replay starts at is the ready size at
// the trace's first row, else the first one recorded after it, else 0.
func TestTraceInitialSize(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		columns []string
		sizes   []float64 // the ready-size column, when columns has it
		want    int
		wantErr bool
	}{
		{"at the first row", []string{"rps", api.ReadySizeColumn}, []float64{4, 7, 6}, 4, false},
		{"first recorded after the first row", []string{"rps", api.ReadySizeColumn}, []float64{nan, nan, 7, 6}, 7, false},
		{"a recorded zero is a size", []string{"rps", api.ReadySizeColumn}, []float64{nan, 0, 3}, 0, false},
		{"none recorded", []string{"rps", api.ReadySizeColumn}, []float64{nan, nan, nan}, 0, false},
		{"no column", []string{"rps"}, nil, 0, false},
		{"not whole, after the first value", []string{"rps", api.ReadySizeColumn}, []float64{nan, 3, 2.5}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := max(len(tc.sizes), 3)
			tr := &trace.Trace{Columns: tc.columns, Times: make([]int64, n), Values: make([][]float64, len(tc.columns))}
			for i := range tr.Times {
				tr.Times[i] = histStart.Add(time.Duration(i) * time.Minute).UnixNano()
			}
			tr.Values[0] = make([]float64, n)
			if len(tc.columns) > 1 {
				tr.Values[1] = tc.sizes
			}
			got, err := api.TraceInitialSize(tr)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, api.ErrBadRequest)) {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("initial size %d, want %d", got, tc.want)
			}
		})
	}
}
