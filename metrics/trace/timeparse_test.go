package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the host's zoneinfo
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// testZones mixes a plain UTC, a fixed offset, common DST zones and Lord Howe,
// whose 30-minute DST shift catches code that assumes whole hours.
func testZones(t testing.TB) []*time.Location {
	return []*time.Location{
		time.UTC,
		time.FixedZone("X", -(3*3600 + 30*60)),
		mustLoad(t, "America/New_York"),
		mustLoad(t, "Europe/London"),
		mustLoad(t, "Australia/Lord_Howe"),
		mustLoad(t, "Asia/Kolkata"),
		mustLoad(t, "America/Sao_Paulo"),
	}
}

func TestDaysFromCivil(t *testing.T) {
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2500; d = d.AddDate(0, 0, 1) {
		got := daysFromCivil(int64(d.Year()), int64(d.Month()), int64(d.Day()))
		if want := d.Unix() / 86400; got != want { // exact: d is a midnight
			t.Fatalf("daysFromCivil(%s) = %d, want %d", d.Format(time.DateOnly), got, want)
		}
	}
	for _, y := range []int64{0, 1, 4, 100, 400, 9999} {
		want := time.Date(int(y), 3, 1, 0, 0, 0, 0, time.UTC).Unix()
		if got := daysFromCivil(y, 3, 1) * 86400; got != want {
			t.Errorf("daysFromCivil(%d-03-01) = %d s, want %d", y, got, want)
		}
	}
}

// slowParse is the time.Parse reference for a date cell.
func slowParse(s string, loc *time.Location) (int64, bool) {
	p := parser{zones: newZoneResolver(loc)}
	return p.parseDateSlow([]byte(s))
}

// checkDate asserts that the fast path, when it accepts s, agrees with
// time.Parse, and that the complete parseTime agrees with time.Parse always.
func checkDate(t *testing.T, p *parser, s string, mustBeFast bool) {
	t.Helper()
	want, wantOK := slowParse(s, p.zones.loc)
	fast, fastOK := p.parseDateFast([]byte(s))
	if fastOK && (!wantOK || fast != want) {
		t.Fatalf("%q in %v: fast path = %d, time.Parse = %d (ok=%v)", s, p.zones.loc, fast, want, wantOK)
	}
	if mustBeFast && !fastOK && wantOK {
		t.Fatalf("%q in %v: fast path declined a common form", s, p.zones.loc)
	}
	got, ok := p.parseTime([]byte(s))
	if ok != wantOK || got != want {
		t.Fatalf("parseTime(%q) in %v = %d, %v; time.Parse = %d, %v", s, p.zones.loc, got, ok, want, wantOK)
	}
}

func randomDateCell(r *rand.Rand) (string, bool) {
	// Mostly valid fields, sometimes out of range, to cover rejection too.
	y := 1600 + r.IntN(800)
	if r.IntN(50) == 0 {
		y = r.IntN(10000)
	}
	mo, d := 1+r.IntN(12), 1+r.IntN(31)
	h, mi, se := r.IntN(24), r.IntN(60), r.IntN(60)
	common := true
	if r.IntN(20) == 0 {
		mo, h, mi, se = r.IntN(14), r.IntN(26), r.IntN(62), r.IntN(62)
	}
	sep := " "
	if r.IntN(2) == 0 {
		sep = "T"
	}
	s := fmt.Sprintf("%04d-%02d-%02d%s%02d:%02d:%02d", y, mo, d, sep, h, mi, se)
	if r.IntN(3) == 0 {
		s += "." + strings.Repeat("0123456789", 2)[:1+r.IntN(12)]
	}
	switch r.IntN(4) {
	case 0:
		if r.IntN(4) == 0 && len(s) == 19 {
			s = s[:16] // to the minute
		}
	case 1:
		s += "Z"
	case 2:
		oh, om := r.IntN(15), 15*r.IntN(4)
		if r.IntN(30) == 0 {
			oh, om = r.IntN(30), r.IntN(70)
			common = false
		}
		s += fmt.Sprintf("%c%02d:%02d", "+-"[r.IntN(2)], oh, om)
	case 3:
		// Unusual shapes that only the fallback may accept.
		switch r.IntN(3) {
		case 0:
			s = strings.Replace(s, ":", "", 1)
		case 1:
			s += "+0530"
		case 2:
			s = strings.Replace(s, ".", ",", 1) + "Z"
		}
		common = false
	}
	return s, common
}

