package api

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pushFastSeeds are bodies on and off the fast path.
var pushFastSeeds = []string{
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":42.5}]}`,
	` { "samples" : [ {"value":-0.5e-3,"time":"2024-01-01T00:00:00.123456789+02:00","metric":"rps","policy":"p-1"} , {"policy":"a","metric":"b","time":"2024-01-01T00:00:00Z","value":0} ] } ` + "\n",
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1e400}]}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":01}]}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1.}]}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T24:00:00Z","value":1}]}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":"1"}]}`,
	`{"samples":[{"policy":"web","policy":"x","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}`,
	`{"samples":[{"Policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}`,
	`{"samples":[{"policy":"w\u0065b","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}`,
	`{"samples":[{"policy":null,"metric":"cpu","time":null,"value":null}]}`,
	`{"samples":[{"policy":"web","metric":"cpu","value":1,"extra":true}]}`,
	`{"samples":[{}]}`, `{"samples":[]}`, `{"samples":null}`, `{"samples":[1]}`, `{"samples":[],"samples":[]}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]} x`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]}}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1}]} {}`,
	`{"samples":[{"policy":"web","metric":"cpu","time":"2024-01-01T00:00:00Z","value":1},]}`,
	"{\"samples\":[{\"policy\":\"w\xffb\",\"metric\":\"cpu\",\"time\":\"2024-01-01T00:00:00Z\",\"value\":1}]}",
	`[]`, `null`, ``, `{`,
}

// TestPushFastPathMatchesStrict: the fast path takes the common shape and
// passes over everything else, and what it takes decodes exactly as the
// strict decoder would.
func TestPushFastPathMatchesStrict(t *testing.T) {
	onFast := map[int]bool{0: true, 1: true, 12: true} // {} is a zero sample to both decoders; checkSample rejects it later
	for i, body := range pushFastSeeds {
		got, ok := decodePushFast([]byte(body))
		if ok != onFast[i] {
			t.Errorf("seed %d %q: fast path ok=%v, want %v", i, body, ok, onFast[i])
		}
		if ok {
			want, err := decodePushStrict([]byte(body))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("seed %d: fast %+v, strict %+v (%v)", i, got, want, err)
			}
		}
	}
	// A batch at the limit stays on the fast path; one more leaves it, and
	// the strict decoder names the rule.
	for _, n := range []int{MaxSamplesPerPush, MaxSamplesPerPush + 1} {
		var b strings.Builder
		b.WriteString(`{"samples":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"policy":"p%d","metric":"m","time":"2024-01-01T00:00:00Z","value":%d}`, i%7, i)
		}
		b.WriteString(`]}`)
		_, ok := decodePushFast([]byte(b.String()))
		if ok != (n <= MaxSamplesPerPush) {
			t.Errorf("%d samples: fast path ok=%v", n, ok)
		}
		if _, err := decodePush([]byte(b.String())); (err != nil) != (n > MaxSamplesPerPush) {
			t.Errorf("%d samples: decodePush error %v", n, err)
		}
	}
}

// FuzzPushFastPath checks, for arbitrary bodies, that whenever the fast
// path accepts a body the strict decoder accepts it too, with the same
// samples.
func FuzzPushFastPath(f *testing.F) {
	for _, s := range pushFastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodePushFast(body)
		if !ok {
			return
		}
		want, err := decodePushStrict(body)
		if err != nil {
			t.Fatalf("fast path accepted %q; strict decoder: %v", body, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: fast %d samples, strict %d", body, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			sameValue := g.Value == w.Value && math.Signbit(g.Value) == math.Signbit(w.Value)
			if g.Policy != w.Policy || g.Metric != w.Metric || !g.Time.Equal(w.Time) || g.Time.Location().String() != w.Time.Location().String() || !sameValue {
				t.Fatalf("%q sample %d: fast %+v, strict %+v", body, i, g, w)
			}
		}
	})
}

// BenchmarkDecodePush compares the two decoders on a batch of 1,000.
func BenchmarkDecodePush(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"samples":[`)
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"policy":"p%d","metric":"rps","time":%q,"value":%d.25}`, i%10, now.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	for _, bc := range []struct {
		name   string
		decode func([]byte) ([]Sample, error)
	}{{"fast", decodePush}, {"strict", decodePushStrict}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if s, err := bc.decode(body); err != nil || len(s) != 1000 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// TestAppendPushJSON: the client's encoder produces what decodes to the
// same samples as json.Marshal's output, takes the fast decoder's path for
// plain names, and refuses what JSON cannot carry.
func TestAppendPushJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.FixedZone("x", 5400))
	good := []Sample{
		{Policy: "web", Metric: "cpu", Time: at, Value: 42.5},
		{Policy: "p-1", Metric: "rps", Time: at.UTC(), Value: -1e-7},
		{Policy: "web", Metric: "big", Time: at, Value: 1e300},
		{Policy: "w\"e\\b\u00e9\n", Metric: "m\u2028", Time: at, Value: 0},
		{Policy: "web", Metric: "neg0", Time: at, Value: math.Copysign(0, -1)},
		{Policy: "web", Metric: "int", Time: at, Value: 123456789012},
	}
	body, err := appendPushJSON(nil, good)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodePushStrict(mustMarshal(t, PushRequest{Samples: good}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePushStrict(body)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Policy != w.Policy || g.Metric != w.Metric || !g.Time.Equal(w.Time) || g.Value != w.Value || math.Signbit(g.Value) != math.Signbit(w.Value) {
			t.Errorf("sample %d: %+v, want %+v", i, g, w)
		}
	}
	if _, ok := decodePushFast(mustAppend(t, good[:3])); !ok {
		t.Error("plain samples encoded off the fast decoder's path")
	}
	for _, bad := range []Sample{
		{Policy: "web", Metric: "cpu", Time: at, Value: math.NaN()},
		{Policy: "web", Metric: "cpu", Time: at, Value: math.Inf(-1)},
		{Policy: "web", Metric: "cpu", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Value: 1},
	} {
		if _, err := appendPushJSON(nil, []Sample{bad}); err == nil {
			t.Errorf("%+v encoded without an error", bad)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAppend(t *testing.T, s []Sample) []byte {
	t.Helper()
	b, err := appendPushJSON(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
