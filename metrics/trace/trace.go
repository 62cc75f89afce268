// Package trace parses recorded metric traces: CSV files with one time column
// and one or more value columns, as replayed by `capstan simulate`.
//
// The parser is strict (every bad cell is an error naming its line, unless
// Options.SkipBadRows asks to skip and count such rows) and fast: the
// simulator replays millions of samples per second, so the common shapes of
// times and numbers are decoded from the bytes directly, with the standard
// library (time.Parse, strconv.ParseFloat) as the fallback and the reference
// for everything unusual.
//
// The format: the first non-blank line is a header; the column named
// timestamp, time or ts (any case, any position) holds the times and every
// other column is a value column. A time cell is "YYYY-MM-DD HH:MM:SS" or
// "YYYY-MM-DD HH:MM", with a space or ISO 8601's "T" (naive, read in
// Options.Location), RFC 3339, or a Unix epoch time with an optional
// fraction, detected per cell: seconds, or milliseconds, microseconds or
// nanoseconds when the number is too large to be seconds (from 1e11, 1e14
// and 1e17 on); times must strictly increase. A value cell is
// a finite decimal number, or empty for a missing sample (stored as NaN).
// Cells are trimmed of spaces and tabs; CRLF line endings, a UTF-8 BOM, blank
// lines and RFC 4180 quoting are accepted.
package trace

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Limits on what Parse accepts. They exist so that a wrong path or a runaway
// export cannot make the control plane allocate without bound; every real
// trace is orders of magnitude smaller.
const (
	// MaxBytes is the largest input accepted, in bytes (1 GiB).
	MaxBytes = 1 << 30
	// MaxRows is the largest number of data rows accepted (blank lines
	// excluded, skipped bad rows included).
	MaxRows = 50_000_000
)

// maxSkipped bounds Trace.Skipped so that a file that is mostly garbage
// cannot turn into a huge error list; SkippedCount still counts them all.
const maxSkipped = 100

// The limits are variables inside the package so that tests can lower them
// instead of generating gigabytes.
var (
	maxBytes int64 = MaxBytes
	maxRows        = MaxRows
)

// Sentinel errors. Parse wraps them (usually inside a *ParseError that names
// the line), so callers test for them with errors.Is.
var (
	// ErrNoHeader means the input has no header line (it is empty or blank).
	ErrNoHeader = errors.New("no header line")
	// ErrBadHeader means the header has an empty or repeated column name,
	// more than one time column, or broken quoting.
	ErrBadHeader = errors.New("bad header")
	// ErrNoTimeColumn means no header column is named timestamp, time or ts.
	ErrNoTimeColumn = errors.New("no time column (want one named timestamp, time or ts)")
	// ErrNoValueColumns means the header has a time column and nothing else.
	ErrNoValueColumns = errors.New("no value columns")
	// ErrNoRows means the header is followed by no usable data row.
	ErrNoRows = errors.New("no data rows")
	// ErrBadTime means a time cell is in none of the accepted forms, is not
	// a real calendar time, or is outside the int64-nanosecond range.
	// Its text names the accepted forms, so the user can fix the column.
	ErrBadTime = errors.New("bad time (want YYYY-MM-DD HH:MM[:SS] with an optional T, fraction and zone, or Unix epoch seconds, ms, µs or ns)")
	// ErrBadNumber means a value cell is not a finite decimal number.
	ErrBadNumber = errors.New("not a number")
	// ErrNotIncreasing means a row's time is equal to or earlier than the
	// previous row's: replay needs a strict order, and a repeat is ambiguous.
	ErrNotIncreasing = errors.New("time not increasing")
	// ErrWrongFieldCount means a row has more or fewer fields than the header.
	ErrWrongFieldCount = errors.New("wrong number of fields")
	// ErrBadQuote means a quoted field is unterminated, or a quote appears
	// where RFC 4180 does not allow one.
	ErrBadQuote = errors.New("bad quoting")
	// ErrTooLarge means the input exceeds MaxBytes or MaxRows.
	ErrTooLarge = errors.New("trace too large")
)

