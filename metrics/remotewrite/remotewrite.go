// Package remotewrite decodes Prometheus remote-write 1.0 requests into
// Capstan samples, so that an existing Prometheus can feed policies by
// adding Capstan to its remote_write config.
//
// A request body is exactly what Prometheus sends: a snappy block (not the
// framed stream format) holding a protobuf prometheus.WriteRequest. The
// decoding is done by the same code Prometheus uses on both ends, the
// snappy package it encodes with and the generated prompb types, so that
// this package only adds the limits and the mapping from series to policy
// metrics, and never parses the wire format by hand.
//
// A series feeds a policy metric when it carries the labels
// capstan_policy and capstan_metric; its samples become Samples of that
// metric. A recording rule is the natural place to attach them, and a
// keep rule in remote_write stops Prometheus from sending everything else:
//
//	# rules
//	- record: web:http_requests:rate1m
//	  expr: sum(rate(http_requests_total{job="web"}[1m]))
//	  labels: {capstan_policy: web, capstan_metric: rps}
//
//	# prometheus.yml
//	remote_write:
//	  - url: http://capstan:8081/api/v1/write
//	    write_relabel_configs:
//	      - {source_labels: [capstan_policy], regex: .+, action: keep}
//
// A series without those labels can still feed metrics: DecodeRouted asks
// a Router (the control plane's, built from the label matchers in policy
// sources) where it goes, and marks its samples with a series id so that
// the samples of many series can be combined into one group value.
//
// The package does not import the api package (the api imports this one),
// so Sample mirrors api.Sample field for field and converts to it with a
// plain conversion.
package remotewrite

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
)

// Labels that route a series to a policy metric. An operator sets them
// with relabelling in Prometheus's remote_write section (or in the
// recording rule that produces the series), which also keeps unrelated
// series from being sent at all.
const (
	// PolicyLabel names the policy a series feeds.
	PolicyLabel = "capstan_policy"
	// MetricLabel names the metric of that policy the series feeds.
	MetricLabel = "capstan_metric"
)

// Limits of one request. They bound the memory a single request can make
// the receiver allocate, whatever its compressed size claims.
const (
	// MaxDecodedBytes is the largest uncompressed WriteRequest accepted:
	// the same bound client_golang's remote-write handler applies. A
	// Prometheus sender stays far below it (its batches are a few
	// thousand samples, well under a megabyte).
	MaxDecodedBytes = 32 << 20
	// MaxSamples is the largest number of float samples one request may
	// carry, counted over every series, Capstan's or not.
	MaxSamples = 100_000
)

// Errors Decode returns, wrapped with detail; test them with errors.Is. Each
// means the request is refused whole and nothing in it is used.
var (
	// ErrBadSnappy: the body is not a snappy block (it may be
	// uncompressed, gzip, or snappy's framed format).
	ErrBadSnappy = errors.New("malformed remote-write request: body is not a snappy block")
	// ErrBadProtobuf: the snappy block does not hold a prometheus.WriteRequest.
	ErrBadProtobuf = errors.New("malformed remote-write request: not a prometheus.WriteRequest protobuf")
	// ErrTooLarge: the body, its decoded size or its sample count is over a limit.
	ErrTooLarge = errors.New("remote-write request too large")
)

// Sample is one sample of a policy metric. Its fields are api.Sample's, in
// the same order and of the same types, so api.Sample(s) converts it.
type Sample struct {
	// Policy and Metric are the values of PolicyLabel and MetricLabel.
	Policy string
	Metric string
	// Time is the sample's timestamp, in UTC at millisecond precision.
	Time time.Time
	// Value is finite: staleness markers, NaN and ±Inf never get here.
	Value float64
	// Series identifies the series of a sample routed by a label matcher
	// (a hash of its labels, never 0), so that the control plane can
	// combine the series feeding one metric; 0 for series routed by
	// PolicyLabel and MetricLabel, whose values are the group's.
	Series uint64
}

// Target is a policy metric a series feeds.
type Target struct {
	Policy, Metric string
}

// Router returns the policy metrics a series without the routing labels
// feeds, judged by its labels; nil when it feeds none.
type Router func(series labels.Labels) []Target

// Stats account for every float sample of a decoded request: each one is
// counted in exactly one of Accepted, Stale, NotFinite and UnknownSamples,
// so that the receiver can count what it dropped and why.
type Stats struct {
	// Series is the number of series in the request.
	Series int
	// Samples is the number of float samples over all series.
	Samples int
	// Accepted is the number of samples routed to at least one metric; a
	// series a Router sends to several metrics returns a Sample per metric.
	Accepted int
	// Stale is the number of staleness markers dropped. Prometheus sends
	// one when a series disappears; Capstan ages samples by their time
	// instead, so a marker carries nothing to keep and is not an error.
	Stale int
	// NotFinite is the number of NaN or ±Inf values (other than
	// staleness markers) of Capstan series, which no policy can use.
	NotFinite int
	// UnknownSeries is the number of series without both routing labels,
	// and UnknownSamples the number of their (non-stale) samples. They are
	// expected when Prometheus forwards more than Capstan needs, so they
	// are counted, not refused.
	UnknownSeries  int
	UnknownSamples int
	// Histograms is the number of native histogram samples, which no
	// Capstan metric type uses; they are dropped.
	Histograms int
}

