package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/policy/perprovider"
)

// Prices are default prices per instance-hour by provider (aws, azure,
// gcp, fake): what the agent prices a policy with no cost of its own at,
// so decisions and metrics speak in money for every policy. Written
// "provider=price[,provider=price...]" on the command line (e.g.
// "aws=0.096,gcp=0.0949"); it is a pflag.Value, and a YAML mapping
// decodes into it. The currency is given apart, once for all providers.
type Prices map[string]float64

// ParsePrices parses "provider=price,...". Every entry needs a known
// provider, an "=" and a price a policy's cost.per_instance_hour could
// hold; a provider may appear once.
func ParsePrices(s string) (Prices, error) {
	return perprovider.Parse(s, "price", "aws=0.096", checkPrice)
}

// checkPrice applies a policy's rules for provider and price.
func checkPrice(provider string, v float64) error {
	switch provider {
	case "aws", "azure", "gcp", "fake":
	default:
		return fmt.Errorf("provider %q: must be one of aws, azure, gcp, fake", provider)
	}
	if err := CheckPrice(v); err != nil {
		return fmt.Errorf("provider %q: %w", provider, err)
	}
	return nil
}

// CheckPrice applies a policy's rule for cost.per_instance_hour to a price
// given elsewhere (a default price, capstan simulate --price).
func CheckPrice(v float64) error {
	if !isFinite(v) || v <= 0 || v > maxPerInstanceHour {
		return fmt.Errorf("price must be > 0 and <= %d per instance-hour (got %v)", maxPerInstanceHour, v)
	}
	return nil
}

// CheckCurrency applies a policy's rule for cost.currency to the currency
// of default prices.
func CheckCurrency(cur string) error {
	if !isCurrencyCode(cur) {
		return fmt.Errorf("currency %q: must be a three-letter uppercase currency code (ISO 4217), such as USD or EUR", cur)
	}
	return nil
}

// String formats the prices as ParsePrices reads them, providers in order.
func (ps Prices) String() string { return perprovider.Format(ps) }

// Set parses s and adds its prices; repeating the flag adds more
// providers, and a provider given twice is an error.
func (ps *Prices) Set(s string) error {
	parsed, err := ParsePrices(s)
	if err != nil {
		return err
	}
	return perprovider.Add((*map[string]float64)(ps), parsed)
}

// Type names the flag's value in help output.
func (ps *Prices) Type() string { return "provider=price,..." }

// UnmarshalYAML reads a mapping of provider to price (a config file's
// "default_price: {aws: 0.096}") into fresh prices, by the same rules as
// ParsePrices.
func (ps *Prices) UnmarshalYAML(value *yaml.Node) error {
	m, err := perprovider.Decode(value, checkPrice)
	if err != nil {
		return err
	}
	*ps = m
	return nil
}

// Costs are the prices as each provider's Cost in currency, for the
// leader to price policies with (WithDefaultCost).
func (ps Prices) Costs(currency string) map[string]Cost {
	out := make(map[string]Cost, len(ps))
	for name, v := range ps {
		out[name] = Cost{PerInstanceHour: v, Currency: currency}
	}
	return out
}

// WithDefaultCost returns p priced at its provider's default cost when it
// has no cost of its own; a policy's own cost always wins.
func WithDefaultCost(p Policy, defaults map[string]Cost) Policy {
	if p.Cost.Priced() {
		return p
	}
	if c, ok := defaults[p.Target.Provider]; ok && c.Priced() {
		p.Cost = c
	}
	return p
}
