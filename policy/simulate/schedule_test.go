package simulate

import (
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/policy"
)

// TestRunScheduleCapacityReadyAtStart replays a flat trace through a
// policy with a one-off window raising min to 12 at 02:00: the simulated
// group must have 12 ready instances at 02:00 (ordered a warmup before),
// not before the warmup, and go back after the window.
func TestRunScheduleCapacityReadyAtStart(t *testing.T) {
	start := time.Unix(0, t0).UTC().Add(2 * time.Hour)
	doc := `id: sim
target: {provider: fake, group: g}
min: 1
max: 50
warmup: 5m
evaluation_interval: 1m
stale_after: 5m
scale_in: {cooldown: 1m, stabilization: 1m}
metrics: [{name: rps, type: request_rate, target: 100}]
schedules: [{name: launch, start: "` + start.Format(time.RFC3339) + `", end: "` + start.Add(time.Hour).Format(time.RFC3339) + `", min: 12}]
`
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, 5*60) // five hours of one-minute samples at 2 instances' worth
	for i := range vals {
		vals[i] = 200
	}
	res, err := Run(Config{Policy: p}, series(vals...))
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) int { return int(d / time.Minute) }
	if got := res.Desired[at(2*time.Hour-6*time.Minute)]; got != 2 {
		t.Errorf("desired %d six minutes before the window, want 2 (not earlier than the warmup)", got)
	}
	if got := res.Ready[at(2*time.Hour)]; got != 12 {
		t.Errorf("ready %d when the window opens, want 12", got)
	}
	row := res.Rows[at(2*time.Hour-5*time.Minute)]
	if row.Bound != policy.LimitSchedule || row.To != 12 {
		t.Errorf("the raise a warmup ahead: row %+v, want bound schedule to 12", row)
	}
	if got := res.Desired[at(3*time.Hour+10*time.Minute)]; got != 2 {
		t.Errorf("desired %d after the window, want back to 2", got)
	}
	// The timeline marks the samples at which the window was open.
	for i, on := range res.Scheduled {
		if want := i >= at(2*time.Hour) && i < at(3*time.Hour); on != want {
			t.Fatalf("sample %d: scheduled %v, want %v", i, on, want)
		}
	}
	if len(res.Scheduled) != len(vals) {
		t.Fatalf("%d scheduled marks for %d samples", len(res.Scheduled), len(vals))
	}
	if res.Summary.UnderProvisionedSamples != 0 {
		t.Errorf("%d under-provisioned samples", res.Summary.UnderProvisionedSamples)
	}
}

func TestRunWithoutSchedulesMarksNothing(t *testing.T) {
	res, err := Run(Config{Policy: testPolicy(policy.Metric{Name: "rps", Type: policy.MetricRequestRate, Target: 100})}, series(100, 200))
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != nil {
		t.Fatalf("scheduled %v, want nil", res.Scheduled)
	}
}

// TestRunScheduleStepsAreNotFlapping replays flat demand through three
// half-hour windows raising min to 12, half an hour apart, with a
// 10-minute stabilization: each window opens and closes with a step, and
// none of them is demand changing direction. Anti-flapping does not count
// the steps, so the scale-in as each window closes is not damped: the
// group is back at 2 a minute after each close.
func TestRunScheduleStepsAreNotFlapping(t *testing.T) {
	day := time.Unix(0, t0).UTC()
	var windows []string
	for k := range 3 {
		start := day.Add(time.Hour + time.Duration(k)*time.Hour)
		windows = append(windows, `{name: w`+string(rune('a'+k))+`, start: "`+start.Format(time.RFC3339)+`", end: "`+start.Add(30*time.Minute).Format(time.RFC3339)+`", min: 12}`)
	}
	doc := `id: sim
target: {provider: fake, group: g}
min: 1
max: 50
warmup: 1m
evaluation_interval: 1m
stale_after: 5m
scale_in: {cooldown: 1m, stabilization: 10m}
metrics: [{name: rps, type: request_rate, target: 100}]
schedules: [` + strings.Join(windows, ", ") + `]
`
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, 5*60)
	for i := range vals {
		vals[i] = 200
	}
	res, err := Run(Config{Policy: p, InitialSize: 2}, series(vals...))
	if err != nil {
		t.Fatal(err)
	}
	// The summary's reversals count the group's own back and forth from
	// its size changes, as for the baseline (five: out, in, out, in, out,
	// in); anti-flapping counts only demand's and damps nothing.
	if s := res.Summary; s.ScaleOuts != 3 || s.ScaleIns != 3 || s.Reversals != 5 || s.Damped != 0 {
		t.Fatalf("%d scale-outs, %d scale-ins, %d reversals, %d damped; want 3, 3, 5, 0", s.ScaleOuts, s.ScaleIns, s.Reversals, s.Damped)
	}
	for k := range 3 {
		closed := int((90*time.Minute + time.Duration(k)*time.Hour) / time.Minute)
		if got := res.Desired[closed+1]; got != 2 {
			t.Errorf("window %d: desired %d a minute after it closed, want 2", k, got)
		}
	}
}
