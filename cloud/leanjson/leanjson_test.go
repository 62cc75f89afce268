package leanjson

import (
	"errors"
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
	for in, want := range map[string]bool{"": true, "capstan-min": true, "a b": true, `a"b`: false, `a\b`: false, "a\tb": false, "é": false, "~": true, "\x7f": false} {
		if got := Plain([]byte(in)); got != want {
			t.Errorf("Plain(%q) = %v, want %v", in, got, want)
		}
	}
}
