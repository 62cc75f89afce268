package fake_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/fake"
)

// clock is a settable clock, so boot delays are tested without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// transports returns the two ways to reach a Cloud: in process, and over
// HTTP through NewHandler and Client. Tests that run over both prove the
// wire round trip loses nothing.
func transports(t *testing.T, c *fake.Cloud) []struct {
	name string
	d    cloud.Driver
} {
	t.Helper()
	srv := httptest.NewServer(fake.NewHandler(c))
	t.Cleanup(srv.Close)
	return []struct {
		name string
		d    cloud.Driver
	}{
		{"inproc", fake.NewDriver(c)},
		{"http", fake.NewClient(srv.URL, srv.Client())},
	}
}

func ref(name string) cloud.GroupRef { return cloud.GroupRef{Provider: "fake", Group: name} }

func mustCreate(t *testing.T, c *fake.Cloud, name string, min, max, desired int) {
	t.Helper()
	if err := c.CreateGroup(name, min, max, desired); err != nil {
		t.Fatalf("CreateGroup(%q): %v", name, err)
	}
}

func mustState(t *testing.T, c *fake.Cloud, name string) cloud.GroupState {
	t.Helper()
	st, err := c.Describe(name)
	if err != nil {
		t.Fatalf("Describe(%q): %v", name, err)
	}
	return st
}

func TestBootDelay(t *testing.T) {
	clk := newClock()
	c := fake.New(fake.Options{BootDelay: 30 * time.Second, Now: clk.Now})
	mustCreate(t, c, "web", 0, 10, 2)
	if got, want := mustState(t, c, "web"), (cloud.GroupState{Desired: 2, Max: 10, InService: 2}); got != want {
		t.Fatalf("a new group's instances should be ready at once: got %+v, want %+v", got, want)
	}
	if err := c.SetDesired(context.Background(), "web", 5); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance            time.Duration
		inService, pending int
	}{
		{0, 2, 3},
		{29 * time.Second, 2, 3},
		{time.Second, 5, 0}, // ready exactly at BootDelay
		{time.Hour, 5, 0},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		st := mustState(t, c, "web")
		if st.InService != s.inService || st.Pending != s.pending || st.Desired != 5 {
			t.Errorf("step %d (+%s): got %+v, want in service %d, pending %d, desired 5", i, s.advance, st, s.inService, s.pending)
		}
	}
}

func TestScaleInRemovesBootingFirst(t *testing.T) {
	clk := newClock()
	c := fake.New(fake.Options{BootDelay: time.Minute, Now: clk.Now})
	mustCreate(t, c, "web", 0, 20, 2)
	// Each step advances the clock, then sets the desired size, then
	// checks the state.
	steps := []struct {
		name               string
		advance            time.Duration
		desired            int
		inService, pending int
	}{
		{"scale out boots new instances", 0, 6, 2, 4},
		{"scale in drops booting first", 0, 4, 2, 2},
		// Two instances are ready at 60s, three more at 90s.
		{"more booting, staggered", 30 * time.Second, 7, 2, 5},
		{"older boots finish", 30 * time.Second, 7, 4, 3},
		{"scale in drops the newest booting", 0, 5, 4, 1},
		{"then ready ones", 0, 3, 3, 0},
		{"down to zero", 0, 0, 0, 0},
	}
	ctx := context.Background()
	for _, s := range steps {
		clk.Advance(s.advance)
		if err := c.SetDesired(ctx, "web", s.desired); err != nil {
			t.Fatalf("%s: SetDesired(%d): %v", s.name, s.desired, err)
		}
		st := mustState(t, c, "web")
		if st.InService != s.inService || st.Pending != s.pending || st.Desired != s.desired {
			t.Errorf("%s: got %+v, want desired %d, in service %d, pending %d", s.name, st, s.desired, s.inService, s.pending)
		}
	}
}

func TestSetDesiredBounds(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 2, 8, 4)
	for _, tc := range []struct {
		n       int
		wantErr string // "" = success
	}{
		{2, ""},
		{8, ""},
		{1, "below min value 2"},
		{9, "above max value 8"},
		{-1, "below min value 2"},
	} {
		before := mustState(t, c, "web")
		err := fake.NewDriver(c).SetDesired(context.Background(), ref("web"), tc.n)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("SetDesired(%d): %v", tc.n, err)
			}
			continue
		}
		if !errors.Is(err, cloud.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("SetDesired(%d) = %v, want ErrInvalid mentioning %q", tc.n, err, tc.wantErr)
		}
		if after := mustState(t, c, "web"); after != before {
			t.Errorf("SetDesired(%d) failed but changed the group: %+v -> %+v", tc.n, before, after)
		}
	}
}

