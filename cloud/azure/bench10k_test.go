package azure_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
)

// BenchmarkDescribe10k describes 10,000 scale sets of 2 instances in 10
// resource groups: DescribeBatch (a list per resource group, 100 a page,
// then an instance view per set) against one Describe (Get and
// GetInstanceView) per set. Run with -benchtime 1x; the figures are in
// BENCHMARKS.md (issue 15).
func BenchmarkDescribe10k(b *testing.B) {
	e := azemu.New(azemu.Options{})
	counter := &drivertest.RequestCounter{Next: e}
	srv := httptest.NewServer(counter)
	b.Cleanup(srv.Close)
	d, err := azure.New(context.Background(), e.DriverOptions(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	refs := make([]cloud.GroupRef, 10000)
	for i := range refs {
		rg, name := fmt.Sprintf("rg-%d", i%10), fmt.Sprintf("set-%05d", i)
		if err := e.CreateGroup(testSub, rg, name, 0, 10, 2); err != nil {
			b.Fatal(err)
		}
		refs[i] = cloud.GroupRef{Provider: "azure", Subscription: testSub, ResourceGroup: rg, ScaleSet: name}
	}
	drivertest.BenchDescribeAll(b, refs, d, d, counter.Count)
}
