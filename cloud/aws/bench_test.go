package aws

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// BenchmarkDriverOverhead measures one driver call against the emulator
// over loopback HTTP: SDK serialization, SigV4 signing, the round trip, the
// emulator's work and XML decoding. It reports the per-call p50 and p99 as
// well as the mean (ns/op). The group has 10 instances, a typical describe.
func BenchmarkDriverOverhead(b *testing.B) {
	h := newHarness(b, awsemu.Options{})
	if err := h.emu.CreateGroup("bench", 0, 20, 10); err != nil {
		b.Fatal(err)
	}
	g := ref("bench")
	ctx := context.Background()
	// Warm the region client and the connection pool.
	if _, err := h.drv.Describe(ctx, g); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, call func(i int) error) {
		var durations []time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			if err := call(i); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(durations)
		pct := func(p float64) float64 {
			return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds()) / 1e3
		}
		b.ReportMetric(pct(0.50), "p50-µs")
		b.ReportMetric(pct(0.99), "p99-µs")
	}
	b.Run("Describe", func(b *testing.B) {
		run(b, func(int) error {
			_, err := h.drv.Describe(ctx, g)
			return err
		})
	})
	b.Run("SetDesired", func(b *testing.B) {
		// Alternate sizes so every call is a real resize.
		run(b, func(i int) error { return h.drv.SetDesired(ctx, g, 10+i%2) })
	})
}
