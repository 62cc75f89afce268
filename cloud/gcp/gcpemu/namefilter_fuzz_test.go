package gcpemu

import (
	"strings"
	"testing"
)

// FuzzParseNameFilter: any filter string either parses or is refused with an
// error naming the field; a parsed filter never panics, and a literal
// equality matches exactly its name.
func FuzzParseNameFilter(f *testing.F) {
	for _, s := range []string{"", `name eq "(?:a|b)"`, `name ne g-0[1-9]`, `name = "web"`, `name != 'x'`, `name eq "(g"`, `zone eq x`, `name`, `name eq`} {
		f.Add(s, "web")
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		match, err := parseNameFilter(filter)
		if err != nil {
			if !strings.Contains(err.Error(), "'filter'") {
				t.Fatalf("error %q does not name the field", err)
			}
			return
		}
		_ = match(name)
		if lit, err := parseNameFilter(`name = "` + name + `"`); err == nil && !strings.ContainsAny(name, `"' `) && name != "" && !lit(name) {
			t.Fatalf("name = %q does not match %q", name, name)
		}
	})
}
