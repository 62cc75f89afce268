package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func counter(help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "capstan_test_total", Help: help})
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Register(reg, counter("h"))
	if err != nil {
		t.Fatal(err)
	}
	// An identical collector: the registered one comes back, so both
	// users count into one series.
	second, err := Register(reg, counter("h"))
	if err != nil || second != first {
		t.Fatalf("second registration: %v (same collector: %v)", err, second == first)
	}
	second.Inc()
	if got := testutil.ToFloat64(first); got != 1 {
		t.Fatalf("shared counter = %v, want 1", got)
	}
	// The same name with other help is a real clash: reported, and the
	// caller still gets its own collector.
	other := counter("other help")
	got, err := Register(reg, other)
	if err == nil || got != other {
		t.Fatalf("clashing registration: %v, got own collector %v", err, got == other)
	}
	// No registry: the collector is returned unregistered.
	if got, err := Register(nil, other); err != nil || got != other {
		t.Fatalf("nil registry: %v", err)
	}
}
