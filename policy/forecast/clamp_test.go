package forecast

import (
	"math"
	"testing"
)

// TestClampedForcesUnitInterval: clamped forces each parameter into
// [0, 1] as it always has, bit for bit (NaN and every value at or below
// zero, -0 included, to +0; above one to 1; the rest kept), whichever
// field it is in.
func TestClampedForcesUnitInterval(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{math.NaN(), 0}, {math.Inf(-1), 0}, {-1, 0}, {math.Copysign(0, -1), 0}, {0, 0},
		{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64}, {0.4, 0.4}, {math.Nextafter(1, 0), math.Nextafter(1, 0)},
		{1, 1}, {math.Nextafter(1, 2), 1}, {3, 1}, {math.Inf(1), 1},
	}
	for _, tt := range tests {
		for field := range 4 {
			var p Params
			set := [...]*float64{&p.Alpha, &p.Beta, &p.Gamma, &p.Phi}
			get := func(q *Params) float64 { return *[...]*float64{&q.Alpha, &q.Beta, &q.Gamma, &q.Phi}[field] }
			for i, f := range set {
				*f = 0.5
				if i == field {
					*f = tt.in
				}
			}
			c := p.clamped()
			if got := get(&c); math.Float64bits(got) != math.Float64bits(tt.want) {
				t.Errorf("field %d: clamped(%v) = %v, want %v", field, tt.in, got, tt.want)
			}
			for i := range 4 {
				if i != field && *[...]*float64{&c.Alpha, &c.Beta, &c.Gamma, &c.Phi}[i] != 0.5 {
					t.Errorf("field %d: clamping changed field %d", field, i)
				}
			}
		}
	}
}
