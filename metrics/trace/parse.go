package trace

import (
	"bytes"
	"fmt"
	"math"
	"time"
)

// parser holds the state of one ParseBytes call. Everything a row needs is
// preallocated here so that the per-row loop performs no allocation.
type parser struct {
	data  []byte
	opt   Options
	zones zoneResolver

	names   []string // header names of all fields, for error messages
	timeIdx int      // field index of the time column
	nfields int

	fields  [][]byte // cells of the current record (reused)
	scratch []byte   // unquoted cell contents for quoted records (reused)

	// Where the rows start (after the header) and the columns they are
	// parsed into, with room for every row (header).
	pos, line, headerLine int
	times                 []int64
	vals                  [][]float64
	chunk                 int // rows between two progress reports (StreamChunk; tests report every row)

	tr *Trace
}

// rowErr describes a bad row without allocating; it becomes a *ParseError
// only if it is returned or recorded.
type rowErr struct {
	kind   error // sentinel
	field  int   // field index, or -1 when not about one cell
	cell   []byte
	detail string
	got    int   // field count, for ErrWrongFieldCount
	err    error // the splitting error, for ErrBadQuote
}

// isSpace is the set trimmed around cells: spaces and tabs, as exporters pad
// columns with either.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// trim removes the padding around a cell; it returns a subslice, so it costs
// nothing on the hot path.
func trim(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// header reads the header, the first non-blank line (leading blank lines
// are tolerated, like anywhere else), and makes the columns: room for
// every row the rest of the data can hold, so that they never move while
// the rows are parsed into them (Stream) and no row costs a reallocation.
func (p *parser) header() error {
	data := p.data
	pos := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		pos = 3 // a UTF-8 BOM, as spreadsheet exports write
	}
	line := 1

	var header [][]byte
	headerLine := 0
	for pos < len(data) {
		var blank bool
		var next, nlines int
		var err error
		header, _, next, nlines, blank, err = p.splitRecord(pos, -1)
		if err != nil {
			return &ParseError{Line: line, Err: fmt.Errorf("%w: %w", ErrBadHeader, err)}
		}
		headerLine = line
		pos, line = next, line+nlines
		if !blank {
			break
		}
		header = nil
	}
	if header == nil {
		return ErrNoHeader
	}
	if err := p.setupHeader(header, headerLine); err != nil {
		return err
	}
	p.pos, p.line, p.headerLine = pos, line, headerLine
	room := p.rowRoom(pos)
	p.times = make([]int64, room)
	p.vals = make([][]float64, len(p.tr.Columns))
	for c := range p.vals {
		p.vals[c] = make([]float64, room)
	}
	return nil
}

// rows parses the rows after the header into the columns and returns the
// trace; progress, when set, is called after every p.chunk rows with
// the number of rows final so far (Stream.Parse).
func (p *parser) rows(progress func(rows int)) (*Trace, error) {
	if err := p.parseRows(p.pos, p.line, progress); err != nil {
		return nil, err
	}
	if len(p.tr.Times) == 0 {
		if p.tr.SkippedCount > 0 {
			return nil, &ParseError{Line: p.headerLine, Err: fmt.Errorf("%w: all %d rows are bad; first: %w",
				ErrNoRows, p.tr.SkippedCount, p.tr.Skipped[0].Err)}
		}
		return nil, &ParseError{Line: p.headerLine, Err: fmt.Errorf("%w after the header", ErrNoRows)}
	}
	return p.tr, nil
}

// special marks the bytes that end an unquoted cell or send a line to the
// quoted path, so the splitting loop tests one table entry per byte.
var special = [256]bool{',': true, '\n': true, '"': true}

