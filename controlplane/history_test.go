package controlplane

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestReplicatedHistoryGivesTheSameForecast feeds four days of a daily
// cycle through the FSM, moves the state to another node by snapshot, and
// has a leader with no model state on each node evaluate: both fit their
// model from the replicated history and forecast the same, at once.
func TestReplicatedHistoryGivesTheSameForecast(t *testing.T) {
	p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 1
max: 100
evaluation_interval: 1m
metrics: [{name: rps, type: request_rate, target: 100}]
predictive: {mode: forecast-and-scale, lead: 10m, season: 24h, history: 7d}
stale_after: 5m
`))
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{f: NewFSM(10)}
	a.apply(t, store.PutPolicy{Policy: p})
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var batch []api.Sample
	var last api.Sample
	for i := 0; i < 4*24*60; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		v := 2000 + 1500*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%7)
		last = api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: v}
		batch = append(batch, last)
		if len(batch) == 500 {
			a.apply(t, store.Samples{Samples: toStoreSamples(batch)})
			batch = nil
		}
	}
	a.apply(t, store.Samples{Samples: toStoreSamples(batch)})

	_, b := snapshotRoundTrip(t, a.f)

	now := last.Time
	forecast := func(f *FSM) policy.MetricProposal {
		var s policy.State
		if !s.NeedsHistory(p, now) {
			t.Fatal("a leader without models should need history")
		}
		in := policy.Inputs{Current: 20, Ready: 20, History: f.history("web", now)}
		in.Metrics[0] = policy.Sample{Time: last.Time, Value: last.Value, Present: true}
		if len(in.History[0].Values) < 3*24*12 {
			t.Fatalf("history has %d buckets, want at least three days of 5-minute buckets", len(in.History[0].Values))
		}
		return policy.Evaluate(p, in, s, now).Metrics[0]
	}
	fa, fb := forecast(a.f), forecast(b)
	if math.IsNaN(fa.Forecast) || fa.Season != 24*time.Hour || !fa.Trusted {
		t.Fatalf("forecast %+v: want a trusted 24h forecast from history", fa)
	}
	if fa.Forecast != fb.Forecast || fa.Predictive != fb.Predictive || fa.Skill != fb.Skill {
		t.Fatalf("nodes disagree: %+v vs %+v", fa, fb)
	}
	// The forecast follows the cycle: 10 minutes after the last sample.
	want := 2000 + 1500*math.Sin(2*math.Pi*float64(4*24*60-1+10)/1440)
	if math.Abs(fa.Forecast-want) > 150 {
		t.Fatalf("forecast %.0f, want about %.0f", fa.Forecast, want)
	}
}

func TestWindowShape(t *testing.T) {
	for _, tc := range []struct {
		history, interval time.Duration
		step              time.Duration
		length            int
	}{
		{7 * 24 * time.Hour, 10 * time.Second, 5 * time.Minute, 2016},
		{time.Hour, 10 * time.Second, 10 * time.Second, 361},
		{14 * 24 * time.Hour, time.Minute, 10 * time.Minute, 2016},
	} {
		p := policy.Policy{EvaluationInterval: policy.Duration(tc.interval), Predictive: policy.Predictive{History: policy.Duration(tc.history)}}
		step, n := store.WindowShape(p)
		if step != tc.step || n != tc.length {
			t.Errorf("history %v interval %v: %v × %d, want %v × %d", tc.history, tc.interval, step, n, tc.step, tc.length)
		}
	}
}

// TestAggregatedPushEqualsRawSamples: committing a pushed batch as the
// leader's per-bucket partials leaves every node with the same windows and
// latest samples as committing the raw samples would.
func TestAggregatedPushEqualsRawSamples(t *testing.T) {
	p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 1
max: 100
metrics: [{name: cpu, type: cpu, target: 60}, {name: jobs, type: queue_depth, target: 10}]
predictive: {history: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	raw, agg := &applier{f: NewFSM(10)}, &applier{f: NewFSM(10)}
	for _, a := range []*applier{raw, agg} {
		a.apply(t, store.PutPolicy{Policy: p})
		a.apply(t, store.Evaluated{Policy: "web", PolicyVersion: 1, Desired: 4, Ready: 3})
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for batch := 0; batch < 5; batch++ {
		var samples []api.Sample
		for i := 0; i < 1000; i++ {
			ts := start.Add(time.Duration(batch*1000+i) * 37 * time.Millisecond)
			samples = append(samples,
				api.Sample{Policy: "web", Metric: "cpu", Time: ts, Value: float64(i%90) + 0.5},
				api.Sample{Policy: "web", Metric: "jobs", Time: ts, Value: float64((i * 7) % 300)})
		}
		raw.apply(t, store.Samples{Samples: toStoreSamples(samples)})
		cmd := aggregate(samples, map[string]policy.Policy{"web": p})
		if len(cmd.Partials) >= len(samples)/10 {
			t.Fatalf("%d partials for %d samples: the batch was not aggregated", len(cmd.Partials), len(samples))
		}
		agg.apply(t, cmd)
	}
	now := start.Add(time.Hour)
	hr, ha := raw.f.history("web", now), agg.f.history("web", now)
	for i := 0; i < 2; i++ {
		if len(hr[i].Values) == 0 || len(hr[i].Values) != len(ha[i].Values) || !hr[i].Start.Equal(ha[i].Start) {
			t.Fatalf("metric %d: windows differ in shape: %d vs %d", i, len(hr[i].Values), len(ha[i].Values))
		}
		for j := range hr[i].Values {
			a, b := hr[i].Values[j], ha[i].Values[j]
			if !(math.IsNaN(a) && math.IsNaN(b)) && math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(a)) {
				t.Fatalf("metric %d bucket %d: raw %v, aggregated %v", i, j, a, b)
			}
		}
	}
	vr, _ := raw.f.view("web")
	va, _ := agg.f.view("web")
	if vr.Samples != va.Samples || vr.Has != va.Has {
		t.Fatalf("latest samples differ: %+v vs %+v", vr.Samples, va.Samples)
	}
}

// TestFineHistoryForecastsAlike: a policy keeping its history in 1-minute
// buckets (predictive.history_step) keeps five times the buckets, and its
// forecasts read them combined into the 5-minute buckets the same policy
// keeps without it: the same windows, the same forecast; exactly with
// wide windows (float64 buckets), to float32 rounding with compact ones,
// whose coarse buckets round a running sum where the fine ones round
// each minute's.
func TestFineHistoryForecastsAlike(t *testing.T) {
	for _, wide := range []bool{true, false} {
		t.Run(fmt.Sprintf("wide %v", wide), func(t *testing.T) { fineHistoryForecastsAlike(t, wide) })
	}
}

func fineHistoryForecastsAlike(t *testing.T, wide bool) {
	tolerance := 1e-6 // relative
	if wide {
		tolerance = 0
	}
	near := func(a, b float64) bool {
		return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= tolerance*math.Abs(b)
	}
	const doc = `id: web
target: {provider: fake, group: web}
min: 1
max: 100
evaluation_interval: 1m
metrics: [{name: rps, type: request_rate, target: 100}]
predictive: {mode: forecast-and-scale, lead: 10m, season: 24h, history: 7d STEP}
stale_after: 5m
`
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var samples []store.Sample
	for i := 0; i < 3*24*60; i++ {
		v := 2000 + 1500*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%7)
		samples = append(samples, store.Sample{Policy: "web", Metric: "rps", Time: start.Add(time.Duration(i)*time.Minute + 7*time.Second), Value: v})
	}
	now := samples[len(samples)-1].Time
	type run struct {
		p    policy.Policy
		f    *FSM
		step time.Duration
		n    int
	}
	var runs []run
	for _, step := range []string{"", ", history_step: 1m"} {
		p, err := policy.Parse([]byte(strings.Replace(doc, " STEP", step, 1)))
		if err != nil {
			t.Fatal(err)
		}
		a := &applier{f: NewFSM(10)}
		a.apply(t, store.PutPolicy{Policy: p})
		for i := 0; i < len(samples); i += 500 {
			a.apply(t, store.Samples{Samples: samples[i:min(i+500, len(samples))], Wide: wide})
		}
		h, err := a.f.historyOf("web", now)
		if err != nil {
			t.Fatal(err)
		}
		step, _ := time.ParseDuration(h[0].Step)
		runs = append(runs, run{p: p, f: a.f, step: step, n: len(h[0].Buckets)})
	}
	coarse, fine := runs[0], runs[1]
	if coarse.step != 5*time.Minute || fine.step != time.Minute || fine.n != 5*coarse.n {
		t.Fatalf("kept: %s × %d buckets by default, %s × %d with a 1m step; want 5m and five times as many at 1m", coarse.step, coarse.n, fine.step, fine.n)
	}
	hc, hf := coarse.f.history("web", now), fine.f.history("web", now)
	if hf[0].Step != 5*time.Minute || !hf[0].Start.Equal(hc[0].Start) || len(hf[0].Values) != len(hc[0].Values) {
		t.Fatalf("forecasting reads %s × %d from %v with a 1m step, %s × %d from %v without", hf[0].Step, len(hf[0].Values), hf[0].Start, hc[0].Step, len(hc[0].Values), hc[0].Start)
	}
	for i, v := range hc[0].Values {
		if w := hf[0].Values[i]; !near(w, v) {
			t.Fatalf("bucket %d: %v with a 1m step, %v without", i, w, v)
		}
	}
	forecast := func(r run, h [policy.MaxMetrics]policy.Window) policy.MetricProposal {
		in := policy.Inputs{Current: 20, Ready: 20, History: h}
		in.Metrics[0] = policy.Sample{Time: now, Value: samples[len(samples)-1].Value, Present: true}
		return policy.Evaluate(r.p, in, policy.State{}, now).Metrics[0]
	}
	fc, ff := forecast(coarse, hc), forecast(fine, hf)
	if math.IsNaN(fc.Forecast) || !near(ff.Forecast, fc.Forecast) || fc.Predictive != ff.Predictive {
		t.Fatalf("forecast %+v with a 1m step, %+v without", ff, fc)
	}
}
