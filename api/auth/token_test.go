package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testHash is the hash of a fixed secret, for files in tests.
var testHash = HashSecret("capstan_" + strings.Repeat("A", 43))

func TestGenerateSecretShapeAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !LooksLikeSecret(s) || len(s) != len("capstan_")+43 {
			t.Fatalf("secret %q does not look like a secret", s)
		}
		if seen[s] {
			t.Fatalf("secret repeated: %q", s)
		}
		seen[s] = true
		h := HashSecret(s)
		if !hashRE.MatchString(h) || strings.Contains(h, s) {
			t.Fatalf("hash %q of a secret is not sha256:<hex>", h)
		}
	}
}

func TestLooksLikeSecret(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"capstan_" + strings.Repeat("a", 43), true},
		{"capstan_" + strings.Repeat("-", 43), true},
		{"capstan_" + strings.Repeat("a", 42), false},
		{"capstan_" + strings.Repeat("a", 44), false},
		{"capstan_" + strings.Repeat("a", 42) + "=", false},
		{"capstn_" + strings.Repeat("a", 44), false},
		{"", false},
	} {
		if got := LooksLikeSecret(tc.s); got != tc.want {
			t.Errorf("LooksLikeSecret(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestRoleAllows(t *testing.T) {
	roles := []Role{RoleRead, RoleWrite, RoleAdmin}
	for i, have := range roles {
		for j, need := range roles {
			if got, want := have.Allows(need), i >= j; got != want {
				t.Errorf("%s.Allows(%s) = %v, want %v", have, need, got, want)
			}
		}
		if have.Allows("") || have.Allows("root") || Role("root").Allows(have) {
			t.Errorf("an invalid role must allow nothing and be allowed nothing (%s)", have)
		}
	}
}

func TestParseFileAcceptsValidTokens(t *testing.T) {
	data := `# comment
tokens:
  - name: admin
    role: admin
    hash: ` + testHash + `
  - name: "ci.bot-1"
    role: write
    hash: ` + testHash + `
    rate: 2.5
    burst: 10
  - {name: dash, role: read, hash: ` + testHash + `, rate: 3}
`
	got, err := ParseFile([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{
		{Name: "admin", Role: RoleAdmin, Hash: testHash, Origin: OriginFile},
		{Name: "ci.bot-1", Role: RoleWrite, Hash: testHash, Rate: 2.5, Burst: 10, Origin: OriginFile},
		{Name: "dash", Role: RoleRead, Hash: testHash, Rate: 3, Origin: OriginFile},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tokens, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("token %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, empty := range []string{"", "tokens:\n", "tokens: []\n", "# nothing\n"} {
		if got, err := ParseFile([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("ParseFile(%q) = %v, %v; want no tokens, no error", empty, got, err)
		}
	}
}

func TestParseFileErrorsNameFieldAndLine(t *testing.T) {
	secret := "capstan_" + strings.Repeat("Z", 43)
	entry := func(extra string) string {
		return "tokens:\n  - name: a\n    role: read\n    hash: " + testHash + "\n" + extra
	}
	for _, tc := range []struct {
		name, data string
		want       []string // substrings of the error
	}{
		{"unknown top-level key", "tokenz: []\n", []string{"line 1", "tokenz"}},
		{"tokens not a list", "tokens: 3\n", []string{"line 1", "tokens: must be a list"}},
		{"entry not a mapping", "tokens:\n  - admin\n", []string{"line 2", "tokens[0]", "mapping"}},
		{"unknown field", entry("    secret: x\n"), []string{"line 5", "tokens[0].secret", "unknown field"}},
		{"field twice", entry("    role: admin\n"), []string{"line 5", "tokens[0].role", "given twice", "line 3"}},
		{"missing name", "tokens:\n  - role: read\n    hash: " + testHash + "\n", []string{"line 2", "tokens[0].name", "required"}},
		{"missing role", "tokens:\n  - name: a\n    hash: " + testHash + "\n", []string{"tokens[0].role", "required"}},
		{"missing hash", "tokens:\n  - name: a\n    role: read\n", []string{"tokens[0].hash", "required"}},
		{"bad role", "tokens:\n  - name: a\n    role: root\n    hash: " + testHash + "\n", []string{"line 3", "tokens[0].role", "read, write or admin"}},
		{"bad name", "tokens:\n  - name: a b\n    role: read\n    hash: " + testHash + "\n", []string{"line 2", "tokens[0].name", "letters, digits"}},
		{"long name", "tokens:\n  - name: " + strings.Repeat("n", 65) + "\n    role: read\n    hash: " + testHash + "\n", []string{"tokens[0].name", "at most 64"}},
		{"null name", "tokens:\n  - name:\n    role: read\n    hash: " + testHash + "\n", []string{"tokens[0].name", "single value"}},
		{"bad hash", "tokens:\n  - name: a\n    role: read\n    hash: md5:abc\n", []string{"line 4", "tokens[0].hash", "64 lower-case hex"}},
		{"upper-case hash", "tokens:\n  - name: a\n    role: read\n    hash: " + strings.ToUpper(testHash) + "\n", []string{"tokens[0].hash"}},
		{"secret as hash", "tokens:\n  - name: a\n    role: read\n    hash: " + secret + "\n", []string{"line 4", "tokens[0].hash", "token secret, not its hash"}},
		{"rate not a number", entry("    rate: fast\n"), []string{"line 5", "tokens[0].rate", "number"}},
		{"negative rate", entry("    rate: -1\n"), []string{"tokens[0].rate", ">= 0"}},
		{"infinite rate", entry("    rate: .inf\n"), []string{"tokens[0].rate", "finite"}},
		{"fractional burst", entry("    burst: 1.5\n"), []string{"line 5", "tokens[0].burst", "whole number"}},
		{"negative burst", entry("    burst: -2\n"), []string{"tokens[0].burst", ">= 0"}},
		{"duplicate name", entry("  - name: a\n    role: admin\n    hash: " + testHash + "\n"), []string{"line 5", "tokens[1].name", `"a"`, "line 2", "unique"}},
		{"two documents", "tokens: []\n---\ntokens: []\n", []string{"one YAML document"}},
		{"not YAML", "tokens: [\n", []string{"yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.data))
			if err == nil {
				t.Fatalf("no error for\n%s", tc.data)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), testHash) {
				t.Errorf("error %q repeats the hash or secret", err)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(good, []byte("tokens:\n"+FileEntry(Token{Name: "null", Role: RoleAdmin, Hash: testHash, Rate: 5, Burst: 7})), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// FileEntry's output reads back as the same token, even for a name
	// YAML would otherwise take for null.
	if len(got) != 1 || got[0] != (Token{Name: "null", Role: RoleAdmin, Hash: testHash, Rate: 5, Burst: 7, Origin: OriginFile}) {
		t.Fatalf("round trip through FileEntry: %+v", got)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "token file") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxTokenFileBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("tokens:\n  - name: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "tokens[0].role") {
		t.Fatalf("bad file: error must name the file and the field: %v", err)
	}
}

func TestMerge(t *testing.T) {
	a := []Token{{Name: "a", Role: RoleAdmin, Hash: testHash}}
	b := []Token{{Name: "b", Role: RoleRead, Hash: testHash}}
	got, err := Merge(a, b)
	if err != nil || len(got) != 2 {
		t.Fatalf("Merge: %v %v", got, err)
	}
	if _, err := Merge(a, a); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("duplicate across lists: %v", err)
	}
	if _, err := Merge([]Token{{Name: "c", Role: "boss", Hash: testHash}}); err == nil || !strings.Contains(err.Error(), "role") {
		t.Fatalf("invalid token: %v", err)
	}
}
