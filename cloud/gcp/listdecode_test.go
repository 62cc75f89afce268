package gcp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// emulatorLists is gcpemu's answer to one full page (500) of a zone's
// instance group managers and of its autoscalers: the load run's groups
// of 3 instances, each with an autoscaler.
func emulatorLists(tb testing.TB, n int) (groups, autoscalers []byte) {
	tb.Helper()
	emu := gcpemu.New(gcpemu.Options{})
	const zone = "us-central1-a"
	for i := range n {
		ref := cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: zone, Group: fmt.Sprintf("capstan-load-%05d", i)}
		if err := emu.CreateGroup(ref, 3, &gcpemu.Autoscaler{Min: 1, Max: 50}); err != nil {
			tb.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	tb.Cleanup(srv.Close)
	get := func(kind string) []byte {
		resp, err := http.Get(fmt.Sprintf("%s/compute/v1/projects/%s/zones/%s/%s?maxResults=500", srv.URL, testProject, zone, kind))
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("listing %s: %d %s %v", kind, resp.StatusCode, b, err)
		}
		return b
	}
	return get("instanceGroupManagers"), get("autoscalers")
}

// BenchmarkListDecode measures decoding one full list page of 500
// instance group managers and of 500 autoscalers, per item, with the
// SDK's decoder (protojson, with the options its REST clients use) and
// with the driver's (listjson.go): what the leader's refresh decodes for
// 10,000 groups every 15 s (issue 15).
//
//	go test -run '^$' -bench ListDecode -benchmem ./cloud/gcp/
func BenchmarkListDecode(b *testing.B) {
	const items = 500
	groups, autoscalers := emulatorLists(b, items)
	unm := protojson.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}
	for _, c := range []struct {
		name   string
		page   []byte
		msg    func() proto.Message
		driver func([]byte) (int, bool)
	}{
		{"instanceGroupManagers", groups, func() proto.Message { return &computepb.InstanceGroupManagerList{} },
			func(b []byte) (int, bool) { it, _, ok := gcp.DecodeGroupList(b); return len(it), ok }},
		{"autoscalers", autoscalers, func() proto.Message { return &computepb.AutoscalerList{} },
			func(b []byte) (int, bool) { it, _, ok := gcp.DecodeAutoscalerList(b); return len(it), ok }},
	} {
		b.Run("list="+c.name+"/decoder=sdk", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.page)))
			for b.Loop() {
				if err := unm.Unmarshal(c.page, c.msg()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(c.page))/items, "answer-B/item")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/item")
		})
		b.Run("list="+c.name+"/decoder=driver", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.page)))
			for b.Loop() {
				if n, ok := c.driver(c.page); !ok || n != items {
					b.Fatalf("decoded %d of %d (ok %v)", n, items, ok)
				}
			}
			b.ReportMetric(float64(len(c.page))/items, "answer-B/item")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/item")
		})
	}
}

// groupRead and scalerRead are what the batch describe reads of a list
// page's items: the fields igmState, listBounds and autoscalerBounds use,
// with their presence.
type groupRead struct {
	Name                                                  *string
	TargetSize                                            *int32
	HasActions                                            bool
	None, Refreshing, Creating, CreatingWithoutRetries    *int32
	Recreating, Restarting, Starting, Resuming, Verifying *int32
	HasStatus                                             bool
	IsStable                                              *bool
	Autoscaler                                            *string
}

type scalerRead struct {
	Name                           *string
	HasPolicy                      bool
	MinNumReplicas, MaxNumReplicas *int32
	Mode                           *string
}

func readGroups(items []*computepb.InstanceGroupManager) []groupRead {
	var out []groupRead
	for _, g := range items {
		r := groupRead{Name: g.Name, TargetSize: g.TargetSize}
		if a := g.CurrentActions; a != nil {
			r.HasActions = true
			r.None, r.Refreshing, r.Creating, r.CreatingWithoutRetries = a.None, a.Refreshing, a.Creating, a.CreatingWithoutRetries
			r.Recreating, r.Restarting, r.Starting, r.Resuming, r.Verifying = a.Recreating, a.Restarting, a.Starting, a.Resuming, a.Verifying
		}
		if s := g.Status; s != nil {
			r.HasStatus, r.IsStable, r.Autoscaler = true, s.IsStable, s.Autoscaler
		}
		out = append(out, r)
	}
	return out
}

func readScalers(items []*computepb.Autoscaler) []scalerRead {
	var out []scalerRead
	for _, a := range items {
		r := scalerRead{Name: a.Name}
		if p := a.AutoscalingPolicy; p != nil {
			r.HasPolicy, r.MinNumReplicas, r.MaxNumReplicas, r.Mode = true, p.MinNumReplicas, p.MaxNumReplicas, p.Mode
		}
		out = append(out, r)
	}
	return out
}

var sdkJSON = protojson.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true}

