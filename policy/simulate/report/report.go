// Package report renders a simulation's result for people and for tools: a
// per-sample timeline as CSV or JSON, a plain-text summary table, and a
// self-contained HTML report with charts.
//
// Like the simulate package it never opens files: every writer takes an
// io.Writer, so the command decides where output goes and tests can render
// into memory.
package report

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
)

// ErrMismatch is returned when a result's slices do not line up with each
// other or with the policy's metrics. Writers check up front so that a bad
// result fails cleanly instead of panicking halfway through a large file.
var ErrMismatch = errors.New("report: the result does not match the policy")

// checkShape returns the number of samples after verifying every timeline
// slice has one entry per sample and one column per policy metric.
func checkShape(p policy.Policy, r *simulate.Result) (int, error) {
	if r == nil {
		return 0, fmt.Errorf("%w: nil result", ErrMismatch)
	}
	n := len(r.Times)
	if len(r.Needed) != n || len(r.Desired) != n || len(r.Ready) != n || len(r.Rows) != n {
		return 0, fmt.Errorf("%w: %d times but %d needed, %d desired, %d ready, %d rows",
			ErrMismatch, n, len(r.Needed), len(r.Desired), len(r.Ready), len(r.Rows))
	}
	if len(r.Observed) != len(p.Metrics) {
		return 0, fmt.Errorf("%w: %d observed columns for %d metrics", ErrMismatch, len(r.Observed), len(p.Metrics))
	}
	if r.Forecast != nil && len(r.Forecast) != len(p.Metrics) {
		return 0, fmt.Errorf("%w: %d forecast columns for %d metrics", ErrMismatch, len(r.Forecast), len(p.Metrics))
	}
	if r.Weekly != nil && len(r.Weekly) != len(p.Metrics) {
		return 0, fmt.Errorf("%w: %d weekly columns for %d metrics", ErrMismatch, len(r.Weekly), len(p.Metrics))
	}
	if r.SeasonScale != nil && len(r.SeasonScale) != len(p.Metrics) {
		return 0, fmt.Errorf("%w: %d season_scale columns for %d metrics", ErrMismatch, len(r.SeasonScale), len(p.Metrics))
	}
	for j, m := range p.Metrics {
		if len(r.Observed[j]) != n {
			return 0, fmt.Errorf("%w: metric %s has %d observed values for %d times", ErrMismatch, m.Name, len(r.Observed[j]), n)
		}
		if r.Forecast != nil && len(r.Forecast[j]) != n {
			return 0, fmt.Errorf("%w: metric %s has %d forecast values for %d times", ErrMismatch, m.Name, len(r.Forecast[j]), n)
		}
		if r.Weekly != nil && len(r.Weekly[j]) != n {
			return 0, fmt.Errorf("%w: metric %s has %d weekly values for %d times", ErrMismatch, m.Name, len(r.Weekly[j]), n)
		}
		if r.SeasonScale != nil && len(r.SeasonScale[j]) != n {
			return 0, fmt.Errorf("%w: metric %s has %d season_scale values for %d times", ErrMismatch, m.Name, len(r.SeasonScale[j]), n)
		}
	}
	return n, nil
}

// appendReason writes the row's one-line explanation in the same shape as
// policy.Decision.Reason, so a timeline reads like the live decision log.
// It is hand-rolled with appends because it runs once per exported row.
func appendReason(b []byte, row simulate.Row) []byte {
	b = append(b, row.Action.String()...)
	if row.Action != policy.ActionHold {
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(row.From), 10)
		b = append(b, "->"...)
		b = strconv.AppendInt(b, int64(row.To), 10)
	}
	if row.UsedForecast {
		b = append(b, " forecast"...)
	}
	if row.Bound != policy.LimitNone {
		b = append(b, " bound:"...)
		b = append(b, row.Bound.String()...)
	}
	if row.Stale {
		b = append(b, " stale"...)
	}
	return b
}

// timeAppender formats Unix nanoseconds as RFC 3339 UTC (the
// time.RFC3339Nano layout). time.Time.AppendFormat costs several hundred
// nanoseconds per call, a large share of the per-row budget, so the date
// part is cached per day and the clock part is written digit by digit.
type timeAppender struct {
	day    int64
	prefix []byte // "2006-01-02T" for day
}

func (f *timeAppender) append(b []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	day, sod := sec/86400, sec%86400
	if sod < 0 {
		day, sod = day-1, sod+86400
	}
	if f.prefix == nil || day != f.day {
		f.prefix = time.Unix(day*86400, 0).UTC().AppendFormat(f.prefix[:0], "2006-01-02T")
		f.day = day
	}
	b = append(b, f.prefix...)
	h, m, s := sod/3600, sod/60%60, sod%60
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if frac != 0 {
		var d [9]byte
		for i := 8; i >= 0; i-- {
			d[i] = byte('0' + frac%10)
			frac /= 10
		}
		k := 9
		for d[k-1] == '0' { // RFC3339Nano drops trailing zeros
			k--
		}
		b = append(b, '.')
		b = append(b, d[:k]...)
	}
	return append(b, 'Z')
}

// appendJSONFloat writes v as a JSON number the way encoding/json does
// (plain decimals in the everyday range, exponents outside it), and null for
// NaN and ±Inf, which JSON cannot represent.
func appendJSONFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		n := len(b)
		b = strconv.AppendFloat(b, v, 'e', -1, 64)
		// Shorten e-07 to e-7 like encoding/json, purely for looks.
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b
	}
	if out, ok := shortestFast(b, v); ok { // plain in its range: the same digits as 'f'
		return out
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