// parseRows is the hot loop. Each line is first tried by fastRow, which
// parses the cells in place; any line it declines (padding, quotes, blank,
// unusual or bad cells) is split into cells and parsed by the general path,
// which is the one that reports errors.
//
// The columns are full-length slices with room for every row (header),
// written by index: a row is parsed straight into slot n and only counted
// (n++) once every cell is good, so a bad row needs no rollback and a good
// one no staging copy or append bookkeeping; slots below n are never
// written again, which is what lets a Stream's reader read them while the
// parse goes on. They are stored into the Trace, cut to n, at the end.
// progress, when set, is called after every p.chunk rows counted.
func (p *parser) parseRows(pos, line int, progress func(rows int)) error {
	data := p.data
	nfields := p.nfields
	times, vals := p.times, p.vals
	fields := p.fields[:nfields]
	n, rows, lastLine := 0, 0, 0
	report := -1 // the row count progress hears of next; never, without one
	if progress != nil {
		report = p.chunk
	}
	for pos < len(data) {
		recLine := line
		if ts, next, ok := p.fastRow(pos, vals, n); ok && (n == 0 || ts > times[n-1]) {
			rows++
			if rows > maxRows {
				return &ParseError{Line: recLine, Err: fmt.Errorf("%w: more than %d data rows", ErrTooLarge, maxRows)}
			}
			if data[next-1] == '\n' {
				line++
			}
			times[n] = ts
			n++
			pos = next
			lastLine = recLine
			if n == report {
				progress(n)
				report += p.chunk
			}
			continue
		}

		// General path: split the line into cells.
		nf, start, i := 0, pos, pos
		for i < len(data) {
			c := data[i]
			if !special[c] {
				i++
				continue
			}
			if c != ',' {
				break
			}
			if nf < nfields {
				fields[nf] = data[start:i]
			}
			nf++
			i++
			start = i
		}
		var re rowErr
		bad := false
		if i < len(data) && data[i] == '"' {
			var fs [][]byte
			var next, nlines int
			var err error
			fs, nf, next, nlines, _, err = p.splitRecord(pos, nfields)
			pos, line = next, line+nlines
			copy(fields, fs)
			if err != nil {
				re, bad = rowErr{kind: ErrBadQuote, field: -1, err: err}, true
			}
		} else {
			end := i
			if i < len(data) {
				pos, line = i+1, line+1
			} else {
				pos = i
			}
			if end > start && data[end-1] == '\r' {
				end--
			}
			if nf == 0 && len(trim(data[start:end])) == 0 {
				continue // blank line
			}
			if nf < nfields {
				fields[nf] = data[start:end]
			}
			nf++
		}
		rows++
		if rows > maxRows {
			return &ParseError{Line: recLine, Err: fmt.Errorf("%w: more than %d data rows", ErrTooLarge, maxRows)}
		}
		if !bad && nf != nfields {
			re, bad = rowErr{kind: ErrWrongFieldCount, field: -1, got: nf}, true
		}
		if !bad {
			bad = !p.parseRowAt(fields, times, vals, n, lastLine, &re)
		}
		if bad {
			if err := p.reject(recLine, &re); err != nil {
				return err
			}
			continue
		}
		n++
		lastLine = recLine
		if n == report {
			progress(n)
			report += p.chunk
		}
	}
	p.tr.Times = times[:n]
	for c := range vals {
		p.tr.Values[c] = vals[c][:n]
	}
	return nil
}

// fastRow parses the line at data[pos] in place, for the common shape:
// unpadded, unquoted cells, a naive, RFC 3339 or epoch time, plain decimals
// or empty values. It writes the values into slot n, returns the time and
// the position after the line, and declines (ok == false) anything else,
// leaving the line to the general path. It must never accept a line that the
// general path would read differently; the fuzz test checks exactly that.
func (p *parser) fastRow(pos int, vals [][]float64, n int) (ts int64, next int, ok bool) {
	data := p.data
	i := pos
	c := 0
	last := p.nfields - 1
	for f := 0; f <= last; f++ {
		if f == p.timeIdx {
			if ts, i, ok = p.scanTime(i); !ok {
				return 0, 0, false
			}
		} else {
			v, k, r := scanNumber(data[i:])
			if r != numOK {
				return 0, 0, false
			}
			if k == 0 {
				v = math.NaN() // empty cell: a missing sample
			}
			vals[c][n] = v
			c++
			i += k
		}
		if f < last {
			if i >= len(data) || data[i] != ',' {
				return 0, 0, false
			}
			i++
		}
	}
	switch {
	case i == len(data):
		return ts, i, true
	case data[i] == '\n':
		return ts, i + 1, true
	case data[i] == '\r' && (i+1 == len(data) || data[i+1] == '\n'):
		if i+1 == len(data) {
			return ts, i + 1, true
		}
		return ts, i + 2, true
	}
	return 0, 0, false
}

// cellEnd marks the bytes that can end a cell on the fast path.
var cellEnd = [256]bool{',': true, '\n': true, '\r': true}

// scanTime parses the time cell at data[i] for fastRow and returns the
// position after it. A date cell is taken to run to the next cell end (its
// characters never include one); anything the fast date parser declines is
// left to the general path.
func (p *parser) scanTime(i int) (int64, int, bool) {
	data := p.data
	if i+19 <= len(data) && data[i+4] == '-' {
		j := i + 19
		// The bound keeps a garbage line from being scanned twice in
		// full; a longer date cell (only possible with an absurdly long
		// fraction) is not followed by a separator here, so the caller
		// declines it and the general path reads it.
		for j < len(data) && !cellEnd[data[j]] && j-i < 40 {
			j++
		}
		ns, ok := p.parseDateFast(data[i:j])
		return ns, j, ok
	}
	ns, k, ok := scanEpoch(data[i:])
	return ns, i + k, ok
}

