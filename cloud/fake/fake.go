// Package fake is an in-memory cloud provider: instance groups whose new
// instances become ready after a boot delay, with a call log and fault
// injection. The simulator-like demo, the local 3-node cluster and the
// cluster tests use it instead of a real provider.
//
// The agents of a local cluster are separate processes that must all see the
// same groups, so the fake comes in three pieces: Cloud holds the state;
// Driver is a cloud.Driver over a Cloud in the same process; NewHandler
// serves a Cloud over HTTP and Client is a cloud.Driver that talks to it.
//
// A Cloud's own methods split in two on purpose. SetDesired, like Driver and
// the HTTP driver endpoints, is a provider call: injected faults apply and
// the call is logged. Describe and Groups are an operator's view, for
// assertions: they never fail because of an injected fault, never consume
// one and never add to the call log, so checking the state cannot perturb
// the behaviour under test.
package fake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/emukit"
)

// Operation names, used in the call log and to aim faults.
const (
	// OpDescribe is a provider-side read of a group (Driver.Describe).
	OpDescribe = "describe"
	// OpSetDesired is a resize request (SetDesired).
	OpSetDesired = "set_desired"
)

// DefaultMaxCalls is how many call log entries a Cloud keeps when
// Options.MaxCalls is zero: enough for hours of a local cluster, bounded so
// a long-running fakecloud server does not grow without limit.
const DefaultMaxCalls = emukit.DefaultMaxCalls

// MaxGroupSize bounds a group's max. The fake keeps one entry per instance
// and groups can be created over HTTP, so the bound keeps a typo (or a
// careless client) from allocating gigabytes.
const MaxGroupSize = 100000

// Options configure a Cloud. The zero value is usable: no boot delay, the
// real clock, and unknown groups are ErrNotFound.
type Options struct {
	// BootDelay is how long a new instance is Pending before it is InService.
	BootDelay time.Duration
	// Now is the clock; nil means time.Now. Tests inject a fake clock so
	// boot delays need no sleeping.
	Now func() time.Time
	// AutoCreate makes calls that name an unknown group create it with the
	// Default sizes instead of failing with cloud.ErrNotFound, so a demo
	// need not pre-create every group its policies mention.
	AutoCreate bool
	// DefaultMin, DefaultMax and DefaultDesired size auto-created groups.
	DefaultMin, DefaultMax, DefaultDesired int
	// MaxCalls bounds the call log (oldest entries are dropped); zero
	// means DefaultMaxCalls.
	MaxCalls int
	// OnCall, if set, is called after every logged call, outside the
	// Cloud's lock (so it may call back into the Cloud). The fakecloud
	// command uses it to log resizes as they happen.
	OnCall func(Call)
	// RateLimit throttles provider calls as a real provider's API limits
	// do (the fake is one account): describes take from the read bucket,
	// resizes from the write bucket; a call over the limit fails with
	// cloud.ErrThrottled (HTTP 429 with Retry-After over the wire), is
	// logged with Throttled set and changes nothing. The zero value is no
	// limit.
	RateLimit emukit.RateLimit
}

// Validate reports whether the options are consistent.
func (o Options) Validate() error {
	if o.BootDelay < 0 {
		return fmt.Errorf("boot delay must be >= 0 (got %s)", o.BootDelay)
	}
	if o.MaxCalls < 0 {
		return fmt.Errorf("max calls must be >= 0 (got %d)", o.MaxCalls)
	}
	if err := checkSizes(o.DefaultMin, o.DefaultMax, o.DefaultDesired); err != nil {
		return fmt.Errorf("default group sizes: %w", err)
	}
	return o.RateLimit.Validate()
}

// Call is one entry of the call log: what was asked, by whom, and how it
// ended. Tests read it to prove, for example, that a deposed leader never
// resized a group.
type Call struct {
	// Time is when the call arrived, by the Cloud's clock.
	Time time.Time `json:"time"`
	// Op is OpDescribe, OpDescribeBatch or OpSetDesired.
	Op string `json:"op"`
	// Group is the group name ("" for a batch describe).
	Group string `json:"group"`
	// Groups are the names a batch describe asked for, in order.
	Groups []string `json:"groups,omitempty"`
	// From is the desired size before the call, To the size asked for
	// (for a describe both are the size seen). Both are 0 when the group
	// does not exist.
	From int `json:"from"`
	To   int `json:"to"`
	// Caller is who made the call, from cloud.CallerFrom (zero if unknown).
	Caller cloud.Caller `json:"caller"`
	// Err is the error returned, empty on success.
	Err string `json:"err,omitempty"`
	// Arrival numbers the calls in the order they arrived, from 1; the
	// log itself is in the order they took effect, which differs when a
	// slow call lands after a later one. Done is when it took effect.
	Arrival uint64    `json:"arrival"`
	Done    time.Time `json:"done"`
	// Throttled is true when Options.RateLimit refused the call.
	Throttled bool `json:"throttled,omitempty"`
}

