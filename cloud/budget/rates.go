package budget

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/policy/perprovider"
)

// Rates are per-provider rates in calls per second, written
// "provider=rate[,provider=rate...]" on the command line (e.g.
// "aws=20,gcp=8"); 0 means unlimited. It is a pflag.Value, and a YAML
// mapping decodes into it.
type Rates map[string]float64

// ParseRates parses "provider=rate,...". Every entry needs a provider
// name, an "=" and a rate that checkRate accepts; a provider may appear
// once. Whether the provider exists is New's question.
func ParseRates(s string) (Rates, error) {
	return perprovider.Parse(s, "rate", "aws=20", checkProviderRate)
}

// checkProviderRate is checkRate for one provider's entry, and refuses an
// entry without a provider name (a YAML mapping can hold one).
func checkProviderRate(name string, v float64) error {
	if name == "" {
		return fmt.Errorf("a rate needs a provider name")
	}
	if err := checkRate(v); err != nil {
		return fmt.Errorf("provider %q: rate %w", name, err)
	}
	return nil
}

// String formats the rates as ParseRates reads them, providers in order.
func (r Rates) String() string { return perprovider.Format(r) }

// Set parses s and adds its rates; repeating the flag adds more
// providers, and a provider given twice is an error.
func (r *Rates) Set(s string) error {
	parsed, err := ParseRates(s)
	if err != nil {
		return err
	}
	return perprovider.Add((*map[string]float64)(r), parsed)
}

// UnmarshalYAML reads a mapping of provider to rate (a config file's
// "cloud_read_rate: {aws: 20}") into fresh rates, by the same rule as
// ParseRates.
func (r *Rates) UnmarshalYAML(value *yaml.Node) error {
	m, err := perprovider.Decode(value, checkProviderRate)
	if err != nil {
		return err
	}
	*r = m
	return nil
}

// Type names the flag's value in help output.
func (r *Rates) Type() string { return "provider=rate,..." }
