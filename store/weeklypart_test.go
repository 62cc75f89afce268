package store

import (
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// tickRecord is BenchmarkMemory's two-metric predictive record, a
// scale-out at at whose first metric's weekly part is weekly: a typical
// decision of a leader's tick entry.
func tickRecord(at time.Time, weekly *float64) *policy.Record {
	f := func(x float64) *float64 { return &x }
	return &policy.Record{Time: at, Current: 12, Ready: 12, Reactive: 11, Predictive: 13,
		Recommended: 13, Desired: 13, Action: "scale-out", Bound: policy.LimitNone, Forecast: true, HourlyCost: 12.48,
		Reason: "scale-out 12->13: rps=1000 (target 100) proposes 11, queue=300 (target 30) proposes 9, forecast 1262.4 proposes 13 (upper bound 1302.9) (skill 0.41); recommended 13, desired 13",
		Metrics: []policy.MetricRecord{
			{Name: "rps", Value: f(1000.5), Reactive: 11, Forecast: f(1262.4), Predictive: 13, Upper: f(1302.9), Weekly: weekly, Season: policy.Duration(24 * time.Hour), Skill: f(0.41), Trusted: true},
			{Name: "queue", Value: f(300), Reactive: 10, Forecast: f(280.2), Predictive: 10, Upper: f(301.7), Skill: f(0.12)},
		}}
}

// TestWeeklyPartSize: what version 11 adds to a typical decision entry
// (BenchmarkMemory's two-metric predictive record, in an evaluation
// without its state, as most of a leader's tick entries go): a byte for
// each metric whose forecast the weekly adjustment did not act for, nine
// for one it did, and nothing in version 10. The kept decision bytes
// (recordVersion) grow alike.
func TestWeeklyPartSize(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	record := func(weekly *float64) *policy.Record { return tickRecord(at, weekly) }
	size := func(r *policy.Record, v uint8) int {
		b, err := EncodeVersion(Evaluated{Policy: "policy-00001", PolicyVersion: 7, Record: r, Desired: 13, Ready: 12, At: at}, v)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	v10 := size(record(nil), VersionWeekly)
	tests := []struct {
		name   string
		weekly *float64
		v      uint8
		want   int
	}{
		{"version 10, no weekly part", nil, VersionWeekly, v10},
		{"version 10 leaves a weekly part out", f(-412.5), VersionWeekly, v10},
		{"version 11, no weekly part", nil, VersionWeeklyPart, v10 + 2},
		{"version 11, a weekly part", f(-412.5), VersionWeeklyPart, v10 + 2 + 8},
	}
	for _, tc := range tests {
		if got := size(record(tc.weekly), tc.v); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
	if got, want := len(encodeRecord(*record(f(1)))), len(encodeRecord(*record(nil)))+8; got != want {
		t.Errorf("a kept record with a weekly part: %d bytes, want %d", got, want)
	}
	t.Logf("a typical tick entry: %d bytes in version 10, %d in 11 (%d with a weekly part)", v10, v10+2, v10+10)
}