func TestSetDesiredIdempotent(t *testing.T) {
	clk := newClock()
	c := fake.New(fake.Options{BootDelay: time.Minute, Now: clk.Now})
	mustCreate(t, c, "web", 0, 10, 1)
	ctx := cloud.WithCaller(context.Background(), cloud.Caller{Node: "n1", Term: 3})
	if err := c.SetDesired(ctx, "web", 4); err != nil {
		t.Fatal(err)
	}
	clk.Advance(40 * time.Second)
	if err := c.SetDesired(ctx, "web", 4); err != nil {
		t.Fatalf("repeating the desired size: %v", err)
	}
	// The repeat must not restart the boots: 20s later the first three
	// are ready.
	clk.Advance(20 * time.Second)
	if st := mustState(t, c, "web"); st.InService != 4 || st.Pending != 0 {
		t.Errorf("after a repeated SetDesired: %+v, want 4 in service", st)
	}
	calls := c.Calls()
	if len(calls) != 2 {
		t.Fatalf("call log has %d entries, want both SetDesired calls: %+v", len(calls), calls)
	}
	if got := calls[1]; got.Op != fake.OpSetDesired || got.From != 4 || got.To != 4 || got.Err != "" {
		t.Errorf("repeat logged as %+v, want set_desired 4 -> 4", got)
	}
}

func TestAutoCreate(t *testing.T) {
	ctx := context.Background()
	c := fake.New(fake.Options{AutoCreate: true, DefaultMin: 1, DefaultMax: 50, DefaultDesired: 3})
	for _, tr := range transports(t, c) {
		t.Run(tr.name, func(t *testing.T) {
			st, err := tr.d.Describe(ctx, ref("new-"+tr.name))
			if err != nil {
				t.Fatal(err)
			}
			if want := (cloud.GroupState{Desired: 3, Min: 1, Max: 50, InService: 3}); st != want {
				t.Errorf("auto-created group: %+v, want %+v", st, want)
			}
			// SetDesired on an unknown group creates it too, then resizes.
			if err := tr.d.SetDesired(ctx, ref("other-"+tr.name), 7); err != nil {
				t.Fatal(err)
			}
			if st := mustState(t, c, "other-"+tr.name); st.Desired != 7 || st.Max != 50 {
				t.Errorf("auto-created by SetDesired: %+v", st)
			}
			if err := tr.d.SetDesired(ctx, ref("third-"+tr.name), 51); !errors.Is(err, cloud.ErrInvalid) {
				t.Errorf("SetDesired above the default max = %v, want ErrInvalid", err)
			}
		})
	}

	strict := fake.New(fake.Options{})
	for _, tr := range transports(t, strict) {
		t.Run("strict/"+tr.name, func(t *testing.T) {
			if _, err := tr.d.Describe(ctx, ref("nope")); !errors.Is(err, cloud.ErrNotFound) {
				t.Errorf("Describe of an unknown group = %v, want ErrNotFound", err)
			}
			if err := tr.d.SetDesired(ctx, ref("nope"), 1); !errors.Is(err, cloud.ErrNotFound) {
				t.Errorf("SetDesired of an unknown group = %v, want ErrNotFound", err)
			}
		})
	}
	if len(strict.Groups()) != 0 {
		t.Errorf("without AutoCreate, groups appeared: %v", strict.Groups())
	}
}

func TestFaultsMapToSentinels(t *testing.T) {
	ctx := context.Background()
	kinds := []error{cloud.ErrNotFound, cloud.ErrInvalid, cloud.ErrThrottled, cloud.ErrUnavailable, cloud.ErrConflict}
	ops := []string{fake.OpDescribe, fake.OpSetDesired}
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	mustCreate(t, c, "db", 0, 10, 1)
	call := func(d cloud.Driver, op, group string) error {
		if op == fake.OpDescribe {
			_, err := d.Describe(ctx, ref(group))
			return err
		}
		return d.SetDesired(ctx, ref(group), 2)
	}
	for _, tr := range transports(t, c) {
		for _, kind := range kinds {
			for _, op := range ops {
				t.Run(tr.name+"/"+fake.ErrorCode(kind)+"/"+op, func(t *testing.T) {
					if err := c.InjectFault(fake.Fault{Group: "web", Op: op, Err: kind, Times: 2}); err != nil {
						t.Fatal(err)
					}
					// Faults aimed at web/op leave other groups and ops alone.
					if err := call(tr.d, op, "db"); err != nil {
						t.Errorf("other group: %v", err)
					}
					other := fake.OpDescribe
					if op == fake.OpDescribe {
						other = fake.OpSetDesired
					}
					if err := call(tr.d, other, "web"); err != nil {
						t.Errorf("other op: %v", err)
					}
					for i := range 2 {
						err := call(tr.d, op, "web")
						if !errors.Is(err, kind) {
							t.Fatalf("call %d = %v, want %v", i+1, err, kind)
						}
						for _, k := range kinds {
							if k != kind && errors.Is(err, k) {
								t.Errorf("call %d = %v also matches %v", i+1, err, k)
							}
						}
					}
					if err := call(tr.d, op, "web"); err != nil {
						t.Errorf("after Times calls the fault should be spent: %v", err)
					}
				})
			}
		}
	}
}

