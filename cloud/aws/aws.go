// Package aws is the cloud.Driver for Amazon EC2 Auto Scaling groups. It
// reads a group with DescribeAutoScalingGroups and resizes it with
// SetDesiredCapacity (HonorCooldown=false: Capstan owns cooldowns), through
// the official aws-sdk-go-v2 client.
//
// A policy's target names the group and its region
// ({provider: aws, group: NAME, region: REGION}); the driver keeps one SDK
// client per region, made the first time a region is used. Credentials come
// from the SDK's default chain unless Options.Credentials overrides it, and
// nothing secret is logged or put in an error.
//
// Errors carry the cloud sentinels (see classify) so the control plane's
// retry wrapper, cloud.Retrying, can tell what to retry. The SDK's own
// retryer is switched off for that reason: see New.
package aws

import (
	"context"
	"errors"
	"fmt"
	"github.com/capstan-io/capstan/cloud/aws/awsclient"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go/logging"

	"github.com/capstan-io/capstan/cloud"
)

// The Auto Scaling actions the driver calls; they name the operation in
// errors and logs, and are the two IAM actions it needs.
const (
	opDescribe   = "DescribeAutoScalingGroups"
	opSetDesired = "SetDesiredCapacity"
)

// maxIdleConns bounds the idle keep-alive connections the driver's HTTP
// client keeps per Auto Scaling endpoint (and in all): enough for the
// concurrent calls of a loaded leader, so bursts reuse connections.
const maxIdleConns = 64

// maxGroupName is Auto Scaling's limit on a group name's length.
const maxGroupName = 255

// Options configure a Driver. The zero value is the production setup: the
// SDK's default credential chain, the standard regional endpoints and the
// SDK's default HTTP client.
type Options struct {
	// BaseEndpoint, when set, replaces the regional Auto Scaling endpoint
	// (https://autoscaling.REGION.amazonaws.com) for every region: for a
	// VPC interface endpoint, a LocalStack-like emulator or tests. The
	// target's region still signs the requests. Empty leaves endpoint
	// resolution to the SDK, which also honours AWS_ENDPOINT_URL_AUTO_SCALING,
	// AWS_ENDPOINT_URL and endpoint_url in the shared config file. Other
	// partitions (aws-cn, aws-us-gov) need no override: the SDK resolves
	// their endpoints from the region.
	BaseEndpoint string
	// Credentials, when set, is used instead of the SDK's default chain
	// (environment, shared credentials and config files with SSO and
	// assume-role profiles, web identity/IRSA, ECS and EKS Pod Identity
	// container credentials, then EC2 instance metadata). It is wrapped in
	// the SDK's credentials cache, so a provider that fetches credentials
	// is called only when they near expiry.
	Credentials awssdk.CredentialsProvider
	// HTTPClient, when set, carries the Auto Scaling requests (its
	// Timeout bounds each one); nil uses the SDK's default client. It is
	// used as is: AWS_CA_BUNDLE and ca_bundle apply to the SDK's client
	// only, so a custom client needs its own RootCAs. Credential providers
	// that call out (STS, SSO, instance metadata) keep the SDK's client,
	// because the SDK refuses to load a CA bundle into a plain
	// *http.Client and would otherwise fail at start-up. The caller's
	// context deadline bounds every call either way.
	HTTPClient *http.Client
	// Logger receives debug records of region clients being made and of
	// resizes, and the SDK's own warnings; nil discards them. Records
	// never include credentials or signatures.
	Logger *slog.Logger
}

// Driver resizes Auto Scaling groups. It is safe for concurrent use.
type Driver struct {
	cfg          awssdk.Config
	baseEndpoint string
	httpClient   *http.Client // nil: the SDK's
	log          *slog.Logger

	clients *awsclient.PerRegion[*autoscaling.Client]
}

var _ cloud.Driver = (*Driver)(nil)

