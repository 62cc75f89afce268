package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
)

// auditKeys are file tokens with known secrets: one per role, named after
// it ("reader", "writer", "boss" for admin).
type auditKeys map[string]string

func newAuditKeys(t *testing.T) (auditKeys, []auth.Token) {
	t.Helper()
	k := auditKeys{}
	var tokens []auth.Token
	for name, role := range map[string]auth.Role{"reader": auth.RoleRead, "writer": auth.RoleWrite, "boss": auth.RoleAdmin} {
		secret, err := auth.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		k[name] = secret
		tokens = append(tokens, auth.Token{Name: name, Role: role, Hash: auth.HashSecret(secret)})
	}
	return k, tokens
}

// lockedBuffer is a log destination safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// newAuditNode is an API node that checks the given tokens and those its
// backend holds, logging into logs when given.
func newAuditNode(t *testing.T, id string, tokens []auth.Token, logs *lockedBuffer, tweaks ...func(*api.Options)) *node {
	t.Helper()
	return newNode(t, id, func(o *api.Options) {
		for _, tw := range tweaks {
			tw(o)
		}
		a, err := auth.New(auth.Options{Load: func() ([]auth.Token, error) { return tokens, nil },
			Source: o.Backend.(*apitest.Backend)})
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = a
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
}

// addrClient sends each request on a new connection and remembers the
// connection's local address: the client's address the server sees.
type addrClient struct {
	hc   *http.Client
	mu   sync.Mutex
	last string
}

func newAddrClient() *addrClient {
	c := &addrClient{}
	d := &net.Dialer{}
	c.hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				c.mu.Lock()
				c.last = conn.LocalAddr().String()
				c.mu.Unlock()
			}
			return conn, err
		}}}
	return c
}

// send makes one request and returns the status, the body and the
// client's address.
func (c *addrClient) send(t *testing.T, method, url, token, body string) (int, []byte, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	return resp.StatusCode, data, c.last
}

