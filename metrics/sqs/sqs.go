// Package sqs reads an Amazon SQS queue's depth for metric sources of kind
// sqs ({kind: sqs, queue_url: URL, region: REGION, include_in_flight:
// BOOL}). A Reader calls GetQueueAttributes through the official
// aws-sdk-go-v2 client and reports ApproximateNumberOfMessages, plus
// ApproximateNumberOfMessagesNotVisible when the source includes in-flight
// messages. It implements the control plane's MetricReader, and its
// BatchReader with ReadBatch: one call per distinct queue, a few at once.
//
// The reader keeps one SDK client per region, made the first time a region
// is used. Credentials come from the SDK's default chain unless
// Options.Credentials overrides it, and nothing secret is logged or put in
// an error.
//
// Throttling and outages are retried a few times with capped, jittered
// backoff inside the read's deadline; the SDK's own retryer is switched
// off so the two do not multiply (see NewReader). Errors wrap the sentinels
// ErrQueueNotFound, ErrThrottled, ErrUnavailable and ErrInvalid, and the
// SDK's error.
package sqs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"
	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/capstan-io/capstan/cloud/aws/awsclient"
	"github.com/capstan-io/capstan/metrics/promreg"
	"github.com/capstan-io/capstan/policy"
)

// opGetQueueAttributes is the one SQS action the reader calls; it names the
// call in errors and logs, and is the one IAM action it needs.
const opGetQueueAttributes = "GetQueueAttributes"

// DefaultTimeout bounds one Read, retries included, when Options.Timeout
// is zero.
const DefaultTimeout = 5 * time.Second

// DefaultMaxAttempts is how many requests one Read may make when
// Options.MaxAttempts is zero: the first and two retries.
const DefaultMaxAttempts = 3

// DefaultConcurrency is how many GetQueueAttributes calls one ReadBatch
// makes at once when Options.Concurrency is zero. The reader's default
// HTTP client keeps as many idle connections per host (at least the SDK's
// 10), so a batch reuses its connections from one interval to the next.
const DefaultConcurrency = 8

// The retry backoff: short, because a depth read feeds an evaluation that
// will happen again at the next interval anyway; capped, so a throttled
// read gives up within its timeout rather than stretching it.
const (
	retryInitial    = 100 * time.Millisecond
	retryMax        = time.Second
	retryMultiplier = 2
	retryJitter     = 0.2
)

// Attribute names the reader asks for.
const (
	attrVisible  = string(types.QueueAttributeNameApproximateNumberOfMessages)
	attrInFlight = string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
)

// Options configure a Reader. The zero value is the production setup: the
// SDK's default credential chain, the standard regional endpoints, the
// SDK's default HTTP client, a 5 s timeout and no metrics.
type Options struct {
	// BaseEndpoint, when set, replaces the regional SQS endpoint
	// (https://sqs.REGION.amazonaws.com) for every region: for a VPC
	// interface endpoint, an emulator or tests. The source's region still
	// signs the requests. Empty leaves endpoint resolution to the SDK,
	// which also honours AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL and
	// endpoint_url in the shared config file. It must be an absolute http
	// or https URL without user information.
	BaseEndpoint string
	// Credentials, when set, is used instead of the SDK's default chain
	// (environment, shared credentials and config files with SSO and
	// assume-role profiles, web identity/IRSA, ECS and EKS Pod Identity
	// container credentials, then EC2 instance metadata). The SDK wraps it
	// in its credentials cache, so a provider that fetches credentials is
	// called only when they near expiry.
	Credentials awssdk.CredentialsProvider
	// Timeout bounds one Read, retries and backoff included; the caller's
	// context deadline applies too, whichever ends first. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the requests one Read makes when SQS throttles
	// or fails; zero means DefaultMaxAttempts, 1 disables retries.
	MaxAttempts int
	// Concurrency bounds the calls one ReadBatch makes at once; zero
	// means DefaultConcurrency.
	Concurrency int
	// HTTPClient, when set, carries the SQS requests; nil uses the SDK's
	// default client (with AWS_CA_BUNDLE applied). Credential providers
	// that call out keep the SDK's client.
	HTTPClient *http.Client
	// Logger receives debug records of region clients being made and of
	// retries, and the SDK's own warnings; nil discards them. Records never
	// include credentials or signatures.
	Logger *slog.Logger
	// Registerer, when set, receives capstan_source_queries_total
	// {kind="sqs",outcome} (one per Read, by final outcome: ok, not_found,
	// throttled, unavailable, invalid, canceled, error) and
	// capstan_source_query_duration_seconds{kind="sqs"} (each Read's
	// duration, retries included). The kind is a constant label, so other
	// sources may register the same names with their own kind, given the
	// same help text.
	Registerer prometheus.Registerer
	// Now is the clock that stamps each value read; nil means time.Now.
	// Tests inject a fixed clock.
	Now func() time.Time
}

