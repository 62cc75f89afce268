package gcpemu

import (
	"strings"
	"testing"
)

// FuzzParseFilter: the list filter parser never panics, and what it
// accepts names only fields it can filter on; an error says where or
// which field.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{``, `targetLink = "https://x/compute/v1/projects/p/zones/z/instanceGroupManagers/g"`,
		`(status = "DONE") AND (name != op-1)`, `user = "a\"b"`, `(`, `name =`, `name = "`, `x = 1`, `name = a\`,
		`name eq "(?:g-01|g-07)"`, `name ne g-0[1-9]`, `name eq '(g'`, `name ~ "g"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := parseFilter(s)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, "at character") && !strings.Contains(msg, "field") {
				t.Fatalf("error %q says neither where nor which field", msg)
			}
			return
		}
		for _, c := range conds {
			if _, ok := filterField(operationJSON{}, c.Field); !ok {
				t.Fatalf("accepted unknown field %q", c.Field)
			}
		}
		_ = conds.Match(operationJSON{})
	})
}
