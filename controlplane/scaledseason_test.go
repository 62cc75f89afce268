package controlplane

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestScaledSeasonOnlyInVersion13: a leader writing entry version 13 or
// 14 commits a state whose model's season scales with the level in policy
// state version 6, scaling (in 13 with MarshalBinaryV6, which leaves out
// the forecast's cost bound's account: empty here, forecast-only); one started with --raft-write-version 12
// commits it as the code of version 12 would encode it with that season
// made additive at today's amplitude (policy.State.MarshalBinaryV5:
// policy state version 5, its scores by the time of day kept), and 11 or
// older in policy state version 4 (MarshalBinaryV4), since servers of
// version 12 and before cannot decode version 6: one leading would start
// the policy afresh, and they would keep a later pacing commit without
// the stored models, so the replicated states would differ. The additive
// model a version-12 reader decodes forecasts what the scaled one does,
// at the lead and a day on. The state the leader keeps in memory keeps
// scaling; the node's snapshot holds the committed bytes: none with a
// scaled season below version 13. The planted model (plantScored) chose
// its season scaled, with a factor other than 1.
func TestScaledSeasonOnlyInVersion13(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version uint8
		state   byte // the committed state's policy state version
		scaled  bool
		marshal func(policy.State) ([]byte, error) // the committed bytes from the kept state
	}{
		{"version 14 keeps the season scaled", store.VersionCostBound, 6, true, policy.State.MarshalBinary},
		{"version 13 keeps the season scaled", store.VersionScaledSeason, 6, true, policy.State.MarshalBinaryV6},
		{"version 12 makes it additive", store.VersionTimeOfDay, 5, false, policy.State.MarshalBinaryV5},
		{"version 11 makes it additive, without scores", store.VersionWeeklyPart, 4, false, policy.State.MarshalBinaryV4},
		{"version 10 makes it additive, without scores", store.VersionWeekly, 4, false, policy.State.MarshalBinaryV4},
		{"version 9 makes it additive, without scores and weeks", store.VersionCompact, 4, false, func(s policy.State) ([]byte, error) {
			s.Models = withoutWeeks(s.Models)
			return s.MarshalBinaryV4()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, planted, committed, st := evaluateScored(t, tc.version, tc.state)
			if m := planted.Models[0].Model; !(m.Ref > 0) || m.Mean == m.Ref {
				t.Fatalf("the planted model's season: ref %v, mean %v; want one that scales, by a factor other than 1", m.Ref, m.Mean)
			}
			kept := keptState(r)
			km, cm := kept.Models[0], st.Models[0]
			if !(km.Model.Ref > 0) {
				t.Fatal("the state the leader keeps lost its scaled season")
			}
			if got := cm.Model.Ref > 0; got != tc.scaled {
				t.Fatalf("the committed model's season scales: %v, want %v", got, tc.scaled)
			}
			if want, err := tc.marshal(kept); err != nil || !bytes.Equal(committed, want) {
				t.Fatalf("the committed state (%d bytes) is not the kept one's encoding for its readers (%d bytes, %v)", len(committed), len(want), err)
			}
			// A reader of the committed state forecasts what the leader
			// does (without the weekly adjustment below version 10): at
			// the lead, and through the day (the season's shape).
			if tc.version < store.VersionWeekly {
				km.Model = withoutWeeks(kept.Models)[0].Model
			}
			last := time.Unix(0, km.Model.LastUnixNano)
			for _, ahead := range []time.Duration{20 * time.Second, 6 * time.Hour, 15 * time.Hour, 24 * time.Hour} {
				want, got := km.Model.Forecast(last.Add(ahead), km.Params), cm.Model.Forecast(last.Add(ahead), cm.Params)
				if math.Abs(got-want) > 1e-6*math.Abs(want) {
					t.Fatalf("%v ahead: the committed model forecasts %v, the leader's %v", ahead, got, want)
				}
			}
			snapshotHolds(t, r, tc.version, committed)
		})
	}
}
