package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/policy"
)

const webJSON = `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,
 "metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":100}]}`

const webYAML = `id: web
target: {provider: fake, group: web}
min: 2
max: 20
metrics:
  - {name: cpu, type: cpu, target: 50}
`

// node is one API server over an in-memory backend.
type node struct {
	b   *apitest.Backend
	srv *httptest.Server
	reg *prometheus.Registry
}

func newNode(t *testing.T, id string, tweak func(*api.Options)) *node {
	t.Helper()
	b := apitest.NewBackend(id)
	reg := prometheus.NewRegistry()
	opts := api.Options{Backend: b, Registerer: reg, LeaderWait: 50 * time.Millisecond, NodeID: id}
	if tweak != nil {
		tweak(&opts)
	}
	srv := httptest.NewServer(api.NewHandler(opts))
	t.Cleanup(srv.Close)
	return &node{b: b, srv: srv, reg: reg}
}

// response is what a test looks at.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errBody(t *testing.T) api.ErrorDetail {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("status %d: body is not the error shape: %v\n%s", r.status, err, r.body)
	}
	return eb.Error
}

func send(t *testing.T, method, url string, hdr map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

func putWeb(t *testing.T, n *node) api.PolicyRecord {
	t.Helper()
	r := send(t, "PUT", n.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/json"}, webJSON)
	if r.status != 200 {
		t.Fatalf("PUT web: %d %s", r.status, r.body)
	}
	var rec api.PolicyRecord
	if err := json.Unmarshal(r.body, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestHappyPaths(t *testing.T) {
	n := newNode(t, "n1", nil)
	rec := putWeb(t, n)
	if rec.Policy.ID != "web" || rec.Version == 0 || rec.Policy.Tolerance != 0.1 {
		t.Fatalf("PUT answered %+v; want web with a version and defaults applied", rec)
	}
	n.b.AddDecisions("web", policy.Record{Action: "scale-out", Current: 2, Desired: 4, Reason: "first"},
		policy.Record{Action: "hold", Current: 4, Desired: 4, Reason: "second"})
	n.b.SetStatus(api.PolicyStatus{ID: "web", Desired: 4, Ready: 3})
	etag := fmt.Sprintf(`"%d"`, rec.Version)

	tests := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		check              func(t *testing.T, r response)
	}{
		{name: "get", method: "GET", path: "/v1/policies/web", status: 200, check: func(t *testing.T, r response) {
			if r.header.Get("ETag") != etag {
				t.Errorf("ETag %q, want %q", r.header.Get("ETag"), etag)
			}
			var got api.PolicyRecord
			json.Unmarshal(r.body, &got)
			if got.Policy.Max != 10 || len(got.Policy.Metrics) != 2 {
				t.Errorf("got %+v", got.Policy)
			}
		}},
		{name: "get not modified", method: "GET", path: "/v1/policies/web", hdr: map[string]string{"If-None-Match": etag}, status: 304},
		{name: "list", method: "GET", path: "/v1/policies", status: 200, check: func(t *testing.T, r response) {
			var l api.PolicyList
			json.Unmarshal(r.body, &l)
			if len(l.Policies) != 1 || l.Policies[0].Policy.ID != "web" {
				t.Errorf("list %s", r.body)
			}
		}},
		{name: "decisions default limit", method: "GET", path: "/v1/policies/web/decisions", status: 200, check: func(t *testing.T, r response) {
			var l api.DecisionList
			json.Unmarshal(r.body, &l)
			if len(l.Decisions) != 2 || l.Decisions[0].Reason != "second" {
				t.Errorf("decisions %s; want 2, newest first", r.body)
			}
		}},
		{name: "decisions limit 1", method: "GET", path: "/v1/policies/web/decisions?limit=1", status: 200, check: func(t *testing.T, r response) {
			var l api.DecisionList
			json.Unmarshal(r.body, &l)
			if len(l.Decisions) != 1 {
				t.Errorf("decisions %s; want 1", r.body)
			}
		}},
		{name: "state", method: "GET", path: "/v1/policies/web/state", status: 200, check: func(t *testing.T, r response) {
			var st api.PolicyStatus
			json.Unmarshal(r.body, &st)
			if st.Desired != 4 || st.Ready != 3 {
				t.Errorf("state %s", r.body)
			}
		}},
		{name: "push", method: "POST", path: "/v1/metrics", hdr: map[string]string{"Content-Type": "application/json"},
			body: `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":42.5},
			{"policy":"web","metric":"nope","time":"2024-01-01T00:00:00Z","value":1},
			{"policy":"","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1},
			{"policy":"web","metric":"rps","time":"2024-01-01T00:00:00Z","value":7}]}`,
			status: 200, check: func(t *testing.T, r response) {
				var res api.PushResult
				json.Unmarshal(r.body, &res)
				if res.Accepted != 2 || len(res.Rejected) != 2 || res.Rejected[0].Index != 1 || res.Rejected[1].Index != 2 {
					t.Errorf("push result %s; want 2 accepted, samples 1 and 2 rejected", r.body)
				}
			}},
		{name: "cluster", method: "GET", path: "/v1/cluster", status: 200, check: func(t *testing.T, r response) {
			var c api.ClusterInfo
			json.Unmarshal(r.body, &c)
			if c.Node != "n1" || c.Role != "leader" || len(c.Members) != 1 {
				t.Errorf("cluster %s", r.body)
			}
		}},
		{name: "join", method: "POST", path: "/v1/cluster/join",
			body: `{"id":"n2","raft_addr":"127.0.0.1:7001","http_addr":"127.0.0.1:8082"}`, status: 204},
		{name: "remove member", method: "DELETE", path: "/v1/cluster/members/n2", status: 204},
		{name: "healthz", method: "GET", path: "/healthz", status: 200, check: func(t *testing.T, r response) {
			if string(r.body) != "ok\n" {
				t.Errorf("healthz %q", r.body)
			}
		}},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, check: func(t *testing.T, r response) {
			if !bytes.Contains(r.body, []byte(`capstan_api_requests_total{code="200",method="GET",route="/v1/policies/{id}"}`)) {
				t.Errorf("no request counter by route pattern in:\n%s", r.body)
			}
			if !bytes.Contains(r.body, []byte(`capstan_api_request_duration_seconds_bucket{method="PUT",route="/v1/policies/{id}"`)) {
				t.Errorf("no latency histogram in:\n%s", r.body)
			}
		}},
		{name: "delete", method: "DELETE", path: "/v1/policies/web", hdr: map[string]string{"If-Match": etag}, status: 204},
		{name: "gone after delete", method: "GET", path: "/v1/policies/web", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, n.srv.URL+tc.path, tc.hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	if got := n.b.Samples(); len(got) != 2 || got[0].Value != 42.5 {
		t.Errorf("backend has samples %+v", got)
	}
}

func TestPutYAMLAndExplicitZeros(t *testing.T) {
	n := newNode(t, "n1", nil)
	body := webYAML + "tolerance: 0\nscale_in: {max_step: {percent: 0}}\n"
	r := send(t, "PUT", n.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/yaml"}, body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	rec, _ := n.b.Policy("web")
	want, err := policy.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Policy.Tolerance != 0 || rec.Policy.ScaleIn.MaxStep.Percent != 0 || rec.Policy.ScaleIn.MaxStep.Period != want.ScaleIn.MaxStep.Period {
		t.Fatalf("stored %+v, want exactly what policy.Parse makes of the file: %+v", rec.Policy, want)
	}
	if r.header.Get("ETag") != fmt.Sprintf(`"%d"`, rec.Version) {
		t.Fatalf("ETag %q for version %d", r.header.Get("ETag"), rec.Version)
	}
}

// TestBadInputChangesNothing sends every kind of bad request and checks
// the status, the code, the fields named, and that the backend saw no write.
func TestBadInputChangesNothing(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.MaxBodyBytes = 4096 })
	rec := putWeb(t, n)
	before := n.b.Writes()
	jsonCT := map[string]string{"Content-Type": "application/json"}
	big := `{"samples":[` + strings.Repeat(`{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1},`, 100) + `]}`

	tests := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		code               string
		fields             []string // paths that must be named
		msg                string   // substring of the message
	}{
		{name: "invalid policy lists every field", method: "PUT", path: "/v1/policies/web", hdr: jsonCT,
			body:   `{"id":"web","target":{"provider":"fake","group":"g"},"min":5,"max":2,"tolerance":-1,"metrics":[{"name":"cpu","type":"cpu","target":500}],"scale_in":{"max_step":{"percent":150}}}`,
			status: 400, code: "invalid_policy", fields: []string{"max", "tolerance", "metrics[0].target", "scale_in.max_step.percent"}},
		{name: "unknown policy field", method: "PUT", path: "/v1/policies/web", hdr: jsonCT,
			body: strings.Replace(webJSON, `"min":1`, `"min":1,"minimum":3`, 1), status: 400, code: "invalid_policy", fields: []string{"minimum"}},
		{name: "malformed policy JSON", method: "PUT", path: "/v1/policies/web", hdr: jsonCT,
			body: `{"id":"web",`, status: 400, code: "bad_request", msg: "malformed JSON"},
		{name: "wrong id in path", method: "PUT", path: "/v1/policies/api", hdr: jsonCT,
			body: webJSON, status: 400, code: "invalid_policy", fields: []string{"id"}},
		{name: "policy as form", method: "PUT", path: "/v1/policies/web", hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			body: webJSON, status: 415, code: "unsupported_media_type"},
		{name: "stale If-Match", method: "PUT", path: "/v1/policies/web", hdr: map[string]string{"Content-Type": "application/json", "If-Match": fmt.Sprintf(`"%d"`, rec.Version+7)},
			body: webJSON, status: 412, code: "precondition_failed"},
		{name: "create-only on existing", method: "PUT", path: "/v1/policies/web", hdr: map[string]string{"If-Match": `"0"`},
			body: webJSON, status: 412, code: "precondition_failed"},
		{name: "weak If-Match", method: "PUT", path: "/v1/policies/web", hdr: map[string]string{"If-Match": fmt.Sprintf(`W/"%d"`, rec.Version)},
			body: webJSON, status: 412, code: "precondition_failed"},
		{name: "garbage If-Match", method: "PUT", path: "/v1/policies/web", hdr: map[string]string{"If-Match": `"1", "2"`},
			body: webJSON, status: 400, code: "bad_request", fields: []string{"If-Match"}},
		{name: "delete with stale If-Match", method: "DELETE", path: "/v1/policies/web", hdr: map[string]string{"If-Match": `"999"`},
			status: 412, code: "precondition_failed"},
		{name: "delete missing", method: "DELETE", path: "/v1/policies/nope", status: 404, code: "not_found"},
		{name: "get missing", method: "GET", path: "/v1/policies/nope", status: 404, code: "not_found"},
		{name: "decisions of missing", method: "GET", path: "/v1/policies/nope/decisions", status: 404, code: "not_found"},
		{name: "state of missing", method: "GET", path: "/v1/policies/nope/state", status: 404, code: "not_found"},
		{name: "limit 0", method: "GET", path: "/v1/policies/web/decisions?limit=0", status: 400, code: "bad_request", fields: []string{"limit"}},
		{name: "limit 1001", method: "GET", path: "/v1/policies/web/decisions?limit=1001", status: 400, code: "bad_request", fields: []string{"limit"}},
		{name: "limit text", method: "GET", path: "/v1/policies/web/decisions?limit=ten", status: 400, code: "bad_request", fields: []string{"limit"}},
		{name: "malformed push", method: "POST", path: "/v1/metrics", body: `{"samples":[`, status: 400, code: "bad_request", msg: "malformed JSON"},
		{name: "push syntax error", method: "POST", path: "/v1/metrics", body: `{"samples":[}`, status: 400, code: "bad_request", msg: "invalid character"},
		{name: "unknown push field", method: "POST", path: "/v1/metrics", body: `{"samples":[],"extra":1}`,
			status: 400, code: "bad_request", fields: []string{"extra"}},
		{name: "unknown sample field", method: "POST", path: "/v1/metrics",
			body:   `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1},{"policy":"web","metric":"cpu","value":1,"unit":"%"}]}`,
			status: 400, code: "bad_request", fields: []string{"samples[1].unit"}},
		{name: "sample value of wrong type", method: "POST", path: "/v1/metrics",
			body:   `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":"high"}]}`,
			status: 400, code: "bad_request", fields: []string{"samples[0].value"}},
		{name: "sample with a bad time", method: "POST", path: "/v1/metrics",
			body:   `{"samples":[{"policy":"web","metric":"cpu","time":"yesterday","value":1}]}`,
			status: 400, code: "bad_request", fields: []string{"samples[0].time"}},
		{name: "trailing data", method: "POST", path: "/v1/metrics",
			body:   `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]} {}`,
			status: 400, code: "bad_request"},
		{name: "empty push", method: "POST", path: "/v1/metrics", body: `{"samples":[]}`, status: 400, code: "bad_request", fields: []string{"samples"}},
		{name: "empty body", method: "POST", path: "/v1/metrics", status: 400, code: "bad_request", msg: "empty"},
		{name: "push as text", method: "POST", path: "/v1/metrics", hdr: map[string]string{"Content-Type": "text/plain"},
			body: `{"samples":[]}`, status: 415, code: "unsupported_media_type"},
		{name: "oversized push", method: "POST", path: "/v1/metrics", body: big, status: 413, code: "body_too_large"},
		{name: "oversized policy", method: "PUT", path: "/v1/policies/web", hdr: jsonCT,
			body: webJSON[:len(webJSON)-1] + `,"x":"` + strings.Repeat("a", 5000) + `"}`, status: 413, code: "body_too_large"},
		{name: "join missing fields", method: "POST", path: "/v1/cluster/join", body: `{"raft_addr":"nowhere"}`,
			status: 400, code: "bad_request", fields: []string{"id", "raft_addr", "http_addr"}},
		{name: "join unknown field", method: "POST", path: "/v1/cluster/join", body: `{"id":"n2","raft_addr":"a:1","http_addr":"a:2","voter":true}`,
			status: 400, code: "bad_request", fields: []string{"voter"}},
		{name: "join conflict", method: "POST", path: "/v1/cluster/join", body: `{"id":"n1","raft_addr":"10.0.0.9:7000","http_addr":"10.0.0.9:8081"}`,
			status: 409, code: "conflict"},
		{name: "remove unknown member", method: "DELETE", path: "/v1/cluster/members/n9", status: 404, code: "not_found"},
		{name: "unknown endpoint", method: "GET", path: "/v2/things", status: 404, code: "not_found"},
		{name: "method not allowed", method: "POST", path: "/v1/policies/web", status: 405, code: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, tc.method, n.srv.URL+tc.path, tc.hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			e := r.errBody(t)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q (%s)", e.Code, tc.code, e.Message)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q lacks %q", e.Message, tc.msg)
			}
			for _, f := range tc.fields {
				found := false
				for _, got := range e.Fields {
					found = found || got.Path == f
				}
				if !found {
					t.Errorf("field %q not named; fields %+v", f, e.Fields)
				}
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
	if n.b.Writes() != before {
		t.Fatalf("bad requests made %d writes", n.b.Writes()-before)
	}
	if got, _ := n.b.Policy("web"); got.Version != rec.Version {
		t.Fatalf("policy changed: version %d, was %d", got.Version, rec.Version)
	}
	if len(n.b.Samples()) != 0 {
		t.Fatalf("samples stored: %+v", n.b.Samples())
	}
}

func TestTooManySamples(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.MaxBodyBytes = 64 << 20 })
	putWeb(t, n)
	sample := `{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}`
	body := `{"samples":[` + strings.TrimSuffix(strings.Repeat(sample+",", api.MaxSamplesPerPush+1), ",") + `]}`
	r := send(t, "POST", n.srv.URL+"/v1/metrics", nil, body)
	if r.status != 400 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if e := r.errBody(t); len(e.Fields) != 1 || e.Fields[0].Path != "samples" {
		t.Fatalf("error %+v does not name samples", e)
	}
	if len(n.b.Samples()) != 0 {
		t.Fatal("part of an oversized batch was stored")
	}
	body = `{"samples":[` + strings.TrimSuffix(strings.Repeat(sample+",", api.MaxSamplesPerPush), ",") + `]}`
	if r := send(t, "POST", n.srv.URL+"/v1/metrics", nil, body); r.status != 200 {
		t.Fatalf("a full batch: %d %s", r.status, r.body)
	}
}

func TestMethodNotAllowedListsMethods(t *testing.T) {
	n := newNode(t, "n1", nil)
	r := send(t, "PATCH", n.srv.URL+"/v1/policies/web", nil, "")
	if r.status != 405 || r.header.Get("Allow") != "PUT, GET, DELETE, HEAD" {
		t.Fatalf("status %d Allow %q", r.status, r.header.Get("Allow"))
	}
}

func TestReadyz(t *testing.T) {
	n := newNode(t, "n1", nil)
	n.b.SetNotReady(errors.New("applied index 10 behind commit index 14"))
	r := send(t, "GET", n.srv.URL+"/readyz", nil, "")
	if r.status != 503 {
		t.Fatalf("status %d", r.status)
	}
	if e := r.errBody(t); e.Code != "not_ready" || !strings.Contains(e.Message, "behind commit index") {
		t.Fatalf("error %+v", e)
	}
	if r := send(t, "GET", n.srv.URL+"/healthz", nil, ""); r.status != 200 {
		t.Fatalf("healthz %d while not ready; want 200", r.status)
	}
}

// TestForwarding runs two nodes: the follower forwards writes to the
// leader, and the client sees the leader's answer.
func TestForwarding(t *testing.T) {
	leader := newNode(t, "n1", nil)
	follower := newNode(t, "n2", nil)
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))

	r := send(t, "PUT", follower.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/yaml"}, webYAML)
	if r.status != 200 {
		t.Fatalf("PUT through the follower: %d %s", r.status, r.body)
	}
	rec, ok := leader.b.Policy("web")
	if !ok || rec.Policy.Max != 20 {
		t.Fatalf("leader has %+v, %v", rec, ok)
	}
	if _, ok := follower.b.Policy("web"); ok {
		t.Fatal("the follower applied the write itself")
	}
	if r.header.Get("ETag") != fmt.Sprintf(`"%d"`, rec.Version) {
		t.Fatalf("ETag %q, want the leader's version %d", r.header.Get("ETag"), rec.Version)
	}

	// The leader's errors pass through unchanged, If-Match included.
	r = send(t, "PUT", follower.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/yaml", "If-Match": `"999"`}, webYAML)
	if r.status != 412 || r.errBody(t).Code != "precondition_failed" {
		t.Fatalf("stale If-Match through the follower: %d %s", r.status, r.body)
	}
	r = send(t, "DELETE", follower.srv.URL+"/v1/policies/web", map[string]string{"If-Match": fmt.Sprintf(`"%d"`, rec.Version)}, "")
	if r.status != 204 {
		t.Fatalf("DELETE through the follower: %d %s", r.status, r.body)
	}
	if _, ok := leader.b.Policy("web"); ok {
		t.Fatal("delete not forwarded")
	}

	// Reads are served locally.
	if r := send(t, "GET", follower.srv.URL+"/v1/cluster", nil, ""); !strings.Contains(string(r.body), `"node":"n2"`) {
		t.Fatalf("cluster read was not local: %s", r.body)
	}

	// A forwarded metric push goes to the leader as well.
	putWeb(t, leader)
	r = send(t, "POST", follower.srv.URL+"/v1/metrics", nil, `{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":3}]}`)
	if r.status != 200 || len(leader.b.Samples()) != 1 {
		t.Fatalf("push through the follower: %d %s; leader has %d samples", r.status, r.body, len(leader.b.Samples()))
	}
}

// TestForwardedToNonLeaderIsNotForwardedAgain: two followers that each
// believe the other leads must not bounce a write between them.
func TestForwardedToNonLeaderIsNotForwardedAgain(t *testing.T) {
	a := newNode(t, "a", nil)
	b := newNode(t, "b", nil)
	a.b.SetLeader(false, strings.TrimPrefix(b.srv.URL, "http://"))
	b.b.SetLeader(false, strings.TrimPrefix(a.srv.URL, "http://"))
	r := send(t, "PUT", a.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/json"}, webJSON)
	if r.status != 503 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	e := r.errBody(t)
	if e.Code != "no_leader" || !strings.Contains(e.Message, "forwarded by a") {
		t.Fatalf("error %+v", e)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if a.b.Writes()+b.b.Writes() != 0 {
		t.Fatal("something was written")
	}
}

func TestNoLeaderTimesOut(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.LeaderWait = 30 * time.Millisecond })
	n.b.SetLeader(false, "")
	start := time.Now()
	r := send(t, "PUT", n.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/json"}, webJSON)
	if r.status != 503 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if e := r.errBody(t); e.Code != "no_leader" || e.Message != "no Raft leader elected within 30ms; retry" {
		t.Fatalf("error %+v", e)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("answered before the leader wait was over")
	}
	// Reads still work without a leader.
	if r := send(t, "GET", n.srv.URL+"/v1/policies", nil, ""); r.status != 200 {
		t.Fatalf("read without a leader: %d", r.status)
	}
}

// TestForwardingWhenTheLeaderIsGone: a leader that refuses connections
// (dead, and Raft here has not noticed yet) counts as no leader: the write
// waits for the next one within LeaderWait, and is answered no_leader only
// if none is reachable by then. A leader that takes the write and never
// answers is different: the write may have been made, so the answer is
// outcome_unknown, after ForwardTimeout and not the client's patience.
func TestForwardingWhenTheLeaderIsGone(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server sees the client go only once the body is read
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	hungAddr := strings.TrimPrefix(hung.URL, "http://")

	tests := []struct {
		name       string
		leader     string
		newLeader  bool // a live leader takes over after 100 ms
		wantStatus int
		wantCode   string
		within     [2]time.Duration
	}{
		{"dead leader replaced within the wait", deadAddr, true, 200, "", [2]time.Duration{100 * time.Millisecond, 2 * time.Second}},
		{"dead leader never replaced", deadAddr, false, 503, "no_leader", [2]time.Duration{300 * time.Millisecond, 2 * time.Second}},
		{"leader reached, no answer", hungAddr, false, 503, "outcome_unknown", [2]time.Duration{200 * time.Millisecond, 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := newNode(t, "live", nil)
			n := newNode(t, "n1", func(o *api.Options) {
				o.LeaderWait, o.ForwardTimeout = 300*time.Millisecond, 200*time.Millisecond
			})
			n.b.SetLeader(false, tc.leader)
			if tc.newLeader {
				time.AfterFunc(100*time.Millisecond, func() { n.b.SetLeader(false, strings.TrimPrefix(live.srv.URL, "http://")) })
			}
			start := time.Now()
			r := send(t, "PUT", n.srv.URL+"/v1/policies/web", map[string]string{"Content-Type": "application/yaml"}, webYAML)
			took := time.Since(start)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if took < tc.within[0] || took > tc.within[1] {
				t.Fatalf("answered after %s, want within %v", took, tc.within)
			}
			if tc.wantStatus == 200 {
				if rec, ok := live.b.Policy("web"); !ok || rec.Policy.Max != 20 {
					t.Fatal("the write did not reach the new leader with its body")
				}
				return
			}
			if e := r.errBody(t); e.Code != tc.wantCode {
				t.Fatalf("error %+v, want %s", e, tc.wantCode)
			}
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// TestForwardedOversizedBody: the follower enforces the limit on what it
// streams, declared length or not.
func TestForwardedOversizedBody(t *testing.T) {
	leader := newNode(t, "n1", nil)
	follower := newNode(t, "n2", func(o *api.Options) { o.MaxBodyBytes = 1000 })
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	body := `{"samples":[` + strings.Repeat(`{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1},`, 100) + `]}`
	r := send(t, "POST", follower.srv.URL+"/v1/metrics", nil, body)
	if r.status != 413 {
		t.Fatalf("declared length: status %d %s", r.status, r.body)
	}
	// Chunked: no Content-Length, so the limit trips while streaming.
	req, _ := http.NewRequest("POST", follower.srv.URL+"/v1/metrics", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked: status %d", resp.StatusCode)
	}
	if leader.b.Writes() != 0 {
		t.Fatal("the leader wrote something")
	}
}

func TestMetricsOnInjectedRegistryOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := apitest.NewBackend("n1")
	h1 := api.NewHandler(api.Options{Backend: b, Registerer: reg})
	h2 := api.NewHandler(api.Options{Backend: b, Registerer: reg}) // sharing a registry must not panic
	for _, h := range []http.Handler{h1, h2} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/policies/x", nil))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == "capstan_api_requests_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	if total != 2 {
		t.Fatalf("requests counted %v, want 2", total)
	}
	def, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range def {
		if strings.HasPrefix(mf.GetName(), "capstan_api_") {
			t.Fatalf("%s registered on the global registry", mf.GetName())
		}
	}
	// Without a gatherer, /metrics is absent rather than empty.
	rec := httptest.NewRecorder()
	api.NewHandler(api.Options{Backend: b}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without a gatherer: %d", rec.Code)
	}
}

// slowBackend blocks writes until the request context ends.
type slowBackend struct{ *apitest.Backend }

func (s slowBackend) PutPolicy(ctx context.Context, _ policy.Policy, _ string) (api.PolicyRecord, error) {
	<-ctx.Done()
	return api.PolicyRecord{}, fmt.Errorf("waiting for commit: %w", ctx.Err())
}

func TestBackendTimeoutIs504(t *testing.T) {
	h := api.NewHandler(api.Options{Backend: slowBackend{apitest.NewBackend("n1")}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("PUT", "/v1/policies/web", strings.NewReader(webJSON)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 504 || !strings.Contains(rec.Body.String(), `"code":"timeout"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
