package trace

import (
	"encoding/binary"
	"math"
	"time"
)

// Layouts used by the time.Parse fallback. The fast path below implements the
// common shapes of these same layouts; the fallback keeps time.Parse as the
// reference for anything the fast path declines (single-digit hours, a comma
// before the fraction, out-of-range zone offsets), so both paths always agree.
// The naive layouts (no zone: read in the configured Location) include ISO
// 8601's "T" separator and times to the minute, as spreadsheets and
// dashboards export them.
const (
	layoutNaive     = "2006-01-02 15:04:05"
	layoutSpaceZone = "2006-01-02 15:04:05Z07:00"
)

// zoneResolver turns a wall-clock time in a Location into Unix seconds with the
// same result as time.Date, but caches the zone period it last looked up.
// Calling time.Date per row would cost a Location lookup each time; trace rows
// are sorted, so nearly every row falls in the cached period.
type zoneResolver struct {
	loc        *time.Location
	utc        bool  // loc has no offsets at all, skip everything
	valid      bool  // start, end and offset describe a looked-up period
	start, end int64 // the cached zone period [start, end) in Unix seconds
	offset     int64 // seconds east of UTC during that period
}

func newZoneResolver(loc *time.Location) zoneResolver {
	if loc == nil {
		loc = time.UTC
	}
	return zoneResolver{loc: loc, utc: loc == time.UTC}
}

// lookup returns the offset in effect at Unix second sec and its period,
// the same triple as the runtime's internal Location.lookup.
func (z *zoneResolver) lookup(sec int64) (offset, start, end int64) {
	if z.valid && z.start <= sec && sec < z.end {
		return z.offset, z.start, z.end
	}
	t := time.Unix(sec, 0).In(z.loc)
	_, off := t.Zone()
	s, e := t.ZoneBounds()
	start, end = math.MinInt64, math.MaxInt64
	if !s.IsZero() {
		start = s.Unix()
	}
	if !e.IsZero() {
		end = e.Unix()
	}
	z.valid, z.offset, z.start, z.end = true, int64(off), start, end
	return z.offset, start, end
}

