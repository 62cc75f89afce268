package main

import (
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
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, limit)
}

// readAllLimited reads r to the end, refusing more than limit bytes.
func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than the %d-byte limit", limit)
	}
	return data, nil
}

// readPolicyFile reads a policy file, or standard input for "-".
func readPolicyFile(file string) ([]byte, error) {
	var (
		data []byte
		err  error
	)
	if file == "-" {
		data, err = readAllLimited(os.Stdin, maxPolicyFile)
	} else {
		data, err = readFileLimited(file, maxPolicyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return data, nil
}
