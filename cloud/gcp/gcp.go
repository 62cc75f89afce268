// Package gcp is the cloud.Driver for Google Compute Engine managed instance
// groups (MIGs), zonal and regional, through the official REST clients of
// cloud.google.com/go/compute/apiv1.
//
// Describe reads the group (instanceGroupManagers.get) and, when the group
// has an autoscaler attached, the autoscaler (autoscalers.get) for its
// bounds. SetDesired reads the group the same way, resizes it
// (instanceGroupManagers.resize) only when the size differs, and polls the
// returned zone or region operation until it is DONE; the resize carries
// the request id the context holds (cloud.RequestFrom) as its requestId.
// Activities (operations.go) lists the group's resize operations, which
// the control plane reads to settle a resize whose outcome was unknown.
// DescribeBatch (batch.go) lists groups and autoscalers per zone or
// region; it sends the REST clients' own list requests through an HTTP
// client built from the same options, and decodes the pages itself
// (list.go, listjson.go): the REST clients' protojson decoding was most of
// an idle leader's CPU.
//
// Sizes, as GroupState reports them:
//   - Desired is the group's targetSize.
//   - InService counts instances with no current action (currentActions.none)
//     plus those being refreshed in place (refreshing: they keep running).
//   - Pending counts instances on their way up: creating,
//     creatingWithoutRetries, recreating, restarting, starting, resuming and
//     verifying.
//   - Busy is !status.isStable: the group is still carrying out actions.
//   - Min and Max: a MIG has no bounds of its own; its autoscaler does. With
//     an autoscaler attached they are its minNumReplicas and maxNumReplicas
//     (run it in mode OFF: it then only holds the bounds and Capstan decides
//     the size). Without one, Min and Max are 0, which the control plane
//     reads as "no provider bound" (it clamps to Max only when Max > 0);
//     Compute Engine's own per-group limit still answers 400 (ErrInvalid).
//
// A group whose autoscaler is not in mode OFF is refused by SetDesired with
// cloud.ErrInvalid: two autoscalers would undo each other's decisions.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
)

// DefaultPollInterval is how often SetDesired polls a resize operation. A
// MIG resize operation is DONE as soon as the creations or deletions are
// scheduled, usually within a second or two, so a steady 1 s (the SDK's own
// first interval) finds it promptly without hammering the API.
const DefaultPollInterval = time.Second

// Options configure New. The zero value talks to compute.googleapis.com
// with application default credentials.
type Options struct {
	// Endpoint overrides the API's base URL, e.g. "https://compute-capstan.p.googleapis.com"
	// for Private Service Connect or a test server's URL. Empty means the
	// SDK's default (https://compute.googleapis.com). It is applied after
	// ClientOptions, so it wins over an option.WithEndpoint there.
	Endpoint string
	// HTTPClient, when set, is the client every SDK client sends through
	// (it wins over an option.WithHTTPClient in ClientOptions), and the
	// SDK's own list calls (the operations list Activities reads) then
	// send their pages under the caller's context, which the SDK's List
	// methods leave off their requests: a cancelled or expired list stops
	// at once, and the transports under it (the call budget's) see the
	// caller's deadline. Without it the SDK builds its own client, and such
	// a list stops between pages. (The batch describe's lists are the
	// driver's own requests, list.go, which carry the context either way.)
	HTTPClient *http.Client
	// ClientOptions are passed to every SDK client: option.WithAuthCredentialsFile,
	// option.WithoutAuthentication and option.WithHTTPClient (tests),
	// option.WithUniverseDomain, and so on. Without credential options the
	// SDK uses application default credentials.
	ClientOptions []option.ClientOption
	// Logger receives debug lines about resizes and operations (group,
	// sizes, operation names; never credentials). Nil discards them.
	Logger *slog.Logger
	// PollInterval is the wait between polls of a resize operation;
	// 0 means DefaultPollInterval. Tests use a few milliseconds.
	PollInterval time.Duration
}

