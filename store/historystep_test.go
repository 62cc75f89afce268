package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestWindowShape: without a history step the default rule (at most
// MaxWindowBuckets, never narrower than the evaluation interval); with
// one, its width, at most policy.MaxHistoryBuckets buckets.
func TestWindowShape(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name          string
		history, step time.Duration
		interval      time.Duration
		wantStep      time.Duration
		wantLen       int
	}{
		{"7d by default: 5m", 7 * day, 0, 10 * time.Second, 5 * time.Minute, 2016},
		{"1h by default: the interval", time.Hour, 0, 10 * time.Second, 10 * time.Second, 361},
		{"1h by default, 2s interval", time.Hour, 0, 2 * time.Second, 2 * time.Second, 1801},
		{"7d at 1m", 7 * day, time.Minute, 10 * time.Second, time.Minute, 10_080},
		{"7d at 1m, a 5m interval", 7 * day, time.Minute, 5 * time.Minute, time.Minute, 10_080},
		{"1d at 1m", day, time.Minute, 10 * time.Second, time.Minute, 1441},
		{"1h at 1s", time.Hour, time.Second, 10 * time.Second, time.Second, 3601},
		{"7d at 10m", 7 * day, 10 * time.Minute, 10 * time.Second, 10 * time.Minute, 1009},
		{"an unvalidated 14d at 1m is held to the bound", 14 * day, time.Minute, 10 * time.Second, 2 * time.Minute, 10_080},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p policy.Policy
			p.Predictive.History, p.Predictive.HistoryStep, p.EvaluationInterval = policy.Duration(tc.history), policy.Duration(tc.step), policy.Duration(tc.interval)
			step, n := WindowShape(p)
			if step != tc.wantStep || n != tc.wantLen {
				t.Fatalf("WindowShape = %s, %d; want %s, %d", step, n, tc.wantStep, tc.wantLen)
			}
			if def := DefaultWindowStep(p); tc.step == 0 && def != step {
				t.Fatalf("DefaultWindowStep = %s, WindowShape's step %s", def, step)
			}
		})
	}
}

// TestHistoryStepIsVersioned: a policy's history step shapes its windows
// when it comes in entry version 8; in versions 1 to 7 it is left out when
// written and zero when read, so the windows have the shape the old code
// gave them, on every node alike. A version-8 snapshot keeps it.
func TestHistoryStepIsVersioned(t *testing.T) {
	fine := testPolicy(t, "web", rps)
	fine.Predictive.History, fine.Predictive.HistoryStep = policy.Duration(7*24*time.Hour), policy.Duration(time.Minute)
	at := time.Unix(1_780_000_000, 0).UTC()
	samples := Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at, Value: 10}, {Policy: "web", Metric: "rps", Time: at.Add(90 * time.Second), Value: 20}}}
	for _, v := range []uint8{VersionJSON, VersionBinary, VersionFenced, VersionDecisions, VersionGroupAge, VersionBudget, VersionBatched, VersionHistoryStep} {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			s := New()
			for i, c := range []Command{PutPolicy{Policy: fine, At: at}, samples} {
				back := throughVersion(t, c, v)
				s.Apply(uint64(i+1), back, Options{})
			}
			e := s.Policies["web"]
			wantStep, wantLen, wantPolicyStep := 5*time.Minute, 2016, time.Duration(0)
			if v >= VersionHistoryStep {
				wantStep, wantLen, wantPolicyStep = time.Minute, 10_080, time.Minute
			}
			if got := e.Record.Policy.Predictive.HistoryStep.D(); got != wantPolicyStep {
				t.Fatalf("the stored policy's history step %s, want %s", got, wantPolicyStep)
			}
			w := e.Windows["rps"]
			if w == nil || w.Step() != wantStep || w.Len() != wantLen {
				t.Fatalf("window %v, want %s × %d", w, wantStep, wantLen)
			}
			// The snapshot of the same version holds the same.
			var buf bytes.Buffer
			if v == VersionJSON {
				if err := s.WriteLegacySnapshot(&buf); err != nil {
					t.Fatal(err)
				}
			} else if err := s.WriteSnapshotVersion(&buf, v); err != nil {
				t.Fatal(err)
			}
			r, err := ReadSnapshot(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Policies["web"].Record.Policy.Predictive.HistoryStep.D(); got != wantPolicyStep {
				t.Fatalf("the snapshot's policy has history step %s, want %s", got, wantPolicyStep)
			}
			if got := r.Policies["web"].Windows["rps"]; got.Step() != wantStep || got.Len() != wantLen {
				t.Fatalf("the snapshot's window is %s × %d", got.Step(), got.Len())
			}
		})
	}
}

