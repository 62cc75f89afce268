package raftls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/capstan-io/capstan/api/tlsutil"
)

// pki is a cluster CA with nodes n1, n2 and n3, and a foreign CA with its own n1.
type pki struct{ dir, other string }

func newPKI(t testing.TB) pki {
	t.Helper()
	p := pki{dir: t.TempDir(), other: t.TempDir()}
	for _, d := range []string{p.dir, p.other} {
		if _, _, err := tlsutil.Init(tlsutil.InitOptions{Dir: d, Nodes: []string{"n1", "n2", "n3"}, Hosts: []string{"127.0.0.1"}, Clients: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p pki) store(t testing.TB, id string) *tlsutil.Store {
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
	id := "rogue"
	if cert != nil {
		server.Certificates = []tls.Certificate{*cert}
		client.Certificates = []tls.Certificate{*cert}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		id = tlsutil.NodeName(leaf)
	}
	e := tlsEndpoint(t, id, server, client, anyone)
	return e
}

// anyone is the membership of a rogue, which takes any peer.
func anyone(string) (raft.ServerAddress, bool) { return "", true }

// roster is a membership the test changes.
type roster struct {
	mu sync.Mutex
	m  map[string]raft.ServerAddress
}

func newRoster(eps ...*endpoint) *roster {
	r := &roster{m: map[string]raft.ServerAddress{}}
	for _, e := range eps {
		r.add(e)
	}
	return r
}

func (r *roster) add(e *endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[e.id] = e.trans.LocalAddr()
}

func (r *roster) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}

func (r *roster) lookup(id string) (raft.ServerAddress, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.m[id]
	return a, ok
}

type endpoint struct {
	id    string
	trans *raft.NetworkTransport
	reg   *prometheus.Registry
	layer *Layer
	// got counts the AppendEntries that reached Raft.
	got *atomicCount
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) inc() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// tlsEndpoint is node id's Raft transport over a Layer with the given
// configs and membership, answering every AppendEntries with success.
func tlsEndpoint(t testing.TB, id string, server, client *tls.Config, members Members) *endpoint {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(Options{Listener: listen(t), Server: server, Client: client, Registerer: reg, HandshakeTimeout: 2 * time.Second, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: l, MaxPool: 2, Timeout: 2 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})})
	e := &endpoint{id: id, trans: trans, reg: reg, layer: l, got: &atomicCount{}}
	serveRPCs(t, trans, e.got)
	t.Cleanup(func() { trans.Close() })
	return e
}

// nodeEndpoint is node id of the PKI, with the membership r.
func (p pki) nodeEndpoint(t testing.TB, id string, r *roster) *endpoint {
	t.Helper()
	s := p.store(t, id)
	return tlsEndpoint(t, id, s.PeerServerConfig(), s.PeerClientConfig(), r.lookup)
}

// plainEndpoint is Raft's own plaintext TCP transport: a peer with no
// certificate at all.
func plainEndpoint(t *testing.T) *endpoint {
	t.Helper()
	trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, 2*time.Second, hclog.New(&hclog.LoggerOptions{Output: io.Discard}))
	if err != nil {
		t.Fatal(err)
	}
	got := &atomicCount{}
	serveRPCs(t, trans, got)
	t.Cleanup(func() { trans.Close() })
	return &endpoint{id: "plain", trans: trans, got: got}
}

func serveRPCs(t testing.TB, trans *raft.NetworkTransport, got *atomicCount) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				got.inc()
				if req, ok := rpc.Command.(*raft.InstallSnapshotRequest); ok {
					data, err := io.ReadAll(rpc.Reader)
					if err == nil && int64(len(data)) != req.Size {
						err = fmt.Errorf("read %d snapshot bytes, want %d", len(data), req.Size)
					}
					rpc.Respond(&raft.InstallSnapshotResponse{Term: req.Term, Success: err == nil}, err)
					continue
				}
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
	return appendEntriesAs(from, from.id, to)
}

// appendEntriesAs is appendEntries with the header claiming to come from claimed.
func appendEntriesAs(from *endpoint, claimed string, to *endpoint) error {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte(claimed), Addr: []byte(from.trans.LocalAddr())},
		Term: 7, PrevLogEntry: 41, PrevLogTerm: 7, LeaderCommitIndex: 41,
		Entries: []*raft.Log{{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("hello")}}}
	var resp raft.AppendEntriesResponse
	if err := from.trans.AppendEntries(raft.ServerID(to.id), to.trans.LocalAddr(), req, &resp); err != nil {
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
	r := newRoster()
	a, b := p.nodeEndpoint(t, "n1", r), p.nodeEndpoint(t, "n2", r)
	r.add(a)
	r.add(b)
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
	if got := a.got.get() + b.got.get(); got != 6 {
		t.Fatalf("%d RPCs reached Raft, want 6", got)
	}
	if n, err := testutil.GatherAndCount(a.reg, "capstan_raft_tls_handshake_failures_total"); err != nil || n != 2 {
		t.Fatalf("metric series: %d %v, want accept and dial", n, err)
	}
}

func TestBadPeersAreRefusedInBothDirections(t *testing.T) {
	p := newPKI(t)
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
			members := newRoster()
			g := p.nodeEndpoint(t, "n1", members)
			r := tc.rogue(t)
			members.add(g)
			members.add(r) // even a member's address is refused without a good certificate

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
	l, err := New(Options{Listener: listen(t), Server: s.PeerServerConfig(), Client: s.PeerClientConfig(), Registerer: reg, HandshakeTimeout: 200 * time.Millisecond, Members: anyone})
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
	// The handshake's context closes the connection before the failure
	// is counted, so the count may trail the close a little.
	waitFor(func() bool { return testutil.ToFloat64(l.failures.WithLabelValues("accept")) == 1 })
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
