package gcp

import (
	"regexp"
	"strings"
	"testing"
)

// The expressions isName and isProject were written from, and are held to.
var (
	nameRE    = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	projectRE = regexp.MustCompile(`^([a-z0-9][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$`)
)

// TestNameChecksMatchExpressions: isName and isProject accept exactly what
// the expressions accept, on names at and around every rule's edge.
func TestNameChecksMatchExpressions(t *testing.T) {
	cases := []string{"", "a", "A", "1", "-", "a-", "a1", "a-1", "ab", "a--b", "a.b", "a_b", "a/b", "a?b", "é",
		strings.Repeat("a", 63), strings.Repeat("a", 64), "a" + strings.Repeat("-", 61) + "b", "us-central1-a", "us-central1",
		"my-project", "myproj", "mypro", strings.Repeat("a", 30), strings.Repeat("a", 31), "my-project-", "1project",
		"example.com:my-project", "example.com:", ":my-project", "e:my-project", "ex:my-project", "-x:my-project",
		"x-:my-project", "a.b-c.d:my-project", "a:b:my-project", "example.com:MY-project", "Example.com:my-project"}
	for _, s := range cases {
		if got, want := isName(s), nameRE.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, the expression says %v", s, got, want)
		}
		if got, want := isProject(s), projectRE.MatchString(s); got != want {
			t.Errorf("isProject(%q) = %v, the expression says %v", s, got, want)
		}
	}
}

// FuzzNameChecks: isName and isProject agree with the expressions.
func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"us-central1-a", "my-project", "example.com:my-project", "a", "a-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isName(s), nameRE.MatchString(s); got != want {
			t.Fatalf("isName(%q) = %v, the expression says %v", s, got, want)
		}
		if got, want := isProject(s), projectRE.MatchString(s); got != want {
			t.Fatalf("isProject(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