// New loads the shared AWS configuration (credentials chain, HTTP client,
// endpoint settings) once; per-region clients are made on first use. ctx
// bounds the loading only. It fails if BaseEndpoint is not an absolute
// http(s) URL or if the shared configuration cannot be read, for example
// when AWS_PROFILE names a profile that does not exist. Missing credentials
// are not an error here: the chain is consulted at the first call, which
// then fails.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if opts.BaseEndpoint != "" {
		u, err := url.Parse(opts.BaseEndpoint)
		if err != nil {
			// url's error quotes the input, which might hold a password.
			return nil, fmt.Errorf("aws: base endpoint is not a URL: %w", cloud.ErrInvalid)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("aws: base endpoint %q must be an absolute http or https URL: %w", u.Redacted(), cloud.ErrInvalid)
		}
	}
	load := []func(*config.LoadOptions) error{
		// The SDK's standard retryer would retry throttling and 5xx up to
		// three times with its own backoff, inside each attempt of
		// cloud.Retrying, which already retries exactly those errors with
		// capped, jittered backoff within the caller's deadline: the two
		// would multiply (up to 3 x 6 attempts per call) and hide the
		// attempts from Capstan's metrics. NopRetryer makes each SDK call a
		// single attempt whatever AWS_MAX_ATTEMPTS or AWS_RETRY_MODE say
		// (a max-attempts override cannot make an error retryable for it),
		// and it keeps no retry-quota state that a long outage could drain.
		config.WithRetryer(func() awssdk.Retryer { return awssdk.NopRetryer{} }),
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The SDK's own warnings (it logs few, and with ClientLogMode unset
	// never requests, responses or signatures) go to our logger, not to
	// stderr.
	load = append(load, config.WithLogger(sdkLogger{log}))
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws: loading the shared configuration: %w", err)
	}
	if cfg.HTTPClient == nil {
		// Made here rather than by each region's client so that all
		// regions share one connection pool.
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		// Over HTTP/1.1 a connection carries one call at a time, and the
		// SDK keeps 10 idle connections per host: a burst of more
		// concurrent calls closed the surplus when it ended and dialled
		// it again for the next (59 connections for 10 bursts of 16
		// calls against the emulator; 15 with this pool). A copy, so the
		// CA bundle and timeouts the configuration applied stay.
		cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = max(t.MaxIdleConns, maxIdleConns)
			t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, maxIdleConns)
		})
	}
	d := &Driver{cfg: cfg, baseEndpoint: opts.BaseEndpoint, httpClient: opts.HTTPClient, log: log}
	d.clients = awsclient.NewPerRegion(d.newClient)
	return d, nil
}

// client returns the region's client (awsclient.PerRegion makes each once;
// the credentials cache and the connection pool in cfg are shared by every
// region's client).
func (d *Driver) client(region string) *autoscaling.Client { return d.clients.Get(region) }

// newClient makes a region's client.
func (d *Driver) newClient(region string) *autoscaling.Client {
	c := autoscaling.NewFromConfig(d.cfg, func(o *autoscaling.Options) {
		o.Region = region
		if d.baseEndpoint != "" {
			o.BaseEndpoint = awssdk.String(d.baseEndpoint)
		}
		if d.httpClient != nil {
			o.HTTPClient = d.httpClient
		}
		// See awsclient.MemoryBody. Wrapping the SDK's client (from cfg, with any
		// AWS_CA_BUNDLE applied) also stops the SDK from tuning it per
		// service; that tuning is opt-in (AWS_DEFAULTS_MODE and the
		// 2026 socket read timeout) and the caller's deadline bounds
		// every call anyway.
		o.HTTPClient = awsclient.MemoryBody{Next: o.HTTPClient}
		// Belt and braces with the config-level NopRetryer (see New): a
		// max-attempts setting from the environment must not wrap it.
		o.Retryer = awssdk.NopRetryer{}
		o.RetryMaxAttempts = 0
		// Request and response logging would write signed headers and
		// bodies to the logger: never.
		o.ClientLogMode = 0
		// The group refresh's answers, decoded for a fraction of the
		// SDK's cost (describexml.go).
		o.Protocol = newDescribeProtocol(o.Protocol)
	})
	d.log.Debug("aws autoscaling client created", "region", region, "custom_endpoint", d.baseEndpoint != "")
	return c
}

// clientCount reports how many region clients exist (for tests).
func (d *Driver) clientCount() int { return d.clients.Len() }

