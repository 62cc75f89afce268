package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
)

// writeTrace writes a 1-minute trace of rows samples, with line bad (if
// any) holding a value that is not a number, and returns its path.
func writeTrace(t *testing.T, rows, bad int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("ts,value\n")
	for i := range rows {
		if i+2 == bad {
			fmt.Fprintf(&b, "%d,oops\n", 1700000000+60*i)
			continue
		}
		fmt.Fprintf(&b, "%d,%d.25\n", 1700000000+60*i, 300+i%200)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTraceFeedHandsOverRowsBeforeTheParseEnds: a feed hands its reader
// the rows parsed so far while the parse goes on (the replay starts
// there), and the trace whole only after its done function ran; the
// parse's error is the feed's, as loadTrace words it.
func TestTraceFeedHandsOverRowsBeforeTheParseEnds(t *testing.T) {
	path := writeTrace(t, 5*trace.StreamChunk, 0)
	st, err := openTrace(path, "UTC", false)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f := startTraceFeed(st, path, func(*trace.Trace) { <-release })
	final, whole, err := f.arrived(0)
	if err != nil || whole || final < trace.StreamChunk || final > 5*trace.StreamChunk {
		t.Fatalf("before the parse ended: %d rows, whole %v, err %v", final, whole, err)
	}
	if got := st.Times()[final-1]; got != int64(1700000000+60*(final-1))*1e9 {
		t.Fatalf("row %d handed over as %d", final-1, got)
	}
	close(release)
	if final, whole, err = f.arrived(5 * trace.StreamChunk); err != nil || !whole || final != 5*trace.StreamChunk {
		t.Fatalf("after the parse: %d rows, whole %v, err %v", final, whole, err)
	}
	if tr, err := f.wait(); err != nil || len(tr.Times) != 5*trace.StreamChunk {
		t.Fatalf("wait: %v", err)
	}

	bad := writeTrace(t, 5*trace.StreamChunk, 4*trace.StreamChunk)
	st, err = openTrace(bad, "UTC", false)
	if err != nil {
		t.Fatal(err)
	}
	f = startTraceFeed(st, bad, func(*trace.Trace) { t.Error("done called for a failed parse") })
	_, _, err = f.arrived(5 * trace.StreamChunk)
	_, want := loadTrace(bad, "UTC", false, io.Discard)
	if _, werr := f.wait(); err == nil || want == nil || err.Error() != want.Error() || werr.Error() != want.Error() {
		t.Fatalf("bad row: arrived %v, wait %v, want %v", err, werr, want)
	}
}

// TestSimulateBadRowWhileReplaying: a bad row far into a trace, found
// while the replay of the rows before it has started, fails the command
// with the error a parse before the replay gave (the line, the column and
// the rule), writes no timeline and prints no summary; with
// --skip-bad-rows the row is reported before anything else, and the run's
// timeline and summary are those of the trace without it.
func TestSimulateBadRowWhileReplaying(t *testing.T) {
	const rows, line = 3 * 2048, 5000
	bad := writeTrace(t, rows, line)
	dir := t.TempDir()
	timeline := filepath.Join(dir, "timeline.csv")
	for _, mode := range []string{"forecast-and-scale", "off"} {
		code, stdout, stderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", bad, "--predictive", mode,
			"--timeline", timeline, "--compare", "off", "--baseline", "hpa")
		want := fmt.Sprintf("%s: line %d: column \"value\": not a number: \"oops\"", bad, line)
		if code == 0 || !strings.Contains(stderr, want) || stdout != "" {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q; want the error %q", mode, code, stdout, stderr, want)
		}
		if _, err := os.Stat(timeline); !os.IsNotExist(err) {
			t.Fatalf("%s: a failed run left a timeline (%v)", mode, err)
		}
	}

	// Skipping it: the same outputs as the trace without the row.
	code, stdout, stderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", bad, "--skip-bad-rows", "--timeline", timeline, "-o", "json")
	if code != 0 || !strings.HasPrefix(stderr, fmt.Sprintf("skipped 1 bad row(s) in %s\n  line %d:", bad, line)) {
		t.Fatalf("skipping: exit %d, stderr %q", code, stderr)
	}
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	without := filepath.Join(dir, "without.csv")
	if err := os.WriteFile(without, []byte(strings.Join(append(lines[:line-1:line-1], lines[line:]...), "")), 0o644); err != nil {
		t.Fatal(err)
	}
	wantTimeline := filepath.Join(dir, "want.csv")
	wcode, wstdout, wstderr := runCLI(t, "simulate", "--policy", elbPolicy, "--trace", without, "--timeline", wantTimeline, "-o", "json")
	if wcode != 0 || wstdout != stdout {
		t.Fatalf("the trace without the row: exit %d (%s), summary\n%s\nwant\n%s", wcode, wstderr, stdout, wstdout)
	}
	got, _ := os.ReadFile(timeline)
	want, _ := os.ReadFile(wantTimeline)
	if len(got) == 0 || string(got) != string(want) {
		t.Fatalf("timeline with the row skipped (%d bytes) differs from the trace without it (%d bytes)", len(got), len(want))
	}
}

// TestTraceFeedYieldsToAWaitingReplay: the parse yields its core when the
// rows a waiting replay needs arrive, and only then: not for rows no one
// waits for, nor for rows short of what the waiting replays need.
func TestTraceFeedYieldsToAWaitingReplay(t *testing.T) {
	var yields atomic.Int32
	f := &traceFeed{ended: make(chan struct{}), yield: func() { yields.Add(1) }}
	f.cond.L = &f.mu
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			f.mu.Lock()
			got := len(f.wants)
			f.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d replays waiting, want %d", got, n)
			}
		}
	}
	steps := []struct {
		rows, yields int
	}{
		{100, 0},  // nobody waits
		{512, 0},  // the replays wait for rows 600 and 1000
		{700, 1},  // row 600 is final: the first replay may go on
		{1000, 1}, // the second waits for row 1000, still not final
		{1024, 2}, // now it is
		{2048, 2}, // nobody waits
	}
	got := make(chan int, 2)
	for i, s := range steps {
		if s.rows == 512 {
			for _, want := range []int{600, 1000} {
				go func() {
					final, _, _ := f.arrived(want)
					got <- final
				}()
			}
			waiting(2)
		}
		f.progress(s.rows)
		if n := int(yields.Load()); n != s.yields {
			t.Fatalf("step %d (%d rows): %d yields, want %d", i, s.rows, n, s.yields)
		}
		if s.rows == 700 || s.rows == 1024 {
			if final := <-got; final != s.rows {
				t.Fatalf("a replay woke with %d rows final, want %d", final, s.rows)
			}
		}
	}
	waiting(0)
}

