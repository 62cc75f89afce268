package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestWatchRefreshesUntilInterrupted checks --watch: one screen per
// interval, each headed by the command and the time; a failed refresh
// prints its error and the watch goes on; the interrupt ends it without
// an error.
func TestWatchRefreshesUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	f := watchFlags{on: true, interval: time.Millisecond, now: func() time.Time { return time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC) }}
	var out bytes.Buffer
	err := f.run(ctx, &out, "capstan status", func(w io.Writer) error {
		calls++
		switch calls {
		case 2:
			return errors.New("the node did not answer")
		case 3:
			cancel()
		}
		_, err := io.WriteString(w, "body\n")
		return err
	})
	if err != nil {
		t.Fatalf("watch ended with %v, want nil on interrupt", err)
	}
	if calls != 3 {
		t.Fatalf("%d refreshes, want 3", calls)
	}
	got := out.String()
	if n := strings.Count(got, "Every 1ms: capstan status    2026-12-06 20:00:00Z\n"); n != 3 {
		t.Errorf("%d headers, want 3:\n%s", n, got)
	}
	if n := strings.Count(got, "body\n"); n != 2 {
		t.Errorf("%d bodies, want 2:\n%s", n, got)
	}
	if !strings.Contains(got, "error: the node did not answer\n") {
		t.Errorf("the failed refresh is not shown:\n%s", got)
	}

	// Without --watch: once, no header.
	out.Reset()
	if err := (&watchFlags{}).run(context.Background(), &out, "x", func(w io.Writer) error { _, err := io.WriteString(w, "once\n"); return err }); err != nil || out.String() != "once\n" {
		t.Errorf("without --watch: %q %v", out.String(), err)
	}
	if err := (&watchFlags{on: true}).run(context.Background(), &out, "x", nil); err == nil || !strings.Contains(err.Error(), "--interval") {
		t.Errorf("--interval 0: %v", err)
	}
}

// TestStatusAndDecisionsWatch runs the real commands with --watch until a
// deadline: both refresh, and stop cleanly.
func TestStatusAndDecisionsWatch(t *testing.T) {
	b, url := startAPI(t)
	b.AddDecisions("web", policy.Record{Action: "hold", Current: 2, Desired: 2})
	for _, args := range [][]string{{"status"}, {"decisions", "web"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var stdout, stderr bytes.Buffer
		root := newRootCommand(&stdout, &stderr)
		root.SetArgs(append(args, "--watch", "--interval", "50ms", "--addr", url))
		err := root.ExecuteContext(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if n := strings.Count(stdout.String(), "Every 50ms: capstan "+strings.Join(args, " ")); n < 2 {
			t.Errorf("%v: %d refreshes in 300ms, want several:\n%s", args, n, stdout.String())
		}
	}
}
