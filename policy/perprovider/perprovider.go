// Package perprovider reads numbers given per cloud provider, written
// "provider=value[,provider=value...]" on a command line or as a YAML
// mapping in a config file: the agent's call-budget rates
// (cloud/budget.Rates) and default prices (policy.Prices) are both such
// maps and differ only in the noun and the rule a value must meet. It
// lives under policy/ because policy may import nothing else of Capstan.
package perprovider

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Check returns why value is not acceptable for provider, naming the
// provider, or nil.
type Check func(provider string, value float64) error

// Parse reads "provider=value,...". Every entry needs a provider name, an
// "=" and a number that check accepts; a provider may appear once. noun
// and example name the value in errors ("rate", "aws=20").
func Parse(s, noun, example string, check Check) (map[string]float64, error) {
	m := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, entry := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(entry), "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" {
			return nil, fmt.Errorf("entry %q: must be provider=%s, e.g. %s", entry, noun, example)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("provider %q: given twice", name)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("provider %q: %s %q is not a number", name, noun, val)
		}
		if err := check(name, v); err != nil {
			return nil, err
		}
		m[name] = v
	}
	return m, nil
}

// Format writes m as Parse reads it, providers in order.
func Format(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, name+"="+strconv.FormatFloat(m[name], 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

// Add adds what a repeated flag parsed to *dst, making the map if needed;
// a provider given twice is an error.
func Add(dst *map[string]float64, parsed map[string]float64) error {
	if *dst == nil {
		*dst = map[string]float64{}
	}
	for name, v := range parsed {
		if _, dup := (*dst)[name]; dup {
			return fmt.Errorf("provider %q: given twice", name)
		}
		(*dst)[name] = v
	}
	return nil
}

// Decode reads a YAML mapping of provider to value, checking each entry
// in provider order; an error names the mapping's line. The result is a
// fresh map: decoding into the map a flag already filled would merge the
// file's entries into the command line's.
func Decode(value *yaml.Node, check Check) (map[string]float64, error) {
	var m map[string]float64
	if err := value.Decode(&m); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if err := check(name, m[name]); err != nil {
			return nil, fmt.Errorf("line %d: %w", value.Line, err)
		}
	}
	return m, nil
}
