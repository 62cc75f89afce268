package trace

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// streamCheck parses data with a Stream that reports every chunk rows and
// holds it to ParseBytes: the same trace or the same error, the rows each
// report calls final unchanged at the end, the reports at every chunk
// rows, and the trace's columns the Stream's own (they never moved).
func streamCheck(t *testing.T, data []byte, opt Options, chunk int) {
	t.Helper()
	want, wantErr := ParseBytes(data, opt)
	st, err := NewStream(data, opt)
	if err != nil {
		if wantErr == nil || err.Error() != wantErr.Error() {
			t.Fatalf("NewStream: %v, ParseBytes: %v", err, wantErr)
		}
		return
	}
	st.p.chunk = chunk
	type snapshot struct {
		times []int64
		vals  [][]float64
	}
	var reports []snapshot
	tr, err := st.Parse(func(rows int) {
		s := snapshot{times: slices.Clone(st.Times()[:rows])}
		for _, col := range st.Values() {
			s.vals = append(s.vals, slices.Clone(col[:rows]))
		}
		reports = append(reports, s)
	})
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("Stream: %v, ParseBytes: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if len(tr.Times) != len(want.Times) || !slices.Equal(tr.Times, want.Times) || tr.SkippedCount != want.SkippedCount ||
		!slices.Equal(tr.Columns, want.Columns) || tr.TimeColumn != want.TimeColumn {
		t.Fatalf("Stream's trace %d rows (%d skipped), ParseBytes's %d (%d)", len(tr.Times), tr.SkippedCount, len(want.Times), want.SkippedCount)
	}
	for c := range tr.Values {
		if !sameFloats(tr.Values[c], want.Values[c]) {
			t.Fatalf("column %d differs from ParseBytes's", c)
		}
	}
	if len(reports) != len(tr.Times)/chunk {
		t.Fatalf("%d reports for %d rows at every %d", len(reports), len(tr.Times), chunk)
	}
	for k, r := range reports {
		if len(r.times) != (k+1)*chunk {
			t.Fatalf("report %d said %d rows, want %d", k, len(r.times), (k+1)*chunk)
		}
		if !slices.Equal(r.times, tr.Times[:len(r.times)]) {
			t.Fatalf("report %d: times changed after they were reported final", k)
		}
		for c := range r.vals {
			if !sameFloats(r.vals[c], tr.Values[c][:len(r.times)]) {
				t.Fatalf("report %d: column %d changed after it was reported final", k, c)
			}
		}
	}
	if len(st.Times()) < len(tr.Times) || &st.Times()[0] != &tr.Times[0] {
		t.Fatalf("the trace's times are not the Stream's (room %d, %d rows)", len(st.Times()), len(tr.Times))
	}
	for c := range tr.Values {
		if len(st.Values()[c]) != len(st.Times()) || &st.Values()[c][0] != &tr.Values[c][0] {
			t.Fatalf("column %d is not the Stream's", c)
		}
	}
}

// TestStreamReportsFinalRows: a Stream's reader may read the rows Parse
// has reported, because nothing writes them again: not a bad row parsed
// into the next slot and skipped, not a repeated time, not a quoted
// multi-line record or a blank line; the trace and errors are ParseBytes's.
func TestStreamReportsFinalRows(t *testing.T) {
	var long strings.Builder
	long.WriteString("ts,a,b\n")
	for i := range 3000 {
		switch {
		case i%97 == 5:
			fmt.Fprintf(&long, "%d,x,1\n", i) // a bad number after a good time: parsed into the next slot, then skipped
		case i%101 == 7:
			fmt.Fprintf(&long, "%d,1,2\n", i-1) // not after the row before
		case i%89 == 3:
			fmt.Fprintf(&long, "\n\"%d\",\"1\",\"2\"\n", i) // a blank line, then a quoted record
		default:
			fmt.Fprintf(&long, "%d,%d.5,\n", i, i)
		}
	}
	for _, c := range []struct {
		name  string
		data  string
		opt   Options
		chunk int
	}{
		{"every row", "ts,v\n1,1\n2,2\n3,\n4,4\n", Options{}, 1},
		{"chunks of 3", "ts,v\n1,1\n2,2\n3,\n4,4\n5,5\n6,6\n7,7\n", Options{}, 3},
		{"skipped rows", long.String(), Options{SkipBadRows: true}, 64},
		{"skipped rows, every row", long.String(), Options{SkipBadRows: true}, 1},
		{"the default chunk", long.String(), Options{SkipBadRows: true}, StreamChunk},
		{"an error after reports", long.String(), Options{}, 2},
		{"quoted multi-line cells", "ts,v\n1,\"1\"\n\"2\",\"2\n\"\n3,3\n", Options{SkipBadRows: true}, 1},
		{"no rows", "ts,v\n\n\n", Options{}, 1},
		{"bad header", "ts,ts\n1,2\n", Options{}, 1},
	} {
		t.Run(c.name, func(t *testing.T) { streamCheck(t, []byte(c.data), c.opt, c.chunk) })
	}
}

// TestStreamRoom: the columns have room for every row the data can hold
// (one per newline and one more), so they never move while rows are
// parsed into them, and no more than that.
func TestStreamRoom(t *testing.T) {
	for _, c := range []struct {
		data string
		room int
	}{
		{"ts,v\n1,1\n2,2\n", 3},
		{"ts,v\n1,1\n2,2", 2},
		{"\n\nts,v\n1,1\n\n\n2,2\n", 5},
		{"ts,v\r\n1,1\r\n", 2},
	} {
		st, err := NewStream([]byte(c.data), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Times()) != c.room || len(st.Values()[0]) != c.room {
			t.Errorf("%q: room %d and %d, want %d", c.data, len(st.Times()), len(st.Values()[0]), c.room)
		}
		if _, err := st.Parse(nil); err != nil {
			t.Fatal(err)
		}
	}
	// A file with more rows than maxRows gets room for one more (the row
	// that fails the parse is parsed into its slot first), not for every line.
	withLimits(t, 1<<20, 3)
	st, err := NewStream([]byte("ts,v\n1,1\n2,2\n3,3\n4,4\n5,5\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Times()) != 4 {
		t.Fatalf("room %d at maxRows 3, want 4", len(st.Times()))
	}
	if _, err := st.Parse(func(int) {}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