// auditOf reads a node's audit log through the API with an admin token
// ("" when auth is off).
func auditOf(t *testing.T, n *node, admin string) []api.AuditEntry {
	t.Helper()
	entries, err := api.NewClient(n.srv.URL, nil, api.WithToken(admin)).AuditLog(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestAuditRecordsWritesAndRefusals(t *testing.T) {
	k, tokens := newAuditKeys(t)
	var logs lockedBuffer
	n := newAuditNode(t, "n1", tokens, &logs)
	c := newAddrClient()
	u := n.srv.URL
	badPolicy := strings.Replace(webJSON, `"max":10`, `"max":0`, 1)
	tests := []struct {
		name, method, path, token, body string
		status                          int
		// want is the entry expected (ID and Time aside); nil: none.
		want *api.AuditEntry
	}{
		{"create a policy", "PUT", "/v1/policies/web", "writer", webJSON, 200,
			&api.AuditEntry{Token: "writer", Role: "write", Action: api.AuditPolicyPut, Target: "web", Status: 200}},
		{"read role may not write", "PUT", "/v1/policies/web", "reader", webJSON, 403,
			&api.AuditEntry{Token: "reader", Action: api.AuditPolicyPut, Target: "web", Status: 403, Code: api.CodeForbidden}},
		{"invalid policy", "PUT", "/v1/policies/web", "writer", badPolicy, 400,
			&api.AuditEntry{Token: "writer", Role: "write", Action: api.AuditPolicyPut, Target: "web", Status: 400, Code: api.CodeInvalidPolicy}},
		{"delete a missing policy", "DELETE", "/v1/policies/nope", "writer", "", 404,
			&api.AuditEntry{Token: "writer", Role: "write", Action: api.AuditPolicyDelete, Target: "nope", Status: 404, Code: api.CodeNotFound}},
		{"join", "POST", "/v1/cluster/join", "boss", `{"id":"n9","raft_addr":"127.0.0.1:9","http_addr":"127.0.0.1:10"}`, 204,
			&api.AuditEntry{Token: "boss", Role: "admin", Action: api.AuditClusterJoin, Target: "n9", Status: 204}},
		{"join a conflicting member", "POST", "/v1/cluster/join", "boss", `{"id":"n9","raft_addr":"127.0.0.1:99","http_addr":"127.0.0.1:10"}`, 409,
			&api.AuditEntry{Token: "boss", Role: "admin", Action: api.AuditClusterJoin, Target: "n9", Status: 409, Code: api.CodeConflict}},
		{"writer may not remove members", "DELETE", "/v1/cluster/members/n9", "writer", "", 403,
			&api.AuditEntry{Token: "writer", Action: api.AuditClusterRemove, Target: "n9", Status: 403, Code: api.CodeForbidden}},
		{"remove a member", "DELETE", "/v1/cluster/members/n9", "boss", "", 204,
			&api.AuditEntry{Token: "boss", Role: "admin", Action: api.AuditClusterRemove, Target: "n9", Status: 204}},
		{"create a token", "POST", "/v1/tokens", "boss", `{"name":"ci","role":"write"}`, 201,
			&api.AuditEntry{Token: "boss", Role: "admin", Action: api.AuditTokenCreate, Target: "ci", Status: 201}},
		{"delete a token", "DELETE", "/v1/tokens/ci", "boss", "", 204,
			&api.AuditEntry{Token: "boss", Role: "admin", Action: api.AuditTokenDelete, Target: "ci", Status: 204}},
		// Not recorded: no token (only logged), reads, and metric data.
		{"no token", "PUT", "/v1/policies/web", "", webJSON, 401, nil},
		{"a read", "GET", "/v1/policies/web", "writer", "", 200, nil},
		{"metric push", "POST", "/v1/metrics", "writer", `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}`, 200, nil},
	}
	var secrets []string
	for _, tc := range tests {
		before := len(auditOf(t, n, k["boss"]))
		status, body, client := c.send(t, tc.method, u+tc.path, k[tc.token], tc.body)
		if status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		if tc.method == "POST" && tc.path == "/v1/tokens" {
			var created api.TokenCreated
			if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" {
				t.Fatalf("%s: %s", tc.name, body)
			}
			secrets = append(secrets, created.Secret, auth.HashSecret(created.Secret))
		}
		got := auditOf(t, n, k["boss"])
		if tc.want == nil {
			if len(got) != before {
				t.Errorf("%s: recorded %+v, want nothing", tc.name, got[0])
			}
			continue
		}
		if len(got) != before+1 {
			t.Fatalf("%s: %d new entries, want 1", tc.name, len(got)-before)
		}
		e := got[0]
		want := *tc.want
		want.ID, want.Time = e.ID, e.Time
		want.Node, want.Source, want.Method = "n1", client, tc.method
		want.Path = tc.path
		if e != want {
			t.Errorf("%s: entry\n %+v\nwant\n %+v", tc.name, e, want)
		}
	}
	// Newest first, and nothing secret anywhere in the log.
	all := auditOf(t, n, k["boss"])
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("entries not newest first: %d before %d", all[i-1].ID, all[i].ID)
		}
	}
	raw, _ := json.Marshal(all)
	for _, s := range append(secrets, k["boss"], k["writer"], k["reader"], `"max"`, "request_rate") {
		if strings.Contains(string(raw), s) {
			t.Errorf("the audit log contains %q (a secret, hash or policy body):\n%s", s, raw)
		}
	}
	if !strings.Contains(logs.String(), "audit: refused write logged, not recorded") {
		t.Error("the 401 was not logged")
	}
}

func TestAuditLogNeedsAdminAndALimit(t *testing.T) {
	k, tokens := newAuditKeys(t)
	n := newAuditNode(t, "n1", tokens, nil)
	c := newAddrClient()
	for range 3 {
		if status, body, _ := c.send(t, "PUT", n.srv.URL+"/v1/policies/web", k["writer"], webJSON); status != 200 {
			t.Fatalf("PUT: %d %s", status, body)
		}
	}
	for _, tc := range []struct {
		token, query string
		status, n    int
	}{
		{"boss", "", 200, 3},
		{"boss", "?limit=2", 200, 2},
		{"boss", "?limit=0", 400, 0},
		{"boss", "?limit=many", 400, 0},
		{"writer", "", 403, 0},
		{"", "", 401, 0},
	} {
		status, body, _ := c.send(t, "GET", n.srv.URL+"/v1/audit"+tc.query, k[tc.token], "")
		if status != tc.status {
			t.Fatalf("%s %q: %d %s, want %d", tc.token, tc.query, status, body, tc.status)
		}
		if status == 200 {
			var l api.AuditList
			if err := json.Unmarshal(body, &l); err != nil || len(l.Entries) != tc.n {
				t.Fatalf("%s %q: %s, want %d entries", tc.token, tc.query, body, tc.n)
			}
		}
	}
}

func TestAuditAnonymousWhenAuthIsOff(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	got := auditOf(t, n, "")
	if len(got) != 1 || got[0].Token != api.AnonymousToken || got[0].Status != 200 {
		t.Fatalf("entries %+v, want one by %q", got, api.AnonymousToken)
	}
}

