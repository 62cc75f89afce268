package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/prometheus/prompb"
	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// loadSpec loads and validates an OpenAPI document.
func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// servedSpec is the document as NewHandler serves it, loaded and validated.
func servedSpec(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	return loadSpec(t, data)
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	fromYAML := loadSpec(t, api.OpenAPIDocYAML)
	if !strings.HasPrefix(fromYAML.OpenAPI, "3.0.") {
		t.Errorf("openapi: %q; want 3.0.x, which kin-openapi validates fully", fromYAML.OpenAPI)
	}
	// The served JSON must say exactly what the file says.
	fromJSON := servedSpec(t)
	a, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fromJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the JSON served at /v1/openapi.json differs from api/openapi.yaml")
	}
}

func TestOpenAPIServed(t *testing.T) {
	n := newNode(t, "n1", nil)
	r := send(t, "GET", n.srv.URL+api.OpenAPIPath, nil, "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s", api.OpenAPIPath, r.status, r.header.Get("Content-Type"))
	}
	want, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.body, want) {
		t.Fatal("served document differs from the converted openapi.yaml")
	}
	doc := loadSpec(t, r.body)
	if doc.Info == nil || doc.Info.Title == "" {
		t.Fatal("served document has no info.title")
	}
}

// documentedOperations lists "METHOD /path" of every operation in doc.
func documentedOperations(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := servedSpec(t)
	served := api.RoutePatterns()
	documented := documentedOperations(doc)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served by api.NewHandler but not documented: add it to api/openapi.yaml", r)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("operation %s is documented in api/openapi.yaml but api.NewHandler does not serve it", op)
		}
	}
}

// TestOpenAPIOperationsAreComplete checks what every operation must say:
// an id, a description, the role it needs, and the answers that the
// machinery around every handler can give (auth, rate limits, leader
// forwarding, body limits).
func TestOpenAPIOperationsAreComplete(t *testing.T) {
	doc := servedSpec(t)
	roles := api.RouteRoles()
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || op.Summary == "" || op.Description == "" {
				t.Errorf("%s: needs an operationId, a summary and a description", name)
			}
			if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q is also used by %s", name, op.OperationID, prev)
			}
			ids[op.OperationID] = name
			role, _ := op.Extensions["x-capstan-role"].(string)
			open := op.Security != nil && len(*op.Security) == 0
			// x-capstan-read-only marks a POST that only computes (a
			// what-if replay): it changes nothing, needs no leader, and
			// role read may call it.
			readOnly := op.Extensions["x-capstan-read-only"] == true
			switch {
			case role == "none" && !open:
				t.Errorf("%s: x-capstan-role none, but the operation is not open (security: [])", name)
			case role != "none" && open:
				t.Errorf("%s: open (security: []) but x-capstan-role is %q", name, role)
			case !slices.Contains([]string{"none", "read", "write", "admin"}, role):
				t.Errorf("%s: x-capstan-role %q; want read, write, admin or none", name, role)
			case method == "GET" && role == "write":
				t.Errorf("%s: a GET needs role read (or admin, for tokens and audit), not write", name)
			case method != "GET" && role == "read" && op.Extensions["x-capstan-internal"] != true && !readOnly:
				t.Errorf("%s: a write cannot need only role read", name)
			}
			if want, ok := roles[name]; ok && role != want {
				t.Errorf("%s: x-capstan-role %q, but the route needs role %q", name, role, want)
			}
			if role != "none" && !strings.Contains(op.Description, "Role: `"+role+"`") {
				t.Errorf("%s: the description should say \"Role: `%s`\" for people", name, role)
			}
			var want []int
			if !open {
				want = append(want, 401, 403, 429, 500)
			}
			if method != "GET" && !readOnly {
				want = append(want, 503)
			}
			if op.RequestBody != nil {
				want = append(want, 400, 413, 415)
			}
			for _, status := range want {
				if op.Responses.Status(status) == nil {
					t.Errorf("%s: does not document status %d", name, status)
				}
			}
		}
	}
}

// specValidator checks requests and responses against the served document.
type specValidator struct {
	router routers.Router
	doc    *openapi3.T
	// tokens, when set, are sent as trafficCase.token says.
	tokens specTokens
}

// registerProtobuf lets openapi3filter read remote-write bodies as the
// binary strings the document declares. kin-openapi keeps its decoders in
// a registry of its own, so this is done once.
var registerProtobuf = sync.OnceFunc(func() {
	openapi3filter.RegisterBodyDecoder("application/x-protobuf", openapi3filter.FileBodyDecoder)
})

func newSpecValidator(t *testing.T) *specValidator {
	t.Helper()
	registerProtobuf()
	doc := servedSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specValidator{router: router, doc: doc}
}

// options are strict: a status the document does not list is an error.
func validationOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		// The document's one scheme is a bearer token; whether the token
		// is good is the server's to say.
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if in.SecuritySchemeName != "bearerAuth" {
				return fmt.Errorf("unexpected security scheme %q", in.SecuritySchemeName)
			}
			h := in.RequestValidationInput.Request.Header.Get("Authorization")
			if !strings.HasPrefix(h, "Bearer ") {
				return fmt.Errorf("no bearer token")
			}
			return nil
		},
	}
}