// Driver resizes managed instance groups. It is safe for concurrent use;
// Close releases its connections.
type Driver struct {
	zonal        *compute.InstanceGroupManagersClient
	regional     *compute.RegionInstanceGroupManagersClient
	autoscalers  *compute.AutoscalersClient
	rAutoscalers *compute.RegionAutoscalersClient
	zoneOps      *compute.ZoneOperationsClient   // Activities (operations.go)
	regionOps    *compute.RegionOperationsClient // Activities (operations.go)
	lists        *lister                         // the batch describe's lists (list.go)
	log          *slog.Logger
	poll         time.Duration
	// calls gives list requests their call's context (callctx.go); nil
	// without Options.HTTPClient.
	calls *callContexts
}

var _ cloud.Driver = (*Driver)(nil)

// noRetry returns the call option that turns off the SDK's own retries.
// Its defaults retry Get (and operation polls) on 503 and 504 with a
// backoff up to a minute inside a 10-minute call timeout; under
// cloud.Retrying, which the control plane wraps every driver with, that
// would multiply the attempts and hide a struggling API behind one slow
// call. Every call makes one attempt and the wrapper decides.
func noRetry() gax.CallOption { return gax.WithRetry(func() gax.Retryer { return nil }) }

// New creates the four REST clients the driver needs (zonal and regional
// instance group managers and autoscalers; the operation clients come with
// the former). Credentials are resolved here, so New fails when none can be
// found; pass option.WithoutAuthentication to talk to an emulator.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if opts.PollInterval < 0 {
		return nil, fmt.Errorf("gcp: poll interval %s is negative", opts.PollInterval)
	}
	copts := append([]option.ClientOption(nil), opts.ClientOptions...)
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("gcp: endpoint %q is not an http(s) URL like https://compute.googleapis.com", opts.Endpoint)
		}
		// The clients append "/compute/v1/..." to the endpoint's path.
		copts = append(copts, option.WithEndpoint(strings.TrimRight(opts.Endpoint, "/")))
	}
	d := &Driver{log: opts.Logger, poll: opts.PollInterval}
	if opts.HTTPClient != nil {
		var client *http.Client
		client, d.calls = withCallContexts(opts.HTTPClient)
		copts = append(copts, option.WithHTTPClient(client))
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.poll == 0 {
		d.poll = DefaultPollInterval
	}
	var err error
	if d.zonal, err = compute.NewInstanceGroupManagersRESTClient(ctx, copts...); err != nil {
		return nil, fmt.Errorf("gcp: creating the instance group managers client: %w", err)
	}
	if d.regional, err = compute.NewRegionInstanceGroupManagersRESTClient(ctx, copts...); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the region instance group managers client: %w", err)
	}
	if d.autoscalers, err = compute.NewAutoscalersRESTClient(ctx, copts...); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the autoscalers client: %w", err)
	}
	if d.rAutoscalers, err = compute.NewRegionAutoscalersRESTClient(ctx, copts...); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the region autoscalers client: %w", err)
	}
	if d.zoneOps, err = compute.NewZoneOperationsRESTClient(ctx, copts...); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the zone operations client: %w", err)
	}
	if d.regionOps, err = compute.NewRegionOperationsRESTClient(ctx, copts...); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the region operations client: %w", err)
	}
	if d.lists, err = newLister(ctx, copts); err != nil {
		d.Close()
		return nil, fmt.Errorf("gcp: creating the list client: %w", err)
	}
	return d, nil
}

// Close releases the clients' connections.
func (d *Driver) Close() error {
	var errs []error
	if d.zonal != nil {
		errs = append(errs, d.zonal.Close())
	}
	if d.regional != nil {
		errs = append(errs, d.regional.Close())
	}
	if d.autoscalers != nil {
		errs = append(errs, d.autoscalers.Close())
	}
	if d.rAutoscalers != nil {
		errs = append(errs, d.rAutoscalers.Close())
	}
	if d.zoneOps != nil {
		errs = append(errs, d.zoneOps.Close())
	}
	if d.regionOps != nil {
		errs = append(errs, d.regionOps.Close())
	}
	return errors.Join(errs...)
}

