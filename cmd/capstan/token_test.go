package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
)

var secretRE = regexp.MustCompile(`capstan_[A-Za-z0-9_-]{43}`)

func TestTokenGeneratePrintsSecretAndEntry(t *testing.T) {
	out := mustRun(t, "token", "generate", "--name", "admin", "--role", "admin", "--rate", "5")
	secrets := secretRE.FindAllString(out, -1)
	if len(secrets) != 1 {
		t.Fatalf("want the secret once in:\n%s", out)
	}
	i := strings.Index(out, "tokens:\n")
	if i < 0 {
		t.Fatalf("no token-file entry in:\n%s", out)
	}
	tokens, err := auth.ParseFile([]byte(out[i:]))
	if err != nil {
		t.Fatalf("the printed entry does not parse: %v\n%s", err, out[i:])
	}
	if len(tokens) != 1 || tokens[0].Name != "admin" || tokens[0].Role != auth.RoleAdmin || tokens[0].Rate != 5 ||
		tokens[0].Hash != auth.HashSecret(secrets[0]) {
		t.Fatalf("entry %+v does not match the secret", tokens)
	}
	if strings.Contains(out[i:], secrets[0]) {
		t.Fatal("the token-file entry contains the secret")
	}
}

func TestTokenGenerateSecretFile(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "admin.secret")
	out := mustRun(t, "token", "generate", "--name", "ops", "--role", "write", "--secret-file", secretFile)
	data, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(data))
	if !auth.LooksLikeSecret(secret) || strings.Contains(out, secret) {
		t.Fatalf("secret file %q; stdout must not hold it:\n%s", data, out)
	}
	if st, _ := os.Stat(secretFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	// Standard output is a whole token file.
	tokens, err := auth.ParseFile([]byte(out))
	if err != nil || len(tokens) != 1 || tokens[0].Hash != auth.HashSecret(secret) || tokens[0].Role != auth.RoleWrite {
		t.Fatalf("stdout is not the token file: %v %+v\n%s", err, tokens, out)
	}
	// An existing file is never overwritten.
	code, _, stderr := runCLI(t, "token", "generate", "--name", "ops", "--role", "write", "--secret-file", secretFile)
	if again, _ := os.ReadFile(secretFile); code == 0 || !strings.Contains(stderr, "exists") || !bytes.Equal(again, data) {
		t.Fatalf("second generate into the same file: exit %d %s", code, stderr)
	}
}

func TestTokenGenerateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "admin"}, "--name: required"},
		{[]string{"--name", "a b", "--role", "admin"}, "--name:"},
		{[]string{"--name", "a", "--role", "root"}, "--role: must be read, write or admin"},
		{[]string{"--name", "a", "--role", "read", "--rate", "-1"}, "--rate:"},
		{[]string{"--name", "a", "--role", "read", "--burst", "-1"}, "--burst:"},
	} {
		code, _, stderr := runCLI(t, append([]string{"token", "generate"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// startAuthAPI serves the real API with authentication over an in-memory
// backend, with one admin and one read token from a "file".
func startAuthAPI(t *testing.T) (url, admin, reader string) {
	t.Helper()
	admin, _ = auth.GenerateSecret()
	reader, _ = auth.GenerateSecret()
	b := apitest.NewBackend("n1")
	a, err := auth.New(auth.Options{Source: b, Load: func() ([]auth.Token, error) {
		return []auth.Token{{Name: "admin", Role: auth.RoleAdmin, Hash: auth.HashSecret(admin)},
			{Name: "reader", Role: auth.RoleRead, Hash: auth.HashSecret(reader)}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(api.Options{Backend: b, Auth: a}))
	t.Cleanup(srv.Close)
	return srv.URL, admin, reader
}

func TestTokenCreateListDeleteThroughTheAPI(t *testing.T) {
	url, admin, reader := startAuthAPI(t)
	t.Setenv(tokenEnv, admin)

	out := mustRun(t, "token", "create", "--name", "ci", "--role", "write", "--addr", url)
	secret := secretRE.FindString(out)
	if secret == "" || !strings.Contains(out, `created token "ci"`) {
		t.Fatalf("create printed:\n%s", out)
	}
	// The new token works as --token, which wins over the environment.
	if out := mustRun(t, "policy", "list", "--addr", url, "--token", secret); !strings.Contains(out, "no policies") {
		t.Fatalf("policy list with the new token:\n%s", out)
	}
	list := mustRun(t, "token", "list", "--addr", url)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^NAME\s+ROLE\s+ORIGIN\s+RATE\s+BURST\s+CREATED$`),
		regexp.MustCompile(`(?m)^admin\s+admin\s+file\s+default\s+default\s+-$`),
		regexp.MustCompile(`(?m)^ci\s+write\s+api\s+default\s+default\s+\d{4}-`),
	} {
		if !want.MatchString(list) {
			t.Errorf("list lacks %s:\n%s", want, list)
		}
	}
	var jl api.TokenList
	if err := json.Unmarshal([]byte(mustRun(t, "token", "list", "--addr", url, "-o", "json")), &jl); err != nil || len(jl.Tokens) != 3 {
		t.Fatalf("list -o json: %v %+v", err, jl)
	}
	// A read token may not manage tokens; the error says which role is needed.
	code, _, stderr := runCLI(t, "token", "list", "--addr", url, "--token", reader)
	if code == 0 || !strings.Contains(stderr, "forbidden") || !strings.Contains(stderr, "needs role admin") {
		t.Fatalf("list with a read token: exit %d %s", code, stderr)
	}
	if out := mustRun(t, "token", "delete", "ci", "--addr", url); !strings.Contains(out, `deleted token "ci"`) {
		t.Fatalf("delete printed %q", out)
	}
	code, _, stderr = runCLI(t, "policy", "list", "--addr", url, "--token", secret)
	if code == 0 || !strings.Contains(stderr, "unauthenticated") {
		t.Fatalf("deleted token: exit %d %s", code, stderr)
	}
	// Without any token the server says what is missing.
	t.Setenv(tokenEnv, "")
	code, _, stderr = runCLI(t, "status", "--addr", url)
	if code == 0 || !strings.Contains(stderr, "CAPSTAN_TOKEN") {
		t.Fatalf("no token: exit %d %s", code, stderr)
	}
	// A malformed token is refused before anything is sent.
	code, _, stderr = runCLI(t, "status", "--addr", url, "--token", "capstan_oops")
	if code == 0 || !strings.Contains(stderr, "--token: not a Capstan token") || strings.Contains(stderr, "capstan_oops") {
		t.Fatalf("malformed token: exit %d %s", code, stderr)
	}
}

// agentFlags parses the auth flags (and --join) into options with the
// agent's defaults.
func agentFlags(t *testing.T, args ...string) agentOptions {
	t.Helper()
	var o agentOptions
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.StringVar(&o.TokenFile, "token-file", "", "")
	fs.StringVar(&o.NodeTokenFile, "node-token-file", "", "")
	fs.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", false, "")
	fs.Float64Var(&o.TokenRate, "token-rate", defaultTokenRate, "")
	fs.IntVar(&o.TokenBurst, "token-burst", defaultTokenBurst, "")
	fs.StringSliceVar(&o.Join, "join", nil, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestAgentAuthSettings(t *testing.T) {
	dir := t.TempDir()
	admin, _ := auth.GenerateSecret()
	reader, _ := auth.GenerateSecret()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens.yaml", "tokens:\n"+auth.FileEntry(auth.Token{Name: "admin", Role: auth.RoleAdmin, Hash: auth.HashSecret(admin)})+
		auth.FileEntry(auth.Token{Name: "reader", Role: auth.RoleRead, Hash: auth.HashSecret(reader)}))
	adminFile := write("admin.secret", admin+"\n")
	readerFile := write("reader.secret", reader)
	unknownSecret, _ := auth.GenerateSecret()
	unknownFile := write("unknown.secret", unknownSecret)
	badFile := write("bad.yaml", "tokens:\n  - name: a\n    role: root\n    hash: sha256:00\n")
	junk := write("junk.secret", "hunter2")

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" for success
		wantLog string
	}{
		{"nothing", nil, "no API tokens", ""},
		{"insecure", []string{"--insecure-no-auth"}, "", "authentication is OFF"},
		{"insecure with tokens", []string{"--insecure-no-auth", "--token-file", tokens}, "drop one or the other", ""},
		{"token file", []string{"--token-file", tokens}, "", ""},
		{"missing file", []string{"--token-file", filepath.Join(dir, "nope.yaml")}, "--token-file: token file", ""},
		{"bad file", []string{"--token-file", badFile}, "line 3: tokens[0].role", ""},
		{"join without node token", []string{"--token-file", tokens, "--join", "a:1"}, "--node-token-file: required with --join", ""},
		{"join with node token", []string{"--token-file", tokens, "--join", "a:1", "--node-token-file", adminFile}, "", ""},
		{"node token not admin", []string{"--token-file", tokens, "--join", "a:1", "--node-token-file", readerFile}, "", "not admin"},
		{"node token unknown", []string{"--token-file", tokens, "--join", "a:1", "--node-token-file", unknownFile}, "", "not in this node's token file"},
		{"node token junk", []string{"--token-file", tokens, "--node-token-file", junk}, "must hold one token secret", ""},
		{"negative rate", []string{"--token-file", tokens, "--token-rate", "-1"}, "--token-rate", ""},
		{"negative burst", []string{"--token-file", tokens, "--token-burst", "-1"}, "--token-burst", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a, err := newAgentAuth(agentFlags(t, tc.args...), slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
			for _, s := range []string{admin, reader, unknownSecret, "hunter2"} {
				if strings.Contains(logs.String(), s) || (err != nil && strings.Contains(err.Error(), s)) {
					t.Fatalf("a secret was echoed: %v\n%s", err, logs.String())
				}
			}
			if err == nil && a != nil {
				if _, err := a.authenticator(nil); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestAgentInlineTokensInConfig(t *testing.T) {
	dir := t.TempDir()
	admin, _ := auth.GenerateSecret()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte("node_id: n1\ntokens:\n"+auth.FileEntry(auth.Token{Name: "admin", Role: auth.RoleAdmin, Hash: auth.HashSecret(admin)})+
		"token_rate: 7\n"), 0o600)
	var o agentOptions
	if err := loadAgentConfig(file, &o, pflag.NewFlagSet("agent", pflag.ContinueOnError)); err != nil {
		t.Fatal(err)
	}
	if len(o.Tokens) != 1 || o.Tokens[0].Name != "admin" || o.TokenRate != 7 {
		t.Fatalf("inline tokens %+v rate %v", o.Tokens, o.TokenRate)
	}
	a, err := newAgentAuth(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	authn, err := a.authenticator(nil)
	if err != nil || !authn.IsFileToken("admin") {
		t.Fatalf("authenticator: %v", err)
	}
	// A file token and an inline token may not share a name.
	tokens := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(tokens, []byte("tokens:\n"+auth.FileEntry(auth.Token{Name: "admin", Role: auth.RoleRead, Hash: auth.HashSecret(admin)})), 0o600)
	o.TokenFile = tokens
	if _, err := newAgentAuth(o, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "both in the token file and in the config file") {
		t.Fatalf("duplicate across file and config: %v", err)
	}
	// Errors in the inline list name the line.
	os.WriteFile(file, []byte("node_id: n1\ntokens:\n  - name: a\n    role: admin\n    hash: sha256:xyz\n"), 0o600)
	if err := loadAgentConfig(file, &o, pflag.NewFlagSet("agent", pflag.ContinueOnError)); err == nil || !strings.Contains(err.Error(), "line 5: tokens[0].hash") {
		t.Fatalf("bad inline token: %v", err)
	}
}