// ParseError reports a problem at a specific line of the input, so a user can
// go straight to the offending row of a file with millions of them.
type ParseError struct {
	Line   int    // 1-based line number (the first line of a multi-line quoted record)
	Column string // column name, or "" when the problem is not in one cell
	Err    error  // wraps one of the package's sentinel errors
}

// Error formats the error as `line 12: column "value": not a number: "abc"`.
func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("line %d: column %q: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap exposes the sentinel for errors.Is.
func (e *ParseError) Unwrap() error { return e.Err }

// SkippedRow records a row dropped under Options.SkipBadRows, so that the
// caller can tell the user what was ignored rather than silently lose data.
type SkippedRow struct {
	Line int         // 1-based line number of the row
	Err  *ParseError // why it was skipped; errors.Is works on it
}

// Trace is a parsed metric trace: one time column and one or more value
// columns, stored column-wise because the simulator reads one metric at a
// time across all samples.
type Trace struct {
	TimeColumn string      // name of the time column as written in the header (trimmed)
	Columns    []string    // value column names, in file order (header names, trimmed)
	Times      []int64     // Unix nanoseconds, strictly increasing
	Values     [][]float64 // Values[c][i] is column c at Times[i]; an empty cell is NaN (missing)
	// Skipped lists the first 100 rows skipped under Options.SkipBadRows.
	Skipped []SkippedRow
	// SkippedCount is the total number of skipped rows, which may exceed
	// len(Skipped).
	SkippedCount int
}

// Options controls parsing. The zero value is strict and reads naive times
// as UTC.
type Options struct {
	// SkipBadRows counts and reports bad rows (in Trace.Skipped) instead of
	// failing on the first one. Header problems are always errors.
	SkipBadRows bool
	// Location is the zone for naive "YYYY-MM-DD HH:MM:SS" times, which many
	// exporters write in the source's local time; nil means UTC. Epoch and
	// RFC 3339 times carry their own zone and ignore it. Naive times are
	// resolved exactly as time.Date does, so in a zone with daylight saving
	// a recording that repeats the fall-back hour fails with
	// ErrNotIncreasing: the wall clock alone cannot order those rows.
	Location *time.Location
}

// Parse reads the whole of r and parses it as a trace. The input is read
// fully first because scanning one contiguous buffer is what makes the parser
// fast; inputs over MaxBytes are refused with ErrTooLarge.
func Parse(r io.Reader, opt Options) (*Trace, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return ParseBytes(data, opt)
}

// ParseBytes parses data as a trace. The returned Trace does not refer to
// data, so the caller may reuse the buffer.
func ParseBytes(data []byte, opt Options) (*Trace, error) {
	s, err := NewStream(data, opt)
	if err != nil {
		return nil, err
	}
	return s.Parse(nil)
}

// Stream is a parse of a trace whose rows another goroutine may read while
// the parse goes on: capstan simulate replays a long trace as it parses,
// on a second core, instead of after. NewStream reads the header; Parse
// reads the rows into columns that never move (Times and Values) and
// reports how many are final as it goes. The trace, its errors and the
// rows it skips are exactly ParseBytes's, which is a Stream parsed
// without progress.
type Stream struct {
	p parser
}

// StreamChunk is how many rows Stream.Parse reports its progress after: a
// replay that waits for the first ones waits for a few microseconds of
// parsing, and a report (a lock and a wake-up) every few hundred rows
// costs the parse nothing measurable.
const StreamChunk = 512

// NewStream checks data's size and reads its header, with the errors
// ParseBytes returns for them, and makes room in the columns for every row
// the data can hold. The Stream refers to data until Parse returns.
func NewStream(data []byte, opt Options) (*Stream, error) {
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), maxBytes)
	}
	s := &Stream{p: parser{data: data, opt: opt, zones: newZoneResolver(opt.Location), chunk: StreamChunk}}
	if err := s.p.header(); err != nil {
		return nil, err
	}
	return s, nil
}

// Columns are the value columns' names, in file order (Trace.Columns).
func (s *Stream) Columns() []string { return s.p.tr.Columns }

// Times and Values are the columns Parse fills (Trace.Times and
// Trace.Values before they are cut to the rows parsed): room for every row
// the data can hold, so they never move. Rows below the count Parse last
// reported to its progress function are final; a reader on another
// goroutine may read those once it has received that count through a
// synchronizing operation (a mutex, a channel).
func (s *Stream) Times() []int64 { return s.p.times }

