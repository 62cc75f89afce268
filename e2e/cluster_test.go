// Package e2e runs Capstan as its users do: separate `capstan agent`
// processes forming a Raft cluster over real TCP on 127.0.0.1, a shared
// `capstan fakecloud`, and the REST API. The tests kill, pause and restart
// processes to prove the control plane's invariants.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/controlplane"
)

// binary is the capstan executable TestMain builds for every test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "capstan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "capstan")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/capstan")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building capstan:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address nobody listens on right now. It
// picks below Linux's ephemeral range (32768 and up): a port the test
// closes and an agent then binds could otherwise be taken in between by
// any outgoing connection, of which parallel test packages make many.
// Ports are handed out in sequence from a random start, so two calls in
// this process never return the same port before the first is bound (a
// random pick per call did, once, in CI: two agents given one Raft port).
func freePort(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := portBase + int(nextPort.Add(1))%portSpan
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

const (
	portBase = 20000
	portSpan = 12000
)

// nextPort is the offset of the last port freePort handed out; it starts
// at random so concurrent runs of this package on one machine rarely
// walk the same ports.
var nextPort = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(rand.Int64N(portSpan))
	return &n
}()

type node struct {
	id, raftAddr, httpAddr, dataDir string
	cmd                             *exec.Cmd
	log                             *bytes.Buffer
	client                          *api.Client
	// debug is the node's --debug-addr (pprof), when the test gives one.
	debug string
}

type cluster struct {
	t       testing.TB
	dir     string
	fake    *fake.Client
	fakeURL string
	fakeP   *exec.Cmd
	nodes   []*node
	extra   []string
	env     []string
	// tls, when set (startTLSCluster, tls_test.go), runs the agents with
	// node certificates (API over https, Raft over mutual TLS) and the
	// clients over https.
	tls *clusterTLS
	// auth, set by default (auth_test.go), runs the agents with a token
	// file and gives the clients the admin token; nil (or
	// --insecure-no-auth in extra) runs them without authentication.
	auth *clusterAuth
	// bindAll, when set, has the agents listen on all interfaces
	// (--raft-bind and --http-bind 0.0.0.0:PORT) while they advertise
	// their 127.0.0.1 addresses.
	bindAll bool
	// inProcessCloud, when set, starts no `capstan fakecloud`: each agent
	// uses its own in-process fake cloud (no --fake-cloud), so a load run
	// measures the control plane without an HTTP cloud's cost.
	inProcessCloud bool
	// nodeArgs, when set, gives a node extra flags of its own (e.g. a
	// --debug-addr port).
	nodeArgs func(*node) []string
	// seed, when set, prepares the nodes' data directories before any
	// agent starts (e.g. a Raft snapshot of a week-old state).
	seed func(nodes []*node) error
	// startWait bounds the wait for the first leader (default 10 s).
	startWait time.Duration
}

// raftDefault is the flag that gives agents the default Raft timing
// (controlplane.DefaultRaftMultiplier), for the benchmarks that measure
// what an operator's cluster does; the tests run at multiplier 1.
func raftDefault() []string {
	return []string{"--raft-multiplier", strconv.Itoa(controlplane.DefaultRaftMultiplier)}
}

// startCluster starts a fake cloud and n agents that bootstrap together.
func startCluster(t testing.TB, n int, extra ...string) *cluster {
	t.Helper()
	return startClusterEnv(t, n, nil, extra...)
}

// startClusterEnv is startCluster with extra environment for the agents.
func startClusterEnv(t testing.TB, n int, env []string, extra ...string) *cluster {
	t.Helper()
	return startClusterWith(t, n, func(c *cluster) { c.env = env }, extra...)
}

// startClusterWith is startCluster with options: set sets the cluster's
// fields (env, tls, ...) before any process starts.
func startClusterWith(t testing.TB, n int, set func(*cluster), extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), extra: extra}
	if !insecure(extra) {
		c.auth = newClusterAuth(t, c.dir)
	}
	if set != nil {
		set(c)
	}
	if !c.inProcessCloud {
		fakeAddr := freePort(t)
		c.fakeP = exec.Command(binary, "fakecloud", "--addr", fakeAddr, "--boot-delay", "1s", "--auto-create")
		c.fakeP.Stderr = &bytes.Buffer{}
		if err := c.fakeP.Start(); err != nil {
			t.Fatal(err)
		}
		c.fakeURL = "http://" + fakeAddr
		c.fake = fake.NewClient(c.fakeURL, &http.Client{Timeout: 5 * time.Second})
	}
	var joins []string
	for i := 0; i < n; i++ {
		nd := &node{id: fmt.Sprintf("n%d", i+1), raftAddr: freePort(t), httpAddr: freePort(t)}
		nd.dataDir = filepath.Join(c.dir, nd.id)
		nd.client = c.newClient(nd.httpAddr)
		joins = append(joins, nd.httpAddr)
		c.nodes = append(c.nodes, nd)
	}
	if c.seed != nil {
		if err := c.seed(c.nodes); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range c.nodes {
		c.start(nd, strings.Join(joins, ","), c.fakeURL)
	}
	t.Cleanup(c.stopAll)
	c.waitLeader(cmp.Or(c.startWait, 10*time.Second))
	return c
}

