package trace

import (
	"math"
	"strconv"
)

// pow10 holds the powers of ten that float64 represents exactly. A decimal
// whose digits fit in 53 bits, scaled by one of these, is a single correctly
// rounded IEEE operation (Clinger's fast path), which is why the fast path
// below gives bit-for-bit the same result as strconv.ParseFloat.
var pow10 = [...]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
}

// numResult classifies the outcome of parseNumber without allocating; the
// caller turns a failure into a ParseError only when it has to report it.
type numResult uint8

const (
	numOK       numResult = iota
	numSyntax             // not a decimal number (includes NaN, Inf, hex)
	numOverflow           // a decimal, but beyond the float64 range
)

// parseNumber parses a trimmed, non-empty decimal float:
//
//	[+-] digits [. digits] [(e|E) [+-] digits]   (at least one mantissa digit)
//
// The grammar is checked here rather than left to strconv because strconv
// also accepts "NaN", "Inf", hex floats and underscores, none of which is a
// sample value. Simple decimals (the overwhelming majority in traces) are
// converted without strconv; the rest go to strconv.ParseFloat, so every
// accepted input yields exactly strconv's float64.
func parseNumber(s []byte) (float64, numResult) {
	f, n, r := scanNumber(s)
	if n == 0 || (r == numOK && n != len(s)) {
		return 0, numSyntax
	}
	return f, r
}

// scanNumber parses the longest prefix of s that the number grammar can
// continue, and returns how many bytes it used. It lets the row fast path
// parse a cell in place and then simply check that a separator follows,
// instead of first splitting the line into cells. With n == 0 the cell is
// empty (numOK, value 0: the caller decides what empty means).
func scanNumber(s []byte) (f float64, n int, res numResult) {
	i := 0
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i++
	}
	var mant uint64
	nd := 0 // significant digits accumulated in mant
	dp := 0 // power of ten to apply to mant, from digits after the point
	trunc := false
	sawDigit := false
	sawDot := false
	for ; i < len(s); i++ {
		c := s[i]
		if d := c - '0'; d < 10 {
			sawDigit = true
			if nd == 0 && d == 0 {
				// Leading zeros carry no significance; after the point they
				// still shift the scale.
				if sawDot {
					dp--
				}
				continue
			}
			if nd < 19 {
				mant = mant*10 + uint64(d)
				nd++
				if sawDot {
					dp--
				}
			} else {
				// More digits than uint64 holds: only strconv can round
				// this correctly, but keep validating the syntax first.
				trunc = true
			}
			continue
		}
		if c == '.' && !sawDot {
			sawDot = true
			continue
		}
		break
	}
	if !sawDigit {
		if i == 0 {
			return 0, 0, numOK
		}
		return 0, i, numSyntax
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start := i
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			if exp < 100000 { // saturate: the value is 0 or overflow long before this
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if i == start {
			return 0, i, numSyntax
		}
		if eneg {
			exp = -exp
		}
	}
	if !trunc && mant < 1<<53 {
		e := dp + exp
		f = float64(mant)
		switch {
		case mant == 0:
			// Zero stays zero whatever the exponent; keep the sign like strconv.
		case e == 0:
		case e > 0 && e <= 22:
			f *= pow10[e]
		case e < 0 && e >= -22:
			f /= pow10[-e]
		default:
			f, res = parseNumberSlow(s[:i])
			return f, i, res
		}
		if neg {
			f = -f
		}
		return f, i, numOK
	}
	f, res = parseNumberSlow(s[:i])
	return f, i, res
}

// parseNumberSlow hands a syntactically valid decimal to strconv, which rounds
// long mantissas and extreme exponents correctly. Only overflow can fail here:
// values must be finite, so ±Inf is rejected rather than stored.
func parseNumberSlow(s []byte) (float64, numResult) {
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, numOverflow
	}
	return f, numOK
}
