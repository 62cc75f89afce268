package remotewrite_test

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/capstan-io/capstan/metrics/remotewrite"
)

// staleNaN is Prometheus's staleness marker, spelled out here rather than
// taken from the package under test.
var staleNaN = math.Float64frombits(0x7ff0000000000002)

// series builds a time series with the given labels (name, value pairs).
func series(labels []string, samples ...prompb.Sample) prompb.TimeSeries {
	ts := prompb.TimeSeries{Samples: samples}
	for i := 0; i+1 < len(labels); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: labels[i], Value: labels[i+1]})
	}
	return ts
}

// capstan returns the labels of a series routed to a policy metric, among
// the labels a scrape adds.
func capstan(pol, met string) []string {
	return []string{"__name__", "http_requests_per_second", remotewrite.MetricLabel, met,
		remotewrite.PolicyLabel, pol, "instance", "web-1:9100", "job", "web"}
}

// encode does what Prometheus's remote-write client does to a request:
// marshal it with the generated code and compress it as one snappy block.
func encode(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func TestDecodeRoundTrip(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ms := t0.UnixMilli()
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(capstan("web", "rps"), prompb.Sample{Value: 120.5, Timestamp: ms}, prompb.Sample{Value: 130, Timestamp: ms + 15_000}),
		series([]string{"__name__", "up", "job", "web"}, prompb.Sample{Value: 1, Timestamp: ms}),
		series(capstan("web", "cpu"), prompb.Sample{Value: staleNaN, Timestamp: ms}, prompb.Sample{Value: 0.25, Timestamp: ms + 1}),
		series(capstan("api", "cpu"), prompb.Sample{Value: math.NaN(), Timestamp: ms},
			prompb.Sample{Value: math.Inf(1), Timestamp: ms}, prompb.Sample{Value: math.Inf(-1), Timestamp: ms},
			prompb.Sample{Value: -3, Timestamp: ms + 123}),
		series([]string{remotewrite.PolicyLabel, "web"}, prompb.Sample{Value: 9, Timestamp: ms}, prompb.Sample{Value: staleNaN, Timestamp: ms}),
		series([]string{remotewrite.PolicyLabel, "web", remotewrite.MetricLabel, ""}, prompb.Sample{Value: 9, Timestamp: ms}),
		{Labels: []prompb.Label{{Name: remotewrite.PolicyLabel, Value: "web"}, {Name: remotewrite.MetricLabel, Value: "lat"}},
			Histograms: []prompb.Histogram{{Timestamp: ms}}},
	}}
	got, st, err := remotewrite.DecodeBytes(encode(t, req))
	if err != nil {
		t.Fatal(err)
	}
	want := []remotewrite.Sample{
		{Policy: "web", Metric: "rps", Time: t0, Value: 120.5},
		{Policy: "web", Metric: "rps", Time: t0.Add(15 * time.Second), Value: 130},
		{Policy: "web", Metric: "cpu", Time: t0.Add(time.Millisecond), Value: 0.25},
		{Policy: "api", Metric: "cpu", Time: t0.Add(123 * time.Millisecond), Value: -3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d samples %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: got %+v, want %+v", i, got[i], want[i])
		}
		if got[i].Time.Location() != time.UTC {
			t.Errorf("sample %d: time in %v, want UTC", i, got[i].Time.Location())
		}
	}
	wantStats := remotewrite.Stats{Series: 7, Samples: 12, Accepted: 4, Stale: 2, NotFinite: 3,
		UnknownSeries: 3, UnknownSamples: 3, Histograms: 1}
	if st != wantStats {
		t.Errorf("stats %+v, want %+v", st, wantStats)
	}
	if st.Accepted+st.Stale+st.NotFinite+st.UnknownSamples != st.Samples {
		t.Errorf("stats %+v do not account for every sample", st)
	}
}

