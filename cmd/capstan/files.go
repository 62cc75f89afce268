package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Input size limits: a policy is small, a trace can be long but not unbounded.
const (
	maxPolicyFile = 1 << 20
	maxTraceFile  = 1 << 30
)

// readFileLimited reads a whole file, refusing files larger than limit.
// The buffer is sized from the file, as os.ReadFile sizes it: grown from
// io.ReadAll's 512 bytes it would be reallocated and copied about 17 times
// for a 16-day 1-minute trace, a few per cent of a simulate run.
func readFileLimited(path string, limit int64) ([]byte, error) {
	return readFileLimitedUnless(path, limit, nil)
}

// errStopped is a read given up because its result is no longer wanted.
var errStopped = errors.New("read stopped: no longer wanted")

// readStretch is how much of a file a stoppable read reads at a time: a
// stop waits for at most one such read.
const readStretch = 8 << 20

// readFileLimitedUnless is readFileLimited, but reads at most readStretch
// bytes at a time and gives up with errStopped once stop is set (nil:
// never).
func readFileLimitedUnless(path string, limit int64, stop *atomic.Bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 0
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() <= limit {
		size = int(fi.Size()) // without a size (a pipe, a failed Stat) the buffer grows as it reads
	}
	var r io.Reader = f
	if stop != nil {
		r = &stoppable{r: f, stop: stop}
	}
	return readAllLimited(r, limit, size)
}

// stoppable reads r a stretch at a time until stop is set.
type stoppable struct {
	r    io.Reader
	stop *atomic.Bool
}

func (s *stoppable) Read(p []byte) (int, error) {
	if s.stop.Load() {
		return 0, errStopped
	}
	return s.r.Read(p[:min(len(p), readStretch)])
}

// readAllLimited reads r to the end, refusing more than limit bytes; size
// is how many bytes r is expected to hold (0 when unknown).
func readAllLimited(r io.Reader, limit int64, size int) ([]byte, error) {
	var buf bytes.Buffer
	// ReadFrom wants bytes.MinRead bytes free before each read, the one
	// that finds the end included: with them no read reallocates.
	buf.Grow(size + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("larger than the %d-byte limit", limit)
	}
	return buf.Bytes(), nil
}

// readPolicyFile reads a policy file, or standard input for "-".
func readPolicyFile(file string) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	if file == "-" {
		data, err = readAllLimited(os.Stdin, maxPolicyFile, 0)
	} else {
		data, err = readFileLimited(file, maxPolicyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return data, nil
}

// overFile is a file open for writing over what it held: createOver.
type overFile struct {
	*os.File
	held int64 // the bytes a regular file held when opened; -1 for any other file
}

// createOver opens path for writing as os.Create does (read-write,
// created with mode 0666 before the umask when missing, with the same
// errors), but does not empty an existing regular file: it is written over
// from its start, and cut cuts it to what was written. Emptying a file the
// page cache holds frees its pages only to allocate them again as the new
// contents arrive, and ext4 marks a file emptied so to be flushed to disk
// when it is closed (auto_da_alloc, for programs that replace a file by
// truncating it): rewriting a 1.5 MB timeline took 0.45-0.8 ms at the
// open, 0.2 ms of writes and 0.05 ms at the close emptied first, 0.01,
// 0.06-0.09 and 0.003 ms written over (BENCHMARKS.md, i9-io12), and
// capstan simulate writes its timeline on a second core while the replay
// runs on the first. Once cut the file is what os.Create would have left;
// only a process killed while writing leaves the old file's end after the
// new rows (an interrupt does not stop a replay: it runs to its end).
func createOver(path string) (*overFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	o := &overFile{File: f, held: -1}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return nil, err
	} else if fi.Mode().IsRegular() {
		o.held = fi.Size()
	}
	return o, nil
}

// cut cuts a regular file to what was written to it, when it held more;
// other files (a pipe, a device) are left alone.
func (o *overFile) cut() error {
	if o.held <= 0 {
		return nil
	}
	at, err := o.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if at >= o.held {
		return nil
	}
	return o.Truncate(at)
}
