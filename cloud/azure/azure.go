// Package azure is Capstan's driver for Azure Virtual Machine Scale Sets.
// It reads a scale set with VirtualMachineScaleSets.Get and GetInstanceView
// and resizes it by updating sku.capacity (a PATCH that Azure runs as a
// long-running operation), through the official armcompute SDK client and
// its real HTTP pipeline: bearer-token authentication, the
// Azure-AsyncOperation poller and ARM error responses.
//
// A policy names a scale set with target fields subscription,
// resource_group and scale_set (cloud.GroupRef.Subscription, ResourceGroup
// and ScaleSet).
//
// # What Describe reports
//
//   - Desired is sku.capacity.
//   - Min and Max come from the scale set's tags TagMin and TagMax. A scale
//     set has no bounds of its own (Azure keeps them in a separate autoscale
//     setting, which must be off while Capstan scales the set, or the two
//     autoscalers fight). Without the tags Min is 0 and Max is 0, which the
//     control plane reads as "no provider maximum": the policy's own min and
//     max still apply.
//   - InService and Pending come from the instance view's statuses summary
//     (one extra read, VirtualMachineScaleSets.GetInstanceView, that counts
//     instances by provisioning state without listing them): instances in
//     ProvisioningState/succeeded or /updating are in service, those in
//     ProvisioningState/creating are pending, and deleting or failed ones
//     are neither. Power state is not in the summary, so a stopped
//     instance still counts as in service. Describe always reads it;
//     DescribeBatch reads it only for a scale set in transition, and
//     counts every instance of a steady one (provisioningState Succeeded)
//     in service (see DescribeBatch).
//   - Busy is true while the scale set's provisioningState is Updating,
//     Creating or Deleting: an operation is in progress.
//
// # Errors
//
// Every error wraps one of the cloud sentinels and the SDK's own error (an
// *azcore.ResponseError for an answer from Azure), so both errors.Is and
// errors.As work; see the README section "Azure VM Scale Sets" for the table.
package azure

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/capstan-io/capstan/cloud"
)

// Tags on a scale set that give Capstan its provider-side bounds; see the
// package documentation. Their values are whole numbers.
const (
	TagMin = "capstan-min"
	TagMax = "capstan-max"
)

// DefaultPollFrequency is how often SetDesired polls the update's
// long-running operation when Options.PollFrequency is zero. A scale-out
// takes minutes (new instances are provisioned before the operation ends),
// and every poll counts against the subscription's ARM read limits.
const DefaultPollFrequency = 5 * time.Second

// minPollFrequency is the SDK's floor: PollUntilDone refuses anything
// shorter unless it runs inside a test binary.
const minPollFrequency = time.Second

// maxCapacity is the largest sku.capacity a scale set accepts (1,000 with
// platform images and singlePlacementGroup=false); sizes beyond it are
// refused before any call.
const maxCapacity = 1000

// Options configure a Driver. The zero value talks to Azure public cloud
// with DefaultAzureCredential.
type Options struct {
	// Credential authenticates requests. Nil means
	// azidentity.NewDefaultAzureCredential, which tries in order: a
	// service principal from the environment (AZURE_TENANT_ID,
	// AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or a certificate), workload
	// identity, managed identity, then the Azure CLI (and the Developer CLI
	// and PowerShell) login of the user running Capstan.
	Credential azcore.TokenCredential
	// Cloud overrides the Azure cloud for sovereign clouds (for example
	// azcloud.AzureGovernment or azcloud.AzureChina), Azure Stack and tests.
	// A non-zero value must set Services[azcloud.ResourceManager] with both
	// Endpoint and Audience (the SDK refuses a configuration missing
	// either) and, when Credential is nil, ActiveDirectoryAuthorityHost.
	Cloud azcloud.Configuration
	// InsecureAllowCredentialWithHTTP lets the bearer token travel over
	// plain http. For tests against an emulator only: over http the token
	// is readable by anyone on the path.
	InsecureAllowCredentialWithHTTP bool
	// Transport sends the HTTP requests; nil means the SDK's default
	// transport's settings with a larger idle connection pool (64 per
	// host, see newTransport). At most one of Transport and HTTPClient
	// may be set.
	Transport policy.Transporter
	// HTTPClient sends the HTTP requests when Transport is nil, for example
	// to go through a proxy. It is also used by DefaultAzureCredential.
	HTTPClient *http.Client
	// PollFrequency is how often SetDesired polls the update's long-running
	// operation (unless Azure asks for a different interval with
	// Retry-After). Zero means DefaultPollFrequency. The SDK refuses less
	// than a second outside tests, so shorter values are raised to a second
	// there.
	PollFrequency time.Duration
	// OperationWait bounds how long SetDesired waits for the update's
	// long-running operation. Zero waits until the operation ends or the
	// context does. With a positive value SetDesired returns success once
	// the wait is over while the operation is still running: Azure has
	// accepted the new capacity (Describe already reports it, with Busy set
	// until the operation ends). Set it below the caller's timeout when
	// that timeout is shorter than a scale-out, so an accepted resize is
	// not reported as a failure.
	OperationWait time.Duration
	// Logger receives the driver's logs; nil discards them. Nothing secret
	// is ever logged: the driver never sees a token, and errors carry no
	// request headers.
	Logger *slog.Logger
}