// TestAuditThroughAFollower: the leader records a forwarded write with the
// client's address and the follower's id, and a refusal decided on the
// follower is relayed to the leader; the follower records nothing itself.
func TestAuditThroughAFollower(t *testing.T) {
	k, tokens := newAuditKeys(t)
	leader := newAuditNode(t, "leader", tokens, nil)
	follower := newAuditNode(t, "follower", tokens, nil, withNodeSecret(k["boss"]))
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	c := newAddrClient()

	status, body, client := c.send(t, "PUT", follower.srv.URL+"/v1/policies/web", k["writer"], webJSON)
	if status != 200 {
		t.Fatalf("PUT via the follower: %d %s", status, body)
	}
	got := auditOf(t, leader, k["boss"])
	if len(got) != 1 {
		t.Fatalf("leader's log %+v, want one entry", got)
	}
	e := got[0]
	if e.Source != client || e.ForwardedBy != "follower" || e.Via == "" || e.Via == client || e.Node != "leader" ||
		e.Token != "writer" || e.Status != 200 {
		t.Errorf("forwarded write's entry %+v: want source %s, forwarded by the follower", e, client)
	}

	status, body, client = c.send(t, "DELETE", follower.srv.URL+"/v1/policies/web", k["reader"], "")
	if status != 403 {
		t.Fatalf("DELETE by a reader via the follower: %d %s", status, body)
	}
	got = auditOf(t, leader, k["boss"])
	if len(got) != 2 {
		t.Fatalf("leader's log %+v, want the relayed refusal too", got)
	}
	e = got[0]
	if e.Source != client || e.ForwardedBy != "follower" || e.Token != "reader" || e.Status != 403 ||
		e.Code != api.CodeForbidden || e.Action != api.AuditPolicyDelete || e.Target != "web" || e.Path != "/v1/policies/web" {
		t.Errorf("relayed refusal %+v", e)
	}
	if n := len(auditOf(t, follower, k["boss"])); n != 0 {
		t.Errorf("the follower's own backend holds %d entries; only the leader records", n)
	}
	if w := leader.b.Writes(); w != 1 {
		t.Errorf("leader writes %d, want 1: audit entries are not changes", w)
	}
}

// withNodeSecret gives a node its node token.
func withNodeSecret(secret string) func(*api.Options) {
	return func(o *api.Options) { o.NodeSecret = secret }
}

// TestAuditRelayCannotForge: POST /v1/audit takes refusals only from a
// node (the node token), and records only a refusal the named token
// really earns. A client's token, whatever its role and headers, records
// nothing (issue 14: a read token filled the log through this route).
func TestAuditRelayCannotForge(t *testing.T) {
	k, tokens := newAuditKeys(t)
	n := newAuditNode(t, "n1", tokens, nil)
	relay := func(bearer, nodeToken, body string) int {
		hdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + k[bearer], api.ForwardedByHeader: "n2"}
		if nodeToken != "" {
			hdr[api.NodeTokenHeader] = k[nodeToken]
		}
		return send(t, "POST", n.srv.URL+"/v1/audit", hdr, body).status
	}
	const refusal = `{"method":"PUT","path":"/v1/policies/web","source":"1.2.3.4:5","token":"reader"}`
	for _, tc := range []struct {
		name, bearer, nodeToken, body string
		status                        int
	}{
		{"a read token posing as a node", "reader", "", refusal, 403},
		{"a read token with its own secret as node token", "reader", "reader", refusal, 403},
		{"an admin token without the node header", "boss", "", refusal, 403},
		{"a write token with a write secret as node token", "writer", "writer", refusal, 403},
		{"a node: an allowed write is no refusal", "boss", "boss", `{"method":"PUT","path":"/v1/policies/web","source":"1.2.3.4:5","token":"writer"}`, 400},
		{"a node: not an audited write", "boss", "boss", `{"method":"POST","path":"/v1/metrics","source":"1.2.3.4:5","token":"reader"}`, 400},
		{"a node: unknown field", "boss", "boss", `{"method":"PUT","path":"/v1/policies/web","role":"admin"}`, 400},
		{"a node: unknown token", "boss", "boss", `{"method":"PUT","path":"/v1/policies/web","token":"ghost"}`, 400},
		{"a node: a real refusal", "boss", "boss", refusal, 204},
	} {
		if got := relay(tc.bearer, tc.nodeToken, tc.body); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	got := auditOf(t, n, k["boss"])
	if len(got) != 1 || got[0].Token != "reader" || got[0].Status != 403 || got[0].Source != "1.2.3.4:5" || got[0].ForwardedBy != "n2" {
		t.Fatalf("log %+v, want only the relayed refusal of the reader", got)
	}
}

