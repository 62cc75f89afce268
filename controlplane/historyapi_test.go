package controlplane

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestHistoryOfServesTheWindows: the API view of a policy's windows lists
// the non-empty buckets of each metric in policy order, with the window's
// step and aggregation, and names an unknown policy.
func TestHistoryOfServesTheWindows(t *testing.T) {
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"predictive":{"history":"1h"},
"metrics":[{"name":"jobs","type":"queue_depth","target":10},{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{f: NewFSM(10)}
	a.apply(t, store.PutPolicy{Policy: p})
	start := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	var samples []api.Sample
	for i := 0; i < 30; i++ { // three 10 s buckets, the middle one empty for jobs
		ts := start.Add(time.Duration(i) * time.Second)
		if i < 10 || i >= 20 {
			samples = append(samples, api.Sample{Policy: "web", Metric: "jobs", Time: ts, Value: float64(i)})
		}
		samples = append(samples, api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: 100})
	}
	a.apply(t, aggregate(samples, map[string]policy.Policy{"web": p}))

	got, err := a.f.historyOf("web", start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Metric != "jobs" || got[1].Metric != "rps" {
		t.Fatalf("metrics %+v, want jobs then rps", got)
	}
	jobs, rps := got[0], got[1]
	if jobs.Aggregation != "max" || rps.Aggregation != "mean" || jobs.Step != "10s" {
		t.Errorf("jobs %s/%s, rps %s: want max/10s and mean", jobs.Aggregation, jobs.Step, rps.Aggregation)
	}
	want := []api.HistoryBucket{{Time: start, Value: 9}, {Time: start.Add(20 * time.Second), Value: 29}}
	if len(jobs.Buckets) != 2 || jobs.Buckets[0] != want[0] || jobs.Buckets[1] != want[1] {
		t.Errorf("jobs buckets %+v, want %+v", jobs.Buckets, want)
	}
	if len(rps.Buckets) != 3 || rps.Buckets[2].Value != 100 {
		t.Errorf("rps buckets %+v, want three of 100", rps.Buckets)
	}
	if _, err := a.f.historyOf("nope", start); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown policy: %v, want ErrNotFound", err)
	}
}

// TestRecordingCarriesDefaultCosts: a node's recording of a policy
// carries the node's default prices, which price its decisions, so that a
// replay of the recording is priced alike.
func TestRecordingCarriesDefaultCosts(t *testing.T) {
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"metrics":[{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{f: NewFSM(10)}
	a.apply(t, store.PutPolicy{Policy: p})
	costs := map[string]policy.Cost{"fake": {PerInstanceHour: 0.25, Currency: "USD"}}
	for _, tc := range []struct {
		name  string
		costs map[string]policy.Cost
	}{{"none", nil}, {"the agent's", costs}} {
		t.Run(tc.name, func(t *testing.T) {
			n := &Node{fsm: a.f, cfg: Config{DefaultCosts: tc.costs}, now: time.Now}
			rec, err := n.Recording(context.Background(), "web")
			if err != nil || rec.Policy.Policy.ID != "web" || !reflect.DeepEqual(rec.DefaultCosts, tc.costs) {
				t.Fatalf("recording %+v, %v; want the default costs %+v", rec, err, tc.costs)
			}
		})
	}
}

// TestRecordingHasTheSizes: the committed evaluations of a policy with a
// history step give its recording the group's ready sizes, which its
// history CSV states per bucket.
func TestRecordingHasTheSizes(t *testing.T) {
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"predictive":{"history":"1h","history_step":"1m"},
"metrics":[{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{f: NewFSM(10)}
	a.apply(t, store.PutPolicy{Policy: p})
	version := a.f.state.Policies["web"].Record.Version
	start := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	var samples []api.Sample
	for i := range 10 {
		samples = append(samples, api.Sample{Policy: "web", Metric: "rps", Time: start.Add(time.Duration(i) * time.Minute), Value: 100})
	}
	a.apply(t, aggregate(samples, map[string]policy.Policy{"web": p}))
	for _, e := range []struct {
		ready int
		at    time.Duration
	}{{2, 0}, {2, time.Minute}, {5, 3*time.Minute + 30*time.Second}} {
		a.apply(t, store.Evaluated{Policy: "web", PolicyVersion: version, Desired: e.ready, Ready: e.ready, At: start.Add(e.at)})
	}
	n := &Node{fsm: a.f, now: func() time.Time { return start.Add(10 * time.Minute) }}
	rec, err := n.Recording(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.SizeAt{{Time: start, Ready: 2}, {Time: start.Add(3*time.Minute + 30*time.Second), Ready: 5}}
	if !reflect.DeepEqual(rec.Sizes, want) {
		t.Fatalf("sizes %+v, want %+v", rec.Sizes, want)
	}
	tr, _, err := api.HistoryTrace(rec)
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := tr.Column(api.ReadySizeColumn)
	if !ok || len(tr.Times) != 10 {
		t.Fatalf("columns %v, %d rows", tr.Columns, len(tr.Times))
	}
	if got := tr.Values[idx]; got[0] != 2 || got[3] != 2 || got[4] != 5 || got[9] != 5 {
		t.Fatalf("ready sizes %v", got)
	}
}
