package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
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
