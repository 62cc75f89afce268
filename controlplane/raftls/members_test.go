package raftls

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func refusals(e *endpoint, direction, reason string) float64 {
	return testutil.ToFloat64(e.layer.refusals.WithLabelValues(direction, reason))
}

// waitFor polls cond for up to 10 s: a refusal is counted by the accepting
// side after the dialer has seen its connection close.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second) // generous: a loaded -race run once took over 3 s
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestOnlyMembersSpeakAsThemselves sends AppendEntries to member n1 with
// node certificates of the cluster CA: a member speaking as itself gets
// through; a certificate of a node that is not a member, and a member
// claiming another member's id, are refused before Raft sees the request,
// and the refusal is counted.
func TestOnlyMembersSpeakAsThemselves(t *testing.T) {
	for _, tc := range []struct {
		name       string
		from       string // the certificate used
		claims     string // the RPC header's id
		members    []string
		wantReason string // "" means accepted
	}{
		{"a member as itself", "n2", "n2", []string{"n1", "n2"}, ""},
		{"a certificate of a node that is not a member", "n3", "n3", []string{"n1", "n2"}, reasonNotMember},
		{"a non-member claiming to be a member", "n3", "n2", []string{"n1", "n2"}, reasonNotMember},
		{"a member claiming to be another member", "n2", "n1", []string{"n1", "n2"}, reasonOtherID},
		{"a member claiming to be a non-member", "n2", "n3", []string{"n1", "n2"}, reasonOtherID},
		{"a member claiming no id", "n2", "", []string{"n1", "n2"}, reasonOtherID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			r := newRoster()
			target := p.nodeEndpoint(t, "n1", r)
			from := p.nodeEndpoint(t, tc.from, newRoster(target))
			for _, id := range tc.members {
				switch id {
				case "n1":
					r.add(target)
				case tc.from:
					r.add(from)
				}
			}
			err := appendEntriesAs(from, tc.claims, target)
			if tc.wantReason == "" {
				if err != nil || target.got.get() != 1 {
					t.Fatalf("refused (%v, %d reached Raft), want accepted", err, target.got.get())
				}
				return
			}
			if err == nil {
				t.Fatal("the request was answered, want refused")
			}
			if !waitFor(func() bool { return refusals(target, "accept", tc.wantReason) == 1 }) {
				t.Fatalf("refusals{%s} = %v, want 1", tc.wantReason, refusals(target, "accept", tc.wantReason))
			}
			if got := target.got.get(); got != 0 {
				t.Fatalf("%d requests reached Raft", got)
			}
			if tc.wantReason == reasonNotMember && failures(target, "accept") != 1 {
				t.Fatalf("accept handshake failures %v, want 1 (a non-member's handshake is a refused handshake)", failures(target, "accept"))
			}
		})
	}
}

// TestRemovedMemberIsCutOff: a member's pooled connection carries its
// requests until it leaves; then its next request is refused on the same
// connection, and Prune closes the connections of nodes that left.
func TestRemovedMemberIsCutOff(t *testing.T) {
	p := newPKI(t)
	r := newRoster()
	n1, n2 := p.nodeEndpoint(t, "n1", r), p.nodeEndpoint(t, "n2", r)
	r.add(n1)
	r.add(n2)
	if err := appendEntries(n2, n1); err != nil {
		t.Fatal(err)
	}
	if err := appendEntries(n1, n2); err != nil {
		t.Fatal(err)
	}
	r.remove("n2")
	if err := appendEntries(n2, n1); err == nil {
		t.Fatal("a removed member's request was answered")
	}
	if !waitFor(func() bool { return refusals(n1, "accept", reasonNotMember) == 1 }) {
		t.Fatalf("refusals %v, want 1", refusals(n1, "accept", reasonNotMember))
	}
	if got := n1.got.get(); got != 1 {
		t.Fatalf("%d requests reached n1's Raft, want only the one before the removal", got)
	}
	// n1 dialed n2 before the removal; Prune closes that connection.
	if got := n1.layer.Prune(); got != 1 {
		t.Fatalf("Prune closed %d connections, want 1 (the dial to n2)", got)
	}
	if got := n1.layer.Prune(); got != 0 {
		t.Fatalf("a second Prune closed %d connections", got)
	}
	// And n1 no longer reaches it: the pooled connection is closed, and
	// the next dial is refused.
	for i := range 2 {
		if err := appendEntries(n1, n2); err == nil {
			t.Fatalf("request %d: n1 sent a request to a node that left", i)
		}
	}
	if refusals(n1, "dial", reasonNotMember) != 1 {
		t.Fatalf("dial refusals %v, want 1", refusals(n1, "dial", reasonNotMember))
	}
}

// TestDialChecksWhoAnswers: a dialed address must answer with the
// certificate of the member the configuration places there.
func TestDialChecksWhoAnswers(t *testing.T) {
	p := newPKI(t)
	r := newRoster()
	n1, n2, n3 := p.nodeEndpoint(t, "n1", r), p.nodeEndpoint(t, "n2", r), p.nodeEndpoint(t, "n3", r)
	r.add(n1)
	r.add(n2)
	// n3 is no member; n2 is one, but not at the second address it answers at.
	if err := appendEntries(n1, n3); err == nil {
		t.Fatal("n1 sent a request to a non-member")
	}
	elsewhere := p.nodeEndpoint(t, "n2", r) // n2's certificate on another address
	if err := appendEntries(n1, elsewhere); err == nil {
		t.Fatal("n1 sent a request to the wrong node")
	}
	if refusals(n1, "dial", reasonNotMember) != 1 || refusals(n1, "dial", reasonOtherAddr) != 1 {
		t.Fatalf("dial refusals: not a member %v, at another address %v; want 1 each",
			refusals(n1, "dial", reasonNotMember), refusals(n1, "dial", reasonOtherAddr))
	}
	if err := appendEntries(n1, n2); err != nil {
		t.Fatalf("n1 -> n2: %v", err)
	}
}

// TestSnapshotsPassThrough: an InstallSnapshot's raw bytes follow its
// request on the stream; the checked connection passes them to Raft
// unchanged and the requests after them are still read in step.
func TestSnapshotsPassThrough(t *testing.T) {
	p := newPKI(t)
	r := newRoster()
	n1, n2 := p.nodeEndpoint(t, "n1", r), p.nodeEndpoint(t, "n2", r)
	r.add(n1)
	r.add(n2)
	data := bytes.Repeat([]byte("snapshot"), 100_000)
	for i := range 2 {
		req := &raft.InstallSnapshotRequest{RPCHeader: raft.RPCHeader{ID: []byte("n2"), Addr: []byte(n2.trans.LocalAddr())},
			SnapshotVersion: raft.SnapshotVersionMax, Term: 7, LastLogIndex: 40, LastLogTerm: 7, Size: int64(len(data))}
		var resp raft.InstallSnapshotResponse
		if err := n2.trans.InstallSnapshot("n1", n1.trans.LocalAddr(), req, &resp, bytes.NewReader(data)); err != nil || !resp.Success {
			t.Fatalf("snapshot %d: %+v %v", i, resp, err)
		}
		if err := appendEntries(n2, n1); err != nil {
			t.Fatalf("AppendEntries after snapshot %d: %v", i, err)
		}
	}
}
