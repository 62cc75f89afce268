package policy

import (
	"errors"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	const d = 24 * time.Hour
	good := []struct {
		in   string
		want time.Duration
	}{
		{"7d", 7 * d},
		{"1d12h", 36 * time.Hour},
		{"1d30m", d + 30*time.Minute},
		{"0d", 0},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"1.5s", 1500 * time.Millisecond},
		{"0", 0},
		{"-5s", -5 * time.Second},
		{"-1d", -d},
		{"106751d", 106751 * d},
	}
	for _, tt := range good {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	bad := []string{
		"",
		"-",
		"d",
		"7",
		"1.5d",
		"5h2d",
		"1d-5h",
		"1dd",
		"+1d",
		"abc",
		" 5s",
		"5 s",
		"106752d",
		"106751d24h",
		"9999999999999999999d",
	}
	for _, in := range bad {
		got, err := ParseDuration(in)
		if !errors.Is(err, ErrBadDuration) {
			t.Errorf("ParseDuration(%q) = %v, %v; want ErrBadDuration", in, got, err)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{90 * time.Second, "1m30s"},
		{3 * time.Minute, "3m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "36h"},
		{24 * time.Hour, "1d"},
		{7 * 24 * time.Hour, "7d"},
		{1500 * time.Millisecond, "1.5s"},
		{-48 * time.Hour, "-2d"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		// Whatever String writes, ParseDuration must read back exactly.
		back, err := ParseDuration(Duration(tt.in).String())
		if err != nil || back != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, back, err, tt.in)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1d6h")); err != nil || d != Duration(30*time.Hour) {
		t.Errorf("UnmarshalText(1d6h) = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("soon")); !errors.Is(err, ErrBadDuration) {
		t.Errorf("UnmarshalText(soon) = %v, want ErrBadDuration", err)
	}
	if b, _ := Duration(48 * time.Hour).MarshalText(); string(b) != "2d" {
		t.Errorf("MarshalText(48h) = %q", b)
	}
}

func TestSeasonText(t *testing.T) {
	tests := []struct {
		in   string
		want Season
		out  string
	}{
		{"auto", Season{Auto: true}, "auto"},
		{"none", Season{}, "none"},
		{"24h", Season{Period: 24 * time.Hour}, "1d"},
		{"7d", Season{Period: 7 * 24 * time.Hour}, "7d"},
		{"12h", Season{Period: 12 * time.Hour}, "12h"},
	}
	for _, tt := range tests {
		var s Season
		if err := s.UnmarshalText([]byte(tt.in)); err != nil || s != tt.want {
			t.Errorf("UnmarshalText(%q) = %+v, %v; want %+v", tt.in, s, err, tt.want)
		}
		if b, _ := s.MarshalText(); string(b) != tt.out {
			t.Errorf("MarshalText(%+v) = %q, want %q", s, b, tt.out)
		}
	}
	var s Season
	if err := s.UnmarshalText([]byte("weekly")); !errors.Is(err, ErrBadDuration) {
		t.Errorf("UnmarshalText(weekly) = %v, want ErrBadDuration", err)
	}
}
