package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// bufSize is large enough that a row never straddles a flush in practice and
// that writes to slow sinks (files, pipes) are batched.
const bufSize = 64 << 10

// WriteTimelineCSV writes one CSV row per sample:
//
//	time,<metric...>,[forecast_<metric>...,weekly_<metric>...,season_scale_<metric>...],needed,desired,ready,reason
//
// Times are RFC 3339 UTC; values use the shortest 'g' formatting that
// round-trips, with an empty cell for a missing (NaN) value; the forecast,
// weekly and season_scale columns appear only when the run forecast
// (simulate.Result's Forecast, Weekly and SeasonScale). weekly_<metric> is
// what the weekly adjustment added to the forecast (simulate.Result.Weekly),
// empty where it did not act; season_scale_<metric> the factor a season
// that scales with the level multiplied the forecast's seasonal shape by
// (simulate.Result.SeasonScale), empty for an additive season or none.
// reason is the action, its sizes
// ("scale-out 4->7"), and the flags forecast, bound:<limit> and stale.
//
// The writer sits in a pipeline that moves millions of samples per second,
// so rows are appended straight into one reused buffer (floats by
// appendShortest and appendG6, integers by strconv) rather than through fmt
// or encoding/csv.
func WriteTimelineCSV(w io.Writer, p policy.Policy, r *simulate.Result) error {
	t, err := NewTimelineCSV(w, p, r)
	if err != nil {
		return err
	}
	if err := t.WriteRows(len(r.Times)); err != nil {
		return err
	}
	return t.Flush()
}

// TimelineCSV writes a run's timeline CSV (see WriteTimelineCSV) a stretch
// of rows at a time, so that it can follow a replay that is still running
// (simulate.Config.Rows) instead of waiting for the whole run.
//
// It keeps its own buffer rather than a bufio.Writer: rows are appended to
// it in place and it goes to w whole when nearly full, so a row is never
// copied (bufio's Write copies even its own free space onto itself) and
// the writes are csvBufSize large.
type TimelineCSV struct {
	w    io.Writer
	buf  []byte
	err  error // the first write error: nothing is written after it
	r    *simulate.Result
	ta   timeAppender
	next int // the first row not written yet
}

// csvBufSize is TimelineCSV's buffer: a few large writes to a file or a
// pipe instead of many small ones.
const csvBufSize = 256 << 10

// NewTimelineCSV checks r's shape against p and writes the header. r's
// slices must have their final length (a running replay allocates them
// before its first sample).
func NewTimelineCSV(w io.Writer, p policy.Policy, r *simulate.Result) (*TimelineCSV, error) {
	if _, err := checkShape(p, r); err != nil {
		return nil, err
	}
	b := make([]byte, 0, csvBufSize)
	b = append(b, "time"...)
	for _, m := range p.Metrics {
		b = append(b, ',')
		b = appendCSVField(b, m.Name)
	}
	if r.Forecast != nil {
		for _, m := range p.Metrics {
			b = append(b, ',')
			b = appendCSVField(b, "forecast_"+m.Name)
		}
	}
	if r.Weekly != nil {
		for _, m := range p.Metrics {
			b = append(b, ',')
			b = appendCSVField(b, "weekly_"+m.Name)
		}
	}
	if r.SeasonScale != nil {
		for _, m := range p.Metrics {
			b = append(b, ',')
			b = appendCSVField(b, "season_scale_"+m.Name)
		}
	}
	b = append(b, ",needed,desired,ready,reason\n"...)
	return &TimelineCSV{w: w, buf: b, r: r}, nil
}

// WriteRows writes the rows from the first one not written yet up to, not
// including, row end (at most the run's sample count).
func (t *TimelineCSV) WriteRows(end int) error {
	if t.err != nil {
		return t.err
	}
	r, b := t.r, t.buf
	end = min(end, len(r.Times))
	for i := t.next; i < end; i++ {
		b = t.ta.append(b, r.Times[i])
		for _, col := range r.Observed {
			b = append(b, ',')
			if v := col[i]; !math.IsNaN(v) {
				b = appendShortest(b, v)
			}
		}
		for _, col := range r.Forecast {
			b = append(b, ',')
			if v := col[i]; !math.IsNaN(v) {
				// A forecast is an estimate: six significant digits say all
				// it knows, and fixed precision formats several times faster
				// than the shortest exact form.
				b = appendG6(b, v)
			}
		}
		for _, col := range r.Weekly {
			b = append(b, ',')
			if v := col[i]; !math.IsNaN(v) {
				b = appendG6(b, v)
			}
		}
		for _, col := range r.SeasonScale {
			b = append(b, ',')
			if v := col[i]; !math.IsNaN(v) {
				b = appendG6(b, v)
			}
		}
		b = append(b, ',')
		b = appendSize(b, r.Needed[i])
		b = append(b, ',')
		b = appendSize(b, r.Desired[i])
		b = append(b, ',')
		b = appendSize(b, r.Ready[i])
		b = append(b, ',')
		b = appendReason(b, r.Rows[i])
		b = append(b, '\n')
		// Write out before the next row might not fit: appending past the
		// capacity would copy the buffer into a new one. Writing here also
		// stops a run whose writer failed (a closed pipe) without
		// formatting the rest of the trace.
		if cap(b)-len(b) < rowRoom {
			if b = t.write(b); t.err != nil {
				t.buf, t.next = b, i+1
				return t.err
			}
		}
	}
	t.buf, t.next = b, max(t.next, end)
	return nil
}

