package gcpemu_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

func TestListFilterAndPaging(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{PageSize: 4})
	for i := range 10 {
		ref := cloud.GroupRef{Provider: "gcp", Project: "proj-1", Zone: "us-central1-a", Group: fmt.Sprintf("g-%02d", i)}
		var as *gcpemu.Autoscaler
		if i%2 == 0 {
			as = &gcpemu.Autoscaler{Min: 1, Max: 9}
		}
		if err := e.CreateGroup(ref, i, as); err != nil {
			t.Fatal(err)
		}
	}
	// Another zone's and another project's groups are never listed.
	for _, ref := range []cloud.GroupRef{
		{Provider: "gcp", Project: "proj-1", Zone: "us-central1-b", Group: "g-00"},
		{Provider: "gcp", Project: "proj-2", Zone: "us-central1-a", Group: "g-01"},
	} {
		if err := e.CreateGroup(ref, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/"
	tests := []struct {
		name, collection, filter, maxResults string
		want                                 []string
		wantPages                            []int
	}{
		{"every group in pages of the emulator's size", "instanceGroupManagers", "", "", names(0, 10, 1), []int{4, 4, 2}},
		{"maxResults below the page size", "instanceGroupManagers", "", "3", names(0, 10, 1), []int{3, 3, 3, 1}},
		{"a regular expression of alternatives", "instanceGroupManagers", `name eq "(?:g-01|g-07|nope)"`, "", []string{"g-01", "g-07"}, []int{2}},
		{"unquoted regular expression", "instanceGroupManagers", `name eq g-0[0-2]`, "", names(0, 3, 1), []int{3}},
		{"the expression matches whole names", "instanceGroupManagers", `name eq 'g-0'`, "", nil, []int{0}},
		{"ne", "instanceGroupManagers", `name ne "g-0[1-9]"`, "", []string{"g-00"}, []int{1}},
		{"literal equality", "instanceGroupManagers", `name = "g-05"`, "", []string{"g-05"}, []int{1}},
		{"autoscalers, of the groups that have one", "autoscalers", "", "", names(0, 10, 2), []int{4, 1}},
		{"autoscalers filtered", "autoscalers", `name eq "(?:g-02|g-03)"`, "", []string{"g-02"}, []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var pages []int
			token := ""
			for {
				q := url.Values{}
				if tc.filter != "" {
					q.Set("filter", tc.filter)
				}
				if tc.maxResults != "" {
					q.Set("maxResults", tc.maxResults)
				}
				if token != "" {
					q.Set("pageToken", token)
				}
				status, body := do(t, http.MethodGet, base+tc.collection+"?"+q.Encode())
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, body)
				}
				var n int
				if tc.collection == "autoscalers" {
					var l computepb.AutoscalerList
					if err := protojson.Unmarshal(body, &l); err != nil {
						t.Fatal(err)
					}
					for _, it := range l.GetItems() {
						got = append(got, it.GetName())
						if it.GetAutoscalingPolicy().GetMaxNumReplicas() != 9 {
							t.Fatalf("autoscaler %s: %v", it.GetName(), it.GetAutoscalingPolicy())
						}
					}
					n, token = len(l.GetItems()), l.GetNextPageToken()
				} else {
					var l computepb.InstanceGroupManagerList
					if err := protojson.Unmarshal(body, &l); err != nil {
						t.Fatal(err)
					}
					for _, it := range l.GetItems() {
						got = append(got, it.GetName())
					}
					n, token = len(l.GetItems()), l.GetNextPageToken()
				}
				pages = append(pages, n)
				if token == "" {
					break
				}
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(pages, tc.wantPages) {
				t.Fatalf("listed %v in pages %v, want %v in %v", got, pages, tc.want, tc.wantPages)
			}
		})
	}
	for _, tc := range []struct{ name, query string }{
		{"maxResults above 500", "maxResults=501"},
		{"maxResults not a number", "maxResults=many"},
		{"bad page token", "pageToken=x"},
		{"page token past the end", "pageToken=99"},
		{"filter on another field", url.Values{"filter": {`zone eq "x"`}}.Encode()},
		{"filter without a value", url.Values{"filter": {`name eq`}}.Encode()},
		{"filter with a bad expression", url.Values{"filter": {`name eq "(g"`}}.Encode()},
		{"filter with an unknown operator", url.Values{"filter": {`name ~ "g"`}}.Encode()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, http.MethodGet, base+"instanceGroupManagers?"+tc.query)
			var eb struct {
				Error struct {
					Errors []struct{ Reason string } `json:"errors"`
				} `json:"error"`
			}
			_ = json.Unmarshal(body, &eb)
			if status != http.StatusBadRequest || len(eb.Error.Errors) != 1 || eb.Error.Errors[0].Reason != "invalid" {
				t.Fatalf("status %d, body %s; want 400 invalid", status, body)
			}
		})
	}
	t.Run("regional lists have the regional kind", func(t *testing.T) {
		ref := cloud.GroupRef{Provider: "gcp", Project: "proj-1", Region: "europe-west4", Group: "r-1"}
		if err := e.CreateGroup(ref, 2, &gcpemu.Autoscaler{Min: 0, Max: 5}); err != nil {
			t.Fatal(err)
		}
		rbase := srv.URL + "/compute/v1/projects/proj-1/regions/europe-west4/"
		for coll, kind := range map[string]string{"instanceGroupManagers": "compute#regionInstanceGroupManagerList", "autoscalers": "compute#regionAutoscalerList"} {
			status, body := do(t, http.MethodGet, rbase+coll)
			var l struct{ Kind string }
			if err := json.Unmarshal(body, &l); err != nil || status != http.StatusOK || l.Kind != kind {
				t.Fatalf("%s: status %d, kind %q, want %s", coll, status, l.Kind, kind)
			}
		}
	})
}