// trafficCase is one real request and what must come of it.
type trafficCase struct {
	name   string
	setup  func(t *testing.T, b *apitest.Backend)
	tweak  func(*api.Options)
	method string
	path   string
	header map[string]string
	body   string
	// status is the answer the handler must give.
	status int
	// token names the token sent: "" is an admin token, "read" and
	// "write" tokens of those roles, "slow" a token with a rate limit of
	// one request, "unknown" a well-formed secret no node knows, "none"
	// no Authorization header.
	token string
	// prior is how many times the same request is sent before the one
	// checked (to use up a rate limit).
	prior int
	// invalid says the document itself refuses the request: a malformed
	// body, a parameter out of range, or a request the server takes
	// leniently although it lacks what the document asks for (a
	// Content-Type, a sample's time).
	invalid bool
}

// webPolicy is seeded in every traffic case's backend at version 1.
const webPolicy = `{"id":"web","target":{"provider":"fake","group":"web"},"min":1,"max":10,
 "metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":100}]}`

func seedWeb(t *testing.T, b *apitest.Backend) {
	t.Helper()
	p, err := policy.Parse([]byte(webPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutPolicy(context.Background(), p, ""); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	v, f, up, wk, sk, tod := 72.5, 80.0, 88.0, -3.5, -0.4, 0.6
	rec := policy.Record{Time: t0, Current: 2, Ready: 2, Reactive: 3, Predictive: 4, Recommended: 4, Desired: 4,
		Action: "scale-out", Bound: policy.LimitRateLimit, Forecast: true, Reason: "scale-out 2->4 forecast bound:rate-limit",
		Metrics: []policy.MetricRecord{
			{Name: "cpu", Value: &v, Reactive: 3, Forecast: &f, Predictive: 4, Upper: &up, Weekly: &wk, SeasonScale: 1.84, Season: policy.Duration(24 * time.Hour), Skill: &sk, SlotSkill: &tod, Trusted: true},
			{Name: "rps", Stale: true},
		}}
	b.AddDecisions("web", rec)
	until := t0.Add(time.Minute)
	b.SetStatus(api.PolicyStatus{ID: "web", Desired: 4, Ready: 2, LastEvaluation: &t0, ScaleOutCooldownUntil: &until,
		ScaleInCooldownUntil: &until, LastDecision: &rec,
		Metrics:       []api.MetricStatus{{Name: "cpu", Value: &v, Time: &t0, Forecast: &f, Skill: &sk}, {Name: "rps"}},
		PendingIntent: &api.Intent{ID: 7, Policy: "web", Group: "web", From: 2, To: 4, Reason: "scale-out", Term: 2, Node: "n1", At: t0}})
}

func noLeader(_ *testing.T, b *apitest.Backend) { b.SetLeader(false, "") }

// withSamples gives web twenty minutes of cpu and rps history.
func withSamples(t *testing.T, b *apitest.Backend) {
	t.Helper()
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-20 * time.Minute)
	var samples []api.Sample
	for i := range 120 {
		ts := at.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples, api.Sample{Policy: "web", Metric: "cpu", Time: ts, Value: 40 + float64(i%30)},
			api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: 100 + float64(i)})
	}
	if _, err := b.PushMetrics(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
}

// specTokens are the file tokens of the traffic test's nodes, by the
// trafficCase.token that selects them, with their secrets.
type specTokens map[string]string

func openAPITokens(t *testing.T) (specTokens, []auth.Token) {
	t.Helper()
	secrets := specTokens{}
	var file []auth.Token
	for _, tk := range []struct {
		name  string
		role  auth.Role
		rate  float64
		burst int
	}{
		{"admin", auth.RoleAdmin, 0, 0}, {"read", auth.RoleRead, 0, 0}, {"write", auth.RoleWrite, 0, 0},
		{"slow", auth.RoleAdmin, 0.001, 1},
	} {
		secret, err := auth.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		secrets[tk.name] = secret
		file = append(file, auth.Token{Name: tk.name, Role: tk.role, Hash: auth.HashSecret(secret),
			Rate: tk.rate, Burst: tk.burst, Origin: auth.OriginFile})
	}
	unknown, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	secrets["unknown"] = unknown
	return secrets, file
}

// openAPINode is newNode with authentication by the given file tokens and
// by the tokens created through its backend.
func openAPINode(t *testing.T, file []auth.Token, tweak func(*api.Options)) *node {
	t.Helper()
	return newNode(t, "n1", func(o *api.Options) {
		a, err := auth.New(auth.Options{Load: func() ([]auth.Token, error) { return file, nil }, Source: o.Backend.(auth.Source)})
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = a
		if tweak != nil {
			tweak(o)
		}
	})
}

// authorization is the Authorization header for a case's token.
func (tt specTokens) authorization(token string) string {
	switch token {
	case "none":
		return ""
	case "":
		token = "admin"
	}
	return "Bearer " + tt[token]
}

const (
	jsonCT = "application/json"
	// smallBody is the body limit of the traffic test's handler, so that
	// an oversized body is cheap to build.
	smallBody = 16 << 10
)

// padJSON makes a valid JSON object larger than the body limit by indenting it.
func padJSON(obj string) string {
	return strings.Replace(obj, "{", "{"+strings.Repeat(" ", smallBody), 1)
}

func pushBody(samples ...string) string {
	return `{"samples":[` + strings.Join(samples, ",") + `]}`
}

func pushSample(policy, metric string) string {
	return fmt.Sprintf(`{"policy":%q,"metric":%q,"time":%q,"value":42.5}`, policy, metric, time.Now().UTC().Format(time.RFC3339))
}

