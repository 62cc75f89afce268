package leanjson

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/go-faster/jx"
)

func TestString(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"web-01"`, "web-01", true},
		{`""`, "", true},
		{`"a\u0026b"`, "a&b", true},
		{`"caf\u00e9"`, "café", true},
		{`"café"`, "café", true},
		{`"tab\there"`, "tab\there", true},
		{"\"a\xffb\"", "", false},
		{`"\ud800"`, "", false},
		{"\"\ufffd\"", "", false},
		{`null`, "", false},
		{`3`, "", false},
		{`"open`, "", false},
	}
	for _, tc := range cases {
		got, err := String(jx.DecodeStr(tc.in))
		if ok := err == nil; ok != tc.ok || got != tc.want {
			t.Errorf("String(%s) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNotLean) {
			t.Errorf("String(%s): error %v is not ErrNotLean", tc.in, err)
		}
	}
}

func TestInt(t *testing.T) {
	cases := []struct {
		in   string
		bits int
		want int64
		ok   bool
	}{
		{`3`, 32, 3, true},
		{`0`, 32, 0, true},
		{`-0`, 32, 0, true},
		{`-7`, 64, -7, true},
		{`2147483647`, 32, 2147483647, true},
		{`2147483648`, 32, 0, false},
		{`2147483648`, 64, 2147483648, true},
		{`9223372036854775808`, 64, 0, false},
		{`03`, 32, 0, false},
		{`3.0`, 32, 0, false},
		{`1e2`, 32, 0, false},
		{`"3"`, 32, 0, false},
		{`null`, 32, 0, false},
		{`-`, 32, 0, false},
	}
	for _, tc := range cases {
		got, err := Int(jx.DecodeStr(tc.in), tc.bits)
		if ok := err == nil; ok != tc.ok || got != tc.want {
			t.Errorf("Int(%s, %d) = %d, %v; want %d, ok %v", tc.in, tc.bits, got, err, tc.want, tc.ok)
		}
	}
}

func TestPlain(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"capstan-min", true},
		{"a b", true},
		{"~", true},
		{`a"b`, false},
		{`a\b`, false},
		{"a\tb", false},
		{"\x1f", false},
		{"\x7f", false},
		{"é", false},
	}
	for _, tc := range cases {
		// The same answer for a string and for its bytes: the API checks
		// Go strings, the decoders raw input.
		if got := Plain(tc.in); got != tc.want {
			t.Errorf("Plain(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got := Plain([]byte(tc.in)); got != tc.want {
			t.Errorf("Plain([]byte(%q)) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzString checks String, Int and Plain against encoding/json: whatever
// they read from a document that is one value, encoding/json reads the
// same from the same bytes, and a Plain string between quotes decodes to
// itself. (They read one value from a decoder; what follows it is the
// caller's to judge.)
func FuzzString(f *testing.F) {
	for _, seed := range []string{`"web-01"`, `""`, `"a\u0026b"`, `"caf\u00e9"`, "\"a\xffb\"", `"\ud800"`, `3`, `-0`, `2147483648`, `1e2`, `null`, `"open`, `"" 0`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := jx.DecodeStr(in)
		if s, err := String(d); err == nil && onlyValue(d) {
			var want string
			if err := json.Unmarshal([]byte(in), &want); err != nil || want != s {
				t.Fatalf("String(%q) = %q; encoding/json: %q, %v", in, s, want, err)
			}
		}
		d = jx.DecodeStr(in)
		if n, err := Int(d, 32); err == nil && onlyValue(d) {
			var want int32
			if err := json.Unmarshal([]byte(in), &want); err != nil || int64(want) != n {
				t.Fatalf("Int(%q, 32) = %d; encoding/json: %d, %v", in, n, want, err)
			}
		}
		d = jx.DecodeStr(in)
		if n, err := Int(d, 64); err == nil && onlyValue(d) {
			var want int64
			if err := json.Unmarshal([]byte(in), &want); err != nil || want != n {
				t.Fatalf("Int(%q, 64) = %d; encoding/json: %d, %v", in, n, want, err)
			}
		}
		if Plain(in) != Plain([]byte(in)) {
			t.Fatalf("Plain(%q) differs for a string and its bytes", in)
		}
		if Plain(in) {
			var got string
			if err := json.Unmarshal([]byte(`"`+in+`"`), &got); err != nil || got != in {
				t.Fatalf("Plain(%q), but its quoted form decodes to %q, %v", in, got, err)
			}
		}
	})
}

// onlyValue reports whether nothing but whitespace is left in d.
func onlyValue(d *jx.Decoder) bool {
	return d.Next() == jx.Invalid && errors.Is(d.Skip(), io.EOF)
}
