// Package budget keeps Capstan's cloud calls within a per-account call
// budget, so that a control plane describing ten thousand groups does not
// exhaust the provider's API rate limit, which it shares with everything
// else in the account.
//
// A Budget holds, per provider account (and region where the provider
// counts per region), one token bucket for reads and one for writes.
// WrapMetered decorates a cloud.Driver whose HTTP client sends through
// Budget.Transport, which takes a token per request; Wrap decorates one
// that makes a request per call, and takes a token per call (a batch: per
// page). A call that cannot get its token before its context's deadline
// fails with ErrWaitExceeded without being sent. Three priorities share
// an account: writes go before reads when both wait, and foreground reads
// before background reads (Background: the leader's periodic refresh),
// which take only the tokens nobody else is waiting for, in the order
// they asked. A throttle answer from the provider (cloud.ErrThrottled)
// cuts the bucket's rate multiplicatively and empties it; while calls
// succeed the rate grows back by a fixed step per second up to the
// configured rate (AIMD). The buckets are golang.org/x/time/rate
// limiters; the package moves their limits. The budget is the process's,
// the provider's limit the account's: a process taking over another's
// calls (a new leader) calls AssumeSpent, so that it starts with empty
// buckets, as the provider's are after the old leader's calls.
//
// The decorator sits under cloud.Retrying, so each retry of a throttled
// call takes a token again, at the rate the throttle cut.
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud"
)

// backgroundKey marks a context whose calls' reads are background reads.
type backgroundKey struct{}

// Background returns ctx with its calls' reads marked as background: the
// leader's periodic refresh of every group's state, which no evaluation
// is waiting for. A background read takes a token only when one is there
// and no write or other read waits for one, and never reserves one ahead,
// so it delays a foreground read (a resize's own reads, a settle, an
// evaluation's describe) by at most one token's refill. Writes under ctx
// are not affected: writes always go first.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx comes from Background.
func IsBackground(ctx context.Context) bool {
	bg, _ := ctx.Value(backgroundKey{}).(bool)
	return bg
}

// ErrWaitExceeded means the call budget had no token for a call before
// its caller's deadline (or the caller gave up waiting). The call was not
// sent, so its outcome is known: nothing happened. It deliberately wraps
// neither cloud.ErrThrottled (cloud.Retrying would retry a wait the
// deadline already rules out) nor the context's error (the control plane
// reads a wrapped deadline as "the request may have landed": in doubt).
var ErrWaitExceeded = errors.New("cloud budget: no call token before the deadline")

// Provider is a provider's budget.
type Provider struct {
	// Read and Write are the configured rates of the read and write
	// buckets, in calls per second per scope; 0 means unlimited. Each
	// bucket holds one second's worth of calls (at least one call).
	Read, Write float64
	// PageSize is how many groups a driver describes with one provider
	// call, for a driver the budget does not meter by its requests
	// (Wrap): a batch goes in pages of PageSize groups, a token each.
	PageSize int
}

// Scope is the account (and region) a group's calls count against at its
// provider: the region for AWS (the agent's credentials are one account,
// and Auto Scaling throttles per account and Region), the project for GCP
// (Compute Engine rate quotas are per project), the subscription for
// Azure (Resource Manager throttles per subscription; this budget cannot
// tell which Resource Manager region serves a call, so it counts the
// whole subscription together, the conservative choice). Other providers
// have one scope.
func Scope(g cloud.GroupRef) string {
	switch g.Provider {
	case "aws":
		return g.Region
	case "gcp":
		return g.Project
	case "azure":
		return g.Subscription
	default:
		return ""
	}
}

