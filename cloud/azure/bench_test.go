package azure_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
)

// BenchmarkDriverOverhead measures what one call costs on our side of the
// wire: the real SDK client and pipeline (bearer token, JSON, the
// Azure-AsyncOperation poller) against the in-process emulator over
// loopback HTTP. Describe is two requests (the scale set and its instance
// view); SetDesired is four (read, PATCH, one poll that finds the
// operation done, the poller's final GET). It reports the median and 99th
// percentile per call.
func BenchmarkDriverOverhead(b *testing.B) {
	e, d := serve(b, azemu.Options{}, func(o *azure.Options) { o.PollFrequency = time.Millisecond })
	if err := e.CreateGroup(testSub, testRG, "bench", 0, 0, 2); err != nil {
		b.Fatal(err)
	}
	g := ref("bench")
	ctx := context.Background()
	b.Run("Describe", func(b *testing.B) {
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := d.Describe(ctx, g); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		reportPercentiles(b, took)
	})
	b.Run("SetDesired", func(b *testing.B) {
		var took []time.Duration
		n := 2
		for b.Loop() {
			n = 5 - n // 3, 2, 3, ...: every call is a real update
			start := time.Now()
			if err := d.SetDesired(ctx, g, n); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		reportPercentiles(b, took)
	})
}

func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(p float64) float64 {
		return float64(took[int(p*float64(len(took)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
