package trace

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var nan = math.NaN()

// utc is a test shorthand: a naive "YYYY-MM-DD HH:MM:SS" read as UTC, in ns.
func utc(s string) int64 {
	t, err := time.Parse(layoutNaive, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func sec(f float64) int64 { return int64(math.Round(f * 1e9)) }

type want struct {
	timeCol string
	cols    []string
	times   []int64
	vals    [][]float64
}

func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y))
	})
}

func checkTrace(t *testing.T, tr *Trace, w want) {
	t.Helper()
	if w.timeCol != "" && tr.TimeColumn != w.timeCol {
		t.Errorf("TimeColumn = %q, want %q", tr.TimeColumn, w.timeCol)
	}
	if !slices.Equal(tr.Columns, w.cols) {
		t.Errorf("Columns = %q, want %q", tr.Columns, w.cols)
	}
	if !slices.Equal(tr.Times, w.times) {
		t.Errorf("Times = %v, want %v", tr.Times, w.times)
	}
	if len(tr.Values) != len(w.vals) {
		t.Fatalf("len(Values) = %d, want %d", len(tr.Values), len(w.vals))
	}
	for c := range w.vals {
		if !sameFloats(tr.Values[c], w.vals[c]) {
			t.Errorf("Values[%d] = %v, want %v", c, tr.Values[c], w.vals[c])
		}
	}
}

