package main

import (
	"fmt"
	"io"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
)

// loadTrace reads and parses a trace file for simulate and recommend:
// times written without a zone are read in timezone; with skipBad,
// malformed rows are skipped and reported on stderr.
func loadTrace(file, timezone string, skipBad bool, stderr io.Writer) (*trace.Trace, error) {
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("--timezone: %w", err)
	}
	data, err := readFileLimited(file, maxTraceFile)
	if err != nil {
		return nil, fmt.Errorf("reading trace: %w", err)
	}
	tr, err := trace.ParseBytes(data, trace.Options{SkipBadRows: skipBad, Location: loc})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if tr.SkippedCount > 0 {
		fmt.Fprintf(stderr, "skipped %d bad row(s) in %s\n", tr.SkippedCount, file)
		for _, s := range tr.Skipped {
			fmt.Fprintf(stderr, "  %v\n", s.Err) // the error names its line
		}
	}
	return tr, nil
}
