package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	b, url := startAPI(t)
	b.SetNotReady(errors.New("no leader"))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"alive without a leader", []string{"health", "--addr", url}, 0, "ok\n", ""},
		{"not ready without a leader", []string{"health", "--ready", "--addr", url}, 1, "", "not ready: "},
		{"nothing listening", []string{"health", "--addr", closed.URL}, 1, "", "not alive: "},
		{"only the first node is asked", []string{"health", "--addr", closed.URL + "," + url}, 1, "", "not alive: the node did not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.wantCode || stdout != tc.wantOut || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
					code, stdout, stderr, tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
	b.SetNotReady(nil)
	if code, stdout, stderr := runCLI(t, "health", "--ready", "--addr", url); code != 0 || stdout != "ok\n" {
		t.Errorf("ready node: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
