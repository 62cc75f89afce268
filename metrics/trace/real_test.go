package trace

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// traceDirs are where the recorded traces live: the repository's copy first,
// then the shared directory they were delivered in.
var traceDirs = []string{"../../examples/traces", "/work/shared/traces"}

// traceFile returns the path of a recorded trace, or skips the test when no
// copy is available (as on a machine without the shared directory).
func traceFile(tb testing.TB, name string) string {
	tb.Helper()
	for _, dir := range traceDirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Skipf("trace %s not found in %v", name, traceDirs)
	return ""
}

// realTraces lists each recorded trace with what a correct parse must find.
// Rows are the data lines; two files lack a final newline, so this is the
// line count (wc -l) minus 1 only for the others.
var realTraces = []struct {
	file        string
	timeCol     string
	rows        int
	first, last int64
	firstV      float64
	lastV       float64
	step        time.Duration
	gaps        int // intervals longer than step
}{
	{"app_cpu_usage_1min.csv", "ts", 11520, 1628640000e9, 1629331140e9, 39.72233, 56.44723, time.Minute, 0},
	{"asg_cpu_utilization_5min.csv", "timestamp", 18050, utc("2014-05-14 01:14:00"), utc("2014-07-15 17:19:00"), 85.835, 12.129000000000001, 5 * time.Minute, 0},
	{"batch_queue_depth_5min.csv", "timestamp", 8640, utc("2010-05-01 00:04:55"), utc("2010-05-30 23:59:55"), 0, 750, 5 * time.Minute, 0},
	{"elb_request_count_5min.csv", "timestamp", 4032, utc("2014-04-10 00:04:00"), utc("2014-04-24 00:39:00"), 94, 60, 5 * time.Minute, 8},
	{"nyc_taxi_passengers_30min.csv", "timestamp", 10320, utc("2014-07-01 00:00:00"), utc("2015-01-31 23:30:00"), 10844, 26288, 30 * time.Minute, 0},
}

func TestRealTraces(t *testing.T) {
	for _, rt := range realTraces {
		t.Run(rt.file, func(t *testing.T) {
			path := traceFile(t, rt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Independent row count: non-empty lines minus the header.
			lines := 0
			for l := range bytes.Lines(data) {
				if len(bytes.TrimSpace(l)) > 0 {
					lines++
				}
			}
			if lines-1 != rt.rows {
				t.Fatalf("file has %d data lines, table says %d", lines-1, rt.rows)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tr, err := Parse(f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			n := len(tr.Times)
			if n != rt.rows || len(tr.Values) != 1 || len(tr.Values[0]) != n {
				t.Fatalf("rows = %d (values %d), want %d", n, len(tr.Values[0]), rt.rows)
			}
			if tr.TimeColumn != rt.timeCol || len(tr.Columns) != 1 || tr.Columns[0] != "value" {
				t.Errorf("columns: time %q, values %q", tr.TimeColumn, tr.Columns)
			}
			if tr.Times[0] != rt.first || tr.Times[n-1] != rt.last {
				t.Errorf("span %s .. %s, want %s .. %s",
					time.Unix(0, tr.Times[0]).UTC(), time.Unix(0, tr.Times[n-1]).UTC(),
					time.Unix(0, rt.first).UTC(), time.Unix(0, rt.last).UTC())
			}
			if v := tr.Values[0]; v[0] != rt.firstV || v[n-1] != rt.lastV {
				t.Errorf("first/last value %v/%v, want %v/%v", v[0], v[n-1], rt.firstV, rt.lastV)
			}
			if s := tr.Step(); s != rt.step {
				t.Errorf("Step() = %v, want %v", s, rt.step)
			}
			gaps := 0
			for i := 1; i < n; i++ {
				if time.Duration(tr.Times[i]-tr.Times[i-1]) > rt.step {
					gaps++
				}
			}
			if gaps != rt.gaps {
				t.Errorf("%d gaps, want %d", gaps, rt.gaps)
			}
		})
	}
}

// TestRealTraceInNewYork replays the taxi trace's naive times as New York
// local time (its source). The data has no repeated 01:00-02:00 hour on
// 2014-11-02, so the fall-back transition shows up as one 90-minute interval
// rather than as a time going backwards.
func TestRealTraceInNewYork(t *testing.T) {
	path := traceFile(t, "nyc_taxi_passengers_30min.csv")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ParseBytes(data, Options{Location: mustLoad(t, "America/New_York")})
	if err != nil {
		t.Fatal(err)
	}
	if want := utc("2014-07-01 04:00:00"); tr.Times[0] != want {
		t.Errorf("first time %d, want %d (midnight EDT)", tr.Times[0], want)
	}
	long := 0
	for i := 1; i < len(tr.Times); i++ {
		if d := time.Duration(tr.Times[i] - tr.Times[i-1]); d != 30*time.Minute {
			long++
			if d != 90*time.Minute || tr.Times[i] != utc("2014-11-02 07:00:00") {
				t.Errorf("interval %v ending %s", d, time.Unix(0, tr.Times[i]).UTC())
			}
		}
	}
	if long != 1 {
		t.Errorf("%d irregular intervals, want 1 (the DST change)", long)
	}
}
