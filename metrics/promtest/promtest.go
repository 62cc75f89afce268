// Package promtest reads series out of a Prometheus registry for tests,
// by family name and labels: what client_golang's testutil does not offer
// (it compares whole text expositions or counts series). Only tests
// import it.
package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value is the value of the series of family name whose labels are
// exactly labels, and whether there is one; a series that is not a
// counter, gauge or untyped fails the test.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, m := range series(t, g, name) {
		if len(m.GetLabel()) == len(labels) && hasLabels(m, labels) {
			return scalar(t, name, m), true
		}
	}
	return 0, false
}

// Sum is the sum of the values of every series of family name whose
// labels include labels (0 when none does).
func Sum(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, m := range series(t, g, name) {
		if hasLabels(m, labels) {
			sum += scalar(t, name, m)
		}
	}
	return sum
}

// series gathers g and returns the series of family name.
func series(t testing.TB, g prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

// hasLabels reports whether m carries every one of labels.
func hasLabels(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k {
				found = l.GetValue() == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func scalar(t testing.TB, name string, m *dto.Metric) float64 {
	t.Helper()
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s: not a counter, gauge or untyped series", name)
	return 0
}
