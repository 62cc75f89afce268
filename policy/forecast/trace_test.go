package forecast

import (
	"encoding/csv"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// traceDirs are where the recorded traces live: the repository's copy once
// examples/traces exists, the shared checkout until then.
var traceDirs = []string{"../../examples/traces", "/work/shared/traces"}

// trace is a recorded metric resampled onto a regular grid: values[i] was
// observed at start+i×step, NaN where the recording has a gap.
type trace struct {
	start  time.Time
	step   time.Duration
	values []float64
}

func (tr trace) at(i int) time.Time { return tr.start.Add(time.Duration(i) * tr.step) }

// loadTrace reads a two-column CSV trace (time, value; header row). Times are
// Unix epoch seconds, "2006-01-02 15:04:05" (read as UTC: only the daily
// alignment matters here) or RFC 3339. A missing trace fails the test: the
// expectations below are about these recordings and must not pass silently.
func loadTrace(t testing.TB, name string) trace {
	t.Helper()
	var f *os.File
	var err error
	for _, dir := range traceDirs {
		if f, err = os.Open(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		t.Fatalf("trace %s not found in %v: %v", name, traceDirs, err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rows) < 3 {
		t.Fatalf("%s: only %d rows", name, len(rows))
	}
	times := make([]time.Time, 0, len(rows)-1)
	vals := make([]float64, 0, len(rows)-1)
	for i, r := range rows[1:] {
		if len(r) != 2 {
			t.Fatalf("%s row %d: %d columns", name, i+2, len(r))
		}
		ts, err := parseTraceTime(r[0])
		if err != nil {
			t.Fatalf("%s row %d: %v", name, i+2, err)
		}
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatalf("%s row %d: %v", name, i+2, err)
		}
		times = append(times, ts)
		vals = append(vals, v)
	}
	// The step is the most common spacing; samples off the grid are snapped
	// to the nearest slot and gaps become NaN.
	freq := map[time.Duration]int{}
	for i := 1; i < len(times); i++ {
		freq[times[i].Sub(times[i-1])]++
	}
	var step time.Duration
	for d, n := range freq {
		if d > 0 && (n > freq[step] || n == freq[step] && d < step) {
			step = d
		}
	}
	tr := trace{start: times[0], step: step}
	n := int(times[len(times)-1].Sub(times[0])/step) + 1
	tr.values = make([]float64, n)
	for i := range tr.values {
		tr.values[i] = math.NaN()
	}
	for i, ts := range times {
		j := int(math.Round(float64(ts.Sub(tr.start)) / float64(step)))
		if j >= 0 && j < n {
			tr.values[j] = vals[i]
		}
	}
	return tr
}

func parseTraceTime(s string) (time.Time, error) {
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0).UTC(), nil
	}
	if ts, err := time.Parse(time.DateTime, s); err == nil {
		return ts, nil
	}
	return time.Parse(time.RFC3339, s)
}

func TestLoadTrace(t *testing.T) {
	for _, c := range []struct {
		name string
		step time.Duration
		min  int
	}{
		{"app_cpu_usage_1min.csv", time.Minute, 11519},
		{"nyc_taxi_passengers_30min.csv", 30 * time.Minute, 10319},
		{"asg_cpu_utilization_5min.csv", 5 * time.Minute, 18050},
		{"elb_request_count_5min.csv", 5 * time.Minute, 4032},
	} {
		tr := loadTrace(t, c.name)
		if tr.step != c.step || len(tr.values) < c.min {
			t.Errorf("%s: step %v, %d values; want %v, ≥ %d", c.name, tr.step, len(tr.values), c.step, c.min)
		}
	}
}