// Fault makes matching calls fail, or answer slowly, a number of times.
type Fault struct {
	// Group limits the fault to one group; "" matches any.
	Group string
	// Op limits the fault to OpDescribe, OpDescribeBatch or OpSetDesired;
	// "" matches all of them. A batch describe matches a fault's Group
	// when it names that group.
	Op string
	// Err is what matching calls return (wrapped): one of the cloud
	// sentinels ErrNotFound, ErrInvalid, ErrThrottled, ErrUnavailable or
	// ErrConflict. Nil with a Delay only slows the calls down.
	Err error
	// Times is how many matching calls the fault affects: 0 means one,
	// a negative value means every matching call until ClearFaults.
	Times int
	// Delay makes matching calls take this long (and then fail with Err,
	// or take effect if Err is nil). A caller that gives up sooner gets its
	// context's error at once, but the call still takes effect when the
	// delay is over, as a request a real provider has received does.
	Delay time.Duration
}

// sentinels are the errors a Fault may inject: the ones the rest of
// Capstan knows how to handle.
var sentinels = []error{cloud.ErrNotFound, cloud.ErrInvalid, cloud.ErrThrottled, cloud.ErrUnavailable, cloud.ErrConflict}

// Validate reports whether the fault can be injected.
func (f Fault) Validate() error {
	switch f.Op {
	case "", OpDescribe, OpDescribeBatch, OpSetDesired:
	default:
		return fmt.Errorf("fault op must be %q, %q, %q or empty (got %q)", OpDescribe, OpDescribeBatch, OpSetDesired, f.Op)
	}
	if f.Err != nil && !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(f.Err, s) }) {
		return fmt.Errorf("fault error must be one of the cloud sentinel errors (got %v)", f.Err)
	}
	if f.Delay < 0 {
		return fmt.Errorf("fault delay must be >= 0 (got %s)", f.Delay)
	}
	if f.Err == nil && f.Delay == 0 {
		return errors.New("fault needs an error, a delay or both")
	}
	return nil
}

// Cloud is an in-memory provider holding named instance groups. It is safe
// for concurrent use.
type Cloud struct {
	opts Options
	now  func() time.Time

	mu      sync.Mutex
	groups  map[string]*group
	faults  emukit.Faults[Fault]
	calls   *emukit.Log[Call]
	limiter *emukit.Limiter
}

// group is one instance group. Instances are kept as their ready times,
// sorted ascending, so the booting ones are always at the end: scale-in
// trims the end, which removes booting instances before ready ones.
type group struct {
	min, max, desired int
	readyAt           []time.Time
	busy              bool
}

