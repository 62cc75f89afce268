package controlplane

import (
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
	"github.com/capstan-io/capstan/store"
)

func TestCommitCheck(t *testing.T) {
	const sync = time.Minute
	tests := []struct {
		name      string
		c         commitCheck
		reason    commitReason
		withState bool
	}{
		{"quiet", commitCheck{hasState: true, sinceStateSync: 10 * time.Second, sinceCommit: 10 * time.Second}, commitQuiet, false},
		{"a record alone does not carry the state", commitCheck{recorded: true, hasState: true, sinceStateSync: 10 * time.Second}, commitRecord, false},
		{"a record with changed pacing carries it", commitCheck{recorded: true, hasState: true, pacingChanged: true}, commitRecord, true},
		{"a record when the state is due carries it", commitCheck{recorded: true, hasState: true, sinceStateSync: sync}, commitRecord, true},
		{"pacing changed", commitCheck{hasState: true, pacingChanged: true, sinceStateSync: time.Second}, commitPacing, true},
		{"state due", commitCheck{hasState: true, sinceStateSync: sync}, commitStateSync, true},
		{"models due carry the state", commitCheck{hasState: true, modelsDue: true, sinceStateSync: time.Second}, commitStateSync, true},
		{"sizes changed, state not due", commitCheck{hasState: true, sizesChanged: true, sinceStateSync: time.Second}, commitSizes, false},
		{"first of term without a state", commitCheck{firstOfTerm: true}, commitFirst, false},
		{"no state, LastEvaluation old", commitCheck{sinceCommit: sync}, commitHeartbeat, false},
		{"no state: pacing is not looked at", commitCheck{pacingChanged: true, sinceStateSync: sync}, commitQuiet, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.stateSync = sync
			reason, withState := tc.c.decide()
			if reason != tc.reason || withState != tc.withState {
				t.Fatalf("decide() = %v, %v; want %v, %v", reason, withState, tc.reason, tc.withState)
			}
		})
	}
}

func TestPacingKey(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	base := policy.State{
		LastScaleOut: t0, LastScaleIn: t0.Add(-time.Hour),
		Changes:         []policy.Change{{At: t0, From: 2, To: 4}},
		Recommendations: []policy.Recommendation{{At: t0, Size: 6}, {At: t0.Add(10 * time.Second), Size: 4}},
		LastAction:      policy.ActionScaleOut, Reversals: []time.Time{t0.Add(-time.Hour)},
		Evidence: t0, LastForecastScaleOut: t0,
		Models: []policy.MetricModel{{Scored: 3, Model: forecast.Model{}}},
	}
	tests := []struct {
		name    string
		change  func(s *policy.State)
		changes bool
	}{
		{"scale-out cooldown", func(s *policy.State) { s.LastScaleOut = t0.Add(time.Second) }, true},
		{"scale-in cooldown", func(s *policy.State) { s.LastScaleIn = t0 }, true},
		{"rate-limit history", func(s *policy.State) { s.Changes = append(s.Changes, policy.Change{At: t0, From: 4, To: 5}) }, true},
		{"a stabilization size", func(s *policy.State) { s.Recommendations[1].Size = 5 }, true},
		{"a stabilization entry more", func(s *policy.State) {
			s.Recommendations = append(s.Recommendations, policy.Recommendation{At: t0.Add(20 * time.Second), Size: 3})
		}, true},
		{"last action", func(s *policy.State) { s.LastAction = policy.ActionScaleIn }, true},
		{"reversals", func(s *policy.State) { s.Reversals = nil }, true},
		{"last forecast scale-out", func(s *policy.State) { s.LastForecastScaleOut = t0.Add(time.Second) }, true},
		{"a stabilization time only", func(s *policy.State) { s.Recommendations[1].At = t0.Add(20 * time.Second) }, false},
		{"evidence", func(s *policy.State) { s.Evidence = t0.Add(10 * time.Second) }, false},
		{"models", func(s *policy.State) { s.Models[0].Scored = 4 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Clone()
			tc.change(&s)
			mark := pacingOf(&base)
			if got := !mark.matches(&s); got != tc.changes {
				t.Fatalf("key changed = %v, want %v", got, tc.changes)
			}
		})
	}
	// No mark (no state committed in this term) matches no state, not
	// even the empty one.
	var none pacing
	if none.matches(&policy.State{}) {
		t.Fatal("the zero pacing matches a state")
	}
}

// TestEvaluationsContinue checks that the leader evaluates each policy
// from the state its previous evaluation left, not from the committed
// state (which lags by up to StateSync): the forecasting models score a
// forecast at every evaluation, as they do in the simulator, while the
// state is committed only when due.
//
// The first evaluation fits the model on the history window, whose
// buckets are labelled with their start, and does not observe the latest
// sample again when a fitted bucket holds it. Before that was so, a sample
// inside a bucket counted twice and the first forecast came an evaluation
// earlier than for one on a bucket's start (the clock then started at the
// wall clock's second, fell on a bucket's start one run in ten and failed
// the test): both cases now score their first forecast at the same
// evaluation.
func TestEvaluationsContinue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// offset is the first sample's distance from a bucket's start.
		offset time.Duration
	}{
		{"first sample inside a bucket", 4 * time.Second},
		{"first sample on a bucket's start", 0},
	}
	// firstScored is the first evaluation that scores a forecast: the
	// first forecast comes with the third observation (the third
	// evaluation, 2), and is scored a lead (two evaluations) after it.
	const firstScored = 4
	const spec = `{"id":"p","target":{"provider":"fake","group":"g"},"min":2,"max":2,"evaluation_interval":"10s",
"metrics":[{"name":"rps","type":"request_rate","target":100}],"predictive":{"mode":"forecast-only","lead":"20s","history":"1h"},"stale_after":"1m"}`
	p, err := policy.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	step := store.DefaultWindowStep(p)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newEvalRig(t, spec, nil)
			// Forward to the next bucket's start, plus the case's offset.
			now := r.now()
			r.advance(now.Truncate(step).Add(step + tc.offset).Sub(now))
			var scored []int
			for i := range 12 {
				r.evaluate(t, float64(150+10*(i%3)))
				v, _ := r.n.fsm.view("p")
				s, ok := r.l.latestState("p", v.Record.Version)
				if !ok || len(s.Models) != 1 {
					t.Fatalf("round %d: no state kept (%v) or no model", i, ok)
				}
				scored = append(scored, s.Models[0].Scored)
				r.advance(10 * time.Second)
			}
			for i, got := range scored {
				want := 0
				if i >= firstScored {
					want = scored[i-1] + 1
				}
				if got != want {
					t.Fatalf("forecasts scored after each evaluation: %v; want none before evaluation %d, then one more at each", scored, firstScored)
				}
			}
			// A replaced policy version starts from the committed state, not
			// from what the old version left.
			if _, ok := r.l.latestState("p", 0); ok {
				t.Fatal("a kept state was returned for another policy version")
			}
		})
	}
}