// Defaults returns the providers' default budgets. They are deliberately
// a fraction of the published limits, because the limit is shared with
// every other client of the account (consoles, CLIs, CI, other
// controllers):
//
//   - aws: 10 reads/s and 5 writes/s per Region. EC2 Auto Scaling
//     throttles with a token bucket per account and Region, one bucket
//     shared by all its actions ("Amazon EC2 Auto Scaling API Reference",
//     section "API request rate"; the AWS re:Post article "How do I keep
//     my Auto Scaling API calls from being throttled?"), and publishes
//     neither the bucket's size nor its refill rate: the defaults are a
//     guess kept low, 15 calls/s for both buckets together; AWS's
//     CloudWatch usage metrics (AWS/Usage, service AutoScaling) show what
//     an account really uses before raising them.
//   - gcp: 10 reads/s and 5 writes/s per project. Compute Engine's rate
//     quotas are per project per minute, by default 1,500 read (get),
//     1,500 list and 1,500 mutation requests a minute, 25/s each
//     ("Compute Engine rate quotas", cloud.google.com/compute/api-quota);
//     the budget's read bucket serves gets and lists together.
//   - azure: 10 reads/s and 5 writes/s per subscription. Azure Resource
//     Manager's token buckets hold 250 reads refilled at 25/s and 200
//     writes refilled at 10/s per subscription, region and principal
//     ("Understand how Azure Resource Manager throttles requests",
//     Microsoft Learn), and the compute resource provider adds per-minute
//     limits per subscription, region and resource ("Compute throttling
//     limits", Microsoft Learn).
//   - fake: unlimited.
//
// PageSize matters only to Wrap (drivers the budget does not meter by
// their requests): AWS's limit of 100 names per DescribeAutoScalingGroups
// (with MaxRecords 100, as the AWS driver sends it),
// GCP's 500 results per list page, the fake cloud's 100 names per call;
// Azure's 1 is never used (its driver is metered per request).
func Defaults() map[string]Provider {
	return map[string]Provider{
		"aws":   {Read: 10, Write: 5, PageSize: 100},
		"gcp":   {Read: 10, Write: 5, PageSize: 500},
		"azure": {Read: 10, Write: 5, PageSize: 1},
		"fake":  {PageSize: 100},
	}
}

// Options configure a Budget. The zero value gives every provider its
// default budget and registers no metrics.
type Options struct {
	// Read and Write override the default rates per provider (calls per
	// second; 0: unlimited); a provider they leave out keeps its default.
	Read, Write Rates
	// Registerer receives the budget's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives a record each time a throttle cuts a rate; nil
	// discards them.
	Logger *slog.Logger
	// Decrease multiplies a bucket's rate on a throttle answer; 0 means
	// DefaultDecrease. It must be in (0, 1).
	Decrease float64
	// Increase is the fraction of the configured rate the rate grows back
	// by per second while calls succeed; 0 means DefaultIncrease. It must
	// be in (0, 1].
	Increase float64
	// Floor is the fraction of the configured rate that throttles never
	// cut below; 0 means DefaultFloor. It must be in (0, 1].
	Floor float64
	// DetachedWait bounds the wait for a token of a request that carries
	// no caller's deadline (see Budget.Transport); 0 means
	// DefaultDetachedWait.
	DetachedWait time.Duration
	// Now is the clock the buckets fill and grow by; nil means time.Now.
	// Tests pass one they move, so that growth is exact. (Waits are
	// real timers whatever the clock.)
	Now func() time.Time
}

// The AIMD defaults: a throttle halves the rate, which then grows back by a
// twentieth of the configured rate per second of successful calls (from
// half to full in ten seconds, from the floor in nineteen), and never
// drops below a twentieth of the configured rate (the providers refill
// their buckets continuously, so a twentieth still gets calls through).
const (
	DefaultDecrease = 0.5
	DefaultIncrease = 0.05
	DefaultFloor    = 0.05
)

// DefaultDetachedWait is how long a request without a deadline of its own
// waits for a token at most: the agent's default --cloud-timeout.
const DefaultDetachedWait = 10 * time.Second

// Budget is the call budget of every provider account the agent calls. It
// is safe for concurrent use.
type Budget struct {
	providers map[string]Provider
	aimd      aimdConfig
	m         *metrics
	log       *slog.Logger
	now       func() time.Time
	// detachedWait bounds the token wait of a request without a deadline.
	detachedWait time.Duration

	mu       sync.Mutex
	accounts map[[2]string]*account
	// spentAt is when AssumeSpent was last called (zero: never): an
	// account first used after it starts with what its buckets refilled
	// since then, not full.
	spentAt time.Time
}