func TestFaultUnlimitedAndClear(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	d := fake.NewDriver(c)
	ctx := context.Background()
	if err := c.InjectFault(fake.Fault{Err: cloud.ErrUnavailable, Times: -1}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := d.Describe(ctx, ref("web")); !errors.Is(err, cloud.ErrUnavailable) {
			t.Fatalf("unlimited fault: %v", err)
		}
	}
	c.ClearFaults()
	if _, err := d.Describe(ctx, ref("web")); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

func TestInvalidFaults(t *testing.T) {
	c := fake.New(fake.Options{})
	for _, f := range []fake.Fault{
		{Op: "delete", Err: cloud.ErrThrottled},
		{Err: errors.New("boom")},
		{Delay: -time.Second, Err: cloud.ErrThrottled},
		{}, // neither error nor delay
	} {
		if err := c.InjectFault(f); !errors.Is(err, cloud.ErrInvalid) {
			t.Errorf("InjectFault(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}

func TestBusy(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	ctx := context.Background()
	if err := c.SetBusy("web", true); err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports(t, c) {
		st, err := tr.d.Describe(ctx, ref("web"))
		if err != nil || !st.Busy {
			t.Errorf("%s: Describe of a busy group = %+v, %v; want Busy", tr.name, st, err)
		}
		if err := tr.d.SetDesired(ctx, ref("web"), 3); !errors.Is(err, cloud.ErrConflict) {
			t.Errorf("%s: SetDesired on a busy group = %v, want ErrConflict", tr.name, err)
		}
	}
	if err := c.SetBusy("web", false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDesired(ctx, "web", 3); err != nil {
		t.Errorf("SetDesired once no longer busy: %v", err)
	}
	if err := c.SetBusy("nope", true); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("SetBusy of an unknown group = %v, want ErrNotFound", err)
	}
}

func TestCallerRecorded(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	for i, tr := range transports(t, c) {
		caller := cloud.Caller{Node: "node-" + tr.name, Term: uint64(7 + i)}
		ctx := cloud.WithCaller(context.Background(), caller)
		if _, err := tr.d.Describe(ctx, ref("web")); err != nil {
			t.Fatal(err)
		}
		if err := tr.d.SetDesired(ctx, ref("web"), 5+i); err != nil {
			t.Fatal(err)
		}
		calls := c.Calls()
		if len(calls) < 2 {
			t.Fatalf("%s: call log too short: %+v", tr.name, calls)
		}
		desc, set := calls[len(calls)-2], calls[len(calls)-1]
		if desc.Op != fake.OpDescribe || desc.Caller != caller || desc.Group != "web" {
			t.Errorf("%s: describe logged as %+v, want caller %+v", tr.name, desc, caller)
		}
		wantFrom := 1
		if i > 0 {
			wantFrom = 5 + i - 1
		}
		if set.Op != fake.OpSetDesired || set.Caller != caller || set.From != wantFrom || set.To != 5+i || set.Err != "" {
			t.Errorf("%s: set_desired logged as %+v, want %d -> %d by %+v", tr.name, set, wantFrom, 5+i, caller)
		}
	}
	// A failed call is logged with its error.
	if err := c.SetDesired(context.Background(), "web", 11); err == nil {
		t.Fatal("SetDesired above max succeeded")
	}
	last := c.Calls()[len(c.Calls())-1]
	if last.Err == "" || last.Caller != (cloud.Caller{}) || last.To != 11 {
		t.Errorf("failed call logged as %+v", last)
	}
}

func TestCallLogBounded(t *testing.T) {
	c := fake.New(fake.Options{MaxCalls: 10})
	mustCreate(t, c, "web", 0, 100, 0)
	ctx := context.Background()
	for n := 1; n <= 35; n++ {
		if err := c.SetDesired(ctx, "web", n); err != nil {
			t.Fatal(err)
		}
		calls := c.Calls()
		if want := min(n, 10); len(calls) != want {
			t.Fatalf("after %d calls the log has %d entries, want %d", n, len(calls), want)
		}
		if last := calls[len(calls)-1]; last.To != n {
			t.Fatalf("newest entry is %+v, want To %d", last, n)
		}
		if first := calls[0]; first.To != max(1, n-9) {
			t.Fatalf("oldest entry is %+v, want To %d", first, max(1, n-9))
		}
	}
	// Calls returns a copy: changing it leaves the log alone.
	calls := c.Calls()
	calls[0].Group = "changed"
	if c.Calls()[0].Group != "web" {
		t.Error("Calls shares its slice with the log")
	}
}

// TestSlowCallLandsAfterTheCallerGivesUp: a caller that gives up on a slow
// call gets its context's error at once, and the call still takes effect
// when its delay is over, as a request a real provider received does. The
// log shows it in effect order, after a later call that landed first.
func TestSlowCallLandsAfterTheCallerGivesUp(t *testing.T) {
	for i, name := range []string{"inproc", "http"} {
		t.Run(name, func(t *testing.T) {
			c := fake.New(fake.Options{})
			tr := transports(t, c)[i]
			mustCreate(t, c, "web", 0, 10, 1)
			const delay = time.Second
			if err := c.InjectFault(fake.Fault{Op: fake.OpSetDesired, Delay: delay}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			arrived := c.Arrivals()
			go func() { done <- tr.d.SetDesired(ctx, ref("web"), 9) }()
			// Give up only once the call has reached the fake: a request
			// cancelled before it is sent never takes effect, which is not
			// what this test is about (a fixed 50 ms sleep was too short
			// for the HTTP transport on a loaded machine).
			for wait := time.Now().Add(5 * time.Second); c.Arrivals() == arrived; time.Sleep(time.Millisecond) {
				if time.Now().After(wait) {
					t.Fatal("the slow call never reached the fake")
				}
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) || !errors.Is(err, cloud.ErrUnavailable) {
					t.Errorf("abandoned slow call = %v, want ErrUnavailable wrapping context.Canceled", err)
				}
			case <-time.After(delay / 2):
				t.Fatal("the slow call did not return when its caller gave up")
			}
			// A later call lands first.
			if err := tr.d.SetDesired(context.Background(), ref("web"), 4); err != nil {
				t.Fatal(err)
			}
			if st := mustState(t, c, "web"); st.Desired != 4 {
				t.Fatalf("desired %d, want 4 before the slow call lands", st.Desired)
			}
			deadline := time.Now().Add(5 * time.Second)
			for mustState(t, c, "web").Desired != 9 {
				if time.Now().After(deadline) {
					t.Fatal("the abandoned call never took effect")
				}
				time.Sleep(10 * time.Millisecond)
			}
			var sets []fake.Call
			for _, call := range c.Calls() {
				if call.Op == fake.OpSetDesired {
					sets = append(sets, call)
				}
			}
			if len(sets) != 2 || sets[0].To != 4 || sets[1].To != 9 || sets[1].Arrival >= sets[0].Arrival || sets[1].From != 4 {
				t.Fatalf("log %+v: want the call to 4 first in effect order, then the earlier-arrived call to 9 (from 4)", sets)
			}
		})
	}
}

func TestSlowFaultThenProceeds(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	if err := c.InjectFault(fake.Fault{Group: "web", Op: fake.OpSetDesired, Delay: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDesired(context.Background(), "web", 4); err != nil {
		t.Fatalf("a delay-only fault should let the call succeed: %v", err)
	}
	if st := mustState(t, c, "web"); st.Desired != 4 {
		t.Errorf("after a slow SetDesired: %+v", st)
	}
}

func TestConcurrentSetDesired(t *testing.T) {
	c := fake.New(fake.Options{BootDelay: time.Millisecond})
	mustCreate(t, c, "web", 0, 50, 0)
	ctx := context.Background()
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		d := transports(t, c)[w%2].d
		wg.Go(func() {
			for i := range each {
				n := (w*each + i) % 51
				if err := d.SetDesired(ctx, ref("web"), n); err != nil {
					t.Errorf("SetDesired(%d): %v", n, err)
				}
				st, err := d.Describe(ctx, ref("web"))
				if err != nil {
					t.Errorf("Describe: %v", err)
				} else if st.InService+st.Pending != st.Desired {
					t.Errorf("inconsistent state %+v", st)
				}
				_ = c.Groups()
				_ = c.Calls()
			}
		})
	}
	wg.Wait()
	sets := 0
	for _, call := range c.Calls() {
		if call.Op == fake.OpSetDesired {
			sets++
		}
	}
	if sets != workers*each {
		t.Errorf("logged %d SetDesired calls, want %d", sets, workers*each)
	}
}

func TestCreateGroupErrors(t *testing.T) {
	c := fake.New(fake.Options{})
	mustCreate(t, c, "web", 0, 10, 1)
	for _, tc := range []struct {
		name              string
		min, max, desired int
		want              error
	}{
		{"web", 0, 10, 1, cloud.ErrConflict},
		{"", 0, 10, 1, cloud.ErrInvalid},
		{"a", -1, 10, 1, cloud.ErrInvalid},
		{"a", 5, 4, 4, cloud.ErrInvalid},
		{"a", 0, 10, 11, cloud.ErrInvalid},
		{"a", 0, fake.MaxGroupSize + 1, 1, cloud.ErrInvalid},
	} {
		if err := c.CreateGroup(tc.name, tc.min, tc.max, tc.desired); !errors.Is(err, tc.want) {
			t.Errorf("CreateGroup(%q, %d, %d, %d) = %v, want %v", tc.name, tc.min, tc.max, tc.desired, err, tc.want)
		}
	}
}

func TestNewPanicsOnBadOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with DefaultDesired above DefaultMax did not panic")
		}
	}()
	fake.New(fake.Options{AutoCreate: true, DefaultMax: 2, DefaultDesired: 3})
}

// TestDriverActivities: the fake driver's activity record is the resizes
// that took effect and changed the group, newest first, from since on;
// the HTTP client (--fake-cloud) reads the same record from a shared fake
// cloud.
func TestDriverActivities(t *testing.T) {
	type activityDriver interface {
		cloud.Driver
		Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error)
	}
	drivers := map[string]func(t *testing.T, c *fake.Cloud) activityDriver{
		"in process": func(_ *testing.T, c *fake.Cloud) activityDriver { return fake.NewDriver(c) },
		"http": func(t *testing.T, c *fake.Cloud) activityDriver {
			srv := httptest.NewServer(fake.NewHandler(c))
			t.Cleanup(srv.Close)
			return fake.NewClient(srv.URL, srv.Client())
		},
	}
	type step struct {
		group string
		n     int
	}
	cases := []struct {
		name  string
		steps []step
		since time.Duration // after the cloud's start; negative: from the start
		want  [][2]int
	}{
		{"none", nil, -1, nil},
		{"one", []step{{"web", 5}}, -1, [][2]int{{2, 5}}},
		{"newest first, no-ops and other groups left out", []step{{"web", 5}, {"web", 5}, {"api", 7}, {"web", 3}}, -1, [][2]int{{5, 3}, {2, 5}}},
		{"refused resize left out", []step{{"web", 50}, {"web", 4}}, -1, [][2]int{{2, 4}}},
		{"since", []step{{"web", 5}, {"web", 3}}, 90 * time.Second, [][2]int{{5, 3}}},
	}
	for _, tc := range cases {
		for kind, newDriver := range drivers {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
				var mu sync.Mutex
				now := start
				clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
				c := fake.New(fake.Options{AutoCreate: true, DefaultMax: 10, DefaultDesired: 2, Now: clock})
				d := newDriver(t, c)
				ctx := context.Background()
				for _, s := range tc.steps {
					mu.Lock()
					now = now.Add(time.Minute)
					mu.Unlock()
					_ = d.SetDesired(ctx, cloud.GroupRef{Group: s.group}, s.n)
				}
				since := start.Add(tc.since)
				if tc.since < 0 {
					since = start
				}
				acts, err := d.Activities(ctx, cloud.GroupRef{Group: "web"}, since)
				if err != nil {
					t.Fatal(err)
				}
				if len(acts) != len(tc.want) {
					t.Fatalf("activities %+v, want %v", acts, tc.want)
				}
				for i, w := range tc.want {
					if acts[i].From != w[0] || acts[i].To != w[1] || acts[i].Status != cloud.ActivitySuccessful || acts[i].ID == "" {
						t.Errorf("activity %d = %+v, want %d -> %d", i, acts[i], w[0], w[1])
					}
				}
			})
		}
	}
}

// TestHTTPActivitiesRefusesABadSince: the since parameter must be an RFC
// 3339 time; the answer names it.
func TestHTTPActivitiesRefusesABadSince(t *testing.T) {
	c := fake.New(fake.Options{AutoCreate: true})
	srv := httptest.NewServer(fake.NewHandler(c))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/v1/groups/web/activities?since=yesterday")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "since") || !strings.Contains(string(body), "invalid") {
		t.Fatalf("%d %s: want 400 invalid naming since", resp.StatusCode, body)
	}
}
