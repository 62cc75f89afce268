package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValueAndSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "h"}, []string{"op", "result"})
	rate := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rate", Help: "h"}, []string{"bucket"})
	reg.MustRegister(calls, rate)
	calls.WithLabelValues("describe", "ok").Add(3)
	calls.WithLabelValues("describe", "throttled").Add(2)
	calls.WithLabelValues("resize", "ok").Add(1)
	rate.WithLabelValues("read").Set(17.5)

	values := []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"calls_total", map[string]string{"op": "describe", "result": "ok"}, 3, true},
		{"calls_total", map[string]string{"op": "describe"}, 0, false}, // not exactly the series' labels
		{"calls_total", map[string]string{"op": "describe", "result": "failed"}, 0, false},
		{"rate", map[string]string{"bucket": "read"}, 17.5, true},
		{"missing", nil, 0, false},
	}
	for _, tc := range values {
		if got, ok := Value(t, reg, tc.name, tc.labels); got != tc.want || ok != tc.ok {
			t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, got, ok, tc.want, tc.ok)
		}
	}
	sums := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"op": "describe"}, 5},
		{map[string]string{"result": "ok"}, 4},
		{nil, 6},
		{map[string]string{"zone": "a"}, 0}, // a label no series has
	}
	for _, tc := range sums {
		if got := Sum(t, reg, "calls_total", tc.labels); got != tc.want {
			t.Errorf("Sum(calls_total, %v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}
