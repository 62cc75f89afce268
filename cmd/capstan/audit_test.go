package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
)

func TestAuditCommand(t *testing.T) {
	b, url := startAPI(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []api.AuditEntry{
		{Time: at, Token: "deployer", Source: "10.0.0.5:41000", Method: "PUT", Path: "/v1/policies/web",
			Action: api.AuditPolicyPut, Target: "web", NewVersion: 7, Status: 200},
		{Time: at.Add(time.Minute), Token: "viewer", Source: "10.0.0.6:41001", ForwardedBy: "n2", Method: "DELETE",
			Path: "/v1/policies/web", Action: api.AuditPolicyDelete, Target: "web", Status: 403, Code: api.CodeForbidden},
		{Time: at.Add(2 * time.Minute), Token: "deployer", Source: "10.0.0.5:41002", Method: "PUT", Path: "/v1/policies/web",
			Action: api.AuditPolicyPut, Target: "web", OldVersion: 7, NewVersion: 9, Status: 200},
		{Time: at.Add(3 * time.Minute), Token: "viewer", Source: "10.0.0.6:41003", Method: "DELETE", Path: "/v1/policies/web",
			Action: api.AuditPolicyDelete, Target: "web", Status: 403, Code: api.CodeForbidden, Count: 34, Last: at.Add(3*time.Minute + 50*time.Second)},
	} {
		if err := b.Audit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRun(t, "audit", "--addr", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"TIME TOKEN SOURCE ACTION TARGET CHANGE RESULT",
		"2026-03-01 12:03:00Z viewer 10.0.0.6:41003 policy.delete web - 403 forbidden x34 until 2026-03-01 12:03:50Z",
		"2026-03-01 12:02:00Z deployer 10.0.0.5:41002 policy.put web 7->9 200",
		"2026-03-01 12:01:00Z viewer 10.0.0.6:41001 via n2 policy.delete web - 403 forbidden",
		"2026-03-01 12:00:00Z deployer 10.0.0.5:41000 policy.put web 0->7 200",
	}
	if len(lines) != len(want) {
		t.Fatalf("audit printed:\n%s", out)
	}
	for i := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != want[i] {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}

	var l api.AuditList
	if err := json.Unmarshal([]byte(mustRun(t, "audit", "--limit", "3", "-o", "json", "--addr", url)), &l); err != nil ||
		len(l.Entries) != 3 || l.Entries[0].Count != 34 || l.Entries[1].NewVersion != 9 || l.Entries[2].Code != api.CodeForbidden {
		t.Fatalf("audit -o json: %v %+v", err, l)
	}

	for _, tc := range []struct {
		args []string
		flag string
	}{{[]string{"--limit", "0"}, "--limit"}, {[]string{"-o", "xml"}, "--output"}} {
		if code, _, stderr := runCLI(t, append([]string{"audit", "--addr", url}, tc.args...)...); code == 0 || !strings.Contains(stderr, tc.flag) {
			t.Errorf("audit %v: exit %d, stderr %q; want an error naming %s", tc.args, code, stderr, tc.flag)
		}
	}
}

func TestAuditCommandEmpty(t *testing.T) {
	_, url := startAPI(t)
	if out := mustRun(t, "audit", "--addr", url); out != "no writes recorded yet\n" {
		t.Fatalf("empty log printed %q", out)
	}
}