// trafficCases drive every route through its success and its main error
// answers.
func trafficCases(t *testing.T) []trafficCase {
	now := time.Now()
	rw := func(series ...prompb.TimeSeries) string { return rwBody(t, series...) }
	rwHdr := map[string]string{"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0"}
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for hk, hv := range h {
			out[hk] = hv
		}
		out[k] = v
		return out
	}
	ct := map[string]string{"Content-Type": jsonCT}
	apiYAML := "id: api\ntarget: {provider: aws, group: api-asg, region: eu-west-1}\nmin: 2\nmax: 20\nmetrics:\n  - {name: rps, type: request_rate, target: 150}\n"
	join := `{"id":"n2","raft_addr":"127.0.0.1:7001","http_addr":"127.0.0.1:8002"}`

	return []trafficCase{
		// Policies.
		{name: "list", method: "GET", path: "/v1/policies", status: 200},
		{name: "list empty", setup: func(t *testing.T, b *apitest.Backend) {
			if err := b.DeletePolicy(context.Background(), "web", ""); err != nil {
				t.Fatal(err)
			}
		}, method: "GET", path: "/v1/policies", status: 200},
		{name: "put json", method: "PUT", path: "/v1/policies/web", header: ct, body: webPolicy, status: 200},
		{name: "put json without content type", method: "PUT", path: "/v1/policies/web", body: webPolicy, status: 200, invalid: true},
		{name: "put yaml", method: "PUT", path: "/v1/policies/api", header: map[string]string{"Content-Type": "application/yaml"}, body: apiYAML, status: 200},
		{name: "put with label matchers", method: "PUT", path: "/v1/policies/web", header: ct,
			body: strings.Replace(webPolicy, `"target":100}`, `"target":100,"source":{"match":{"job":"web"},"match_re":{"instance":"web-.*"}}}`, 1), status: 200},
		{name: "put if-match current", method: "PUT", path: "/v1/policies/web", header: with(ct, "If-Match", `"1"`), body: webPolicy, status: 200},
		{name: "put create-only", method: "PUT", path: "/v1/policies/new", header: with(ct, "If-Match", `"0"`),
			body: strings.Replace(webPolicy, `"web"`, `"new"`, 1), status: 200},
		{name: "put stale if-match", method: "PUT", path: "/v1/policies/web", header: with(ct, "If-Match", `"7"`), body: webPolicy, status: 412},
		{name: "put create-only existing", method: "PUT", path: "/v1/policies/web", header: with(ct, "If-Match", `"0"`), body: webPolicy, status: 412},
		{name: "put weak if-match", method: "PUT", path: "/v1/policies/web", header: with(ct, "If-Match", `W/"1"`), body: webPolicy, status: 412, invalid: true},
		{name: "put bad if-match", method: "PUT", path: "/v1/policies/web", header: with(ct, "If-Match", "yesterday"), body: webPolicy, status: 400, invalid: true},
		{name: "put invalid policy", method: "PUT", path: "/v1/policies/web", header: ct,
			body: strings.Replace(webPolicy, `"min":1,"max":10`, `"min":5,"max":2`, 1), status: 400},
		{name: "put policy out of range", method: "PUT", path: "/v1/policies/web", header: ct,
			body: strings.Replace(webPolicy, `"max":10`, `"max":0`, 1), status: 400, invalid: true},
		{name: "put unknown field", method: "PUT", path: "/v1/policies/web", header: ct,
			body: strings.Replace(webPolicy, `"min":1`, `"minimum":1`, 1), status: 400, invalid: true},
		{name: "put malformed json", method: "PUT", path: "/v1/policies/web", header: ct, body: `{"id":"web",`, status: 400, invalid: true},
		{name: "put id mismatch", method: "PUT", path: "/v1/policies/other", header: ct, body: webPolicy, status: 400},
		{name: "put wrong content type", method: "PUT", path: "/v1/policies/web", header: map[string]string{"Content-Type": "text/plain"},
			body: webPolicy, status: 415, invalid: true},
		{name: "put oversized", method: "PUT", path: "/v1/policies/web", header: ct, body: padJSON(webPolicy), status: 413},
		{name: "put no leader", setup: noLeader, method: "PUT", path: "/v1/policies/web", header: ct, body: webPolicy, status: 503},
		{name: "get", method: "GET", path: "/v1/policies/web", status: 200},
		{name: "get not modified", method: "GET", path: "/v1/policies/web", header: map[string]string{"If-None-Match": `"1"`}, status: 304},
		{name: "get unknown", method: "GET", path: "/v1/policies/nope", status: 404},
		{name: "get id out of pattern", method: "GET", path: "/v1/policies/Not_An_Id", status: 404, invalid: true},
		{name: "delete", method: "DELETE", path: "/v1/policies/web", status: 204},
		{name: "delete if-match", method: "DELETE", path: "/v1/policies/web", header: map[string]string{"If-Match": `"1"`}, status: 204},
		{name: "delete unknown", method: "DELETE", path: "/v1/policies/nope", status: 404},
		{name: "delete stale if-match", method: "DELETE", path: "/v1/policies/web", header: map[string]string{"If-Match": `"3"`}, status: 412},
		{name: "delete bad if-match", method: "DELETE", path: "/v1/policies/web", header: map[string]string{"If-Match": "v1"}, status: 400, invalid: true},
		{name: "delete no leader", setup: noLeader, method: "DELETE", path: "/v1/policies/web", status: 503},
		{name: "decisions", method: "GET", path: "/v1/policies/web/decisions", status: 200},
		{name: "decisions limit", method: "GET", path: "/v1/policies/web/decisions?limit=5", status: 200},
		{name: "decisions limit zero", method: "GET", path: "/v1/policies/web/decisions?limit=0", status: 400, invalid: true},
		{name: "decisions limit too large", method: "GET", path: "/v1/policies/web/decisions?limit=1001", status: 400, invalid: true},
		{name: "decisions limit not a number", method: "GET", path: "/v1/policies/web/decisions?limit=all", status: 400, invalid: true},
		{name: "decisions unknown", method: "GET", path: "/v1/policies/nope/decisions", status: 404},
		{name: "state", method: "GET", path: "/v1/policies/web/state", status: 200},
		{name: "state before evaluation", setup: func(t *testing.T, b *apitest.Backend) {
			b.SetStatus(api.PolicyStatus{ID: "web", Metrics: []api.MetricStatus{{Name: "cpu"}, {Name: "rps"}}})
		}, method: "GET", path: "/v1/policies/web/state", status: 200},
		{name: "state unknown", method: "GET", path: "/v1/policies/nope/state", status: 404},
		{name: "history", method: "GET", path: "/v1/policies/web/history", status: 200},
		{name: "history of one metric", method: "GET", path: "/v1/policies/web/history?metric=cpu", status: 200},
		{name: "history unknown metric", method: "GET", path: "/v1/policies/web/history?metric=nope", status: 404},
		{name: "history unknown policy", method: "GET", path: "/v1/policies/nope/history", status: 404},
		{name: "history as a trace CSV", setup: withSamples, method: "GET", path: "/v1/policies/web/history?format=csv", status: 200},
		{name: "history as JSON", setup: withSamples, method: "GET", path: "/v1/policies/web/history?format=json", status: 200},
		{name: "history in an unknown format", method: "GET", path: "/v1/policies/web/history?format=xml", status: 400, invalid: true},
		{name: "history CSV before any sample", method: "GET", path: "/v1/policies/web/history?format=csv", status: 409},

		// What-if replays.
		{name: "simulate", setup: withSamples, method: "POST", path: "/v1/policies/web/simulate", header: ct,
			body: strings.Replace(webPolicy, `"target":100`, `"target":50`, 1), status: 200},
		{name: "simulate yaml", setup: withSamples, method: "POST", path: "/v1/policies/web/simulate", header: map[string]string{"Content-Type": "application/yaml"},
			body: strings.ReplaceAll(webPolicy, "\n", " "), status: 200},
		{name: "simulate with a read token", setup: withSamples, token: "read", method: "POST", path: "/v1/policies/web/simulate", header: ct, body: webPolicy, status: 200},
		{name: "simulate invalid candidate", setup: withSamples, method: "POST", path: "/v1/policies/web/simulate", header: ct,
			body: strings.Replace(webPolicy, `"min":1,"max":10`, `"min":5,"max":2`, 1), status: 400},
		{name: "simulate a metric with no history", setup: withSamples, method: "POST", path: "/v1/policies/web/simulate", header: ct,
			body: strings.Replace(webPolicy, `"name":"rps"`, `"name":"qps"`, 1), status: 400},
		{name: "simulate id mismatch", method: "POST", path: "/v1/policies/web/simulate", header: ct,
			body: strings.Replace(webPolicy, `"web"`, `"api"`, 1), status: 400},
		{name: "simulate unknown policy", method: "POST", path: "/v1/policies/nope/simulate", header: ct,
			body: strings.Replace(webPolicy, `"id":"web"`, `"id":"nope"`, 1), status: 404},
		{name: "simulate before any sample", method: "POST", path: "/v1/policies/web/simulate", header: ct, body: webPolicy, status: 409},
		{name: "simulate oversized", method: "POST", path: "/v1/policies/web/simulate", header: ct, body: padJSON(webPolicy), status: 413},
		{name: "simulate wrong content type", method: "POST", path: "/v1/policies/web/simulate", header: map[string]string{"Content-Type": "text/plain"},
			body: webPolicy, status: 415, invalid: true},
		{name: "simulate without a token", token: "none", method: "POST", path: "/v1/policies/web/simulate", header: ct, body: webPolicy, status: 401, invalid: true},

		// Metrics in.
		{name: "push", method: "POST", path: "/v1/metrics", header: ct, body: pushBody(pushSample("web", "cpu"), pushSample("web", "rps")), status: 200},
		{name: "push with rejections", method: "POST", path: "/v1/metrics", header: ct,
			body: pushBody(pushSample("web", "cpu"), pushSample("nope", "cpu"), pushSample("web", "mem")), status: 200},
		{name: "push sample without time", method: "POST", path: "/v1/metrics", header: ct,
			body: pushBody(`{"policy":"web","metric":"cpu","value":1}`), status: 200, invalid: true},
		{name: "push malformed", method: "POST", path: "/v1/metrics", header: ct, body: `{"samples":[`, status: 400, invalid: true},
		{name: "push no samples", method: "POST", path: "/v1/metrics", header: ct, body: `{"samples":[]}`, status: 400, invalid: true},
		{name: "push bad time", method: "POST", path: "/v1/metrics", header: ct,
			body: pushBody(`{"policy":"web","metric":"cpu","time":"yesterday","value":1}`), status: 400, invalid: true},
		{name: "push unknown field", method: "POST", path: "/v1/metrics", header: ct,
			body: pushBody(`{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1,"unit":"%"}`), status: 400, invalid: true},
		{name: "push wrong type", method: "POST", path: "/v1/metrics", header: ct,
			body: pushBody(`{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":"high"}`), status: 400, invalid: true},
		{name: "push wrong content type", method: "POST", path: "/v1/metrics", header: map[string]string{"Content-Type": "text/csv"},
			body: "web,cpu,1", status: 415, invalid: true},
		{name: "push oversized", method: "POST", path: "/v1/metrics", header: ct, body: padJSON(pushBody(pushSample("web", "cpu"))), status: 413},
		{name: "push no leader", setup: noLeader, method: "POST", path: "/v1/metrics", header: ct, body: pushBody(pushSample("web", "cpu")), status: 503},
		{name: "remote write", method: "POST", path: "/api/v1/write", header: rwHdr, body: rw(rwSeries("web", "rps", now, 10, 20)), status: 204},
		{name: "remote write without headers", method: "POST", path: "/api/v1/write", body: rw(rwSeries("web", "rps", now, 10)), status: 204, invalid: true},
		{name: "remote write undecodable", method: "POST", path: "/api/v1/write", header: rwHdr, body: "not snappy", status: 400},
		{name: "remote write gzip", method: "POST", path: "/api/v1/write", header: with(rwHdr, "Content-Encoding", "gzip"),
			body: rw(rwSeries("web", "rps", now, 10)), status: 415, invalid: true},
		{name: "remote write 2.0", method: "POST", path: "/api/v1/write",
			header: with(rwHdr, "Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"),
			body:   rw(rwSeries("web", "rps", now, 10)), status: 415},
		{name: "remote write oversized", method: "POST", path: "/api/v1/write", header: rwHdr,
			body: strings.Repeat("x", smallBody+1), status: 413},
		{name: "remote write no leader", setup: noLeader, method: "POST", path: "/api/v1/write", header: rwHdr,
			body: rw(rwSeries("web", "rps", now, 10)), status: 503},

		// Cluster.
		{name: "cluster", method: "GET", path: "/v1/cluster", status: 200},
		{name: "join", method: "POST", path: "/v1/cluster/join", header: ct, body: join, status: 204},
		{name: "join conflict", method: "POST", path: "/v1/cluster/join", header: ct,
			body: `{"id":"n1","raft_addr":"127.0.0.1:7999","http_addr":"127.0.0.1:8002"}`, status: 409},
		{name: "join missing field", method: "POST", path: "/v1/cluster/join", header: ct,
			body: `{"id":"n2","raft_addr":"127.0.0.1:7001"}`, status: 400, invalid: true},
		{name: "join bad address", method: "POST", path: "/v1/cluster/join", header: ct,
			body: `{"id":"n2","raft_addr":"nowhere","http_addr":"127.0.0.1:8002"}`, status: 400, invalid: true},
		{name: "join wrong content type", method: "POST", path: "/v1/cluster/join", header: map[string]string{"Content-Type": "application/xml"},
			body: "<join/>", status: 415, invalid: true},
		{name: "join oversized", method: "POST", path: "/v1/cluster/join", header: ct, body: padJSON(join), status: 413},
		{name: "join no leader", setup: noLeader, method: "POST", path: "/v1/cluster/join", header: ct, body: join, status: 503},
		{name: "remove member", method: "DELETE", path: "/v1/cluster/members/n1", status: 204},
		{name: "remove unknown member", method: "DELETE", path: "/v1/cluster/members/n9", status: 404},
		{name: "remove member no leader", setup: noLeader, method: "DELETE", path: "/v1/cluster/members/n1", status: 503},

		// Authentication, on a read, a write and an admin route.
		{name: "no token", token: "none", method: "GET", path: "/v1/policies", status: 401, invalid: true},
		{name: "unknown token", token: "unknown", method: "GET", path: "/v1/policies", status: 401},
		{name: "not a bearer token", header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="},
			method: "GET", path: "/v1/policies", status: 401, invalid: true},
		{name: "no token on a write", token: "none", method: "PUT", path: "/v1/policies/web", header: ct, body: webPolicy, status: 401, invalid: true},
		{name: "read token on a write", token: "read", method: "PUT", path: "/v1/policies/web", header: ct, body: webPolicy, status: 403},
		{name: "read token on a push", token: "read", method: "POST", path: "/v1/metrics", header: ct, body: pushBody(pushSample("web", "cpu")), status: 403},
		{name: "write token on membership", token: "write", method: "POST", path: "/v1/cluster/join", header: ct, body: join, status: 403},
		{name: "write token on tokens", token: "write", method: "GET", path: "/v1/tokens", status: 403},
		{name: "rate limited", token: "slow", prior: 1, method: "GET", path: "/v1/policies", status: 429},
		{name: "read token reads", token: "read", method: "GET", path: "/v1/policies/web", status: 200},
		{name: "read token on the probes", token: "none", method: "GET", path: "/readyz", status: 200},

		// Tokens.
		{name: "tokens", method: "GET", path: "/v1/tokens", status: 200},
		{name: "create token", method: "POST", path: "/v1/tokens", header: ct, body: `{"name":"ci-deploy","role":"write"}`, status: 201},
		{name: "create token with limits", method: "POST", path: "/v1/tokens", header: ct,
			body: `{"name":"dashboards","role":"read","rate":5,"burst":10}`, status: 201},
		{name: "create token named like a file token", method: "POST", path: "/v1/tokens", header: ct,
			body: `{"name":"read","role":"read"}`, status: 409},
		{name: "create token bad role", method: "POST", path: "/v1/tokens", header: ct, body: `{"name":"x","role":"root"}`, status: 400, invalid: true},
		{name: "create token bad name", method: "POST", path: "/v1/tokens", header: ct, body: `{"name":"-x y","role":"read"}`, status: 400, invalid: true},
		{name: "create token unknown field", method: "POST", path: "/v1/tokens", header: ct,
			body: `{"name":"x","role":"read","secret":"capstan_x"}`, status: 400, invalid: true},
		{name: "create token wrong content type", method: "POST", path: "/v1/tokens", header: map[string]string{"Content-Type": "text/plain"},
			body: "x", status: 415, invalid: true},
		{name: "create token oversized", method: "POST", path: "/v1/tokens", header: ct, body: padJSON(`{"name":"x","role":"read"}`), status: 413},
		{name: "create token no leader", setup: noLeader, method: "POST", path: "/v1/tokens", header: ct, body: `{"name":"x","role":"read"}`, status: 503},
		{name: "create token with auth off", tweak: func(o *api.Options) { o.Auth = nil }, token: "none",
			method: "POST", path: "/v1/tokens", header: ct, body: `{"name":"x","role":"read"}`, status: 400, invalid: true},
		{name: "delete token", setup: func(t *testing.T, b *apitest.Backend) {
			if err := b.CreateToken(context.Background(), auth.Token{Name: "old", Role: auth.RoleRead,
				Hash: auth.HashSecret("capstan_" + strings.Repeat("A", 43)), Origin: auth.OriginAPI, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}, method: "DELETE", path: "/v1/tokens/old", status: 204},
		{name: "delete unknown token", method: "DELETE", path: "/v1/tokens/nope", status: 404},
		{name: "delete file token", method: "DELETE", path: "/v1/tokens/read", status: 409},
		{name: "delete token no leader", setup: noLeader, method: "DELETE", path: "/v1/tokens/nope", status: 503},

		// Audit.
		{name: "audit", setup: func(t *testing.T, b *apitest.Backend) {
			if err := b.Audit(context.Background(), api.AuditEntry{Time: time.Now(), Node: "n1", Token: "admin", Role: "admin",
				Source: "127.0.0.1:50000", Method: "PUT", Path: "/v1/policies/web", Action: api.AuditPolicyPut, Target: "web",
				NewVersion: 1, Status: 200}); err != nil {
				t.Fatal(err)
			}
			if err := b.Audit(context.Background(), api.AuditEntry{Time: time.Now(), Node: "n1", Token: "read", Role: "read",
				Source: "127.0.0.1:50001", ForwardedBy: "n2", Via: "127.0.0.1:50002", Method: "DELETE", Path: "/v1/policies/web",
				Action: api.AuditPolicyDelete, Target: "web", OldVersion: 1, Status: 403, Code: "forbidden"}); err != nil {
				t.Fatal(err)
			}
		}, method: "GET", path: "/v1/audit", status: 200},
		{name: "audit limit", method: "GET", path: "/v1/audit?limit=10", status: 200},
		{name: "relay a refusal", token: "admin", method: "POST", path: "/v1/audit",
			header: map[string]string{"Content-Type": jsonCT, api.ForwardedByHeader: "n2", api.NodeTokenHeader: "$admin"},
			body:   `{"method":"PUT","path":"/v1/policies/web","source":"127.0.0.1:50000","token":"read"}`, status: 204},
		{name: "relay a refusal not from a node", token: "admin", method: "POST", path: "/v1/audit",
			header: map[string]string{"Content-Type": jsonCT, api.ForwardedByHeader: "n2"},
			body:   `{"method":"PUT","path":"/v1/policies/web","source":"127.0.0.1:50000","token":"read"}`, status: 403},
		{name: "relay by a read token", token: "read", method: "POST", path: "/v1/audit",
			header: map[string]string{"Content-Type": jsonCT, api.ForwardedByHeader: "n2"},
			body:   `{"method":"PUT","path":"/v1/policies/web","source":"127.0.0.1:50000","token":"read"}`, status: 403},
		{name: "relay an allowed write", token: "admin", method: "POST", path: "/v1/audit",
			header: map[string]string{"Content-Type": jsonCT, api.ForwardedByHeader: "n2", api.NodeTokenHeader: "$admin"},
			body:   `{"method":"PUT","path":"/v1/policies/web","source":"127.0.0.1:50000","token":"write"}`, status: 400},
		{name: "audit limit zero", method: "GET", path: "/v1/audit?limit=0", status: 400, invalid: true},

		// Operations.
		{name: "healthz", method: "GET", path: "/healthz", status: 200},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "readyz not ready", setup: func(_ *testing.T, b *apitest.Backend) {
			b.SetNotReady(fmt.Errorf("applied index 3 behind commit index 9"))
		}, method: "GET", path: "/readyz", status: 503},
		{name: "metrics", method: "GET", path: "/metrics", status: 200},
		{name: "metrics without a registry", tweak: func(o *api.Options) { o.Registerer = nil }, method: "GET", path: "/metrics", status: 404},
		{name: "openapi", method: "GET", path: api.OpenAPIPath, status: 200},
	}
}

