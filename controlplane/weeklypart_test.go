package controlplane

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// weeklySpec is a forecast-only policy p with a daily season whose model
// plantWeekly trains.
const weeklySpec = `{"id":"p","target":{"provider":"fake","group":"g"},"min":2,"max":2,"evaluation_interval":"10s",
"metrics":[{"name":"rps","type":"request_rate","target":100}],"predictive":{"mode":"forecast-only","lead":"20s","season":"24h","history":"168h"},"stale_after":"1h"}`

// plantWeekly gives r's leader a state for weeklySpec's policy p whose
// model has a weekly adjustment that acts: five weeks of 30-minute samples
// (value) whose sixth and seventh days are quieter, replayed through
// Evaluate until the rig's clock (at). The model is kept as it is: no
// rebuild from the node's short history.
func plantWeekly(t *testing.T, r *evalRig) (at time.Time, value func(time.Time) float64) {
	t.Helper()
	v, _ := r.n.fsm.view("p")
	p := v.Record.Policy
	const step = 30 * time.Minute
	at = r.now()
	value = func(t time.Time) float64 {
		i := float64(t.Sub(at) / step)
		y := 1000 + 600*math.Sin(2*math.Pi*i/48)
		if day := int(math.Floor(i/48)) % 7; day == 5 || day == 6 || day == -1 || day == -2 {
			y *= 0.7
		}
		return y
	}
	start := at.Add(-5 * 7 * 24 * time.Hour)
	var values []float64
	var s policy.State
	for now := start; now.Before(at); now = now.Add(step) {
		values = append(values, value(now))
		in := policy.Inputs{Current: 2, Ready: 2}
		in.Metrics[0] = policy.Sample{Time: now, Value: values[len(values)-1], Present: true}
		in.History[0] = policy.Window{Start: start, Step: step, Values: values}
		s = policy.Evaluate(p, in, s, now).Next
	}
	if !s.Models[0].Model.Week.Active() {
		t.Fatal("the planted model's weekly adjustment does not act")
	}
	s.Models[0].CheckedAt, s.Models[0].TunedAt = at, time.Time{}
	r.l.keepState("p", v.Record.Version, s)
	return at, value
}

// TestWeeklyPartOnlyInVersion11: a leader writing entry version 11 or later commits
// a decision whose forecast the weekly adjustment moved with the metric's
// weekly part, and one started with --raft-write-version 10 commits it
// without (the servers of version 10 have no place for it, and every node
// must decode the same record); the reason text, a string, shows it in
// both. The leader's model is planted: five weeks of 30-minute samples
// whose sixth and seventh days are quieter, replayed through Evaluate.
func TestWeeklyPartOnlyInVersion11(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version uint8
		kept    bool
	}{
		{"version 11 keeps it", store.VersionWeeklyPart, true},
		{"version 12 keeps it", store.VersionTimeOfDay, true},
		{"version 13 keeps it", store.VersionScaledSeason, true},
		{"version 10 leaves it out", store.VersionWeekly, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newEvalRig(t, weeklySpec, func(n *Node) { n.cfg.WriteVersion = int(tc.version) })
			at, value := plantWeekly(t, r)
			r.evaluate(t, value(at))
			recs, err := r.n.fsm.Decisions("p", 1)
			if err != nil || len(recs) != 1 || len(recs[0].Metrics) != 1 || recs[0].Metrics[0].Forecast == nil {
				t.Fatalf("decisions %+v, %v: want one with a forecast", recs, err)
			}
			m := recs[0].Metrics[0]
			if got := m.Weekly != nil; got != tc.kept {
				t.Fatalf("the committed record has a weekly part: %v, want %v (%+v)", got, tc.kept, m)
			}
			if tc.kept && !(math.Abs(*m.Weekly) > 1) {
				t.Fatalf("weekly part %v: the case tests nothing", *m.Weekly)
			}
			if !strings.Contains(recs[0].Reason, "(weekly ") {
				t.Fatalf("reason %q does not show the weekly part", recs[0].Reason)
			}
		})
	}
}
