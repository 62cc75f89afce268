package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertificatesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestInitMakesAVerifiableCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	written, reused, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1", "n2", "n3"},
		Hosts: []string{"127.0.0.1", "localhost", "::1"}, Clients: []string{"admin"}, Validity: 48 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if reused {
		t.Fatal("reused a CA in an empty directory")
	}
	var names []string
	for _, w := range written {
		names = append(names, filepath.Base(w.Path))
		fi, err := os.Stat(w.Path)
		if err != nil {
			t.Fatal(err)
		}
		want := certMode
		if strings.HasSuffix(w.Path, ".key") {
			want = keyMode
		}
		if fi.Mode().Perm() != want || w.Mode != want {
			t.Errorf("%s: mode %v (reported %v), want %v", w.Path, fi.Mode().Perm(), w.Mode, want)
		}
	}
	wantNames := []string{"ca.crt", "ca.key", "n1.crt", "n1.key", "n2.crt", "n2.key", "n3.crt", "n3.key", "admin.crt", "admin.key"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("wrote %v, want %v", names, wantNames)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}

	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA || ca.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Fatalf("CA: IsCA %v, key %v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	at := now.Add(time.Hour)

	for _, id := range []string{"n1", "n2", "n3"} {
		c := readCert(t, filepath.Join(dir, id+".crt"))
		if c.Subject.CommonName != id || NodeName(c) != id {
			t.Errorf("%s: common name %q", id, c.Subject.CommonName)
		}
		if !slices.Equal(c.DNSNames, []string{id, "localhost"}) {
			t.Errorf("%s: DNS SANs %v", id, c.DNSNames)
		}
		if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !c.IPAddresses[1].Equal(net.ParseIP("::1")) {
			t.Errorf("%s: IP SANs %v", id, c.IPAddresses)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
			t.Errorf("%s: usages %v", id, c.ExtKeyUsage)
		}
		for _, host := range []string{"127.0.0.1", "localhost", id, "::1"} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: at}); err != nil {
				t.Errorf("%s as %s: %v", id, host, err)
			}
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com", CurrentTime: at}); err == nil {
			t.Errorf("%s verifies for a host it does not carry", id)
		}
		if err := verifyNode([]*x509.Certificate{c}, roots, at); err != nil {
			t.Errorf("%s: not a node certificate: %v", id, err)
		}
		// Expiry: valid for the requested 48 h (less nothing), not after.
		if err := verifyNode([]*x509.Certificate{c}, roots, now.Add(47*time.Hour)); err != nil {
			t.Errorf("%s: not valid within its validity: %v", id, err)
		}
		if err := verifyNode([]*x509.Certificate{c}, roots, now.Add(49*time.Hour)); err == nil {
			t.Errorf("%s: still valid after it expired", id)
		}
		if !c.NotBefore.Before(now) {
			t.Errorf("%s: not-before %s is not backdated for clock skew", id, c.NotBefore)
		}
	}

	admin := readCert(t, filepath.Join(dir, "admin.crt"))
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin client certificate: %v", err)
	}
	if err := verifyNode([]*x509.Certificate{admin}, roots, at); err == nil {
		t.Error("a client certificate passes for a node")
	}

	// A certificate from another CA does not chain.
	otherDir := t.TempDir()
	if _, _, err := Init(InitOptions{Dir: otherDir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := verifyNode([]*x509.Certificate{readCert(t, filepath.Join(otherDir, "n1.crt"))}, roots, at); err == nil {
		t.Error("a node certificate from another CA verifies")
	}
}

func TestInitRefusesToOverwriteAndReusesTheCA(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	n1Before, _ := os.ReadFile(filepath.Join(dir, "n1.crt"))

	_, _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1", "n2"}, Hosts: []string{"127.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") || !strings.Contains(err.Error(), "n1.crt") {
		t.Fatalf("second init: %v, want a refusal naming n1.crt", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "n2.crt")); err == nil {
		t.Fatal("a refused init wrote n2.crt anyway")
	}

	// A new node alone is issued by the existing CA.
	written, reused, err := Init(InitOptions{Dir: dir, Nodes: []string{"n4"}, Hosts: []string{"127.0.0.1"}})
	if err != nil || !reused || len(written) != 2 {
		t.Fatalf("adding n4: %v reused=%v wrote %d files", err, reused, len(written))
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.crt")))
	if err := verifyNode([]*x509.Certificate{readCert(t, filepath.Join(dir, "n4.crt"))}, roots, time.Now()); err != nil {
		t.Fatalf("n4 from the reused CA: %v", err)
	}

	// --force replaces the node files but keeps the CA.
	if _, _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	n1After, _ := os.ReadFile(filepath.Join(dir, "n1.crt"))
	if !bytes.Equal(caBefore, caAfter) || bytes.Equal(n1Before, n1After) {
		t.Fatal("--force: want the same CA and a new n1 certificate")
	}
	if err := os.Chmod(filepath.Join(dir, "n1.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n1"}, Hosts: []string{"127.0.0.1"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "n1.key")); fi.Mode().Perm() != keyMode {
		t.Fatalf("an overwritten key has mode %v, want %v", fi.Mode().Perm(), keyMode)
	}

	// Half a CA is neither reused nor replaced.
	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Init(InitOptions{Dir: dir, Nodes: []string{"n5"}}); err == nil || !strings.Contains(err.Error(), "ca.key") {
		t.Fatalf("init with ca.crt but no ca.key: %v", err)
	}
}

func TestInitOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    InitOptions
		want string
	}{
		{"no dir", InitOptions{Nodes: []string{"n1"}}, "dir: required"},
		{"nothing to issue", InitOptions{Dir: "x"}, "nodes: at least one"},
		{"bad node id", InitOptions{Dir: "x", Nodes: []string{"n_1"}}, `nodes: "n_1": must be`},
		{"path in a name", InitOptions{Dir: "x", Clients: []string{"../admin"}}, `clients: "../admin"`},
		{"node and client clash", InitOptions{Dir: "x", Nodes: []string{"n1"}, Clients: []string{"N1"}}, `clash with node "n1"`},
		{"a name clashes with the CA", InitOptions{Dir: "x", Nodes: []string{"ca"}}, "the CA's files"},
		{"bad host", InitOptions{Dir: "x", Nodes: []string{"n1"}, Hosts: []string{"a..b"}}, `hosts: "a..b"`},
		{"negative validity", InitOptions{Dir: "x", Nodes: []string{"n1"}, Validity: -time.Hour}, "validity: must be > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := (InitOptions{Dir: "x", Nodes: []string{"n1", "node-2.dc1"}, Hosts: []string{"10.0.0.1", "*.capstan.svc", "capstan-0.capstan"}}).Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

func TestLoadAuthorityRejectsMismatchedKey(t *testing.T) {
	a, err := NewAuthority("a", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewAuthority("b", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bKey, _ := b.KeyPEM()
	if _, err := LoadAuthority(a.CertPEM(), bKey); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched CA key: %v", err)
	}
	aKey, _ := a.KeyPEM()
	if _, err := LoadAuthority(a.CertPEM(), aKey); err != nil {
		t.Fatal(err)
	}
	leaf, err := a.Issue(NodeSpec("n1", nil, time.Now(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthority(leaf.CertPEM, leaf.KeyPEM); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("a leaf as CA: %v", err)
	}
}