// Help texts of the source metrics, shared with other pulled sources that
// register the same names (Prometheus requires equal help per name).
const (
	queriesHelp  = "Reads of pulled metric sources, by kind and outcome."
	durationHelp = "Duration of reads of pulled metric sources, retries included, by kind."
)

// Reader reads SQS queue depths. It is safe for concurrent use.
type Reader struct {
	cfg          awssdk.Config
	baseEndpoint string
	httpClient   *http.Client // nil: the SDK's
	timeout      time.Duration
	maxAttempts  int
	workers      int
	now          func() time.Time
	log          *slog.Logger
	queries      *prometheus.CounterVec // nil without a Registerer
	duration     prometheus.Histogram   // nil without a Registerer

	clients *awsclient.PerRegion[*awssqs.Client]
}

// NewReader loads the shared AWS configuration (credentials chain, HTTP
// client, endpoint settings) once; per-region clients are made on first
// use. ctx bounds the loading only. It fails if BaseEndpoint is not an
// absolute http(s) URL, if an option is negative, if the metrics cannot be
// registered, or if the shared configuration cannot be read (say,
// AWS_PROFILE names a profile that does not exist). Missing credentials are
// not an error here: the chain is consulted at the first Read, which then
// fails.
func NewReader(ctx context.Context, opts Options) (*Reader, error) {
	if opts.BaseEndpoint != "" {
		u, err := url.Parse(opts.BaseEndpoint)
		if err != nil {
			// url's error quotes the input, which might hold a password.
			return nil, fmt.Errorf("sqs: base endpoint is not a URL: %w", ErrInvalid)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// User information would end up in transport errors,
			// which are logged.
			return nil, fmt.Errorf("sqs: base endpoint %q must be an absolute http or https URL without user information: %w", u.Redacted(), ErrInvalid)
		}
	}
	if opts.Timeout < 0 || opts.MaxAttempts < 0 || opts.Concurrency < 0 {
		return nil, fmt.Errorf("sqs: timeout (%s), max attempts (%d) and concurrency (%d) must be >= 0: %w",
			opts.Timeout, opts.MaxAttempts, opts.Concurrency, ErrInvalid)
	}
	r := &Reader{
		baseEndpoint: opts.BaseEndpoint,
		httpClient:   opts.HTTPClient,
		timeout:      opts.Timeout,
		maxAttempts:  opts.MaxAttempts,
		workers:      cmp.Or(opts.Concurrency, DefaultConcurrency),
		now:          opts.Now,
		log:          opts.Logger,
	}
	r.clients = awsclient.NewPerRegion(r.newClient)
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.maxAttempts == 0 {
		r.maxAttempts = DefaultMaxAttempts
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer != nil {
		if err := r.register(opts.Registerer); err != nil {
			return nil, err
		}
	}

	load := []func(*config.LoadOptions) error{
		// The SDK's standard retryer would retry throttling and 5xx
		// with its own backoff inside each of Read's attempts, which
		// already retries exactly those errors within the read's
		// deadline: the two would multiply (3 x 3 requests per read)
		// and hide the attempts from Read's logs. NopRetryer makes each
		// SDK call a single attempt whatever AWS_MAX_ATTEMPTS or
		// AWS_RETRY_MODE say, and keeps no retry-quota state that a
		// long outage could drain.
		config.WithRetryer(func() awssdk.Retryer { return awssdk.NopRetryer{} }),
		// The SDK's own warnings (it logs few, and with ClientLogMode
		// unset never requests, responses or signatures) go to our
		// logger, not to stderr.
		config.WithLogger(sdkLogger{r.log}),
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("sqs: loading the shared AWS configuration: %w", err)
	}
	if cfg.HTTPClient == nil {
		// Made here rather than by each region's client so that all
		// regions share one connection pool, and with room in it for a
		// batch's concurrent calls to keep their connections alive.
		idle := max(awshttp.DefaultHTTPTransportMaxIdleConnsPerHost, r.workers)
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = idle
			t.MaxIdleConns = max(t.MaxIdleConns, idle)
		})
	}
	r.cfg = cfg
	return r, nil
}

