package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/metrics/promreg"
	"github.com/capstan-io/capstan/metrics/remotewrite"
)

// Sources of ingested samples, the "source" label of the ingest metrics.
const (
	sourcePush        = "push"
	sourceRemoteWrite = "remote_write"
)

// Reasons a sample or a request is rejected, the "reason" label of
// capstan_ingest_rejected_total. They are a closed set, so that no input
// can create metric series.
const (
	rejectMalformed     = "malformed"      // the request could not be decoded (counted once per request)
	rejectTooLarge      = "too_large"      // the request was over a limit (counted once per request)
	rejectUnknownSeries = "unknown_series" // a remote-write series without the routing labels
	rejectNotFinite     = "not_finite"     // NaN or ±Inf
	rejectHistogram     = "histogram"      // a native histogram sample, which no metric type uses
	rejectUnknownPolicy = "unknown_policy"
	rejectUnknownMetric = "unknown_metric"
	rejectTooOld        = "too_old"
	rejectInFuture      = "in_future"
	rejectMissingField  = "missing_field" // a pushed sample without policy, metric or time
	rejectOther         = "other"         // a Backend reason not recognised below
)

// SeriesRouter is the part of a Backend that routes remote-write series by
// the label matchers of policy sources (source.match, source.match_re).
type SeriesRouter interface {
	// SeriesRouter returns the router for one request, consistent with
	// the policies at the time of the call.
	SeriesRouter() remotewrite.Router
}

// errTooManySamples marks the refusal of a push over MaxSamplesPerPush, so
// that it counts as too_large rather than malformed.
var errTooManySamples = errors.New("too many samples")

// ingestMetrics count samples in and out of the two push sources.
type ingestMetrics struct {
	samples  *prometheus.CounterVec // accepted, by source
	rejected *prometheus.CounterVec // by source and reason
}

// newIngestMetrics creates the ingest collectors and registers them on reg,
// reusing ones already registered, like newRequestMetrics.
func newIngestMetrics(reg prometheus.Registerer) ingestMetrics {
	m := ingestMetrics{
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_ingest_samples_total",
			Help: "Pushed and remote-written samples the leader accepted, by source.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "capstan_ingest_rejected_total",
			Help: "Pushed and remote-written samples the leader rejected, by source and reason; a request refused whole (malformed, too_large) counts once.",
		}, []string{"source", "reason"}),
	}
	m.samples, _ = promreg.Register(reg, m.samples)
	m.rejected, _ = promreg.Register(reg, m.rejected)
	return m
}

// reject counts n rejections.
func (m ingestMetrics) reject(source, reason string, n int) {
	if n > 0 {
		m.rejected.WithLabelValues(source, reason).Add(float64(n))
	}
}

// refused counts a request refused whole, by the error it was refused with.
func (m ingestMetrics) refused(source string, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, remotewrite.ErrTooLarge) || errors.Is(err, errTooManySamples) {
		m.reject(source, rejectTooLarge, 1)
		return
	}
	m.reject(source, rejectMalformed, 1)
}

// backendVerdicts counts what PushMetrics decided.
func (m ingestMetrics) backendVerdicts(source string, res PushResult) {
	if res.Accepted > 0 {
		m.samples.WithLabelValues(source).Add(float64(res.Accepted))
	}
	for _, rj := range res.Rejected {
		m.reject(source, rejectReason(rj.Reason), 1)
	}
}

// rejectReason maps a RejectedItem's reason, which is prose written for the
// sender, to a metric label. The Backend contract carries no reason code,
// so this matches the phrases the control plane (and apitest) use, after
// removing the quoted names a reason cites (a policy named "no metric"
// must not steer the match); an unrecognised reason is "other", never a
// new label.
func rejectReason(reason string) string {
	switch r := strings.ToLower(withoutQuoted(reason)); {
	case strings.Contains(r, "unknown policy"), strings.Contains(r, "no policy"):
		return rejectUnknownPolicy
	case strings.Contains(r, "no metric"), strings.Contains(r, "unknown metric"):
		return rejectUnknownMetric
	case strings.Contains(r, "finite"):
		return rejectNotFinite
	case strings.Contains(r, "in the past"), strings.Contains(r, "too old"):
		return rejectTooOld
	case strings.Contains(r, "in the future"):
		return rejectInFuture
	case strings.Contains(r, "required"):
		return rejectMissingField
	}
	return rejectOther
}

