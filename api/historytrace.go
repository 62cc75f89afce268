package api

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
)

// RecordedSizeColumn names the trace column that states the group size a
// history CSV's cpu columns are utilization over. It is spelt like the
// simulate flag it stands for, and a metric name cannot contain '-', so it
// never collides with a metric's column.
const RecordedSizeColumn = "recorded-size"

// ReadySizeColumn names the trace column of the group's in-service size
// at each bucket as the cluster recorded it: kept for a policy with a
// predictive.history_step (store.Policy.Sizes), empty before the first
// size it recorded. A replay starts its simulated group at the first row's
// (or, empty there, at the first size recorded after it).
const ReadySizeColumn = "ready-size"

// SizeAt is the group's ready size from Time on.
type SizeAt struct {
	Time  time.Time
	Ready int
}

// Recording is what a replay of a policy's history needs, read from one
// node's state at one instant so that the three agree.
type Recording struct {
	// Policy is the stored policy and its version.
	Policy PolicyRecord
	// History holds the replicated window of each of its metrics, in the
	// policy's metric order.
	History []MetricHistory
	// Ready is the group's in-service size at the last evaluation. cpu
	// windows hold demand (utilization × in-service instances), and the
	// history trace states cpu as utilization over this size.
	Ready int
	// DefaultCosts are the node's default prices by provider (the
	// agent's --default-price), which price a policy with no cost of its
	// own in decisions (policy.WithDefaultCost), and so in a replay of it
	// too; nil when the node has none.
	DefaultCosts map[string]policy.Cost
	// Sizes is the group's ready size over the history, one entry per
	// change, oldest first: kept only for a policy with a
	// predictive.history_step.
	Sizes []SizeAt
}

// HistoryTrace turns a recording into a trace that `capstan simulate`
// reads: one row per bucket start that holds a value in any metric (a
// bucket's aggregate stands at its start time), one column per metric
// named as in the policy, empty where a metric has no value in that
// bucket. request_rate and queue_depth columns are the buckets' values.
// cpu windows hold demand in percent-instances; a cpu column is that
// demand as utilization over the recorded size, which the trace also
// states in a RecordedSizeColumn column (the same on every row), so that
// simulate's load model (demand = utilization × recorded size) gets the
// recorded demand back exactly. The recorded size is the group's ready
// size, raised when needed so that no utilization exceeds 100 %. When
// the recording has the group's sizes, a ReadySizeColumn states the size
// in force at each row (empty before the first). It returns the recorded
// size, 0 when there is no cpu metric. A recording
// with no bucket at all is ErrConflict: there is nothing to replay yet.
func HistoryTrace(rec Recording) (*trace.Trace, int, error) {
	var times []int64
	cpu := false
	peak := 0.0
	for _, h := range rec.History {
		for _, b := range h.Buckets {
			times = append(times, b.Time.UnixNano())
		}
		if h.Type == string(policy.MetricCPU) {
			cpu = true
			for _, b := range h.Buckets {
				peak = max(peak, b.Value)
			}
		}
	}
	for i, h := range rec.History {
		switch h.Metric {
		case "time", "timestamp", "ts": // a trace's time column is found by these names
			return nil, 0, fmt.Errorf("%w: metrics[%d].name: %q is the name of a trace's time column, so its history cannot be written as a trace; rename the metric", ErrBadRequest, i, h.Metric)
		}
	}
	if len(times) == 0 {
		return nil, 0, fmt.Errorf("%w: policy %s has no recorded history yet (no metric window holds a sample)", ErrConflict, rec.Policy.Policy.ID)
	}
	slices.Sort(times)
	times = slices.Compact(times)
	recorded := 0
	if cpu {
		recorded = max(rec.Ready, 1, int(math.Ceil(peak/100-1e-9)))
	}
	tr := &trace.Trace{TimeColumn: "time", Times: times}
	for _, h := range rec.History {
		col := make([]float64, len(times))
		for i := range col {
			col[i] = math.NaN()
		}
		scale := 1.0
		if h.Type == string(policy.MetricCPU) {
			scale = 1 / float64(recorded)
		}
		for _, b := range h.Buckets {
			i, _ := slices.BinarySearch(times, b.Time.UnixNano())
			col[i] = b.Value * scale
		}
		tr.Columns = append(tr.Columns, h.Metric)
		tr.Values = append(tr.Values, col)
	}
	if cpu {
		col := make([]float64, len(times))
		for i := range col {
			col[i] = float64(recorded)
		}
		tr.Columns = append(tr.Columns, RecordedSizeColumn)
		tr.Values = append(tr.Values, col)
	}
	if len(rec.Sizes) > 0 {
		col := make([]float64, len(times))
		k := -1 // the last size at or before the row
		for i, t := range times {
			for k+1 < len(rec.Sizes) && rec.Sizes[k+1].Time.UnixNano() <= t {
				k++
			}
			col[i] = math.NaN()
			if k >= 0 {
				col[i] = float64(rec.Sizes[k].Ready)
			}
		}
		tr.Columns = append(tr.Columns, ReadySizeColumn)
		tr.Values = append(tr.Values, col)
	}
	return tr, recorded, nil
}

// WriteTraceCSV writes a trace in the CSV form trace.Parse reads: a
// header (the time column, then the value columns), then one row per time
// in RFC 3339 UTC, a missing value as an empty cell. Values are written
// in the shortest form that parses back to the same float64.
func WriteTraceCSV(w io.Writer, tr *trace.Trace) error {
	bw := bufio.NewWriter(w)
	name := tr.TimeColumn
	if name == "" {
		name = "time"
	}
	bw.WriteString(name)
	for _, c := range tr.Columns {
		bw.WriteByte(',')
		bw.WriteString(c)
	}
	bw.WriteByte('\n')
	var buf []byte
	for i, t := range tr.Times {
		buf = time.Unix(0, t).UTC().AppendFormat(buf[:0], time.RFC3339Nano)
		for c := range tr.Columns {
			buf = append(buf, ',')
			if v := tr.Values[c][i]; !math.IsNaN(v) {
				buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
			}
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
