package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// TestCostAccountOnlyInVersion14: a leader writing entry version 14
// commits a state whose forecast's cost bound holds an account
// (policy.ExtraAccount) in policy state version 7, with it; one started
// with --raft-write-version 13 commits it as the code of version 13 would
// encode it, without the account (policy.State.MarshalBinaryV6: policy
// state version 6, the planted model's scaled season kept), 12 with
// MarshalBinaryV5 (version 5, the season additive) and 11 with
// MarshalBinaryV4, since servers of version 13 and before cannot decode
// version 7: one leading would start the policy afresh, and they would
// keep a later pacing commit without the stored models, so the
// replicated states would differ. The entry the leader appends to its
// log is of its write version and decodes (as a follower decodes it) to
// the state the node applied. The state the leader keeps in memory keeps
// its account; the node's snapshot, in the snapshot version of its write
// version, holds the committed bytes: none with an account below version
// 14. The account is planted on the leader's state (plantScored's, whose
// model's season scales with the level) before it evaluates.
func TestCostAccountOnlyInVersion14(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version uint8
		state   byte // the committed state's policy state version
		account bool
		marshal func(policy.State) ([]byte, error) // the committed bytes from the kept state
	}{
		{"version 14 keeps the account", store.VersionCostBound, 7, true, policy.State.MarshalBinary},
		{"version 13 leaves it out", store.VersionScaledSeason, 6, false, policy.State.MarshalBinaryV6},
		{"version 12 leaves it out, the season additive", store.VersionTimeOfDay, 5, false, policy.State.MarshalBinaryV5},
		{"version 11 leaves it out, without scores", store.VersionWeeklyPart, 4, false, policy.State.MarshalBinaryV4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := strings.Replace(weeklySpec, `"forecast-only"`, `"forecast-and-scale"`, 1)
			var first uint64
			r, _, committed, st := evaluateScoredSpec(t, tc.version, tc.state, spec, func(r *evalRig, at time.Time) {
				plantAccount(r, at)
				first = r.n.Raft().LastIndex()
			})
			kept := keptState(r)
			if kept.Extra.Empty() {
				t.Fatal("the state the leader keeps lost its account")
			}
			if want, err := tc.marshal(kept); err != nil || !bytes.Equal(committed, want) {
				t.Fatalf("the committed state (%d bytes) is not the kept one's encoding for its readers (%d bytes, %v)", len(committed), len(want), err)
			}
			if got := !st.Extra.Empty(); got != tc.account {
				t.Fatalf("the committed state has an account: %v, want %v", got, tc.account)
			}
			if tc.account && !reflect.DeepEqual(st.Extra, kept.Extra) {
				t.Fatalf("the committed account %+v, the kept one %+v", st.Extra, kept.Extra)
			}
			if got := committedState(t, r, first, tc.version); !bytes.Equal(got, committed) {
				t.Fatalf("the logged entry's state (%d bytes) is not the applied one (%d bytes)", len(got), len(committed))
			}
			snapshotHolds(t, r, tc.version, committed)
		})
	}
}

// plantAccount gives the state r's leader keeps for policy p an account
// of the forecast's cost bound, charged until a minute before at.
func plantAccount(r *evalRig, at time.Time) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	k := r.l.latest["p"]
	k.state.Extra = policy.ExtraAccount{At: at.Add(-time.Minute), Held: 240, Extra: 6.5, Excess: 1, Shadow: 2,
		Recommendations: []policy.Recommendation{{At: at.Add(-2 * time.Minute), Size: 2}, {At: at.Add(-time.Minute), Size: 2}}}
	r.l.latest["p"] = k
}

// committedState is the state of the last evaluation of p that r's node
// appended to its Raft log after index from, as a follower decodes it:
// the entry must be of version v.
func committedState(t *testing.T, r *evalRig, from uint64, v uint8) []byte {
	t.Helper()
	logs := r.n.storage.Logs
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var state []byte
	for i := from + 1; i <= last; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		if e.Type != raft.LogCommand || len(e.Data) < 2 {
			continue
		}
		if ct := store.CommandType(e.Data[0]); ct != store.CmdEvaluated && ct != store.CmdEvaluations {
			continue
		}
		if e.Data[1] != v {
			t.Fatalf("log %d is entry version %d, want %d", i, e.Data[1], v)
		}
		cmd, err := store.Decode(e.Data)
		if err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		for _, it := range evaluatedIn(cmd) {
			if it.Policy == "p" && len(it.State) > 0 {
				state = it.State
			}
		}
	}
	if state == nil {
		t.Fatal("no evaluation of p with its state in the log")
	}
	return state
}

// TestCostBoundWriteWhileUpgrading: a server started with
// --raft-write-version 13 (or older), whose followers of that version have
// no forecast's cost bound, answers a policy write that sets
// predictive.max_extra to anything but the default with 400
// invalid_policy naming the field, and stores nothing; a policy with the
// default bound is stored, and reads back with it. At version 14 any
// bound is stored as written.
func TestCostBoundWriteWhileUpgrading(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version  uint8
		maxExtra string
		status   int
		stored   policy.ExtraBound
	}{
		{store.VersionCostBound, "none", http.StatusOK, policy.NoMaxExtra},
		{store.VersionCostBound, "2.5%", http.StatusOK, 2.5},
		{store.VersionScaledSeason, "none", http.StatusBadRequest, 0},
		{store.VersionScaledSeason, "2.5%", http.StatusBadRequest, 0},
		{store.VersionScaledSeason, "5%", http.StatusOK, 0},
		{store.VersionHistoryStep, "none", http.StatusBadRequest, 0},
	} {
		t.Run(fmt.Sprintf("version %d, %s", tc.version, tc.maxExtra), func(t *testing.T) {
			t.Parallel()
			n, _ := newSingleNode(t, time.Hour, nil, func(c *Config) {
				inmemRaft(c)
				c.WriteVersion = int(tc.version)
			})
			bootstrapAlone(t, n)
			h := api.NewHandler(api.Options{Backend: n, NodeID: n.cfg.NodeID})
			body := `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,` +
				`"predictive":{"mode":"forecast-and-scale","max_extra":"` + tc.maxExtra + `"},"metrics":[{"name":"rps","type":"request_rate","target":50}]}`
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPut, "/v1/policies/web", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("%d %s; want %d", w.Code, w.Body, tc.status)
			}
			got, err := n.GetPolicy(context.Background(), "web")
			if tc.status != http.StatusOK {
				if !strings.Contains(w.Body.String(), `"invalid_policy"`) || !strings.Contains(w.Body.String(), `"path":"predictive.max_extra"`) {
					t.Fatalf("the refusal: %s", w.Body)
				}
				if err == nil {
					t.Fatalf("the refused policy was stored: %+v", got)
				}
				t.Logf("%s", w.Body)
				return
			}
			if err != nil || got.Policy.Predictive.MaxExtra != tc.stored {
				t.Fatalf("stored %+v, %v; want max_extra %v", got.Policy.Predictive, err, tc.stored)
			}
		})
	}
}
