package report

import (
	"math"
	"strconv"
	"testing"
)

// floatCases are values on both sides of every edge of the appenders' fast
// paths: the range bounds, rounding up to the next power of ten, halves,
// decimals just past what the fast path reads, negative zero and the
// non-finite values.
var floatCases = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, 1.5, 2.5, 707.015, 707.01, 706, 53.646874999999994, 55.104375000000005,
	0.1, 0.2, 0.3, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 100, 1e5, 99999.95, 99999.94, 99999.96, 999999, 999999.4,
	999999.49, 999999.5, 999999.51, 1e6, 1e6 - 1e-9, 1e6 + 1, 1234567, 1e-4, 1.0000000000000002e-4, 9.999999999999999e-5,
	1e-5, 0.00012345678, 0.000123456789, 12345.678901234, 123456.12345678, 123456.123456789, 999999.99999999,
	0.99999995, 0.999999949999, 9.9999995, 1.0000005, 1.00000049999, 3.14159265358979, 2.718281828459045,
	1e21, 1e22, 1e-300, 5e-324, math.MaxFloat64, -math.MaxFloat64, -707.015, -0.00012, -999999.4,
	math.Inf(1), math.Inf(-1), math.NaN(), 4503599627370496.5, 4503599627370497, 9007199254740993,
	12.345, 1.005, 1.015, 1.025, 2.675, 0.125, 0.375, 10.000005, 10.0000051, 123.4565, 123.4575,
}

func TestAppendShortestMatchesStrconv(t *testing.T) {
	for _, v := range floatCases {
		for _, x := range []float64{v, -v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))} {
			got := string(appendShortest([]byte("x,"), x))
			want := "x," + strconv.FormatFloat(x, 'g', -1, 64)
			if got != want {
				t.Errorf("appendShortest(%v) = %q, want %q", x, got, want)
			}
		}
	}
}

// TestAppendSizeMatchesStrconv: appendSize writes what strconv.AppendInt
// does, on both sides of its fast paths and at the int32 extremes.
func TestAppendSizeMatchesStrconv(t *testing.T) {
	for n := int32(-1000); n <= 100_000; n++ {
		if got, want := string(appendSize([]byte("x,"), n)), "x,"+strconv.Itoa(int(n)); got != want {
			t.Fatalf("appendSize(%d) = %q, want %q", n, got, want)
		}
	}
	for _, n := range []int32{math.MaxInt32, math.MinInt32, math.MaxInt32 - 1, math.MinInt32 + 1} {
		if got, want := string(appendSize(nil, n)), strconv.Itoa(int(n)); got != want {
			t.Errorf("appendSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAppendG6MatchesStrconv(t *testing.T) {
	for _, v := range floatCases {
		for _, x := range []float64{v, -v, math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))} {
			got := string(appendG6([]byte("x,"), x))
			want := "x," + strconv.FormatFloat(x, 'g', 6, 64)
			if got != want {
				t.Errorf("appendG6(%v) = %q, want %q", x, got, want)
			}
		}
	}
}

// TestAppendFastPaths shows which shapes skip strconv, so a change that
// quietly sends everything back to it (still correct, but slow again) fails
// here rather than only in a benchmark.
func TestAppendFastPaths(t *testing.T) {
	tests := []struct {
		name string
		fast func([]byte, float64) ([]byte, bool)
		v    float64
		want bool
	}{
		{"shortest: trace value with 3 decimals", shortestFast, 707.015, true},
		{"shortest: integer", shortestFast, 10844, true},
		{"shortest: zero", shortestFast, 0, true},
		{"shortest: 8 decimals", shortestFast, 0.12345678, true},
		{"shortest: 9 decimals", shortestFast, 0.123456789, false},
		{"shortest: a ratio", shortestFast, 53.646874999999994, false},
		{"shortest: below 1e-4", shortestFast, 5e-5, false},
		{"shortest: 1e6 and up", shortestFast, 1234567, false},
		{"g6: forecast", g6Fast, 698.8214532, true},
		{"g6: negative", g6Fast, -42.123456, true},
		{"g6: below 1", g6Fast, 0.5, false},
		{"g6: rounds up to 1e6", g6Fast, 999999.6, false},
		{"g6: exact half, not a tie after scaling", g6Fast, 1.5, true},
		{"g6: a tie", g6Fast, 100000.5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := tc.fast([]byte("x"), tc.v)
			if ok != tc.want {
				t.Fatalf("fast path for %v: %v, want %v", tc.v, ok, tc.want)
			}
			if !ok && string(out) != "x" {
				t.Fatalf("declined fast path changed the buffer: %q", out)
			}
		})
	}
}

// FuzzAppendFloat holds the appenders to strconv's output on any float64,
// and on values of the shapes their fast paths read (decimals with a few
// places, derived from the same input).
func FuzzAppendFloat(f *testing.F) {
	for _, v := range floatCases {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		for _, v := range []float64{math.Float64frombits(bits), float64(int64(bits)%1e12) / 1e4, float64(bits%1e9) / 1e3} {
			if got, want := string(appendShortest(nil, v)), strconv.FormatFloat(v, 'g', -1, 64); got != want {
				t.Errorf("appendShortest(%v) = %q, want %q", v, got, want)
			}
			if out, ok := shortestFast(nil, v); ok { // appendJSONFloat relies on this
				if got, want := string(out), strconv.FormatFloat(v, 'f', -1, 64); got != want {
					t.Errorf("shortestFast(%v) = %q, want 'f' form %q", v, got, want)
				}
			}
			if got, want := string(appendG6(nil, v)), strconv.FormatFloat(v, 'g', 6, 64); got != want {
				t.Errorf("appendG6(%v) = %q, want %q", v, got, want)
			}
		}
	})
}
