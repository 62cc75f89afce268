package azure_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
)

// TestTargetIdentifiersFollowAzureRules: identifiers Azure would refuse,
// and above all those that could change the request path (issue 14:
// resource_group ".." addressed a scale set of no resource group at all),
// are refused before any request, naming the field.
func TestTargetIdentifiersFollowAzureRules(t *testing.T) {
	e, d := serve(t, azemu.Options{}, nil)
	for _, tc := range []struct {
		name  string
		g     cloud.GroupRef
		field string // "" means valid
	}{
		{"valid", ref("web"), ""},
		{"valid with dots and parentheses", cloud.GroupRef{Subscription: strings.ToUpper(testSub), ResourceGroup: "rg.prod(eu)", ScaleSet: "web_1.a"}, ""},
		{"subscription ..", cloud.GroupRef{Subscription: "..", ResourceGroup: testRG, ScaleSet: "web"}, "subscription"},
		{"subscription not a GUID", cloud.GroupRef{Subscription: "my-sub", ResourceGroup: testRG, ScaleSet: "web"}, "subscription"},
		{"subscription with a slash", cloud.GroupRef{Subscription: testSub + "/x", ResourceGroup: testRG, ScaleSet: "web"}, "subscription"},
		{"resource group ..", cloud.GroupRef{Subscription: testSub, ResourceGroup: "..", ScaleSet: "web"}, "resource_group"},
		{"resource group .", cloud.GroupRef{Subscription: testSub, ResourceGroup: ".", ScaleSet: "web"}, "resource_group"},
		{"resource group ending in a dot", cloud.GroupRef{Subscription: testSub, ResourceGroup: "rg.", ScaleSet: "web"}, "resource_group"},
		{"resource group with a slash", cloud.GroupRef{Subscription: testSub, ResourceGroup: "a/b", ScaleSet: "web"}, "resource_group"},
		{"resource group of 91", cloud.GroupRef{Subscription: testSub, ResourceGroup: strings.Repeat("r", 91), ScaleSet: "web"}, "resource_group"},
		{"scale set ..", cloud.GroupRef{Subscription: testSub, ResourceGroup: testRG, ScaleSet: ".."}, "scale_set"},
		{"scale set with a query", cloud.GroupRef{Subscription: testSub, ResourceGroup: testRG, ScaleSet: "web?x=1"}, "scale_set"},
		{"scale set starting with a hyphen", cloud.GroupRef{Subscription: testSub, ResourceGroup: testRG, ScaleSet: "-web"}, "scale_set"},
		{"scale set of 65", cloud.GroupRef{Subscription: testSub, ResourceGroup: testRG, ScaleSet: strings.Repeat("s", 65)}, "scale_set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.Calls())
			_, err := d.Describe(ctxT(t), tc.g)
			if tc.field == "" {
				if errors.Is(err, cloud.ErrInvalid) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), "azure: "+tc.field+" ") {
				t.Fatalf("%v, want ErrInvalid naming %s", err, tc.field)
			}
			if err := d.SetDesired(ctxT(t), tc.g, 1); !errors.Is(err, cloud.ErrInvalid) {
				t.Fatalf("SetDesired: %v, want ErrInvalid", err)
			}
			if n := len(e.Calls()) - before; n != 0 {
				t.Fatalf("%d requests reached Azure", n)
			}
		})
	}
}

// FuzzTargetPath: whatever the target fields, every request the driver
// sends addresses exactly the scale set they name: the path is
// /subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/SS
// (plus /instanceView), each segment decoding to the field, and no query
// but the api-version. A field that could change that is refused first.
func FuzzTargetPath(f *testing.F) {
	for _, s := range [][3]string{
		{testSub, testRG, "web"}, {"..", testRG, "web"}, {testSub, "..", "web"}, {testSub, testRG, ".."},
		{testSub, "a/../b", "web"}, {testSub, "rg", "web?api-version=1"}, {testSub, "%2e%2e", "web"}, {testSub, "rg#x", "w"},
		{testSub, "rg.prod(eu)", "w_1.a"}, {testSub, "ünïcode", "w"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	var (
		mu   sync.Mutex
		seen []*url.URL
	)
	transport := transportFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		seen = append(seen, req.URL)
		mu.Unlock()
		body := `{"error":{"code":"ResourceNotFound","message":"no"}}`
		return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	})
	e := azemu.New(azemu.Options{})
	opts := e.DriverOptions("https://management.example")
	opts.Transport = transport
	d, err := azure.New(context.Background(), opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sub, rg, ss string) {
		mu.Lock()
		seen = nil
		mu.Unlock()
		g := cloud.GroupRef{Provider: "azure", Subscription: sub, ResourceGroup: rg, ScaleSet: ss}
		_, derr := d.Describe(context.Background(), g)
		serr := d.SetDesired(context.Background(), g, 1)
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(derr, cloud.ErrInvalid) != errors.Is(serr, cloud.ErrInvalid) {
			t.Fatalf("Describe %v and SetDesired %v disagree on the target", derr, serr)
		}
		if errors.Is(derr, cloud.ErrInvalid) {
			if len(seen) != 0 {
				t.Fatalf("a refused target sent %d requests", len(seen))
			}
			return
		}
		want := []string{"", "subscriptions", sub, "resourceGroups", rg, "providers", "Microsoft.Compute", "virtualMachineScaleSets", ss}
		if len(seen) == 0 {
			t.Fatal("a valid target sent no request")
		}
		for _, u := range seen {
			segs := strings.Split(u.EscapedPath(), "/")
			if len(segs) == len(want)+1 && segs[len(segs)-1] == "instanceView" {
				segs = segs[:len(want)]
			}
			if len(segs) != len(want) {
				t.Fatalf("target %q/%q/%q: request path %s, want %d segments", sub, rg, ss, u.EscapedPath(), len(want))
			}
			for i, s := range segs {
				dec, err := url.PathUnescape(s)
				if err != nil || dec != want[i] {
					t.Fatalf("target %q/%q/%q: request path %s, segment %d is %q, want %q", sub, rg, ss, u.EscapedPath(), i, dec, want[i])
				}
			}
			if q := u.Query(); len(q) != 1 || q.Get("api-version") == "" {
				t.Fatalf("target %q/%q/%q: query %q, want only api-version", sub, rg, ss, u.RawQuery)
			}
		}
	})
}
