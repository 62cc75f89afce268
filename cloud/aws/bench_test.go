package aws

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
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

// BenchmarkDescribe10k describes 10,000 groups of 2 instances in one
// region: DescribeBatch (100 names a call) against one Describe per group.
// Run with -benchtime 1x; the figures are in BENCHMARKS.md (issue 15).
func BenchmarkDescribe10k(b *testing.B) {
	hermetic(b)
	emu := awsemu.New(awsemu.Options{})
	counter := &drivertest.RequestCounter{Next: emu}
	srv := httptest.NewServer(counter)
	b.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
	})
	if err != nil {
		b.Fatal(err)
	}
	refs := make([]cloud.GroupRef, 10000)
	for i := range refs {
		name := fmt.Sprintf("group-%05d", i)
		if err := emu.CreateGroup(name, 0, 10, 2); err != nil {
			b.Fatal(err)
		}
		refs[i] = ref(name)
	}
	drivertest.BenchDescribeAll(b, refs, drv, drv, counter.Count)
}
