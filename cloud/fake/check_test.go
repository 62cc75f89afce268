package fake_test

import (
	"strings"
	"testing"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
)

// TestCheckResizes: the effect-order check over a call log. The case that
// matters is the one an arrival-order check passes: a deposed leader's
// resize arrives first and takes effect last.
func TestCheckResizes(t *testing.T) {
	set := func(group, node string, term uint64, arrival uint64, to int, err string) fake.Call {
		return fake.Call{Op: fake.OpSetDesired, Group: group, Caller: cloud.Caller{Node: node, Term: term}, Arrival: arrival, To: to, Err: err}
	}
	describe := fake.Call{Op: fake.OpDescribe, Group: "web"}
	cases := []struct {
		name  string
		calls []fake.Call // effect order
		want  string      // in the error; "" for none
	}{
		{"empty", nil, ""},
		{"terms rise", []fake.Call{set("web", "n1", 2, 1, 5, ""), describe, set("web", "n2", 3, 2, 8, "")}, ""},
		{"a late resize of the old term",
			[]fake.Call{set("web", "n2", 3, 2, 12, ""), set("web", "n1", 2, 1, 8, "")}, "terms go back on web: term 2's resize (arrived #1) took effect after term 3's (arrived #2)"},
		{"a late resize that failed changed nothing", []fake.Call{set("web", "n2", 3, 2, 12, ""), set("web", "n1", 2, 1, 8, "throttled")}, ""},
		{"other groups have their own order", []fake.Call{set("web", "n2", 3, 2, 12, ""), set("api", "n1", 2, 1, 8, "")}, ""},
		{"two nodes in a term", []fake.Call{set("web", "n1", 2, 1, 5, ""), set("api", "n2", 2, 2, 5, "")}, "two nodes (n1, n2) resized in term 2"},
		{"no caller", []fake.Call{set("web", "", 0, 1, 5, "")}, "without a caller"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fake.CheckResizes(tc.calls)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
