package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/tlsutil"
)

func TestTLSInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	out := mustRun(t, "tls", "init", "--dir", dir, "--nodes", "n1,n2", "--hosts", "127.0.0.1,localhost", "--clients", "admin")
	for _, want := range []string{
		"wrote " + filepath.Join(dir, "ca.crt") + "  0644  CA certificate",
		"wrote " + filepath.Join(dir, "ca.key") + "  0600",
		"wrote " + filepath.Join(dir, "n2.key") + "  0600  node n2 key",
		"wrote " + filepath.Join(dir, "admin.crt") + "  0644  client admin certificate",
		"--tls-cert " + filepath.Join(dir, "n1.crt"),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dir", dir, "--nodes", "n1"}, "refusing to overwrite"},
		{[]string{"--nodes", "n1"}, "dir: required"},
		{[]string{"--dir", dir, "--nodes", "n9", "--validity", "0s"}, "--validity: must be > 0"},
		{[]string{"--dir", dir, "--nodes", "n9", "--hosts", "bad_host"}, `hosts: "bad_host"`},
	} {
		code, _, stderr := runCLI(t, append([]string{"tls", "init"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("tls init %v: exit %d, %q; want an error containing %q", tc.args, code, stderr, tc.want)
		}
	}
	out = mustRun(t, "tls", "init", "--dir", dir, "--nodes", "n3")
	if !strings.Contains(out, "using the existing CA") || strings.Contains(out, "ca.key") {
		t.Fatalf("adding a node: %s", out)
	}
}

// tlsAPI serves the API over TLS with node n1's certificate from a fresh
// `capstan tls init`, requiring client certificates.
func tlsAPI(t *testing.T) (dir, url string) {
	t.Helper()
	dir = t.TempDir()
	mustRun(t, "tls", "init", "--dir", dir, "--nodes", "n1", "--hosts", "127.0.0.1", "--clients", "admin")
	store, err := tlsutil.NewStore(tlsutil.Files{Cert: filepath.Join(dir, "n1.crt"), Key: filepath.Join(dir, "n1.key"), CA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	b := apitest.NewBackend("n1")
	if _, err := b.PutPolicy(context.Background(), mustParse(t, "../../examples/policies/app-cpu.yaml"), ""); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.NewHandler(api.Options{Backend: b}))
	srv.TLS = store.ServerConfig(tlsutil.ClientAuthRequire)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return dir, srv.URL
}

func TestClientTLSFlags(t *testing.T) {
	dir, url := tlsAPI(t)
	ca, cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	hostPort := strings.TrimPrefix(url, "https://")

	if out := mustRun(t, "policy", "list", "--addr", url, "--ca-cert", ca, "--client-cert", cert, "--client-key", key); !strings.Contains(out, "app-cpu") {
		t.Fatalf("list over TLS: %q", out)
	}
	// A bare host:port means https once TLS settings are given.
	if out := mustRun(t, "policy", "list", "--addr", hostPort, "--ca-cert", ca, "--client-cert", cert, "--client-key", key); !strings.Contains(out, "app-cpu") {
		t.Fatalf("list at host:port over TLS: %q", out)
	}
	t.Setenv("CAPSTAN_CA_CERT", ca)
	if out := mustRun(t, "policy", "list", "--addr", url, "--client-cert", cert, "--client-key", key); !strings.Contains(out, "app-cpu") {
		t.Fatalf("list with CAPSTAN_CA_CERT: %q", out)
	}
	t.Setenv("CAPSTAN_CA_CERT", "")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no CA", []string{"--addr", url, "--client-cert", cert, "--client-key", key}, "certificate signed by unknown authority"},
		// With TLS 1.3 the client may finish its handshake before the server
		// refuses it, and then sees the refusal only as a closed connection
		// (broken pipe, reset, http2 setup failure): the CLI adds a hint.
		{"no client certificate", []string{"--addr", url, "--ca-cert", ca}, "give --client-cert and --client-key"},
		{"plaintext to a TLS API", []string{"--addr", "http://" + hostPort}, "HTTP request to an HTTPS server"},
		{"missing CA file", []string{"--addr", url, "--ca-cert", filepath.Join(dir, "nope.crt")}, "--ca-cert:"},
		{"key without certificate", []string{"--addr", url, "--ca-cert", ca, "--client-key", key}, "--client-cert: required with client-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"policy", "list"}, tc.args...)...)
			if code == 0 || !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(stderr, w) }) {
				t.Fatalf("exit %d, %q; want an error containing %q", code, stderr, tc.want)
			}
		})
	}
}

func TestAgentTLSOptions(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "init", "--dir", dir, "--nodes", "n1", "--clients", "admin")
	f := func(name string) string { return filepath.Join(dir, name) }
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	a, err := newAgentTLS(agentOptions{}, logger)
	if err != nil || a != nil || a.Store() != nil || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "TLS is off") {
		t.Fatalf("no TLS flags: %v %v, log %q; want plaintext with a warning", a, err, logs.String())
	}
	a, err = newAgentTLS(agentOptions{TLSCert: f("n1.crt"), TLSKey: f("n1.key"), TLSCA: f("ca.crt"), TLSClientAuth: "require"}, logger)
	if err != nil || a.Store() == nil || a.auth != tlsutil.ClientAuthRequire {
		t.Fatalf("TLS flags: %+v %v", a, err)
	}
	for _, tc := range []struct {
		name string
		o    agentOptions
		want string
	}{
		{"key without cert", agentOptions{TLSKey: f("n1.key")}, "--tls-key: needs --tls-cert"},
		{"client auth without cert", agentOptions{TLSClientAuth: "require"}, "--tls-client-auth require: needs --tls-cert"},
		{"bad client auth", agentOptions{TLSClientAuth: "sometimes"}, "tls-client-auth: must be none, request or require"},
		{"cert without CA", agentOptions{TLSCert: f("n1.crt"), TLSKey: f("n1.key")}, "tls-ca: required"},
		{"client cert as node cert", agentOptions{TLSCert: f("admin.crt"), TLSKey: f("admin.key"), TLSCA: f("ca.crt")}, "not a node certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newAgentTLS(tc.o, logger); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The config file keys are the flag names with underscores.
	cfgFile := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfgFile, []byte("tls_cert: a.crt\ntls_key: a.key\ntls_ca: ca.crt\ntls_client_ca: clients.crt\ntls_client_auth: request\n"), 0o644)
	cmd := newAgentCommand()
	var o agentOptions
	if err := loadAgentConfig(cfgFile, &o, cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if o.TLSCert != "a.crt" || o.TLSKey != "a.key" || o.TLSCA != "ca.crt" || o.TLSClientCA != "clients.crt" || o.TLSClientAuth != "request" {
		t.Fatalf("config file: %+v", o)
	}
}
