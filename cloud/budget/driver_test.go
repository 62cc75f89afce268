package budget_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/metrics/promtest"
)

// recorder is an in-memory driver that counts its calls and answers each
// with the next queued error (nil once the queue is empty). A group's
// desired size is the length of its name, so answers can be told apart.
type recorder struct {
	mu    sync.Mutex
	errs  []error
	calls []string
	pages [][]string
}

func (r *recorder) pop(call string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	if len(r.errs) == 0 {
		return nil
	}
	err := r.errs[0]
	r.errs = r.errs[1:]
	return err
}

func (r *recorder) count(call string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (r *recorder) Describe(_ context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	if err := r.pop("describe"); err != nil {
		return cloud.GroupState{}, err
	}
	return cloud.GroupState{Desired: len(g.Group)}, nil
}

func (r *recorder) SetDesired(context.Context, cloud.GroupRef, int) error {
	return r.pop("set_desired")
}

// batchRecorder also describes in batches, and records each batch's groups.
type batchRecorder struct{ *recorder }

func (b batchRecorder) DescribeBatch(_ context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	names := make([]string, len(refs))
	for i, g := range refs {
		names[i] = g.Group
	}
	b.mu.Lock()
	b.pages = append(b.pages, names)
	b.mu.Unlock()
	if err := b.pop("describe_batch"); err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	for i, g := range refs {
		out[i].State.Desired = len(g.Group)
	}
	return out, nil
}

// activityRecorder keeps an activity record.
type activityRecorder struct{ *recorder }

func (a activityRecorder) Activities(context.Context, cloud.GroupRef, time.Time) ([]cloud.Activity, error) {
	return []cloud.Activity{{ID: "a1"}}, a.pop("activities")
}

// clock is a time source a test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

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

func newBudget(t *testing.T, opts budget.Options) (*budget.Budget, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	b, err := budget.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, reg
}

// value is the value of the series of name with exactly labels, or NaN.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	if v, ok := promtest.Value(t, reg, name, labels); ok {
		return v
	}
	return math.NaN()
}

func calls(t *testing.T, reg *prometheus.Registry, provider, op, result string) float64 {
	t.Helper()
	v := value(t, reg, "capstan_cloud_calls_total", map[string]string{"provider": provider, "op": op, "result": result})
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func awsRef(group, region string) cloud.GroupRef {
	return cloud.GroupRef{Provider: "aws", Group: group, Region: region}
}

func TestWrapKeepsTheDriversExtensions(t *testing.T) {
	b, _ := newBudget(t, budget.Options{})
	cases := []struct {
		name      string
		d         cloud.Driver
		batch     bool
		activties bool
	}{
		{"plain", &recorder{}, false, false},
		{"batch", batchRecorder{&recorder{}}, true, false},
		{"activities", activityRecorder{&recorder{}}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := b.Wrap("aws", tc.d)
			if _, ok := w.(cloud.BatchDescriber); ok != tc.batch {
				t.Errorf("wrapped driver is a BatchDescriber: %v, want %v", ok, tc.batch)
			}
			ar, ok := w.(interface {
				Activities(context.Context, cloud.GroupRef, time.Time) ([]cloud.Activity, error)
			})
			if !ok {
				t.Fatal("the wrapped driver has no Activities")
			}
			acts, err := ar.Activities(context.Background(), awsRef("g", "us-east-1"), time.Time{})
			if tc.activties {
				if err != nil || len(acts) != 1 {
					t.Errorf("Activities = %v, %v; want the wrapped driver's one activity", acts, err)
				}
			} else if !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("Activities of a driver with no record: %v, want errors.ErrUnsupported", err)
			}
		})
	}
}