// reject records a bad row under SkipBadRows, or returns it as the error.
func (p *parser) reject(line int, re *rowErr) error {
	if !p.opt.SkipBadRows {
		return p.newError(line, re)
	}
	p.tr.SkippedCount++
	if len(p.tr.Skipped) < maxSkipped {
		p.tr.Skipped = append(p.tr.Skipped, SkippedRow{Line: line, Err: p.newError(line, re)})
	}
	return nil
}

// setupHeader validates the header and prepares the Trace and the reusable
// row buffers.
func (p *parser) setupHeader(header [][]byte, line int) error {
	headerErr := func(format string, args ...any) error {
		return &ParseError{Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadHeader}, args...)...)}
	}
	p.nfields = len(header)
	p.names = make([]string, len(header))
	p.timeIdx = -1
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		name := string(trim(h))
		p.names[i] = name
		if name == "" {
			return headerErr("column %d has an empty name", i+1)
		}
		if isTimeColumn(name) {
			if p.timeIdx >= 0 {
				return headerErr("two time columns, %q and %q", p.names[p.timeIdx], name)
			}
			p.timeIdx = i
			continue
		}
		if seen[name] {
			return headerErr("column name %q repeated", name)
		}
		seen[name] = true
	}
	if p.timeIdx < 0 {
		return &ParseError{Line: line, Err: ErrNoTimeColumn}
	}
	if len(header) < 2 {
		return &ParseError{Line: line, Err: ErrNoValueColumns}
	}
	p.tr = &Trace{TimeColumn: p.names[p.timeIdx]}
	for i, n := range p.names {
		if i != p.timeIdx {
			p.tr.Columns = append(p.tr.Columns, n)
		}
	}
	p.tr.Values = make([][]float64, len(p.tr.Columns))
	p.fields = make([][]byte, p.nfields)
	return nil
}

// rowRoom is how many rows the data from pos can hold at most: a record
// ends at a newline or at the end of the data, so there are no more rows
// than newlines plus one (blank lines and multi-line quoted records only
// make fewer). One more than maxRows is room enough: the parse fails on the
// row after maxRows, once it has been parsed into its slot. Counting the
// newlines is one vectorised pass over the bytes.
func (p *parser) rowRoom(pos int) int {
	if pos >= len(p.data) {
		return 0
	}
	return min(bytes.Count(p.data[pos:], []byte{'\n'})+1, maxRows+1)
}

// splitRecord splits the record starting at data[pos]. It returns the cells
// (trimmed, quotes removed), the number of cells n, the position after the
// record, the number of newlines consumed, and whether the line was blank.
// want is the expected field count (-1 for the header); cells beyond it are
// counted in n but not kept, so a long garbage line cannot grow the reused
// buffer.
//
// Lines without a quote character take the fast path: one pass over the
// bytes, cells are subslices of data.
func (p *parser) splitRecord(pos, want int) (fields [][]byte, n, next, nlines int, blank bool, err error) {
	data := p.data
	fields = p.fields[:0]
	start := pos
	i := pos
	for ; i < len(data); i++ {
		c := data[i]
		if c == ',' {
			if n < want || want < 0 {
				fields = append(fields, data[start:i])
			}
			n++
			start = i + 1
		} else if c == '\n' || c == '"' {
			break
		}
	}
	if i < len(data) && data[i] == '"' {
		return p.splitQuoted(pos, want)
	}
	end := i
	next = i
	if i < len(data) {
		next = i + 1 // consume the '\n'
		nlines = 1
	}
	if end > pos && data[end-1] == '\r' {
		end-- // CRLF line ending (or a final CR at the end of the input)
	}
	if n == 0 && len(trim(data[pos:end])) == 0 {
		return nil, 0, next, nlines, true, nil
	}
	if n < want || want < 0 {
		fields = append(fields, data[start:end])
	}
	n++
	for j := range fields {
		fields[j] = trim(fields[j])
	}
	if want < 0 {
		p.fields = fields
	}
	return fields, n, next, nlines, false, nil
}

