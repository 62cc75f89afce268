package sqs

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkRead measures one Read against the emulator over loopback HTTP:
// validation, SDK serialization, SigV4 signing, the round trip, the
// emulator's work and JSON decoding. It reports the per-read p50 and p99
// as well as the mean (ns/op).
func BenchmarkRead(b *testing.B) {
	h := newHarness(b, Options{})
	url := h.emu.CreateQueue("bench")
	if err := h.emu.SetDepth(url, 1200, 34); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name     string
		inFlight bool
	}{{"Visible", false}, {"WithInFlight", true}} {
		b.Run(bc.name, func(b *testing.B) {
			src := source(url, bc.inFlight)
			// Warm the region client and the connection pool.
			if _, _, err := h.rd.Read(ctx, src); err != nil {
				b.Fatal(err)
			}
			var durations []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, _, err := h.rd.Read(ctx, src); err != nil {
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
		})
	}
}
