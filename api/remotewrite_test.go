package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/api/apitest"
	"github.com/capstan-io/capstan/metrics/promtest"
	"github.com/capstan-io/capstan/metrics/remotewrite"
	"github.com/capstan-io/capstan/policy"
)

// rwHeaders are the headers Prometheus's remote-write client sends.
var rwHeaders = map[string]string{
	"Content-Encoding":                  "snappy",
	"Content-Type":                      "application/x-protobuf",
	"X-Prometheus-Remote-Write-Version": "0.1.0",
	"User-Agent":                        "Prometheus/2.53.0",
}

// rwSeries is a series routed to policy pol, metric met, with one sample
// per value at one-second steps from t0.
func rwSeries(pol, met string, t0 time.Time, values ...float64) prompb.TimeSeries {
	ts := prompb.TimeSeries{Labels: []prompb.Label{
		{Name: "__name__", Value: "web_rps"}, {Name: remotewrite.MetricLabel, Value: met},
		{Name: remotewrite.PolicyLabel, Value: pol}, {Name: "job", Value: "web"},
	}}
	for i, v := range values {
		ts.Samples = append(ts.Samples, prompb.Sample{Value: v, Timestamp: t0.Add(time.Duration(i) * time.Second).UnixMilli()})
	}
	return ts
}

// rwBody encodes series as Prometheus does: protobuf, then one snappy block.
func rwBody(t testing.TB, series ...prompb.TimeSeries) string {
	t.Helper()
	raw, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(snappy.Encode(nil, raw))
}

func rejectedRW(t *testing.T, n *node, reason string) float64 {
	t.Helper()
	return promtest.Sum(t, n.reg, "capstan_ingest_rejected_total", map[string]string{"source": "remote_write", "reason": reason})
}

