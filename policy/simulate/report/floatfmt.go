package report

import (
	"math"
	"strconv"
)

// The timeline writers format two or three floats per row, and
// strconv.AppendFloat was most of the CSV writer's cost (about 45 % of it,
// 50-110 ns a value). The values a timeline holds are mostly of two
// shapes: trace values with a few decimals (what a recorded metric looks
// like), and six-significant-digit forecasts in the everyday range. The
// two appenders below write those shapes with integer arithmetic and hand
// every other value to strconv, so their output is always strconv's, byte
// for byte (FuzzAppendFloat checks it).

// fastDecimals is how many decimals appendShortest's fast path reads: a
// value that is k <= fastDecimals decimals exactly (once rounded to a
// float64) is written without strconv.
const fastDecimals = 8

// fastScale is 10^fastDecimals, exact in a float64.
const fastScale = 1e8

// appendShortest appends strconv.AppendFloat(b, v, 'g', -1, 64): the
// shortest decimal that reads back as v, plain for 1e-4 <= |v| < 1e6 and
// with an exponent outside that range.
//
// Fast path, for 1e-4 <= |v| < 1e6: m = round(|v| × 10^8); when m / 10^8
// reads back as |v| (float64(m) is exact below 2^53 and the division is
// correctly rounded, as ParseFloat of that decimal is), the decimal m / 10^8
// with its trailing zeros dropped is the shortest one. It has at most 14
// significant digits, and any other decimal within v's rounding interval
// (under 2^-52 |v| wide) with no more digits would differ from it by at
// least 10^-14 of its magnitude, which is more than that width. When some
// decimal of at most 8 places reads back as v, m is it (scaled): |v| × 10^8
// is below 10^14, so its one rounding error is under 0.03.
func appendShortest(b []byte, v float64) []byte {
	if out, ok := shortestFast(b, v); ok {
		return out
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// shortestFast is appendShortest's fast path; false when v is not of its
// shapes (b is then unchanged).
func shortestFast(b []byte, v float64) ([]byte, bool) {
	a := math.Abs(v)
	if !(a >= 1e-4 && a < 1e6) {
		if v != 0 {
			return b, false
		}
		if math.Signbit(v) {
			return append(b, "-0"...), true
		}
		return append(b, '0'), true
	}
	// a × 10^8 is below 2^47, where a float64's spacing is at most 2^-5,
	// so adding one half is exact and truncating rounds to nearest (as
	// math.Round, without its bit handling).
	u := uint64(a*fastScale + 0.5)
	if float64(u)/fastScale != a {
		return b, false
	}
	if v < 0 {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, u/fastScale, 10)
	frac := u % fastScale
	if frac == 0 {
		return b, true
	}
	// The eight decimals, two at a time from two independent halves (a
	// digit at a time is a chain of eight dependent divisions), trailing
	// zeros dropped.
	var d [1 + fastDecimals]byte
	d[0] = '.'
	hi, lo := frac/10000, frac%10000
	putPair(d[1:], hi/100)
	putPair(d[3:], hi%100)
	putPair(d[5:], lo/100)
	putPair(d[7:], lo%100)
	end := len(d)
	for d[end-1] == '0' {
		end--
	}
	return append(b, d[:end]...), true
}

// appendG6 appends strconv.AppendFloat(b, v, 'g', 6, 64): v rounded to six
// significant digits, trailing zeros dropped.
//
// Fast path, for 1 <= |v| < 999999.5 (plain notation, and no power of ten
// below 1 to scale by, which a float64 cannot hold exactly): with e the
// exponent of |v|'s leading digit, x = |v| × 10^(5-e) is in [10^5, 10^6)
// with one rounding error of under 10^-10, so unless x's fraction is within
// 10^-6 of one half (then strconv decides the tie) rounding x to an integer
// gives exactly strconv's six digits.
func appendG6(b []byte, v float64) []byte {
	if out, ok := g6Fast(b, v); ok {
		return out
	}
	return strconv.AppendFloat(b, v, 'g', 6, 64)
}

// g6Fast is appendG6's fast path; false when v is not of its shapes (b is
// then unchanged).
func g6Fast(b []byte, v float64) ([]byte, bool) {
	a := math.Abs(v)
	if !(a >= 1 && a < 999999.5) {
		return b, false
	}
	// e is the exponent of a's leading digit; scale is 10^(5-e), exact.
	var e int
	var scale float64
	switch {
	case a < 1e1:
		e, scale = 0, 1e5
	case a < 1e2:
		e, scale = 1, 1e4
	case a < 1e3:
		e, scale = 2, 1e3
	case a < 1e4:
		e, scale = 3, 1e2
	case a < 1e5:
		e, scale = 4, 1e1
	default:
		e, scale = 5, 1
	}
	x := a * scale
	fl := math.Floor(x)
	f := x - fl
	if math.Abs(f-0.5) < 1e-6 {
		return b, false
	}
	r := uint64(fl)
	if f > 0.5 {
		r++
	}
	if r == 1e6 { // rounded up to the next power of ten
		r, e = 1e5, e+1
	}
	if v < 0 {
		b = append(b, '-')
	}
	// r's six digits, the point after the first e+1, trailing zeros of the
	// fraction dropped: three pairs of digits, no AppendUint.
	var d [6]byte
	putPair(d[0:], r/10000)
	putPair(d[2:], r/100%100)
	putPair(d[4:], r%100)
	end := 6
	for end > e+1 && d[end-1] == '0' {
		end--
	}
	b = append(b, d[:e+1]...)
	if end > e+1 {
		b = append(b, '.')
		b = append(b, d[e+1:end]...)
	}
	return b, true
}

// digitPairs holds "00" to "99": putPair writes two digits with one lookup.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// putPair writes n (0 to 99) as two digits into d[0] and d[1].
func putPair(d []byte, n uint64) {
	d[0], d[1] = digitPairs[2*n], digitPairs[2*n+1]
}

// appendSize is strconv.AppendInt(b, int64(n), 10) for a group size or an
// instance count: those below 100, nearly all of a timeline's, come from
// digitPairs without strconv's general conversion (three per row).
func appendSize(b []byte, n int32) []byte {
	switch {
	case n >= 0 && n < 10:
		return append(b, byte('0'+n))
	case n >= 10 && n < 100:
		return append(b, digitPairs[2*n], digitPairs[2*n+1])
	}
	return strconv.AppendInt(b, int64(n), 10)
}
