package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/policy/simulate"
)

func TestWriteComparison(t *testing.T) {
	pol := simulate.Summary{Samples: 100, InstanceHours: 110, UnderProvisionedSamples: 5, UnderProvisionedFraction: 0.05,
		ScaleOuts: 3, ScaleIns: 3, ActionsPerDay: 12.5, PeakSize: 9}
	ref := simulate.Summary{Samples: 100, InstanceHours: 100, UnderProvisionedSamples: 10, UnderProvisionedFraction: 0.1,
		ScaleOuts: 4, ScaleIns: 4, ActionsPerDay: 16, PeakSize: 10}
	off := simulate.Summary{Samples: 100, InstanceHours: 100}
	var b bytes.Buffer
	if err := WriteComparison(&b, []Run{{"policy", pol}, {"off", off}, {"hpa", ref}}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	want := map[string][]string{
		"":                           {"policy", "off", "hpa"},
		"instance-hours":             {"110.0", "100.0", "100.0"},
		"under-provisioned samples":  {"5", "0", "10"},
		"under-provisioned fraction": {"5.00%", "0.00%", "10.00%"},
		"actions per day":            {"12.5", "0.0", "16.0"},
		"peak size":                  {"9", "0", "10"},
	}
	for _, line := range lines {
		for label, cells := range want {
			if !strings.HasPrefix(line, label) || (label == "" && !strings.HasPrefix(line, " ")) {
				continue
			}
			f := strings.Fields(strings.TrimPrefix(line, label))
			if strings.Join(f, " ") == strings.Join(cells, " ") {
				delete(want, label)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("rows not found: %v\n%s", want, got)
	}
	// Columns line up: every value row is as long as the header.
	for _, line := range lines[:11] {
		if len([]rune(line)) != len([]rune(lines[0])) {
			t.Errorf("row %q is not as wide as the header %q", line, lines[0])
		}
	}
	for _, want := range []string{"policy / off: under-provisioned n/a, instance-hours 1.10×, actions n/a\n",
		"policy / hpa: under-provisioned 0.50×, instance-hours 1.10×, actions 0.75×\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

func TestWriteComparisonCost(t *testing.T) {
	pol := simulate.Summary{Samples: 10, InstanceHours: 110, Cost: 55, Currency: "USD"}
	hpa := simulate.Summary{Samples: 10, InstanceHours: 100, Cost: 50, Currency: "USD"}
	var b bytes.Buffer
	if err := WriteComparison(&b, []Run{{"policy", pol}, {"hpa", hpa}}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"cost (USD)", "55.00", "50.00", "policy / hpa: under-provisioned 1.00×, instance-hours 1.10×, actions 1.00×, cost 1.10× (+5.00 USD)\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	b.Reset()
	pol.Cost, pol.Currency, hpa.Cost, hpa.Currency = 0, "", 0, ""
	if err := WriteComparison(&b, []Run{{"policy", pol}, {"hpa", hpa}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "cost") {
		t.Errorf("unpriced comparison shows cost:\n%s", b.String())
	}
}

func TestWriteSummaryCost(t *testing.T) {
	tests := []struct {
		name string
		s    simulate.Summary
		want string // a line that must appear; "" means no cost line at all
	}{
		{"priced", simulate.Summary{InstanceHours: 10, Cost: 1.92, Currency: "USD"}, "1.92  USD"},
		{"unpriced", simulate.Summary{InstanceHours: 10}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteSummary(&b, tt.s); err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(b.String(), "cost")
			if tt.want == "" && has || tt.want != "" && !strings.Contains(b.String(), tt.want) {
				t.Errorf("summary:\n%s\nwant cost line %q", b.String(), tt.want)
			}
		})
	}
}