func TestRemoteWrite(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	stale := math.Float64frombits(0x7ff0000000000002)
	body := rwBody(t,
		rwSeries("web", "rps", t0, 120, 130.5),
		rwSeries("web", "cpu", t0, stale, 55),
		prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: t0.UnixMilli()}, {Value: 1, Timestamp: t0.UnixMilli() + 1}}},
		rwSeries("web", "cpu", t0, math.NaN(), math.Inf(1)),
		rwSeries("nope", "cpu", t0, 1),
		rwSeries("web", "memory", t0, 1, 2),
	)
	r := send(t, "POST", n.srv.URL+"/api/v1/write", rwHeaders, body)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("status %d, body %q; want 204 and no body", r.status, r.body)
	}
	want := []api.Sample{
		{Policy: "web", Metric: "rps", Time: t0, Value: 120},
		{Policy: "web", Metric: "rps", Time: t0.Add(time.Second), Value: 130.5},
		{Policy: "web", Metric: "cpu", Time: t0.Add(time.Second), Value: 55},
	}
	got := n.b.Samples()
	if len(got) != len(want) {
		t.Fatalf("backend has %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i].Policy != want[i].Policy || got[i].Metric != want[i].Metric || !got[i].Time.Equal(want[i].Time) || got[i].Value != want[i].Value {
			t.Errorf("sample %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for reason, wantN := range map[string]float64{
		"unknown_series": 2, // the two samples of "up"
		"not_finite":     2,
		"unknown_policy": 1,
		"unknown_metric": 2,
	} {
		if got := rejectedRW(t, n, reason); got != wantN {
			t.Errorf("rejected{reason=%q} = %v, want %v", reason, got, wantN)
		}
	}
	if got := promtest.Sum(t, n.reg, "capstan_ingest_samples_total", map[string]string{"source": "remote_write"}); got != 3 {
		t.Errorf("samples_total{remote_write} = %v, want 3", got)
	}

	// Without the optional headers the body alone is enough; the parameter
	// naming the 1.0 message is accepted too.
	r = send(t, "POST", n.srv.URL+"/api/v1/write", map[string]string{"Content-Type": "application/x-protobuf; proto=prometheus.WriteRequest"},
		rwBody(t, rwSeries("web", "rps", t0.Add(time.Minute), 1)))
	if r.status != http.StatusNoContent || len(n.b.Samples()) != 4 {
		t.Fatalf("status %d %s; backend has %d samples", r.status, r.body, len(n.b.Samples()))
	}

	// Nothing for Capstan in a request is still a success, and PushMetrics
	// is not called with nothing.
	writes := n.b.Writes()
	r = send(t, "POST", n.srv.URL+"/api/v1/write", rwHeaders, rwBody(t, rwSeries("web", "cpu", t0, stale)))
	if r.status != http.StatusNoContent || n.b.Writes() != writes {
		t.Fatalf("a stale-only request: status %d, %d writes", r.status, n.b.Writes()-writes)
	}
}

func TestRemoteWriteBadInput(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.MaxBodyBytes = 4 << 20 })
	putWeb(t, n)
	t0 := time.Now().Add(-time.Minute)
	valid := rwBody(t, rwSeries("web", "rps", t0, 1))
	raw, _ := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{rwSeries("web", "rps", t0, 1)}}).Marshal()
	many := make([]float64, remotewrite.MaxSamples+1)
	tests := []struct {
		name   string
		hdr    map[string]string
		body   string
		status int
		code   string
		msg    string
		reason string // counted rejection, if any
	}{
		{name: "uncompressed protobuf", hdr: rwHeaders, body: string(raw), status: 400, code: "bad_request", msg: "snappy", reason: "malformed"},
		{name: "garbage", hdr: rwHeaders, body: "\xff\xfe not snappy at all", status: 400, code: "bad_request", msg: "snappy", reason: "malformed"},
		{name: "empty body", hdr: rwHeaders, status: 400, code: "bad_request", msg: "snappy", reason: "malformed"},
		{name: "snappy of garbage", hdr: rwHeaders, body: string(snappy.Encode(nil, []byte("\x0a\xff\xff\xff garbage"))),
			status: 400, code: "bad_request", msg: "prometheus.WriteRequest", reason: "malformed"},
		{name: "truncated snappy", hdr: rwHeaders, body: valid[:len(valid)-2], status: 400, code: "bad_request", msg: "snappy", reason: "malformed"},
		{name: "decoded size over the limit", hdr: rwHeaders, body: "\x80\x80\x80\x20", status: 413, code: "body_too_large", msg: "decoded size", reason: "too_large"},
		{name: "too many samples", hdr: rwHeaders, body: rwBody(t, rwSeries("web", "rps", t0, many...)),
			status: 413, code: "body_too_large", msg: "samples", reason: "too_large"},
		{name: "body over the limit", hdr: rwHeaders, body: strings.Repeat("x", 4<<20+1), status: 413, code: "body_too_large", reason: "too_large"},
		{name: "gzip", hdr: map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/x-protobuf"}, body: valid,
			status: 415, code: "unsupported_media_type", msg: "snappy"},
		{name: "JSON", hdr: map[string]string{"Content-Type": "application/json"}, body: `{"samples":[]}`,
			status: 415, code: "unsupported_media_type", msg: "application/x-protobuf"},
		{name: "remote write 2.0", hdr: map[string]string{"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
			body: valid, status: 415, code: "unsupported_media_type", msg: "protobuf_message"},
		{name: "GET", body: "", status: 405, code: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = rejectedRW(t, n, tc.reason)
			}
			method := "POST"
			if tc.name == "GET" {
				method = "GET"
			}
			r := send(t, method, n.srv.URL+"/api/v1/write", tc.hdr, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			e := r.errBody(t)
			if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("error %+v, want code %q and a message with %q", e, tc.code, tc.msg)
			}
			if tc.reason != "" {
				if got := rejectedRW(t, n, tc.reason); got != before+1 {
					t.Errorf("rejected{reason=%q} went from %v to %v, want +1", tc.reason, before, got)
				}
			}
		})
	}
	if len(n.b.Samples()) != 0 {
		t.Fatalf("a refused request stored samples: %+v", n.b.Samples())
	}
}

