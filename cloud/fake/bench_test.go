package fake_test

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/fake"
)

// BenchmarkDescribe10k describes 10,000 groups of the fake cloud over
// HTTP (the client of `capstan fakecloud`): DescribeBatch (100 names a
// call) against one Describe per group. Run with -benchtime 1x; the
// figures are in BENCHMARKS.md (issue 15).
func BenchmarkDescribe10k(b *testing.B) {
	c := fake.New(fake.Options{})
	counter := &drivertest.RequestCounter{Next: fake.NewHandler(c)}
	srv := httptest.NewServer(counter)
	b.Cleanup(srv.Close)
	cl := fake.NewClient(srv.URL, nil)
	refs := make([]cloud.GroupRef, 10000)
	for i := range refs {
		name := fmt.Sprintf("group-%05d", i)
		if err := c.CreateGroup(name, 0, 10, 2); err != nil {
			b.Fatal(err)
		}
		refs[i] = cloud.GroupRef{Provider: "fake", Group: name}
	}
	drivertest.BenchDescribeAll(b, refs, cl, cl, counter.Count)
}
