// Package leanjson reads single JSON values from a go-faster/jx decoder
// exactly as encoding/json reads them, or refuses them. The cloud drivers
// decode their list pages with jx, reading only the fields they use
// (cloud/azure, cloud/gcp), and hand a page to the SDK's decoder whenever
// a value they read is anything but the plain form the provider sends:
// these functions answer ErrNotLean for those. The API's push decoder and
// encoder (api/push_fast.go) use Plain for the same judgement on names.
//
// It sits under internal/ rather than cloud/ because both the API and the
// cloud drivers use it, and api must not import the cloud tree.
package leanjson

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/go-faster/jx"
)

// ErrNotLean says that a value is not in the plain form these functions
// read; the caller hands the whole document to a full decoder.
var ErrNotLean = errors.New("not a plain JSON value")

// String reads a JSON string as encoding/json would: the bytes between
// the quotes when they need no decoding (Plain), encoding/json itself on
// the few that do (escapes, non-ASCII). Anything but a string, and a
// string that does not decode to valid UTF-8 (encoding/json writes U+FFFD
// for an invalid byte or escape where other decoders refuse it), is
// ErrNotLean.
func String(d *jx.Decoder) (string, error) {
	if d.Next() != jx.String {
		return "", ErrNotLean
	}
	raw, err := d.Raw()
	if err != nil || len(raw) < 2 {
		return "", ErrNotLean
	}
	if in := raw[1 : len(raw)-1]; Plain(in) {
		return string(in), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || !utf8.ValidString(s) || containsRuneError(s) {
		return "", ErrNotLean
	}
	return s, nil
}

// Int reads a plain JSON integer, -?(0|[1-9][0-9]*), that fits in bits
// bits: what encoding/json reads into an intN as strconv.ParseInt does.
// A fraction, an exponent, a quoted number, anything else and a value out
// of range are ErrNotLean.
func Int(d *jx.Decoder, bits int) (int64, error) {
	if d.Next() != jx.Number {
		return 0, ErrNotLean
	}
	raw, err := d.Raw()
	if err != nil || !plainInt(raw) {
		return 0, ErrNotLean
	}
	n, err := strconv.ParseInt(string(raw), 10, bits)
	if err != nil {
		return 0, ErrNotLean
	}
	return n, nil
}

// Plain reports whether s is printable ASCII without '"' or '\\': its
// JSON string literal is s between quotes, and every decoder reads it
// alike. It takes a string or bytes (jx.Raw too) so that a decoder can
// check raw input and an encoder a Go string, both without a copy.
func Plain[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// plainInt reports whether n is -?(0|[1-9][0-9]*).
func plainInt(n []byte) bool {
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	if len(n) == 0 || (n[0] == '0' && len(n) > 1) {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// containsRuneError reports whether s holds U+FFFD.
func containsRuneError(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError {
			return true
		}
	}
	return false
}
