package controlplane

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// TestWhatIfWritesNothing: POST /v1/policies/{id}/simulate, served by
// every node of a cluster from its own replica, answers the replay of the
// stored history and commits nothing: every node's Raft log ends at the
// same index as before, and the policy keeps its version. The history it
// replays is the one GET .../history?format=csv serves.
func TestWhatIfWritesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	_, l := c.leader()
	// min = max = the fake group's size: no evaluation changes anything,
	// so the only entries are the test's own.
	p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 2
max: 2
evaluation_interval: 1s
predictive: {history: 1h}
metrics: [{name: rps, type: request_rate, target: 100}, {name: cpu, type: cpu, target: 60}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := l.PutPolicy(context.Background(), p, "")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-20 * time.Minute).Truncate(10 * time.Second)
	var samples []api.Sample
	for i := range 120 {
		ts := at.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples, api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: 50 + float64(i)},
			api.Sample{Policy: "web", Metric: "cpu", Time: ts, Value: 30 + float64(i%20)})
	}
	if res, err := l.PushMetrics(context.Background(), samples); err != nil || res.Accepted != len(samples) {
		t.Fatalf("push: %+v %v", res, err)
	}
	c.waitFor("the history on every node", func() bool {
		for _, n := range c.nodes {
			r, err := n.Recording(context.Background(), "web")
			if err != nil || len(r.History) != 2 || len(r.History[0].Buckets) < 120 {
				return false
			}
		}
		return true
	})
	c.converged(0, 1, 2)
	// Let any entry the leader loop had in flight land first.
	var before [3]uint64
	c.waitFor("the log to stand still", func() bool {
		var now [3]uint64
		for i := range c.nodes {
			now[i], _ = c.logs[i].LastIndex()
		}
		same := now == before
		before = now
		time.Sleep(100 * time.Millisecond)
		return same
	})

	candidate := `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"evaluation_interval":"1s",
"metrics":[{"name":"rps","type":"request_rate","target":50},{"name":"cpu","type":"cpu","target":60}]}`
	for i, n := range c.nodes {
		h := api.NewHandler(api.Options{Backend: n, NodeID: n.cfg.NodeID})
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/policies/web/simulate", strings.NewReader(candidate))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("node %d: %d %s", i, w.Code, w.Body)
		}
		var got api.WhatIf
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.StoredVersion != rec.Version || got.History.Samples < 120 || got.History.Step == "" || got.History.RecordedSize < 2 {
			t.Errorf("node %d: %+v", i, got)
		}
		csv := httptest.NewRecorder()
		h.ServeHTTP(csv, httptest.NewRequest(http.MethodGet, "/v1/policies/web/history?format=csv", nil))
		if csv.Code != http.StatusOK || !strings.HasPrefix(csv.Body.String(), "time,rps,cpu,recorded-size\n") {
			t.Errorf("node %d: history CSV %d %.200s", i, csv.Code, csv.Body)
		}
	}
	for i, n := range c.nodes {
		if last, _ := c.logs[i].LastIndex(); last != before[i] {
			t.Errorf("node %d: the log grew from %d to %d", i, before[i], last)
		}
		if got, err := n.GetPolicy(context.Background(), "web"); err != nil || got.Version != rec.Version || got.Policy.Max != 2 {
			t.Errorf("node %d: policy %+v %v, want version %d unchanged", i, got, err, rec.Version)
		}
	}
}
