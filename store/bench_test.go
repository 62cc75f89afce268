package store

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// benchPolicies is how many policies the snapshot benchmarks hold. The
// issue's load is 10,000; a full window of 2,016 buckets is about 21 KB
// in memory (BenchmarkMemory), but the legacy JSON of 10,000 two-metric
// policies is over a gigabyte: run that size on a machine of your own
// (-store.policies=10000); the per-policy figures scale linearly.
var benchPolicies = flag.Int("store.policies", 1000, "policies in the snapshot benchmarks")

// benchState builds n two-metric predictive policies (7 days of history,
// so 2,016 five-minute buckets per window, every bucket filled), each with
// the latest samples, 10 decision records, an evaluation state and a
// pending intent: what a week-old cluster holds.
func benchState(b *testing.B, n int) *State {
	b.Helper()
	s := New()
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	evalState, _ := policy.State{LastScaleOut: end, Changes: []policy.Change{{At: end, From: 2, To: 4}}}.MarshalBinary()
	for i := range n {
		id := fmt.Sprintf("policy-%05d", i)
		p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":2,"max":50,"evaluation_interval":"10s",` +
			`"predictive":{"mode":"forecast-and-scale","lead":"5m","history":"7d"},` +
			`"metrics":[{"name":"rps","type":"request_rate","target":100},{"name":"cpu","type":"cpu","target":60}]}`))
		if err != nil {
			b.Fatal(err)
		}
		idx := uint64(i*20 + 1)
		s.Apply(idx, PutPolicy{Policy: p, At: start}, Options{})
		step, _ := WindowShape(p)
		for k, t := 0, start; t.Before(end); k, t = k+1, t.Add(step) {
			// Measured values are not round numbers: a daily cycle plus noise.
			phase := 2 * math.Pi * float64(t.Unix()%86400) / 86400
			noise := float64((k*7919+i*104729)%1000) / 997
			s.Apply(idx+1, Samples{Samples: []Sample{
				{Policy: id, Metric: "rps", Time: t, Value: 1000 + 400*math.Sin(phase) + 13*noise},
				{Policy: id, Metric: "cpu", Time: t, Value: 55 + 20*math.Sin(phase) + noise},
			}}, Options{})
		}
		for d := range 10 {
			v := 1000.5
			s.Apply(idx+2, Evaluated{Policy: id, PolicyVersion: idx, State: evalState, Desired: 4, Ready: 4, At: end,
				Record: &policy.Record{Time: end.Add(time.Duration(d) * time.Minute), Current: 3, Ready: 3, Reactive: 4, Recommended: 4, Desired: 4,
					Action: "scale-out", Reason: "rps 1000.5/100 per instance: 11; cpu 60: 3; recommended 4, desired 4",
					Metrics: []policy.MetricRecord{{Name: "rps", Value: &v, Reactive: 11}, {Name: "cpu", Value: &v, Reactive: 3}}}}, Options{MaxDecisions: 10})
		}
		s.Apply(idx+3, PutIntent{Intent: Intent{Policy: id, Group: id, From: 3, To: 4, Reason: "scale-out", Term: 2, Node: "n1", At: end}}, Options{})
	}
	return s
}