func TestDecodeReader(t *testing.T) {
	body := encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(capstan("web", "rps"), prompb.Sample{Value: 1, Timestamp: 1000}),
	}})
	got, _, err := remotewrite.Decode(bytes.NewReader(body), int64(len(body)))
	if err != nil || len(got) != 1 || !got[0].Time.Equal(time.Unix(1, 0)) {
		t.Fatalf("at the limit: %+v, %v", got, err)
	}
	if _, _, err := remotewrite.Decode(bytes.NewReader(body), int64(len(body)-1)); !errors.Is(err, remotewrite.ErrTooLarge) {
		t.Fatalf("one byte over the limit: %v, want ErrTooLarge", err)
	}
	if _, _, err := remotewrite.Decode(bytes.NewReader(body), 0); err != nil {
		t.Fatalf("default limit: %v", err)
	}
	readErr := errors.New("connection reset")
	_, _, err = remotewrite.Decode(&failingReader{err: readErr}, 100)
	if !errors.Is(err, readErr) {
		t.Fatalf("read error: %v, want it wrapped", err)
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestDecodeEmpty(t *testing.T) {
	got, st, err := remotewrite.DecodeBytes(encode(t, &prompb.WriteRequest{}))
	if err != nil || len(got) != 0 || st != (remotewrite.Stats{}) {
		t.Fatalf("empty request: %+v %+v %v", got, st, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(capstan("web", "rps"), prompb.Sample{Value: 1, Timestamp: 1}),
	}})
	raw, _ := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(capstan("web", "rps"), prompb.Sample{Value: 1})}}).Marshal()
	var framed bytes.Buffer
	w := snappy.NewBufferedWriter(&framed)
	w.Write(raw)
	w.Close()
	// A block header claiming 64 MiB followed by nothing: refused on the
	// claim, before anything is allocated.
	claim := []byte{0x80, 0x80, 0x80, 0x20}
	manySamples := make([]prompb.Sample, remotewrite.MaxSamples+1)
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty body", nil, remotewrite.ErrBadSnappy},
		{"uncompressed protobuf", raw, remotewrite.ErrBadSnappy},
		{"framed snappy", framed.Bytes(), remotewrite.ErrBadSnappy},
		{"truncated block", valid[:len(valid)-3], remotewrite.ErrBadSnappy},
		{"snappy of garbage", snappy.Encode(nil, []byte("this is not a protobuf message \xff\xff\xff\xff")), remotewrite.ErrBadProtobuf},
		{"snappy of JSON", snappy.Encode(nil, []byte(`{"timeseries":[]}`)), remotewrite.ErrBadProtobuf},
		{"truncated protobuf", snappy.Encode(nil, raw[:len(raw)-2]), remotewrite.ErrBadProtobuf},
		{"decoded size claim", claim, remotewrite.ErrTooLarge},
		{"too many samples", encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
			series(capstan("web", "rps"), manySamples[:remotewrite.MaxSamples/2]...),
			series([]string{"job", "other"}, manySamples[remotewrite.MaxSamples/2:]...),
		}}), remotewrite.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st, err := remotewrite.DecodeBytes(tc.body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got != nil || st != (remotewrite.Stats{}) {
				t.Fatalf("a refused request returned %d samples, stats %+v", len(got), st)
			}
			for _, other := range []error{remotewrite.ErrBadSnappy, remotewrite.ErrBadProtobuf, remotewrite.ErrTooLarge} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v is also %v", err, other)
				}
			}
		})
	}
}

// TestDecodeAtSampleLimit: exactly MaxSamples is accepted.
func TestDecodeAtSampleLimit(t *testing.T) {
	s := make([]prompb.Sample, remotewrite.MaxSamples)
	for i := range s {
		s[i] = prompb.Sample{Value: float64(i), Timestamp: int64(i)}
	}
	got, st, err := remotewrite.DecodeBytes(encode(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series(capstan("web", "rps"), s...)}}))
	if err != nil || len(got) != remotewrite.MaxSamples || st.Accepted != remotewrite.MaxSamples {
		t.Fatalf("%d samples, %+v, %v", len(got), st, err)
	}
}

// benchRequest is a request as a Prometheus scraping n targets sends it:
// one sample per series, each with the labels a scrape attaches.
func benchRequest(n int) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, n)}
	now := time.Now().UnixMilli()
	for i := range n {
		labels := append(capstan("web", "rps"), "pod", "web-"+strconv.Itoa(i), "namespace", "prod")
		req.Timeseries[i] = series(labels, prompb.Sample{Value: float64(i), Timestamp: now})
	}
	return req
}

