package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// logLines decodes the JSON lines slog wrote.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRaftLoggerLevelsAndShape checks that each Raft line becomes one slog
// record at its own level, its message as is (no nested timestamp or
// level) and its arguments as attributes.
func TestRaftLoggerLevelsAndShape(t *testing.T) {
	tests := []struct {
		name      string
		log       func(hclog.Logger)
		wantLevel string // "" : nothing logged
		wantMsg   string
		wantAttr  map[string]any
	}{
		{"info stays info", func(l hclog.Logger) { l.Info("entering leader state", "leader", "n1") }, "INFO", "entering leader state", map[string]any{"leader": "n1", "module": "raft"}},
		{"warn stays warn", func(l hclog.Logger) { l.Warn("failed to contact quorum") }, "WARN", "failed to contact quorum", nil},
		{"error stays error", func(l hclog.Logger) { l.Error("failed to get log", "index", 3) }, "ERROR", "failed to get log", map[string]any{"index": 3.0}},
		{"an error about one peer is a warning", func(l hclog.Logger) {
			l.Error("failed to heartbeat to", "peer", "127.0.0.1:7001", "backoff time", 250*time.Millisecond, "error", errors.New("connection refused"))
		}, "WARN", "failed to heartbeat to", map[string]any{"peer": "127.0.0.1:7001", "error": "connection refused"}},
		{"a failed vote request to one peer is a warning", func(l hclog.Logger) {
			l.Error("failed to make requestVote RPC", "target", "{Voter n1 127.0.0.1:7001}", "error", errors.New("connection refused"), "term", 3)
		}, "WARN", "failed to make requestVote RPC", map[string]any{"term": 3.0}},
		{"debug is below the level", func(l hclog.Logger) { l.Debug("noise") }, "", "", nil},
		{"named and with", func(l hclog.Logger) { l.Named("snapshot").With("id", "s1").Info("saved") }, "INFO", "saved", map[string]any{"module": "raft.snapshot", "id": "s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newRaftLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), hclog.Info, time.Now)
			tt.log(l)
			lines := logLines(t, &buf)
			if tt.wantLevel == "" {
				if len(lines) != 0 {
					t.Fatalf("logged %v, want nothing", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1: %v", len(lines), lines)
			}
			got := lines[0]
			if got["level"] != tt.wantLevel || got["msg"] != tt.wantMsg {
				t.Errorf("level %v msg %q, want %s %q", got["level"], got["msg"], tt.wantLevel, tt.wantMsg)
			}
			for k, v := range tt.wantAttr {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestRaftLoggerRateLimitsRepeats checks that a peer failing many times a
// second is logged once, then once per window with the count.
func TestRaftLoggerRateLimitsRepeats(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	l := newRaftLogger(slog.New(slog.NewJSONHandler(&buf, nil)), hclog.Info, func() time.Time { return now })
	beat := func(peer string, backoff time.Duration) {
		l.Error("failed to heartbeat to", "peer", peer, "backoff time", backoff, "error", errors.New("connection refused"))
	}
	// Three a second for 29 s, backoff growing: one line.
	for i := range 87 {
		beat("127.0.0.1:7001", time.Duration(10*(i+1))*time.Millisecond)
		now = now.Add(time.Second / 3)
	}
	if lines := logLines(t, &buf); len(lines) != 1 || lines[0]["repeated"] != nil {
		t.Fatalf("first 29s: %d lines %v, want one without a count", len(lines), lines)
	}
	// Another peer is another line.
	beat("127.0.0.1:7003", time.Second)
	// Past the window: one line with the count of those held back.
	now = now.Add(2 * time.Second)
	beat("127.0.0.1:7001", time.Second)
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3: %v", len(lines), lines)
	}
	if lines[1]["peer"] != "127.0.0.1:7003" || lines[1]["repeated"] != nil {
		t.Errorf("second peer's line: %v", lines[1])
	}
	if lines[2]["peer"] != "127.0.0.1:7001" || lines[2]["repeated"] != 86.0 || lines[2]["within"] != "30s" {
		t.Errorf("line after the window: %v, want repeated 86 within 30s", lines[2])
	}
}

// TestHeartbeatResumeIsReported checks that the first successful heartbeat
// after failures reports the peer and how long it was failing (logged once
// at INFO by watchHealth), and that a resume without failures reports nothing.
func TestHeartbeatResumeIsReported(t *testing.T) {
	var h memberHealth
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	if p, _ := h.observe(raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: "n2"}}, t0); p != "" {
		t.Errorf("resume without failures reported %q", p)
	}
	h.observe(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "n2"}}, t0)
	h.observe(raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: "n2"}}, t0.Add(time.Second))
	p, down := h.observe(raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: "n2"}}, t0.Add(7*time.Second))
	if p != "n2" || down != 7*time.Second {
		t.Errorf("resume reported %q after %s, want n2 after 7s", p, down)
	}
}
