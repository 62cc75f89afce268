package api

import (
	"strings"
	"testing"
)

func TestCheckJoinAddr(t *testing.T) {
	for _, tc := range []struct {
		field, v string
		ok       bool
	}{
		{"raft_addr", "10.0.0.1:7001", true},
		{"raft_addr", "[::1]:7001", true},
		{"raft_addr", "https://10.0.0.1:7001", false}, // Raft has no scheme
		{"raft_addr", "10.0.0.1", false},
		{"http_addr", "10.0.0.1:8081", true},
		{"http_addr", "https://10.0.0.1:8081", true}, // a TLS node registers its scheme
		{"http_addr", "http://capstan-0.capstan:8081", true},
		{"http_addr", "https://[::1]:8081", true},
		{"http_addr", "ftp://10.0.0.1:8081", false},
		{"http_addr", "https://10.0.0.1", false},
		{"http_addr", "https://10.0.0.1:8081/api", false},
		{"http_addr", "https://user@10.0.0.1:8081", false},
		{"http_addr", "nowhere", false},
	} {
		msg := checkJoinAddr(tc.field, tc.v)
		if (msg == "") != tc.ok {
			t.Errorf("checkJoinAddr(%s, %q) = %q, want ok=%v", tc.field, tc.v, msg, tc.ok)
		}
		if msg != "" && !strings.Contains(msg, tc.v) {
			t.Errorf("checkJoinAddr(%s, %q) = %q: the message does not quote the value", tc.field, tc.v, msg)
		}
	}
}
