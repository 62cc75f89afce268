package policy

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestInstantMatchesTime: instant's integer arithmetic gives time.Time's
// answers for every pair of times and durations, edge cases included: the
// zero time and others outside int64 Unix nanoseconds (the fallback), the
// edges of that range, differences beyond ±292 years (Sub saturates),
// monotonic clock readings on either side (time.Time compares those when
// both have one), other locations, and random times and durations.
func TestInstantMatchesTime(t *testing.T) {
	mono := time.Now() // carries a monotonic reading
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	times := []time.Time{
		{}, // the zero time: year 1, outside the fast path
		time.Unix(0, 0).UTC(),
		t0,
		t0.Add(1),
		t0.In(berlin),
		time.Unix(0, math.MaxInt64).UTC(),
		time.Unix(0, math.MinInt64).UTC(),
		time.Unix(maxNanoSec, 999_999_999).UTC(),
		time.Unix(maxNanoSec+1, 0).UTC(), // just outside
		time.Unix(minNanoSec, 0).UTC(),
		time.Unix(minNanoSec-1, 999_999_999).UTC(), // just outside
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		mono,
		mono.Add(time.Minute), // monotonic too
		mono.Add(-time.Hour),
		mono.Round(0), // the same wall clock, no monotonic reading
	}
	durations := []time.Duration{0, 1, -1, time.Minute, -time.Minute, 3 * time.Minute, 24 * time.Hour,
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 2, math.MinInt64 / 2}
	rng := rand.New(rand.NewPCG(9, 9))
	edges := len(durations) // now's durations: the edge cases only
	for range 20 {
		times = append(times, time.Unix(0, rng.Int64()-rng.Int64()/2).UTC(), t0.Add(time.Duration(rng.Int64N(int64(48*time.Hour))-int64(24*time.Hour))))
		durations = append(durations, time.Duration(rng.Int64()-rng.Int64()/2), time.Duration(rng.Int64N(int64(time.Hour))))
	}
	fast := 0
	for _, now := range times {
		at := newInstant(now)
		if at.fast {
			fast++
		}
		for _, u := range times {
			st := newStamp(u)
			if st.ns != u.UnixNano() {
				t.Errorf("stamp of %v: %d nanoseconds, UnixNano says %d", u, st.ns, u.UnixNano())
			}
			if got, want := at.sub(u), now.Sub(u); got != want {
				t.Errorf("now %v (fast %v) sub %v: %v, time.Time says %v", now, at.fast, u, got, want)
			}
			if got, want := at.subStamp(&st), now.Sub(u); got != want {
				t.Errorf("now %v (fast %v) sub stamped %v: %v, time.Time says %v", now, at.fast, u, got, want)
			}
			for _, dn := range durations {
				c := at.cut(dn)
				if got, want := c.before(u), now.Add(dn).Before(u); got != want {
					t.Errorf("now %v (fast %v) + %v before %v: %v, time.Time says %v", now, at.fast, dn, u, got, want)
				}
			}
			for _, dn := range durations[:edges] {
				for _, du := range durations {
					want := u.Add(du).Before(now.Add(dn))
					if got := at.afterSum(dn, u, du); got != want {
						t.Errorf("now %v (fast %v) + %v after %v + %v: %v, time.Time says %v", now, at.fast, dn, u, du, got, want)
					}
					if got := at.afterSumStamp(dn, &st, du); got != want {
						t.Errorf("now %v (fast %v) + %v after stamped %v + %v: %v, time.Time says %v", now, at.fast, dn, u, du, got, want)
					}
				}
			}
		}
	}
	if fast < len(times)/2 {
		t.Fatalf("only %d of %d times took the fast path: the test does not exercise it", fast, len(times))
	}
	if newInstant(mono).fast || newInstant(time.Time{}).fast || !newInstant(mono.Round(0)).fast {
		t.Error("the fast path must be refused a monotonic reading and the zero time, and taken without them")
	}
}