// toUTC converts wall-clock seconds (civil time computed as if it were UTC)
// to real Unix seconds. It mirrors time.Date step for step, including its
// choice in the repeated hour at the end of daylight saving time and its
// handling of the skipped hour at the start, so that the fast path and the
// time.ParseInLocation fallback never disagree.
func (z *zoneResolver) toUTC(wall int64) int64 {
	if z.utc {
		return wall
	}
	offset, start, end := z.lookup(wall)
	if offset != 0 {
		utc := wall - offset
		if utc < start || utc >= end {
			offset, _, _ = z.lookup(utc)
		}
		wall -= offset
	}
	return wall
}

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's algorithm). It replaces
// time.Date on the hot path; the date is validated by the caller.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400 // [0, 399]
	mp := m + 9        // March-based month: Mar=0 ... Feb=11
	if m > 2 {
		mp = m - 3
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// daysIn is the number of days in month m of year y.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// unixNano combines Unix seconds and a nanosecond fraction in [0, 1e9),
// refusing instants that int64 nanoseconds cannot hold (before 1677 or after
// 2262) instead of silently wrapping around.
func unixNano(sec int64, nsec int64) (int64, bool) {
	const (
		maxSec = math.MaxInt64 / 1_000_000_000               // 9223372036 (.854775807)
		minSec = math.MinInt64/1_000_000_000 - 1             // -9223372037 (+.145224192)
		maxNs  = math.MaxInt64 % 1_000_000_000               // 854775807
		minNs  = 1_000_000_000 + math.MinInt64%1_000_000_000 // 145224192
	)
	switch {
	case sec > maxSec || sec < minSec:
		return 0, false
	case sec == maxSec && nsec > maxNs:
		return 0, false
	case sec == minSec:
		if nsec < minNs {
			return 0, false
		}
		// sec*1e9 alone would overflow; borrow a second from nsec.
		return (sec+1)*1e9 + (nsec - 1e9), true
	}
	return sec*1e9 + nsec, true
}

// num2 parses exactly two ASCII digits at s[i:i+2].
func num2(s []byte, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	return int(a)*10 + int(b), a < 10 && b < 10
}

// parseTime parses a trimmed time cell into Unix nanoseconds. The form is
// detected per cell: a '-' after four digits means a calendar date, anything
// else is read as epoch seconds.
func (p *parser) parseTime(s []byte) (int64, bool) {
	if len(s) >= 10 && s[4] == '-' {
		if ns, ok := p.parseDateFast(s); ok {
			return ns, true
		}
		return p.parseDateSlow(s)
	}
	return parseEpoch(s)
}

// parseDateFast handles "YYYY-MM-DD HH:MM:SS" and "YYYY-MM-DDTHH:MM:SS"
// with no zone (naive, in the configured Location) or followed by "Z" or
// "±HH:MM" (RFC 3339), each with an optional fraction of a second (digits
// past nanoseconds are truncated, as time.Parse does), and the naive
// "YYYY-MM-DD HH:MM" and "YYYY-MM-DDTHH:MM". A space separator with a zone
// suffix is also RFC 3339 (its section 5.6 allows the space). Anything else
// returns false and goes to the time.Parse fallback, which has the final say.
func (p *parser) parseDateFast(s []byte) (int64, bool) {
	if len(s) < 16 || s[7] != '-' || s[13] != ':' {
		return 0, false
	}
	sep := s[10]
	if sep != ' ' && sep != 'T' {
		return 0, false
	}
	y1, ok1 := num2(s, 0)
	y2, ok2 := num2(s, 2)
	mo, ok3 := num2(s, 5)
	d, ok4 := num2(s, 8)
	h, ok5 := num2(s, 11)
	mi, ok6 := num2(s, 14)
	se, ok7 := 0, true // "HH:MM" alone: the minute's first second
	if len(s) > 16 {
		if len(s) < 19 || s[16] != ':' {
			return 0, false
		}
		se, ok7 = num2(s, 17)
	}
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	y := y1*100 + y2
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || se > 59 {
		return 0, false
	}
	if len(s) == 16 {
		return unixNano(p.zones.toUTC(daysFromCivil(int64(y), int64(mo), int64(d))*86400+int64(h*3600+mi*60)), 0)
	}
	rest := s[19:]
	var nsec int64
	if len(rest) >= 2 && rest[0] == '.' && rest[1]-'0' < 10 {
		n := 1
		scale := int64(1e8)
		for ; n < len(rest) && rest[n]-'0' < 10; n++ {
			nsec += int64(rest[n]-'0') * scale
			scale /= 10 // reaches 0 after nine digits: later digits are truncated
		}
		rest = rest[n:]
	}
	wall := daysFromCivil(int64(y), int64(mo), int64(d))*86400 + int64(h*3600+mi*60+se)
	var sec int64
	switch {
	case len(rest) == 0:
		sec = p.zones.toUTC(wall)
	case len(rest) == 1 && rest[0] == 'Z':
		sec = wall
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := num2(rest, 1)
		om, okm := num2(rest, 4)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		off := int64(oh*3600 + om*60)
		if rest[0] == '-' {
			off = -off
		}
		sec = wall - off
	default:
		return 0, false
	}
	return unixNano(sec, nsec)
}

// parseDateSlow is the authoritative parser for date-like cells the fast path
// declined. It allocates, but only runs for unusual or invalid cells.
func (p *parser) parseDateSlow(s []byte) (int64, bool) {
	str := string(s)
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		t, err = time.Parse(layoutSpaceZone, str)
	}
	for _, layout := range [...]string{layoutNaive, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if err == nil {
			break
		}
		t, err = time.ParseInLocation(layout, str, p.zones.loc)
	}
	if err != nil {
		return 0, false
	}
	return unixNano(t.Unix(), int64(t.Nanosecond()))
}

