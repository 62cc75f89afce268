package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/policy/simulate"
)

// TestSummaryAndComparisonShowHeldBack: the text summary and the
// side-by-side table get a "forecast held back" row when the forecast's
// cost bound held a forecast back in some run, and none otherwise.
func TestSummaryAndComparisonShowHeldBack(t *testing.T) {
	for _, tt := range []struct {
		name string
		runs []Run
		want bool
	}{
		{"held back", []Run{{"candidate", simulate.Summary{HeldBack: 12}}, {"stored", simulate.Summary{}}}, true},
		{"never", []Run{{"candidate", simulate.Summary{}}, {"stored", simulate.Summary{}}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sum, cmp bytes.Buffer
			if err := WriteSummary(&sum, tt.runs[0].Summary); err != nil {
				t.Fatal(err)
			}
			if err := WriteComparison(&cmp, tt.runs); err != nil {
				t.Fatal(err)
			}
			for what, out := range map[string]string{"summary": sum.String(), "comparison": cmp.String()} {
				if got := strings.Contains(out, "forecast held back") && strings.Contains(out, "12"); got != tt.want {
					t.Errorf("%s shows the held-back count: %v, want %v\n%s", what, got, tt.want, out)
				}
			}
		})
	}
}