// compareGroups decodes page with both decoders; it reports whether the
// driver's read it and whether both did, and fails t when both did and
// read differently.
func compareGroups(t *testing.T, page []byte) (ok, both bool) {
	t.Helper()
	items, next, ok := gcp.DecodeGroupList(page)
	if !ok {
		return false, false
	}
	var want computepb.InstanceGroupManagerList
	if err := sdkJSON.Unmarshal(page, &want); err != nil {
		// protojson also refuses pages for a bad value in a field the
		// driver does not read, which its decoder does not look at.
		return true, false
	}
	got, exp := readGroups(items), readGroups(want.GetItems())
	if !reflect.DeepEqual(got, exp) || next != want.GetNextPageToken() {
		t.Fatalf("%q\ndriver's decoder read %+v next %q\nprotojson read %+v next %q", page, got, next, exp, want.GetNextPageToken())
	}
	return true, true
}

// compareScalers is compareGroups for autoscaler pages.
func compareScalers(t *testing.T, page []byte) (ok, both bool) {
	t.Helper()
	items, next, ok := gcp.DecodeAutoscalerList(page)
	if !ok {
		return false, false
	}
	var want computepb.AutoscalerList
	if err := sdkJSON.Unmarshal(page, &want); err != nil {
		return true, false
	}
	got, exp := readScalers(items), readScalers(want.GetItems())
	if !reflect.DeepEqual(got, exp) || next != want.GetNextPageToken() {
		t.Fatalf("%q\ndriver's decoder read %+v next %q\nprotojson read %+v next %q", page, got, next, exp, want.GetNextPageToken())
	}
	return true, true
}

// TestListDecodersMatchSDK: on the pages the emulator sends (and pages
// shaped like them), the driver's decoders read what protojson reads; on
// pages outside that shape they hand over to protojson (ok=false).
func TestListDecodersMatchSDK(t *testing.T) {
	groups, autoscalers := emulatorLists(t, 3)
	cases := []struct {
		name   string
		kind   string // "groups" or "autoscalers"
		page   string
		wantOK bool
	}{
		{"emulator's groups", "groups", string(groups), true},
		{"emulator's autoscalers", "autoscalers", string(autoscalers), true},
		{"every action, a token", "groups", `{"items":[{"name":"g","targetSize":9,"currentActions":{"none":1,"refreshing":1,"creating":1,"creatingWithoutRetries":1,` +
			`"recreating":1,"restarting":1,"starting":1,"resuming":1,"verifying":1,"abandoning":3,"deleting":0},"status":{"isStable":false,"autoscaler":"https://x/a"}}],"nextPageToken":"t\u0026"}`, true},
		{"unknown fields everywhere", "groups", `{"kind":"k","items":[{"x":{"targetSize":4},"name":"g","status":{"versionTarget":{"isReached":true},"isStable":true}}],"warning":{"code":"NO_RESULTS_ON_PAGE"}}`, true},
		{"an autoscaler without a policy", "autoscalers", `{"items":[{"name":"a"},{"name":"b","autoscalingPolicy":{"mode":"OFF","minNumReplicas":0,"maxNumReplicas":2147483647}}]}`, true},
		{"no items", "groups", `{"id":"x"}`, true},
		{"proto field name", "groups", `{"items":[{"name":"g","target_size":3}]}`, false},
		{"quoted number", "groups", `{"items":[{"name":"g","targetSize":"3"}]}`, false},
		{"fraction", "autoscalers", `{"items":[{"name":"a","autoscalingPolicy":{"maxNumReplicas":3.0}}]}`, false},
		{"above int32", "groups", `{"items":[{"name":"g","targetSize":2147483648}]}`, false},
		{"null", "groups", `{"items":[{"name":null}]}`, false},
		{"null item", "groups", `{"items":[null]}`, false},
		{"duplicate key", "autoscalers", `{"items":[{"name":"a","name":"b"}]}`, false},
		{"invalid UTF-8", "groups", "{\"items\":[{\"name\":\"g\xff\"}]}", false},
		{"trailing data", "groups", `{"items":[]}x`, false},
		{"not an object", "autoscalers", `[]`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ok, both bool
			if tc.kind == "groups" {
				ok, both = compareGroups(t, []byte(tc.page))
			} else {
				ok, both = compareScalers(t, []byte(tc.page))
			}
			if ok != tc.wantOK || ok && !both {
				t.Fatalf("ok = %v, want %v; protojson read it too: %v", ok, tc.wantOK, both)
			}
		})
	}
}

// FuzzGroupListDecoder: whenever the driver's decoder reads a page of
// groups and protojson accepts it, the two read the same.
func FuzzGroupListDecoder(f *testing.F) {
	groups, _ := emulatorLists(f, 2)
	f.Add(groups)
	f.Add([]byte(`{"items":[{"name":"g","targetSize":-0,"currentActions":{"none":2},"status":{"isStable":true,"autoscaler":"a\u00e9"}}],"nextPageToken":"n"}`))
	f.Fuzz(func(t *testing.T, page []byte) { compareGroups(t, page) })
}

