package budget_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
)

// fastDriver answers at once, so a benchmark measures the budget.
type fastDriver struct{}

func (fastDriver) Describe(context.Context, cloud.GroupRef) (cloud.GroupState, error) {
	return cloud.GroupState{Desired: 1}, nil
}
func (fastDriver) SetDesired(context.Context, cloud.GroupRef, int) error { return nil }

// roundTripFunc answers requests without a network, so a benchmark
// measures the transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func benchBudget(b *testing.B) *budget.Budget {
	bud, err := budget.New(budget.Options{Read: budget.Rates{"aws": 1e9, "azure": 1e9}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	return bud
}

// BenchmarkDescribe is the budget's cost per call when a token is there:
// the driver alone, budgeted by a bucket that never runs dry, and
// unlimited (the fake provider: counted only).
func BenchmarkDescribe(b *testing.B) {
	bud := benchBudget(b)
	g := cloud.GroupRef{Provider: "aws", Group: "web", Region: "us-east-1"}
	for _, bc := range []struct {
		name string
		d    cloud.Driver
		g    cloud.GroupRef
	}{
		{"driver", fastDriver{}, g},
		{"budgeted", bud.Wrap("aws", fastDriver{}), g},
		{"unlimited", bud.Wrap("fake", fastDriver{}), cloud.GroupRef{Provider: "fake", Group: "web"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.d.Describe(ctx, bc.g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDescribeParallel: every goroutine's call takes the one
// account's lock.
func BenchmarkDescribeParallel(b *testing.B) {
	d := benchBudget(b).Wrap("aws", fastDriver{})
	g := cloud.GroupRef{Provider: "aws", Group: "web", Region: "us-east-1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := d.Describe(ctx, g); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMeteredDescribe: a describe of two HTTP requests (as Azure's)
// with and without the budget's transport, over a transport that answers
// at once.
func BenchmarkMeteredDescribe(b *testing.B) {
	ok := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	bud := benchBudget(b)
	for _, bc := range []struct {
		name string
		d    cloud.Driver
	}{
		{"driver", &httpDriver{base: "http://azure.invalid", client: &http.Client{Transport: ok}}},
		{"metered", bud.WrapMetered("azure", &httpDriver{base: "http://azure.invalid", client: &http.Client{Transport: bud.Transport("azure", ok)}})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.d.Describe(ctx, azRef); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
