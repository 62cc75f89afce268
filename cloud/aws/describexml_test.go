package aws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/schemas"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// read is what the driver reads of a decoded answer (state, describeChunk).
type read struct {
	Name, Status       string
	Min, Max, Desired  int32
	States             []string
	HasMin, HasDesired bool
}

func readOf(o *autoscaling.DescribeAutoScalingGroupsOutput) ([]read, string) {
	var out []read
	for _, g := range o.AutoScalingGroups {
		r := read{Name: awssdk.ToString(g.AutoScalingGroupName), Status: awssdk.ToString(g.Status),
			Min: awssdk.ToInt32(g.MinSize), Max: awssdk.ToInt32(g.MaxSize), Desired: awssdk.ToInt32(g.DesiredCapacity),
			HasMin: g.MinSize != nil, HasDesired: g.DesiredCapacity != nil}
		for _, in := range g.Instances {
			r.States = append(r.States, string(in.LifecycleState))
		}
		out = append(out, r)
	}
	return out, awssdk.ToString(o.NextToken)
}

// sdkDecode decodes an answer with the SDK's own awsQuery decoder.
func sdkDecode(doc []byte) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return protocolDecode(awsquery.New(schemas.AutoScaling_2011_01_01), doc)
}

func protocolDecode(p smithyhttp.ClientProtocol, doc []byte) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	op := smithy.NewOperationSchema(schemas.DescribeAutoScalingGroups, schemas.AutoScalingGroupNamesType, schemas.AutoScalingGroupsType)
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusOK, Header: http.Header{},
		ContentLength: int64(len(doc)), Body: io.NopCloser(bytes.NewReader(doc))}}
	out := &autoscaling.DescribeAutoScalingGroupsOutput{}
	err := p.DeserializeResponse(context.Background(), op, autoscaling.TypeRegistry, resp, out)
	return out, err
}

// emulatorAnswer records awsemu's answer to the driver's describe of
// the names, asking for at most maxRecords groups a page.
func emulatorAnswer(t testing.TB, emu *awsemu.Emulator, maxRecords int32, names ...string) []byte {
	t.Helper()
	var page []byte
	record := roundTrip(func(r *http.Request) (*http.Response, error) {
		w := httptest.NewRecorder()
		emu.ServeHTTP(w, r)
		page = bytes.Clone(w.Body.Bytes())
		return w.Result(), nil
	})
	drv, err := New(context.Background(), Options{BaseEndpoint: "http://aws.invalid", HTTPClient: &http.Client{Transport: record},
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.client(testRegion).DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: names, MaxRecords: awssdk.Int32(maxRecords)}); err != nil {
		t.Fatal(err)
	}
	return page
}

