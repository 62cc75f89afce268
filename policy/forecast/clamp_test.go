package forecast

import (
	"math"
	"testing"
)

// TestClampedForcesUnitInterval: clamped forces each parameter into
// [0, 1] as it always has, bit for bit (NaN and every value at or below
// zero, -0 included, to +0; above one to 1; the rest kept), whichever
// field it is in, and leaves the others alone.
func TestClampedForcesUnitInterval(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{math.NaN(), 0}, {math.Inf(-1), 0}, {-1, 0}, {math.Copysign(0, -1), 0}, {0, 0},
		{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64}, {0.4, 0.4}, {math.Nextafter(1, 0), math.Nextafter(1, 0)},
		{1, 1}, {math.Nextafter(1, 2), 1}, {3, 1}, {math.Inf(1), 1},
	}
	fields := []struct {
		name string
		of   func(*Params) *float64
	}{
		{"Alpha", func(p *Params) *float64 { return &p.Alpha }},
		{"Beta", func(p *Params) *float64 { return &p.Beta }},
		{"Gamma", func(p *Params) *float64 { return &p.Gamma }},
		{"Phi", func(p *Params) *float64 { return &p.Phi }},
	}
	for _, tt := range tests {
		for _, f := range fields {
			in, want := Params{0.5, 0.5, 0.5, 0.5}, Params{0.5, 0.5, 0.5, 0.5}
			*f.of(&in), *f.of(&want) = tt.in, tt.want
			got := in.clamped()
			for _, g := range fields {
				if math.Float64bits(*g.of(&got)) != math.Float64bits(*g.of(&want)) {
					t.Errorf("%s %v: clamped %s = %v, want %v", f.name, tt.in, g.name, *g.of(&got), *g.of(&want))
				}
			}
		}
	}
}
