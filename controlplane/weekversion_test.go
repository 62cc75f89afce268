package controlplane

import (
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/forecast"
)

// TestStateWithoutWeeksForOlderReaders: a leader writing entry versions
// before store.VersionWeekly commits its states without weekly
// adjustments, which servers of those versions cannot decode (they would
// keep the state without its models while newer servers keep them, and
// the replicated states would differ). The stripped state decodes with
// every model but no weekly slots; the state the leader keeps is
// untouched; a state without one is passed through as is.
func TestStateWithoutWeeksForOlderReaders(t *testing.T) {
	daily := forecast.Model{Period: 24 * time.Hour, Slot: time.Hour, Season: make([]float64, 24), Count: 10, Level: 3}
	weekly := daily.Clone()
	weekly.Week = forecast.NewWeek()
	weekly.Week.Slots[5] = 1.5
	tests := []struct {
		name   string
		models []policy.MetricModel
		copied bool
	}{
		{"a model with a weekly adjustment", []policy.MetricModel{{Model: daily.Clone()}, {Model: weekly}}, true},
		{"no weekly adjustment", []policy.MetricModel{{Model: daily.Clone()}}, false},
		{"no models", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := withoutWeeks(tc.models)
			if copied := len(got) > 0 && &got[0] != &tc.models[0]; copied != tc.copied {
				t.Fatalf("copied %v, want %v", copied, tc.copied)
			}
			for i, m := range tc.models {
				if i == 1 && m.Model.Week.Slots == nil {
					t.Fatal("the kept state lost its weekly adjustment")
				}
			}
			s := policy.State{Models: got}
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back policy.State
			if err := back.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if len(back.Models) != len(tc.models) {
				t.Fatalf("%d models decoded, want %d", len(back.Models), len(tc.models))
			}
			for i, m := range back.Models {
				if m.Model.Week.Slots != nil || m.Model.Level != 3 || len(m.Model.Season) != 24 {
					t.Fatalf("model %d decoded as %+v: want the daily model without weekly slots", i, m.Model)
				}
			}
		})
	}
}