func TestParseDateMatchesTimeParse(t *testing.T) {
	// 10,000 cells a zone reach every block of the date parsers that
	// 100,000 did (go test -coverprofile, block by block), in a tenth of
	// the time (9.8 s under -race before); FuzzParseDate (make fuzz)
	// searches further.
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, loc := range testZones(t) {
		p := &parser{zones: newZoneResolver(loc)}
		for range n {
			s, common := randomDateCell(r)
			checkDate(t, p, s, common)
		}
	}
}

// TestParseNaiveAcrossDST walks every 15 minutes of wall-clock time around
// each zone transition (skipped and repeated hours) in order, as a trace
// would, and checks the cached resolver against time.ParseInLocation.
func TestParseNaiveAcrossDST(t *testing.T) {
	for _, loc := range testZones(t) {
		p := &parser{zones: newZoneResolver(loc)}
		fresh := func(s string) (int64, bool) {
			q := parser{zones: newZoneResolver(loc)}
			return q.parseDateFast([]byte(s))
		}
		transitions := 0
		at := time.Date(1960, 1, 1, 0, 0, 0, 0, loc)
		for at.Year() < 2040 && transitions < 200 {
			_, end := at.ZoneBounds()
			if end.IsZero() {
				break
			}
			transitions++
			wall := end.In(time.UTC).Add(-4 * time.Hour)
			for range 8 * 4 * 2 {
				s := wall.Format(layoutNaive)
				checkDate(t, p, s, true)
				if got, _ := fresh(s); got != func() int64 { v, _ := slowParse(s, loc); return v }() {
					t.Fatalf("%q in %v: uncached fast path disagrees", s, loc)
				}
				wall = wall.Add(15 * time.Minute)
			}
			at = end
		}
		t.Logf("%v: %d transitions checked", loc, transitions)
	}
}

func TestNaiveLocationShift(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	p := &parser{zones: newZoneResolver(ny)}
	got, ok := p.parseTime([]byte("2014-07-01 00:00:00"))
	want := time.Date(2014, 7, 1, 4, 0, 0, 0, time.UTC).UnixNano() // EDT is UTC-4
	if !ok || got != want {
		t.Fatalf("naive time in New York = %d, %v; want %d", got, ok, want)
	}
	got, ok = p.parseTime([]byte("2014-12-01 00:00:00"))
	want = time.Date(2014, 12, 1, 5, 0, 0, 0, time.UTC).UnixNano() // EST is UTC-5
	if !ok || got != want {
		t.Fatalf("naive winter time in New York = %d, %v; want %d", got, ok, want)
	}
	// Zoned forms ignore the Location.
	got, _ = p.parseTime([]byte("2014-07-01T00:00:00Z"))
	if want := time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC).UnixNano(); got != want {
		t.Fatalf("RFC 3339 Z shifted by Location: %d, want %d", got, want)
	}
}