// TestOpenAPIRealTraffic sends real requests to the handler over the
// in-memory backend and checks each request and each answer against the
// served document: every documented operation must be seen to succeed,
// every status the handler gives must be documented, and every body must
// match its schema.
func TestOpenAPIRealTraffic(t *testing.T) {
	v := newSpecValidator(t)
	secrets, fileTokens := openAPITokens(t)
	v.tokens = secrets
	succeeded := map[string]bool{}
	cases := trafficCases(t)
	ran := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ran++
			n := openAPINode(t, fileTokens, func(o *api.Options) {
				o.MaxBodyBytes = smallBody
				if tc.tweak != nil {
					tc.tweak(o)
				}
			})
			seedWeb(t, n.b)
			if tc.setup != nil {
				tc.setup(t, n.b)
			}
			writes := n.b.Writes()
			op := v.exchange(t, n.srv.URL, tc)
			if tc.status < 300 && op != "" {
				succeeded[op] = true
			}
			if tc.status >= 400 && n.b.Writes() != writes {
				t.Errorf("answered %d but the backend committed %d write(s)", tc.status, n.b.Writes()-writes)
			}
		})
	}
	if ran < len(cases) {
		return // -run chose some cases; coverage is judged on a full run
	}
	for _, r := range api.RoutePatterns() {
		if !succeeded[r] {
			t.Errorf("route %s has no successful case in trafficCases: add one, so its answers are checked against api/openapi.yaml", r)
		}
	}
}

