package simulate

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// arriving is Config.Arrived for a series whose first whole samples
// arrive chunk at a time (a chunk of 0: all of them at the first call);
// the room after them (withRoom) holds samples that never arrive.
type arriving struct {
	whole, chunk int
	final        int
	calls        int
	isWhole      bool
	failAt       int // > 0: Arrived fails once final reaches it
}

var errArrival = errors.New("the series stopped arriving")

func (a *arriving) arrived(want int) (int, bool, error) {
	a.calls++
	if a.failAt > 0 && a.final >= a.failAt {
		return a.final, true, errArrival
	}
	switch {
	case a.chunk == 0:
		a.final = a.whole
	default:
		a.final = min(a.whole, max(a.final+a.chunk, want+1))
	}
	a.isWhole = a.final == a.whole
	return a.final, a.isWhole, nil
}

// withRoom is s with room for extra more samples that must never be read:
// times a step on from the last, values far from the trace's.
func withRoom(s Series, extra int) Series {
	n := len(s.Times)
	r := Series{Times: slices.Grow(slices.Clone(s.Times), extra)[:n+extra], Values: make([][]float64, len(s.Values))}
	for i := n; i < n+extra; i++ {
		r.Times[i] = r.Times[i-1] + int64(time.Minute)
	}
	for j, col := range s.Values {
		r.Values[j] = append(slices.Clone(col), slices.Repeat([]float64{1e9}, extra)...)
	}
	return r
}

// dropRows is s without every k-th row: a trace whose grid has holes.
func dropRows(s Series, k, from int) Series {
	d := Series{Values: make([][]float64, len(s.Values))}
	for i, ts := range s.Times {
		if i >= from && i%k == k-1 {
			continue
		}
		d.Times = append(d.Times, ts)
		for j := range s.Values {
			d.Values[j] = append(d.Values[j], s.Values[j][i])
		}
	}
	return d
}

// resultDiff says where two Results differ (NaN equal to NaN), or "".
func resultDiff(got, want *Result) string {
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	cols := func(name string, a, b [][]float64) string {
		if len(a) != len(b) || (a == nil) != (b == nil) {
			return fmt.Sprintf("%s: %d columns, want %d", name, len(a), len(b))
		}
		for j := range a {
			if !slices.EqualFunc(a[j], b[j], same) {
				return fmt.Sprintf("%s[%d] differs (%d and %d samples)", name, j, len(a[j]), len(b[j]))
			}
		}
		return ""
	}
	for _, d := range []string{
		cols("Observed", got.Observed, want.Observed), cols("Forecast", got.Forecast, want.Forecast),
		cols("Weekly", got.Weekly, want.Weekly), cols("SeasonScale", got.SeasonScale, want.SeasonScale),
		cols("Skill", got.Skill, want.Skill),
	} {
		if d != "" {
			return d
		}
	}
	switch {
	case !slices.Equal(got.Times, want.Times):
		return "Times"
	case !reflect.DeepEqual(got.Trusted, want.Trusted):
		return "Trusted"
	case !slices.Equal(got.Needed, want.Needed) || !slices.Equal(got.Desired, want.Desired) || !slices.Equal(got.Ready, want.Ready):
		return "Needed, Desired or Ready"
	case !slices.Equal(got.Under, want.Under) || !slices.Equal(got.Scheduled, want.Scheduled) || !slices.Equal(got.Rows, want.Rows):
		return "Under, Scheduled or Rows"
	case !slices.Equal(got.Events, want.Events):
		return fmt.Sprintf("Events: %d, want %d", len(got.Events), len(want.Events))
	case got.Summary != want.Summary:
		return fmt.Sprintf("Summary %+v, want %+v", got.Summary, want.Summary)
	}
	return ""
}