// write writes b to w unless an earlier write failed, and returns b emptied.
func (t *TimelineCSV) write(b []byte) []byte {
	if t.err == nil && len(b) > 0 {
		_, t.err = t.w.Write(b)
	}
	return b[:0]
}

// Flush writes out what is buffered.
func (t *TimelineCSV) Flush() error {
	t.buf = t.write(t.buf)
	return t.err
}

// rowRoom is more than any row needs (eight metrics with forecasts, weekly
// parts, season factors and a reason take under 900 bytes).
const rowRoom = 1 << 10

// makeRoom flushes early when the next row might not fit in the buffer's
// free space: appending past it would copy the row into a fresh allocation
// every few hundred rows. Flushing here also stops a run whose writer failed
// (a closed pipe) without formatting the rest of the trace.
func makeRoom(bw *bufio.Writer) error {
	if bw.Available() < rowRoom {
		return bw.Flush()
	}
	return nil
}

// appendCSVField quotes s per RFC 4180 only when it needs it. Policy
// validation keeps metric names plain, but a header must never be able to
// shift the columns of every row below it.
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") && (s == "" || (s[0] != ' ' && s[0] != '\t')) {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// WriteTimelineJSON writes the run as one JSON object:
//
//	{"summary":{...},"timeline":[{"time":"...","values":{"cpu":42.5},
//	 "forecast":{"cpu":44},"weekly":{"cpu":-1.5},"season_scale":{"cpu":1.84},
//	 "needed":3,"desired":4,"ready":4,"reason":"hold"}, ...]}
//
// Missing values are null. "forecast" is present only when the run forecast,
// "weekly" (what the weekly adjustment added to each forecast,
// simulate.Result.Weekly) only on the entries where it acted for a metric,
// "season_scale" (the factor a season that scales with the level
// multiplied each forecast's seasonal shape by, simulate.Result.SeasonScale)
// only on the entries where a metric's season scales.
// Each timeline entry sits on its own line so the file can be skimmed and
// grepped; the summary uses simulate.Summary's own JSON tags so the two
// never disagree.
func WriteTimelineJSON(w io.Writer, p policy.Policy, r *simulate.Result) error {
	n, err := checkShape(p, r)
	if err != nil {
		return err
	}
	sum, err := json.Marshal(r.Summary)
	if err != nil {
		return fmt.Errorf("report: summary: %w", err)
	}
	// Metric names are quoted once; encoding/json does the escaping.
	keys := make([][]byte, len(p.Metrics))
	for j, m := range p.Metrics {
		k, err := json.Marshal(m.Name)
		if err != nil {
			return err
		}
		keys[j] = append(k, ':')
	}

	bw := bufio.NewWriterSize(w, bufSize)
	b := bw.AvailableBuffer()
	b = append(b, `{"summary":`...)
	b = append(b, sum...)
	b = append(b, `,"timeline":[`...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	var ta timeAppender
	for i := 0; i < n; i++ {
		b = bw.AvailableBuffer()
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n{\"time\":\""...)
		b = ta.append(b, r.Times[i])
		b = append(b, `",`...)
		b = appendMetricObject(b, `"values":{`, keys, r.Observed, i)
		if r.Forecast != nil {
			b = appendMetricObject(b, `,"forecast":{`, keys, r.Forecast, i)
		}
		if slices.ContainsFunc(r.Weekly, func(col []float64) bool { return !math.IsNaN(col[i]) }) {
			b = appendMetricObject(b, `,"weekly":{`, keys, r.Weekly, i)
		}
		if slices.ContainsFunc(r.SeasonScale, func(col []float64) bool { return !math.IsNaN(col[i]) }) {
			b = appendMetricObject(b, `,"season_scale":{`, keys, r.SeasonScale, i)
		}
		b = append(b, `,"needed":`...)
		b = appendSize(b, r.Needed[i])
		b = append(b, `,"desired":`...)
		b = appendSize(b, r.Desired[i])
		b = append(b, `,"ready":`...)
		b = appendSize(b, r.Ready[i])
		b = append(b, `,"reason":"`...)
		b = appendReason(b, r.Rows[i]) // only [a-z0-9 :>-]: nothing to escape
		b = append(b, `"}`...)
		bw.Write(b) // in place; the error is sticky
		if err := makeRoom(bw); err != nil {
			return err
		}
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// appendMetricObject appends open (a key and its opening brace), then each
// metric's quoted key and its column's value at row i (null when NaN), and
// the closing brace.
func appendMetricObject(b []byte, open string, keys [][]byte, cols [][]float64, i int) []byte {
	b = append(b, open...)
	for j, col := range cols {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, keys[j]...)
		b = appendJSONFloat(b, col[i])
	}
	return append(b, '}')
}
