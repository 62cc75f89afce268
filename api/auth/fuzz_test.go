package auth

import (
	"strings"
	"testing"
)

// FuzzParseFile throws arbitrary documents at the token-file parser: it
// must never panic, every token it accepts must be valid, names must be
// unique, and an error must never repeat a secret-shaped value.
func FuzzParseFile(f *testing.F) {
	secret := "capstan_" + strings.Repeat("Q", 43)
	for _, seed := range []string{
		"tokens:\n  - name: a\n    role: admin\n    hash: " + testHash + "\n",
		"tokens:\n  - {name: a, role: read, hash: " + testHash + ", rate: 1.5, burst: 3}\n",
		"tokens:\n  - name: a\n    role: read\n    hash: " + secret + "\n",
		"tokens:\n  - name: a\n    role: read\n    hash: " + testHash + "\n  - name: a\n    role: read\n    hash: " + testHash + "\n",
		"tokens: [1, [2], {x: y}]\n", "tokens: !!binary aGVsbG8=\n", "tokens:\n  - &a {name: a}\n  - *a\n",
		"", "---\n", "tokens:\n", "{", "tokens: {name: a}\n", "tokens:\n  - name: [a]\n",
		"tokens:\n  - name: a\n    rate: 1e400\n", "tokens:\n  - ? [a]\n    : b\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseFile(data)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error repeats a secret: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, tok := range tokens {
			if err := tok.Validate(); err != nil {
				t.Fatalf("accepted an invalid token %+v: %v", tok, err)
			}
			if seen[tok.Name] {
				t.Fatalf("accepted a duplicate name %q", tok.Name)
			}
			seen[tok.Name] = true
			if tok.Origin != OriginFile {
				t.Fatalf("a file token with origin %q", tok.Origin)
			}
		}
		// What was accepted survives a round trip through FileEntry.
		if len(tokens) > 0 {
			var b strings.Builder
			b.WriteString("tokens:\n")
			for _, tok := range tokens {
				b.WriteString(FileEntry(tok))
			}
			again, err := ParseFile([]byte(b.String()))
			if err != nil || len(again) != len(tokens) {
				t.Fatalf("round trip failed: %v\n%s", err, b.String())
			}
			for i := range tokens {
				if again[i] != tokens[i] {
					t.Fatalf("round trip changed token %d: %+v → %+v", i, tokens[i], again[i])
				}
			}
		}
	})
}