// TestForgedNodeHeadersAreIgnored: a client that sends the headers nodes
// use between themselves (X-Capstan-Forwarded-By, X-Capstan-Client-Addr)
// does not pass for a node. On a follower, its refused write is relayed to
// the leader like any other (issue 14: it was not, and was lost); its
// allowed write is forwarded, not answered 503. On the leader, its write
// is recorded with its true address and no forwarding node.
func TestForgedNodeHeadersAreIgnored(t *testing.T) {
	k, tokens := newAuditKeys(t)
	leader := newAuditNode(t, "leader", tokens, nil)
	follower := newAuditNode(t, "follower", tokens, nil, withNodeSecret(k["boss"]))
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	c := newAddrClient()
	forged := func(method, url, token, body string) (int, string) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+k[token])
		req.Header.Set(api.ForwardedByHeader, "n1")
		req.Header.Set(api.ClientAddrHeader, "10.9.9.9:1")
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		return resp.StatusCode, c.last
	}

	for _, tc := range []struct {
		name, via, method, path, token, body string
		status                               int
		want                                 api.AuditEntry // Source is the client's
	}{
		{"refused on the follower", "follower", "DELETE", "/v1/policies/web", "reader", "", 403,
			api.AuditEntry{Node: "leader", Token: "reader", ForwardedBy: "follower", Action: api.AuditPolicyDelete, Target: "web", Status: 403, Code: api.CodeForbidden}},
		{"allowed on the follower", "follower", "PUT", "/v1/policies/web", "writer", webJSON, 200,
			api.AuditEntry{Node: "leader", Token: "writer", Role: "write", ForwardedBy: "follower", Action: api.AuditPolicyPut, Target: "web", Status: 200}},
		{"refused on the leader", "leader", "DELETE", "/v1/policies/web", "reader", "", 403,
			api.AuditEntry{Node: "leader", Token: "reader", Action: api.AuditPolicyDelete, Target: "web", Status: 403, Code: api.CodeForbidden}},
		{"allowed on the leader", "leader", "PUT", "/v1/policies/web", "writer", webJSON, 200,
			api.AuditEntry{Node: "leader", Token: "writer", Role: "write", Action: api.AuditPolicyPut, Target: "web", Status: 200}},
	} {
		srv := leader.srv.URL
		if tc.via == "follower" {
			srv = follower.srv.URL
		}
		before := len(auditOf(t, leader, k["boss"]))
		status, client := forged(tc.method, srv+tc.path, tc.token, tc.body)
		if status != tc.status {
			t.Fatalf("%s: %d, want %d", tc.name, status, tc.status)
		}
		got := auditOf(t, leader, k["boss"])
		if len(got) != before+1 {
			t.Fatalf("%s: %d new entries on the leader, want 1", tc.name, len(got)-before)
		}
		e := got[0]
		if e.Source != client || e.ForwardedBy != tc.want.ForwardedBy || e.Token != tc.want.Token || e.Role != tc.want.Role ||
			e.Status != tc.want.Status || e.Code != tc.want.Code || e.Action != tc.want.Action || e.Target != tc.want.Target || e.Node != "leader" {
			t.Errorf("%s: entry %+v, want %+v from source %s", tc.name, e, tc.want, client)
		}
	}
	if n := len(auditOf(t, follower, k["boss"])); n != 0 {
		t.Errorf("the follower's own backend holds %d entries; only the leader records", n)
	}
}

// TestRefusalsWaitForALeader: a 403 decided on a follower while no leader
// is known is kept and relayed, with its own time, once one is.
func TestRefusalsWaitForALeader(t *testing.T) {
	k, tokens := newAuditKeys(t)
	leader := newAuditNode(t, "leader", tokens, nil)
	var logs lockedBuffer
	follower := newAuditNode(t, "follower", tokens, &logs, withNodeSecret(k["boss"]))
	follower.b.SetLeader(false, "")
	c := newAddrClient()
	var clients []string
	for range 3 {
		status, _, client := c.send(t, "DELETE", follower.srv.URL+"/v1/policies/web", k["reader"], "")
		if status != 403 {
			t.Fatalf("DELETE by a reader: %d, want 403", status)
		}
		clients = append(clients, client)
	}
	refusedBy := time.Now()
	if !strings.Contains(logs.String(), "queued to relay later") {
		t.Fatalf("the follower did not say it queued the refusals:\n%s", logs.String())
	}
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	deadline := time.Now().Add(5 * time.Second)
	var got []api.AuditEntry
	for time.Now().Before(deadline) {
		if got = auditOf(t, leader, k["boss"]); len(got) == 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 3 {
		t.Fatalf("the leader holds %d entries, want the 3 queued refusals", len(got))
	}
	for i, e := range got { // newest first
		if e.Source != clients[2-i] || e.Token != "reader" || e.Status != 403 || e.ForwardedBy != "follower" || e.Time.After(refusedBy) {
			t.Errorf("entry %d: %+v, want the refusal of %s at its own time (before %s)", i, e, clients[2-i], refusedBy)
		}
	}
}