// TestRemoteWriteForwarding: a follower forwards the request, headers and
// all, and the leader decodes, stores and counts it.
func TestRemoteWriteForwarding(t *testing.T) {
	leader := newNode(t, "n1", nil)
	follower := newNode(t, "n2", nil)
	follower.b.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	putWeb(t, leader)
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	r := send(t, "POST", follower.srv.URL+"/api/v1/write", rwHeaders, rwBody(t, rwSeries("web", "cpu", t0, 42, 43)))
	if r.status != http.StatusNoContent {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := leader.b.Samples(); len(got) != 2 || got[0].Value != 42 || !got[1].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("leader has %+v", got)
	}
	if len(follower.b.Samples()) != 0 {
		t.Fatal("the follower stored samples itself")
	}
	if got := promtest.Sum(t, leader.reg, "capstan_ingest_samples_total", map[string]string{"source": "remote_write"}); got != 2 {
		t.Errorf("leader counted %v samples, want 2", got)
	}
	if got := promtest.Sum(t, follower.reg, "capstan_ingest_samples_total", map[string]string{"source": "remote_write"}); got != 0 {
		t.Errorf("follower counted %v samples, want 0: the leader counts what it decides", got)
	}
	// The leader's verdict on a bad body reaches Prometheus unchanged.
	r = send(t, "POST", follower.srv.URL+"/api/v1/write", rwHeaders, "not snappy")
	if r.status != 400 || r.errBody(t).Code != "bad_request" {
		t.Fatalf("bad body through the follower: %d %s", r.status, r.body)
	}
}

// TestRemoteWriteNoLeader: without a leader the answer is a 503 with
// Retry-After, which Prometheus retries, and nothing is counted as
// rejected, since the samples will come again.
func TestRemoteWriteNoLeader(t *testing.T) {
	n := newNode(t, "n1", func(o *api.Options) { o.LeaderWait = 10 * time.Millisecond })
	n.b.SetLeader(false, "")
	r := send(t, "POST", n.srv.URL+"/api/v1/write", rwHeaders, rwBody(t, rwSeries("web", "cpu", time.Now(), 1)))
	if r.status != http.StatusServiceUnavailable || r.errBody(t).Code != "no_leader" {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	mfs, _ := n.reg.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "capstan_ingest_") && len(mf.GetMetric()) > 0 {
			t.Errorf("%s counted while no leader answered", mf.GetName())
		}
	}
}

// failingBackend fails every push, as a control plane that loses its
// leadership mid-commit does.
type failingBackend struct {
	*apitest.Backend
	err error
}

func (f failingBackend) PushMetrics(context.Context, []api.Sample) (api.PushResult, error) {
	return api.PushResult{}, f.err
}

