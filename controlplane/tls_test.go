package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/api/tlsutil"
	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/policy"
)

// tlsNode starts a node with the cluster certificate of id from dir, and
// an API stand-in that serves the same certificate over TLS (all a join
// checks of it).
func tlsNode(t *testing.T, dir, id string, bootstrap int) (*Node, string) {
	t.Helper()
	store, err := tlsutil.NewStore(tlsutil.Files{Cert: filepath.Join(dir, id+".crt"), Key: filepath.Join(dir, id+".key"), CA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	apiSrv.TLS = store.ServerConfig(tlsutil.ClientAuthNone)
	apiSrv.StartTLS()
	t.Cleanup(apiSrv.Close)

	drv := fake.NewDriver(fake.New(fake.Options{AutoCreate: true, DefaultMax: 100}))
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir = id, filepath.Join(t.TempDir(), id)
	cfg.RaftAddr, cfg.HTTPAddr = freeAddr(t), apiSrv.Listener.Addr().String()
	cfg.BootstrapExpect, cfg.TLS = bootstrap, store
	// The default timing: a lone leader that adds a voter needs it to
	// answer within the lease, which a node still starting under -race,
	// beside the package's other parallel tests, did not in 500 ms
	// (leadership was lost while committing the join).
	cfg.Registerer = prometheus.NewRegistry()
	cfg.Drivers = func(string) (cloud.Driver, error) { return drv, nil }
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	t.Cleanup(func() { cancel(); n.Shutdown() })
	return n, "https://" + cfg.HTTPAddr
}

// tlsImpostor listens on TLS with cert and accepts anyone; it returns its address.
func tlsImpostor(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func keyPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func servers(t *testing.T, n *Node) []raft.Server {
	t.Helper()
	f := n.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	return f.Configuration().Servers
}

func TestTLSJoinNeedsANodeCertificateNamingTheServer(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, other} {
		if _, _, err := tlsutil.Init(tlsutil.InitOptions{Dir: d, Nodes: []string{"n1", "n2", "n3"}, Hosts: []string{"127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	n1, _ := tlsNode(t, dir, "n1", 1)
	waitFor(t, func() bool { return n1.Raft().State() == raft.Leader })
	n2, n2API := tlsNode(t, dir, "n2", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	foreign := tlsImpostor(t, keyPair(t, other, "n3"))
	n2Cert := tlsImpostor(t, keyPair(t, dir, "n2"))
	refused := []struct {
		name string
		req  api.JoinRequest
		kind error // auth.ErrForbidden (403) for a failed proof of identity, api.ErrBadRequest (400) for a malformed request
		want string
	}{
		{"raft address with a foreign CA's certificate", api.JoinRequest{ID: "n3", RaftAddr: foreign, HTTPAddr: "https://" + n2Cert}, auth.ErrForbidden, "raft_addr"},
		{"raft address presenting another node's certificate", api.JoinRequest{ID: "n3", RaftAddr: n2Cert, HTTPAddr: n2API}, auth.ErrForbidden, `certificate of node "n2"`},
		{"plaintext raft address", api.JoinRequest{ID: "n3", RaftAddr: freeAddr(t), HTTPAddr: n2API}, auth.ErrForbidden, "TLS handshake"},
		{"http address of an impostor", api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: "https://" + foreign}, auth.ErrForbidden, "http_addr"},
		{"plain http address", api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: "http://" + strings.TrimPrefix(n2API, "https://")}, api.ErrBadRequest, "want https://"},
		{"http address without a scheme", api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: strings.TrimPrefix(n2API, "https://")}, api.ErrBadRequest, "want https://"},
	}
	for _, tc := range refused {
		err := n1.Join(ctx, tc.req)
		if err == nil || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: join error %v, want a refusal mentioning %q", tc.name, err, tc.want)
		}
		if got := servers(t, n1); len(got) != 1 {
			t.Fatalf("%s: the configuration changed: %+v", tc.name, got)
		}
		if addr := n1.fsm.nodeHTTPAddr(tc.req.ID); addr != "" {
			t.Fatalf("%s: %s registered at %s", tc.name, tc.req.ID, addr)
		}
	}

	// The real n2 joins, and Raft replicates to it over mutual TLS.
	if err := n1.Join(ctx, api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: n2API}); err != nil {
		t.Fatalf("join of the real n2: %v", err)
	}
	if got := servers(t, n1); len(got) != 2 {
		t.Fatalf("configuration after n2 joined: %+v", got)
	}
	p, err := policy.Parse([]byte(`{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,"metrics":[{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := n1.PutPolicy(ctx, p, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { got, err := n2.GetPolicy(ctx, "web"); return err == nil && got.Version == rec.Version })
	if info, err := n2.Cluster(ctx); err != nil || info.LeaderID != "n1" || info.NodeHTTPAddr != n2API {
		t.Fatalf("n2's view: %+v %v", info, err)
	}

	// Nor re-registered without its scheme, which would make forwarding
	// to it plaintext (issue 14).
	err = n1.Join(ctx, api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: strings.TrimPrefix(n2API, "https://")})
	if !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("re-registering n2 without a scheme: %v", err)
	}
	if addr := n1.fsm.nodeHTTPAddr("n2"); addr != n2API {
		t.Fatalf("n2 registered at %s after a refused join, want %s", addr, n2API)
	}

	// A member's API address cannot be pointed at an impostor either.
	err = n1.Join(ctx, api.JoinRequest{ID: "n2", RaftAddr: n2.cfg.RaftAddr, HTTPAddr: "https://" + foreign})
	if !errors.Is(err, errIdentity) {
		t.Fatalf("re-registering n2 at an impostor: %v", err)
	}
	if addr := n1.fsm.nodeHTTPAddr("n2"); addr != n2API {
		t.Fatalf("n2 registered at %s after a refused join, want %s", addr, n2API)
	}
}

func TestTLSNodeRefusesAnUnspecifiedRaftAddress(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := tlsutil.Init(tlsutil.InitOptions{Dir: dir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	store, err := tlsutil.NewStore(tlsutil.Files{Cert: filepath.Join(dir, "n1.crt"), Key: filepath.Join(dir, "n1.key"), CA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.HTTPAddr, cfg.TLS = "n1", t.TempDir(), "127.0.0.1:1", store
	_, port, _ := net.SplitHostPort(freeAddr(t))
	cfg.RaftAddr = net.JoinHostPort("0.0.0.0", port)
	cfg.Drivers = func(string) (cloud.Driver, error) { return nil, errors.New("none") }
	if _, err := NewNode(cfg); err == nil || !strings.Contains(err.Error(), "raft-addr") {
		t.Fatalf("NewNode with raft-addr 0.0.0.0: %v", err)
	}
}

// TestPlaintextJoinRefusesHTTPS: a plaintext cluster takes HOST:PORT or
// http:// API addresses only; nothing changes on a refusal.
func TestPlaintextJoinRefusesHTTPS(t *testing.T) {
	t.Parallel()
	n, _ := singleNode(t, time.Hour)
	ctx := context.Background()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"https://127.0.0.1:9", false},
		{"ftp://127.0.0.1:9", false},
		{"127.0.0.1:9", true},
		{"http://127.0.0.1:9", true},
	} {
		// n1 re-registers its own address: a join that changes no voter.
		err := n.Join(ctx, api.JoinRequest{ID: "n1", RaftAddr: n.cfg.RaftAddr, HTTPAddr: tc.addr})
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("http_addr %q: %v, want ok=%v (else a 400)", tc.addr, err, tc.ok)
		}
		if !tc.ok && n.fsm.nodeHTTPAddr("n1") == tc.addr {
			t.Errorf("http_addr %q was registered", tc.addr)
		}
	}
}
