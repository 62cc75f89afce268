package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
)

// clusterAuth is the token setup the harness gives every cluster unless a
// test passes --insecure-no-auth: one token file with an admin, a write
// and a read token, shared by the agents, and the admin secret as each
// node's --node-token-file. The harness's clients use the admin token.
type clusterAuth struct {
	// secrets maps each token's name (admin, write, read) to its secret.
	secrets map[string]string
	// tokenFile and nodeTokenFile are the files the agents are given.
	tokenFile, nodeTokenFile string
	// rate is the agents' --token-rate: 0 (unlimited) by default, so
	// tests and benchmarks that send bursts are not throttled.
	rate string
}

// newClusterAuth writes the token files into dir.
func newClusterAuth(t testing.TB, dir string) *clusterAuth {
	t.Helper()
	a := &clusterAuth{secrets: map[string]string{}, rate: "0"}
	file := "tokens:\n"
	for _, name := range []string{"admin", "write", "read"} {
		secret, err := auth.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		a.secrets[name] = secret
		file += auth.FileEntry(auth.Token{Name: name, Role: auth.Role(name), Hash: auth.HashSecret(secret)})
	}
	a.tokenFile = filepath.Join(dir, "tokens.yaml")
	a.nodeTokenFile = filepath.Join(dir, "node.secret")
	if err := os.WriteFile(a.tokenFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.nodeTokenFile, []byte(a.secrets["admin"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// agentArgs are the agents' auth flags.
func (a *clusterAuth) agentArgs() []string {
	return []string{"--token-file", a.tokenFile, "--node-token-file", a.nodeTokenFile, "--token-rate", a.rate}
}

// clientOptions make a client send the admin token; none without auth.
func (a *clusterAuth) clientOptions() []api.ClientOption {
	if a == nil {
		return nil
	}
	return []api.ClientOption{api.WithToken(a.secrets["admin"])}
}

// insecure reports whether a test asked for a cluster without auth.
func insecure(extra []string) bool { return slices.Contains(extra, "--insecure-no-auth") }

// secretFile writes a token's secret to a file of its own (for programs
// such as Prometheus that read credentials from a file) and returns its
// path; "" without auth.
func (a *clusterAuth) secretFile(t testing.TB, name string) string {
	t.Helper()
	if a == nil {
		return ""
	}
	p := filepath.Join(t.TempDir(), name+".secret")
	if err := os.WriteFile(p, []byte(a.secrets[name]), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawCall sends one request to a node with the given Authorization
// header ("" for none) and returns the status and the error code.
func rawCall(t *testing.T, nd *node, method, path, authz, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, "http://"+nd.httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var eb api.ErrorBody
	data, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(data, &eb)
	return res.StatusCode, eb.Error.Code
}

// clusterState is what a refused request must leave unchanged, as one
// node sees it.
type clusterState struct {
	Policies []api.PolicyRecord
	Members  []api.Member
	Tokens   []api.TokenInfo
	Metric   *float64
}

func stateOf(t *testing.T, nd *node) clusterState {
	t.Helper()
	s, err := readState(ctx(t), nd)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readState is stateOf returning its error, for use inside eventually: a
// follower that has not yet applied the policy answers not_found, which
// is a reason to wait, not a failure.
func readState(c context.Context, nd *node) (clusterState, error) {
	var s clusterState
	var err error
	if s.Policies, err = nd.client.ListPolicies(c); err != nil {
		return s, err
	}
	info, err := nd.client.Cluster(c)
	if err != nil {
		return s, err
	}
	// The membership, not its health: health (last contact, applied
	// index and lag, API probes) moves on its own.
	for _, m := range info.Members {
		s.Members = append(s.Members, api.Member{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr, Suffrage: m.Suffrage, Role: m.Role})
	}
	if s.Tokens, err = nd.client.ListTokens(c); err != nil {
		return s, err
	}
	st, err := nd.client.State(c, "web")
	if err != nil {
		return s, err
	}
	for _, m := range st.Metrics {
		if m.Name == "rps" {
			s.Metric = m.Value
		}
	}
	return s, nil
}

// TestUnauthorizedRequestsAreRefusedAndChangeNothing: writes without a
// token, with a token no node knows, and with too small a role are
// refused with 401 or 403 on a follower and on the leader, and every
// node's state stays as it was.
func TestUnauthorizedRequestsAreRefusedAndChangeNothing(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(10 * time.Second)
	follower := c.follower(leader)
	putWeb(t, leader, "1s")
	push(t, leader, 150)
	// Wait for what changes by itself: the sample reaching every node, and
	// every node registering its API address (through its node token).
	eventually(t, 10*time.Second, "the sample and every member's address on every node", func() error {
		for _, nd := range c.nodes {
			s, err := readState(ctx(t), nd)
			if err != nil {
				return fmt.Errorf("%s: %w", nd.id, err)
			}
			if s.Metric == nil || *s.Metric != 150 {
				return fmt.Errorf("%s: metric %v", nd.id, s.Metric)
			}
			for _, m := range s.Members {
				if m.HTTPAddr == "" {
					return fmt.Errorf("%s: member %s has no API address yet", nd.id, m.ID)
				}
			}
		}
		return nil
	})
	before := map[string]clusterState{}
	for _, nd := range c.nodes {
		before[nd.id] = stateOf(t, nd)
	}

	unknown, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(s string) string { return "Bearer " + s }
	policy := strings.Replace(fmt.Sprintf(webPolicy, "1s"), `"max": 40`, `"max": 4`, 1)
	sample := fmt.Sprintf(`{"samples":[{"policy":"web","metric":"rps","time":%q,"value":999}]}`, time.Now().UTC().Format(time.RFC3339))
	writes := []struct {
		method, path, body string
		need               string // the role the route needs
	}{
		{"PUT", "/v1/policies/web", policy, "write"},
		{"DELETE", "/v1/policies/web", "", "write"},
		{"POST", "/v1/metrics", sample, "write"},
		{"POST", "/v1/cluster/join", `{"id":"rogue","raft_addr":"127.0.0.1:1","http_addr":"127.0.0.1:2"}`, "admin"},
		{"DELETE", "/v1/cluster/members/" + follower.id, "", "admin"},
		{"POST", "/v1/tokens", `{"name":"rogue","role":"admin"}`, "admin"},
		{"DELETE", "/v1/tokens/admin", "", "admin"},
	}
	for _, nd := range []*node{follower, leader} {
		for _, w := range writes {
			name := fmt.Sprintf("%s %s via %s", w.method, w.path, nd.id)
			cases := []struct {
				what, authz string
				status      int
				code        string
			}{
				{"no token", "", 401, api.CodeUnauthenticated},
				{"unknown token", bearer(unknown), 401, api.CodeUnauthenticated},
				{"basic auth", "Basic " + c.auth.secrets["admin"], 401, api.CodeUnauthenticated},
				{"read token", bearer(c.auth.secrets["read"]), 403, api.CodeForbidden},
			}
			if w.need == "admin" {
				cases = append(cases, struct {
					what, authz string
					status      int
					code        string
				}{"write token", bearer(c.auth.secrets["write"]), 403, api.CodeForbidden})
			}
			for _, tc := range cases {
				if status, code := rawCall(t, nd, w.method, w.path, tc.authz, w.body); status != tc.status || code != tc.code {
					t.Errorf("%s with %s: %d %s, want %d %s", name, tc.what, status, code, tc.status, tc.code)
				}
			}
		}
		// Reads need a token too.
		if status, _ := rawCall(t, nd, "GET", "/v1/policies", "", ""); status != 401 {
			t.Errorf("GET /v1/policies via %s without a token: %d", nd.id, status)
		}
	}
	// Give a write that slipped through time to replicate before comparing.
	time.Sleep(500 * time.Millisecond)
	for _, nd := range c.nodes {
		after := stateOf(t, nd)
		b, _ := json.Marshal(before[nd.id])
		a, _ := json.Marshal(after)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: refused requests changed the state:\nbefore %s\nafter  %s", nd.id, b, a)
		}
	}
}

// TestAPITokensAreReplicated: a token created through a follower works on
// every node at once, survives a restart, and once deleted is refused
// everywhere.
func TestAPITokensAreReplicated(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(10 * time.Second)
	follower := c.follower(leader)
	created, err := follower.client.CreateToken(ctx(t), api.TokenRequest{Name: "ci", Role: "write"})
	if err != nil {
		t.Fatal(err)
	}
	asCI := func(nd *node) *api.Client {
		return api.NewClient("http://"+nd.httpAddr, &http.Client{Timeout: 5 * time.Second}, api.WithToken(created.Secret))
	}
	for _, nd := range c.nodes {
		eventually(t, 5*time.Second, "the new token on "+nd.id, func() error {
			_, err := asCI(nd).ListPolicies(ctx(t))
			return err
		})
	}
	rec, err := asCI(follower).PutPolicy(ctx(t), []byte(fmt.Sprintf(webPolicy, "1s")), "application/json", "")
	if err != nil || rec.Version == 0 {
		t.Fatalf("a write with the new write token: %v", err)
	}
	if err := asCI(leader).RemoveMember(ctx(t), follower.id); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("the write token removing a member: %v, want forbidden", err)
	}
	// A restarted node still knows the token (from its log or snapshot).
	c.kill(follower)
	c.restart(follower)
	eventually(t, 15*time.Second, "the token after a restart", func() error {
		_, err := asCI(follower).ListPolicies(ctx(t))
		return err
	})
	if err := leader.client.DeleteToken(ctx(t), "ci"); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		eventually(t, 5*time.Second, "the deleted token refused on "+nd.id, func() error {
			if _, err := asCI(nd).ListPolicies(ctx(t)); !errors.Is(err, auth.ErrUnauthenticated) {
				return fmt.Errorf("still answered: %v", err)
			}
			return nil
		})
	}
}

// TestSecretsNeverReachLogs runs a cluster at debug level with known
// secrets, makes authenticated and refused requests, manages a token
// through the API, reloads a token file with a secret pasted where its
// hash belongs, and then scans every line the agents wrote: no secret may
// appear, while the token names do.
func TestSecretsNeverReachLogs(t *testing.T) {
	c := startCluster(t, 3, "--log-level", "debug")
	leader := c.waitLeader(10 * time.Second)
	follower := c.follower(leader)
	secrets := []string{c.auth.secrets["admin"], c.auth.secrets["write"], c.auth.secrets["read"]}

	putWeb(t, follower, "1s") // forwarded with the admin token
	unknown, _ := auth.GenerateSecret()
	secrets = append(secrets, unknown)
	for _, nd := range []*node{leader, follower} {
		for _, authz := range []string{"Bearer " + unknown, "Bearer " + c.auth.secrets["read"], "Basic " + c.auth.secrets["write"],
			"Bearer " + c.auth.secrets["write"], "Bearer capstan_" + unknown} {
			rawCall(t, nd, "PUT", "/v1/policies/web", authz, fmt.Sprintf(webPolicy, "2s"))
			rawCall(t, nd, "POST", "/v1/tokens", authz, `{"name":"x","role":"read"}`)
		}
	}
	created, err := follower.client.CreateToken(ctx(t), api.TokenRequest{Name: "ci", Role: "read"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, created.Secret)
	rawCall(t, leader, "GET", "/v1/policies", "Bearer "+created.Secret, "")
	rawCall(t, follower, "DELETE", "/v1/policies/web", "Bearer "+created.Secret, "")
	if err := leader.client.DeleteToken(ctx(t), "ci"); err != nil {
		t.Fatal(err)
	}
	rawCall(t, follower, "GET", "/v1/policies", "Bearer "+created.Secret, "")

	// A broken token file on SIGHUP: the error must not quote the secret
	// pasted as a hash.
	good, err := os.ReadFile(c.auth.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	pasted, _ := auth.GenerateSecret()
	secrets = append(secrets, pasted)
	bad := string(good) + "  - name: oops\n    role: read\n    hash: " + pasted + "\n"
	if err := os.WriteFile(c.auth.tokenFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		c.signal(nd, syscall.SIGHUP)
	}
	// The old tokens stay in force.
	eventually(t, 5*time.Second, "the old set after a bad reload", func() error {
		_, err := leader.client.ListPolicies(ctx(t))
		return err
	})
	time.Sleep(300 * time.Millisecond)

	for _, nd := range c.nodes {
		c.signal(nd, syscall.SIGTERM)
	}
	for _, nd := range c.nodes {
		if nd.cmd.Process != nil {
			nd.cmd.Wait()
		}
	}
	var all strings.Builder
	for _, nd := range c.nodes {
		all.WriteString(nd.log.String())
	}
	out := all.String()
	for i, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("secret %d reached a log", i)
		}
		// Nor any long piece of one (a truncated echo).
		if strings.Contains(out, s[len("capstan_"):len("capstan_")+20]) {
			t.Fatalf("a piece of secret %d reached a log", i)
		}
	}
	for _, want := range []string{"API authentication on", "token=admin", "token=read", "token=ci", "api token created",
		"api token deleted", "keeping the previous set", "token secret, not its hash"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q (the test must exercise what it scans)", want)
		}
	}
}

// TestAgentRefusesToStartWithoutTokens: no token file and no
// --insecure-no-auth is an error that says what to do; --insecure-no-auth
// logs a warning at every start.
func TestAgentRefusesToStartWithoutTokens(t *testing.T) {
	dir := t.TempDir()
	base := []string{"agent", "--node-id", "n1", "--data-dir", filepath.Join(dir, "n1"), "--raft-addr", freePort(t),
		"--http-addr", freePort(t), "--bootstrap-expect", "1"}
	out, err := exec.Command(binary, base...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no API tokens") || !strings.Contains(string(out), "--token-file") {
		t.Fatalf("agent without tokens: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1")); err == nil {
		t.Fatal("the refused agent created its data directory")
	}
	httpAddr := base[slices.Index(base, "--http-addr")+1]
	for range 2 { // every start, not only the first
		cmd := exec.Command(binary, append(base, "--insecure-no-auth")...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Serving means started (the warning comes first); a fixed second
		// was too short for a -race binary on a loaded machine.
		eventually(t, 15*time.Second, "the agent to serve", func() error {
			resp, err := http.Get("http://" + httpAddr + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if !regexp.MustCompile(`level=WARN msg="API authentication is OFF`).MatchString(log.String()) {
			t.Fatalf("--insecure-no-auth: no warning:\n%s", log.String())
		}
	}
}