// Decode reads a remote-write request body from r, refusing one over
// maxBytes compressed bytes (maxBytes <= 0 means the compressed size of
// MaxDecodedBytes), and decodes it like DecodeBytes.
func Decode(r io.Reader, maxBytes int64) ([]Sample, Stats, error) {
	if maxBytes <= 0 {
		maxBytes = int64(snappy.MaxEncodedLen(MaxDecodedBytes))
	}
	// One byte past the limit tells "exactly at the limit" from "over it".
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, Stats{}, fmt.Errorf("reading the remote-write request: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, Stats{}, fmt.Errorf("%w: body is over the %d-byte limit", ErrTooLarge, maxBytes)
	}
	return DecodeBytes(body)
}

// DecodeBytes decodes a whole snappy-compressed prometheus.WriteRequest and
// returns the samples of the series that carry PolicyLabel and
// MetricLabel, in request order, with their millisecond timestamps as UTC
// times. Values are checked only for being usable numbers; whether the
// policy and metric exist and the time is recent is the caller's
// (the control plane's) to decide.
func DecodeBytes(body []byte) ([]Sample, Stats, error) {
	return DecodeRouted(body, nil)
}

// DecodeRouted is DecodeBytes that also routes series without the routing
// labels through route (nil routes none): each of their samples is
// returned once per Target, with the series' Series id.
func DecodeRouted(body []byte, route Router) ([]Sample, Stats, error) {
	// The block header claims the decoded length, and snappy.Decode
	// allocates that much up front: check the claim before trusting it.
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: %w", ErrBadSnappy, err)
	}
	if n > MaxDecodedBytes {
		return nil, Stats{}, fmt.Errorf("%w: decoded size %d bytes is over the %d-byte limit", ErrTooLarge, n, MaxDecodedBytes)
	}
	buf, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("%w: %w", ErrBadSnappy, err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(buf); err != nil {
		return nil, Stats{}, fmt.Errorf("%w: %w", ErrBadProtobuf, err)
	}
	return fromRequest(&req, route)
}

// fromRequest maps a decoded request's series to samples.
func fromRequest(req *prompb.WriteRequest, route Router) ([]Sample, Stats, error) {
	st := Stats{Series: len(req.Timeseries)}
	for i := range req.Timeseries {
		st.Samples += len(req.Timeseries[i].Samples)
		st.Histograms += len(req.Timeseries[i].Histograms)
	}
	if st.Samples > MaxSamples {
		return nil, Stats{}, fmt.Errorf("%w: %d samples, at most %d per request", ErrTooLarge, st.Samples, MaxSamples)
	}
	out := make([]Sample, 0, st.Samples)
	var builder labels.ScratchBuilder
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		targets := make([]Target, 0, 1)
		var series uint64
		if pol, met := routing(ts.Labels); pol != "" && met != "" {
			targets = append(targets, Target{pol, met})
		} else if route != nil {
			builder.Reset()
			for _, l := range ts.Labels {
				builder.Add(l.Name, l.Value)
			}
			builder.Sort()
			lbls := builder.Labels()
			if targets = route(lbls); len(targets) > 0 {
				series = max(lbls.Hash(), 1)
			}
		}
		if len(targets) == 0 {
			st.UnknownSeries++
		}
		for _, s := range ts.Samples {
			switch {
			case value.IsStaleNaN(s.Value):
				st.Stale++
			case len(targets) == 0:
				st.UnknownSamples++
			case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
				st.NotFinite++
			default:
				st.Accepted++
				for _, t := range targets {
					out = append(out, Sample{Policy: t.Policy, Metric: t.Metric, Time: time.UnixMilli(s.Timestamp).UTC(), Value: s.Value, Series: series})
				}
			}
		}
	}
	return out, st, nil
}

// routing returns the values of the routing labels, "" for one that is
// absent. An empty label value means an absent label in Prometheus, so it
// routes nowhere either. Prometheus never sends a label name twice; should
// another sender, the first non-empty value wins.
func routing(labels []prompb.Label) (policy, metric string) {
	for _, l := range labels {
		switch l.Name {
		case PolicyLabel:
			if policy == "" {
				policy = l.Value
			}
		case MetricLabel:
			if metric == "" {
				metric = l.Value
			}
		}
	}
	return policy, metric
}
