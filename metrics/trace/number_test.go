package trace

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// checkAgainstStrconv asserts that parseNumber accepts s exactly when it is a
// finite decimal that strconv.ParseFloat reads, and with the same bits.
// Restricting strconv's input to digits, signs, point and exponent letters
// leaves exactly the decimal grammar: no NaN, Inf, hex or underscores.
func checkAgainstStrconv(t *testing.T, s string) {
	t.Helper()
	got, res := parseNumber([]byte(s))
	want, err := strconv.ParseFloat(s, 64)
	decimal := !strings.ContainsFunc(s, func(r rune) bool {
		return !strings.ContainsRune("0123456789+-.eE", r)
	})
	if err != nil || math.IsInf(want, 0) || !decimal {
		if res == numOK {
			t.Fatalf("parseNumber(%q) = %v, want rejection (strconv: %v, %v)", s, got, want, err)
		}
		return
	}
	if res != numOK {
		t.Fatalf("parseNumber(%q) rejected (%d), strconv gives %v", s, res, want)
	}
	if math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("parseNumber(%q) = %v (%#x), strconv = %v (%#x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
	}
}

func TestParseNumberTable(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		res  numResult
	}{
		{"0", 0, numOK},
		{"1", 1, numOK},
		{"-1", -1, numOK},
		{"+1", 1, numOK},
		{"94.0", 94, numOK},
		{"39.722330", 39.72233, numOK},
		{"12.129000000000001", 12.129000000000001, numOK},
		{".5", 0.5, numOK},
		{"5.", 5, numOK},
		{"1e3", 1000, numOK},
		{"1E3", 1000, numOK},
		{"1.5e-3", 0.0015, numOK},
		{"1.e2", 100, numOK},
		{"-2.5E+2", -250, numOK},
		{"0.000001", 1e-6, numOK},
		{"00012", 12, numOK},
		{"123456789012345678901234567890", 1.2345678901234568e29, numOK},
		{"1e-400", 0, numOK}, // underflows to zero like strconv; still finite
		{"1.7976931348623157e308", math.MaxFloat64, numOK},
		{"1e400", 0, numOverflow},
		{"-1e400", 0, numOverflow},
		{"1.8e308", 0, numOverflow},
		{"NaN", 0, numSyntax},
		{"nan", 0, numSyntax},
		{"Inf", 0, numSyntax},
		{"+Inf", 0, numSyntax},
		{"-inf", 0, numSyntax},
		{"infinity", 0, numSyntax},
		{"0x1p3", 0, numSyntax},
		{"1_000", 0, numSyntax},
		{"abc", 0, numSyntax},
		{"", 0, numSyntax},
		{".", 0, numSyntax},
		{"-", 0, numSyntax},
		{"+", 0, numSyntax},
		{"e5", 0, numSyntax},
		{".e5", 0, numSyntax},
		{"1e", 0, numSyntax},
		{"1e+", 0, numSyntax},
		{"1e-", 0, numSyntax},
		{"--1", 0, numSyntax},
		{"+-1", 0, numSyntax},
		{"1.2.3", 0, numSyntax},
		{"1,5", 0, numSyntax},
		{"1 ", 0, numSyntax}, // cells are trimmed before this point
		{"1e5.5", 0, numSyntax},
		{"12%", 0, numSyntax},
	}
	for _, tt := range tests {
		got, res := parseNumber([]byte(tt.in))
		if res != tt.res || (res == numOK && got != tt.want) {
			t.Errorf("parseNumber(%q) = %v, %d; want %v, %d", tt.in, got, res, tt.want, tt.res)
		}
		checkAgainstStrconv(t, tt.in)
	}
	if got, _ := parseNumber([]byte("-0")); !math.Signbit(got) {
		t.Errorf("parseNumber(-0) lost the sign")
	}
	if got, _ := parseNumber([]byte("-0.0e5")); !math.Signbit(got) {
		t.Errorf("parseNumber(-0.0e5) lost the sign")
	}
}

// TestParseNumberExhaustiveSmall covers every decimal with up to five digits
// and every position of the decimal point, the bulk of real trace values.
func TestParseNumberExhaustiveSmall(t *testing.T) {
	var buf []byte
	for m := 0; m < 100000; m++ {
		digits := strconv.Itoa(m)
		for point := 0; point <= len(digits); point++ {
			buf = append(buf[:0], digits[:point]...)
			buf = append(buf, '.')
			buf = append(buf, digits[point:]...)
			checkAgainstStrconv(t, string(buf))
		}
		checkAgainstStrconv(t, "0.0"+digits)
	}
}

// randomDecimal produces decimals across the shapes the fast path and the
// fallback split on: up to 25 significant digits, leading and trailing
// zeros, optional point, sign and exponent (including large ones).
func randomDecimal(r *rand.Rand) string {
	var b strings.Builder
	switch r.IntN(4) {
	case 0:
		b.WriteByte('-')
	case 1:
		if r.IntN(4) == 0 {
			b.WriteByte('+')
		}
	}
	for range r.IntN(3) {
		b.WriteByte('0')
	}
	nd := 1 + r.IntN(25)
	point := -1
	if r.IntN(4) != 0 {
		point = r.IntN(nd + 1)
	}
	for i := 0; i < nd; i++ {
		if i == point {
			b.WriteByte('.')
		}
		if r.IntN(6) == 0 {
			b.WriteByte('0')
		} else {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
	}
	if point == nd {
		b.WriteByte('.')
	}
	if r.IntN(3) == 0 {
		b.WriteByte("eE"[r.IntN(2)])
		switch r.IntN(3) {
		case 0:
			b.WriteByte('-')
		case 1:
			b.WriteByte('+')
		}
		var e int
		if r.IntN(5) == 0 {
			e = r.IntN(400)
		} else {
			e = r.IntN(30)
		}
		b.WriteString(strconv.Itoa(e))
	}
	return b.String()
}

func TestParseNumberRandomMatchesStrconv(t *testing.T) {
	// 200,000 cases reach every block of the parser that 1,500,000 did
	// (go test -coverprofile, block by block), in an eighth of the time
	// (10 s under -race before); FuzzParseNumber (make fuzz) searches
	// further.
	n := 200_000
	if testing.Short() {
		n = 50_000
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		checkAgainstStrconv(t, randomDecimal(r))
	}
	// Values formatted the way exporters write them: shortest round-trip
	// and fixed precision, over the whole float64 range.
	for range n / 4 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		checkAgainstStrconv(t, strconv.FormatFloat(f, 'g', -1, 64))
		checkAgainstStrconv(t, strconv.FormatFloat(r.NormFloat64()*1000, 'f', r.IntN(12), 64))
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "1.5", "-0", "1e10", "NaN", "12.129000000000001", ".5", "1e-400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgainstStrconv(t, s)
	})
}
