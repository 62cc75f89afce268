package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a cluster's files made by Init, plus a second, foreign CA's.
type testPKI struct {
	dir, other string
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	p := testPKI{dir: t.TempDir(), other: t.TempDir()}
	for _, d := range []string{p.dir, p.other} {
		if _, _, err := Init(InitOptions{Dir: d, Nodes: []string{"n1", "n2"}, Hosts: []string{"127.0.0.1", "localhost"}, Clients: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p testPKI) files(name string) Files {
	return Files{Cert: filepath.Join(p.dir, name+".crt"), Key: filepath.Join(p.dir, name+".key"), CA: filepath.Join(p.dir, "ca.crt")}
}

func (p testPKI) keyPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewStoreChecksTheNodeCertificate(t *testing.T) {
	p := newPKI(t)
	if _, err := NewStore(p.files("n1")); err != nil {
		t.Fatalf("a good node certificate: %v", err)
	}
	for _, tc := range []struct {
		name  string
		files Files
		want  string
	}{
		{"nothing", Files{}, "tls-cert: required"},
		{"no key or CA", Files{Cert: "x.crt"}, "tls-ca: required"},
		{"client certificate", p.files("admin"), "not a node certificate"},
		{"foreign CA", Files{Cert: filepath.Join(p.other, "n1.crt"), Key: filepath.Join(p.other, "n1.key"), CA: filepath.Join(p.dir, "ca.crt")}, "not a node certificate"},
		{"key of another node", Files{Cert: filepath.Join(p.dir, "n1.crt"), Key: filepath.Join(p.dir, "n2.key"), CA: filepath.Join(p.dir, "ca.crt")}, "private key does not match"},
		{"missing CA file", Files{Cert: filepath.Join(p.dir, "n1.crt"), Key: filepath.Join(p.dir, "n1.key"), CA: filepath.Join(p.dir, "nope.crt")}, "tls-ca:"},
		{"bad client CA", func() Files { f := p.files("n1"); f.ClientCA = f.Key; return f }(), "tls-client-ca:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewStore(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// servedSerial connects to addr and returns the serial of the certificate served.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestReloadSwapsTheServedCertificateAndKeepsItOnBadFiles(t *testing.T) {
	p := newPKI(t)
	s, err := NewStore(p.files("n1"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.ServerConfig(ClientAuthNone))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	first := servedSerial(t, ln.Addr().String())
	if first != s.Leaf().SerialNumber.String() {
		t.Fatalf("served %s, store holds %s", first, s.Leaf().SerialNumber)
	}

	// A broken file: the reload fails and the old certificate stays.
	good, _ := os.ReadFile(p.files("n1").Cert)
	if err := os.WriteFile(p.files("n1").Cert, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	if got := servedSerial(t, ln.Addr().String()); got != first {
		t.Fatalf("after a failed reload the server serves %s, want the old %s", got, first)
	}
	os.WriteFile(p.files("n1").Cert, good, 0o644)

	// A renewed certificate: served from the next connection on.
	if _, _, err := Init(InitOptions{Dir: p.dir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, ln.Addr().String()); got == first || got != s.Leaf().SerialNumber.String() {
		t.Fatalf("after reload the server serves %s (was %s, store holds %s)", got, first, s.Leaf().SerialNumber)
	}
}

func TestServerConfigClientAuth(t *testing.T) {
	p := newPKI(t)
	s, err := NewStore(p.files("n1"))
	if err != nil {
		t.Fatal(err)
	}
	admin := p.keyPair(t, p.dir, "admin")
	peer := p.keyPair(t, p.dir, "n2")
	foreign := p.keyPair(t, p.other, "admin")
	ca, err := ParseCertificatesFile(filepath.Join(p.dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca[0])

	for _, tc := range []struct {
		auth   ClientAuth
		client *tls.Certificate
		ok     bool
	}{
		{ClientAuthNone, nil, true},
		{ClientAuthRequest, nil, true},
		{ClientAuthRequest, &admin, true},
		{ClientAuthRequest, &foreign, false},
		{ClientAuthRequire, nil, false},
		{ClientAuthRequire, &admin, true},
		{ClientAuthRequire, &peer, true}, // a peer's forwarded write
		{ClientAuthRequire, &foreign, false},
	} {
		name := tc.auth.String() + "/"
		switch tc.client {
		case nil:
			name += "no cert"
		case &admin:
			name += "admin"
		case &peer:
			name += "peer"
		default:
			name += "foreign"
		}
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
			srv.TLS = s.ServerConfig(tc.auth)
			srv.StartTLS()
			defer srv.Close()
			cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
			if tc.client != nil {
				cfg.Certificates = []tls.Certificate{*tc.client}
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
			resp, err := hc.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("request error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestDialTLSContextVerifiesTheServer(t *testing.T) {
	p := newPKI(t)
	s, err := NewStore(p.files("n1"))
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cert tls.Certificate, auth tls.ClientAuthType) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: auth}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	hc := &http.Client{Transport: &http.Transport{DialTLSContext: s.DialTLSContext}, Timeout: 5 * time.Second}

	addr := serve(p.keyPair(t, p.dir, "n2"), tls.RequireAnyClientCert)
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "n1" {
		t.Fatalf("the server saw client certificate %q, want n1", body)
	}

	addr = serve(p.keyPair(t, p.other, "n2"), tls.NoClientCert)
	_, err = hc.Get("https://" + addr + "/")
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Fatalf("a server with a foreign certificate: %v, want an unknown authority error", err)
	}

	// The dialed name is checked: localhost is on the certificate; a
	// certificate of the right CA without 127.0.0.1 is refused there.
	addr = serve(p.keyPair(t, p.dir, "n2"), tls.NoClientCert)
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := s.DialTLSContext(ctx, "tcp", net.JoinHostPort("localhost", port)); err != nil {
		t.Fatalf("dialing localhost: %v", err)
	} else {
		c.Close()
	}
	caPEM, _ := os.ReadFile(filepath.Join(p.dir, "ca.crt"))
	caKey, _ := os.ReadFile(filepath.Join(p.dir, "ca.key"))
	authority, err := LoadAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := authority.Issue(NodeSpec("n3", []string{"n3.example"}, time.Now(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	noIP, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	addr = serve(noIP, tls.NoClientCert)
	_, err = s.DialTLSContext(ctx, "tcp", addr)
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Fatalf("a server whose certificate lacks the dialed IP: %v, want a host name error", err)
	}
}

func TestClientConfigAndParseClientAuth(t *testing.T) {
	p := newPKI(t)
	if _, err := ClientConfig(filepath.Join(p.dir, "ca.crt"), filepath.Join(p.dir, "admin.crt"), filepath.Join(p.dir, "admin.key")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ca, cert, key, want string
	}{
		{filepath.Join(p.dir, "nope"), "", "", "ca-cert:"},
		{"", filepath.Join(p.dir, "admin.crt"), "", "client-key: required"},
		{"", "", filepath.Join(p.dir, "admin.key"), "client-cert: required"},
		{"", filepath.Join(p.dir, "admin.crt"), filepath.Join(p.dir, "n1.key"), "client-cert"},
	} {
		if _, err := ClientConfig(tc.ca, tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ClientConfig(%q, %q, %q): %v, want %q", tc.ca, tc.cert, tc.key, err, tc.want)
		}
	}
	for in, want := range map[string]ClientAuth{"": ClientAuthNone, "none": ClientAuthNone, "request": ClientAuthRequest, "require": ClientAuthRequire} {
		if got, err := ParseClientAuth(in); err != nil || got != want {
			t.Errorf("ParseClientAuth(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseClientAuth("always"); err == nil || !strings.Contains(err.Error(), "tls-client-auth: must be none, request or require") {
		t.Errorf("ParseClientAuth(always): %v", err)
	}
}

// TestTLS12OffersOnlyAEADSuites: on TLS 1.2, the API and Raft ports (and
// the node's dialers) take only ECDHE with an AEAD cipher; a client that
// offers only CBC or SHA-1 suites is refused (issue 14), one that offers
// GCM gets through.
func TestTLS12OffersOnlyAEADSuites(t *testing.T) {
	p := newPKI(t)
	s, err := NewStore(p.files("n1"))
	if err != nil {
		t.Fatal(err)
	}
	cert := p.keyPair(t, p.dir, "n2")
	for _, srv := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"API", s.ServerConfig(ClientAuthNone)},
		{"Raft", s.PeerServerConfig()},
	} {
		for _, tc := range []struct {
			suite uint16
			ok    bool
		}{
			{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
			{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
			{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, false},
			{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
			{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
		} {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.cfg)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				c, err := ln.Accept()
				if err == nil {
					_ = c.(*tls.Conn).Handshake()
					c.Close()
				}
			}()
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tc.suite}, Certificates: []tls.Certificate{cert}})
			if err == nil {
				c.Close()
			}
			ln.Close()
			if (err == nil) != tc.ok {
				t.Errorf("%s with %s only: %v, want ok=%v", srv.name, tls.CipherSuiteName(tc.suite), err, tc.ok)
			}
		}
	}
	// The node's own dialers offer no CBC suite either.
	for _, c := range []*tls.Config{s.PeerClientConfig()} {
		for _, id := range c.CipherSuites {
			for _, bad := range tls.InsecureCipherSuites() {
				if id == bad.ID {
					t.Errorf("the peer dialer offers %s", bad.Name)
				}
			}
			if name := tls.CipherSuiteName(id); !strings.Contains(name, "GCM") && !strings.Contains(name, "CHACHA20") {
				t.Errorf("the peer dialer offers %s", name)
			}
		}
	}
}
