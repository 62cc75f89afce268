package api_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// TestSchemasListEveryJSONField: the schemas that forbid other properties
// (additionalProperties: false) list every JSON key the Go type writes, so
// a field added to the type (the budget, its count in a summary) is
// documented instead of failing clients that validate responses, and no
// schema documents a key the type does not have.
func TestSchemasListEveryJSONField(t *testing.T) {
	doc := servedSpec(t)
	tests := []struct {
		schema string
		typ    reflect.Type
	}{
		{"SimulationSummary", reflect.TypeFor[simulate.Summary]()},
		{"Budget", reflect.TypeFor[policy.Budget]()},
		{"Cost", reflect.TypeFor[policy.Cost]()},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			ref := doc.Components.Schemas[tt.schema]
			if ref == nil || ref.Value == nil {
				t.Fatalf("no schema %s", tt.schema)
			}
			var documented []string
			for name := range ref.Value.Properties {
				documented = append(documented, name)
			}
			var keys []string
			for f := range tt.typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name != "" && name != "-" {
					keys = append(keys, name)
				}
			}
			slices.Sort(documented)
			slices.Sort(keys)
			if !slices.Equal(documented, keys) {
				t.Fatalf("schema %s documents %v; %T writes %v", tt.schema, documented, reflect.Zero(tt.typ).Interface(), keys)
			}
		})
	}
}
