// Package auth is the REST API's authentication: bearer tokens with a role
// (read ⊂ write ⊂ admin) and a per-token request rate limit. Only a token's
// SHA-256 hash is ever stored; the secret is shown once, when it is made.
// Tokens come from a token file (or the agent's config) and, replicated
// through Raft, from the API itself; an Authenticator checks a request
// against both and puts the caller's Identity into the request context.
package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Role is what a token may do. Each role includes the ones below it.
type Role string

// The roles, from least to most privileged.
const (
	// RoleRead may read: every GET.
	RoleRead Role = "read"
	// RoleWrite may also change policies and push metrics (including
	// Prometheus remote-write).
	RoleWrite Role = "write"
	// RoleAdmin may also change cluster membership and manage tokens.
	RoleAdmin Role = "admin"
)

// rank orders the roles; 0 is not a role.
func (r Role) rank() int {
	switch r {
	case RoleRead:
		return 1
	case RoleWrite:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a token of role r may call a route that needs
// role need (admin ⊇ write ⊇ read). An invalid role allows nothing.
func (r Role) Allows(need Role) bool { return r.Valid() && need.Valid() && r.rank() >= need.rank() }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", fmt.Errorf("must be read, write or admin, not %q", s)
}

// Where a token comes from.
const (
	// OriginFile marks a token from the token file or the agent's config.
	OriginFile = "file"
	// OriginAPI marks a token created through POST /v1/tokens and
	// replicated through Raft.
	OriginAPI = "api"
)

// Token is one token as stored: never its secret, only the secret's hash.
type Token struct {
	// Name identifies the token in logs, listings and the audit trail.
	Name string `json:"name"`
	// Role is what the token may do.
	Role Role `json:"role"`
	// Hash is "sha256:" and the hex SHA-256 of the secret.
	Hash string `json:"hash"`
	// Rate is the token's request rate limit per second on each node; 0
	// uses the Authenticator's default.
	Rate float64 `json:"rate,omitempty"`
	// Burst is how many requests may come at once above Rate; 0 uses the
	// default.
	Burst int `json:"burst,omitempty"`
	// Origin is OriginFile or OriginAPI.
	Origin string `json:"origin"`
	// CreatedAt is when an API token was created; zero for file tokens.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Secrets are "capstan_" followed by 32 random bytes in unpadded base64url.
const (
	secretPrefix  = "capstan_"
	secretBytes   = 32
	secretLen     = len(secretPrefix) + 43 // base64.RawURLEncoding.EncodedLen(32)
	hashPrefix    = "sha256:"
	maxNameLength = 64
)

// MaxTokenFileBytes bounds a token file; thousands of tokens fit.
const MaxTokenFileBytes = 1 << 20

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	hashRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	secretRE = regexp.MustCompile(`^capstan_[A-Za-z0-9_-]{43}$`)
)

// GenerateSecret returns a new random secret. 32 bytes from crypto/rand
// cannot be guessed, which is why a fast hash is enough to store it.
func GenerateSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a token secret: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret returns the stored form of a secret: "sha256:<hex>".
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// LooksLikeSecret reports whether s has the shape of a token secret, so a
// caller can tell a mistyped header from an unknown token.
func LooksLikeSecret(s string) bool { return len(s) == secretLen && secretRE.MatchString(s) }

// digest decodes the token's hash; ok is false for a malformed hash.
func (t Token) digest() (d [sha256.Size]byte, ok bool) {
	if !hashRE.MatchString(t.Hash) {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(t.Hash[len(hashPrefix):])); err != nil {
		return d, false
	}
	return d, true
}

// ValidateName checks a token name: 1 to 64 letters, digits, '.', '_' or
// '-', starting with a letter or digit (names go into URLs and logs).
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("required")
	case len(name) > maxNameLength:
		return fmt.Errorf("at most %d characters", maxNameLength)
	case !nameRE.MatchString(name):
		return errors.New("letters, digits, '.', '_' and '-' only, starting with a letter or digit")
	}
	return nil
}

// ValidateLimits checks a rate and burst: finite and not negative.
func ValidateLimits(rate float64, burst int) (field string, err error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0 {
		return "rate", errors.New("must be a finite number >= 0 (requests per second; 0 uses the default)")
	}
	if burst < 0 {
		return "burst", errors.New("must be >= 0 (0 uses the default)")
	}
	return "", nil
}

// Validate checks one token. Errors name the field; they never quote the
// hash, in case a secret was pasted there by mistake.
func (t Token) Validate() error {
	if err := ValidateName(t.Name); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if !t.Role.Valid() {
		return fmt.Errorf("role: must be read, write or admin, not %q", t.Role)
	}
	if _, ok := t.digest(); !ok {
		return errors.New(hashRule(t.Hash))
	}
	if field, err := ValidateLimits(t.Rate, t.Burst); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// hashRule explains a bad hash without repeating it.
func hashRule(h string) string {
	if strings.HasPrefix(h, secretPrefix) {
		return "hash: this is a token secret, not its hash; store only the hash (capstan token generate prints it) and rotate this secret"
	}
	return "hash: must be sha256: followed by 64 lower-case hex digits (capstan token generate prints it)"
}

// TokenList is the YAML `tokens:` list of a token file or of the agent's
// config file. Decoding is strict: an unknown field, a bad role or hash,
// a missing field or a duplicate name is an error naming the entry, the
// field and the line.
type TokenList []Token

// UnmarshalYAML decodes the list from its node, so that errors carry line
// numbers.
func (l *TokenList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*l = nil
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: tokens: must be a list of {name, role, hash, rate, burst}", n.Line)
	}
	out := make(TokenList, 0, len(n.Content))
	seen := map[string]int{}
	for i, item := range n.Content {
		t, err := decodeToken(item, fmt.Sprintf("tokens[%d]", i))
		if err != nil {
			return err
		}
		if line, dup := seen[t.Name]; dup {
			return fmt.Errorf("line %d: tokens[%d].name: %q is already used by the token at line %d; names must be unique", item.Line, i, t.Name, line)
		}
		seen[t.Name] = item.Line
		out = append(out, t)
	}
	*l = out
	return nil
}