// TestRunWhileTheSeriesArrives: a replay of a series that is still
// arriving (Config.Arrived, as capstan simulate replays a trace while it
// parses) gives the Result of a replay of the whole series, whether the
// samples arrive all at once, in chunks or one by one, on a regular grid
// or with rows missing (the forecasting grid waits for the whole series:
// at the first sample off its step, early or late), for a request rate
// and for cpu, with prediction on and off, the HPA reference, a timeline
// or a summary; it never reads a sample that has not arrived (the room
// after the last holds values that would change the run), and Rows hears
// of rows only once the series is whole, with the Result's slices at
// their final length.
func TestRunWhileTheSeriesArrives(t *testing.T) {
	type variant struct {
		name    string
		ex      example
		drop    func(Series) Series
		mode    policy.PredictiveMode
		hpa     bool
		summary bool
	}
	same := func(s Series) Series { return s }
	var variants []variant
	for _, ex := range []example{examples[0], examples[2]} { // a request rate at 1 minute, cpu at 5 minutes
		for _, d := range []struct {
			name string
			drop func(Series) Series
		}{
			{"regular", same},
			{"rows missing late", func(s Series) Series { return dropRows(s, 37, 3000) }},
			{"rows missing early", func(s Series) Series { return dropRows(s, 11, 0) }},
		} {
			variants = append(variants,
				variant{ex.policy + "/" + d.name, ex, d.drop, policy.PredictForecastAndScale, false, false},
				variant{ex.policy + "/" + d.name + "/summary", ex, d.drop, policy.PredictForecastAndScale, false, true})
		}
		variants = append(variants,
			variant{ex.policy + "/off", ex, same, policy.PredictOff, false, false},
			variant{ex.policy + "/hpa", ex, same, policy.PredictOff, true, false})
	}
	for _, v := range variants {
		p, full := loadExample(t, v.ex)
		p.Predictive.Mode = v.mode
		s := v.drop(full)
		replay := func(cfg Config, s Series) (*Result, error) {
			cfg.Policy, cfg.RecordedSize, cfg.SummaryOnly = p, v.ex.recorded, v.summary
			if v.hpa {
				return RunBaseline(cfg, s)
			}
			return Run(cfg, s)
		}
		want, err := replay(Config{}, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{0, 1, 700} {
			t.Run(fmt.Sprintf("%s/chunk %d", v.name, chunk), func(t *testing.T) {
				a := &arriving{whole: len(s.Times), chunk: chunk}
				var dones []int
				cfg := Config{Arrived: a.arrived, Rows: func(r *Result, done int) {
					if !a.isWhole {
						t.Fatalf("Rows(%d) before the series was whole (%d arrived)", done, a.final)
					}
					if len(r.Times) != len(s.Times) || len(r.Desired) != len(s.Times) {
						t.Fatalf("Rows(%d): %d times, %d sizes, want %d", done, len(r.Times), len(r.Desired), len(s.Times))
					}
					dones = append(dones, done)
				}}
				got, err := replay(cfg, withRoom(s, 123))
				if err != nil {
					t.Fatal(err)
				}
				if d := resultDiff(got, want); d != "" {
					t.Fatalf("arriving %d at a time: %s", chunk, d)
				}
				if chunk == 1 && len(s.Times) == len(full.Times) && a.calls < len(s.Times)-64 {
					// On a regular grid the replay reads each sample as it arrives.
					t.Fatalf("Arrived called %d times for %d samples one at a time", a.calls, len(s.Times))
				}
				if !v.summary && (len(dones) == 0 || dones[len(dones)-1] != len(s.Times)) {
					t.Fatalf("Rows called with %v, want a last call with %d", dones, len(s.Times))
				}
			})
		}
	}
}

// TestRunArrivalErrors: an error from Config.Arrived is Run's, wherever
// the series stops, and so is a grid check that only the whole series
// can fail (too sparse to forecast from); Rows is called for none of them.
func TestRunArrivalErrors(t *testing.T) {
	p, s := loadExample(t, examples[0])
	noRows := func(*Result, int) { t.Fatal("Rows called by a failing run") }
	for _, at := range []int{1, 65, RowsChunk + 100} {
		a := &arriving{whole: len(s.Times), chunk: 1, failAt: at}
		if _, err := Run(Config{Policy: p, Arrived: a.arrived, Rows: noRows}, withRoom(s, 10)); !errors.Is(err, errArrival) {
			t.Fatalf("failing at %d: err = %v, want the arrival's", at, err)
		}
	}
	// The last sample far beyond the rest: the grid's check fails once
	// the series is whole, after more than a chunk of rows was replayed.
	sparse := withRoom(s, 0)
	sparse.Times[len(sparse.Times)-1] = sparse.Times[len(sparse.Times)-2] + int64(time.Minute)*(4*int64(len(s.Times))+maxGridSlack+10)
	a := &arriving{whole: len(s.Times), chunk: 1}
	_, err := Run(Config{Policy: p, Arrived: a.arrived, Rows: noRows}, withRoom(sparse, 5))
	if _, want := Run(Config{Policy: p}, sparse); want == nil || err == nil || err.Error() != want.Error() {
		t.Fatalf("a sparse series arriving: err = %v, want %v", err, want)
	}
	a = &arriving{chunk: 1}
	if _, err := Run(Config{Policy: p, Arrived: a.arrived, Rows: noRows}, Series{Values: [][]float64{nil}}); !errors.Is(err, ErrNoSamples) {
		t.Fatalf("nothing arriving: err = %v, want ErrNoSamples", err)
	}
}

// TestRunStartsRowsOnceTheSeriesIsWhole: the rows are handed over from the
// first RowsChunk boundary after the series became whole, not a stretch
// later when the replay next runs out of samples: Run asks Arrived again
// at each boundary while the series is not whole.
func TestRunStartsRowsOnceTheSeriesIsWhole(t *testing.T) {
	p, s := loadExample(t, examples[0])
	// The first call hands over 3000 samples; by the next one, whenever
	// it comes, the rest has arrived.
	calls := 0
	arrived := func(want int) (int, bool, error) {
		if calls++; calls == 1 {
			return 3000, false, nil
		}
		return len(s.Times), true, nil
	}
	var dones []int
	res, err := Run(Config{Policy: p, Arrived: arrived, Rows: func(_ *Result, done int) { dones = append(dones, done) }}, withRoom(s, 50))
	if err != nil {
		t.Fatal(err)
	}
	if len(dones) == 0 || dones[0] != RowsChunk || dones[len(dones)-1] != len(res.Times) {
		t.Fatalf("Rows called with %v: want the first at %d, the last at %d", dones, RowsChunk, len(res.Times))
	}
}