// Validate reports whether the options are consistent, so a command can
// check its flags before building a driver.
func (o Options) Validate() error {
	if o.Transport != nil && o.HTTPClient != nil {
		return errors.New("azure: set at most one of Transport and HTTPClient")
	}
	if o.PollFrequency < 0 {
		return fmt.Errorf("azure: poll frequency must be >= 0 (got %s)", o.PollFrequency)
	}
	if o.OperationWait < 0 {
		return fmt.Errorf("azure: operation wait must be >= 0 (got %s)", o.OperationWait)
	}
	if o.Cloud.ActiveDirectoryAuthorityHost == "" && len(o.Cloud.Services) == 0 {
		return nil // Azure public cloud
	}
	rm, ok := o.Cloud.Services[azcloud.ResourceManager]
	if !ok || rm.Endpoint == "" || rm.Audience == "" {
		return errors.New("azure: a cloud configuration must set the Resource Manager service's Endpoint and Audience")
	}
	if o.Credential == nil && o.Cloud.ActiveDirectoryAuthorityHost == "" {
		return errors.New("azure: a cloud configuration used with the default credential must set ActiveDirectoryAuthorityHost")
	}
	if strings.HasPrefix(strings.ToLower(rm.Endpoint), "http://") && !o.InsecureAllowCredentialWithHTTP {
		return fmt.Errorf("azure: the Resource Manager endpoint %s is plain http, which would send the bearer token in clear text; use https (InsecureAllowCredentialWithHTTP is for tests against an emulator)", rm.Endpoint)
	}
	return nil
}

// Driver resizes Azure VM scale sets. It is safe for concurrent use and
// keeps one SDK client per subscription.
type Driver struct {
	cred    azcore.TokenCredential
	armOpts arm.ClientOptions
	poll    time.Duration
	wait    time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]*armcompute.VirtualMachineScaleSetsClient
	// listers are the subscriptions' ARM clients that list scale sets
	// (listScaleSets): the same pipeline options as clients, with the
	// answer decoded by the driver (decodeListPage).
	listers map[string]*arm.Client
}

var _ cloud.Driver = (*Driver)(nil)