// exchange sends tc to the server at base, checks the request and the
// answer against the document, and returns the operation ("METHOD /path")
// it was routed to.
func (v *specValidator) exchange(t *testing.T, base string, tc trafficCase) string {
	t.Helper()
	if v.tokens != nil && tc.header["Authorization"] == "" {
		if h := v.tokens.authorization(tc.token); h != "" {
			hdr := map[string]string{"Authorization": h}
			for k, val := range tc.header {
				hdr[k] = val
			}
			tc.header = hdr
		}
	}
	// "$admin" in a header stands for the admin token's secret (the node
	// token of the node-to-node routes).
	for k, val := range tc.header {
		if val == "$admin" && v.tokens != nil {
			tc.header[k] = strings.TrimPrefix(v.tokens.authorization("admin"), "Bearer ")
		}
	}
	return v.exchangeAs(t, base, tc)
}

// exchangeAs is exchange with the headers as given.
func (v *specValidator) exchangeAs(t *testing.T, base string, tc trafficCase) string {
	t.Helper()
	newReq := func() *http.Request {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, err := http.NewRequest(tc.method, base+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, val := range tc.header {
			req.Header.Set(k, val)
		}
		return req
	}

	ctx := context.Background()
	opts := validationOptions()
	route, params, findErr := v.router.FindRoute(newReq())
	var in *openapi3filter.RequestValidationInput
	if findErr == nil {
		in = &openapi3filter.RequestValidationInput{Request: newReq(), PathParams: params, Route: route, Options: opts}
		err := openapi3filter.ValidateRequest(ctx, in)
		switch {
		case err != nil && !tc.invalid:
			t.Errorf("the document refuses a request the server is meant to take: %v", err)
		case err == nil && tc.invalid:
			t.Errorf("the document accepts a request it should refuse (the server answers %d)", tc.status)
		}
	} else if !tc.invalid && tc.status < 400 {
		t.Errorf("the document has no operation for %s %s: %v", tc.method, tc.path, findErr)
	}

	for range tc.prior {
		resp, err := http.DefaultClient.Do(newReq())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != tc.status {
		t.Errorf("status %d, want %d; body: %.300s", resp.StatusCode, tc.status, body)
	}
	if resp.StatusCode >= 400 {
		checkErrorShape(t, v.doc, resp.StatusCode, body)
	}
	if findErr != nil {
		// No operation to check the answer against (the path is unknown
		// or its pattern refuses the parameter); checkErrorShape did.
		return ""
	}
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts,
	}
	rin.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Errorf("the %d answer does not match the document: %v\nbody: %.500s", resp.StatusCode, err, body)
	}
	// kin-openapi checks the headers a response documents, not the ones
	// it leaves out; these are part of the contract and must be documented.
	if doc := route.Operation.Responses.Status(resp.StatusCode); doc != nil {
		for _, name := range contractHeaders {
			if resp.Header.Get(name) != "" && doc.Value.Headers[name] == nil {
				t.Errorf("the %d answer carries %s, which the document does not list for it", resp.StatusCode, name)
			}
		}
	}
	return route.Method + " " + route.Path
}