// splitQuoted is the RFC 4180 path for records containing '"': a field may be
// wrapped in quotes, contain commas and newlines, and escape a quote by
// doubling it. Unquoted contents are copied into p.scratch, which is reused
// from record to record. On a quoting error the record is taken to end at
// the end of its first line, so that SkipBadRows resynchronises on the next
// line instead of losing the rest of the file to an unterminated quote.
func (p *parser) splitQuoted(pos, want int) (fields [][]byte, n, next, nlines int, blank bool, err error) {
	data := p.data
	fields = p.fields[:0]
	p.scratch = p.scratch[:0]
	i := pos
	fail := func(msg string) ([][]byte, int, int, int, bool, error) {
		e := bytes.IndexByte(data[pos:], '\n')
		if e < 0 {
			return nil, 0, len(data), 0, false, &quoteError{msg}
		}
		return nil, 0, pos + e + 1, 1, false, &quoteError{msg}
	}
	add := func(b []byte) {
		if n < want || want < 0 {
			fields = append(fields, b)
		}
		n++
	}
	for {
		// Start of a field.
		for i < len(data) && isSpace(data[i]) {
			i++
		}
		if i < len(data) && data[i] == '"' {
			i++
			s0 := len(p.scratch)
			for {
				j := bytes.IndexByte(data[i:], '"')
				if j < 0 {
					return fail("unterminated quoted field")
				}
				seg := data[i : i+j]
				nlines += bytes.Count(seg, []byte{'\n'})
				p.scratch = append(p.scratch, seg...)
				i += j + 1
				if i < len(data) && data[i] == '"' { // "" is an escaped quote
					p.scratch = append(p.scratch, '"')
					i++
					continue
				}
				break
			}
			// If scratch grows later, this slice keeps the old backing
			// array, which already holds the cell's bytes.
			add(p.scratch[s0:len(p.scratch):len(p.scratch)])
			for i < len(data) && isSpace(data[i]) {
				i++
			}
			if i < len(data) && data[i] == ',' {
				i++
				continue
			}
			if i < len(data) && data[i] == '\r' && (i+1 == len(data) || data[i+1] == '\n') {
				i++
			}
			if i < len(data) && data[i] != '\n' {
				return fail("unexpected character after a quoted field")
			}
			break
		}
		// Unquoted field: up to ',' or end of line; it may not contain '"'.
		s := i
		for i < len(data) && data[i] != ',' && data[i] != '\n' {
			if data[i] == '"' {
				return fail("quote inside an unquoted field")
			}
			i++
		}
		e := i
		if e > s && data[e-1] == '\r' && (i == len(data) || data[i] == '\n') {
			e--
		}
		add(data[s:e])
		if i < len(data) && data[i] == ',' {
			i++
			continue
		}
		break
	}
	next = i
	if i < len(data) {
		next = i + 1 // the '\n'
		nlines++
	}
	for j := range fields {
		fields[j] = trim(fields[j])
	}
	if want < 0 {
		p.fields = fields
	}
	return fields, n, next, nlines, false, nil
}

// quoteError is a quoting problem found while splitting a record.
type quoteError struct{ msg string }

func (e *quoteError) Error() string { return ErrBadQuote.Error() + ": " + e.msg }

// Unwrap lets errors.Is find ErrBadQuote.
func (e *quoteError) Unwrap() error { return ErrBadQuote }

// parseRowAt converts the cells of one record into slot n of the columns,
// or fills bad and returns false; slot n is then simply reused.
func (p *parser) parseRowAt(fields [][]byte, times []int64, vals [][]float64, n, lastLine int, bad *rowErr) bool {
	tcell := trim(fields[p.timeIdx])
	ts, ok := p.parseTime(tcell)
	if !ok {
		*bad = rowErr{kind: ErrBadTime, field: p.timeIdx, cell: tcell}
		return false
	}
	if n > 0 && ts <= times[n-1] {
		*bad = rowErr{kind: ErrNotIncreasing, field: p.timeIdx, cell: tcell,
			detail: fmt.Sprintf("is not after line %d (%s)", lastLine, time.Unix(0, times[n-1]).UTC().Format(time.RFC3339Nano))}
		return false
	}
	c := 0
	for f, cell := range fields {
		if f == p.timeIdx {
			continue
		}
		cell = trim(cell)
		v := math.NaN()
		if len(cell) > 0 {
			var r numResult
			v, r = parseNumber(cell)
			if r != numOK {
				*bad = rowErr{kind: ErrBadNumber, field: f, cell: cell}
				if r == numOverflow {
					bad.detail = "(out of float64 range)"
				}
				return false
			}
		}
		vals[c][n] = v
		c++
	}
	times[n] = ts
	return true
}

// newError builds the reportable error for a bad row.
func (p *parser) newError(line int, re *rowErr) *ParseError {
	e := &ParseError{Line: line}
	if re.field >= 0 {
		e.Column = p.names[re.field]
	}
	switch {
	case re.kind == ErrWrongFieldCount:
		e.Err = fmt.Errorf("%w: got %d, want %d", ErrWrongFieldCount, re.got, p.nfields)
	case re.kind == ErrBadQuote:
		e.Err = re.err
	case re.detail != "":
		e.Err = fmt.Errorf("%w: %q %s", re.kind, re.cell, re.detail)
	default:
		e.Err = fmt.Errorf("%w: %q", re.kind, re.cell)
	}
	return e
}
