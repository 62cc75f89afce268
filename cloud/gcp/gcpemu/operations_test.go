package gcpemu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

const reqA = "0b5a4f0e-7d0c-4a52-9b8e-1f2d3c4b5a69"

// TestListOperations: the operation list filters by targetLink (and the
// other fields), orders newest first on request, pages, and refuses
// parameters it cannot read naming the parameter.
func TestListOperations(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	e, srv := setup(t, gcpemu.Options{Now: clk.Now})
	other := zref
	other.Group = "api"
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateGroup(other, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateGroup(rref, 1, nil); err != nil {
		t.Fatal(err)
	}
	zbase := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/"
	for _, size := range []string{"2", "3", "4"} {
		do(t, "POST", zbase+"instanceGroupManagers/web/resize?size="+size)
		clk.Advance(time.Second)
	}
	do(t, "POST", zbase+"instanceGroupManagers/api/resize?size=2&requestId="+reqA)
	do(t, "POST", srv.URL+"/compute/v1/projects/proj-1/regions/us-central1/instanceGroupManagers/web/resize?size=9")

	webLink := zbase + "instanceGroupManagers/web"
	list := func(t *testing.T, query url.Values) (int, *computepb.OperationList, string) {
		t.Helper()
		code, body := do(t, "GET", zbase+"operations?"+query.Encode())
		if code != 200 {
			return code, nil, string(body)
		}
		var l computepb.OperationList
		strict(t, body, &l)
		return code, &l, string(body)
	}
	sizes := func(l *computepb.OperationList) []string {
		var out []string
		for _, op := range l.GetItems() {
			out = append(out, op.GetInsertTime()[17:19]+"s")
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []string // insert seconds of the items, in order
		next  bool
	}{
		{"every operation of the zone", url.Values{}, []string{"00s", "01s", "02s", "03s"}, false},
		{"the group's, newest first", url.Values{"filter": {`targetLink = "` + webLink + `"`}, "orderBy": {"creationTimestamp desc"}}, []string{"02s", "01s", "00s"}, false},
		{"in parentheses with AND", url.Values{"filter": {`(targetLink = "` + webLink + `") AND (status = "DONE")`}}, []string{"00s", "01s", "02s"}, false},
		{"not equal", url.Values{"filter": {`targetLink != "` + webLink + `"`}}, []string{"03s"}, false},
		{"by request id", url.Values{"filter": {"clientOperationId = " + reqA}}, []string{"03s"}, false},
		{"a page", url.Values{"filter": {`targetLink = "` + webLink + `"`}, "maxResults": {"2"}, "orderBy": {"creationTimestamp desc"}}, []string{"02s", "01s"}, true},
		{"the next page", url.Values{"filter": {`targetLink = "` + webLink + `"`}, "maxResults": {"2"}, "orderBy": {"creationTimestamp desc"}, "pageToken": {"p2"}}, []string{"00s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, l, body := list(t, tc.query)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			if got := strings.Join(sizes(l), ","); got != strings.Join(tc.want, ",") {
				t.Fatalf("items inserted at %s, want %s: %s", got, strings.Join(tc.want, ","), body)
			}
			if (l.GetNextPageToken() != "") != tc.next {
				t.Fatalf("next page token %q", l.GetNextPageToken())
			}
		})
	}
	for _, tc := range []struct {
		name, param, value, field string
	}{
		{"unknown field", "filter", `zone = "x"`, "filter"},
		{"no operator", "filter", `targetLink "x"`, "filter"},
		{"unterminated", "filter", `targetLink = "x`, "filter"},
		{"unclosed parenthesis", "filter", `(targetLink = "x"`, "filter"},
		{"order", "orderBy", "insertTime", "orderBy"},
		{"page size", "maxResults", "501", "maxResults"},
		{"page token", "pageToken", "x9", "pageToken"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			code, _, body := list(t, url.Values{tc.param: {tc.value}})
			if code != 400 || !strings.Contains(body, "'"+tc.field+"'") {
				t.Fatalf("%d %s: want 400 naming %s", code, body, tc.field)
			}
		})
	}
}

// TestRequestIDOnce: a resize carries out a requestId once, checked when
// the request takes effect: a slow first attempt that lands after its
// retry does not resize again, and the operation records the id.
func TestRequestIDOnce(t *testing.T) {
	e, srv := setup(t, gcpemu.Options{})
	if err := e.CreateGroup(zref, 1, nil); err != nil {
		t.Fatal(err)
	}
	// The first attempt has 300 ms to arrive (under -race on a loaded
	// machine) and lands a second after it did.
	if err := e.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Slow, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + "/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web/resize?size="
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"5&requestId="+reqA, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a slow answer arrived")
	}
	code, body := do(t, "POST", base+"5&requestId="+reqA) // the retry lands first
	var first computepb.Operation
	strict(t, body, &first)
	if code != 200 || first.GetClientOperationId() != reqA {
		t.Fatalf("retry: %d %s", code, body)
	}
	// Someone else resizes to 3 before the slow attempt lands.
	if code, body := do(t, "POST", base+"3"); code != 200 {
		t.Fatalf("resize: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Calls()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the slow attempt never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d, _ := e.Desired(zref); d != 3 {
		t.Fatalf("size %d: the repeated request was carried out again over the later resize, want 3", d)
	}
	code, body = do(t, "GET", srv.URL+"/compute/v1/projects/proj-1/zones/us-central1-a/operations?filter="+url.QueryEscape("clientOperationId = "+reqA))
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &l); code != 200 || err != nil || len(l.Items) != 1 {
		t.Fatalf("operations with the request id: %d %s: want one", code, body)
	}
	for _, bad := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if code, body := do(t, "POST", base+"4&requestId="+bad); code != 400 || !strings.Contains(string(body), "'requestId'") {
			t.Fatalf("requestId %s: %d %s, want 400 naming requestId", bad, code, body)
		}
	}
}