// TestThrottleAnswers checks AIMD through the decorator: the provider's
// throttle answers cut the read rate, its successes grow it back (the
// clock moves a second per call), and every call is counted by result.
func TestThrottleAnswers(t *testing.T) {
	throttled := fmt.Errorf("Rate exceeded: %w", cloud.ErrThrottled)
	cases := []struct {
		name     string
		answers  []error // the provider's answers to consecutive describes
		wantRate float64
		want     map[string]float64 // calls by result
	}{
		{"one throttle halves", []error{throttled}, 10, map[string]float64{"throttled": 1}},
		{"two throttles quarter", []error{throttled, throttled}, 5, map[string]float64{"throttled": 2}},
		{"successes grow back by a twentieth of 20 a second", []error{throttled, throttled, nil, nil}, 7, map[string]float64{"throttled": 2, "ok": 2}},
		{"other errors leave the rate alone", []error{throttled, cloud.ErrNotFound, cloud.ErrUnavailable}, 10, map[string]float64{"throttled": 1, "error": 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			b, reg := newBudget(t, budget.Options{Read: budget.Rates{"aws": 20}, Now: clk.Now})
			rec := &recorder{errs: slices.Clone(tc.answers)}
			d := b.Wrap("aws", rec)
			for range tc.answers {
				clk.Advance(time.Second)
				_, _ = d.Describe(context.Background(), awsRef("web", "us-east-1"))
			}
			labels := map[string]string{"provider": "aws", "scope": "us-east-1", "bucket": "read"}
			if got := value(t, reg, "capstan_cloud_budget_rate", labels); math.Abs(got-tc.wantRate) > 1e-9 {
				t.Errorf("read rate %g, want %g", got, tc.wantRate)
			}
			if got := value(t, reg, "capstan_cloud_budget_configured_rate", labels); got != 20 {
				t.Errorf("configured rate %g, want 20", got)
			}
			for _, result := range []string{"ok", "throttled", "error", "budget_wait_exceeded"} {
				if got := calls(t, reg, "aws", "describe", result); got != tc.want[result] {
					t.Errorf("calls{result=%s} = %g, want %g", result, got, tc.want[result])
				}
			}
			if rec.count("describe") != len(tc.answers) {
				t.Errorf("%d describes reached the provider, want %d", rec.count("describe"), len(tc.answers))
			}
		})
	}
}

// TestConcurrentThrottlesCutOnce: calls sent together and throttled
// together are one overload, and cut the rate once.
func TestConcurrentThrottlesCutOnce(t *testing.T) {
	b, reg := newBudget(t, budget.Options{Read: budget.Rates{"gcp": 40}})
	release := make(chan struct{})
	var arrived sync.WaitGroup
	slow := &blockingDriver{release: release, arrived: &arrived}
	d := b.Wrap("gcp", slow)
	const n = 8
	arrived.Add(n)
	var done sync.WaitGroup
	for range n {
		done.Go(func() {
			_, _ = d.Describe(context.Background(), cloud.GroupRef{Provider: "gcp", Project: "p", Zone: "z", Group: "g"})
		})
	}
	arrived.Wait() // all eight were granted before any answer
	close(release)
	done.Wait()
	labels := map[string]string{"provider": "gcp", "scope": "p", "bucket": "read"}
	if got := value(t, reg, "capstan_cloud_budget_rate", labels); got != 20 {
		t.Errorf("read rate %g after %d simultaneous throttles, want 20 (one cut)", got, n)
	}
	if got := calls(t, reg, "gcp", "describe", "throttled"); got != n {
		t.Errorf("throttled calls %g, want %d", got, n)
	}
}

// blockingDriver holds every describe until release, then throttles it.
type blockingDriver struct {
	release chan struct{}
	arrived *sync.WaitGroup
}

func (b *blockingDriver) Describe(context.Context, cloud.GroupRef) (cloud.GroupState, error) {
	b.arrived.Done()
	<-b.release
	return cloud.GroupState{}, cloud.ErrThrottled
}

func (b *blockingDriver) SetDesired(context.Context, cloud.GroupRef, int) error { return nil }