// FuzzAutoscalerListDecoder is FuzzGroupListDecoder for autoscalers.
func FuzzAutoscalerListDecoder(f *testing.F) {
	_, autoscalers := emulatorLists(f, 2)
	f.Add(autoscalers)
	f.Add([]byte(`{"items":[{"name":"a","autoscalingPolicy":{"mode":"OFF","minNumReplicas":1,"maxNumReplicas":5}}],"nextPageToken":"n"}`))
	f.Fuzz(func(t *testing.T, page []byte) { compareScalers(t, page) })
}

// TestBatchDecodesListsItself: DescribeBatch reads list pages with the
// driver's decoders. The group page has a malformed value in a field the
// driver does not read (baseInstanceName as a number), which protojson
// refuses for the whole page; the autoscaler page is outside the plain
// shape (a quoted number) and goes to protojson.
func TestBatchDecodesListsItself(t *testing.T) {
	const groupPage = `{"items":[{"name":"web","baseInstanceName":7,"targetSize":3,"currentActions":{"none":2,"creating":1},` +
		`"status":{"isStable":false,"autoscaler":"https://compute.googleapis.com/compute/v1/projects/` + testProject + `/zones/us-central1-a/autoscalers/web-as"}}]}`
	const scalerPage = `{"items":[{"name":"web-as","autoscalingPolicy":{"mode":"OFF","minNumReplicas":"1","maxNumReplicas":9}}]}`
	if err := sdkJSON.Unmarshal([]byte(groupPage), &computepb.InstanceGroupManagerList{}); err == nil {
		t.Fatal("protojson accepts the group page: the test cannot tell the decoders apart")
	}
	var mu sync.Mutex
	var versions []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		versions = append(versions, r.Header.Get("x-goog-api-version"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/autoscalers") {
			io.WriteString(w, scalerPage)
			return
		}
		io.WriteString(w, groupPage)
	}))
	defer srv.Close()
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.DescribeBatch(context.Background(), []cloud.GroupRef{{Provider: "gcp", Project: testProject, Zone: "us-central1-a", Group: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.Described{{State: cloud.GroupState{Desired: 3, Min: 1, Max: 9, InService: 2, Pending: 1, Busy: true}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("described %+v, want %+v", got, want)
	}
	if len(versions) != 2 || versions[0] != gcp.APIVersion || versions[1] != gcp.APIVersion {
		t.Fatalf("the lists sent x-goog-api-version %q, want %q on both", versions, gcp.APIVersion)
	}
}

// TestListSendsTheSDKsAPIVersion: the driver's lists send the
// x-goog-api-version the SDK's own requests send, so a new SDK's version
// does not leave the lists behind.
func TestListSendsTheSDKsAPIVersion(t *testing.T) {
	emu := gcpemu.New(gcpemu.Options{})
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("x-goog-api-version")] = true
		mu.Unlock()
		emu.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ref := cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: "us-central1-a", Group: "web"}
	if err := emu.CreateGroup(ref, 2, &gcpemu.Autoscaler{Min: 0, Max: 5}); err != nil {
		t.Fatal(err)
	}
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Describe(context.Background(), ref); err != nil { // the SDK's gets
		t.Fatal(err)
	}
	if len(seen) != 1 || !seen[gcp.APIVersion] {
		t.Fatalf("the SDK's requests sent x-goog-api-version %v; the driver's lists send %q", seen, gcp.APIVersion)
	}
}

// replay answers a list of autoscalers with one recorded page and every
// other request with another.
type replay struct{ groups, autoscalers []byte }

func (p replay) RoundTrip(r *http.Request) (*http.Response, error) {
	page := p.groups
	if strings.HasSuffix(r.URL.Path, "/autoscalers") {
		page = p.autoscalers
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(page)), Body: io.NopCloser(strings.NewReader(string(page))), Request: r}, nil
}

// BenchmarkDescribePage measures the driver's whole cost of describing a
// zone's 500 groups, each with an autoscaler, in a batch (one list page of
// groups and one of autoscalers: the requests and the pages' decoding)
// with no network and no emulator in the loop: gcpemu's pages are
// recorded once and replayed. Per group, it is what the leader's refresh
// costs on GCP (667 groups a second for 10,000 every 15 s; issue 15).
//
//	go test -run '^$' -bench DescribePage -benchmem ./cloud/gcp/
func BenchmarkDescribePage(b *testing.B) {
	const items = 500
	groups, autoscalers := emulatorLists(b, items)
	d, err := gcp.New(context.Background(), gcp.Options{Endpoint: "http://gcp.invalid", ClientOptions: []option.ClientOption{
		option.WithoutAuthentication(), option.WithHTTPClient(&http.Client{Transport: replay{groups, autoscalers}})}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	refs := make([]cloud.GroupRef, items)
	for i := range refs {
		refs[i] = cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: "us-central1-a", Group: fmt.Sprintf("capstan-load-%05d", i)}
	}
	check := func() {
		out, err := d.DescribeBatch(context.Background(), refs)
		if err != nil {
			b.Fatal(err)
		}
		for i, o := range out {
			if o.Err != nil || o.State.Desired != 3 || o.State.Max != 50 {
				b.Fatalf("group %d: %+v, %v", i, o.State, o.Err)
			}
		}
	}
	check()
	b.ReportAllocs()
	for b.Loop() {
		check()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/group")
}