// withoutQuoted returns s without its Go-quoted substrings (%q verbs).
func withoutQuoted(s string) string {
	if !strings.Contains(s, `"`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '"' {
			if q, err := strconv.QuotedPrefix(s[i:]); err == nil {
				i += len(q)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// remoteWriteMessage is the only protobuf message accepted: remote-write
// 1.0's. Remote-write 2.0 senders name theirs in the proto parameter.
const remoteWriteMessage = "prometheus.WriteRequest"

// checkRemoteWriteHeaders refuses what is not a remote-write 1.0 request:
// another encoding than snappy, another media type than protobuf, or the
// 2.0 message. Absent headers are taken for what Prometheus sends, so a
// bare client needs to get only the body right.
func checkRemoteWriteHeaders(r *http.Request) error {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Encoding %q is not supported here; remote write bodies are snappy block-compressed (Content-Encoding: snappy)", enc)}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type %q: %v", ct, err)}
	}
	if mt != "application/x-protobuf" {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("Content-Type %s is not supported here; remote write sends application/x-protobuf", mt)}
	}
	if p, ok := params["proto"]; ok && p != remoteWriteMessage {
		// Remote-write 2.0 says a receiver answers 415 to a message it
		// does not take, so that the sender can fall back to 1.0.
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			msg: fmt.Sprintf("protobuf message %q is not supported; only remote-write 1.0 (%s): set protobuf_message: %s in Prometheus's remote_write", p, remoteWriteMessage, remoteWriteMessage)}
	}
	return nil
}

// remoteWrite is Prometheus's remote-write receiver. A well-formed request
// is answered 204 whatever becomes of its samples, since remote-write 1.0
// has no way to report them one by one and a 4xx would make Prometheus
// drop the whole batch: series that route nowhere, stale markers, and
// samples the control plane rejects are counted instead. A request that
// cannot be decoded is answered 400 and one over a limit 413, which
// Prometheus does not retry (the same bytes would fail again); having no
// leader is a 503 with Retry-After, which it retries.
func (h *handler) remoteWrite(w http.ResponseWriter, r *http.Request) error {
	if err := checkRemoteWriteHeaders(r); err != nil {
		return err
	}
	data, err := readBody(w, r, h.maxBody)
	if err != nil {
		h.ingest.refused(sourceRemoteWrite, err)
		return err
	}
	var route remotewrite.Router
	if sr, ok := h.b.(SeriesRouter); ok {
		route = sr.SeriesRouter()
	}
	decoded, st, err := remotewrite.DecodeRouted(data, route)
	if err != nil {
		h.ingest.refused(sourceRemoteWrite, err)
		if errors.Is(err, remotewrite.ErrTooLarge) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeBodyTooLarge, msg: err.Error(), err: err}
		}
		return &apiError{status: http.StatusBadRequest, code: CodeBadRequest, err: err,
			msg: err.Error() + "; send what Prometheus's remote_write sends: a snappy-compressed prometheus.WriteRequest"}
	}
	h.ingest.reject(sourceRemoteWrite, rejectUnknownSeries, st.UnknownSamples)
	h.ingest.reject(sourceRemoteWrite, rejectNotFinite, st.NotFinite)
	h.ingest.reject(sourceRemoteWrite, rejectHistogram, st.Histograms)
	if len(decoded) > 0 {
		// remotewrite.Sample mirrors Sample so that this conversion
		// compiles; a field added to one and not the other breaks the
		// build here rather than losing data.
		samples := make([]Sample, len(decoded))
		for i, s := range decoded {
			samples[i] = Sample(s)
		}
		res, err := h.b.PushMetrics(r.Context(), samples)
		if err != nil {
			return err
		}
		h.ingest.backendVerdicts(sourceRemoteWrite, res)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