// names is g-FROM .. g-(TO-1) in steps of step.
func names(from, to, step int) []string {
	var out []string
	for i := from; i < to; i += step {
		out = append(out, fmt.Sprintf("g-%02d", i))
	}
	return out
}

// TestRateLimit: each project has its own buckets; over the limit a call
// is answered 403 rateLimitExceeded in the usageLimits domain, changes
// nothing, consumes no fault, and is logged and counted as throttled.
func TestRateLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e, srv := setup(t, gcpemu.Options{Now: clk.Now, RateLimit: emukit.RateLimit{ReadsPerSecond: 1, WritesPerSecond: 1, Burst: 1}})
	other := cloud.GroupRef{Provider: "gcp", Project: "proj-2", Zone: "us-central1-a", Group: "api"}
	for _, ref := range []cloud.GroupRef{zref, other} {
		if err := e.CreateGroup(ref, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Group: "web", Kind: gcpemu.NotFound}); err != nil {
		t.Fatal(err)
	}
	get := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web"
	if status, _ := do(t, http.MethodGet, get); status != http.StatusNotFound {
		t.Fatalf("first get: %d, want the injected 404", status)
	}
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpGet, Group: "web", Kind: gcpemu.NotFound}); err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.MethodGet, get)
	var eb struct {
		Error struct {
			Code   int
			Errors []struct{ Domain, Reason string } `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || status != http.StatusForbidden || eb.Error.Errors[0].Reason != "rateLimitExceeded" || eb.Error.Errors[0].Domain != "usageLimits" {
		t.Fatalf("second get: %d %s, want 403 rateLimitExceeded", status, body)
	}
	// Another project has its own bucket.
	if status, _ := do(t, http.MethodGet, srv.URL+"/compute/v1/projects/proj-2/zones/us-central1-a/instanceGroupManagers/api"); status != http.StatusOK {
		t.Fatalf("other project: %d", status)
	}
	resize := get + "/resize?size=5"
	if status, _ := do(t, http.MethodPost, resize); status != http.StatusOK {
		t.Fatalf("first resize: %d", status)
	}
	if status, _ := do(t, http.MethodPost, get+"/resize?size=7"); status != http.StatusForbidden {
		t.Fatalf("second resize: %d, want 403", status)
	}
	if n, _ := e.Desired(zref); n != 5 {
		t.Fatalf("target size %d after a throttled resize to 7, want 5", n)
	}
	clk.Advance(time.Second)
	if status, _ := do(t, http.MethodGet, get); status != http.StatusNotFound {
		t.Fatalf("get after the refill: %d, want the fault the throttled call left queued (404)", status)
	}
	if e.Throttled() != 2 {
		t.Fatalf("Throttled() = %d, want 2", e.Throttled())
	}
	var logged int
	for _, c := range e.Calls() {
		if c.Throttled {
			logged++
		}
	}
	if logged != 2 {
		t.Fatalf("%d throttled calls logged, want 2", logged)
	}
}