// TestTraceReadAsOpenTrace: a trace read on its own goroutine while the
// policy loads (traceRead) hands over what openTrace returns, the same
// stream or the same error, whether read early (a regular file) or not
// (anything else); stopped, its read gives up; and simulate's errors come
// in the order they came when the trace was read after the policy.
func TestTraceReadAsOpenTrace(t *testing.T) {
	dir := t.TempDir()
	badHeader := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badHeader, []byte("value\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeTrace(t, 3*trace.StreamChunk, 0)
	tests := []struct {
		name, file, zone string
		early            bool
	}{
		{"a trace", good, "UTC", true},
		{"a trace in a zone", good, "Europe/Berlin", true},
		{"an unknown zone", good, "Mars/Olympus", true},
		{"a missing file", filepath.Join(dir, "missing.csv"), "UTC", false},
		{"a directory", dir, "UTC", false},
		{"a bad header", badHeader, "UTC", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startTraceRead(tc.file, tc.zone, false)
			if early := r.done != nil; early != tc.early {
				t.Fatalf("read early: %v, want %v", early, tc.early)
			}
			st, err := r.wait()
			wantSt, wantErr := openTrace(tc.file, tc.zone, false)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("error %v, want openTrace's %v", err, wantErr)
			}
			if err == nil {
				got, want := streamed(st), streamed(wantSt)
				if !slices.Equal(got.Columns, want.Columns) || len(got.Times) != len(want.Times) {
					t.Fatalf("stream %v with room for %d rows, want %v with %d", got.Columns, len(got.Times), want.Columns, len(want.Times))
				}
			}
			r.abandon() // after wait: nothing left to stop
		})
	}

	// A stopped read gives up, a stretch at most later.
	var stop atomic.Bool
	stop.Store(true)
	if _, err := readFileLimitedUnless(good, maxTraceFile, &stop); !errors.Is(err, errStopped) {
		t.Fatalf("a stopped read: %v, want errStopped", err)
	}
	r := &stoppable{r: strings.NewReader(strings.Repeat("x", readStretch+10)), stop: new(atomic.Bool)}
	if n, err := r.Read(make([]byte, readStretch+10)); n != readStretch || err != nil {
		t.Fatalf("a read of more than a stretch read %d, %v; want %d", n, err, readStretch)
	}
	abandoned := startTraceRead(good, "UTC", false)
	abandoned.abandon()
	select {
	case <-abandoned.done:
	default:
		t.Fatal("abandon returned before the read's goroutine ended")
	}

	// The policy's errors and the flags' come before the trace's.
	missing := filepath.Join(dir, "missing.csv")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", filepath.Join(dir, "nopolicy.yaml"), "--trace", missing}, "reading policy"},
		{[]string{"--policy", elbPolicy, "--trace", good, "--predictive", "sometimes"}, "--predictive: must be one of"},
		{[]string{"--policy", elbPolicy, "--trace", missing}, "reading trace"},
		{[]string{"--policy", elbPolicy, "--trace", good, "--timezone", "Mars/Olympus"}, "--timezone"},
	} {
		code, _, stderr := runCLI(t, append([]string{"simulate"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}
