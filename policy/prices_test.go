package policy

import (
	"maps"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParsePrices(t *testing.T) {
	tests := []struct {
		in   string
		want Prices
		err  string
	}{
		{"aws=0.096,gcp=0.0949", Prices{"aws": 0.096, "gcp": 0.0949}, ""},
		{" azure = 0.2 ", Prices{"azure": 0.2}, ""},
		{"", Prices{}, ""},
		{"aws", nil, `entry "aws": must be provider=price, e.g. aws=0.096`},
		{"=0.1", nil, `entry "=0.1": must be provider=price`},
		{"aws=0.1,aws=0.2", nil, `provider "aws": given twice`},
		{"aws=cheap", nil, `provider "aws": price "cheap" is not a number`},
		{"ibm=0.1", nil, `provider "ibm": must be one of aws, azure, gcp, fake`},
		{"aws=0", nil, `provider "aws": price must be > 0 and <= 10000 per instance-hour (got 0)`},
		{"aws=-1", nil, `provider "aws": price must be > 0`},
		{"aws=20000", nil, `provider "aws": price must be > 0 and <= 10000`},
		{"aws=NaN", nil, `provider "aws": price must be > 0`},
		{"aws=Inf", nil, `provider "aws": price must be > 0`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePrices(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("ParsePrices = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestPricesFlagAndYAML: the flag adds providers across repetitions and
// refuses one given twice; a config file's mapping replaces, by the same
// rules.
func TestPricesFlagAndYAML(t *testing.T) {
	var ps Prices
	if err := ps.Set("aws=0.1"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Set("gcp=0.2"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Set("aws=0.3"); err == nil || !strings.Contains(err.Error(), `provider "aws": given twice`) {
		t.Fatalf("repeated provider: %v", err)
	}
	if got := ps.String(); got != "aws=0.1,gcp=0.2" {
		t.Fatalf("String = %q", got)
	}
	var fromFile struct {
		P Prices `yaml:"default_price"`
	}
	if err := yaml.Unmarshal([]byte("default_price: {aws: 0.096, fake: 1}"), &fromFile); err != nil {
		t.Fatal(err)
	}
	if want := (Prices{"aws": 0.096, "fake": 1}); !maps.Equal(fromFile.P, want) {
		t.Fatalf("from YAML %v, want %v", fromFile.P, want)
	}
	for doc, want := range map[string]string{
		"default_price: {aws: 0}":     `line 1: provider "aws": price must be > 0`,
		"default_price: {oracle: 1}":  `line 1: provider "oracle": must be one of aws, azure, gcp, fake`,
		"default_price: {aws: cheap}": "cannot unmarshal",
	} {
		if err := yaml.Unmarshal([]byte(doc), &fromFile); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", doc, err, want)
		}
	}
}

func TestCheckCurrency(t *testing.T) {
	for cur, ok := range map[string]bool{"USD": true, "EUR": true, "usd": false, "": false, "EURO": false} {
		if err := CheckCurrency(cur); (err == nil) != ok {
			t.Errorf("CheckCurrency(%q) = %v", cur, err)
		}
	}
}

func TestWithDefaultCost(t *testing.T) {
	defaults := Prices{"aws": 0.096, "gcp": 0.05}.Costs("EUR")
	tests := []struct {
		name     string
		provider string
		own      Cost
		want     Cost
	}{
		{"unpriced takes its provider's price", "aws", Cost{}, Cost{0.096, "EUR"}},
		{"its own cost wins", "aws", Cost{0.5, "USD"}, Cost{0.5, "USD"}},
		{"no default for the provider", "azure", Cost{}, Cost{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{ID: "web", Target: Target{Provider: tt.provider}, Cost: tt.own}
			if got := WithDefaultCost(p, defaults).Cost; got != tt.want {
				t.Fatalf("cost %+v, want %+v", got, tt.want)
			}
			if p.Cost != tt.own {
				t.Fatal("WithDefaultCost changed its argument")
			}
		})
	}
	if got := WithDefaultCost(Policy{Target: Target{Provider: "aws"}}, nil).Cost; got != (Cost{}) {
		t.Fatalf("no defaults: cost %+v", got)
	}
}

// FuzzParsePrices: whatever ParsePrices accepts is a known provider with a
// valid price, and its String reads back to the same prices.
func FuzzParsePrices(f *testing.F) {
	for _, s := range []string{"", "aws=0.096", "aws=1,gcp=0.5", "fake=1e3", "aws=-1", "x==1", ",", "aws=0x10", "azure=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrices(s)
		if err != nil {
			return
		}
		for name, v := range ps {
			if checkPrice(name, v) != nil {
				t.Fatalf("ParsePrices(%q) accepted %q=%g", s, name, v)
			}
		}
		back, err := ParsePrices(ps.String())
		if err != nil || !maps.Equal(back, ps) {
			t.Fatalf("ParsePrices(%q) = %v, whose String %q reads back as %v, %v", s, ps, ps.String(), back, err)
		}
	})
}