// Describe reports the group's sizes (see the package comment for how
// each GroupState field is derived).
func (d *Driver) Describe(ctx context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	t, err := parseRef(g)
	if err != nil {
		return cloud.GroupState{}, err
	}
	gs, _, err := d.describe(ctx, t)
	return gs, err
}

// bounds is what the group's autoscaler says, if it has one.
type bounds struct {
	name     string
	min, max int
	mode     string
}

func (d *Driver) describe(ctx context.Context, t target) (cloud.GroupState, *bounds, error) {
	igm, err := d.getGroup(ctx, t)
	if err != nil {
		return cloud.GroupState{}, nil, err
	}
	gs := igmState(igm)
	link := igm.GetStatus().GetAutoscaler()
	if link == "" {
		return gs, nil, nil
	}
	b, err := d.getAutoscaler(ctx, t, link)
	if err != nil {
		return cloud.GroupState{}, nil, err
	}
	if b == nil {
		return gs, nil, nil
	}
	gs.Min, gs.Max = b.min, b.max
	return gs, b, nil
}

// SetDesired resizes the group to n and waits for the resize operation.
// Asking for the current targetSize is a no-op success without a resize
// call (cheaper, and it does not disturb a group that is mid-update). Sizes
// outside the autoscaler's bounds, negative sizes and groups autoscaled by
// Compute Engine (mode other than OFF) are refused with cloud.ErrInvalid
// before any change.
func (d *Driver) SetDesired(ctx context.Context, g cloud.GroupRef, n int) error {
	t, err := parseRef(g)
	if err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("gcp: resize %s to %d: size must be between 0 and %d: %w", t, n, math.MaxInt32, cloud.ErrInvalid)
	}
	gs, b, err := d.describe(ctx, t)
	if err != nil {
		return err
	}
	if gs.Desired == n {
		return nil
	}
	if b != nil {
		if b.mode != computepb.AutoscalingPolicy_OFF.String() {
			return fmt.Errorf("gcp: resize %s: its autoscaler %s is in mode %s and would undo Capstan's sizes; set the autoscaler's mode to OFF (it then only holds the min and max) or remove it: %w",
				t, b.name, b.mode, cloud.ErrInvalid)
		}
		if n < b.min || n > b.max {
			return fmt.Errorf("gcp: resize %s to %d: outside its autoscaler's bounds %d..%d: %w", t, n, b.min, b.max, cloud.ErrInvalid)
		}
	}
	op, err := d.resize(ctx, t, int32(n))
	if err != nil {
		return err
	}
	d.log.DebugContext(ctx, "gcp resize started", "group", t.String(), "from", gs.Desired, "to", n, "operation", op.Name())
	return d.wait(ctx, t, n, op)
}

func (d *Driver) getGroup(ctx context.Context, t target) (*computepb.InstanceGroupManager, error) {
	var igm *computepb.InstanceGroupManager
	var err error
	if t.regional {
		igm, err = d.regional.Get(ctx, &computepb.GetRegionInstanceGroupManagerRequest{
			Project: t.project, Region: t.location, InstanceGroupManager: t.name,
		}, noRetry())
	} else {
		igm, err = d.zonal.Get(ctx, &computepb.GetInstanceGroupManagerRequest{
			Project: t.project, Zone: t.location, InstanceGroupManager: t.name,
		}, noRetry())
	}
	if err != nil {
		return nil, classify(ctx, "get "+t.String(), err)
	}
	return igm, nil
}