// contractHeaders are the response headers clients act on.
var contractHeaders = []string{"ETag", "Retry-After", "WWW-Authenticate", "Allow", "Location"}

// checkErrorShape validates an error body against the Error schema.
func checkErrorShape(t *testing.T, doc *openapi3.T, status int, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%d answer is not JSON: %v: %.200s", status, err, body)
		return
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		t.Errorf("%d answer is not the Error shape: %v", status, err)
	}
}

// TestOpenAPIUnroutedAnswers checks the answers no operation describes: a
// known path with a method it does not serve, and an unknown path. Their
// shapes are the document's MethodNotAllowed and NotFound responses.
func TestOpenAPIUnroutedAnswers(t *testing.T) {
	v := newSpecValidator(t)
	n := newNode(t, "n1", nil)
	for _, tc := range []struct {
		method, path string
		status       int
		response     string
	}{
		{"PATCH", "/v1/policies/web", 405, "MethodNotAllowed"},
		{"POST", "/v1/cluster", 405, "MethodNotAllowed"},
		{"PUT", "/healthz", 405, "MethodNotAllowed"},
		{"GET", "/v1/cluster/join", 405, "MethodNotAllowed"},
		{"GET", "/v2/policies", 404, "NotFound"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, n.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := v.router.FindRoute(req); err == nil {
				t.Fatalf("the document has an operation for %s %s; this test is for answers outside every operation", tc.method, tc.path)
			}
			r := send(t, tc.method, n.srv.URL+tc.path, nil, "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			resp := v.doc.Components.Responses[tc.response].Value
			var body any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			if err := resp.Content.Get("application/json").Schema.Value.VisitJSON(body); err != nil {
				t.Errorf("answer does not match components.responses.%s: %v", tc.response, err)
			}
			for name := range resp.Headers {
				if r.header.Get(name) == "" {
					t.Errorf("answer lacks the %s header that components.responses.%s documents", name, tc.response)
				}
			}
		})
	}
}