func (c *cluster) start(nd *node, join, fakeURL string) {
	c.t.Helper()
	args := []string{"agent", "--node-id", nd.id, "--data-dir", nd.dataDir, "--raft-addr", nd.raftAddr,
		"--http-addr", nd.httpAddr, "--bootstrap-expect", strconv.Itoa(len(c.nodes)), "--join", join,
		"--log-level", "info",
		// The fake cloud answers on loopback in milliseconds: a short fence
		// (docs/fencing.md) so that a failover which catches an intent in
		// flight holds its group for seconds, not the defaults' 30 s. A test
		// that needs other values passes them in extra, which come last and
		// win.
		"--cloud-timeout", "5s", "--cloud-settle", "1s",
		// Raft's base timing (500 ms): these tests' bounds assume a lost
		// leader is replaced in about a second, and every cluster's first
		// election waits one heartbeat timeout. The load and failover
		// benchmarks (scale, cloud load, failover) pass the agent's default
		// multiplier (raftDefault).
		"--raft-multiplier", "1"}
	if fakeURL != "" {
		args = append(args, "--fake-cloud", fakeURL)
	}
	if c.nodeArgs != nil {
		args = append(args, c.nodeArgs(nd)...)
	}
	if c.tls != nil {
		args = append(args, c.tls.agentArgs(nd.id)...)
	}
	if c.auth != nil {
		args = append(args, c.auth.agentArgs()...)
	}
	if c.bindAll {
		_, raftPort, _ := net.SplitHostPort(nd.raftAddr)
		_, httpPort, _ := net.SplitHostPort(nd.httpAddr)
		args = append(args, "--raft-bind", "0.0.0.0:"+raftPort, "--http-bind", "0.0.0.0:"+httpPort)
	}
	nd.cmd = exec.Command(binary, append(args, c.extra...)...)
	nd.cmd.Env = append(os.Environ(), c.env...)
	nd.log = &bytes.Buffer{}
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// newClient is an API client of the agent at addr (host:port), with the
// admin token when the cluster has auth.
func (c *cluster) newClient(addr string) *api.Client {
	if c.tls != nil {
		return api.NewClient("https://"+addr, c.tls.httpClient(), c.auth.clientOptions()...)
	}
	return api.NewClient("http://"+addr, &http.Client{Timeout: 10 * time.Second}, c.auth.clientOptions()...)
}

// restart starts a stopped node again with its original flags and data.
func (c *cluster) restart(nd *node) {
	c.t.Helper()
	var joins []string
	for _, o := range c.nodes {
		joins = append(joins, o.httpAddr)
	}
	c.start(nd, strings.Join(joins, ","), c.fakeURL)
}

func (c *cluster) stopAll() {
	for _, nd := range c.nodes {
		c.signal(nd, syscall.SIGCONT)
		c.kill(nd)
	}
	if c.fakeP != nil && c.fakeP.Process != nil {
		c.fakeP.Process.Kill()
		c.fakeP.Wait()
	}
	for _, nd := range c.nodes {
		if strings.Contains(nd.log.String(), "DATA RACE") {
			c.t.Errorf("%s: the race detector reported a data race:\n%s", nd.id, nd.log.String())
		}
	}
	if c.t.Failed() {
		for _, nd := range c.nodes {
			c.t.Logf("---- %s log ----\n%s", nd.id, tail(nd.log.String(), 40))
		}
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (c *cluster) kill(nd *node) {
	if nd.cmd != nil && nd.cmd.Process != nil && nd.cmd.ProcessState == nil {
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
	}
}

func (c *cluster) signal(nd *node, sig syscall.Signal) {
	if nd.cmd != nil && nd.cmd.Process != nil && nd.cmd.ProcessState == nil {
		nd.cmd.Process.Signal(sig)
	}
}

// waitLeader polls until the live nodes agree on a leader, and returns it.
func (c *cluster) waitLeader(within time.Duration, except ...*node) *node {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if contains(except, nd) || nd.cmd.ProcessState != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			info, err := nd.client.Cluster(ctx)
			cancel()
			if err == nil && info.Role == "leader" && info.LeaderHTTPAddr != "" {
				return nd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %s", within)
	return nil
}

func contains(list []*node, nd *node) bool {
	for _, o := range list {
		if o == nd {
			return true
		}
	}
	return false
}

func (c *cluster) follower(leader *node) *node {
	for _, nd := range c.nodes {
		if nd != leader && nd.cmd.ProcessState == nil {
			return nd
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// eventually retries f until it returns nil or the time is up.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

const webPolicy = `{
  "id": "web",
  "target": {"provider": "fake", "group": "web"},
  "min": 2, "max": 40, "warmup": "1s", "evaluation_interval": "1s", "tolerance": 0.1,
  "metrics": [{"name": "rps", "type": "request_rate", "target": 100}],
  "scale_out": {"cooldown": "%s", "max_step": {"instances": 100, "percent": 0, "period": "1s"}},
  "scale_in": {"cooldown": "1h", "stabilization": "1h"},
  "stale_after": "1h"
}`

func putWeb(t *testing.T, nd *node, cooldown string) api.PolicyRecord {
	t.Helper()
	rec, err := nd.client.PutPolicy(ctx(t), []byte(fmt.Sprintf(webPolicy, cooldown)), "application/json", "")
	if err != nil {
		t.Fatalf("put policy via %s: %v", nd.id, err)
	}
	return rec
}

func push(t *testing.T, nd *node, value float64) {
	t.Helper()
	res, err := nd.client.PushMetrics(ctx(t), []api.Sample{{Policy: "web", Metric: "rps", Time: time.Now().UTC(), Value: value}})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("push via %s: %+v %v", nd.id, res, err)
	}
}

// groupDesired reads the fake group's desired size.
func (c *cluster) groupDesired(t *testing.T) int {
	t.Helper()
	groups, err := c.fake.Groups(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return groups["web"].Desired
}

func TestClusterReplicatesWritesThroughAnyNode(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	f := c.follower(leader)
	rec := putWeb(t, f, "1s")
	for _, nd := range c.nodes {
		eventually(t, 5*time.Second, "policy on "+nd.id, func() error {
			got, err := nd.client.GetPolicy(ctx(t), "web")
			if err != nil {
				return err
			}
			if got.Version != rec.Version {
				return fmt.Errorf("version %d, want %d", got.Version, rec.Version)
			}
			return nil
		})
	}
	info, err := f.client.Cluster(ctx(t))
	if err != nil || len(info.Members) != 3 || info.LeaderID != leader.id {
		t.Fatalf("cluster from %s: %+v %v", f.id, info, err)
	}
	// The fake group is driven to the policy's minimum by the leader alone.
	eventually(t, 5*time.Second, "scale to min", func() error {
		if d := c.groupDesired(t); d != 2 {
			return fmt.Errorf("desired %d", d)
		}
		return nil
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(5 * time.Second)
	f := c.follower(leader)
	rec := putWeb(t, f, "1s")
	bad := []struct {
		name   string
		body   string
		ctype  string
		ifm    string
		status int
	}{
		{"invalid policy", `{"id":"web","target":{"provider":"fake","group":"web"},"min":5,"max":2,"metrics":[]}`, "application/json", "", 400},
		{"unknown field", strings.Replace(fmt.Sprintf(webPolicy, "1s"), `"min": 2`, `"min": 2, "minn": 3`, 1), "application/json", "", 400},
		{"malformed JSON", `{"id": "web",`, "application/json", "", 400},
		{"stale ETag", fmt.Sprintf(webPolicy, "5s"), "application/json", strconv.FormatUint(rec.Version-1, 10), 412},
	}
	for _, b := range bad {
		_, err := f.client.PutPolicy(ctx(t), []byte(b.body), b.ctype, b.ifm)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != b.status {
			t.Fatalf("%s: error %v, want HTTP %d", b.name, err, b.status)
		}
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	_, err := f.client.PutPolicy(ctx(t), big, "application/json", "")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 413 {
		t.Fatalf("oversized body: %v, want 413", err)
	}
	for _, nd := range c.nodes {
		got, err := nd.client.GetPolicy(ctx(t), "web")
		if err != nil || got.Version != rec.Version || got.Policy.ScaleOut.Cooldown.D() != time.Second {
			t.Fatalf("%s: policy changed by bad input: %+v %v", nd.id, got, err)
		}
	}
}