// New returns an empty Cloud. It panics if opts are invalid (see
// Options.Validate), which is a programming error; commands taking the
// options from flags validate them first.
func New(opts Options) *Cloud {
	if err := opts.Validate(); err != nil {
		panic("fake.New: " + err.Error())
	}
	if opts.MaxCalls == 0 {
		opts.MaxCalls = DefaultMaxCalls
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Cloud{opts: opts, now: now, groups: make(map[string]*group), calls: emukit.NewLog[Call](opts.MaxCalls),
		limiter: emukit.NewLimiter(opts.RateLimit)}
}

// CreateGroup adds a group whose desired instances are all ready at once:
// a group that exists before the demo starts has long since booted. It
// fails with cloud.ErrInvalid for bad sizes and cloud.ErrConflict if the
// group exists.
func (c *Cloud) CreateGroup(name string, min, max, desired int) error {
	if name == "" {
		return fmt.Errorf("fake cloud: group name must not be empty: %w", cloud.ErrInvalid)
	}
	if err := checkSizes(min, max, desired); err != nil {
		return fmt.Errorf("fake cloud: group %q: %v: %w", name, err, cloud.ErrInvalid)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.groups[name]; ok {
		return fmt.Errorf("fake cloud: group %q already exists: %w", name, cloud.ErrConflict)
	}
	c.groups[name] = newGroup(min, max, desired, c.now())
	return nil
}

// Describe returns a group's state without going through the provider-call
// path: no faults, no call log, no auto-creation (see the package comment).
func (c *Cloud) Describe(name string) (cloud.GroupState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[name]
	if !ok {
		return cloud.GroupState{}, notFound(name)
	}
	return g.state(c.now()), nil
}

// Groups returns the state of every group, keyed by name.
func (c *Cloud) Groups() map[string]cloud.GroupState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make(map[string]cloud.GroupState, len(c.groups))
	for name, g := range c.groups {
		out[name] = g.state(now)
	}
	return out
}

// SetDesired resizes a group as a provider call: faults apply, the call is
// logged with the caller from ctx, and an unknown group is auto-created if
// the options say so. New instances boot for BootDelay; scale-in removes
// booting instances first, then ready ones, at once. A size outside
// [min, max] fails with cloud.ErrInvalid, as AWS's ValidationError does,
// rather than being clamped: clamping is the control plane's job, and a
// fake that clamped would hide bugs there. Asking for the current desired
// size succeeds without touching the instances.
func (c *Cloud) SetDesired(ctx context.Context, name string, n int) error {
	_, err := c.call(ctx, OpSetDesired, name, n)
	return err
}

// describe is Describe as a provider call, used by Driver and the HTTP
// handler.
func (c *Cloud) describe(ctx context.Context, name string) (cloud.GroupState, error) {
	return c.call(ctx, OpDescribe, name, 0)
}

// call runs one provider call on one group (see provide).
func (c *Cloud) call(ctx context.Context, op, name string, n int) (cloud.GroupState, error) {
	caller, _ := cloud.CallerFrom(ctx)
	entry := Call{Time: c.now(), Op: op, Group: name, To: n, Caller: caller}
	match := func(f Fault) bool { return (f.Group == "" || f.Group == name) && (f.Op == "" || f.Op == op) }
	var st cloud.GroupState
	err := c.provide(ctx, &entry, match, func(f *Fault) error {
		if f != nil && f.Err != nil {
			if g, ok := c.groups[name]; ok {
				entry.From = g.desired
				if op == OpDescribe {
					entry.To = g.desired
				}
			}
			return fmt.Errorf("fake cloud: injected fault on %s of group %q: %w", op, name, f.Err)
		}
		var err error
		st, err = c.apply(op, name, n, &entry)
		return err
	})
	if err != nil {
		return cloud.GroupState{}, err
	}
	return st, nil
}

// provide runs one provider call. A call whose context is already done
// never reaches the provider: it leaves the faults for the calls that do,
// and is not logged. Otherwise the call is numbered, rate limited (see
// throttle) and matched against the faults; then work runs under the lock,
// given the fault taken (nil if none), and the call is logged with work's
// error. With a fault's delay that happens after it (emukit.Slow), even if
// the caller gives up first, and the delay is waited out without the lock
// so a slow call does not stall the others.
func (c *Cloud) provide(ctx context.Context, entry *Call, match func(Fault) bool, work func(f *Fault) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	entry.Arrival = c.calls.Arrive()
	if err := c.throttle(entry); err != nil {
		return err
	}
	f, faulty := c.faults.Take(match)
	var taken *Fault
	if faulty {
		taken = &f
	}
	effect := func() error {
		c.mu.Lock()
		err := work(taken)
		if err != nil {
			entry.Err = err.Error()
		}
		entry.Done = c.now()
		c.calls.Done(entry.Arrival, *entry)
		c.mu.Unlock()
		if c.opts.OnCall != nil {
			c.opts.OnCall(*entry)
		}
		return err
	}
	if !faulty || f.Delay == 0 {
		return effect()
	}
	if _, err := emukit.Slow(ctx, f.Delay, effect); err != nil {
		if ctx.Err() != nil {
			return ctxErr(ctx)
		}
		return err
	}
	return nil
}

// apply performs op on the group and fills in the log entry's sizes; the
// caller holds the lock.
func (c *Cloud) apply(op, name string, n int, entry *Call) (cloud.GroupState, error) {
	now := c.now()
	g, ok := c.groups[name]
	if !ok {
		if !c.opts.AutoCreate {
			return cloud.GroupState{}, notFound(name)
		}
		g = newGroup(c.opts.DefaultMin, c.opts.DefaultMax, c.opts.DefaultDesired, now)
		c.groups[name] = g
	}
	entry.From = g.desired
	if op == OpDescribe {
		entry.To = g.desired
		return g.state(now), nil
	}
	switch {
	case g.busy:
		return cloud.GroupState{}, fmt.Errorf("fake cloud: group %q has a scaling activity in progress: %w", name, cloud.ErrConflict)
	case n > g.max:
		return cloud.GroupState{}, fmt.Errorf("fake cloud: new desired capacity %d is above max value %d for group %q: %w", n, g.max, name, cloud.ErrInvalid)
	case n < g.min:
		return cloud.GroupState{}, fmt.Errorf("fake cloud: new desired capacity %d is below min value %d for group %q: %w", n, g.min, name, cloud.ErrInvalid)
	}
	g.resize(n, now.Add(c.opts.BootDelay))
	return g.state(now), nil
}

// InjectFault queues a fault. Faults are tried in the order injected; a
// call consumes at most one. It fails with cloud.ErrInvalid if the fault is
// invalid (see Fault.Validate).
func (c *Cloud) InjectFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("fake cloud: %v: %w", err, cloud.ErrInvalid)
	}
	c.faults.Add(f, f.Times)
	return nil
}

