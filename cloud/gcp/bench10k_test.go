package gcp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// BenchmarkDescribe10k describes 10,000 groups of 2 instances, each with
// an autoscaler, in 4 zones of a project: DescribeBatch (each zone's
// groups and autoscalers listed whole, 500 a page) against one Describe
// (the group and its autoscaler) per group. Run with -benchtime 1x; the
// figures are in BENCHMARKS.md (issue 15).
func BenchmarkDescribe10k(b *testing.B) {
	emu := gcpemu.New(gcpemu.Options{})
	counter := &drivertest.RequestCounter{Next: emu}
	srv := httptest.NewServer(counter)
	b.Cleanup(srv.Close)
	d, err := gcp.New(context.Background(), gcp.Options{
		Endpoint:      srv.URL,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	refs := make([]cloud.GroupRef, 10000)
	for i := range refs {
		refs[i] = cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: fmt.Sprintf("us-central1-%c", 'a'+i%4), Group: fmt.Sprintf("group-%05d", i)}
		if err := emu.CreateGroup(refs[i], 2, &gcpemu.Autoscaler{Min: 0, Max: 10}); err != nil {
			b.Fatal(err)
		}
	}
	drivertest.BenchDescribeAll(b, refs, d, d, counter.Count)
}
