package recommend

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

func TestWriteHTML(t *testing.T) {
	// Over-provisioned by a 2-hour stabilization: every case searches a
	// 10-minute one too, scored against the policy's own targets.
	p := testPolicy()
	p.Metrics[0].Target = 60
	p.ScaleIn.Stabilization = policy.Duration(2 * time.Hour)
	s := dailyTrace(1)
	tests := []struct {
		name   string
		cost   policy.Cost
		scales []float64
		want   []string
		absent []string
	}{
		{"recommends, unpriced", policy.Cost{}, []float64{0.9, 1.2},
			[]string{"★ recommended", "Recommended change", "@@ metrics @@", "<th>instance-hours</th>", "&lt;b&gt;.yaml", `class="rec"`},
			[]string{"<th>cost</th>", "keep it"}},
		{"priced", policy.Cost{PerInstanceHour: 0.192, Currency: "USD"}, []float64{1, 1.5},
			[]string{"<th>cost</th>", "cost (USD)", " USD</td>", "cost 0."}, nil},
		{"nothing better", policy.Cost{}, []float64{0.5},
			[]string{"keep it"}, []string{"Recommended change", `class="rec"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := p
			q.Cost = tt.cost
			res, err := Search(context.Background(), simulate.Config{Policy: q}, s, Space{TargetScales: tt.scales, Stabilizations: []policy.Duration{policy.Duration(10 * time.Minute)}}, 2)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteHTML(&b, HTMLOptions{PolicyName: "<b>.yaml", TraceName: "t.csv"}, res); err != nil {
				t.Fatal(err)
			}
			doc := b.String()
			if strings.Count(doc, "<svg") != 1 || strings.Count(doc, `class="fp"`) != len(res.Front) {
				t.Errorf("want one chart with %d front points", len(res.Front))
			}
			for _, w := range tt.want {
				if !strings.Contains(doc, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, w := range append(tt.absent, "<b>", "<script", "http://", "https://") {
				if strings.Contains(doc, w) {
					t.Errorf("unexpected %q", w)
				}
			}
		})
	}
	if err := WriteHTML(&bytes.Buffer{}, HTMLOptions{}, &Result{}); err == nil {
		t.Error("an empty result drew a report")
	}
}
