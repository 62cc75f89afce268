package controlplane

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/capstan-io/capstan/api"
)

// TestApplyError: a write refused before Raft took it was not made
// (no_leader); one handed over before leadership was lost may still
// commit (outcome_unknown).
func TestApplyError(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{raft.ErrNotLeader, api.ErrNoLeader},
		{raft.ErrLeadershipTransferInProgress, api.ErrNoLeader},
		{raft.ErrEnqueueTimeout, api.ErrNoLeader},
		{raft.ErrLeadershipLost, api.ErrOutcomeUnknown},
		{raft.ErrRaftShutdown, api.ErrOutcomeUnknown},
	}
	for _, tc := range tests {
		got := applyError(tc.err)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%v: got %v, want it wrapped with %v", tc.err, got, tc.want)
		}
		other := api.ErrNoLeader
		if tc.want == api.ErrNoLeader {
			other = api.ErrOutcomeUnknown
		}
		if errors.Is(got, other) {
			t.Errorf("%v: %v is also %v", tc.err, got, other)
		}
	}
}