// New returns a driver. It does no I/O (credentials are first used by the
// first call), so an agent starts even where Azure is unreachable; ctx is
// accepted for symmetry with the other drivers' constructors.
func New(_ context.Context, opts Options) (*Driver, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var transport policy.Transporter
	switch {
	case opts.Transport != nil:
		transport = opts.Transport
	case opts.HTTPClient != nil:
		transport = opts.HTTPClient
	default:
		transport = &http.Client{Transport: newTransport()}
	}
	cred := opts.Credential
	if cred == nil {
		var err error
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: policy.ClientOptions{Cloud: opts.Cloud, Transport: transport},
		})
		if err != nil {
			return nil, fmt.Errorf("azure: setting up the default credential chain: %w", err)
		}
	}
	poll := opts.PollFrequency
	if poll == 0 {
		poll = DefaultPollFrequency
	}
	if poll < minPollFrequency && flag.Lookup("test.v") == nil {
		// The same test the SDK makes: outside a test binary it would
		// refuse to poll at all, after the resize had been sent.
		log.Warn("azure: poll frequency raised to the SDK's minimum", "asked", poll, "using", minPollFrequency)
		poll = minPollFrequency
	}
	armOpts := arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:                           opts.Cloud,
			InsecureAllowCredentialWithHTTP: opts.InsecureAllowCredentialWithHTTP,
			// No SDK retries: the control plane wraps every driver in
			// cloud.Retrying, which retries throttling, 5xx and timeouts
			// with capped, jittered backoff inside the caller's deadline.
			// The SDK's default (3 retries, honouring Retry-After for up
			// to a minute each) would multiply with it, up to 4 x 6 tries
			// for one call, and could sleep past the caller's timeout on
			// a single 429.
			Retry:     policy.RetryOptions{MaxRetries: -1},
			Telemetry: policy.TelemetryOptions{ApplicationID: "capstan"},
			Transport: transport,
		},
		// The driver only reads and updates scale sets that exist, so the
		// Compute provider is registered already; auto-registration would
		// need the extra Microsoft.Compute/register/action permission.
		DisableRPRegistration: true,
	}
	return &Driver{
		cred:    cred,
		armOpts: armOpts,
		poll:    poll,
		wait:    opts.OperationWait,
		log:     log,
		clients: make(map[string]*armcompute.VirtualMachineScaleSetsClient),
		listers: make(map[string]*arm.Client),
	}, nil
}

// client returns the subscription's client, creating it on first use. The
// client holds the pipeline and its bearer-token cache, so reusing it
// saves a token request per call.
func (d *Driver) client(subscription string) (*armcompute.VirtualMachineScaleSetsClient, error) {
	key := strings.ToLower(subscription) // ids are GUIDs; ARM ignores case
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[key]; ok {
		return c, nil
	}
	c, err := armcompute.NewVirtualMachineScaleSetsClient(subscription, d.cred, d.armOpts.Clone())
	if err != nil {
		return nil, fmt.Errorf("azure: creating the scale set client for subscription %s: %w", subscription, err)
	}
	d.clients[key] = c
	return c, nil
}

// lister returns the subscription's ARM client for listing scale sets,
// creating it on first use; like client, it keeps its pipeline and token
// cache. It is a client of its own because armcompute's does not expose
// its pipeline, and the list's answer is decoded by the driver
// (listScaleSets).
func (d *Driver) lister(subscription string) (*arm.Client, error) {
	key := strings.ToLower(subscription)
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.listers[key]; ok {
		return c, nil
	}
	c, err := arm.NewClient(listerModule, listerVersion, d.cred, d.armOpts.Clone())
	if err != nil {
		return nil, fmt.Errorf("azure: creating the list client for subscription %s: %w", subscription, err)
	}
	d.listers[key] = c
	return c, nil
}

// Azure's naming rules for the identifiers a target names. The SDK
// path-escapes each into the request path, but escaping leaves "." and
// ".." as they are, and the URL then resolves them as dot segments: a
// resource group ".." addressed another subscription's scale set (issue
// 14). These accept what Azure accepts and nothing that can change the
// path's shape.
var (
	// subscriptionRE is a subscription id: a GUID.
	subscriptionRE = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
	// resourceGroupRE is a resource group name: 1-90 letters, digits,
	// '_', '-', '.', '(' or ')', not ending in '.'.
	resourceGroupRE = regexp.MustCompile(`^[-\p{L}\p{N}_.()]{0,89}[-\p{L}\p{N}_()]$`)
	// scaleSetRE is a scale set name: 1-64 letters, digits, '_', '-' or
	// '.', starting with a letter, digit or '_' and ending with a letter,
	// digit or '_'.
	scaleSetRE = regexp.MustCompile(`^[A-Za-z0-9_]([-A-Za-z0-9_.]{0,62}[A-Za-z0-9_])?$`)
)

// checkRef returns an error naming the missing fields of g, or the first
// field that breaks Azure's naming rules.
func checkRef(g cloud.GroupRef) error {
	if err := checkRefPresent(g); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v, rule string
		re            *regexp.Regexp
	}{
		{"subscription", g.Subscription, "a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)", subscriptionRE},
		{"resource_group", g.ResourceGroup, "a resource group name (1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.')", resourceGroupRE},
		{"scale_set", g.ScaleSet, "a scale set name (1-64 letters, digits, '_', '-' or '.', starting and ending with a letter, digit or '_')", scaleSetRE},
	} {
		if !utf8.ValidString(f.v) || !f.re.MatchString(f.v) {
			return fmt.Errorf("azure: %s %q is not %s: %w", f.name, f.v, f.rule, cloud.ErrInvalid)
		}
	}
	return nil
}

