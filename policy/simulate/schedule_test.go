package simulate

import (
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
