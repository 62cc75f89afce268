package trace

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refParse is a deliberately naive reference parser for unquoted input, built
// from strings.Split, time.Parse and strconv. It states the format rules a
// second time, independently of the byte-level scanner, so that the fuzzer
// can compare the two. It returns the trace and, on failure, the sentinel
// and line the real parser must report.
func refParse(in string, opt Options) (tr *Trace, sentinel error, line int) {
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	trimCell := func(s string) string { return strings.Trim(s, " \t") }
	lines := strings.Split(strings.TrimPrefix(in, "\xef\xbb\xbf"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	i := 0
	for i < len(lines) && trimCell(lines[i]) == "" {
		i++
	}
	if i == len(lines) {
		return nil, ErrNoHeader, 0
	}
	headerLine := i + 1
	names := strings.Split(lines[i], ",")
	timeIdx := -1
	seen := map[string]bool{}
	tr = &Trace{}
	for f, n := range names {
		n = trimCell(n)
		names[f] = n
		switch {
		case n == "":
			return nil, ErrBadHeader, headerLine
		case isTimeColumn(n):
			if timeIdx >= 0 {
				return nil, ErrBadHeader, headerLine
			}
			timeIdx = f
		case seen[n]:
			return nil, ErrBadHeader, headerLine
		default:
			seen[n] = true
			tr.Columns = append(tr.Columns, n)
		}
	}
	if timeIdx < 0 {
		return nil, ErrNoTimeColumn, headerLine
	}
	if len(names) < 2 {
		return nil, ErrNoValueColumns, headerLine
	}
	tr.TimeColumn = names[timeIdx]
	tr.Values = make([][]float64, len(tr.Columns))
	bad := func(err error, ln int) bool {
		if !opt.SkipBadRows {
			sentinel, line = err, ln
			return true
		}
		tr.SkippedCount++
		return false
	}
rows:
	for i++; i < len(lines); i++ {
		ln := i + 1
		if trimCell(lines[i]) == "" {
			continue
		}
		cells := strings.Split(lines[i], ",")
		if len(cells) != len(names) {
			if bad(ErrWrongFieldCount, ln) {
				return nil, sentinel, line
			}
			continue
		}
		ts, ok := refTime(trimCell(cells[timeIdx]), loc)
		if !ok {
			if bad(ErrBadTime, ln) {
				return nil, sentinel, line
			}
			continue
		}
		if n := len(tr.Times); n > 0 && ts <= tr.Times[n-1] {
			if bad(ErrNotIncreasing, ln) {
				return nil, sentinel, line
			}
			continue
		}
		var row []float64
		for f, c := range cells {
			if f == timeIdx {
				continue
			}
			c = trimCell(c)
			if c == "" {
				row = append(row, math.NaN())
				continue
			}
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsInf(v, 0) || strings.Trim(c, "0123456789+-.eE") != "" {
				if bad(ErrBadNumber, ln) {
					return nil, sentinel, line
				}
				continue rows
			}
			row = append(row, v)
		}
		tr.Times = append(tr.Times, ts)
		for c, v := range row {
			tr.Values[c] = append(tr.Values[c], v)
		}
	}
	if len(tr.Times) == 0 {
		return nil, ErrNoRows, headerLine
	}
	return tr, nil, 0
}

var epochRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// refTime reads a time cell with the standard library only.
func refTime(s string, loc *time.Location) (int64, bool) {
	if epochRE.MatchString(s) {
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		ip, fp, _ := strings.Cut(s, ".")
		sec, err := strconv.ParseInt(ip, 10, 64)
		if err != nil {
			return 0, false
		}
		// A whole part of 1e11 or more is milliseconds, of 1e14 or more
		// microseconds, of 1e17 or more nanoseconds: move the decimal
		// point 3, 6 or 9 digits to the left and read seconds again.
		if shift := 3 * (btoi(sec >= 1e11) + btoi(sec >= 1e14) + btoi(sec >= 1e17)); shift > 0 {
			ip, fp = ip[:len(ip)-shift], ip[len(ip)-shift:]+fp
			if sec, err = strconv.ParseInt(ip, 10, 64); err != nil {
				return 0, false
			}
		}
		fp = (fp + "000000000")[:9]
		ns, _ := strconv.ParseInt(fp, 10, 64)
		if neg {
			// -(sec + ns/1e9) as seconds and a non-negative fraction.
			sec = -sec
			if ns > 0 {
				sec--
				ns = 1e9 - ns
			}
		}
		return unixNano(sec, ns)
	}
	if len(s) < 10 || s[4] != '-' {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02 15:04:05Z07:00", s)
	}
	// Without a zone: ISO 8601's local time, to the second or the minute.
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if err != nil {
			t, err = time.ParseInLocation(layout, s, loc)
		}
	}
	if err != nil {
		return 0, false
	}
	return unixNano(t.Unix(), int64(t.Nanosecond()))
}

// btoi is 1 for true, 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkInvariants holds for every successful parse, whatever the input.
func checkInvariants(t *testing.T, tr *Trace) {
	t.Helper()
	if len(tr.Times) == 0 {
		t.Fatal("success with no rows")
	}
	for i := 1; i < len(tr.Times); i++ {
		if tr.Times[i] <= tr.Times[i-1] {
			t.Fatalf("Times not strictly increasing at %d: %d then %d", i, tr.Times[i-1], tr.Times[i])
		}
	}
	if len(tr.Columns) == 0 || len(tr.Values) != len(tr.Columns) {
		t.Fatalf("%d columns, %d value slices", len(tr.Columns), len(tr.Values))
	}
	for c, v := range tr.Values {
		if len(v) != len(tr.Times) {
			t.Fatalf("column %d has %d values for %d times", c, len(v), len(tr.Times))
		}
		for _, x := range v {
			if math.IsInf(x, 0) {
				t.Fatalf("column %d holds %v", c, x)
			}
		}
	}
	if len(tr.Skipped) > maxSkipped || tr.SkippedCount < len(tr.Skipped) {
		t.Fatalf("Skipped %d listed, %d counted", len(tr.Skipped), tr.SkippedCount)
	}
	for _, s := range tr.Skipped {
		if s.Err == nil || s.Line != s.Err.Line || s.Line < 1 {
			t.Fatalf("bad SkippedRow %+v", s)
		}
	}
	_ = tr.Step()
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"timestamp,value\n2014-05-14 01:14:00,85.835\n2014-05-14 01:19:00,88.167\n",
		"ts,value\n1628640000,39.722330\n1628640060,40",
		"time,a,b\n1.5,1,\n2.25,,2e3\n",
		"\xef\xbb\xbfts,v\r\n1,1\r\n\r\n2,2\r\n",
		"ts,v\n2014-05-14T01:00:00+02:00,1\n2014-05-13T23:30:00Z,2\n",
		"\"ts\",\"a,b\"\n\"1\",\"2\"\n2,\"x\ny\"\n",
		"ts,v\n1,1\n1,2\n",
		"ts,v\n1,NaN\n2,1e400\n3,x\n4,5,6\n",
		"cpu,TS,mem\n1,0,2\n",
		"ts,ts\n",
		"ts,v\n9223372036.854775807,1\n",
		"ts,v\n2014-05-14T1:00:00Z,1\n2014-05-14T02:00:00,5\n",
		"ts,v\n1628640000000,1\n1628640060000.5,2\n1628640120000123,3\n1628640180000000000,4\n",
		"ts,v\n2014-05-14 01:14,1\n2014-05-14T01:15,2\n2014-05-14T01:16:00,3\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, skip, zoned bool) {
		opt := Options{SkipBadRows: skip}
		if zoned {
			opt.Location = ny
		}
		tr, err := ParseBytes(data, opt)
		// A Stream reporting every row, and every third: the trace and
		// errors are ParseBytes's, and no row changes once reported.
		streamCheck(t, data, opt, 1)
		streamCheck(t, data, opt, 3)
		if err == nil {
			checkInvariants(t, tr)
		} else {
			if tr != nil {
				t.Fatal("trace and error both returned")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
		}
		if strings.ContainsRune(string(data), '"') {
			return // the reference does not do quoting
		}
		ref, sentinel, line := refParse(string(data), opt)
		if sentinel != nil {
			var pe *ParseError
			if !errors.Is(err, sentinel) {
				t.Fatalf("error %v, reference says %v at line %d", err, sentinel, line)
			}
			if line > 0 && (!errors.As(err, &pe) || pe.Line != line) {
				t.Fatalf("error %v, reference says line %d", err, line)
			}
			return
		}
		if err != nil {
			t.Fatalf("error %v, reference parses %d rows", err, len(ref.Times))
		}
		if tr.TimeColumn != ref.TimeColumn || strings.Join(tr.Columns, "\x00") != strings.Join(ref.Columns, "\x00") {
			t.Fatalf("columns %q %q, reference %q %q", tr.TimeColumn, tr.Columns, ref.TimeColumn, ref.Columns)
		}
		if len(tr.Times) != len(ref.Times) || tr.SkippedCount != ref.SkippedCount {
			t.Fatalf("%d rows (%d skipped), reference %d (%d skipped)", len(tr.Times), tr.SkippedCount, len(ref.Times), ref.SkippedCount)
		}
		for i := range tr.Times {
			if tr.Times[i] != ref.Times[i] {
				t.Fatalf("row %d: time %d, reference %d", i, tr.Times[i], ref.Times[i])
			}
		}
		for c := range tr.Values {
			if !sameFloats(tr.Values[c], ref.Values[c]) {
				t.Fatalf("column %d: %v, reference %v", c, tr.Values[c], ref.Values[c])
			}
		}
	})
}
