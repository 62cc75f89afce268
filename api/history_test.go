package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// TestHistoryRoute: GET /v1/policies/{id}/history returns each metric's
// buckets, ?metric= narrows it, and unknown policies or metrics are 404s.
func TestHistoryRoute(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	c := api.NewClient(n.srv.URL, nil)
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-time.Minute)
	if _, err := c.PushMetrics(context.Background(), []api.Sample{
		{Policy: "web", Metric: "cpu", Time: at, Value: 40},
		{Policy: "web", Metric: "cpu", Time: at.Add(time.Second), Value: 60},
		{Policy: "web", Metric: "rps", Time: at.Add(20 * time.Second), Value: 7},
	}); err != nil {
		t.Fatal(err)
	}
	all, err := c.History(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Metric != "cpu" || all[1].Metric != "rps" {
		t.Fatalf("history %+v, want cpu and rps", all)
	}
	if b := all[0].Buckets; len(b) != 1 || !b[0].Time.Equal(at) || b[0].Value != 50 {
		t.Errorf("cpu buckets %+v, want one of 50 at %s", b, at)
	}
	rps, err := c.History(context.Background(), "web", "rps")
	if err != nil || len(rps) != 1 || rps[0].Metric != "rps" || len(rps[0].Buckets) != 1 {
		t.Errorf("?metric=rps: %+v %v", rps, err)
	}
	for _, tc := range []struct{ id, metric string }{{"nope", ""}, {"web", "nope"}} {
		if _, err := c.History(context.Background(), tc.id, tc.metric); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("history(%q, %q): %v, want not found", tc.id, tc.metric, err)
		}
	}
}