// getAutoscaler reads the bounds of the autoscaler at link. An autoscaler
// that has just been deleted (404 while the group still links to it) means
// no bounds rather than a missing group.
func (d *Driver) getAutoscaler(ctx context.Context, t target, link string) (*bounds, error) {
	ref, err := parseAutoscalerLink(link)
	if err != nil {
		return nil, fmt.Errorf("%w (group %s)", err, t)
	}
	var as *computepb.Autoscaler
	if ref.regional {
		as, err = d.rAutoscalers.Get(ctx, &computepb.GetRegionAutoscalerRequest{
			Project: ref.project, Region: ref.location, Autoscaler: ref.name,
		}, noRetry())
	} else {
		as, err = d.autoscalers.Get(ctx, &computepb.GetAutoscalerRequest{
			Project: ref.project, Zone: ref.location, Autoscaler: ref.name,
		}, noRetry())
	}
	if err != nil {
		err = classify(ctx, "get the autoscaler of "+t.String(), err)
		if errors.Is(err, cloud.ErrNotFound) {
			d.log.DebugContext(ctx, "gcp autoscaler linked but gone; no bounds", "group", t.String(), "autoscaler", ref.name)
			return nil, nil
		}
		return nil, err
	}
	return autoscalerBounds(as, ref.name), nil
}

// resize sends the resize, with the request id ctx carries
// (cloud.RequestFrom) as its requestId: Compute Engine then carries out
// every attempt of one intent once, and records the id in the operation
// (clientOperationId), where Activities finds it.
func (d *Driver) resize(ctx context.Context, t target, n int32) (*compute.Operation, error) {
	var op *compute.Operation
	var err error
	var reqID *string
	if id, ok := cloud.RequestFrom(ctx); ok {
		reqID = &id
	}
	if t.regional {
		op, err = d.regional.Resize(ctx, &computepb.ResizeRegionInstanceGroupManagerRequest{
			Project: t.project, Region: t.location, InstanceGroupManager: t.name, Size: n, RequestId: reqID,
		}, noRetry())
	} else {
		op, err = d.zonal.Resize(ctx, &computepb.ResizeInstanceGroupManagerRequest{
			Project: t.project, Zone: t.location, InstanceGroupManager: t.name, Size: n, RequestId: reqID,
		}, noRetry())
	}
	if err != nil {
		return nil, classify(ctx, fmt.Sprintf("resize %s to %d", t, n), err)
	}
	return op, nil
}

// wait polls op until it is DONE, every d.poll, for as long as ctx allows.
//
// It does not use op.Wait: that backs off from 1 s to a minute with no way
// to shorten it, and it recognises a failed operation only by
// httpErrorStatusCode, returning a googleapi error carrying that status
// (a failed operation with a 400 there would look like an invalid request)
// and nil for an operation that has error.errors but no status. Here a
// failed operation is always an *OperationError wrapped in ErrUnavailable.
func (d *Driver) wait(ctx context.Context, t target, n int, op *compute.Operation) error {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for !op.Done() {
		timer.Reset(d.poll)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gcp: waiting for operation %s (resize %s to %d): %w", op.Name(), t, n, ctx.Err())
		case <-timer.C:
		}
		if err := op.Poll(ctx, noRetry()); err != nil && !op.Done() {
			return classify(ctx, fmt.Sprintf("poll operation %s (resize %s to %d)", op.Name(), t, n), err)
		}
		// An error with the operation DONE is the operation's own failure,
		// read from the proto below.
	}
	if oerr := operationFailure(op.Proto()); oerr != nil {
		d.log.DebugContext(ctx, "gcp resize failed", "group", t.String(), "to", n, "operation", op.Name(), "err", oerr.Error())
		return fmt.Errorf("gcp: resize %s to %d: %w: %w: %w", t, n, cloud.ErrUnavailable, cloud.ErrOperationFailed, oerr)
	}
	d.log.DebugContext(ctx, "gcp resize done", "group", t.String(), "to", n, "operation", op.Name(), "waited", time.Since(start))
	return nil
}
