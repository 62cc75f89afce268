package drivertest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/capstan-io/capstan/cloud"
)

// RequestCounter is an http.Handler that counts the requests it passes
// to Next: the provider calls a benchmark made.
type RequestCounter struct {
	Next http.Handler
	n    atomic.Int64
}

// ServeHTTP counts the request and serves it.
func (c *RequestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.Next.ServeHTTP(w, r)
}

// Count is how many requests have been served.
func (c *RequestCounter) Count() int64 { return c.n.Load() }

// singlesOnly hides a driver's batch call, so cloud.DescribeAll falls
// back to one Describe per group.
type singlesOnly struct{ cloud.Driver }

// BenchDescribeAll describes refs in two sub-benchmarks: "batch", through
// batch's DescribeBatch, and "singles", one Describe per group through d
// (what cloud.DescribeAll does for a driver without a batch call). Each
// reports calls/op (provider requests, as calls counts them) and
// groups/s, and cpu-ms/op, the CPU time the process (driver and emulator
// together) spent, which a machine shared with other work distorts less
// than the wall time; every group must be described without error.
func BenchDescribeAll(b *testing.B, refs []cloud.GroupRef, d cloud.Driver, batch cloud.BatchDescriber, calls func() int64) {
	for _, bc := range []struct {
		name string
		run  func(context.Context) ([]cloud.Described, error)
	}{
		{"batch", func(ctx context.Context) ([]cloud.Described, error) { return batch.DescribeBatch(ctx, refs) }},
		{"singles", func(ctx context.Context) ([]cloud.Described, error) {
			return cloud.DescribeAll(ctx, singlesOnly{d}, refs)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			start, cpu0 := calls(), cpuSeconds()
			var n int
			for b.Loop() {
				got, err := bc.run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for i, g := range got {
					if g.Err != nil {
						b.Fatalf("group %d (%s): %v", i, refs[i], g.Err)
					}
				}
				n++
			}
			if cpu0 >= 0 {
				b.ReportMetric((cpuSeconds()-cpu0)*1000/float64(n), "cpu-ms/op")
			}
			b.ReportMetric(float64(calls()-start)/float64(n), "calls/op")
			b.ReportMetric(float64(len(refs)*n)/b.Elapsed().Seconds(), "groups/s")
		})
	}
}
