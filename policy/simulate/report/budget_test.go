package report

import (
	"bytes"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// TestReportShowsTheBudget: the summary table and the HTML report say
// when the budget capped the size (and how often), say that it never did
// when it did not, and say nothing for a policy without a budget.
func TestReportShowsTheBudget(t *testing.T) {
	vals := []float64{100, 100, 800, 800, 800, 800, 800, 100, 100, 100}
	s := simulate.Series{Times: make([]int64, len(vals)), Values: [][]float64{vals}}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for i := range vals {
		s.Times[i] = t0.Add(time.Duration(i) * time.Minute).UnixNano()
	}
	tests := []struct {
		name        string
		budget      policy.Budget
		htmlLine    string // "" for none
		summaryLine string // "" for none
	}{
		{"capped", policy.Budget{MaxHourlyCost: 2.5},
			"budget: 2.5 USD per hour, at most 5 instances at 0.5 each · capped the size at", "budget-capped decisions"},
		{"never capped", policy.Budget{MaxHourlyCost: 100},
			"budget: 100 USD per hour, at most 200 instances at 0.5 each · never capped the size during the trace", ""},
		{"no budget", policy.Budget{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.Policy{
				ID: "web", Target: policy.Target{Provider: "fake", Group: "g"}, Min: 1, Max: 50,
				Warmup: policy.Duration(2 * time.Minute), EvaluationInterval: policy.Duration(time.Minute),
				Metrics:    []policy.Metric{{Name: "rps", Type: policy.MetricRequestRate, Target: 100}},
				StaleAfter: policy.Duration(5 * time.Minute), Predictive: policy.Predictive{Mode: policy.PredictOff},
				Cost: policy.Cost{PerInstanceHour: 0.5, Currency: "USD"}, Budget: tt.budget,
			}
			r, err := simulate.Run(simulate.Config{Policy: p}, s)
			if err != nil {
				t.Fatal(err)
			}
			doc := html.UnescapeString(renderHTML(t, HTMLOptions{}, p, r))
			if got := strings.Contains(doc, "budget:"); got != (tt.htmlLine != "") || !strings.Contains(doc, tt.htmlLine) {
				t.Errorf("HTML report: budget line present %v, want %q", got, tt.htmlLine)
			}
			var b bytes.Buffer
			if err := WriteSummary(&b, r.Summary); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(b.String(), "budget"); got != (tt.summaryLine != "") {
				t.Errorf("summary:\n%s\nwant a budget line: %v", b.String(), tt.summaryLine != "")
			}
		})
	}
}

// TestComparisonShowsBudgetCaps: the side-by-side table gets a
// budget-capped row when any run was capped (a dry-run adding a budget
// against a policy without one), and none otherwise.
func TestComparisonShowsBudgetCaps(t *testing.T) {
	tests := []struct {
		name string
		runs []Run
		want string // "" for no row
	}{
		{"candidate capped", []Run{{"candidate", simulate.Summary{BudgetBound: 7}}, {"stored", simulate.Summary{}}}, "budget-capped decisions              7        0"},
		{"none capped", []Run{{"candidate", simulate.Summary{}}, {"stored", simulate.Summary{}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteComparison(&b, tt.runs); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(b.String(), "budget-capped"); got != (tt.want != "") || !strings.Contains(b.String(), tt.want) {
				t.Errorf("comparison:\n%s\nwant row %q", b.String(), tt.want)
			}
		})
	}
}
