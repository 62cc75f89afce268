package simulate

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/capstan-io/capstan/metrics/trace"
	"github.com/capstan-io/capstan/policy"
)

// example is one bundled policy and the trace it is written for.
type example struct {
	policy, trace string
	recorded      int
	seasonal      bool
}

var examples = []example{
	{"app-cpu.yaml", "app_cpu_usage_1min.csv", 0, true},
	{"nyc-taxi.yaml", "nyc_taxi_passengers_30min.csv", 0, true},
	{"asg-cpu.yaml", "asg_cpu_utilization_5min.csv", 10, false},
	{"batch-queue.yaml", "batch_queue_depth_5min.csv", 0, false},
	{"elb-requests.yaml", "elb_request_count_5min.csv", 0, false},
}

const examplesDir = "../../examples"

func loadExample(tb testing.TB, ex example) (policy.Policy, Series) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, "policies", ex.policy))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Parse(data)
	if err != nil {
		tb.Fatalf("%s: %v", ex.policy, err)
	}
	raw, err := os.ReadFile(filepath.Join(examplesDir, "traces", ex.trace))
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := trace.ParseBytes(raw, trace.Options{})
	if err != nil {
		tb.Fatalf("%s: %v", ex.trace, err)
	}
	return p, Series{Times: tr.Times, Values: tr.Values}
}

func runMode(tb testing.TB, p policy.Policy, s Series, recorded int, mode policy.PredictiveMode) Summary {
	tb.Helper()
	p.Predictive.Mode = mode
	res, err := Run(Config{Policy: p, RecordedSize: recorded}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return res.Summary
}

// TestPredictionQualityOnRealTraces holds forecast-and-scale to the bar set
// for it: on seasonal traces at most half the under-provisioned samples of
// the same policy without prediction, at most 5 % more instance-hours and
// 1.2x the scale actions; on the others no worse than off (0.5 percentage
// points of under-provisioning, 2 % instance-hours).
func TestPredictionQualityOnRealTraces(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.policy, func(t *testing.T) {
			p, s := loadExample(t, ex)
			off := runMode(t, p, s, ex.recorded, policy.PredictOff)
			on := runMode(t, p, s, ex.recorded, policy.PredictForecastAndScale)
			actions := func(s Summary) int { return s.ScaleOuts + s.ScaleIns }
			t.Logf("%-20s off: under %5d (%.2f%%) inst-h %8.1f actions %4d | forecast: under %5d (%.2f%%) inst-h %8.1f actions %4d",
				ex.trace, off.UnderProvisionedSamples, 100*off.UnderProvisionedFraction, off.InstanceHours, actions(off),
				on.UnderProvisionedSamples, 100*on.UnderProvisionedFraction, on.InstanceHours, actions(on))
			if ex.seasonal {
				if 2*on.UnderProvisionedSamples > off.UnderProvisionedSamples {
					t.Errorf("under-provisioned %d with forecasts, want at most half of %d", on.UnderProvisionedSamples, off.UnderProvisionedSamples)
				}
				if on.InstanceHours > 1.05*off.InstanceHours {
					t.Errorf("instance-hours %.1f with forecasts, want at most 5%% above %.1f", on.InstanceHours, off.InstanceHours)
				}
				if float64(actions(on)) > 1.2*float64(actions(off)) {
					t.Errorf("%d actions with forecasts, want at most 1.2x %d", actions(on), actions(off))
				}
				return
			}
			if on.UnderProvisionedFraction > off.UnderProvisionedFraction+0.005 {
				t.Errorf("under-provisioned %.2f%% with forecasts, want within 0.5 points of %.2f%%", 100*on.UnderProvisionedFraction, 100*off.UnderProvisionedFraction)
			}
			if on.InstanceHours > 1.02*off.InstanceHours {
				t.Errorf("instance-hours %.1f with forecasts, want at most 2%% above %.1f", on.InstanceHours, off.InstanceHours)
			}
		})
	}
}

func BenchmarkRunExample(b *testing.B) {
	for _, ex := range examples[:2] {
		p, s := loadExample(b, ex)
		for _, mode := range []policy.PredictiveMode{policy.PredictOff, policy.PredictForecastAndScale} {
			b.Run(ex.policy+"/"+string(mode), func(b *testing.B) {
				p.Predictive.Mode = mode
				b.ReportAllocs()
				var ru0, ru1 syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
				for i := 0; i < b.N; i++ {
					if _, err := Run(Config{Policy: p, RecordedSize: ex.recorded}, s); err != nil {
						b.Fatal(err)
					}
				}
				// CPU time swings far less than wall time with the
				// shared machine's load (it includes the collector's).
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
				b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(len(s.Times))*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// TestTimelineMatchesSummary: the per-sample records the report draws from
// add up to the summary: one event per action, one Under mark per
// under-provisioned sample, and skill and trust wherever a forecast was made.
func TestTimelineMatchesSummary(t *testing.T) {
	p, s := loadExample(t, examples[0])
	res, err := Run(Config{Policy: p, RecordedSize: examples[0].recorded}, s)
	if err != nil {
		t.Fatal(err)
	}
	sum := res.Summary
	if len(res.Events) != sum.ScaleOuts+sum.ScaleIns {
		t.Fatalf("%d events for %d actions", len(res.Events), sum.ScaleOuts+sum.ScaleIns)
	}
	outs := 0
	for i, e := range res.Events {
		if e.To > e.From {
			outs++
		}
		if i > 0 && (e.At < res.Events[i-1].At || e.From != res.Events[i-1].To) {
			t.Fatalf("event %d %+v does not follow %+v", i, e, res.Events[i-1])
		}
	}
	under, scored, trusted := 0, 0, 0
	for i := range res.Times {
		if res.Under[i] {
			under++
		}
		if sk := res.Skill[0][i]; sk == sk {
			scored++
		}
		if res.Trusted[0][i] {
			trusted++
		}
	}
	if outs != sum.ScaleOuts || under != sum.UnderProvisionedSamples {
		t.Fatalf("%d scale-out events, %d under marks; summary %+v", outs, under, sum)
	}
	if scored == 0 || trusted > scored {
		t.Fatalf("skill scored at %d samples, trusted at %d", scored, trusted)
	}
	p.Predictive.Mode = policy.PredictOff
	res, err = Run(Config{Policy: p}, s)
	if err != nil || res.Skill != nil || res.Trusted != nil {
		t.Fatalf("prediction off: %v, skill %v", err, res.Skill != nil)
	}
}
