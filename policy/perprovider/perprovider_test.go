package perprovider

import (
	"errors"
	"maps"
	"testing"

	"go.yaml.in/yaml/v3"
)

// positive accepts values above 0.
func positive(name string, v float64) error {
	if v <= 0 {
		return errors.New("provider " + name + ": must be > 0")
	}
	return nil
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]float64
		wantErr string
	}{
		{in: "", want: map[string]float64{}},
		{in: " aws=20, gcp = 8 ", want: map[string]float64{"aws": 20, "gcp": 8}},
		{in: "aws", wantErr: `entry "aws": must be provider=rate, e.g. aws=20`},
		{in: "=3", wantErr: `entry "=3": must be provider=rate, e.g. aws=20`},
		{in: "aws=1,aws=2", wantErr: `provider "aws": given twice`},
		{in: "aws=x", wantErr: `provider "aws": rate "x" is not a number`},
		{in: "aws=0", wantErr: `provider aws: must be > 0`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, "rate", "aws=20", positive)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := Parse(Format(got), "rate", "aws=20", positive); err != nil || !maps.Equal(back, got) {
			t.Errorf("Format(%v) = %q reads back as %v, %v", got, Format(got), back, err)
		}
	}
}

func TestAdd(t *testing.T) {
	var m map[string]float64
	if err := Add(&m, map[string]float64{"aws": 1}); err != nil || m["aws"] != 1 {
		t.Fatalf("first add: %v, %v", m, err)
	}
	if err := Add(&m, map[string]float64{"gcp": 2}); err != nil || len(m) != 2 {
		t.Fatalf("second add: %v, %v", m, err)
	}
	if err := Add(&m, map[string]float64{"aws": 3}); err == nil || err.Error() != `provider "aws": given twice` || m["aws"] != 1 {
		t.Fatalf("repeated provider: %v, %v", m, err)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		doc     string
		want    map[string]float64
		wantErr string
	}{
		{doc: "{aws: 2, gcp: 1}", want: map[string]float64{"aws": 2, "gcp": 1}},
		{doc: "\n{aws: 2, gcp: -1}", wantErr: "line 2: provider gcp: must be > 0"},
	}
	for _, tt := range tests {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(tt.doc), &node); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(node.Content[0], positive)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Decode(%q) error %v, want %q", tt.doc, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("Decode(%q) = %v, %v; want %v", tt.doc, got, err, tt.want)
		}
	}
}