func TestParseValid(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	tests := []struct {
		name string
		in   string
		opt  Options
		want want
	}{
		{
			name: "naive",
			in:   "timestamp,value\n2014-05-14 01:14:00,85.835\n2014-05-14 01:19:00,88.167\n",
			want: want{"timestamp", []string{"value"},
				[]int64{utc("2014-05-14 01:14:00"), utc("2014-05-14 01:19:00")},
				[][]float64{{85.835, 88.167}}},
		},
		{
			name: "epoch without trailing newline",
			in:   "ts,value\n1628640000,39.722330\n1628640060,40",
			want: want{"ts", []string{"value"}, []int64{1628640000e9, 1628640060e9}, [][]float64{{39.72233, 40}}},
		},
		{
			name: "epoch with fractions",
			in:   "time,v\n1.5,1\n2.25,2\n2.250000001,3\n",
			want: want{"time", []string{"v"}, []int64{1.5e9, 2.25e9, 2250000001}, [][]float64{{1, 2, 3}}},
		},
		{
			name: "epoch milliseconds, microseconds and nanoseconds",
			in:   "ts,v\n1628640000000,1\n1628640060000.5,2\n1628640120000001,3\n1628640180000000002,4\n",
			want: want{"ts", []string{"v"},
				[]int64{1628640000e9, 1628640060000500000, 1628640120000001000, 1628640180000000002},
				[][]float64{{1, 2, 3, 4}}},
		},
		{
			name: "ISO 8601 local times and times to the minute, in the Location",
			in:   "time,v\n2014-05-14T01:14:00,1\n2014-05-14 01:15,2\n2014-05-14T01:16,3\n2014-05-14T01:16:30.25,4\n",
			opt:  Options{Location: plus2},
			want: want{"time", []string{"v"}, []int64{
				time.Date(2014, 5, 14, 1, 14, 0, 0, plus2).UnixNano(),
				time.Date(2014, 5, 14, 1, 15, 0, 0, plus2).UnixNano(),
				time.Date(2014, 5, 14, 1, 16, 0, 0, plus2).UnixNano(),
				time.Date(2014, 5, 14, 1, 16, 30, 25e7, plus2).UnixNano(),
			}, [][]float64{{1, 2, 3, 4}}},
		},
		{
			name: "RFC 3339 with offsets and fractions",
			in: "timestamp,v\n" +
				"2014-05-14T01:00:00+02:00,1\n" + // 23:00Z the day before
				"2014-05-13T23:30:00Z,2\n" +
				"2014-05-13T19:45:00.5-04:00,3\n", // 23:45:00.5Z
			want: want{"", []string{"v"}, []int64{
				time.Date(2014, 5, 14, 1, 0, 0, 0, plus2).UnixNano(),
				utc("2014-05-13 23:30:00"),
				utc("2014-05-13 23:45:00") + 5e8,
			}, [][]float64{{1, 2, 3}}},
		},
		{
			name: "forms detected per cell",
			in:   "ts,v\n1400000000,1\n2014-05-14 00:00:00,2\n2014-05-14T00:00:01Z,3\n1400025602.5,4\n",
			want: want{"", []string{"v"}, []int64{1400000000e9, 1400025600e9, 1400025601e9, 1400025602.5e9}, [][]float64{{1, 2, 3, 4}}},
		},
		{
			name: "non-UTC location shifts naive times only",
			in:   "timestamp,v\n2014-07-01 00:00:00,1\n2014-07-01T05:00:00Z,2\n1404198000,3\n",
			opt:  Options{Location: time.FixedZone("EDT", -4*3600)},
			want: want{"", []string{"v"}, []int64{utc("2014-07-01 04:00:00"), utc("2014-07-01 05:00:00"), 1404198000e9}, [][]float64{{1, 2, 3}}},
		},
		{
			name: "BOM, CRLF, blank lines and padding",
			in:   "\xef\xbb\xbf\r\n ts , value \r\n\r\n  1 ,  2.5\t\r\n \t \r\n2,3\r\n\r\n",
			want: want{"ts", []string{"value"}, []int64{1e9, 2e9}, [][]float64{{2.5, 3}}},
		},
		{
			name: "time column anywhere, several value columns, case-insensitive",
			in:   "cpu, TIME ,mem\n1,0,2\n3,60,4\n",
			want: want{"TIME", []string{"cpu", "mem"}, []int64{0, 60e9}, [][]float64{{1, 3}, {2, 4}}},
		},
		{
			name: "empty cells are missing samples",
			in:   "ts,a,b\n1,,2\n2, ,\n3,1,1\n",
			want: want{"", []string{"a", "b"}, []int64{1e9, 2e9, 3e9}, [][]float64{{nan, nan, 1}, {2, nan, 1}}},
		},
		{
			name: "exponents, signs and long mantissas",
			in:   "ts,v\n1,1e3\n2,-2.5E-2\n3,+.5\n4,12.129000000000001\n5,-0\n",
			want: want{"", []string{"v"}, []int64{1e9, 2e9, 3e9, 4e9, 5e9}, [][]float64{{1000, -0.025, 0.5, 12.129000000000001, math.Copysign(0, -1)}}},
		},
		{
			name: "quoted fields",
			in:   "\"ts\",\"a,b\",\"say \"\"hi\"\"\"\n\"1\", \"2.5\" ,3\n2,\"\",\"4\"\r\n",
			want: want{"ts", []string{"a,b", `say "hi"`}, []int64{1e9, 2e9}, [][]float64{{2.5, nan}, {3, 4}}},
		},
		{
			name: "quoted header name spanning lines",
			in:   "ts,\"multi\nline\"\n1,2\n",
			want: want{"", []string{"multi\nline"}, []int64{1e9}, [][]float64{{2}}},
		},
		{
			name: "final CR without newline",
			in:   "ts,v\n1,2\r",
			want: want{"", []string{"v"}, []int64{1e9}, [][]float64{{2}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseBytes([]byte(tt.in), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkTrace(t, tr, tt.want)
			if tr.SkippedCount != 0 || len(tr.Skipped) != 0 {
				t.Errorf("skipped %d rows in a valid file", tr.SkippedCount)
			}
			// Parse over a reader must give the same result.
			tr2, err := Parse(iotest.HalfReader(strings.NewReader(tt.in)), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			checkTrace(t, tr2, tt.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		is   []error
		msg  string
	}{
		{"empty", "", []error{ErrNoHeader}, "no header line"},
		{"only blank lines", "\n \r\n\t\n", []error{ErrNoHeader}, "no header line"},
		{"only a BOM", "\xef\xbb\xbf", []error{ErrNoHeader}, "no header line"},
		{"no time column", "value,other\n1,2\n", []error{ErrNoTimeColumn},
			"line 1: no time column (want one named timestamp, time or ts)"},
		{"no value columns", "ts\n1\n", []error{ErrNoValueColumns}, "line 1: no value columns"},
		{"repeated name", "ts,a,a\n1,2,3\n", []error{ErrBadHeader}, `line 1: bad header: column name "a" repeated`},
		{"repeated name after trimming", "ts,a, a \n1,2,3\n", []error{ErrBadHeader}, `line 1: bad header: column name "a" repeated`},
		{"empty name", "ts,,a\n1,2,3\n", []error{ErrBadHeader}, "line 1: bad header: column 2 has an empty name"},
		{"two time columns", "ts,Time,a\n", []error{ErrBadHeader}, `line 1: bad header: two time columns, "ts" and "Time"`},
		{"header after blank lines", "\n\nts,a,a\n", []error{ErrBadHeader}, `line 3: bad header: column name "a" repeated`},
		{"header bad quote", "ts,\"a\n", []error{ErrBadHeader, ErrBadQuote}, "line 1: bad header: bad quoting: unterminated quoted field"},
		{"header only", "ts,a\n", []error{ErrNoRows}, "line 1: no data rows after the header"},
		{"header and blank lines", "ts,a\n\n \n", []error{ErrNoRows}, "line 1: no data rows after the header"},
		{"bad number", "ts,value\n1,2\n2,abc\n", []error{ErrBadNumber}, `line 3: column "value": not a number: "abc"`},
		{"NaN text", "ts,value\n1,NaN\n", []error{ErrBadNumber}, `line 2: column "value": not a number: "NaN"`},
		{"Inf text", "ts,value\n1,-Inf\n", []error{ErrBadNumber}, `line 2: column "value": not a number: "-Inf"`},
		{"overflow", "ts,value\n1,1e400\n", []error{ErrBadNumber}, `line 2: column "value": not a number: "1e400" (out of float64 range)`},
		{"second value column", "ts,a,b\n1,2,x\n", []error{ErrBadNumber}, `line 2: column "b": not a number: "x"`},
		{"bad time", "timestamp,v\n2014-13-01 00:00:00,1\n", []error{ErrBadTime}, `line 2: column "timestamp": bad time (want YYYY-MM-DD HH:MM[:SS] with an optional T, fraction and zone, or Unix epoch seconds, ms, µs or ns): "2014-13-01 00:00:00"`},
		{"empty time", "ts,v\n,1\n", []error{ErrBadTime}, `line 2: column "ts": ` + ErrBadTime.Error() + `: ""`},
		{"a date alone", "ts,v\n2014-05-14,1\n", []error{ErrBadTime}, `line 2: column "ts": ` + ErrBadTime.Error() + `: "2014-05-14"`},
		{"seconds past 2262", "ts,v\n99999999999,1\n", []error{ErrBadTime}, `line 2: column "ts": ` + ErrBadTime.Error() + `: "99999999999"`},
		{"repeated time", "ts,v\n1,1\n2,2\n2,3\n", []error{ErrNotIncreasing},
			`line 4: column "ts": time not increasing: "2" is not after line 3 (1970-01-01T00:00:02Z)`},
		{"earlier time", "ts,v\n1,1\n5,2\n3,3\n", []error{ErrNotIncreasing},
			`line 4: column "ts": time not increasing: "3" is not after line 3 (1970-01-01T00:00:05Z)`},
		{"same instant in two forms", "ts,v\n2014-05-14T01:00:00+02:00,1\n2014-05-13 23:00:00,2\n", []error{ErrNotIncreasing},
			`line 3: column "ts": time not increasing: "2014-05-13 23:00:00" is not after line 2 (2014-05-13T23:00:00Z)`},
		{"blank lines count", "ts,v\n\n1,1\n\n1,2\n", []error{ErrNotIncreasing},
			`line 5: column "ts": time not increasing: "1" is not after line 3 (1970-01-01T00:00:01Z)`},
		{"too many fields", "ts,v\n1,1\n2,2,\n", []error{ErrWrongFieldCount}, "line 3: wrong number of fields: got 3, want 2"},
		{"too few fields", "ts,a,b\r\n1,1,1\r\n2,2\r\n", []error{ErrWrongFieldCount}, "line 3: wrong number of fields: got 2, want 3"},
		{"single cell", "ts,v\n7\n", []error{ErrWrongFieldCount}, "line 2: wrong number of fields: got 1, want 2"},
		{"bare quote", "ts,v\n1,2\"\n", []error{ErrBadQuote}, "line 2: bad quoting: quote inside an unquoted field"},
		{"text after quote", "ts,v\n1,\"2\"x\n", []error{ErrBadQuote}, "line 2: bad quoting: unexpected character after a quoted field"},
		{"unterminated quote", "ts,v\n1,2\n2,\"3\n3,4\n", []error{ErrBadQuote}, "line 3: bad quoting: unterminated quoted field"},
		{"quoted newline in a value", "ts,v\n1,\"1\n2\"\n3,3\n", []error{ErrBadNumber}, `line 2: column "v": not a number: "1\n2"`},
		{"line after a multi-line record", "ts,v\n\"1\",\"2\"\n2,\"\n3\"\n3,x\n", []error{ErrBadNumber}, `line 3: column "v": not a number: "\n3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ParseBytes([]byte(tt.in), Options{})
			if err == nil {
				t.Fatalf("no error; got %+v", tr)
			}
			if tr != nil {
				t.Errorf("non-nil trace with error")
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %q", err, target)
				}
			}
			if err.Error() != tt.msg {
				t.Errorf("error\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}

func TestParseErrorLineField(t *testing.T) {
	_, err := ParseBytes([]byte("ts,value\n1,2\n2,abc\n"), Options{})
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *ParseError", err)
	}
	if pe.Line != 3 || pe.Column != "value" || !errors.Is(pe.Err, ErrBadNumber) {
		t.Errorf("ParseError = %+v", pe)
	}
}

func TestSkipBadRows(t *testing.T) {
	in := "ts,v\n" +
		"1,1\n" + // 2 ok
		"2,x\n" + // 3 bad number
		"1,2\n" + // 4 not increasing (1 <= 1)
		"3,1,1\n" + // 5 field count
		"\n" + // 6 blank: not a row
		"4,\"5\n" + // 7 unterminated quote: resynchronise on line 8
		"5,5\n" + // 8 ok
		"bad,6\n" + // 9 bad time
		"6,\"6\n6\"\n" + // 10-11 bad number over two lines
		"7,7" // 12 ok
	tr, err := ParseBytes([]byte(in), Options{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	checkTrace(t, tr, want{"ts", []string{"v"}, []int64{1e9, 5e9, 7e9}, [][]float64{{1, 5, 7}}})
	wantSkips := []struct {
		line int
		err  error
	}{{3, ErrBadNumber}, {4, ErrNotIncreasing}, {5, ErrWrongFieldCount}, {7, ErrBadQuote}, {9, ErrBadTime}, {10, ErrBadNumber}}
	if tr.SkippedCount != len(wantSkips) || len(tr.Skipped) != len(wantSkips) {
		t.Fatalf("skipped %d (%d listed), want %d: %+v", tr.SkippedCount, len(tr.Skipped), len(wantSkips), tr.Skipped)
	}
	for i, w := range wantSkips {
		s := tr.Skipped[i]
		if s.Line != w.line || s.Err.Line != w.line || !errors.Is(s.Err, w.err) {
			t.Errorf("Skipped[%d] = line %d: %v; want line %d: %v", i, s.Line, s.Err, w.line, w.err)
		}
	}
	// Header problems are not rows: never skipped.
	if _, err := ParseBytes([]byte("ts,a,a\n1,2,3\n"), Options{SkipBadRows: true}); !errors.Is(err, ErrBadHeader) {
		t.Errorf("header error with SkipBadRows: %v", err)
	}
}

func TestSkipBadRowsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("ts,v\n")
	for i := range 150 {
		fmt.Fprintf(&b, "%d,bad\n", i)
	}
	b.WriteString("1000,1\n")
	tr, err := ParseBytes([]byte(b.String()), Options{SkipBadRows: true})
	if err != nil {
		t.Fatal(err)
	}
	if tr.SkippedCount != 150 || len(tr.Skipped) != 100 || tr.Skipped[99].Line != 101 || len(tr.Times) != 1 {
		t.Errorf("SkippedCount=%d len(Skipped)=%d last listed line=%d rows=%d",
			tr.SkippedCount, len(tr.Skipped), tr.Skipped[len(tr.Skipped)-1].Line, len(tr.Times))
	}
}

func TestSkipBadRowsAllBad(t *testing.T) {
	_, err := ParseBytes([]byte("ts,v\n1,x\n2,y\n"), Options{SkipBadRows: true})
	if !errors.Is(err, ErrNoRows) || !errors.Is(err, ErrBadNumber) {
		t.Fatalf("error %v, want ErrNoRows wrapping the first row error", err)
	}
	want := `line 1: no data rows: all 2 rows are bad; first: line 2: column "v": not a number: "x"`
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
}

func withLimits(t *testing.T, bytes int64, rows int) {
	oldB, oldR := maxBytes, maxRows
	maxBytes, maxRows = bytes, rows
	t.Cleanup(func() { maxBytes, maxRows = oldB, oldR })
}

func TestTooLarge(t *testing.T) {
	in := "ts,v\n1,1\n2,2\n3,3\n" // 3 rows
	n := int64(len(in))
	withLimits(t, n-1, 100)
	if _, err := ParseBytes([]byte(in), Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseBytes over the byte limit: %v", err)
	}
	if _, err := Parse(strings.NewReader(in), Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse (sized reader) over the byte limit: %v", err)
	}
	if _, err := Parse(iotest.OneByteReader(strings.NewReader(in)), Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse (unsized reader) over the byte limit: %v", err)
	}
	withLimits(t, n, 100)
	if _, err := Parse(iotest.OneByteReader(strings.NewReader(in)), Options{}); err != nil {
		t.Errorf("Parse at exactly the byte limit: %v", err)
	}
	withLimits(t, 100, 2)
	_, err := ParseBytes([]byte(in), Options{SkipBadRows: true})
	var pe *ParseError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Line != 4 {
		t.Errorf("over the row limit: %v", err)
	}
	withLimits(t, 100, 3)
	if _, err := ParseBytes([]byte(in+"\n\n"), Options{}); err != nil {
		t.Errorf("at the row limit (blank lines are not rows): %v", err)
	}
}

func TestParseReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(io.MultiReader(strings.NewReader("ts,v\n1,1\n"), iotest.ErrReader(boom)), Options{})
	if !errors.Is(err, boom) {
		t.Errorf("reader error lost: %v", err)
	}
}

func TestTraceDoesNotAliasInput(t *testing.T) {
	data := []byte("ts,value\n1,2\n")
	tr, err := ParseBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if tr.Columns[0] != "value" || tr.TimeColumn != "ts" {
		t.Errorf("trace changed with its input: %q %q", tr.TimeColumn, tr.Columns)
	}
}

func TestColumn(t *testing.T) {
	tr, err := ParseBytes([]byte("cpu,ts,mem\n1,2,3\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		i    int
		ok   bool
	}{{"cpu", 0, true}, {"mem", 1, true}, {"ts", -1, false}, {"CPU", -1, false}, {"", -1, false}} {
		if i, ok := tr.Column(tt.name); i != tt.i || ok != tt.ok {
			t.Errorf("Column(%q) = %d, %v; want %d, %v", tt.name, i, ok, tt.i, tt.ok)
		}
	}
}

func TestStep(t *testing.T) {
	mk := func(ds ...int64) *Trace {
		tr := &Trace{Times: []int64{0}}
		for _, d := range ds {
			tr.Times = append(tr.Times, tr.Times[len(tr.Times)-1]+d)
		}
		return tr
	}
	tests := []struct {
		name string
		tr   *Trace
		want time.Duration
	}{
		{"empty", &Trace{}, 0},
		{"one sample", mk(), 0},
		{"two samples", mk(300), 300},
		{"regular with gaps", mk(300, 300, 600, 300, 300, 900, 300), 300},
		{"even count takes the middle mean", mk(100, 200, 300, 400), 250},
		{"even count, equal middles", mk(1, 5, 5, 9), 5},
	}
	for _, tt := range tests {
		if got := tt.tr.Step(); got != tt.want {
			t.Errorf("%s: Step() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStepIrregular checks the quickselect path (more distinct spacings than
// the histogram holds) against sorting.
func TestStepIrregular(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 2; n < 300; n++ {
		for _, spread := range []int64{3, 40, 1e6} {
			tr := &Trace{Times: []int64{0}}
			for range n - 1 {
				tr.Times = append(tr.Times, tr.Times[len(tr.Times)-1]+1+r.Int64N(spread))
			}
			d := make([]int64, 0, n-1)
			for i := 1; i < n; i++ {
				d = append(d, tr.Times[i]-tr.Times[i-1])
			}
			slices.Sort(d)
			m := len(d)
			want := time.Duration(d[(m-1)/2] + (d[m/2]-d[(m-1)/2])/2)
			if got := tr.Step(); got != want {
				t.Fatalf("n=%d spread=%d: Step() = %v, want %v", n, spread, got, want)
			}
			if got := medianBySelect(tr.Times); got != want {
				t.Fatalf("n=%d spread=%d: medianBySelect = %v, want %v", n, spread, got, want)
			}
		}
	}
}

// TestNaiveDSTRepeatedHour documents the consequence of reading naive times
// in a zone with daylight saving: the repeated fall-back hour cannot be
// ordered from the wall clock, so it is refused rather than silently
// collapsed; the skipped spring-forward hour is simply absent.
func TestNaiveDSTRepeatedHour(t *testing.T) {
	ny := Options{Location: mustLoad(t, "America/New_York")}
	spring := "timestamp,v\n2014-03-09 01:30:00,1\n2014-03-09 03:00:00,2\n"
	tr, err := ParseBytes([]byte(spring), ny)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(tr.Times[1] - tr.Times[0]); d != 30*time.Minute {
		t.Errorf("across spring-forward: %v apart, want 30m", d)
	}
	fall := "timestamp,v\n2014-11-02 01:00:00,1\n2014-11-02 01:30:00,2\n2014-11-02 01:00:00,3\n"
	_, err = ParseBytes([]byte(fall), ny)
	var pe *ParseError
	if !errors.Is(err, ErrNotIncreasing) || !errors.As(err, &pe) || pe.Line != 4 {
		t.Errorf("repeated fall-back hour: %v", err)
	}
}