func TestParseEpoch(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1628640000", 1628640000e9, true},
		{"1628640000.5", 1628640000500000000, true},
		{"1628640000.123456789", 1628640000123456789, true},
		{"1628640000.1234567891", 1628640000123456789, true}, // beyond ns: truncated
		{"1628640000.000000001", 1628640000000000001, true},
		{"-1", -1e9, true},
		{"-1.5", -1500000000, true},
		{"-0.25", -250000000, true},
		{"9223372036", 9223372036e9, true},
		{"9223372036.854775807", math.MaxInt64, true},
		{"9223372036.854775808", 0, false},
		{"9223372037", 0, false},
		{"-9223372036.854775808", math.MinInt64, true},
		{"-9223372036.854775809", 0, false},
		{"99999999999", 0, false},             // seconds: year 5138, beyond int64 ns
		{"100000000000", 100000000e9, true},   // from 1e11 on milliseconds: 1973-03-03
		{"1628640000000", 1628640000e9, true}, // milliseconds
		{"1628640000123", 1628640000123e6, true},
		{"1628640000123.5", 1628640000123500000, true},
		{"1628640000123.4567891", 1628640000123456789, true}, // beyond ns: truncated
		{"-1628640000123", -1628640000123e6, true},
		{"-1628640000123.5", -1628640000123500000, true},
		{"9223372036854", 9223372036854e6, true}, // milliseconds up to 2262
		{"9223372036855", 0, false},
		{"100000000000000", 100000000e9, true}, // microseconds from 1e14 on
		{"1628640000123456", 1628640000123456e3, true},
		{"1628640000123456.7", 1628640000123456700, true},
		{"100000000000000000", 100000000e9, true}, // nanoseconds from 1e17 on
		{"1628640000123456789", 1628640000123456789, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false}, // not an int64
		{"-9223372036854775807", -math.MaxInt64, true},
		{"99999999999999999999999", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"1.", 0, false},
		{".5", 0, false},
		{"1e9", 0, false},
		{"+1", 0, false},
		{"1 2", 0, false},
		{"0x10", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseEpoch([]byte(tt.in))
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseEpoch(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseDateTable(t *testing.T) {
	p := &parser{zones: newZoneResolver(nil)}
	ist := time.FixedZone("", 5*3600+30*60)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2014-05-14 01:14:00", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true},
		{"2014-05-14 01:14:00.25", time.Date(2014, 5, 14, 1, 14, 0, 25e7, time.UTC), true},
		{"2014-05-14T01:14:00Z", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true},
		{"2014-05-14T01:14:00.123456789Z", time.Date(2014, 5, 14, 1, 14, 0, 123456789, time.UTC), true},
		{"2014-05-14T01:14:00+05:30", time.Date(2014, 5, 14, 1, 14, 0, 0, ist), true},
		{"2014-05-14T01:14:00-07:00", time.Date(2014, 5, 14, 8, 14, 0, 0, time.UTC), true},
		{"2014-05-14 01:14:00+05:30", time.Date(2014, 5, 14, 1, 14, 0, 0, ist), true},
		{"2016-02-29 00:00:00", time.Date(2016, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"2014-05-14T1:14:00Z", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true}, // time.Parse's leniency, via the fallback
		{"2015-02-29 00:00:00", time.Time{}, false},
		{"2014-13-01 00:00:00", time.Time{}, false},
		{"2014-05-14 24:00:00", time.Time{}, false},
		{"2014-05-14 23:60:00", time.Time{}, false},
		{"2014-05-14 23:59:60", time.Time{}, false},
		{"2014-05-14T01:14:00", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true}, // ISO 8601 local time
		{"2014-05-14T01:14:00.5", time.Date(2014, 5, 14, 1, 14, 0, 5e8, time.UTC), true},
		{"2014-05-14 01:14", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true}, // to the minute
		{"2014-05-14T01:14", time.Date(2014, 5, 14, 1, 14, 0, 0, time.UTC), true},
		{"2014-05-14 01:14Z", time.Time{}, false},
		{"2014-05-14 01:14.5", time.Time{}, false},
		{"2014-05-14 01:14:", time.Time{}, false},
		{"2014-05-14 01:60", time.Time{}, false},
		{"2014-05-14", time.Time{}, false},
		{"2014/05/14 01:14:00", time.Time{}, false},
		{"14-05-2014 01:14:00", time.Time{}, false},
		{"2014-05-14 01:14:00 UTC", time.Time{}, false},
		{"1500-01-01 00:00:00", time.Time{}, false}, // before int64 nanoseconds
		{"2300-01-01T00:00:00Z", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := p.parseTime([]byte(tt.in))
		if ok != tt.ok || (ok && got != tt.want.UnixNano()) {
			t.Errorf("parseTime(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want.UnixNano(), tt.ok)
		}
	}
}

// FuzzParseDate: on a date-shaped cell (what parseTime reads as a date;
// others are epoch numbers, FuzzParse's), the fast date path never
// disagrees with time.Parse when it answers, and parseTime always agrees
// with it, in every test zone.
func FuzzParseDate(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 64 {
		s, _ := randomDateCell(r)
		f.Add(s)
	}
	zones := testZones(f)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) < 10 || s[4] != '-' {
			return
		}
		for _, loc := range zones {
			checkDate(t, &parser{zones: newZoneResolver(loc)}, s, false)
		}
	})
}

// TestEightDigits: eightDigits accepts exactly the eight-byte strings of
// ASCII digits and reads them as the loop it replaces does: every byte
// value in every position around a run of digits, and random strings of
// digits and their neighbours ('/' and ':', 0x30-0x3F, bytes that carry).
func TestEightDigits(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		var want uint64
		digits := true
		for _, c := range b[:8] {
			if c-'0' >= 10 {
				digits = false
				break
			}
			want = want*10 + uint64(c-'0')
		}
		got, ok := eightDigits(b)
		if ok != digits || (ok && got != want) {
			t.Fatalf("eightDigits(%q) = %d, %v; want %d, %v", b, got, ok, want, digits)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			b := []byte("12345678")
			b[pos] = byte(c)
			check(b)
			b = []byte("99999999")
			b[pos] = byte(c)
			check(b)
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	alphabet := []byte("0123456789/:;?@\x00\xff\xfa\xc6\x29\x2f\x3a\x3f")
	for range 200000 {
		b := make([]byte, 8)
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte('0' + rng.IntN(10))
			}
		}
		check(b)
	}
	check([]byte("00000000"))
	check([]byte("16287000"))
}