// TestResizeWithoutToken: a resize that cannot get a write token before
// its deadline is not sent, fails with ErrWaitExceeded at once, and is
// neither retried by cloud.Retrying nor reported as a context error (which
// the control plane would hold in doubt).
func TestResizeWithoutToken(t *testing.T) {
	b, reg := newBudget(t, budget.Options{Write: budget.Rates{"aws": 0.1}})
	rec := &recorder{}
	d := cloud.NewRetrying(b.Wrap("aws", rec), cloud.RetryOptions{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1, MaxTries: 5})
	g := awsRef("web", "us-east-1")
	if err := d.SetDesired(context.Background(), g, 3); err != nil {
		t.Fatalf("first resize (the bucket's one token): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.SetDesired(ctx, g, 4)
	if !errors.Is(err, budget.ErrWaitExceeded) {
		t.Fatalf("second resize: %v, want ErrWaitExceeded", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, cloud.ErrThrottled) {
		t.Errorf("error %v wraps a context error or ErrThrottled", err)
	}
	if ctx.Err() != nil {
		t.Error("the resize waited until its deadline instead of failing at once")
	}
	if got := rec.count("set_desired"); got != 1 {
		t.Errorf("%d resizes reached the provider, want 1", got)
	}
	if got := calls(t, reg, "aws", "set_desired", "budget_wait_exceeded"); got != 1 {
		t.Errorf("budget_wait_exceeded calls %g, want 1 (a retry would count more)", got)
	}
	for _, want := range []string{"aws", "us-east-1", "write", "deadline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestDescribeBatch: unmetered, a batch goes in pages of PageSize groups
// of one scope, a token of the scope's budget and a call of the wrapped
// driver each, the answers kept in the order of refs; a page whose call
// fails fails its own groups, and the call fails as a whole only when
// every page did.
func TestDescribeBatch(t *testing.T) {
	throttled := fmt.Errorf("Rate exceeded: %w", cloud.ErrThrottled)
	mkRefs := func(n int, region string) []cloud.GroupRef {
		var out []cloud.GroupRef
		for i := range n {
			out = append(out, awsRef(fmt.Sprintf("%s-g%d", region, i), region))
		}
		return out
	}
	interleave := func(a, b []cloud.GroupRef) []cloud.GroupRef {
		var out []cloud.GroupRef
		for i := range max(len(a), len(b)) {
			if i < len(a) {
				out = append(out, a[i])
			}
			if i < len(b) {
				out = append(out, b[i])
			}
		}
		return out
	}
	cases := []struct {
		name       string
		refs       []cloud.GroupRef
		answers    []error
		wantCalls  []int              // groups per call of the wrapped driver
		wantTokens map[string]float64 // tokens spent per region
		wantErr    bool               // the whole call fails
		failed     int                // groups with an error
	}{
		{name: "one region: pages of 100, a token each", refs: mkRefs(250, "us-east-1"),
			wantCalls: []int{100, 100, 50}, wantTokens: map[string]float64{"us-east-1": 3}},
		{name: "two regions: pages and a budget each", refs: interleave(mkRefs(120, "us-east-1"), mkRefs(30, "eu-west-1")),
			wantCalls: []int{100, 20, 30}, wantTokens: map[string]float64{"us-east-1": 2, "eu-west-1": 1}},
		{name: "a throttled page fails its groups only", refs: mkRefs(250, "us-east-1"),
			answers: []error{nil, throttled}, wantCalls: []int{100, 100, 50}, wantTokens: map[string]float64{"us-east-1": 3}, failed: 100},
		{name: "a throttled region fails its groups only", refs: interleave(mkRefs(20, "us-east-1"), mkRefs(30, "eu-west-1")),
			answers: []error{nil, throttled}, wantCalls: []int{20, 30}, wantTokens: map[string]float64{"us-east-1": 1, "eu-west-1": 1}, failed: 30},
		{name: "every region failed: the call fails", refs: interleave(mkRefs(2, "us-east-1"), mkRefs(3, "eu-west-1")),
			answers: []error{throttled, cloud.ErrUnavailable}, wantCalls: []int{2, 3}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, reg := newBudget(t, budget.Options{})
			rec := &recorder{errs: slices.Clone(tc.answers)}
			out, err := b.Wrap("aws", batchRecorder{rec}).(cloud.BatchDescriber).DescribeBatch(context.Background(), tc.refs)
			var sizes []int
			for _, p := range rec.pages {
				sizes = append(sizes, len(p))
			}
			if !slices.Equal(sizes, tc.wantCalls) {
				t.Errorf("calls of %v groups, want %v", sizes, tc.wantCalls)
			}
			for region, want := range tc.wantTokens {
				if got := value(t, reg, "capstan_cloud_budget_tokens_total", map[string]string{"provider": "aws", "scope": region, "bucket": "read"}); got != want {
					t.Errorf("%s: %g tokens spent, want %g", region, got, want)
				}
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("want the whole call to fail")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for i, d := range out {
				switch {
				case d.Err != nil:
					failed++
					if !errors.Is(d.Err, cloud.ErrThrottled) {
						t.Errorf("group %d: %v, want its region's throttle", i, d.Err)
					}
				case d.State.Desired != len(tc.refs[i].Group):
					t.Errorf("group %d (%s): desired %d, another group's answer", i, tc.refs[i].Group, d.State.Desired)
				}
			}
			if failed != tc.failed {
				t.Errorf("%d groups failed, want %d", failed, tc.failed)
			}
		})
	}
}

// TestUnlimited: the fake provider has no budget: nothing waits, no
// bucket series is exported, calls are still counted.
func TestUnlimited(t *testing.T) {
	b, reg := newBudget(t, budget.Options{})
	d := b.Wrap("fake", &recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for range 1000 {
		if err := d.SetDesired(ctx, cloud.GroupRef{Provider: "fake", Group: "g"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls(t, reg, "fake", "set_desired", "ok"); got != 1000 {
		t.Errorf("counted %g calls, want 1000", got)
	}
	if v := value(t, reg, "capstan_cloud_budget_rate", map[string]string{"provider": "fake", "scope": "", "bucket": "write"}); !math.IsNaN(v) {
		t.Errorf("an unlimited bucket exports a rate of %g", v)
	}
}

func TestScope(t *testing.T) {
	cases := []struct {
		g    cloud.GroupRef
		want string
	}{
		{cloud.GroupRef{Provider: "aws", Group: "g", Region: "eu-west-1"}, "eu-west-1"},
		{cloud.GroupRef{Provider: "gcp", Project: "p1", Zone: "europe-west1-b", Group: "g"}, "p1"},
		{cloud.GroupRef{Provider: "gcp", Project: "p1", Region: "europe-west1", Group: "g"}, "p1"},
		{cloud.GroupRef{Provider: "azure", Subscription: "s1", ResourceGroup: "rg", ScaleSet: "ss"}, "s1"},
		{cloud.GroupRef{Provider: "fake", Group: "g"}, ""},
	}
	for _, tc := range cases {
		if got := budget.Scope(tc.g); got != tc.want {
			t.Errorf("Scope(%v) = %q, want %q", tc.g, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		opts budget.Options
		want string
	}{
		{"unknown provider", budget.Options{Read: budget.Rates{"oracle": 1}}, `read rate of provider "oracle": unknown provider (known: aws, azure, fake, gcp)`},
		{"negative rate", budget.Options{Write: budget.Rates{"aws": -1}}, `write rate of provider "aws": must be a finite number`},
		{"NaN rate", budget.Options{Read: budget.Rates{"gcp": math.NaN()}}, `read rate of provider "gcp": must be a finite number`},
		{"infinite rate", budget.Options{Read: budget.Rates{"gcp": math.Inf(1)}}, `read rate of provider "gcp": must be a finite number`},
		{"decrease of 1", budget.Options{Decrease: 1}, "decrease: must be between 0 and 1"},
		{"increase above 1", budget.Options{Increase: 2}, "increase: must be above 0 and at most 1"},
		{"negative floor", budget.Options{Floor: -0.1}, "floor: must be above 0 and at most 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := budget.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Overrides replace one bucket and leave the rest at the defaults.
	b, err := budget.New(budget.Options{Read: budget.Rates{"aws": 30}, Write: budget.Rates{"gcp": 0}})
	if err != nil {
		t.Fatal(err)
	}
	aws, _ := b.Provider("aws")
	gcp, _ := b.Provider("gcp")
	def := budget.Defaults()
	if aws.Read != 30 || aws.Write != def["aws"].Write || gcp.Write != 0 || gcp.Read != def["gcp"].Read {
		t.Errorf("aws %g/%g, gcp %g/%g: overrides not applied as given", aws.Read, aws.Write, gcp.Read, gcp.Write)
	}
}

// TestAssumeSpent: after AssumeSpent (a new leader taking over the
// account's calls) an account's buckets hold only what they refilled
// since, whether the account was used before or is first used after it;
// without it a bucket starts full. The clock starts at the real time and
// only moves ahead, so that a deadline set on it is in the future: a call
// whose token is not there when it asks is refused at once.
func TestAssumeSpent(t *testing.T) {
	cases := []struct {
		name string
		// usedBefore: the account made a call before AssumeSpent.
		usedBefore, assume bool
		after              time.Duration // the clock moves this far after AssumeSpent
		wantReads          int           // reads that get a token at once (rate 10/s, bucket 10)
		wantWrites         int           // writes (rate 4/s, bucket 4)
	}{
		{"a used account is emptied", true, true, 0, 0, 0},
		{"a used account refills from then", true, true, 500 * time.Millisecond, 5, 2},
		{"an account first used later starts from then", false, true, 500 * time.Millisecond, 5, 2},
		{"and is full once a second has passed", false, true, 2 * time.Second, 10, 4},
		{"without AssumeSpent a new account starts full", false, false, 0, 10, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			b, _ := newBudget(t, budget.Options{Read: budget.Rates{"aws": 10}, Write: budget.Rates{"aws": 4}, Now: clk.Now})
			d := b.Wrap("aws", &recorder{})
			g := awsRef("web", "us-east-1")
			if tc.usedBefore {
				if _, err := d.Describe(context.Background(), g); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Minute) // full again
			}
			if tc.assume {
				b.AssumeSpent()
			}
			clk.Advance(tc.after)
			// at once counts the calls that get a token without waiting:
			// each has 50 ms by the budget's clock, less than a token's
			// refill at either rate.
			atOnce := func(call func(context.Context) error) int {
				for n := 0; n < 20; n++ {
					ctx, cancel := context.WithDeadline(context.Background(), clk.Now().Add(50*time.Millisecond))
					err := call(ctx)
					cancel()
					if errors.Is(err, budget.ErrWaitExceeded) {
						return n
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				return 20
			}
			reads := atOnce(func(ctx context.Context) error { _, err := d.Describe(ctx, g); return err })
			writes := atOnce(func(ctx context.Context) error { return d.SetDesired(ctx, g, 3) })
			if reads != tc.wantReads || writes != tc.wantWrites {
				t.Errorf("%d reads and %d writes at once, want %d and %d", reads, writes, tc.wantReads, tc.wantWrites)
			}
		})
	}
}
