package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/api/auth"
	"github.com/capstan-io/capstan/policy"
)

// FuzzPushRequest throws arbitrary bodies at POST /v1/metrics: the handler
// must never panic or answer 5xx, must always answer in the error shape or
// with a PushResult that accounts for every sample, and must store nothing
// from a batch it refused.
func FuzzPushRequest(f *testing.F) {
	for _, seed := range []string{
		`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":42.5}]}`,
		`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00+02:00","value":-1e308},{"policy":"x","metric":"y","time":"2024-01-01T00:00:00Z","value":0}]}`,
		`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1e400}]}`,
		`{"samples":[{"policy":"web","metric":"cpu","time":"0001-01-01T00:00:00Z","value":1}]}`,
		`{"samples":[{}]}`, `{"samples":null}`, `{"samples":[null]}`, `{"samples":[1]}`, `{"samples":"x"}`,
		`{"samples":[],"x":1}`, `[]`, `null`, `"x"`, ``, `{`, `{"samples":[{"policy":"web","metric":"cpu","value":1}]} trailing`,
		`{"SAMPLES":[{"POLICY":"web","Metric":"cpu","Time":"2024-01-01T00:00:00Z","Value":1}]}`,
		"{\"samples\":[{\"policy\":\"w\\u0000eb\",\"metric\":\"\xff\",\"time\":\"2024-01-01T00:00:00Z\",\"value\":1}]}",
	} {
		f.Add([]byte(seed))
	}
	b := apitest.NewBackend("n1")
	web, err := policy.Parse([]byte(webJSON))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := b.PutPolicy(f.Context(), web, ""); err != nil {
		f.Fatal(err)
	}
	h := api.NewHandler(api.Options{Backend: b, MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(b.Samples())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/metrics", bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != 200 {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d without the error shape: %s", rec.Code, rec.Body)
			}
			if n := len(b.Samples()); n != before {
				t.Fatalf("refused batch stored %d samples", n-before)
			}
			return
		}
		var res api.PushResult
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatalf("200 without a PushResult: %s", rec.Body)
		}
		var req struct {
			Samples []json.RawMessage `json:"samples"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		if res.Accepted+len(res.Rejected) != len(req.Samples) {
			t.Fatalf("%d samples, %d accepted + %d rejected", len(req.Samples), res.Accepted, len(res.Rejected))
		}
		if n := len(b.Samples()); n != before+res.Accepted {
			t.Fatalf("stored %d samples, reported %d accepted", n-before, res.Accepted)
		}
		for _, rj := range res.Rejected {
			if rj.Index < 0 || rj.Index >= len(req.Samples) || strings.TrimSpace(rj.Reason) == "" {
				t.Fatalf("rejection %+v", rj)
			}
		}
	})
}

// FuzzJSONWrites throws arbitrary bodies at the API's JSON write routes
// other than pushes (a policy put, a token creation, a cluster join): the
// handler never panics or answers 5xx, answers every refusal in the error
// shape, and a refused request changes nothing.
func FuzzJSONWrites(f *testing.F) {
	for _, seed := range []struct {
		route byte
		body  string
	}{
		{0, webJSON},
		{0, `{"id":"web","target":{"provider":"fake","group":"g"},"min":1,"max":2,"metrics":[{"name":"q","type":"queue_depth","target":5,"source":{"match":{"job":"x"}}}]}`},
		{0, `{"id":"web","min":"x"}`}, {0, "id: web\n"}, {0, `{"id":"web","target":null}`},
		{1, `{"name":"ci","role":"write"}`}, {1, `{"name":"ci","role":"root","rate":-1}`}, {1, `{"name":"","role":"read","x":1}`},
		{2, `{"id":"n2","raft_addr":"127.0.0.1:7002","http_addr":"https://127.0.0.1:8082"}`}, {2, `{"id":"n2"}`}, {2, `[]`},
		{0, ``}, {1, `{`}, {2, `null`},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	routes := []struct{ method, path string }{
		{"PUT", "/v1/policies/web"},
		{"POST", "/v1/tokens"},
		{"POST", "/v1/cluster/join"},
	}
	b := apitest.NewBackend("n1")
	secret, err := auth.GenerateSecret()
	if err != nil {
		f.Fatal(err)
	}
	admin := []auth.Token{{Name: "admin", Role: auth.RoleAdmin, Hash: auth.HashSecret(secret)}}
	authn, err := auth.New(auth.Options{Load: func() ([]auth.Token, error) { return admin, nil }, Source: b})
	if err != nil {
		f.Fatal(err)
	}
	h := api.NewHandler(api.Options{Backend: b, MaxBodyBytes: 64 << 10, Auth: authn})
	send := func(method, path string, body io.Reader) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// The routes are reachable: a good body of each is accepted.
	for i, good := range []string{webJSON, `{"name":"ci","role":"write"}`, `{"id":"n2","raft_addr":"127.0.0.1:7002","http_addr":"127.0.0.1:8082"}`} {
		if rec := send(routes[i].method, routes[i].path, strings.NewReader(good)); rec.Code >= 300 {
			f.Fatalf("%s %s with a good body: %d %s", routes[i].method, routes[i].path, rec.Code, rec.Body)
		}
	}
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		rt := routes[int(route)%len(routes)]
		before := b.Writes()
		rec := send(rt.method, rt.path, bytes.NewReader(body))
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s: status %d for %q: %s", rt.method, rt.path, rec.Code, body, rec.Body)
		case rec.Code >= 400:
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d without the error shape: %s", rec.Code, rec.Body)
			}
			if b.Writes() != before {
				t.Fatalf("%s %s refused with %d, yet the backend changed", rt.method, rt.path, rec.Code)
			}
		}
	})
}

// FuzzSimulateRequest throws arbitrary candidate bodies, as JSON or YAML,
// at POST /v1/policies/{id}/simulate over a short recorded history: the
// handler must never panic or answer 5xx, must answer a WhatIf whose
// verdict agrees with its figures or an error in the one shape, and must
// write nothing.
func FuzzSimulateRequest(f *testing.F) {
	for _, seed := range []string{
		webJSON,
		strings.Replace(webJSON, `"target":100`, `"target":1e-300`, 1),
		strings.Replace(webJSON, `"max":10`, `"max":100000`, 1),
		strings.Replace(webJSON, `"min":1`, `"min":1,"evaluation_interval":"1s","predictive":{"mode":"forecast-and-scale","season":"auto"}`, 1),
		strings.Replace(webJSON, `"min":1`, `"min":1,"cost":{"per_instance_hour":0.5,"currency":"EUR"}`, 1),
		"id: web\ntarget: {provider: fake, group: web}\nmin: 0\nmax: 1\nmetrics: [{name: rps, type: request_rate, target: 1}]\n",
		`{"id":"web"}`, `{}`, `null`, ``, `{"id":"web",`, "id: [", "\xff",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	b := apitest.NewBackend("n1")
	web, err := policy.Parse([]byte(webJSON))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := b.PutPolicy(f.Context(), web, ""); err != nil {
		f.Fatal(err)
	}
	b.SetStatus(api.PolicyStatus{ID: "web", Ready: 2})
	at := time.Now().UTC().Truncate(10 * time.Second).Add(-10 * time.Minute)
	var samples []api.Sample
	for i := range 40 {
		ts := at.Add(time.Duration(i) * 10 * time.Second)
		samples = append(samples, api.Sample{Policy: "web", Metric: "cpu", Time: ts, Value: float64(20 + i)},
			api.Sample{Policy: "web", Metric: "rps", Time: ts, Value: float64(100 + 10*i)})
	}
	if _, err := b.PushMetrics(f.Context(), samples); err != nil {
		f.Fatal(err)
	}
	writes := b.Writes()
	h := api.NewHandler(api.Options{Backend: b, MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte, yaml bool) {
		req := httptest.NewRequest("POST", "/v1/policies/web/simulate", bytes.NewReader(body))
		if yaml {
			req.Header.Set("Content-Type", "application/yaml")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code == 200 {
			var w api.WhatIf
			if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil {
				t.Fatalf("200 that is not a WhatIf: %v: %s", err, rec.Body)
			}
			if w.Verdict.NoWorse != (len(w.Verdict.Worse) == 0) || w.Stored.Samples != w.Candidate.Samples {
				t.Fatalf("inconsistent answer: %s", rec.Body)
			}
		} else {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("status %d not in the error shape: %s", rec.Code, rec.Body)
			}
		}
		if b.Writes() != writes {
			t.Fatalf("the replay wrote %d time(s)", b.Writes()-writes)
		}
	})
}