// New checks opts and returns a Budget; its metrics are registered on
// opts.Registerer.
func New(opts Options) (*Budget, error) {
	providers := Defaults()
	for _, o := range []struct {
		name  string
		rates Rates
		set   func(*Provider, float64)
	}{
		{"read", opts.Read, func(p *Provider, r float64) { p.Read = r }},
		{"write", opts.Write, func(p *Provider, r float64) { p.Write = r }},
	} {
		for _, name := range slices.Sorted(maps.Keys(o.rates)) {
			p, ok := providers[name]
			if !ok {
				return nil, fmt.Errorf("%s rate of provider %q: unknown provider (known: %s)", o.name, name, knownProviders(providers))
			}
			r := o.rates[name]
			if err := checkRate(r); err != nil {
				return nil, fmt.Errorf("%s rate of provider %q: %w", o.name, name, err)
			}
			o.set(&p, r)
			providers[name] = p
		}
	}
	c := aimdConfig{decrease: opts.Decrease, increase: opts.Increase, floor: opts.Floor}
	if c.decrease == 0 {
		c.decrease = DefaultDecrease
	}
	if c.increase == 0 {
		c.increase = DefaultIncrease
	}
	if c.floor == 0 {
		c.floor = DefaultFloor
	}
	switch {
	case !(c.decrease > 0 && c.decrease < 1):
		return nil, fmt.Errorf("decrease: must be between 0 and 1, exclusive (got %g)", c.decrease)
	case !(c.increase > 0 && c.increase <= 1):
		return nil, fmt.Errorf("increase: must be above 0 and at most 1 (got %g)", c.increase)
	case !(c.floor > 0 && c.floor <= 1):
		return nil, fmt.Errorf("floor: must be above 0 and at most 1 (got %g)", c.floor)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cloud budget metrics: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	wait := opts.DetachedWait
	if wait < 0 {
		return nil, fmt.Errorf("detached wait: must be >= 0 (got %s)", wait)
	}
	if wait == 0 {
		wait = DefaultDetachedWait
	}
	return &Budget{providers: providers, aimd: c, m: m, log: log, now: now, detachedWait: wait, accounts: make(map[[2]string]*account)}, nil
}

// checkRate is the rule every configured rate follows.
func checkRate(r float64) error {
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return fmt.Errorf("must be a finite number of calls per second >= 0, 0 for unlimited (got %g)", r)
	}
	return nil
}

func knownProviders(p map[string]Provider) string {
	return strings.Join(slices.Sorted(maps.Keys(p)), ", ")
}

// Provider returns the budget New settled on for a provider.
func (b *Budget) Provider(name string) (Provider, bool) {
	p, ok := b.providers[name]
	return p, ok
}

// account returns the budget of a provider's scope, made on first use.
func (b *Budget) account(provider, scope string) *account {
	key := [2]string{provider, scope}
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.accounts[key]; ok {
		return a
	}
	p := b.providers[provider]
	var buckets [2]*aimd
	var gauges [2]accountGauges
	for k, r := range [2]float64{p.Read, p.Write} {
		if r > 0 {
			buckets[k] = newAIMD(r, 1, b.aimd)
			gauges[k] = b.m.gauges(provider, scope, kind(k))
		} else {
			// Unlimited: series nobody collects, so that an unlimited
			// bucket exports no misleading rate of 0.
			unused := func() prometheus.Gauge { return prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"}) }
			gauges[k] = accountGauges{rate: unused(), configured: unused(), waiting: unused(),
				spent: prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"})}
		}
	}
	if !b.spentAt.IsZero() {
		for _, bk := range buckets {
			if bk != nil {
				bk.empty(b.spentAt)
			}
		}
	}
	a := newAccount(provider, scope, b.now, buckets, gauges)
	b.accounts[key] = a
	return a
}

// AssumeSpent makes the budget assume that every account's provider
// bucket has just been emptied by another client: the tokens its own
// buckets hold are dropped, and they refill from now at their current
// rate; an account first used later starts with what it refilled since
// now, not full. A control plane calls it when this process takes over
// the calls of another, as a new Raft leader does: the old leader's calls
// drew from the same provider buckets (the provider limits the account,
// not the process), so a new leader that started from a full bucket of its
// own sent a burst into an account bucket the old leader had just spent,
// and was throttled (BENCHMARKS.md, cloud load run, Azure run 2). Rates
// cut by throttles stay cut.
func (b *Budget) AssumeSpent() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.spentAt = now
	for _, a := range b.accounts {
		a.empty(now)
	}
}
