package api_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/api/tlsutil"
)

// TestNodeCertificateIsNotAnAdminClientCertificate: on a TLS API that
// asks for client certificates, an admin route refuses a node certificate
// presented by a client, however good its token, unless the request is a
// node's own (the node token, or the certificate of a member, with the
// forwarding header) or the operator allowed it; a client certificate
// passes, and read routes take either.
func TestNodeCertificateIsNotAnAdminClientCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := tlsutil.Init(tlsutil.InitOptions{Dir: dir, Nodes: []string{"n1", "n2", "n3"}, Hosts: []string{"127.0.0.1"}, Clients: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	store, err := tlsutil.NewStore(tlsutil.Files{Cert: filepath.Join(dir, "n1.crt"), Key: filepath.Join(dir, "n1.key"), CA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tokens := []auth.Token{{Name: "boss", Role: auth.RoleAdmin, Hash: auth.HashSecret(secret)}}
	serve := func(nodeCertAdmin bool) string {
		b := apitest.NewBackend("n1")
		if err := b.Join(context.Background(), api.JoinRequest{ID: "n2", RaftAddr: "127.0.0.1:2", HTTPAddr: "https://127.0.0.1:3"}); err != nil {
			t.Fatal(err)
		}
		a, err := auth.New(auth.Options{Load: func() ([]auth.Token, error) { return tokens, nil }, Source: b})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(api.NewHandler(api.Options{Backend: b, NodeID: "n1", Auth: a, LeaderWait: 50 * time.Millisecond,
			PeerNode: store.NodeOf, NodeCertAdmin: nodeCertAdmin}))
		srv.TLS = store.ServerConfig(tlsutil.ClientAuthRequest)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	strict, lenient := serve(false), serve(true)
	keyPair := func(name string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name, base, cert, path string
		nodeToken, forwarded   bool
		status                 int
	}{
		{"admin route, node certificate", strict, "n2", "/v1/tokens", false, false, 403},
		{"admin route, client certificate", strict, "ops", "/v1/tokens", false, false, 200},
		{"admin route, no certificate", strict, "", "/v1/tokens", false, false, 200},
		{"admin route, a node's own request (node token)", strict, "n2", "/v1/tokens", true, true, 200},
		{"admin route, a member's own request (its certificate)", strict, "n2", "/v1/tokens", false, true, 200},
		{"admin route, a non-member's certificate claiming to forward", strict, "n3", "/v1/tokens", false, true, 403},
		{"admin route, node certificate allowed", lenient, "n2", "/v1/tokens", false, false, 200},
		{"read route, node certificate", strict, "n2", "/v1/policies", false, false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the server is ours
			if tc.cert != "" {
				cfg.Certificates = []tls.Certificate{keyPair(tc.cert)}
			}
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			req, err := http.NewRequest(http.MethodGet, tc.base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+secret)
			if tc.forwarded {
				req.Header.Set(api.ForwardedByHeader, tc.cert)
			}
			if tc.nodeToken {
				req.Header.Set(api.NodeTokenHeader, secret)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
