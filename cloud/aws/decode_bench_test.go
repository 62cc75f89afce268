package aws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// BenchmarkDescribePage measures the driver's own cost of one full
// DescribeAutoScalingGroups page (50 groups of 3 instances, the load
// run's groups) with no network and no emulator in the loop: the page is
// recorded from awsemu once and every request is answered with its bytes.
// What is left is request building, signing and the SDK decoding the XML,
// which was most of an idle leader's CPU at 10,000 groups (issue 15). It
// reports per group: the answer's bytes, and the time, bytes allocated and
// allocations of decoding it.
//
//	go test -run '^$' -bench DescribePage -benchmem ./cloud/aws/
func BenchmarkDescribePage(b *testing.B) {
	hermetic(b)
	const groups, instances = 50, 3
	emu := awsemu.New(awsemu.Options{})
	refs := make([]cloud.GroupRef, groups)
	for i := range refs {
		name := fmt.Sprintf("capstan-load-%05d", i)
		if err := emu.CreateGroup(name, 0, 50, instances); err != nil {
			b.Fatal(err)
		}
		refs[i] = ref(name)
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Group
	}
	page := emulatorAnswer(b, emu, groups, names...)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	replay := roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/xml"}},
			ContentLength: int64(len(page)), Body: io.NopCloser(bytes.NewReader(page)), Request: r}, nil
	})
	drv, err := New(context.Background(), Options{BaseEndpoint: "http://aws.invalid", Credentials: creds, HTTPClient: &http.Client{Transport: replay}})
	if err != nil {
		b.Fatal(err)
	}
	check := func() {
		out, err := drv.DescribeBatch(ctx, refs)
		if err != nil {
			b.Fatal(err)
		}
		for i, d := range out {
			if d.Err != nil || d.State.InService != instances || d.State.Desired != instances {
				b.Fatalf("group %d: %+v, %v; want %d in service", i, d.State, d.Err, instances)
			}
		}
	}
	check()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		check()
	}
	b.StopTimer()
	b.ReportMetric(float64(len(page))/groups, "answer-B/group")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/groups, "ns/group")
}

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkDescribeDecode measures the driver's decoder alone on the
// same page as BenchmarkDescribePage: no request, no SDK.
//
//	go test -run '^$' -bench DescribeDecode -benchmem ./cloud/aws/
func BenchmarkDescribeDecode(b *testing.B) {
	hermetic(b)
	const groups, instances = 50, 3
	emu := awsemu.New(awsemu.Options{})
	names := make([]string, groups)
	for i := range names {
		names[i] = fmt.Sprintf("capstan-load-%05d", i)
		if err := emu.CreateGroup(names[i], 0, 50, instances); err != nil {
			b.Fatal(err)
		}
	}
	page := emulatorAnswer(b, emu, groups, names...)
	b.ReportAllocs()
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		var o autoscaling.DescribeAutoScalingGroupsOutput
		if !decodeDescribe(page, &o) || len(o.AutoScalingGroups) != groups {
			b.Fatalf("decoded %d groups of %d", len(o.AutoScalingGroups), groups)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/groups, "ns/group")
}
