package main

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
)

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestCLIFindsTheCluster checks that, with no --addr, the CLI moves on
// from a node that is down, remembers the members a node reports for the
// next run, and that a failure names each node once with a hint.
func TestCLIFindsTheCluster(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	b1 := apitest.NewBackend("n1")
	srv1 := httptest.NewServer(api.NewHandler(api.Options{Backend: b1}))
	defer srv1.Close()
	b2 := apitest.NewBackend("n2")
	srv2 := httptest.NewServer(api.NewHandler(api.Options{Backend: b2}))
	defer srv2.Close()
	dead := deadAddr(t)

	// The first address is down: the second answers.
	t.Setenv(addrEnv, dead+","+srv1.URL)
	if out := mustRun(t, "status"); !strings.Contains(out, "node:") || !strings.Contains(out, "n1 (leader)") {
		t.Fatalf("status through the second address:\n%s", out)
	}

	// n1 reports n2 as a member: a later run pointed at n1 alone finds n2
	// once n1 is down.
	b1.SetMembers([]api.Member{{ID: "n1", HTTPAddr: strings.TrimPrefix(srv1.URL, "http://")}, {ID: "n2", HTTPAddr: srv2.URL}})
	t.Setenv(addrEnv, srv1.URL)
	mustRun(t, "status")
	srv1.Close()
	if out := mustRun(t, "status"); !strings.Contains(out, "n2 (leader)") {
		t.Fatalf("status after n1 went down:\n%s", out)
	}
	// --addr means that node only: nothing remembered is tried.
	code, _, stderr := runCLI(t, "status", "--addr", srv1.URL)
	if code != 1 || strings.Count(stderr, srv1.URL) != 1 || strings.Contains(stderr, srv2.URL) {
		t.Fatalf("status --addr of a dead node: exit %d\n%s", code, stderr)
	}

	// Nothing answers: each node is named once, with its reason, and a hint.
	dead2 := deadAddr(t)
	t.Setenv(addrEnv, dead+","+dead2)
	code, _, stderr = runCLI(t, "status")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"no node answered (2 tried)", "hint: is the cluster running (make run)?"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
	for _, a := range []string{dead, dead2} {
		if n := strings.Count(stderr, strings.TrimPrefix(a, "http://")); n != 1 {
			t.Errorf("error names %s %d times, want once:\n%s", a, n, stderr)
		}
	}
	if strings.Contains(stderr, `Get "`) {
		t.Errorf("error repeats the request:\n%s", stderr)
	}
}
