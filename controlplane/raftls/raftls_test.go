package raftls

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/api/tlsutil"
)

// pki is a cluster CA with nodes n1 and n2, and a foreign CA with its own n1.
type pki struct{ dir, other string }

func newPKI(t *testing.T) pki {
	t.Helper()
	p := pki{dir: t.TempDir(), other: t.TempDir()}
	for _, d := range []string{p.dir, p.other} {
		if _, _, err := tlsutil.Init(tlsutil.InitOptions{Dir: d, Nodes: []string{"n1", "n2"}, Hosts: []string{"127.0.0.1"}, Clients: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p pki) store(t *testing.T, id string) *tlsutil.Store {
	t.Helper()
	s, err := tlsutil.NewStore(tlsutil.Files{Cert: filepath.Join(p.dir, id+".crt"), Key: filepath.Join(p.dir, id+".key"), CA: filepath.Join(p.dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expired is a node certificate of the cluster CA that expired yesterday.
func (p pki) expired(t *testing.T) tls.Certificate {
	t.Helper()
	caPEM, _ := os.ReadFile(filepath.Join(p.dir, "ca.crt"))
	caKey, _ := os.ReadFile(filepath.Join(p.dir, "ca.key"))
	ca, err := tlsutil.LoadAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(tlsutil.NodeSpec("n3", []string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), 24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p pki) keyPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rogueEndpoint is a peer that presents cert (none when nil) and trusts
// anything: whatever refuses its connections is the good side's
// verification.
func rogueEndpoint(t *testing.T, cert *tls.Certificate) *endpoint {
	server := &tls.Config{ClientAuth: tls.RequestClientCert}
	client := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		server.Certificates = []tls.Certificate{*cert}
		client.Certificates = []tls.Certificate{*cert}
	}
	return tlsEndpoint(t, server, client)
}

type endpoint struct {
	trans *raft.NetworkTransport
	reg   *prometheus.Registry
	layer *Layer
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// tlsEndpoint is a Raft transport over a Layer with the given configs,
// answering every AppendEntries with success.
func tlsEndpoint(t *testing.T, server, client *tls.Config) *endpoint {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(Options{Listener: listen(t), Server: server, Client: client, Registerer: reg, HandshakeTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: l, MaxPool: 2, Timeout: 2 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})})
	e := &endpoint{trans: trans, reg: reg, layer: l}
	serveRPCs(t, trans)
	t.Cleanup(func() { trans.Close() })
	return e
}

// plainEndpoint is Raft's own plaintext TCP transport: a peer with no
// certificate at all.
func plainEndpoint(t *testing.T) *endpoint {
	t.Helper()
	trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, 2*time.Second, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	if err != nil {
		t.Fatal(err)
	}
	serveRPCs(t, trans)
	t.Cleanup(func() { trans.Close() })
	return &endpoint{trans: trans}
}

func serveRPCs(t *testing.T, trans *raft.NetworkTransport) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				req, ok := rpc.Command.(*raft.AppendEntriesRequest)
				if !ok {
					rpc.Respond(nil, fmt.Errorf("unexpected %T", rpc.Command))
					continue
				}
				rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
			case <-done:
				return
			}
		}
	}()
}

// appendEntries sends one AppendEntries with a log entry from one
// endpoint to another and checks the answer.
func appendEntries(from, to *endpoint) error {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("from"), Addr: []byte(from.trans.LocalAddr())},
		Term: 7, PrevLogEntry: 41, PrevLogTerm: 7, LeaderCommitIndex: 41,
		Entries: []*raft.Log{{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("hello")}}}
	var resp raft.AppendEntriesResponse
	if err := from.trans.AppendEntries("to", to.trans.LocalAddr(), req, &resp); err != nil {
		return err
	}
	if !resp.Success || resp.Term != 7 || resp.LastLog != 42 {
		return fmt.Errorf("unexpected answer %+v", resp)
	}
	return nil
}