// Values are Times's value columns, Values()[c] for Columns()[c].
func (s *Stream) Values() [][]float64 { return s.p.vals }

// Parse parses the rows, calling progress (when not nil, on Parse's
// goroutine) after every StreamChunk rows with the number of rows final so
// far, and returns the trace, or the error, that ParseBytes returns for the
// same data (the trace's columns are Times and Values, cut to the rows).
// Call it once.
func (s *Stream) Parse(progress func(rows int)) (*Trace, error) {
	return s.p.rows(progress)
}

// readAll reads r up to the size limit, preallocating from the size when r
// can tell it (files, bytes and strings readers) to avoid repeated growth.
func readAll(r io.Reader) ([]byte, error) {
	hint := int64(-1)
	switch v := r.(type) {
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			hint = fi.Size()
		}
	case interface{ Len() int }:
		hint = int64(v.Len())
	}
	if hint > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, hint, maxBytes)
	}
	if hint < 0 {
		hint = 64 << 10
	}
	buf := make([]byte, 0, hint+1) // +1 so that a reader of exactly hint bytes hits EOF without growing
	lr := io.LimitReader(r, maxBytes+1)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 1)
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(len(buf)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	return buf, nil
}

// Column returns the index in Columns and Values of the value column with
// exactly this name (as trimmed from the header).
func (t *Trace) Column(name string) (int, bool) {
	i := slices.Index(t.Columns, name)
	return i, i >= 0
}

// Step returns the median spacing of Times: the trace's nominal sample
// interval, robust to the occasional gap (a missing row) that would skew a
// mean or a minimum. With an even number of intervals it is the mean of the
// two middle ones. It is 0 when there are fewer than two samples.
func (t *Trace) Step() time.Duration {
	n := len(t.Times) - 1
	if n < 1 {
		return 0
	}
	// Most traces have a handful of distinct spacings: count them instead of
	// copying and sorting up to MaxRows intervals.
	type bucket struct {
		d int64
		n int
	}
	var small [16]bucket
	buckets := small[:0]
	for i := 1; i <= n; i++ {
		d := t.Times[i] - t.Times[i-1]
		j := 0
		for j < len(buckets) && buckets[j].d != d {
			j++
		}
		if j == len(buckets) {
			if len(buckets) == cap(small) {
				return medianBySelect(t.Times)
			}
			buckets = append(buckets, bucket{d, 0})
		}
		buckets[j].n++
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return cmp.Compare(a.d, b.d) })
	lo, hi := (n-1)/2, n/2 // positions of the middle interval(s)
	var dlo, dhi int64
	seen := 0
	for _, b := range buckets {
		if lo >= seen && lo < seen+b.n {
			dlo = b.d
		}
		if hi >= seen && hi < seen+b.n {
			dhi = b.d
			break
		}
		seen += b.n
	}
	return time.Duration(dlo + (dhi-dlo)/2)
}

// medianBySelect is Step's path for irregular traces: quickselect on a copy of
// the intervals, linear time instead of a full sort.
func medianBySelect(times []int64) time.Duration {
	n := len(times) - 1
	d := make([]int64, n)
	for i := range d {
		d[i] = times[i+1] - times[i]
	}
	hi := n / 2
	dhi := selectKth(d, hi)
	dlo := dhi
	if n%2 == 0 {
		// After selection everything before hi is <= d[hi]; the lower
		// middle is the largest of them.
		dlo = slices.Max(d[:hi])
	}
	return time.Duration(dlo + (dhi-dlo)/2)
}

// selectKth partially orders a so that a[k] holds the k-th smallest element
// and everything before it is not larger, and returns a[k].
func selectKth(a []int64, k int) int64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		// Median of three keeps sorted and reverse-sorted input linear.
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		// Hoare partition; equal keys split evenly, so runs of identical
		// intervals (the common case) do not go quadratic.
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// isTimeColumn reports whether a header name designates the time column.
func isTimeColumn(name string) bool {
	return strings.EqualFold(name, "timestamp") || strings.EqualFold(name, "time") || strings.EqualFold(name, "ts")
}
