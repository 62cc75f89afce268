package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
)

// loadTrace reads and parses a trace file for simulate and recommend:
// times written without a zone are read in timezone; with skipBad,
// malformed rows are skipped and reported on stderr.
func loadTrace(file, timezone string, skipBad bool, stderr io.Writer) (*trace.Trace, error) {
	st, err := openTrace(file, timezone, skipBad)
	if err != nil {
		return nil, err
	}
	return parseTrace(st, file, stderr)
}

// openTrace reads a trace file and its header (trace.NewStream), with
// loadTrace's errors; parseTrace, or a traceFeed, parses its rows.
func openTrace(file, timezone string, skipBad bool) (*trace.Stream, error) {
	return openTraceUnless(file, timezone, skipBad, nil)
}

// openTraceUnless is openTrace whose read gives up with errStopped, a
// stretch of the file at most later, once stop is set (nil: never).
func openTraceUnless(file, timezone string, skipBad bool, stop *atomic.Bool) (*trace.Stream, error) {
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("--timezone: %w", err)
	}
	data, err := readFileLimitedUnless(file, maxTraceFile, stop)
	if err != nil {
		return nil, fmt.Errorf("reading trace: %w", err)
	}
	st, err := trace.NewStream(data, trace.Options{SkipBadRows: skipBad, Location: loc})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return st, nil
}

// traceRead reads a trace file and its header (openTrace) on a goroutine
// of its own while simulate loads the policy and checks its flags, which
// took about as long on the replay's core before it could start: the
// read, mostly the kernel copying the file into fresh memory, then runs
// on the second. The errors and their order are the ones of reading it
// after the policy: the policy's and the flags' first (the read is then
// stopped and joined: stop), the trace's when wait hands it over.
// Only a regular file is read early: a pipe's writer may not be done,
// or not started, when the policy turns out bad.
type traceRead struct {
	file, timezone string
	skipBad        bool
	stop           atomic.Bool
	done           chan struct{} // nil: not started, wait reads the file itself
	st             *trace.Stream
	err            error
}

// startTraceRead starts reading file, if it is a regular file.
func startTraceRead(file, timezone string, skipBad bool) *traceRead {
	r := &traceRead{file: file, timezone: timezone, skipBad: skipBad}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return r // not read early: wait reads it (and reports what is wrong with it)
	}
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.st, r.err = openTraceUnless(file, timezone, skipBad, &r.stop)
	}()
	return r
}

// wait returns the read trace and its header, or openTrace's error.
func (r *traceRead) wait() (*trace.Stream, error) {
	if r.done == nil {
		return openTrace(r.file, r.timezone, r.skipBad)
	}
	<-r.done
	return r.st, r.err
}

// abandon stops the read, when the run fails before it needs the trace,
// and joins its goroutine.
func (r *traceRead) abandon() {
	if r.done != nil {
		r.stop.Store(true)
		<-r.done
	}
}

// parseTrace parses an open trace's rows, with loadTrace's error and its
// report of the rows skipped.
func parseTrace(st *trace.Stream, file string, stderr io.Writer) (*trace.Trace, error) {
	tr, err := st.Parse(nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	reportSkipped(stderr, file, tr)
	return tr, nil
}

// reportSkipped tells the user which rows --skip-bad-rows left out.
func reportSkipped(stderr io.Writer, file string, tr *trace.Trace) {
	if tr.SkippedCount > 0 {
		fmt.Fprintf(stderr, "skipped %d bad row(s) in %s\n", tr.SkippedCount, file)
		for _, s := range tr.Skipped {
			fmt.Fprintf(stderr, "  %v\n", s.Err) // the error names its line
		}
	}
}

// streamed is the trace being parsed, as mapTrace reads it: its columns
// with room for every row (trace.Stream.Times and Values), so a series
// mapped from it reads the rows as they arrive (traceFeed).
func streamed(st *trace.Stream) *trace.Trace {
	return &trace.Trace{Columns: st.Columns(), Times: st.Times(), Values: st.Values()}
}

// traceFeed parses a trace on its own goroutine while the replays read it
// (simulate.Config.Arrived): on two cores the replay starts after the
// first rows instead of after the whole file, about a tenth of a run of
// capstan simulate. The goroutine is started by startTraceFeed and ends
// with the parse; wait joins it, and every caller that started one waits.
type traceFeed struct {
	mu    sync.Mutex
	cond  sync.Cond // signalled as rows arrive and when the parse ends
	final int       // rows parsed so far, final
	whole bool      // the parse has ended (err says how)
	err   error     // the parse's error, as loadTrace returns it
	tr    *trace.Trace
	wants []int // the row each replay waiting in arrived waits for
	// yield is called on the parse's goroutine when rows a replay waits
	// for have arrived (runtime.Gosched): see progress.
	yield func()
	ended chan struct{} // closed when the goroutine returns
}

// startTraceFeed starts parsing st's rows. When the parse succeeds, done
// runs on the feed's goroutine before the replays see the trace whole
// (they write nothing before that: simulate.Config.Rows), so what it
// prints (the rows skipped, warnings) comes first, as when the trace is
// parsed before the replay.
func startTraceFeed(st *trace.Stream, file string, done func(*trace.Trace)) *traceFeed {
	f := &traceFeed{ended: make(chan struct{}), yield: runtime.Gosched}
	f.cond.L = &f.mu
	go func() {
		defer close(f.ended)
		tr, err := st.Parse(f.progress)
		if err != nil {
			err = fmt.Errorf("%s: %w", file, err)
		} else {
			done(tr)
		}
		f.mu.Lock()
		f.whole, f.err, f.tr = true, err, tr
		if tr != nil {
			f.final = len(tr.Times)
		}
		f.mu.Unlock()
		f.cond.Broadcast()
	}()
	return f
}

// progress is the parse's trace.Stream progress function. When the rows
// a waiting replay needs have arrived it yields: the replay, woken, waits
// to run on the parse's P until another P takes it, about a wake-up of an
// idle thread later, or, when that fails (a busy machine), until the
// parse ends; the replay is what a run waits for, so it runs at once and
// the parse goes on where a core is free.
func (f *traceFeed) progress(rows int) {
	f.mu.Lock()
	f.final = rows
	woke := slices.ContainsFunc(f.wants, func(want int) bool { return want < rows })
	f.mu.Unlock()
	f.cond.Broadcast()
	if woke {
		f.yield()
	}
}

// arrived is simulate.Config.Arrived: the lock orders the parse's writes
// to the rows before the replay's reads.
func (f *traceFeed) arrived(want int) (int, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.final <= want && !f.whole {
		f.wants = append(f.wants, want)
		for f.final <= want && !f.whole {
			f.cond.Wait()
		}
		f.wants = slices.Delete(f.wants, slices.Index(f.wants, want), slices.Index(f.wants, want)+1)
	}
	return f.final, f.whole, f.err
}

// wait joins the feed's goroutine and returns the parsed trace or the
// parse's error, which comes before any other (the trace is parsed
// first); a nil feed returns nil, nil.
func (f *traceFeed) wait() (*trace.Trace, error) {
	if f == nil {
		return nil, nil
	}
	<-f.ended
	return f.tr, f.err
}
