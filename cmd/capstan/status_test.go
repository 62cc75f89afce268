package main

import (
	"strings"
	"testing"

	"github.com/capstan-io/capstan/api"
)

// TestStatusShowsMemberHealth checks that `capstan status` prints each
// member's health, Raft contact, lag and API reachability, and why an API
// did not answer.
func TestStatusShowsMemberHealth(t *testing.T) {
	b, url := startAPI(t)
	lag0, lag3 := uint64(0), uint64(3)
	last := 12.4
	b.SetMembers([]api.Member{
		{ID: "n1", Role: "leader", Health: "ok", RaftContact: "leader", API: "reachable", AppliedLag: &lag0, RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8081"},
		{ID: "n2", Role: "follower", Health: "down", RaftContact: "failing", LastContactSeconds: &last, API: "unreachable",
			APIError: "connection refused", RaftAddr: "127.0.0.1:7002", HTTPAddr: "127.0.0.1:8082"},
		{ID: "n3", Role: "follower", Health: "ok", RaftContact: "ok", API: "reachable", AppliedLag: &lag3, RaftAddr: "127.0.0.1:7003", HTTPAddr: "127.0.0.1:8083"},
	})
	out := mustRun(t, "status", "--addr", url)
	rows := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for id, want := range map[string]string{
		"MEMBER": "MEMBER ROLE HEALTH RAFT CONTACT LAG API RAFT ADDRESS API ADDRESS",
		"n1":     "n1 leader ok leader 0 reachable 127.0.0.1:7001 127.0.0.1:8081",
		"n2":     "n2 follower down failing, last contact 12s ago - unreachable 127.0.0.1:7002 127.0.0.1:8082",
		"n3":     "n3 follower ok ok 3 reachable 127.0.0.1:7003 127.0.0.1:8083",
		"n2:":    "n2: API unreachable: connection refused",
	} {
		if rows[id] != want {
			t.Errorf("row %s:\n got %q\nwant %q\n%s", id, rows[id], want, out)
		}
	}
}