// decodeToken decodes one list entry.
func decodeToken(n *yaml.Node, path string) (Token, error) {
	t := Token{Origin: OriginFile}
	if n.Kind != yaml.MappingNode {
		return t, fmt.Errorf("line %d: %s: must be a mapping with name, role and hash", n.Line, path)
	}
	set := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		at := func(format string, args ...any) error {
			return fmt.Errorf("line %d: %s.%s: %s", v.Line, path, key, fmt.Sprintf(format, args...))
		}
		if k.Kind != yaml.ScalarNode {
			return t, fmt.Errorf("line %d: %s: keys must be plain names", k.Line, path)
		}
		if line, dup := set[key]; dup {
			return t, fmt.Errorf("line %d: %s.%s: given twice (first at line %d)", k.Line, path, key, line)
		}
		set[key] = k.Line
		if key != "name" && key != "role" && key != "hash" && key != "rate" && key != "burst" {
			return t, fmt.Errorf("line %d: %s.%s: unknown field (a token has name, role, hash, rate and burst)", k.Line, path, key)
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return t, at("must be a single value")
		}
		switch key {
		case "name":
			if err := ValidateName(v.Value); err != nil {
				return t, at("%v", err)
			}
			t.Name = v.Value
		case "role":
			r, err := ParseRole(v.Value)
			if err != nil {
				return t, at("%v", err)
			}
			t.Role = r
		case "hash":
			t.Hash = v.Value
			if _, ok := t.digest(); !ok {
				return t, fmt.Errorf("line %d: %s.%s", v.Line, path, hashRule(v.Value))
			}
		case "rate":
			if v.Tag != "!!int" && v.Tag != "!!float" {
				return t, at("must be a number (requests per second)")
			}
			if err := v.Decode(&t.Rate); err != nil {
				return t, at("must be a number (requests per second)")
			}
			if _, err := ValidateLimits(t.Rate, 0); err != nil {
				return t, at("%v", err)
			}
		case "burst":
			if v.Tag != "!!int" {
				return t, at("must be a whole number")
			}
			if err := v.Decode(&t.Burst); err != nil {
				return t, at("must be a whole number")
			}
			if _, err := ValidateLimits(0, t.Burst); err != nil {
				return t, at("%v", err)
			}
		}
	}
	for _, f := range []string{"name", "role", "hash"} {
		if _, ok := set[f]; !ok {
			return t, fmt.Errorf("line %d: %s.%s: required", n.Line, path, f)
		}
	}
	return t, nil
}

// tokenFile is the document of a token file.
type tokenFile struct {
	Tokens TokenList `yaml:"tokens"`
}

// ParseFile parses a token file: a YAML document whose only key is
// `tokens:`. An empty document holds no tokens.
func ParseFile(data []byte) ([]Token, error) {
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	// A second document would be silently ignored; say so instead.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("a token file holds one YAML document; found more")
	}
	return f.Tokens, nil
}

// LoadFile reads and parses a token file. It warns (through the returned
// error) about nothing else: permissions are the operator's business, but
// the file holds only hashes, so a leak reveals no secret.
func LoadFile(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTokenFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	if len(data) > MaxTokenFileBytes {
		return nil, fmt.Errorf("token file %s: larger than %d bytes", path, MaxTokenFileBytes)
	}
	tokens, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tokens, nil
}

// Merge joins token lists (the token file's and the config's), refusing a
// name used twice across them and checking each token.
func Merge(lists ...[]Token) ([]Token, error) {
	var out []Token
	seen := map[string]bool{}
	for _, l := range lists {
		for _, t := range l {
			if err := t.Validate(); err != nil {
				return nil, fmt.Errorf("token %q: %w", t.Name, err)
			}
			if seen[t.Name] {
				return nil, fmt.Errorf("token %q: defined both in the token file and in the config file; names must be unique", t.Name)
			}
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// FileEntry renders a token as the YAML list item to paste under
// `tokens:` in a token file.
func FileEntry(t Token) string {
	var b strings.Builder
	// The name is quoted: a name such as "null" or "true" would otherwise
	// read back as something else.
	fmt.Fprintf(&b, "  - name: %q\n    role: %s\n    hash: %s\n", t.Name, t.Role, t.Hash)
	if t.Rate > 0 {
		fmt.Fprintf(&b, "    rate: %g\n", t.Rate)
	}
	if t.Burst > 0 {
		fmt.Fprintf(&b, "    burst: %d\n", t.Burst)
	}
	return b.String()
}
