package policy

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/metrics/trace"
)

func TestScratchTrust(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	files, _ := filepath.Glob("/work/shared/traces/*.csv")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		tr, _ := trace.ParseBytes(raw, trace.Options{})
		vals := tr.Values[0]
		clean := slices.DeleteFunc(slices.Clone(vals), math.IsNaN)
		slices.Sort(clean)
		target := 0.7 * clean[int(0.99*float64(len(clean)-1))] / 20
		p := Policy{ID: "x", Target: Target{Provider: "fake", Group: "g"}, Min: 1, Max: 1000,
			Metrics: []Metric{{Name: "v", Type: MetricRequestRate, Target: target}}}
		p.ApplyDefaults(nil)
		p.Predictive.Mode = PredictForecastAndScale
		p.Predictive.Lead = Duration(180 * time.Second)
		step := time.Duration(tr.Times[1] - tr.Times[0])
		var s State
		trusted, made, used := 0, 0, 0
		for i, tn := range tr.Times {
			now := time.Unix(0, tn).UTC()
			in := Inputs{Current: 10, Ready: 10}
			if !math.IsNaN(vals[i]) {
				in.Metrics[0] = Sample{Time: now, Value: vals[i], Present: true}
			}
			in.History[0] = Window{Start: time.Unix(0, tr.Times[0]).UTC(), Step: step, Values: vals[:i+1]}
			d := Evaluate(p, in, s, now)
			s = d.Next
			if !math.IsNaN(d.Metrics[0].Forecast) {
				made++
				if d.Metrics[0].Trusted {
					trusted++
				}
				if d.Predictive > d.Reactive {
					used++
				}
			}
		}
		mm := s.Models[0]
		fmt.Printf("%-32s trusted %5.1f%% raised %5.1f%% season %v params a%.2f g%.2f k%.2f skill %.2f\n", filepath.Base(f),
			100*float64(trusted)/float64(max(made, 1)), 100*float64(used)/float64(max(made, 1)), mm.Model.Period, mm.Params.Alpha, mm.Params.Gamma, mm.Persist, mm.Skill())
	}
}