// register makes the source metrics. Another Reader (or another source)
// may have registered the same series on the same registry: the existing
// collectors are used then, so two readers count into one series.
func (r *Reader) register(reg prometheus.Registerer) error {
	kind := prometheus.Labels{"kind": string(policy.SourceSQS)}
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "capstan_source_queries_total", Help: queriesHelp, ConstLabels: kind,
	}, []string{"outcome"})
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "capstan_source_query_duration_seconds", Help: durationHelp, ConstLabels: kind,
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	})
	queries, err := promreg.Register(reg, queries)
	if err != nil {
		return fmt.Errorf("sqs: registering capstan_source_queries_total: %w", err)
	}
	duration, err = promreg.Register(reg, duration)
	if err != nil {
		return fmt.Errorf("sqs: registering capstan_source_query_duration_seconds: %w", err)
	}
	r.queries, r.duration = queries, duration
	return nil
}

// client returns the region's client (awsclient.PerRegion makes each once;
// the credentials cache and the connection pool in cfg are shared by every
// region's client).
func (r *Reader) client(region string) *awssqs.Client { return r.clients.Get(region) }

// newClient makes a region's client.
func (r *Reader) newClient(region string) *awssqs.Client {
	c := awssqs.NewFromConfig(r.cfg, func(o *awssqs.Options) {
		o.Region = region
		if r.baseEndpoint != "" {
			o.BaseEndpoint = awssdk.String(r.baseEndpoint)
		}
		if r.httpClient != nil {
			o.HTTPClient = r.httpClient
		}
		// See awsclient.MemoryBody. Wrapping the SDK's client also stops the
		// SDK from tuning it per service; that tuning is opt-in and
		// the read's deadline bounds every call anyway.
		o.HTTPClient = awsclient.MemoryBody{Next: o.HTTPClient}
		// Belt and braces with the config-level NopRetryer (see
		// NewReader): a max-attempts setting from the environment
		// must not wrap it.
		o.Retryer = awssdk.NopRetryer{}
		o.RetryMaxAttempts = 0
		// Request and response logging would write signed headers and
		// bodies to the logger: never.
		o.ClientLogMode = 0
	})
	r.log.Debug("aws sqs client created", "region", region, "custom_endpoint", r.baseEndpoint != "")
	return c
}

// clientCount reports how many region clients exist (for tests).
func (r *Reader) clientCount() int { return r.clients.Len() }

