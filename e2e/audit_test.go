package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

// localAddrClient is an API client that opens a new connection per request
// and remembers the connection's local address: the client address the
// node it calls sees.
func localAddrClient(baseURL, secret string) (*api.Client, func() string) {
	var (
		mu   sync.Mutex
		last string
	)
	d := &net.Dialer{}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				last = conn.LocalAddr().String()
				mu.Unlock()
			}
			return conn, err
		}}}
	return api.NewClient(baseURL, hc, api.WithToken(secret)), func() string {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// TestAuditThroughAFollower: a write sent to a follower, and one the
// follower refuses, are recorded by the leader and show up in
// GET /v1/audit on every node, with the client's own address, the token's
// name and the follower that passed them on.
func TestAuditThroughAFollower(t *testing.T) {
	c := startCluster(t, 3)
	if c.auth == nil {
		t.Fatal("the harness started the cluster without tokens")
	}
	leader := c.waitLeader(10 * time.Second)
	f := c.follower(leader)

	writer, writerAddr := localAddrClient("http://"+f.httpAddr, c.auth.secrets["write"])
	rec, err := writer.PutPolicy(ctx(t), []byte(fmt.Sprintf(webPolicy, "1s")), "application/json", "")
	if err != nil {
		t.Fatalf("PUT via the follower %s: %v", f.id, err)
	}
	wrote := writerAddr()

	reader, readerAddr := localAddrClient("http://"+f.httpAddr, c.auth.secrets["read"])
	err = reader.DeletePolicy(ctx(t), "web", "")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("DELETE with the read token via the follower: %v, want 403", err)
	}
	refused := readerAddr()

	want := []api.AuditEntry{
		{Node: leader.id, Token: "write", Role: "write", Source: wrote, ForwardedBy: f.id, Method: "PUT", Path: "/v1/policies/web",
			Action: api.AuditPolicyPut, Target: "web", NewVersion: rec.Version, Status: http.StatusOK},
		{Node: leader.id, Token: "read", Source: refused, ForwardedBy: f.id, Method: "DELETE", Path: "/v1/policies/web",
			Action: api.AuditPolicyDelete, Target: "web", Status: http.StatusForbidden, Code: api.CodeForbidden},
	}
	for _, nd := range c.nodes {
		eventually(t, 10*time.Second, "audit entries on "+nd.id, func() error {
			entries, err := nd.client.AuditLog(ctx(t), 100)
			if err != nil {
				return err
			}
			for _, w := range want {
				if !hasAuditEntry(entries, w) {
					return fmt.Errorf("no entry like %+v in %+v", w, entries)
				}
			}
			return nil
		})
	}
	// The policy write's entry was committed in the write's own Raft
	// entry: its id is the policy's version.
	entries, err := f.client.AuditLog(ctx(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == api.AuditPolicyPut && e.Token == "write" && e.ID != rec.Version {
			t.Errorf("the write's entry has id %d, want the write's own index %d", e.ID, rec.Version)
		}
	}
}

// hasAuditEntry reports whether entries hold one equal to want in every
// field want sets besides ID, Time and Via (which a test cannot know).
func hasAuditEntry(entries []api.AuditEntry, want api.AuditEntry) bool {
	for _, e := range entries {
		got := e
		got.ID, got.Time, got.Via = 0, time.Time{}, ""
		if got == want {
			return true
		}
	}
	return false
}
