package simulate

import (
	"encoding/json"
	"math"
	"testing"
)

// TestFactorJSONRoundTrip: a factor decodes to what was encoded, null
// (over a zero reference) to NaN rather than 0.
func TestFactorJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Factor
		json string
	}{
		{"a ratio", 0.42, "0.42"},
		{"no worse", 1, "1"},
		{"over a zero reference", Factor(math.NaN()), "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(Ratios{UnderProvisioned: tt.in, InstanceHours: 1, Actions: 1})
			if err != nil {
				t.Fatal(err)
			}
			var got Ratios
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			if math.IsNaN(float64(tt.in)) != math.IsNaN(float64(got.UnderProvisioned)) ||
				(!math.IsNaN(float64(tt.in)) && got.UnderProvisioned != tt.in) {
				t.Fatalf("%s decoded to %v, want %v", b, got.UnderProvisioned, tt.in)
			}
		})
	}
	var f Factor
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Fatal(`a string decoded as a factor`)
	}
}
