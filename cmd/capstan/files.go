package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 0
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() <= limit {
		size = int(fi.Size()) // without a size (a pipe, a failed Stat) the buffer grows as it reads
	}
	return readAllLimited(f, limit, size)
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
