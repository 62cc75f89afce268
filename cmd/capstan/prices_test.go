package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/capstan-io/capstan/policy"
)

// TestDefaultPriceOptions: --default-price and its YAML key reach the
// control plane as per-provider costs in --default-price-currency (USD by
// default), a flag wins over the file, and bad prices or a bad currency
// are refused naming the flag before anything starts.
func TestDefaultPriceOptions(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want map[string]policy.Cost
	}{
		{"flag", "", []string{"--default-price", "aws=0.096,gcp=0.05"},
			map[string]policy.Cost{"aws": {PerInstanceHour: 0.096, Currency: "USD"}, "gcp": {PerInstanceHour: 0.05, Currency: "USD"}}},
		{"file with a currency", "default_price: {azure: 0.2}\ndefault_price_currency: EUR\n", nil,
			map[string]policy.Cost{"azure": {PerInstanceHour: 0.2, Currency: "EUR"}}},
		{"the flag wins over the file", "default_price: {azure: 0.2}\n", []string{"--default-price", "fake=1"},
			map[string]policy.Cost{"fake": {PerInstanceHour: 1, Currency: "USD"}}},
		{"none", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := agentOptions{DefaultCurrency: "USD"}
			fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			fs.Var(&o.DefaultPrice, "default-price", "")
			fs.StringVar(&o.DefaultCurrency, "default-price-currency", o.DefaultCurrency, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if tt.file != "" {
				file := filepath.Join(t.TempDir(), "agent.yaml")
				if err := os.WriteFile(file, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := loadAgentConfig(file, &o, fs); err != nil {
					t.Fatal(err)
				}
			}
			got, err := defaultCosts(o)
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("costs %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	for args, want := range map[string]string{
		"--default-price aws=0":                                `invalid argument "aws=0" for "--default-price" flag: provider "aws": price must be > 0`,
		"--default-price oracle=1":                             `provider "oracle": must be one of aws, azure, gcp, fake`,
		"--default-price aws=0.1 --default-price-currency usd": `--default-price-currency: currency "usd": must be a three-letter uppercase currency code`,
		"--default-price aws=0.1 --default-price aws=0.2":      `provider "aws": given twice`,
	} {
		if err := runAgentArgs(t, strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("capstan agent %s: %v, want an error containing %q", args, err, want)
		}
	}
}
