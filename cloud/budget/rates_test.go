package budget_test

import (
	"maps"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/cloud/budget"
)

func TestParseRates(t *testing.T) {
	cases := []struct {
		in      string
		want    budget.Rates
		wantErr string
	}{
		{"", budget.Rates{}, ""},
		{"aws=20", budget.Rates{"aws": 20}, ""},
		{" aws = 20 , gcp=0.5,azure=0 ", budget.Rates{"aws": 20, "gcp": 0.5, "azure": 0}, ""},
		{"aws", nil, `entry "aws": must be provider=rate`},
		{"=5", nil, `entry "=5": must be provider=rate`},
		{"aws=20,", nil, `entry "": must be provider=rate`},
		{"aws=fast", nil, `provider "aws": rate "fast" is not a number`},
		{"aws=-1", nil, `provider "aws": rate must be a finite number`},
		{"aws=NaN", nil, `provider "aws": rate must be a finite number`},
		{"aws=+Inf", nil, `provider "aws": rate must be a finite number`},
		{"aws=1,aws=2", nil, `provider "aws": given twice`},
	}
	for _, tc := range cases {
		got, err := budget.ParseRates(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseRates(%q): %v, want an error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseRates(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestRatesFlag: the flag can be repeated, and says a provider given twice.
func TestRatesFlag(t *testing.T) {
	var r budget.Rates
	if err := r.Set("aws=20"); err != nil {
		t.Fatal(err)
	}
	if err := r.Set("gcp=8,azure=4"); err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "aws=20,azure=4,gcp=8"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := r.Set("aws=1"); err == nil || !strings.Contains(err.Error(), `provider "aws": given twice`) {
		t.Errorf("Set of a provider already given: %v", err)
	}
	if r["aws"] != 20 {
		t.Errorf("a refused Set changed aws to %g", r["aws"])
	}
}

// FuzzParseRates: whatever ParseRates accepts, it reads back the same
// from its own String, and all its rates pass the rule.
func FuzzParseRates(f *testing.F) {
	for _, s := range []string{"", "aws=20", "aws=1,gcp=0.5", "a=1e3", "aws=-1", "x==1", ",", "aws=0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := budget.ParseRates(s)
		if err != nil {
			return
		}
		for name, v := range r {
			if name == "" || v < 0 || v != v {
				t.Fatalf("ParseRates(%q) accepted %q=%g", s, name, v)
			}
		}
		back, err := budget.ParseRates(r.String())
		if err != nil || !maps.Equal(back, r) {
			t.Fatalf("ParseRates(%q) = %v, whose String %q reads back as %v, %v", s, r, r.String(), back, err)
		}
	})
}

// TestRatesYAML: a config file's mapping replaces the rates (never merges
// into a flag's), by ParseRates' rule.
func TestRatesYAML(t *testing.T) {
	cases := []struct {
		in      string
		want    budget.Rates
		wantErr string
	}{
		{"r: {aws: 20, gcp: 0.5}", budget.Rates{"aws": 20, "gcp": 0.5}, ""},
		{"r: {}", budget.Rates{}, ""},
		{"r: {aws: -1}", nil, `line 1: provider "aws": rate must be a finite number`},
		{"r: {aws: .nan}", nil, `provider "aws": rate must be a finite number`},
		{"r: {aws: fast}", nil, "cannot unmarshal"},
		{"r: [aws]", nil, "cannot unmarshal"},
	}
	for _, tc := range cases {
		v := struct {
			R budget.Rates `yaml:"r"`
		}{R: budget.Rates{"azure": 3}}
		err := yaml.Unmarshal([]byte(tc.in), &v)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want an error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(v.R, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.in, v.R, err, tc.want)
		}
	}
}