// checkRefPresent returns an error naming the missing fields of g.
func checkRefPresent(g cloud.GroupRef) error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"subscription", g.Subscription}, {"resource_group", g.ResourceGroup}, {"scale_set", g.ScaleSet},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("azure: the target needs subscription, resource_group and scale_set; missing %s: %w",
			strings.Join(missing, ", "), cloud.ErrInvalid)
	}
	return nil
}

// refName is how errors and logs name a scale set.
func refName(g cloud.GroupRef) string {
	return g.Subscription + "/" + g.ResourceGroup + "/" + g.ScaleSet
}

// Describe reads the scale set and its instance view. It always reads
// the instance view, steady scale set or not: the control plane describes
// one group on its own when it needs that group's exact state (before
// acting on it, after its own resize, to settle an intent), while its
// periodic refresh goes through DescribeBatch, which does without the
// instance view of a steady scale set.
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	if err := checkRef(g); err != nil {
		return cloud.GroupState{}, err
	}
	c, err := d.client(g.Subscription)
	if err != nil {
		return cloud.GroupState{}, err
	}
	return d.describe(ctx, c, g, true)
}

// describe reads a scale set with Get, and its instance view when always
// is set or the scale set is in transition (see steady).
func (d *Driver) describe(ctx context.Context, c *armcompute.VirtualMachineScaleSetsClient, g cloud.GroupRef, always bool) (cloud.GroupState, error) {
	start := time.Now()
	got, err := c.Get(ctx, g.ResourceGroup, g.ScaleSet, nil)
	if err != nil {
		return cloud.GroupState{}, callErr(ctx, "reading scale set", g, err)
	}
	ss := got.VirtualMachineScaleSet
	var gs cloud.GroupState
	if !always && steady(ss) {
		gs, err = steadyState(ss)
	} else {
		var iv armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse
		iv, err = c.GetInstanceView(ctx, g.ResourceGroup, g.ScaleSet, nil)
		if err != nil {
			return cloud.GroupState{}, callErr(ctx, "reading the instance view of scale set", g, err)
		}
		gs, err = groupState(ss, iv.VirtualMachineScaleSetInstanceView)
	}
	if err != nil {
		return cloud.GroupState{}, fmt.Errorf("azure: scale set %s: %w", refName(g), err)
	}
	d.log.Debug("azure: described scale set", "group", g.String(), "desired", gs.Desired, "in_service", gs.InService,
		"pending", gs.Pending, "busy", gs.Busy, "took", time.Since(start))
	return gs, nil
}