// TestHistoryStepChangeReshapes: changing a policy's history step starts
// its windows afresh in the new shape at the next sample (as changing its
// history does): buckets of one width do not split into another.
func TestHistoryStepChangeReshapes(t *testing.T) {
	p := testPolicy(t, "web", rps)
	p.Predictive.History = policy.Duration(7 * 24 * time.Hour)
	at := time.Unix(1_780_000_000, 0).UTC()
	s := New()
	s.Apply(1, PutPolicy{Policy: p, At: at}, Options{})
	s.Apply(2, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at, Value: 10}}}, Options{})
	if w := s.Policies["web"].Windows["rps"]; w.Step() != 5*time.Minute {
		t.Fatalf("default step %s", w.Step())
	}
	p.Predictive.HistoryStep = policy.Duration(time.Minute)
	s.Apply(3, PutPolicy{Policy: p, At: at}, Options{})
	s.Apply(4, Samples{Samples: []Sample{{Policy: "web", Metric: "rps", Time: at.Add(time.Minute), Value: 30}}}, Options{})
	w := s.Policies["web"].Windows["rps"]
	if w.Step() != time.Minute || w.Len() != 10_080 {
		t.Fatalf("after the change: %s × %d", w.Step(), w.Len())
	}
	start, values := w.Values(at.Add(time.Minute))
	if n := countFilled(values); n != 1 || !start.Add(time.Duration(len(values)-1)*time.Minute).Equal(at.Add(time.Minute).Truncate(time.Minute)) {
		t.Fatalf("after the change the window holds %d buckets, want the one new sample's", n)
	}
}

func countFilled(values []float64) int {
	n := 0
	for _, v := range values {
		if v == v {
			n++
		}
	}
	return n
}

