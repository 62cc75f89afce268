package budget

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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
	r := Rates{}
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, entry := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(entry), "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" {
			return nil, fmt.Errorf("entry %q: must be provider=rate, e.g. aws=20", entry)
		}
		if _, dup := r[name]; dup {
			return nil, fmt.Errorf("provider %q: given twice", name)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("provider %q: rate %q is not a number", name, val)
		}
		if err := checkRate(v); err != nil {
			return nil, fmt.Errorf("provider %q: rate %w", name, err)
		}
		r[name] = v
	}
	return r, nil
}

// String formats the rates as ParseRates reads them, providers in order.
func (r Rates) String() string {
	parts := make([]string, 0, len(r))
	for _, name := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, name+"="+strconv.FormatFloat(r[name], 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

// Set parses s and adds its rates; repeating the flag adds more
// providers, and a provider given twice is an error.
func (r *Rates) Set(s string) error {
	parsed, err := ParseRates(s)
	if err != nil {
		return err
	}
	if *r == nil {
		*r = Rates{}
	}
	for name, v := range parsed {
		if _, dup := (*r)[name]; dup {
			return fmt.Errorf("provider %q: given twice", name)
		}
		(*r)[name] = v
	}
	return nil
}

// UnmarshalYAML reads a mapping of provider to rate (a config file's
// "cloud_read_rate: {aws: 20}") into fresh rates, by the same rule as
// ParseRates. Fresh, because decoding into the map a flag already filled
// would merge the file's entries into the command line's.
func (r *Rates) UnmarshalYAML(value *yaml.Node) error {
	var m map[string]float64
	if err := value.Decode(&m); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if name == "" {
			return fmt.Errorf("line %d: a rate needs a provider name", value.Line)
		}
		if err := checkRate(m[name]); err != nil {
			return fmt.Errorf("line %d: provider %q: rate %w", value.Line, name, err)
		}
	}
	*r = m
	return nil
}

// Type names the flag's value in help output.
func (r *Rates) Type() string { return "provider=rate,..." }
