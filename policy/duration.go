package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in policy files as Go duration text
// ("90s", "1h30m") with one addition operators expect from such files: a
// whole number of days ("7d"), optionally followed by Go duration text ("1d12h").
type Duration time.Duration

// ErrBadDuration is returned for duration text that does not parse.
var ErrBadDuration = errors.New("must be a duration such as 30s, 5m, 24h or 7d")

// ParseDuration parses Go duration text, allowing a leading whole number of days.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, ErrBadDuration
	}
	neg := false
	rest := s
	if rest[0] == '-' {
		neg = true
		rest = rest[1:]
		if rest == "" {
			return 0, fmt.Errorf("%q: %w", s, ErrBadDuration)
		}
	}
	var days time.Duration
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil || n > 106751 { // beyond that the total overflows int64 nanoseconds
			return 0, fmt.Errorf("%q: %w", s, ErrBadDuration)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		d, err = time.ParseDuration(rest)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q: %w", s, ErrBadDuration)
		}
	}
	total := days + d
	if total < days { // overflow
		return 0, fmt.Errorf("%q: %w", s, ErrBadDuration)
	}
	if neg {
		total = -total
	}
	return total, nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders the duration compactly: whole days as "7d", otherwise Go's form
// without trailing zero units ("3m" rather than "3m0s").
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText renders the duration as policy-file text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses policy-file duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