// TestSizeHistory: a policy with a history step keeps its group's ready
// size, one point per change, over its history (and the size at the
// history's start); one without keeps none; a View keeps what it saw.
func TestSizeHistory(t *testing.T) {
	fine := testPolicy(t, "web", rps)
	fine.Predictive.HistoryStep = policy.Duration(time.Minute) // history 1h
	at := time.Unix(1_780_000_000, 0).UTC()
	minute := func(m int) time.Time { return at.Add(time.Duration(m) * time.Minute) }
	eval := func(ready int, when time.Time) Command {
		return Evaluated{Policy: "web", PolicyVersion: 1, Desired: ready, Ready: ready, At: when}
	}
	pts := func(xs ...any) []SizePoint {
		var out []SizePoint
		for i := 0; i < len(xs); i += 2 {
			out = append(out, SizePoint{At: minute(xs[i].(int)), Ready: xs[i+1].(int)})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		p     policy.Policy
		evals []Command
		want  []SizePoint
	}{
		{"no history step: none", testPolicy(t, "web", rps), []Command{eval(2, minute(0)), eval(3, minute(1))}, nil},
		{"each change", fine, []Command{eval(2, minute(0)), eval(2, minute(1)), eval(3, minute(2)), eval(3, minute(3)), eval(1, minute(4))}, pts(0, 2, 2, 3, 4, 1)},
		{"older than the history, but the size at its start", fine, []Command{eval(2, minute(0)), eval(3, minute(10)), eval(4, minute(20)), eval(5, minute(75))}, pts(10, 3, 20, 4, 75, 5)},
		{"an evaluation older than the newest point", fine, []Command{eval(2, minute(5)), eval(3, minute(4))}, pts(5, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Apply(1, PutPolicy{Policy: tc.p, At: at}, Options{})
			for i, c := range tc.evals {
				s.Apply(uint64(i+2), c, Options{})
			}
			if got := s.Policies["web"].Sizes; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sizes %+v, want %+v", got, tc.want)
			}
			var buf bytes.Buffer
			if err := s.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			r, err := ReadSnapshot(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Policies["web"].Sizes; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("the snapshot's sizes %+v, want %+v", got, tc.want)
			}
		})
	}

	t.Run("at most MaxHistoryBuckets", func(t *testing.T) {
		p := fine
		p.Predictive.History = policy.Duration(7 * 24 * time.Hour)
		s := New()
		s.Apply(1, PutPolicy{Policy: p, At: at}, Options{})
		for i := range policy.MaxHistoryBuckets + 5 {
			s.Apply(uint64(i+2), eval(1+i%2, at.Add(time.Duration(i)*time.Second)), Options{})
		}
		got := s.Policies["web"].Sizes
		if len(got) != policy.MaxHistoryBuckets || !got[0].At.Equal(at.Add(5*time.Second)) {
			t.Fatalf("%d points from %v", len(got), got[0].At)
		}
	})

	t.Run("a view keeps what it saw; dropping the step forgets them", func(t *testing.T) {
		s := New()
		s.Apply(1, PutPolicy{Policy: fine, At: at}, Options{})
		s.Apply(2, eval(2, minute(0)), Options{})
		s.Apply(3, eval(3, minute(1)), Options{})
		v := s.View()
		s.Apply(4, eval(4, minute(2)), Options{})
		s.Apply(5, eval(5, minute(70)), Options{})
		if got := v.Policies["web"].Sizes; !reflect.DeepEqual(got, pts(0, 2, 1, 3)) {
			t.Fatalf("the view's sizes %+v", got)
		}
		v.Release()
		if got := s.Policies["web"].Sizes; !reflect.DeepEqual(got, pts(2, 4, 70, 5)) {
			t.Fatalf("sizes %+v", got)
		}
		coarse := fine
		coarse.Predictive.HistoryStep = 0
		s.Apply(6, PutPolicy{Policy: coarse, At: at}, Options{})
		if got := s.Policies["web"].Sizes; got != nil {
			t.Fatalf("sizes kept without a history step: %+v", got)
		}
	})

	for _, v := range []uint8{VersionBudget, VersionBatched} {
		t.Run(fmt.Sprintf("version %d has no place for them", v), func(t *testing.T) {
			s := New()
			s.Apply(1, PutPolicy{Policy: fine, At: at}, Options{})
			s.Apply(2, eval(2, minute(0)), Options{})
			var buf bytes.Buffer
			if err := s.WriteSnapshotVersion(&buf, v); err != nil {
				t.Fatal(err)
			}
			// Entry version 7 changed no snapshot: its servers write and
			// read version 6.
			if got := buf.Bytes()[len(snapshotMagic)]; got != VersionBudget {
				t.Fatalf("the snapshot of entry version %d is version %d, want 6", v, got)
			}
			r, err := ReadSnapshot(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Policies["web"]; got.Sizes != nil || got.Record.Policy.Predictive.HistoryStep != 0 {
				t.Fatalf("version %d: sizes %+v, history step %s", v, got.Sizes, got.Record.Policy.Predictive.HistoryStep)
			}
		})
	}

	t.Run("there is no snapshot version 7", func(t *testing.T) {
		var buf bytes.Buffer
		if err := New().WriteSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		b[len(snapshotMagic)] = VersionBatched
		if _, err := ReadSnapshot(bytes.NewReader(b)); !errors.Is(err, ErrUnknownSnapshot) || !strings.Contains(err.Error(), "no version 7") {
			t.Fatalf("a version-7 snapshot: %v", err)
		}
	})
}
