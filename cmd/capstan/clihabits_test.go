package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
)

// runCLIWithInput is runCLI with stdin.
func runCLIWithInput(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(&stderr, "error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code, stdout.String(), stderr.String()
		}
		return 1, stdout.String(), stderr.String()
	}
	return 0, stdout.String(), stderr.String()
}

func TestPolicyDeleteAsksFirst(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		deleted  bool
	}{
		{"no answer keeps it", "", nil, 1, false},
		{"n keeps it", "n\n", nil, 1, false},
		{"y deletes it", "y\n", nil, 0, true},
		{"yes deletes it", "YES\n", nil, 0, true},
		{"--yes does not ask", "", []string{"--yes"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, url := startAPI(t)
			mustRun(t, "policy", "apply", "-f", "../../examples/policies/app-cpu.yaml", "--addr", url)
			code, _, stderr := runCLIWithInput(t, tt.stdin, append([]string{"policy", "delete", "app-cpu", "--addr", url}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, stderr)
			}
			if _, ok := b.Policy("app-cpu"); ok == tt.deleted {
				t.Errorf("policy present %v after %q, want deleted %v", ok, tt.stdin, tt.deleted)
			}
			if asked := strings.Contains(stderr, "Delete policy app-cpu?"); asked == (len(tt.args) > 0) {
				t.Errorf("asked %v, stderr %q", asked, stderr)
			}
		})
	}
}

func copyPolicy(t *testing.T, dir, name string) {
	t.Helper()
	data, err := os.ReadFile("../../examples/policies/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyApplyDirectory(t *testing.T) {
	b, url := startAPI(t)
	dir := t.TempDir()
	copyPolicy(t, dir, "app-cpu.yaml")
	copyPolicy(t, dir, "nyc-taxi.yaml")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a policy"), 0o644)

	out := mustRun(t, "policy", "apply", "-f", dir, "--addr", url)
	if out != "applied app-cpu (version 1)\napplied nyc-taxi (version 2)\n" {
		t.Fatalf("apply -f DIR printed %q", out)
	}

	// One invalid file: nothing is applied, every problem is listed.
	bad := t.TempDir()
	copyPolicy(t, bad, "asg-cpu.yaml")
	os.WriteFile(filepath.Join(bad, "broken.yaml"), []byte("id: broken\nmin: 5\nmax: 2\n"), 0o644)
	writes := b.Writes()
	code, _, stderr := runCLI(t, "policy", "apply", "-f", bad, "--addr", url)
	if code != 1 || !strings.Contains(stderr, "nothing applied; 1 of 2 file(s) have problems") || !strings.Contains(stderr, "broken.yaml") {
		t.Fatalf("apply of a directory with an invalid file: exit %d\n%s", code, stderr)
	}
	if b.Writes() != writes {
		t.Errorf("%d writes after a refused directory, want none", b.Writes()-writes)
	}
	if _, ok := b.Policy("asg-cpu"); ok {
		t.Error("the valid file of a refused directory was applied")
	}
	// Two files with one id: refused too.
	dup := t.TempDir()
	copyPolicy(t, dup, "app-cpu.yaml")
	data, _ := os.ReadFile("../../examples/policies/app-cpu.yaml")
	os.WriteFile(filepath.Join(dup, "copy.yaml"), data, 0o644)
	if code, _, stderr := runCLI(t, "policy", "apply", "-f", dup, "--addr", url); code != 1 || !strings.Contains(stderr, `id "app-cpu" is also declared by`) {
		t.Errorf("duplicate ids: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "policy", "apply", "-f", dir, "--if-match", "1", "--addr", url); code != 1 || !strings.Contains(stderr, "--if-match") {
		t.Errorf("--if-match with a directory: exit %d\n%s", code, stderr)
	}
}

func TestPolicyDiff(t *testing.T) {
	_, url := startAPI(t)
	file := "../../examples/policies/app-cpu.yaml"
	mustRun(t, "policy", "apply", "-f", file, "--addr", url)
	data, _ := os.ReadFile(file)
	changed := writeFile(t, "app-cpu.yaml", strings.Replace(string(data), "max: 30", "max: 40", 1))
	if !strings.Contains(string(data), "max: 30") {
		t.Fatal("app-cpu.yaml no longer has max: 30; update the test")
	}
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     string
	}{
		{"same", file, 0, "policy app-cpu: no differences (version 1)"},
		{"changed", changed, 1, "max: 30 -> 40"},
		{"not on the cluster", "../../examples/policies/nyc-taxi.yaml", 1, "policy nyc-taxi is not on the cluster"},
		{"invalid file", writeFile(t, "bad.yaml", "id: x\nmin: 3\nmax: 1\n"), 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "policy", "diff", "-f", tt.file, "--addr", url)
			if code != tt.wantCode || !strings.Contains(stdout, tt.want) {
				t.Errorf("exit %d, want %d; stdout lacks %q:\n%s%s", code, tt.wantCode, tt.want, stdout, stderr)
			}
		})
	}
	// Only the changed field is listed.
	_, stdout, _ := runCLI(t, "policy", "diff", "-f", changed, "--addr", url)
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 {
		t.Errorf("diff lists %d lines, want the header and one field:\n%s", len(lines), stdout)
	}
}

func TestVersionCommand(t *testing.T) {
	b := apitest.NewBackend("n1")
	srv := httptest.NewServer(api.NewHandler(api.Options{Backend: b, Version: "v9.8.7"}))
	defer srv.Close()
	out := mustRun(t, "version", "--addr", srv.URL)
	if !strings.HasPrefix(out, "client: "+version+" (go") || !strings.Contains(out, "server: v9.8.7 (node n1)") {
		t.Errorf("version:\n%s", out)
	}
	out = mustRun(t, "version", "--client", "-o", "yaml")
	if !strings.Contains(out, "client: "+version+"\n") || strings.Contains(out, "server") {
		t.Errorf("version --client -o yaml:\n%s", out)
	}
	if code, _, stderr := runCLI(t, "version", "--addr", deadAddr(t)); code != 1 || !strings.Contains(stderr, "did not answer") {
		t.Errorf("version against a dead node: exit %d\n%s", code, stderr)
	}
}