func failures(e *endpoint, direction string) float64 {
	return testutil.ToFloat64(e.layer.failures.WithLabelValues(direction))
}

func TestGoodPeersExchangeRaftRPCs(t *testing.T) {
	p := newPKI(t)
	s1, s2 := p.store(t, "n1"), p.store(t, "n2")
	a := tlsEndpoint(t, s1.PeerServerConfig(), s1.PeerClientConfig())
	b := tlsEndpoint(t, s2.PeerServerConfig(), s2.PeerClientConfig())
	for i := range 3 { // the second and third reuse the pooled connection
		if err := appendEntries(a, b); err != nil {
			t.Fatalf("n1 -> n2, RPC %d: %v", i, err)
		}
		if err := appendEntries(b, a); err != nil {
			t.Fatalf("n2 -> n1, RPC %d: %v", i, err)
		}
	}
	for _, e := range []*endpoint{a, b} {
		if f := failures(e, "accept") + failures(e, "dial"); f != 0 {
			t.Fatalf("%v handshake failures between good peers", f)
		}
	}
	if n, err := testutil.GatherAndCount(a.reg, "capstan_raft_tls_handshake_failures_total"); err != nil || n != 2 {
		t.Fatalf("metric series: %d %v, want accept and dial", n, err)
	}
}

func TestBadPeersAreRefusedInBothDirections(t *testing.T) {
	p := newPKI(t)
	good := p.store(t, "n1")
	foreign := p.keyPair(t, p.other, "n1")
	expired := p.expired(t)
	client := p.keyPair(t, p.dir, "admin")
	for _, tc := range []struct {
		name  string
		rogue func(t *testing.T) *endpoint
	}{
		{"certificate from another CA", func(t *testing.T) *endpoint { return rogueEndpoint(t, &foreign) }},
		{"expired certificate of the cluster CA", func(t *testing.T) *endpoint { return rogueEndpoint(t, &expired) }},
		{"client certificate of the cluster CA", func(t *testing.T) *endpoint { return rogueEndpoint(t, &client) }},
		{"no certificate over TLS", func(t *testing.T) *endpoint { return rogueEndpoint(t, nil) }},
		{"plaintext Raft", plainEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tlsEndpoint(t, good.PeerServerConfig(), good.PeerClientConfig())
			r := tc.rogue(t)

			// Rogue dials the good node: refused, nothing reaches Raft.
			if err := appendEntries(r, g); err == nil {
				t.Fatal("the rogue's AppendEntries reached the good node")
			}
			deadline := time.Now().Add(3 * time.Second)
			for failures(g, "accept") == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if failures(g, "accept") == 0 {
				t.Fatal("the refused handshake was not counted")
			}

			// The good node dials the rogue: refused before any RPC is sent.
			if err := appendEntries(g, r); err == nil {
				t.Fatal("the good node sent AppendEntries to the rogue")
			}
			if failures(g, "dial") == 0 {
				t.Fatal("the refused dial was not counted")
			}
		})
	}
}

func TestHandshakeTimeoutAndClose(t *testing.T) {
	p := newPKI(t)
	s := p.store(t, "n1")
	reg := prometheus.NewRegistry()
	l, err := New(Options{Listener: listen(t), Server: s.PeerServerConfig(), Client: s.PeerClientConfig(), Registerer: reg, HandshakeTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// A peer that connects and says nothing is dropped after the timeout.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a silent connection's peer succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the layer did not close a silent connection within its handshake timeout")
	}
	if got := testutil.ToFloat64(l.failures.WithLabelValues("accept")); got != 1 {
		t.Fatalf("accept failures %v, want 1", got)
	}

	accepted := make(chan error, 1)
	go func() { _, err := l.Accept(); accepted <- err }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err == nil {
		t.Fatal("Accept after Close returned a connection")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Dial(raft.ServerAddress(l.Addr().String()), time.Second); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a listener and configs succeeded")
	}
}
