package recommend

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// BenchmarkSearch7Days times the target: the default space (at
// least 100 candidates) over 7 days of 1-minute history, on every core
// (GOMAXPROCS). The policy evaluates every 30 s with prediction on, as the
// app-cpu example does. BENCHMARKS.md records a run.
func BenchmarkSearch7Days(b *testing.B) {
	p := testPolicy()
	p.EvaluationInterval = policy.Duration(30 * time.Second)
	p.Predictive.Mode = policy.PredictForecastAndScale
	p.Predictive.History = policy.Duration(7 * 24 * time.Hour)
	s := dailyTrace(7)
	sp := DefaultSpace(p, Floor(p, s, 0, 0.1))
	if sp.Size() < 100 {
		b.Fatalf("space of %d candidates, want >= 100", sp.Size())
	}
	n := 0
	for b.Loop() {
		res, err := Search(context.Background(), simulate.Config{Policy: p}, s, sp, runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		n = len(res.Candidates)
	}
	b.ReportMetric(float64(n), "candidates")
}