// Read returns the queue's approximate depth: ApproximateNumberOfMessages,
// plus ApproximateNumberOfMessagesNotVisible when src.IncludeInFlight, as
// one GetQueueAttributes call reports them; at is the reader's clock when
// the answer arrived. Throttling and outages are retried up to MaxAttempts
// times with capped, jittered backoff, as long as the read's deadline
// (Options.Timeout or ctx's, whichever is sooner) leaves room for the
// wait. A source that is not a valid sqs source fails with ErrInvalid
// before any request is sent.
func (r *Reader) Read(ctx context.Context, src policy.Source) (value float64, at time.Time, err error) {
	start := time.Now()
	q, err := parseSource(src)
	if err != nil {
		r.observe(start, err, ErrInvalid)
		return 0, time.Time{}, err
	}
	attrs, at, err := r.attributes(ctx, q, src.QueueURL, src.Region, src.IncludeInFlight)
	if err == nil {
		value, err = depthOf(q, src, attrs)
	}
	r.observe(start, err, sentinelOf(err))
	if err != nil {
		return 0, time.Time{}, err
	}
	return value, at, nil
}

// observe counts one call that started at start and ended with err,
// classified as sentinel.
func (r *Reader) observe(start time.Time, err, sentinel error) {
	if r.queries != nil {
		r.queries.WithLabelValues(outcome(err, sentinel)).Inc()
		r.duration.Observe(time.Since(start).Seconds())
	}
}

// depthOf is the source's depth from a queue's attributes; q names the
// queue in errors.
func depthOf(q string, src policy.Source, attrs map[string]string) (float64, error) {
	v, err := depth(attrs, src.IncludeInFlight)
	if err != nil {
		return 0, fmt.Errorf("sqs %s %s (%s): %w: %w", opGetQueueAttributes, q, src.Region, ErrUnavailable, err)
	}
	return v, nil
}

// attributes calls GetQueueAttributes for the queue's visible depth, and its
// in-flight count too when inFlight, retrying throttling and outages (see
// Read). q is the queue URL as errors name it. It returns the attributes
// and the time they arrived; an error wraps the sentinel it was classified
// as, if any.
func (r *Reader) attributes(ctx context.Context, q, queueURL, region string, inFlight bool) (map[string]string, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	client := r.client(region)
	in := &awssqs.GetQueueAttributesInput{
		QueueUrl:       awssdk.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	}
	if inFlight {
		in.AttributeNames = append(in.AttributeNames, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval: retryInitial, MaxInterval: retryMax,
		Multiplier: retryMultiplier, RandomizationFactor: retryJitter,
	}
	var (
		err      error
		sentinel error
	)
	attempt := 0
	for {
		attempt++
		out, callErr := client.GetQueueAttributes(ctx, in)
		if callErr == nil {
			return out.Attributes, r.now(), nil
		}
		err = callErr
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// Say why the call stopped even if the SDK reported the
			// interruption some other way (a failed body read, say).
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		sentinel = classify(err)
		if !retryable(sentinel) || attempt >= r.maxAttempts {
			break
		}
		wait := bo.NextBackOff()
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			// Waiting would only end in the deadline: report what
			// SQS said instead.
			break
		}
		r.log.Debug("sqs read failed; retrying", "queue", q, "region", region, "attempt", attempt, "wait", wait, "err", callErr)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
			t.Stop()
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
			sentinel = classify(err)
		}
		break
	}
	tries := ""
	if attempt > 1 {
		tries = fmt.Sprintf(" after %d attempts", attempt)
	}
	if sentinel != nil {
		return nil, time.Time{}, fmt.Errorf("sqs %s %s (%s)%s: %w: %w", opGetQueueAttributes, q, region, tries, sentinel, err)
	}
	return nil, time.Time{}, fmt.Errorf("sqs %s %s (%s)%s: %w", opGetQueueAttributes, q, region, tries, err)
}