// yamlToJSONValue turns a YAML document into the value encoding/json
// would decode from its JSON form, which is what schemas validate.
func yamlToJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenAPIExamplePoliciesValidate(t *testing.T) {
	doc := servedSpec(t)
	schema := doc.Components.Schemas["Policy"].Value
	files, err := filepath.Glob("../examples/policies/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example policies found in examples/policies")
	}
	v := newSpecValidator(t)
	secrets, fileTokens := openAPITokens(t)
	v.tokens = secrets
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := policy.Parse(data); err != nil {
				t.Fatalf("the example is not a valid policy: %v", err)
			}
			value := yamlToJSONValue(t, data)
			if err := schema.VisitJSON(value); err != nil {
				t.Fatalf("the example does not match the Policy schema: %v", err)
			}
			// The server's answer, with every default filled in, matches
			// the document too.
			body, err := json.Marshal(value)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := value.(map[string]any)["id"].(string)
			n := openAPINode(t, fileTokens, nil)
			v.exchange(t, n.srv.URL, trafficCase{method: "PUT", path: "/v1/policies/" + id,
				header: map[string]string{"Content-Type": jsonCT}, body: string(body), status: 200})
		})
	}
}

// TestOpenAPIPolicySchemaRefusesInvalid checks that the Policy schema
// refuses policies the server refuses, for the rules a schema can state.
func TestOpenAPIPolicySchemaRefusesInvalid(t *testing.T) {
	schema := servedSpec(t).Components.Schemas["Policy"].Value
	const metrics = `metrics:
  - {name: cpu, type: cpu, target: 60}
  - {name: jobs, type: queue_depth, target: 50, source: {kind: sqs, queue_url: "https://sqs.us-east-1.amazonaws.com/1/jobs", region: us-east-1}}
  - {name: rps, type: request_rate, target: 100, source: {kind: prometheus, query: "sum(rate(http_requests_total[1m]))"}}
  - {name: api_rps, type: request_rate, target: 100, source: {match: {job: api}, match_re: {instance: "api-.*"}}}
`
	const valid = `
id: web
target: {provider: gcp, project: p1, group: web-mig, zone: us-central1-a}
min: 1
max: 10
warmup: 3m
tolerance: 0.1
` + metrics + `scale_out: {cooldown: 1m, max_step: {instances: 4, percent: 100, period: 1m}}
scale_in: {cooldown: 5m, stabilization: 5m, max_step: {instances: 2, percent: 10, period: 1m}}
predictive: {mode: forecast-only, lead: 5m, season: 24h, history: 7d, max_extra: 2.5%}
stale_after: 1m
fallback_size: 2
`
	if _, err := policy.Parse([]byte(valid)); err != nil {
		t.Fatalf("the base policy is not valid: %v", err)
	}
	if err := schema.VisitJSON(yamlToJSONValue(t, []byte(valid))); err != nil {
		t.Fatalf("the base policy does not match the schema: %v", err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"id with capitals", "id: web", "id: Web"},
		{"id too long", "id: web", "id: " + strings.Repeat("w", 64)},
		{"no target", "target: {provider: gcp, project: p1, group: web-mig, zone: us-central1-a}\n", ""},
		{"unknown provider", "provider: gcp", "provider: openstack"},
		{"gcp without zone or region", ", zone: us-central1-a", ""},
		{"gcp with zone and region", "zone: us-central1-a", "zone: us-central1-a, region: us-central1"},
		{"field of another provider", "zone: us-central1-a", "zone: us-central1-a, scale_set: x"},
		{"negative min", "min: 1", "min: -1"},
		{"max zero", "max: 10", "max: 0"},
		{"max too large", "max: 10", "max: 100001"},
		{"duration in words", "warmup: 3m", "warmup: 3 minutes"},
		{"duration as a number", "warmup: 3m", "warmup: 3"},
		{"tolerance one", "tolerance: 0.1", "tolerance: 1"},
		{"unknown field", "tolerance: 0.1", "tolerance: 0.1\njitter: 1s"},
		{"no metrics", metrics, "metrics: []\n"},
		{"metric name with dash", "{name: cpu,", "{name: c-p-u,"},
		{"unknown metric type", "type: cpu", "type: memory"},
		{"zero target", "type: cpu, target: 60", "type: cpu, target: 0"},
		{"prometheus without query", `, query: "sum(rate(http_requests_total[1m]))"`, ""},
		{"unknown source kind", "kind: sqs", "kind: kafka"},
		{"empty label matcher", "match: {job: api}", "match: {}"},
		{"matcher on a prometheus source", `query: "sum(rate(http_requests_total[1m]))"`, `query: "sum(rate(http_requests_total[1m]))", match: {job: x}`},
		{"scale-in percent over 100", "instances: 2, percent: 10", "instances: 2, percent: 150"},
		{"negative instances", "instances: 4", "instances: -4"},
		{"unknown predictive mode", "mode: forecast-only", "mode: always"},
		{"bad season", "season: 24h", "season: daily"},
		{"max_extra without a percent sign", "max_extra: 2.5%", "max_extra: 2.5"},
		{"max_extra in words", "max_extra: 2.5%", "max_extra: half"},
		{"max_extra negative", "max_extra: 2.5%", "max_extra: -1%"},
		{"negative fallback", "fallback_size: 2", "fallback_size: -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(valid, tc.old, tc.new, 1)
			if doc == valid {
				t.Fatalf("%q is not in the base policy", tc.old)
			}
			if _, err := policy.Parse([]byte(doc)); err == nil {
				t.Fatalf("policy.Parse accepts it; the case should be one the server refuses")
			}
			if err := schema.VisitJSON(yamlToJSONValue(t, []byte(doc))); err == nil {
				t.Error("the Policy schema accepts a policy the server refuses")
			}
		})
	}
}