// TestRemoteWriteBackendErrors: a failed commit is a 5xx, which Prometheus
// retries, never a 2xx that would make it drop the samples.
func TestRemoteWriteBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{api.ErrNoLeader, 503},
		{context.DeadlineExceeded, 504},
		{errTest("raft: disk full"), 500},
	} {
		h := api.NewHandler(api.Options{Backend: failingBackend{apitest.NewBackend("n1"), tc.err}})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/write", strings.NewReader(rwBody(t, rwSeries("web", "cpu", time.Now(), 1))))
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%v: status %d, want %d: %s", tc.err, rec.Code, tc.status, rec.Body)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// TestPushCountsIngest: POST /v1/metrics counts under source="push".
func TestPushCountsIngest(t *testing.T) {
	n := newNode(t, "n1", nil)
	putWeb(t, n)
	now := time.Now().UTC().Format(time.RFC3339)
	body := `{"samples":[{"policy":"web","metric":"cpu","time":"` + now + `","value":1},
		{"policy":"web","metric":"nope","time":"` + now + `","value":1},
		{"policy":"ghost","metric":"cpu","time":"` + now + `","value":1},
		{"policy":"","metric":"cpu","time":"` + now + `","value":1}]}`
	if r := send(t, "POST", n.srv.URL+"/v1/metrics", nil, body); r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	send(t, "POST", n.srv.URL+"/v1/metrics", nil, `{"samples":[`)
	push := func(reason string) float64 {
		return promtest.Sum(t, n.reg, "capstan_ingest_rejected_total", map[string]string{"source": "push", "reason": reason})
	}
	if got := promtest.Sum(t, n.reg, "capstan_ingest_samples_total", map[string]string{"source": "push"}); got != 1 {
		t.Errorf("samples_total{push} = %v, want 1", got)
	}
	for reason, want := range map[string]float64{"unknown_metric": 1, "unknown_policy": 1, "missing_field": 1, "malformed": 1} {
		if got := push(reason); got != want {
			t.Errorf("rejected{push,%s} = %v, want %v", reason, got, want)
		}
	}
}

// TestRejectReasonLabels: the control plane's reasons map to their labels,
// and names quoted in a reason cannot steer the mapping.
func TestRejectReasonLabels(t *testing.T) {
	n := newNode(t, "n1", nil)
	cases := map[string]string{
		`policy: unknown policy "web"`:                  "unknown_policy",
		`metric: policy "web" has no metric "cpu"`:      "unknown_metric",
		`metric: policy "no policy" has no metric "x"`:  "unknown_metric",
		`policy: unknown policy "has no metric finite"`: "unknown_policy",
		"value: must be a finite number":                "not_finite",
		"time: more than 1h0m0s in the past":            "too_old",
		"time: more than 5m0s in the future":            "in_future",
		"time: required":                                "missing_field",
		"something new":                                 "other",
	}
	b := &scriptedBackend{Backend: n.b}
	h := api.NewHandler(api.Options{Backend: b, Registerer: n.reg})
	for reason := range cases {
		b.reasons = append(b.reasons, reason)
	}
	var series []prompb.TimeSeries
	for range b.reasons {
		series = append(series, rwSeries("web", "cpu", time.Now(), 1))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/write", strings.NewReader(rwBody(t, series...))))
	if rec.Code != 204 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := map[string]float64{}
	for _, label := range cases {
		want[label]++
	}
	for label, n2 := range want {
		if got := rejectedRW(t, n, label); got != n2 {
			t.Errorf("%s: %v, want %v", label, got, n2)
		}
	}
}

// scriptedBackend rejects the i-th sample with reasons[i].
type scriptedBackend struct {
	*apitest.Backend
	reasons []string
}

func (s *scriptedBackend) PushMetrics(_ context.Context, samples []api.Sample) (api.PushResult, error) {
	var res api.PushResult
	for i := range samples {
		res.Rejected = append(res.Rejected, api.RejectedItem{Index: i, Reason: s.reasons[i]})
	}
	return res, nil
}

// FuzzRemoteWriteRequest throws arbitrary bodies at POST /api/v1/write: the
// handler never panics or answers 5xx, answers 204 or the error shape, and
// stores from an accepted request exactly what the decoder returns.
func FuzzRemoteWriteRequest(f *testing.F) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add([]byte(rwBody(f, rwSeries("web", "cpu", t0, 1, 2), rwSeries("web", "nope", t0, 3))))
	f.Add([]byte(rwBody(f, rwSeries("web", "cpu", t0, math.NaN()))))
	f.Add([]byte{})
	f.Add([]byte("\x80\x80\x80\x20"))
	f.Add([]byte("not snappy"))
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
		req := httptest.NewRequest("POST", "/api/v1/write", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "snappy")
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if rec.Code != 204 {
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("status %d without the error shape: %s", rec.Code, rec.Body)
			}
			if len(b.Samples()) != before {
				t.Fatal("a refused request stored samples")
			}
			return
		}
		decoded, _, err := remotewrite.DecodeBytes(body)
		if err != nil {
			t.Fatalf("204 for a body the decoder refuses: %v", err)
		}
		stored := len(b.Samples()) - before
		if stored > len(decoded) {
			t.Fatalf("stored %d samples from %d decoded", stored, len(decoded))
		}
	})
}

// BenchmarkRemoteWriteHTTP posts 1,000-sample requests over loopback HTTP
// to a backend that accepts everything without storing it, to measure the
// receiver itself (HTTP, snappy, protobuf, mapping) in samples/s.
func BenchmarkRemoteWriteHTTP(b *testing.B) {
	const perRequest = 1000
	var accepted atomic.Int64
	srv := httptest.NewServer(api.NewHandler(api.Options{Backend: countingBackend{apitest.NewBackend("n1"), &accepted}}))
	defer srv.Close()
	t0 := time.Now()
	var series []prompb.TimeSeries
	for i := range perRequest {
		s := rwSeries("web", "rps", t0, float64(i))
		s.Labels = append(s.Labels, prompb.Label{Name: "pod", Value: "web-" + strconv.Itoa(i)})
		series = append(series, s)
	}
	body := []byte(rwBody(b, series...))
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/write", bytes.NewReader(body))
			for k, v := range rwHeaders {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(accepted.Load())/b.Elapsed().Seconds(), "samples/s")
}

// countingBackend accepts every sample and only counts it.
type countingBackend struct {
	*apitest.Backend
	n *atomic.Int64
}

func (c countingBackend) PushMetrics(_ context.Context, samples []api.Sample) (api.PushResult, error) {
	c.n.Add(int64(len(samples)))
	return api.PushResult{Accepted: len(samples)}, nil
}
