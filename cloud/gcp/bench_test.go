package gcp_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// BenchmarkDriverOverhead measures the driver's cost per call against the
// in-process emulator over loopback HTTP: the SDK's request building and
// JSON decoding, the emulator's handling, and for SetDesired the read of
// the group and its autoscaler, the resize and the operation polls. In
// production the wait for Compute Engine dominates all of it.
func BenchmarkDriverOverhead(b *testing.B) {
	b.Run("describe", func(b *testing.B) {
		d, emu := newTestDriver(b, gcpemu.Options{}, time.Millisecond)
		g := zonal.ref("bench")
		if err := emu.CreateGroup(g, 3, &gcpemu.Autoscaler{Min: 1, Max: 100}); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if _, err := d.Describe(ctx, g); err != nil {
				b.Fatal(err)
			}
			durs = append(durs, time.Since(start))
		}
		report(b, durs)
	})
	// set_desired: the operation takes 1 ms and is polled every 1 ms, so
	// the figure includes a real poll wait. set_desired_no_wait: the
	// resize answers with a finished operation, so it is the driver's
	// overhead alone (three round trips: group, autoscaler, resize).
	for _, bc := range []struct {
		name  string
		delay time.Duration
	}{{"set_desired", time.Millisecond}, {"set_desired_no_wait", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			d, emu := newTestDriver(b, gcpemu.Options{OperationDelay: bc.delay}, time.Millisecond)
			g := zonal.ref("bench")
			if err := emu.CreateGroup(g, 3, &gcpemu.Autoscaler{Min: 1, Max: 100}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternate so that every call really resizes.
				n := 4 + i%2
				start := time.Now()
				if err := d.SetDesired(ctx, g, n); err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(start))
			}
			report(b, durs)
		})
	}
}

func report(b *testing.B, durs []time.Duration) {
	b.StopTimer()
	if len(durs) == 0 {
		return
	}
	slices.Sort(durs)
	pct := func(p float64) float64 {
		return float64(durs[int(p*float64(len(durs)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