// validate checks the fields an AWS target needs, before any call.
func validate(g cloud.GroupRef) error {
	var problems []string
	switch {
	case g.Group == "":
		problems = append(problems, "target.group (the Auto Scaling group name) is required")
	case len(g.Group) > maxGroupName || !utf8.ValidString(g.Group):
		problems = append(problems, fmt.Sprintf("target.group must be 1..%d characters of valid UTF-8", maxGroupName))
	}
	switch {
	case g.Region == "":
		problems = append(problems, "target.region (e.g. us-east-1) is required")
	case !validRegion(g.Region):
		// The region becomes part of the endpoint host name and of the
		// signing scope, so anything but a plain label is refused here
		// rather than sent somewhere odd.
		problems = append(problems, fmt.Sprintf("target.region %q must be a region name such as us-east-1 (lower-case letters, digits and hyphens)", g.Region))
	}
	if g.Provider != "" && g.Provider != "aws" {
		problems = append(problems, fmt.Sprintf("target.provider is %q, not aws", g.Provider))
	}
	if len(problems) > 0 {
		return fmt.Errorf("aws: %s: %w", strings.Join(problems, "; "), cloud.ErrInvalid)
	}
	return nil
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

// Describe reads the group with DescribeAutoScalingGroups. Desired, Min and
// Max are the group's DesiredCapacity, MinSize and MaxSize; InService counts
// instances in the InService lifecycle state and Pending those in Pending,
// Pending:Wait or Pending:Proceed (instances in Standby, Terminating or
// Detaching count as neither). Busy is true when the group reports a Status,
// which AWS sets only while the group is being deleted ("Delete in
// progress"). Instances still booting after a scale-out are not Busy: AWS
// accepts SetDesiredCapacity meanwhile, and the control plane already
// accounts for them as Pending. Other activities (instance refreshes, warm
// pool changes) would each need a further API call and IAM permission, so
// they are not reported; AWS answers a conflicting resize with
// ScalingActivityInProgress or ResourceContention, which SetDesired reports
// as cloud.ErrConflict.
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	if err := validate(g); err != nil {
		return cloud.GroupState{}, err
	}
	out, err := d.client(g.Region).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{g.Group},
	})
	if err != nil {
		return cloud.GroupState{}, wrap(ctx, opDescribe, g, err)
	}
	for _, asg := range out.AutoScalingGroups {
		// AWS matches names exactly; checking again costs nothing and
		// guards against an endpoint that filters loosely.
		if awssdk.ToString(asg.AutoScalingGroupName) == g.Group {
			return state(asg), nil
		}
	}
	return cloud.GroupState{}, fmt.Errorf("aws autoscaling %s %s (%s): %w", opDescribe, g.Group, g.Region, cloud.ErrNotFound)
}

// state converts a described group.
func state(asg types.AutoScalingGroup) cloud.GroupState {
	gs := cloud.GroupState{
		Desired: int(awssdk.ToInt32(asg.DesiredCapacity)),
		Min:     int(awssdk.ToInt32(asg.MinSize)),
		Max:     int(awssdk.ToInt32(asg.MaxSize)),
		Busy:    awssdk.ToString(asg.Status) != "",
	}
	for _, in := range asg.Instances {
		switch {
		case in.LifecycleState == types.LifecycleStateInService:
			gs.InService++
		case strings.HasPrefix(string(in.LifecycleState), string(types.LifecycleStatePending)):
			gs.Pending++
		}
	}
	return gs
}

// SetDesired calls SetDesiredCapacity with HonorCooldown=false: Capstan
// applies its own cooldowns, and honouring the group's would make AWS refuse
// resizes Capstan has already decided are due. Asking for the current
// desired capacity is sent anyway, since AWS accepts it as a no-op: one call
// instead of a describe and a call, and no window between them. A size
// outside the group's bounds comes back from AWS as a ValidationError, that
// is cloud.ErrInvalid; the group is left unchanged.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	if err := validate(g); err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("aws autoscaling %s %s (%s): desired capacity %d out of range: %w", opSetDesired, g.Group, g.Region, n, cloud.ErrInvalid)
	}
	_, err := d.client(g.Region).SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: awssdk.String(g.Group),
		DesiredCapacity:      awssdk.Int32(int32(n)),
		HonorCooldown:        awssdk.Bool(false),
	})
	if err != nil {
		return wrap(ctx, opSetDesired, g, err)
	}
	d.log.Debug("aws autoscaling desired capacity set", "group", g.Group, "region", g.Region, "desired", n)
	return nil
}

// wrap classifies an SDK error and names the call. When the caller's
// context has ended, its error is included too, so errors.Is(err,
// context.Canceled) holds even if the SDK reported the interruption some
// other way (a failed body read, say).
func wrap(ctx context.Context, op string, g cloud.GroupRef, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("aws autoscaling %s %s (%s): %w: %w", op, g.Group, g.Region, sentinel, err)
	}
	return fmt.Errorf("aws autoscaling %s %s (%s): %w", op, g.Group, g.Region, err)
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
