package controlplane

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestDecisionAPIShowsTheSimulatorsRecord is invariant 6 end to end: the
// leader evaluates a predictive, priced policy on the in-process cluster
// and commits its decision; every node's GET /v1/policies/{id}/decisions
// (the API handler on the node's Backend) then shows exactly the record
// policy.Evaluate gives for the same policy, inputs, state and time, which
// is what `capstan simulate` shows, every field included (each metric's
// forecast and its upper bound, skill and trust, the hourly cost). The
// clock is frozen (the policy is never due again), so the leader evaluates
// once when the policy arrives and once when the samples do, and the
// inputs can be read back.
func TestDecisionAPIShowsTheSimulatorsRecord(t *testing.T) {
	ctx := context.Background()
	frozen := time.Now().UTC().Truncate(time.Second)
	c := newCluster(t, clusterOptions{now: func() time.Time { return frozen }, cloudTimeout: time.Hour})
	p, err := policy.Parse([]byte(`id: web
target: {provider: fake, group: web}
min: 1
max: 60
evaluation_interval: 10s
metrics: [{name: rps, type: request_rate, target: 100}]
predictive: {mode: forecast-and-scale, lead: 10m, history: 2h}
cost: {per_instance_hour: 0.192, currency: USD}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, l := c.leader()
	// The first evaluation, as the policy arrives, cannot describe the
	// group: it commits that it evaluated and no model state, so the next
	// one fits its model from the replicated history.
	if err := c.cloud.CreateGroup("web", 0, 100, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.cloud.InjectFault(fake.Fault{Group: "web", Op: fake.OpDescribe, Err: cloud.ErrUnavailable, Times: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutPolicy(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the first evaluation", func() bool {
		v, _ := l.fsm.view("web")
		return !v.Last.IsZero()
	})
	c.cloud.ClearFaults()
	v0, _ := l.fsm.view("web")
	var state policy.State
	if len(v0.State) > 0 {
		if err := state.UnmarshalBinary(v0.State); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := c.cloud.Describe("web")
	if err != nil {
		t.Fatal(err)
	}

	// Two hours of a rising request rate with some noise, in one command,
	// so the leader evaluates once, with all of it.
	var samples []store.Sample
	for i := 720; i > 0; i-- {
		x := float64(720 - i)
		samples = append(samples, store.Sample{Policy: "web", Metric: "rps", Time: frozen.Add(-time.Duration(i) * 10 * time.Second),
			Value: 400 + 5*x + 40*math.Sin(x/5)})
	}
	if err := l.apply(ctx, store.Samples{Samples: samples}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the decision", func() bool {
		ds, _ := l.fsm.Decisions("web", 10)
		return len(ds) > 0
	})

	// The same evaluation, as the simulator runs it.
	v, _ := l.fsm.view("web")
	in := policy.Inputs{Current: gs.Desired, Ready: gs.InService}
	s := v.Samples["rps"]
	in.Metrics[0] = policy.Sample{Time: s.Time, Value: s.Value, Present: true}
	if state.NeedsHistory(p, frozen) {
		in.History = l.fsm.history("web", frozen)
	}
	d := policy.Evaluate(p, in, state, frozen)
	want := d.Record(p)
	if want.Desired > gs.Max || want.Action != "scale-out" {
		t.Fatalf("the simulator's record %+v: want a scale-out within the group's max %d", want, gs.Max)
	}
	// Not vacuous: the fields that versions 1 to 3 dropped are set.
	m := want.Metrics[0]
	if want.HourlyCost == 0 || m.Upper == nil || m.Forecast == nil || m.Skill == nil || !m.Trusted {
		t.Fatalf("the simulator's record %+v, metric %+v: want a priced decision with a forecast and its upper bound", want, m)
	}
	wantJSON, _ := json.Marshal(want)

	c.converged(0, 1, 2)
	for i, n := range c.nodes {
		h := api.NewHandler(api.Options{Backend: n, NodeID: n.cfg.NodeID})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/policies/web/decisions", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("node %d: %d %s", i, rec.Code, rec.Body)
		}
		var list api.DecisionList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Decisions) != 1 {
			t.Fatalf("node %d: %d decisions, want the one", i, len(list.Decisions))
		}
		got, _ := json.Marshal(list.Decisions[0])
		if string(got) != string(wantJSON) {
			t.Errorf("node %d's API shows\n%s\nthe simulator's record is\n%s", i, got, wantJSON)
		}
	}
}