// depth sums the attributes asked for. SQS reports them as decimal
// strings; one that is missing or not a count is an answer the reader
// cannot use, reported rather than read as zero, because a zero depth
// would let the policy scale in.
func depth(attrs map[string]string, inFlight bool) (float64, error) {
	names := []string{attrVisible}
	if inFlight {
		names = append(names, attrInFlight)
	}
	var sum float64
	for _, name := range names {
		raw, ok := attrs[name]
		if !ok {
			return 0, fmt.Errorf("the answer has no %s attribute", name)
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("attribute %s is %q, not a count", name, truncate(raw, 32))
		}
		sum += float64(n)
	}
	return sum, nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// parseSource checks an sqs source before any call and returns the queue
// URL as errors name it (without any user information).
func parseSource(src policy.Source) (string, error) {
	if k := src.EffectiveKind(); k != policy.SourceSQS {
		return "", fmt.Errorf("sqs: source kind is %q, not sqs: %w", k, ErrInvalid)
	}
	var problems []string
	shown := ""
	u, err := url.Parse(src.QueueURL)
	switch {
	case src.QueueURL == "":
		problems = append(problems, "queue_url is required (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
	case err != nil:
		// url's error quotes the input, which might hold a password.
		problems = append(problems, "queue_url is not a URL")
	default:
		shown = u.Redacted()
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || !queuePath(u.Path) {
			problems = append(problems, fmt.Sprintf("queue_url %q must be https://HOST/ACCOUNT/NAME", shown))
		}
	}
	switch {
	case src.Region == "":
		problems = append(problems, "region (e.g. us-east-1) is required")
	case !validRegion(src.Region):
		// The region becomes part of the endpoint host name and of the
		// signing scope, so anything but a plain label is refused here
		// rather than sent somewhere odd.
		problems = append(problems, fmt.Sprintf("region %q must be a region name such as us-east-1", src.Region))
	case u != nil && len(problems) == 0:
		if hostRegion, ok := urlRegion(u.Hostname()); ok && hostRegion != src.Region {
			// SQS would answer NonExistentQueue, which reads like a
			// deleted queue; the mismatch is the real problem.
			problems = append(problems, fmt.Sprintf("region %q does not match the queue URL's region %q", src.Region, hostRegion))
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("sqs: %s: %w", strings.Join(problems, "; "), ErrInvalid)
	}
	return shown, nil
}

// queuePath accepts /ACCOUNT/NAME: two non-empty segments, the second a
// valid queue name. The account is not required to be 12 digits, because
// emulators use other path prefixes (ElasticMQ serves /queue/NAME).
func queuePath(p string) bool {
	account, name, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return ok && account != "" && !strings.Contains(name, "/") && validQueueName(name)
}

// validQueueName applies SQS's rule: up to 80 characters of letters,
// digits, hyphens and underscores, where a FIFO queue's name ends in .fifo.
func validQueueName(name string) bool {
	if len(name) == 0 || len(name) > 80 {
		return false
	}
	base := strings.TrimSuffix(name, ".fifo")
	if base == "" {
		return false
	}
	for _, c := range base {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validRegion accepts a host label of lower-case letters, digits and
// hyphens starting with a letter: every AWS region name, and the made-up
// names emulators accept.
func validRegion(r string) bool {
	if len(r) > 63 || r[0] < 'a' || r[0] > 'z' || r[len(r)-1] == '-' {
		return false
	}
	for _, c := range r {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// urlRegion extracts the region from an AWS queue host:
// sqs.REGION.amazonaws.com (and .com.cn), its FIPS variant
// sqs-fips.REGION.amazonaws.com, the dual-stack sqs.REGION.api.aws, and the
// legacy REGION.queue.amazonaws.com. Other hosts (VPC endpoints, emulators)
// report no region.
func urlRegion(host string) (string, bool) {
	labels := strings.Split(strings.ToLower(host), ".")
	if len(labels) < 4 {
		return "", false
	}
	rest := strings.Join(labels[2:], ".")
	switch {
	case (labels[0] == "sqs" || labels[0] == "sqs-fips") &&
		(rest == "amazonaws.com" || rest == "amazonaws.com.cn" || rest == "api.aws"):
		return labels[1], true
	case labels[1] == "queue" && rest == "amazonaws.com":
		return labels[0], true
	}
	return "", false
}

// sdkLogger passes the SDK's log records to slog.
type sdkLogger struct{ log *slog.Logger }

// Logf logs one SDK record: warnings as warnings, the rest at debug level.
func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}