// Epoch numbers at or above epochSubSecond are not seconds: as seconds they
// would be after the year 5138, far past what int64 nanoseconds hold (2262),
// so they could only ever be refused. Exports from monitoring systems and
// JavaScript-based tools write milliseconds (13 digits today), and some
// write microseconds (16) or nanoseconds (19); the magnitude tells them apart
// with no ambiguity for any time from 1973 to 2262, so they are read in the
// unit their size implies rather than refused.
const (
	epochSubSecond = 1e11 // from here on: milliseconds (1e11 ms is 1973-03-03)
	epochMicro     = 1e14 // from here on: microseconds (1e14 µs is 1973-03-03)
	epochNano      = 1e17 // from here on: nanoseconds (1e17 ns is 1973-03-03)
)

// parseEpoch parses a Unix epoch time: an optional '-', digits, and an
// optional '.' followed by digits (nanoseconds kept, finer digits truncated).
// The unit is seconds, or milliseconds, microseconds or nanoseconds when the
// whole part is that large (see epochSubSecond).
// The arithmetic is done in integers so that "1628640000.1" is exactly
// 1628640000100000000 ns, which a float64 detour could not promise.
func parseEpoch(s []byte) (int64, bool) {
	ns, n, ok := scanEpoch(s)
	return ns, ok && n == len(s)
}

// scanEpoch parses epoch seconds at the start of s and returns how many
// bytes they used, for the row fast path (see scanNumber).
func scanEpoch(s []byte) (ns int64, n int, ok bool) {
	i := 0
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		i++
	}
	start := i
	var sec int64
	// The first eight digits at once where there are eight (an epoch in
	// seconds has ten): the loop below would take them one by one, and
	// its bound is never reached below 1e8. The rest go through the loop.
	if len(s)-i >= 8 {
		if v, ok := eightDigits(s[i:]); ok {
			sec, i = int64(v), i+8
		}
	}
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		d := int64(s[i] - '0')
		if sec > (math.MaxInt64-d)/10 { // not an int64 (nor a time in any unit)
			return 0, i, false
		}
		sec = sec*10 + d
	}
	if i == start {
		return 0, i, false
	}
	var nsec int64
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		scale := int64(1e8)
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			nsec += int64(s[i]-'0') * scale
			scale /= 10
		}
		if i == fs {
			return 0, i, false
		}
	}
	if sec >= epochSubSecond {
		sec, nsec = subSecondEpoch(sec, nsec)
	}
	if neg {
		// -s.f seconds is -(s+1) seconds plus (1 - .f): normalise so that
		// unixNano always sees a fraction in [0, 1e9).
		sec = -sec
		if nsec != 0 {
			sec--
			nsec = 1e9 - nsec
		}
	}
	ns, ok = unixNano(sec, nsec)
	return ns, i, ok
}

// subSecondEpoch reads an epoch number whose whole part is too large to be
// seconds in the unit its size implies: whole units and a fraction of one
// unit (in nanoseconds of that unit) become seconds and nanoseconds. It is
// off the hot path: a trace in seconds never reaches it.
func subSecondEpoch(whole, frac int64) (sec, nsec int64) {
	perSecond := int64(1e3) // milliseconds
	switch {
	case whole >= epochNano:
		perSecond = 1e9
	case whole >= epochMicro:
		perSecond = 1e6
	}
	nsPerUnit := 1e9 / perSecond
	return whole / perSecond, whole%perSecond*nsPerUnit + frac/perSecond
}

// eightDigits reports whether the first eight bytes of s (it must hold
// eight) are all ASCII digits and, if so, the number they spell, most
// significant first: a SWAR conversion (three multiplications for eight
// digits, Lemire's parse_eight_digits_unrolled) instead of eight rounds of
// a loop that tests, multiplies and adds.
func eightDigits(s []byte) (uint64, bool) {
	v := binary.LittleEndian.Uint64(s)
	// Every byte within 0x30-0x39: its high nibble is 3, and still 3 after
	// adding 6 (no carry leaves a byte whose high nibble is 3).
	if (v&0xF0F0F0F0F0F0F0F0)|(((v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) != 0x3333333333333333 {
		return 0, false
	}
	v -= 0x3030303030303030
	v = v*10 + (v >> 8) // pairs of digits, in every other byte
	return ((v&0x000000FF000000FF)*(100+1000000<<32) + ((v>>16)&0x000000FF000000FF)*(1+10000<<32)) >> 32, true
}