// legacyJSON is the state in the version-1 JSON snapshot: what
// controlplane writes today (the fixture test shows the shapes agree).
func legacyJSON(b *testing.B, s *State) []byte {
	b.Helper()
	type entry struct {
		Record         PolicyRecord                      `json:"record"`
		State          []byte                            `json:"state,omitempty"`
		Decisions      []policy.Record                   `json:"decisions,omitempty"`
		Pending        []Intent                          `json:"pending,omitempty"`
		Samples        map[string]Sample                 `json:"samples,omitempty"`
		Windows        any                               `json:"windows,omitempty"`
		Series         map[string]map[uint64]SeriesPoint `json:"series,omitempty"`
		Desired        int                               `json:"desired"`
		Ready          int                               `json:"ready"`
		LastEvaluation time.Time                         `json:"last_evaluation"`
	}
	doc := struct {
		Policies map[string]entry  `json:"policies"`
		Nodes    map[string]string `json:"nodes"`
		Intents  uint64            `json:"intents"`
	}{Policies: map[string]entry{}, Nodes: s.Nodes, Intents: s.Intents}
	for id, p := range s.Policies {
		doc.Policies[id] = entry{Record: p.Record, State: p.EvalState, Decisions: p.Decisions.Records(), Pending: p.Pending,
			Samples: p.Samples, Windows: maps.Clone(p.Windows), Series: p.Series, Desired: p.Desired, Ready: p.Ready, LastEvaluation: p.LastEvaluation}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkSnapshot measures writing and restoring the snapshot of
// benchPolicies week-old policies, in today's JSON and in the binary
// encoding, and reports the bytes per policy.
func BenchmarkSnapshot(b *testing.B) {
	s := benchState(b, *benchPolicies)
	binary := snapshotBytes(&testing.T{}, s)
	legacy := legacyJSON(b, s)
	per := func(n int) float64 { return float64(n) / float64(len(s.Policies)) }
	b.Run("write/json", func(b *testing.B) {
		for b.Loop() {
			legacyJSON(b, s)
		}
		b.ReportMetric(per(len(legacy)), "bytes/policy")
	})
	b.Run("write/binary", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := s.WriteSnapshot(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(per(len(binary)), "bytes/policy")
	})
	for _, c := range []struct {
		name string
		data []byte
	}{{"restore/json", legacy}, {"restore/binary", binary}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ReadSnapshot(bytes.NewReader(c.data)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(per(len(c.data)), "bytes/policy")
		})
	}
}

// BenchmarkEncodeEntry measures the log entry of a typical buckets batch
// (500 samples' worth: latest samples and partials of 250 policies).
func BenchmarkEncodeEntry(b *testing.B) {
	c := Buckets{}
	for i := range 250 {
		id := fmt.Sprintf("policy-%05d", i)
		at := time.Date(2026, 6, 1, 0, 0, i%60, 0, time.UTC)
		c.Latest = append(c.Latest, Sample{Policy: id, Metric: "rps", Time: at, Value: 1000.25})
		c.Partials = append(c.Partials, MetricPartial{Policy: id, Metric: "rps", Step: int64(5 * time.Minute)})
	}
	bin, _ := Encode(c)
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			if _, err := Encode(c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(bin)), "bytes/entry")
	})
	b.Run("binary-decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkView measures what Snapshot holds the FSM's lock for: taking
// the immutable view of 10,000 policies (its cost does not depend on the
// windows, which are shared), and the copy-on-write a policy costs at its
// first change after a view (one week-old policy: its record, the two
// windows' chunk tables and the one chunk of 64 buckets the sample
// changes, not the windows' 4,032 buckets).
func BenchmarkView(b *testing.B) {
	s := New()
	for i := range 10_000 {
		id := fmt.Sprintf("policy-%05d", i)
		s.Apply(uint64(i+1), PutPolicy{Policy: testPolicyB(b, id)}, Options{})
	}
	b.Run("view-10000-policies", func(b *testing.B) {
		for b.Loop() {
			s.View()
		}
	})
	week := benchState(b, 1)
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b.Run("first-change-after-view", func(b *testing.B) {
		for b.Loop() {
			week.View()
			week.Apply(1_000_000, Samples{Samples: []Sample{{Policy: "policy-00000", Metric: "rps", Time: at, Value: 1}}}, Options{})
		}
	})
}

func testPolicyB(b *testing.B, id string) policy.Policy {
	p, err := policy.Parse([]byte(`{"id":"` + id + `","target":{"provider":"fake","group":"` + id + `"},"min":1,"max":10,` +
		`"metrics":[{"name":"rps","type":"request_rate","target":100}]}`))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkApplyAfterSnapshot measures what a round of samples (one
// Samples entry per week-old policy) costs after a snapshot has been
// written, with the view released as Raft does after Persist and, for
// comparison, still held. Held, every policy is copied on its first
// change (the windows a chunk at a time: about 3.5 KB a policy, 68 KB
// when windows were copied whole); released, nothing is: before views
// were released, every round after every snapshot paid the held figure.
func BenchmarkApplyAfterSnapshot(b *testing.B) {
	const n = 200
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, held := range []bool{false, true} {
		b.Run(map[bool]string{false: "released", true: "held"}[held], func(b *testing.B) {
			s := benchState(b, n)
			index := uint64(1 << 32)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				v := s.View()
				if err := v.WriteSnapshot(io.Discard); err != nil {
					b.Fatal(err)
				}
				if !held {
					v.Release()
				}
				b.StartTimer()
				for i := range n {
					index++
					s.Apply(index, Samples{Samples: []Sample{{Policy: fmt.Sprintf("policy-%05d", i), Metric: "rps", Time: at, Value: 1}}}, Options{})
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/policy")
		})
	}
}