// BenchmarkDecode decodes a 1,000-sample request, snappy and protobuf
// included, and reports samples per second.
func BenchmarkDecode(b *testing.B) {
	const n = 1000
	body := encode(b, benchRequest(n))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got, _, err := remotewrite.DecodeBytes(body)
		if err != nil || len(got) != n {
			b.Fatalf("%d samples, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
}

// FuzzDecode: any body either decodes into samples that obey the limits
// and the accounting, or fails with one of the typed errors; nothing
// panics.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, benchRequest(3)))
	f.Add(encode(f, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(capstan("web", "cpu"), prompb.Sample{Value: staleNaN, Timestamp: 5}, prompb.Sample{Value: math.NaN()}, prompb.Sample{Value: 2, Timestamp: -1}),
		series([]string{"job", "x"}, prompb.Sample{Value: 1}),
		{Labels: []prompb.Label{{Name: remotewrite.PolicyLabel, Value: "p"}}, Histograms: []prompb.Histogram{{Timestamp: 1}},
			Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: 2}}},
	}, Metadata: []prompb.MetricMetadata{{MetricFamilyName: "x", Help: "y"}}}))
	f.Add([]byte{})
	f.Add([]byte{0x00})
	f.Add([]byte{0x80, 0x80, 0x80, 0x20})
	f.Add(snappy.Encode(nil, []byte("\x0a\xff\xff\xff\xff\x0f")))
	f.Add([]byte(strings.Repeat("\xff", 16)))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, st, err := remotewrite.DecodeBytes(body)
		if err != nil {
			if !errors.Is(err, remotewrite.ErrBadSnappy) && !errors.Is(err, remotewrite.ErrBadProtobuf) && !errors.Is(err, remotewrite.ErrTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			if got != nil {
				t.Fatalf("samples returned with an error")
			}
			return
		}
		if len(got) != st.Accepted || st.Samples > remotewrite.MaxSamples ||
			st.Accepted+st.Stale+st.NotFinite+st.UnknownSamples != st.Samples {
			t.Fatalf("%d samples, stats %+v", len(got), st)
		}
		for _, s := range got {
			if s.Policy == "" || s.Metric == "" || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Fatalf("bad sample %+v", s)
			}
		}
	})
}

// TestDecodeRouted: series without the routing labels go where the Router
// sends them, each with a stable series id of its own; series with the
// labels keep them, with no id, and the Router never sees them.
func TestDecodeRouted(t *testing.T) {
	ms := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	web1 := []string{"__name__", "rps", "instance", "web-1", "job", "web"}
	web2 := []string{"__name__", "rps", "job", "web", "instance", "web-2"} // labels out of order
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series(web1, prompb.Sample{Value: 10, Timestamp: ms}, prompb.Sample{Value: staleNaN, Timestamp: ms + 1}),
		series(web2, prompb.Sample{Value: 20, Timestamp: ms}),
		series([]string{"__name__", "rps", "job", "db"}, prompb.Sample{Value: 5, Timestamp: ms}),
		series(capstan("web", "cpu"), prompb.Sample{Value: 0.5, Timestamp: ms}),
	}}
	var seen []string
	route := func(l labels.Labels) []remotewrite.Target {
		seen = append(seen, l.String())
		if l.Get("job") != "web" {
			return nil
		}
		return []remotewrite.Target{{Policy: "web", Metric: "rps"}, {Policy: "all", Metric: "rps"}}
	}
	got, st, err := remotewrite.DecodeRouted(encode(t, req), route)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[1] != `{__name__="rps", instance="web-2", job="web"}` {
		t.Errorf("router saw %q; want the three unlabelled series, labels sorted", seen)
	}
	if len(got) != 5 {
		t.Fatalf("got %+v, want 2 series x 2 targets + the labelled one", got)
	}
	if got[0].Series == 0 || got[0].Series != got[1].Series || got[2].Series == got[0].Series || got[2].Series != got[3].Series {
		t.Errorf("series ids %d %d %d %d: want one per series, shared by its targets", got[0].Series, got[1].Series, got[2].Series, got[3].Series)
	}
	if got[0].Policy != "web" || got[1].Policy != "all" || got[4].Policy != "web" || got[4].Metric != "cpu" || got[4].Series != 0 {
		t.Errorf("samples %+v", got)
	}
	again, _, _ := remotewrite.DecodeRouted(encode(t, req), route)
	if again[0].Series != got[0].Series {
		t.Error("series id not stable across requests")
	}
	want := remotewrite.Stats{Series: 4, Samples: 5, Accepted: 3, Stale: 1, UnknownSeries: 1, UnknownSamples: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}