// ClearFaults drops every queued fault, including unlimited ones.
func (c *Cloud) ClearFaults() { c.faults.Clear() }

// SetBusy marks a group as having a scaling activity in progress: Describe
// reports Busy and SetDesired fails with cloud.ErrConflict until it is
// cleared, as providers refuse a resize while one is under way. It fails
// with cloud.ErrNotFound for an unknown group.
func (c *Cloud) SetBusy(name string, busy bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[name]
	if !ok {
		return notFound(name)
	}
	g.busy = busy
	return nil
}

// Calls returns a copy of the call log in the order the calls took effect,
// oldest first; each entry's Arrival says where it stood in arrival order.
func (c *Cloud) Calls() []Call { return c.calls.Calls() }

// Arrivals is how many driver calls have reached the fake, including slow
// ones that have not taken effect yet (Calls lists only those that have).
func (c *Cloud) Arrivals() uint64 { return c.calls.Arrivals() }

func newGroup(min, max, desired int, now time.Time) *group {
	g := &group{min: min, max: max}
	g.resize(desired, now)
	return g
}

// resize sets the desired size; new instances are ready at readyAt.
func (g *group) resize(n int, readyAt time.Time) {
	g.desired = n
	for len(g.readyAt) < n {
		g.readyAt = append(g.readyAt, readyAt)
	}
	// Sorting keeps booting instances last even if an injected clock went
	// backwards between resizes.
	slices.SortFunc(g.readyAt, func(a, b time.Time) int { return a.Compare(b) })
	g.readyAt = g.readyAt[:n]
}

func (g *group) state(now time.Time) cloud.GroupState {
	ready := 0
	for _, t := range g.readyAt {
		if !t.After(now) {
			ready++
		}
	}
	return cloud.GroupState{
		Desired:   g.desired,
		Min:       g.min,
		Max:       g.max,
		InService: ready,
		Pending:   len(g.readyAt) - ready,
		Busy:      g.busy,
	}
}

func checkSizes(min, max, desired int) error {
	switch {
	case min < 0:
		return fmt.Errorf("min must be >= 0 (got %d)", min)
	case max < min:
		return fmt.Errorf("max must be >= min (got min %d, max %d)", min, max)
	case max > MaxGroupSize:
		return fmt.Errorf("max must be <= %d (got %d)", MaxGroupSize, max)
	case desired < min || desired > max:
		return fmt.Errorf("desired must be within [min %d, max %d] (got %d)", min, max, desired)
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("fake cloud: group %q not found: %w", name, cloud.ErrNotFound)
}

// ctxErr maps a finished context to the error a real client reports for a
// timed-out or abandoned call: unavailable (worth retrying, if the caller
// still wants to), while still matching context.Canceled or
// context.DeadlineExceeded.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake cloud: call abandoned: %w: %w", cloud.ErrUnavailable, err)
	}
	return nil
}