// TestDescribeDecoderMatchesSDK: the driver's decoder reads what the
// SDK's decoder reads from the emulator's answers and from hand-made ones
// in AWS's shape, and hands what it does not decode itself (references,
// CDATA, prefixes, odd numbers) to the SDK's decoder, which then decodes
// it as it would have.
func TestDescribeDecoderMatchesSDK(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	emu := awsemu.New(awsemu.Options{Now: func() time.Time { return now }, BootDelay: time.Minute})
	for name, sizes := range map[string][3]int{"a": {0, 10, 3}, "b": {0, 5, 0}, "c": {2, 20, 2}} {
		if err := emu.CreateGroup(name, sizes[0], sizes[1], sizes[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := emu.SetStatus("c", "Delete in progress"); err != nil {
		t.Fatal(err)
	}
	// Two Pending instances next to the three InService ones.
	drv := newHarnessDriver(t, emu)
	if err := drv.SetDesired(context.Background(), ref("a"), 5); err != nil {
		t.Fatal(err)
	}
	page := func(groups string) string {
		return `<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>` + groups + `</AutoScalingGroups>
    <NextToken>tok</NextToken>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</DescribeAutoScalingGroupsResponse>`
	}
	group := func(name, inner string) string {
		return `<member><AutoScalingGroupName>` + name + `</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>9</MaxSize>` +
			`<DesiredCapacity>2</DesiredCapacity>` + inner + `</member>`
	}
	for _, tc := range []struct {
		name string
		doc  string
		fast bool // decoded without the SDK's decoder
	}{
		{"emulator: two of three groups, pending, NextToken", string(emulatorAnswer(t, emu, 2, "a", "b", "c")), true},
		{"emulator: empty", string(emulatorAnswer(t, emu, 50, "missing")), true},
		{"instances with nested launch templates and tags", page(group("web", `<Instances><member><InstanceId>i-1</InstanceId>`+
			`<LaunchTemplate><LaunchTemplateName>x</LaunchTemplateName></LaunchTemplate><LifecycleState>InService</LifecycleState></member>`+
			`<member><LifecycleState>Pending:Wait</LifecycleState></member><member><LifecycleState>Warmed:Hibernated</LifecycleState></member></Instances>`+
			`<Tags><member><Key>MinSize</Key><Value>77</Value></member></Tags>`)), true},
		{"self-closing and empty elements, a comment", page(group("web", `<Status/><Instances></Instances><!-- note -->`)), true},
		{"an entity in a name", page(group("a&amp;b", "")), false},
		{"a character reference in a state", page(group("web", `<Instances><member><LifecycleState>InService&#x20;</LifecycleState></member></Instances>`)), false},
		{"CDATA", page(group("<![CDATA[web]]>", "")), false},
		{"a carriage return in a name", page(group("web\r\n", "")), false},
		{"a prefixed element", page(`<x:member xmlns:x="u"><AutoScalingGroupName>w</AutoScalingGroupName></x:member>`), false},
		{"a name in another case", strings.Replace(page(group("web", "")), "<MinSize>1</MinSize>", "<minsize>4</minsize>", 1), false},
		{"list items not named member", strings.ReplaceAll(page(group("web", `<Instances><item><LifecycleState>InService</LifecycleState></item></Instances>`)),
			"member>", "item>"), true},
		{"a second result", strings.Replace(page(group("web", "")), "<ResponseMetadata>",
			"<DescribeAutoScalingGroupsResult><AutoScalingGroups>"+group("db", "")+"</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata>", 1), false},
		{"a result element nested before the result", strings.Replace(page(group("web", "")), "<DescribeAutoScalingGroupsResult>",
			"<Meta><DescribeAutoScalingGroupsResult><AutoScalingGroups>"+group("db", "")+"</AutoScalingGroups></DescribeAutoScalingGroupsResult></Meta><DescribeAutoScalingGroupsResult>", 1), false},
		{"a result element as the root", `<DescribeAutoScalingGroupsResult><AutoScalingGroups>` + group("web", "") + `</AutoScalingGroups></DescribeAutoScalingGroupsResult>`, false},
		{"a size with a plus sign", strings.Replace(page(group("web", "")), "<MinSize>1<", "<MinSize>+1<", 1), false},
		{"a size past int32", strings.Replace(page(group("web", "")), "<MaxSize>9<", "<MaxSize>2147483648<", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var direct autoscaling.DescribeAutoScalingGroupsOutput
			if got := decodeDescribe([]byte(tc.doc), &direct); got != tc.fast {
				t.Fatalf("decoded without the SDK's decoder: %v, want %v", got, tc.fast)
			}
			want, wantErr := sdkDecode([]byte(tc.doc))
			got, err := protocolDecode(newDescribeProtocol(awsquery.New(schemas.AutoScaling_2011_01_01)), []byte(tc.doc))
			if wantErr != nil || err != nil {
				// The SDK refuses it (a size past int32): so does the driver.
				if wantErr == nil || err == nil || err.Error() != wantErr.Error() {
					t.Fatalf("driver's decoder: %v; SDK's decoder: %v", err, wantErr)
				}
				return
			}
			gr, gt := readOf(got)
			wr, wt := readOf(want)
			if !reflect.DeepEqual(gr, wr) || gt != wt {
				t.Errorf("driver's decoder read %+v next %q\nSDK's decoder read %+v next %q", gr, gt, wr, wt)
			}
			if len(wr) == 0 && strings.Contains(tc.doc, "<member>") {
				t.Error("the SDK decoded no group: the case tests nothing")
			}
		})
	}
}

// newHarnessDriver is a driver against emu over loopback HTTP.
func newHarnessDriver(t *testing.T, emu *awsemu.Emulator) *Driver {
	t.Helper()
	hermetic(t)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	drv, err := New(context.Background(), Options{BaseEndpoint: srv.URL, Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return drv
}

// FuzzDescribeDecoder: whatever both decoders accept, the driver's reads
// as the SDK's does.
//
//	go test -run '^$' -fuzz '^FuzzDescribeDecoder$' -fuzztime 30s ./cloud/aws/
func FuzzDescribeDecoder(f *testing.F) {
	emu := awsemu.New(awsemu.Options{})
	for _, n := range []string{"a", "b"} {
		if err := emu.CreateGroup(n, 0, 4, 2); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(emulatorAnswer(f, emu, 50, "a", "b"))
	f.Add([]byte(`<R><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>x</AutoScalingGroupName>` +
		`<MinSize>1</MinSize><Instances><member><LifecycleState>Pending</LifecycleState></member></Instances></member>` +
		`</AutoScalingGroups><NextToken>n</NextToken></DescribeAutoScalingGroupsResult></R>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var got autoscaling.DescribeAutoScalingGroupsOutput
		if !decodeDescribe(doc, &got) {
			return // the SDK's decoder takes it
		}
		want, err := sdkDecode(doc)
		if err != nil {
			// The SDK's decoder also refuses answers for a bad value in a
			// field the driver does not read (an empty boolean, say),
			// which the driver's decoder does not look at. A bad value
			// in a field it reads sends it to the SDK's decoder.
			return
		}
		gr, gt := readOf(&got)
		wr, wt := readOf(want)
		if !reflect.DeepEqual(gr, wr) || gt != wt {
			t.Fatalf("%q\ndriver's decoder read %+v next %q\nSDK's decoder read %+v next %q", doc, gr, gt, wr, wt)
		}
	})
}

// TestDriverDecodesDescribes: the driver's clients decode describes with
// describeProtocol. The answer has an empty boolean in a field the driver
// does not read, which the SDK's decoder refuses and the driver's skips.
func TestDriverDecodesDescribes(t *testing.T) {
	hermetic(t)
	answer := `<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups>
<member><AutoScalingGroupName>web</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>9</MaxSize><DesiredCapacity>3</DesiredCapacity>
<NewInstancesProtectedFromScaleIn></NewInstancesProtectedFromScaleIn>
<Instances><member><LifecycleState>InService</LifecycleState></member><member><LifecycleState>InService</LifecycleState></member>
<member><LifecycleState>Pending:Wait</LifecycleState></member></Instances></member>
</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`
	if _, err := sdkDecode([]byte(answer)); err == nil {
		t.Fatal("the SDK's decoder accepts the answer: the test cannot tell the decoders apart")
	}
	replay := roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/xml"}},
			Body: io.NopCloser(strings.NewReader(answer)), Request: r}, nil
	})
	drv, err := New(context.Background(), Options{BaseEndpoint: "http://aws.invalid", HTTPClient: &http.Client{Transport: replay},
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := drv.Describe(context.Background(), ref("web"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (cloud.GroupState{Desired: 3, Min: 1, Max: 9, InService: 2, Pending: 1}); gs != want {
		t.Errorf("described %+v, want %+v", gs, want)
	}
}

// TestDescribeDecoderPageCapacity: the decoder sizes a page's slice by
// the groups in it, so a single describe does not pay for a batch page's
// 100 (a group's struct is large).
func TestDescribeDecoderPageCapacity(t *testing.T) {
	emu := awsemu.New(awsemu.Options{})
	all := make([]string, recordsPerPage)
	for i := range all {
		all[i] = fmt.Sprintf("cap-%03d", i)
		if err := emu.CreateGroup(all[i], 0, 10, 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{1, 3, recordsPerPage} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var o autoscaling.DescribeAutoScalingGroupsOutput
			if !decodeDescribe(emulatorAnswer(t, emu, recordsPerPage, all[:n]...), &o) {
				t.Fatal("the emulator's answer went to the SDK's decoder")
			}
			if len(o.AutoScalingGroups) != n || cap(o.AutoScalingGroups) != n {
				t.Fatalf("%d groups in a slice of capacity %d, want %d in %d", len(o.AutoScalingGroups), cap(o.AutoScalingGroups), n, n)
			}
		})
	}
}
