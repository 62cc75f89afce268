package simulate_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/policy/simulate"
	"github.com/capstan-io/capstan/policy/simulate/scoreboard"
)

// doublingDay is days of 1-minute samples of a daily cycle whose
// amplitude is a share of its level (as traffic's is: a quiet night, a
// morning rise over half an hour, a busy day, an evening fall over two
// hours), the level growing by growth a day and doubling at shiftDay's
// midnight.
func doublingDay(days, shiftDay int, growth float64, seed uint64) simulate.Series {
	const perDay = 1440
	r := rand.New(rand.NewPCG(seed, 2))
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s := simulate.Series{Values: [][]float64{make([]float64, days*perDay)}}
	for i := range days * perDay {
		d := float64(i) / perDay
		level := 100 * math.Pow(1+growth, d)
		if i >= shiftDay*perDay {
			level *= 2
		}
		shape := 0.4
		switch m := i % perDay; {
		case m >= 8*60 && m < 8*60+30:
			shape += 1.2 * float64(m-8*60) / 30
		case m >= 8*60+30 && m < 20*60:
			shape = 1.6
		case m >= 20*60 && m < 22*60:
			shape += 1.2 * float64(22*60-m) / 120
		}
		v := level * shape * (1 + 0.02*r.NormFloat64())
		s.Times = append(s.Times, t0.Add(time.Duration(i)*time.Minute).UnixNano())
		s.Values[0][i] = v
	}
	return s
}

// TestUnderProvisioningAfterALevelShift replays daily series whose
// amplitude is a share of their level, under the scoreboard's convention,
// and counts the samples under-provisioned from day 6 on: the forecast's
// against the HPA reference's. One series is flat for five days and
// doubles at day 5's midnight (a launch), the other grows 10 % a day
// (doubling in about a week). An additive daily shape keeps the amplitude
// it learned and relearns it a share Gamma a day, so its forecasts fall
// short of every later morning rise (0.67× and 0.56× the reference's
// before seasons could scale with the level); a season that scales with
// the level follows it (5 and 5 samples of 70).
func TestUnderProvisioningAfterALevelShift(t *testing.T) {
	const days, from = 9, 6
	for _, c := range []struct {
		name     string
		shiftDay int
		growth   float64
	}{
		{"flat, doubling on day 5", 5, 0},
		{"growing 10 % a day", days, 0.1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := doublingDay(days, c.shiftDay, c.growth, 1)
			tr := scoreboard.Trace{Name: "doubling.csv", Type: policy.MetricRequestRate, Daily: true}
			rs, err := scoreboard.Replay(tr, s)
			if err != nil {
				t.Fatal(err)
			}
			after := s.Times[0] + int64(from*24*time.Hour)
			count := func(r *simulate.Result) (n int) {
				for i, u := range r.Under {
					if u && r.Times[i] >= after {
						n++
					}
				}
				return n
			}
			fcst, ref := count(rs.Forecast), count(rs.Baseline)
			t.Logf("under-provisioned from day %d: forecast %d, reference %d (%.2f×); instance-hours %.0f against %.0f",
				from, fcst, ref, float64(fcst)/float64(ref), rs.Forecast.Summary.InstanceHours, rs.Baseline.Summary.InstanceHours)
			if ref < 50 || float64(fcst) > 0.25*float64(ref) {
				t.Errorf("%d under-provisioned samples from day %d, the reference %d; want at most a quarter (and the reference at least 50)", fcst, from, ref)
			}
			if h := rs.Forecast.Summary.InstanceHours; h > 1.05*rs.Baseline.Summary.InstanceHours {
				t.Errorf("instance-hours %.0f, over 1.05× the reference's %.0f", h, rs.Baseline.Summary.InstanceHours)
			}
		})
	}
}

// TestSeasonFollowsALevelShift: a flat daily series whose model was
// chosen before it doubles at day 6's midnight is not chosen again for
// days (the evidence clock), and a backtest then would still choose the
// additive season it has; the season follows the shift in place
// (forecast.LevelShift) and the days after the shift's are served as
// before it: from day 7 on, under-provisioned samples at most a quarter
// of the reference's (0.66-0.70× with the additive season kept: 48 of 70,
// 46 of 71, 44 of 72), and instance-hours within 1.05× of its.
func TestSeasonFollowsALevelShift(t *testing.T) {
	const days, shiftDay, from = 10, 6, 7
	for seed := uint64(1); seed <= 3; seed++ {
		s := doublingDay(days, shiftDay, 0, seed)
		tr := scoreboard.Trace{Name: "doubling.csv", Type: policy.MetricRequestRate, Daily: true}
		rs, err := scoreboard.Replay(tr, s)
		if err != nil {
			t.Fatal(err)
		}
		after := s.Times[0] + int64(from*24*time.Hour)
		count := func(r *simulate.Result) (n int) {
			for i, u := range r.Under {
				if u && r.Times[i] >= after {
					n++
				}
			}
			return n
		}
		fcst, ref := count(rs.Forecast), count(rs.Baseline)
		t.Logf("seed %d: under-provisioned from day %d: forecast %d, reference %d; instance-hours %.0f against %.0f",
			seed, from, fcst, ref, rs.Forecast.Summary.InstanceHours, rs.Baseline.Summary.InstanceHours)
		if ref < 50 || float64(fcst) > 0.25*float64(ref) {
			t.Errorf("seed %d: %d under-provisioned samples from day %d, the reference %d; want at most a quarter", seed, fcst, from, ref)
		}
		if h := rs.Forecast.Summary.InstanceHours; h > 1.05*rs.Baseline.Summary.InstanceHours {
			t.Errorf("seed %d: instance-hours %.0f, over 1.05× the reference's %.0f", seed, h, rs.Baseline.Summary.InstanceHours)
		}
	}
}
