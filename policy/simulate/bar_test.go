package simulate

import (
	"errors"
	"slices"
	"testing"

	"github.com/capstan-io/capstan/policy"
)

// TestRunScoredAgainstBar: a bar replaces the policy's own targets and
// tolerance in the under-provisioned count and Needed, and changes none
// of the decisions.
func TestRunScoredAgainstBar(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	s := series(200, 200, 400, 400, 400, 400) // ready: 2 2 2 2 4 4
	own, err := Run(Config{Policy: p}, s)
	if err != nil {
		t.Fatal(err)
	}
	rps := func(target float64) []policy.Metric {
		return []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: target}}
	}
	for _, tc := range []struct {
		name      string
		bar       *Bar
		wantUnder []bool
		wantNeed  []int32
	}{
		{"no bar: the policy's own", nil, []bool{false, false, true, true, false, false}, []int32{2, 2, 4, 4, 4, 4}},
		{"the policy's own, as a bar", &Bar{Metrics: rps(100), Values: s.Values}, []bool{false, false, true, true, false, false}, []int32{2, 2, 4, 4, 4, 4}},
		{"a laxer target", &Bar{Metrics: rps(200), Values: s.Values}, []bool{false, false, false, false, false, false}, []int32{1, 1, 2, 2, 2, 2}},
		{"a stricter target", &Bar{Metrics: rps(50), Values: s.Values}, []bool{true, true, true, true, true, true}, []int32{4, 4, 8, 8, 8, 8}},
		{"a tolerance", &Bar{Metrics: rps(90), Values: s.Values, Tolerance: 0.2}, []bool{false, false, true, true, false, false}, []int32{3, 3, 5, 5, 5, 5}},
		{"other values", &Bar{Metrics: rps(100), Values: [][]float64{{100, 300, 100, 100, 500, 100}}}, []bool{false, true, false, false, true, false}, []int32{1, 3, 1, 1, 5, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(Config{Policy: p, Bar: tc.bar}, s)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Desired, own.Desired) || !slices.Equal(res.Ready, own.Ready) {
				t.Fatalf("the bar changed the decisions: desired %v ready %v, want %v %v", res.Desired, res.Ready, own.Desired, own.Ready)
			}
			if !slices.Equal(res.Under, tc.wantUnder) || !slices.Equal(res.Needed, tc.wantNeed) {
				t.Fatalf("under %v needed %v, want %v %v", res.Under, res.Needed, tc.wantUnder, tc.wantNeed)
			}
			want := 0
			for _, u := range tc.wantUnder {
				if u {
					want++
				}
			}
			if res.Summary.UnderProvisionedSamples != want || res.Summary.UnderProvisionedFraction != float64(want)/6 {
				t.Fatalf("summary under %d (%v), want %d", res.Summary.UnderProvisionedSamples, res.Summary.UnderProvisionedFraction, want)
			}
			// The summary-only run scores the same.
			quick, err := Run(Config{Policy: p, Bar: tc.bar, SummaryOnly: true}, s)
			if err != nil {
				t.Fatal(err)
			}
			if quick.Summary != res.Summary {
				t.Fatalf("summary-only %+v, timeline run %+v", quick.Summary, res.Summary)
			}
		})
	}
}

func TestRunBarRefused(t *testing.T) {
	p := testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})
	s := series(200, 400)
	for _, tc := range []struct {
		name string
		bar  Bar
		want error
	}{
		{"a column short", Bar{Metrics: []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: 1}, {Name: "q", Type: policy.MetricQueueDepth, Target: 1}}, Values: s.Values}, ErrShape},
		{"values short", Bar{Metrics: []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: 1}}, Values: [][]float64{{1}}}, ErrShape},
		{"a cpu bar without a recorded size", Bar{Metrics: []policy.Metric{{Name: "cpu", Type: policy.MetricCPU, Target: 60}}, Values: s.Values}, ErrRecordedSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(Config{Policy: p, Bar: &tc.bar}, s); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