// SetDesired sets sku.capacity to n and waits for the update's long-running
// operation (see Options.OperationWait). It reads the scale set first: when
// the capacity is n already it does nothing, and otherwise it sends the
// SKU's name and tier back unchanged with If-Match on the ETag it read, so
// a concurrent change to the scale set (another resize, a new VM size)
// makes the update fail with cloud.ErrConflict instead of being silently
// overwritten.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	if err := checkRef(g); err != nil {
		return err
	}
	if n < 0 || n > maxCapacity {
		return fmt.Errorf("azure: scale set %s: capacity %d is outside 0..%d: %w", refName(g), n, maxCapacity, cloud.ErrInvalid)
	}
	c, err := d.client(g.Subscription)
	if err != nil {
		return err
	}
	start := time.Now()
	got, err := c.Get(ctx, g.ResourceGroup, g.ScaleSet, nil)
	if err != nil {
		return callErr(ctx, "reading scale set", g, err)
	}
	ss := got.VirtualMachineScaleSet
	if ss.SKU == nil || ss.SKU.Capacity == nil {
		return fmt.Errorf("azure: scale set %s has no sku.capacity to set (a Flexible scale set without a VM profile?): %w", refName(g), cloud.ErrInvalid)
	}
	from := *ss.SKU.Capacity
	if from == int64(n) && !strings.EqualFold(provisioningState(ss), "Failed") {
		// Already asked for; a failed scale set is updated again, which
		// is how Azure retries provisioning its instances.
		d.log.Debug("azure: capacity already set", "group", g.String(), "desired", n)
		return nil
	}
	update := armcompute.VirtualMachineScaleSetUpdate{
		SKU: &armcompute.SKU{Name: ss.SKU.Name, Tier: ss.SKU.Tier, Capacity: ptr(int64(n))},
	}
	var opts *armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions
	if ss.Etag != nil && *ss.Etag != "" {
		opts = &armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions{IfMatch: ss.Etag}
	}
	poller, err := c.BeginUpdate(ctx, g.ResourceGroup, g.ScaleSet, update, opts)
	if err != nil {
		return callErr(ctx, "updating the capacity of scale set", g, err)
	}
	d.log.Debug("azure: update accepted", "group", g.String(), "from", from, "to", n)
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if d.wait > 0 {
		wctx, cancel = context.WithTimeout(ctx, d.wait)
	}
	defer cancel()
	_, err = poller.PollUntilDone(wctx, &runtime.PollUntilDoneOptions{Frequency: d.poll})
	switch {
	case err == nil:
		d.log.Debug("azure: update done", "group", g.String(), "from", from, "to", n, "took", time.Since(start))
		return nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && wctx.Err() != nil:
		// Our own wait is over, not the caller's: Azure has the new
		// capacity and Describe reports Busy until the operation ends.
		d.log.Info("azure: update still running; not waiting longer", "group", g.String(), "from", from, "to", n, "waited", d.wait)
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 200 && re.StatusCode < 300 {
		// A poll answered, and the answer is that the operation failed.
		opErr := operationFailed(g, from, n, re)
		d.log.Warn("azure: update operation failed", "group", g.String(), "from", from, "to", n, "err", opErr)
		return opErr
	}
	return callErr(ctx, fmt.Sprintf("waiting for the update to %d of scale set", n), g, err)
}

// groupState computes what Describe reports from the scale set and its
// instance view.
func groupState(ss armcompute.VirtualMachineScaleSet, iv armcompute.VirtualMachineScaleSetInstanceView) (cloud.GroupState, error) {
	var gs cloud.GroupState
	if ss.SKU == nil || ss.SKU.Capacity == nil {
		return gs, fmt.Errorf("no sku.capacity (a Flexible scale set without a VM profile?): %w", cloud.ErrInvalid)
	}
	gs.Desired = int(*ss.SKU.Capacity)
	var err error
	if gs.Min, err = boundTag(ss.Tags, TagMin); err != nil {
		return gs, err
	}
	if gs.Max, err = boundTag(ss.Tags, TagMax); err != nil {
		return gs, err
	}
	if gs.Max > 0 && gs.Min > gs.Max {
		return gs, fmt.Errorf("tag %s=%d is above tag %s=%d: %w", TagMin, gs.Min, TagMax, gs.Max, cloud.ErrInvalid)
	}
	switch strings.ToLower(provisioningState(ss)) {
	case "updating", "creating", "deleting":
		gs.Busy = true
	}
	if iv.VirtualMachine != nil {
		for _, s := range iv.VirtualMachine.StatusesSummary {
			if s == nil || s.Code == nil || s.Count == nil {
				continue
			}
			switch strings.ToLower(*s.Code) {
			case "provisioningstate/succeeded", "provisioningstate/updating":
				// Updating instances are existing VMs taking a model
				// or extension change; they were serving before it.
				gs.InService += int(*s.Count)
			case "provisioningstate/creating":
				gs.Pending += int(*s.Count)
			}
		}
	}
	return gs, nil
}

// boundTag reads a bound from the scale set's tags: 0 when absent, an
// ErrInvalid error when malformed, because a bound the operator meant to
// set must not be ignored.
func boundTag(tags map[string]*string, name string) (int, error) {
	for k, v := range tags {
		// ARM tag names are case-insensitive.
		if !strings.EqualFold(k, name) || v == nil {
			continue
		}
		b, err := strconv.Atoi(strings.TrimSpace(*v))
		if err != nil || b < 0 {
			return 0, fmt.Errorf("tag %s=%q is not a whole number: %w", name, *v, cloud.ErrInvalid)
		}
		return b, nil
	}
	return 0, nil
}

func provisioningState(ss armcompute.VirtualMachineScaleSet) string {
	if ss.Properties == nil || ss.Properties.ProvisioningState == nil {
		return ""
	}
	return *ss.Properties.ProvisioningState
}

func ptr[T any](v T) *T { return &v }
