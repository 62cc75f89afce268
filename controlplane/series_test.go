package controlplane

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/metrics/remotewrite"
	"github.com/capstan-io/capstan/policy"
)

const matchedPolicy = `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":50,"stale_after":"30s","predictive":{"history":"1h"},
"metrics":[{"name":"rps","type":"request_rate","target":100,"source":{"match":{"__name__":"rate1m","job":"web"}}},
{"name":"cpu","type":"cpu","target":60,"source":{"match_re":{"job":"web|api"}}}]}`

// TestSeriesRouter: the router sends a series to every metric whose
// matchers it satisfies, and follows policy changes.
func TestSeriesRouter(t *testing.T) {
	t.Parallel()
	n, _ := singleNode(t, time.Hour)
	ctx := context.Background()
	if r := n.SeriesRouter(); r != nil {
		t.Fatal("a router with no matchers in any policy")
	}
	p, err := policy.Parse([]byte(matchedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutPolicy(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		series labels.Labels
		want   []remotewrite.Target
	}{
		{labels.FromStrings("__name__", "rate1m", "job", "web", "instance", "a"), []remotewrite.Target{{Policy: "web", Metric: "rps"}, {Policy: "web", Metric: "cpu"}}},
		{labels.FromStrings("__name__", "other", "job", "api"), []remotewrite.Target{{Policy: "web", Metric: "cpu"}}},
		{labels.FromStrings("__name__", "rate1m", "job", "webx"), nil},
		{labels.FromStrings("__name__", "rate1m"), nil},
	}
	route := n.SeriesRouter()
	for _, tc := range tests {
		if got := route(tc.series); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: routed to %v, want %v", tc.series, got, tc.want)
		}
	}
	if err := n.DeletePolicy(ctx, "web", ""); err != nil {
		t.Fatal(err)
	}
	if r := n.SeriesRouter(); r != nil {
		t.Error("the router still routes after the policy was deleted")
	}
}

// TestMatchedSeriesAreCombined: per-instance series of one request_rate
// metric add up in the window, a series that stops reporting drops out
// after stale_after, and the points survive a snapshot.
func TestMatchedSeriesAreCombined(t *testing.T) {
	t.Parallel()
	n, _ := singleNode(t, time.Hour)
	ctx := context.Background()
	p, err := policy.Parse([]byte(matchedPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.PutPolicy(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(10 * time.Second).Add(-5 * time.Minute)
	push := func(samples ...api.Sample) {
		t.Helper()
		res, err := n.PushMetrics(ctx, samples)
		if err != nil || res.Accepted != len(samples) {
			t.Fatalf("push: %+v %v", res, err)
		}
	}
	// Bucket 0: instances 1 and 2 report 30 and 50 every second, in
	// separate batches (as remote-write shards send them).
	for s := 0; s < 10; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		push(api.Sample{Policy: "web", Metric: "rps", Time: at, Value: 30, Series: 1},
			api.Sample{Policy: "web", Metric: "cpu", Time: at, Value: 40, Series: 1})
		push(api.Sample{Policy: "web", Metric: "rps", Time: at, Value: 50, Series: 2},
			api.Sample{Policy: "web", Metric: "cpu", Time: at, Value: 80, Series: 2})
	}
	// 40 s later only instance 2 reports: instance 1 is past stale_after.
	push(api.Sample{Policy: "web", Metric: "rps", Time: t0.Add(50 * time.Second), Value: 50, Series: 2})

	hist, err := n.History(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	rps, cpu := hist[0].Buckets, hist[1].Buckets
	if len(rps) != 2 || rps[1].Value != 50 {
		t.Fatalf("rps buckets %+v: want two, the later one 50", rps)
	}
	// The first group sample of the bucket saw instance 1 alone (30); the
	// other nineteen saw both (80).
	if want := (30 + 19*80.0) / 20; rps[0].Value != want {
		t.Errorf("rps bucket 0 = %v, want %v (the sum of the instances' rates)", rps[0].Value, want)
	}
	// cpu averages the instances: the newest group sample is (40+80)/2.
	v, _ := n.fsm.view("web")
	if s, _ := v.Sample("cpu"); s.Value != 60 {
		t.Errorf("latest cpu sample %+v, want 60, the instances' mean", s)
	}
	if len(cpu) != 1 {
		t.Errorf("cpu buckets %+v, want one", cpu)
	}
	if pts := n.fsm.seriesPoints("web", "rps"); len(pts) != 1 || pts[2].V != 50 {
		t.Errorf("rps series points %+v: want only instance 2 left", pts)
	}

	_, restored := snapshotRoundTrip(t, n.fsm)
	for _, m := range []string{"rps", "cpu"} {
		if w, g := n.fsm.seriesPoints("web", m), restored.seriesPoints("web", m); !reflect.DeepEqual(w, g) {
			t.Errorf("%s series points after restore %+v, want %+v", m, g, w)
		}
	}
}
