// Package azemu is an in-process emulator of the Azure Resource Manager
// wire protocol for virtual machine scale sets: enough of it for the real
// armcompute client, with its real pipeline, to describe and resize scale
// sets against it. Serve an Emulator with net/http (httptest.NewServer in
// tests) and build the driver with DriverOptions.
//
// What it speaks:
//
//   - GET    /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}
//   - GET    .../virtualMachineScaleSets/{name}/instanceView
//   - PATCH  .../virtualMachineScaleSets/{name} (sku, tags): a long-running
//     operation. The answer is 200 with the scale set in provisioningState
//     Updating, an Azure-AsyncOperation header and a Location header.
//   - GET    /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets
//     (the resource group's scale sets, sorted by name, Options.PageSize
//     per page, the rest behind nextLink)
//   - GET    /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/operations/{id}
//     (the Azure-AsyncOperation URL): {"status":"InProgress"} until
//     Options.OperationDuration (for a scale-out, at least
//     Options.BootDelay) has passed, then Succeeded, or Failed with
//     an error. With monitor=true (the Location URL) it answers 202 while
//     the operation runs.
//
// Every request must carry "Authorization: Bearer <token>" (401
// AuthenticationFailed otherwise) and an api-version query parameter (400
// MissingApiVersionParameter otherwise). Errors have ARM's shape,
// {"error":{"code":...,"message":...}}, with the status and code Azure
// uses: 404 SubscriptionNotFound / ResourceGroupNotFound /
// ResourceNotFound, 400 InvalidParameter, 409 Conflict for a concurrent
// operation, 412 PreconditionFailed for a stale If-Match, 429 with
// Retry-After for a request over Options.RateLimit (per subscription), and
// on injected faults 429 (the Compute provider's throttling answer, with
// Retry-After), 5xx and slow answers.
//
// Two things differ from Azure on purpose:
//
//   - Bounds. A scale set has no min or max in ARM (its autoscale setting
//     has). The emulator's bounds stand in for autoscale and quota limits:
//     an update outside them is refused with 400 InvalidParameter, as Azure
//     refuses a capacity above its own limit. CreateGroup also writes them
//     as the tags azure.TagMin and azure.TagMax, which is how the driver
//     learns a scale set's bounds.
//   - A failed operation. When an injected OperationFails fault ends an
//     update, the capacity goes back to what it was; Azure keeps the new
//     capacity with instances in a failed state. Either way the scale set's
//     provisioningState is Failed.
//
// Instances: an update adds instances that are ProvisioningState/creating
// in the instance view for Options.BootDelay, then succeeded; scale-in
// removes the newest first. As with Azure, an update that adds instances
// runs (the scale set Updating, its operation InProgress) until they are
// provisioned: at least BootDelay, so a scale set whose provisioningState
// is Succeeded has no instance still creating. That is what lets the
// driver's batch describe skip the instance view of a Succeeded set.
package azemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/emukit"
)

// Operation names, used in the call log and to aim faults.
const (
	// OpDescribe is a read of a scale set or of its instance view.
	OpDescribe = "describe"
	// OpSetDesired is an update (PATCH) of a scale set.
	OpSetDesired = "set_desired"
	// OpPoll is a read of a long-running operation's status.
	OpPoll = "poll"
	// OpList is a list of a resource group's scale sets (one page).
	OpList = "list"
)

// DefaultPageSize is how many scale sets a list page holds when
// Options.PageSize is zero.
const DefaultPageSize = 100

// DefaultToken is the bearer token DriverOptions hands the driver when
// Options.Token is empty.
const DefaultToken = "azemu-token"

// DefaultMaxCalls bounds the call log when Options.MaxCalls is zero.
const DefaultMaxCalls = emukit.DefaultMaxCalls

// maxCapacity is Azure's own limit on sku.capacity.
const maxCapacity = 1000

// Options configure an Emulator. The zero value is usable: instances boot
// at once, operations end at their first poll.
type Options struct {
	// BootDelay is how long a new instance is ProvisioningState/creating
	// before it is ProvisioningState/succeeded. An update that adds
	// instances stays InProgress at least this long.
	BootDelay time.Duration
	// OperationDuration is how long an update's operation stays
	// InProgress (at least BootDelay when it adds instances). Zero ends
	// it at the first request after the update.
	OperationDuration time.Duration
	// Location is the scale sets' region; "" means eastus. It appears in
	// the operation URLs, as with Azure.
	Location string
	// SKU is the VM size of created scale sets; "" means Standard_D2s_v3.
	SKU string
	// Token, if set, is the only bearer token accepted (401
	// InvalidAuthenticationToken otherwise); "" accepts any.
	Token string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxCalls bounds the call log (oldest dropped); zero means
	// DefaultMaxCalls.
	MaxCalls int
	// PageSize is how many scale sets one list page holds (the rest
	// follow nextLink); zero means DefaultPageSize.
	PageSize int
	// RateLimit throttles each subscription, as ARM does: updates take
	// from the write bucket, every other request (gets, instance views,
	// lists, operation polls) from the read bucket. A request over the
	// limit is answered 429 with Retry-After and the Compute provider's
	// throttling body, and changes nothing. The zero value is no limit.
	RateLimit emukit.RateLimit
}

// Validate reports whether the options are consistent.
func (o Options) Validate() error {
	if o.BootDelay < 0 || o.OperationDuration < 0 {
		return fmt.Errorf("azemu: boot delay and operation duration must be >= 0 (got %s, %s)", o.BootDelay, o.OperationDuration)
	}
	if o.MaxCalls < 0 {
		return fmt.Errorf("azemu: max calls must be >= 0 (got %d)", o.MaxCalls)
	}
	if o.PageSize < 0 {
		return fmt.Errorf("azemu: page size must be >= 0 (got %d)", o.PageSize)
	}
	return o.RateLimit.Validate()
}

// FaultKind is a failure the emulator can inject.
type FaultKind int

// The fault kinds, each answered the way Azure answers it.
const (
	// Throttle answers 429 with Retry-After and the Compute provider's
	// body: code OperationNotAllowed, detail TooManyRequests.
	Throttle FaultKind = iota + 1
	// ServerError answers Fault.Status (500 if zero) with the matching
	// ARM code (InternalExecutionError, BadGateway, ServiceUnavailable,
	// GatewayTimeout).
	ServerError
	// Busy answers 409 Conflict, "The request failed due to conflict with
	// a concurrent request", as Compute does while another operation
	// holds the scale set.
	Busy
	// Slow makes the request take Fault.Delay, then answers normally. A
	// client that goes away sooner gets no answer, but the request still
	// takes effect when the delay is over (an update starts), as ARM
	// carries out a request it has accepted.
	Slow
	// OperationFails accepts an update and ends its operation Failed with
	// Fault.Code and Fault.Message (AllocationFailed by default). It
	// applies to OpSetDesired only.
	OperationFails
	// Error answers Fault.Status with Fault.Code and Fault.Message.
	Error
)

// Fault makes matching requests fail, or answer slowly, a number of times.
type Fault struct {
	// Kind is the failure.
	Kind FaultKind
	// Op limits the fault to OpDescribe, OpSetDesired, OpPoll or OpList;
	// "" matches any request.
	Op string
	// Times is how many matching requests the fault affects: 0 means one,
	// a negative value means every one until ClearFaults. A request
	// consumes the fault even if it is refused for another reason.
	Times int
	// Delay is Slow's wait.
	Delay time.Duration
	// RetryAfter is Throttle's Retry-After, in whole seconds (1 if zero).
	RetryAfter time.Duration
	// Status is the HTTP status for ServerError and Error.
	Status int
	// Code and Message are the ARM error for Error and OperationFails.
	Code, Message string
}

// Validate reports whether the fault can be injected.
func (f Fault) Validate() error {
	switch f.Op {
	case "", OpDescribe, OpSetDesired, OpPoll, OpList:
	default:
		return fmt.Errorf("azemu: fault op must be %q, %q, %q, %q or empty (got %q)", OpDescribe, OpSetDesired, OpPoll, OpList, f.Op)
	}
	switch f.Kind {
	case Throttle, Busy:
	case ServerError:
		if f.Status != 0 && (f.Status < 500 || f.Status > 599) {
			return fmt.Errorf("azemu: a server error's status must be 5xx (got %d)", f.Status)
		}
	case Slow:
		if f.Delay <= 0 {
			return errors.New("azemu: a slow fault needs a positive delay")
		}
	case OperationFails:
		if f.Op != OpSetDesired {
			return fmt.Errorf("azemu: an operation failure applies to %q only", OpSetDesired)
		}
	case Error:
		if f.Status < 400 || f.Status > 599 || f.Code == "" {
			return fmt.Errorf("azemu: an error fault needs a 4xx/5xx status and a code (got %d %q)", f.Status, f.Code)
		}
	default:
		return fmt.Errorf("azemu: unknown fault kind %d", f.Kind)
	}
	if f.Delay < 0 || f.RetryAfter < 0 {
		return errors.New("azemu: fault durations must be >= 0")
	}
	return nil
}

// Call is one request the emulator answered, for tests to assert on.
type Call struct {
	// Time is when the request arrived, by the emulator's clock.
	Time time.Time
	// Method is the HTTP method.
	Method string
	// Path is the URL path; Op is OpDescribe, OpSetDesired, OpPoll,
	// OpList or "" for a path the emulator does not serve.
	Path string
	Op   string
	// APIVersion is the api-version query parameter.
	APIVersion string
	// Token is the bearer token the request carried ("" if none). It is
	// recorded so tests can check authentication; the emulator's tokens
	// are not secrets.
	Token string
	// IfMatch is the If-Match header, if any.
	IfMatch string
	// Status is the answer's status (also when the client went away
	// before a slow request was answered).
	Status int
	// Arrival numbers the requests in the order they arrived, from 1; the
	// log itself is in the order they took effect.
	Arrival uint64
	// Throttled is true when Options.RateLimit refused the request.
	Throttled bool
}

// Emulator is the emulated ARM endpoint holding scale sets. It is safe for
// concurrent use.
type Emulator struct {
	opts Options
	now  func() time.Time

	mu      sync.Mutex
	subs    map[string]bool // lower-case subscription ids
	rgs     map[string]bool // lower-case "sub/rg"
	sets    map[string]*scaleSet
	ops     map[string]*operation
	running []*operation
	faults  emukit.Faults[Fault]
	calls   *emukit.Log[Call]
	limiter *emukit.Limiter
	seq     int // operation and request ids
}

type scaleSet struct {
	sub, rg, name string
	min, max      int // max 0: unbounded
	capacity      int
	skuName, tier string
	tags          map[string]string
	etag          int
	state         string      // provisioningState
	readyAt       []time.Time // one per instance, ascending
	created       time.Time
	uid           string
	op            *operation // the update in progress, if any
}

type operation struct {
	id, sub    string
	set        *scaleSet
	start, end time.Time
	status     string // InProgress, Succeeded, Failed
	failCode   string // set: the operation ends Failed with it
	failMsg    string
	prevCap    int
	prevReady  []time.Time
	finishedAt time.Time
}

// New returns an empty emulator. It panics if opts are invalid, which is a
// programming error.
func New(opts Options) *Emulator {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	if opts.Location == "" {
		opts.Location = "eastus"
	}
	if opts.SKU == "" {
		opts.SKU = "Standard_D2s_v3"
	}
	if opts.MaxCalls == 0 {
		opts.MaxCalls = DefaultMaxCalls
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Emulator{
		opts: opts, now: now,
		subs: make(map[string]bool), rgs: make(map[string]bool),
		sets: make(map[string]*scaleSet), ops: make(map[string]*operation),
		calls: emukit.NewLog[Call](opts.MaxCalls), limiter: emukit.NewLimiter(opts.RateLimit),
	}
}

func setKey(sub, rg, name string) string { return strings.ToLower(sub + "/" + rg + "/" + name) }

// CreateGroup adds a scale set (and its subscription and resource group)
// whose desired instances are all running. min and max are the bounds
// updates must stay within (max 0: none but Azure's); they are also
// written as the tags azure.TagMin and azure.TagMax (max only when
// positive).
func (e *Emulator) CreateGroup(subscription, resourceGroup, name string, min, max, desired int) error {
	if subscription == "" || resourceGroup == "" || name == "" {
		return errors.New("azemu: subscription, resource group and name must not be empty")
	}
	if min < 0 || max < 0 || desired < 0 || desired > maxCapacity || (max > 0 && (min > max || desired > max)) || desired < min {
		return fmt.Errorf("azemu: scale set %s: sizes min %d, max %d, desired %d are inconsistent", name, min, max, desired)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	k := setKey(subscription, resourceGroup, name)
	if _, ok := e.sets[k]; ok {
		return fmt.Errorf("azemu: scale set %s/%s/%s exists", subscription, resourceGroup, name)
	}
	tags := map[string]string{azure.TagMin: strconv.Itoa(min)}
	if max > 0 {
		tags[azure.TagMax] = strconv.Itoa(max)
	}
	s := &scaleSet{
		sub: subscription, rg: resourceGroup, name: name, min: min, max: max,
		capacity: desired, skuName: e.opts.SKU, tier: "Standard", tags: tags,
		etag: 1, state: "Succeeded", created: now,
	}
	e.seq++
	s.uid = fmt.Sprintf("00000000-0000-4000-c000-%012d", e.seq)
	for range desired {
		s.readyAt = append(s.readyAt, now)
	}
	e.sets[k] = s
	e.subs[strings.ToLower(subscription)] = true
	e.rgs[strings.ToLower(subscription+"/"+resourceGroup)] = true
	return nil
}

// Desired returns a scale set's sku.capacity, without a call being logged
// or a fault consumed.
func (e *Emulator) Desired(subscription, resourceGroup, name string) (int, error) {
	gs, err := e.State(subscription, resourceGroup, name)
	return gs.Desired, err
}

// State returns a scale set's sizes as the driver should describe them,
// without a call being logged or a fault consumed.
func (e *Emulator) State(subscription, resourceGroup, name string) (cloud.GroupState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	s, ok := e.sets[setKey(subscription, resourceGroup, name)]
	if !ok {
		return cloud.GroupState{}, fmt.Errorf("azemu: no scale set %s/%s/%s: %w", subscription, resourceGroup, name, cloud.ErrNotFound)
	}
	ready, booting := s.counts(e.now())
	return cloud.GroupState{Desired: s.capacity, Min: s.min, Max: s.max, InService: ready, Pending: booting, Busy: busyState(s.state)}, nil
}

// SetProvisioningState sets a scale set's provisioningState, as an
// operation started elsewhere (the portal, another tool) would: Updating
// makes the driver report Busy. It does not start an operation, so the
// state stays until set again.
func (e *Emulator) SetProvisioningState(subscription, resourceGroup, name, state string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	s, ok := e.sets[setKey(subscription, resourceGroup, name)]
	if !ok {
		return fmt.Errorf("azemu: no scale set %s/%s/%s: %w", subscription, resourceGroup, name, cloud.ErrNotFound)
	}
	s.state = state
	return nil
}

// InjectFault queues a fault.
func (e *Emulator) InjectFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	e.faults.Add(f, f.Times)
	return nil
}

// ClearFaults drops every queued fault.
func (e *Emulator) ClearFaults() { e.faults.Clear() }

// Throttled is how many requests Options.RateLimit has refused; unlike
// the bounded call log it counts every one.
func (e *Emulator) Throttled() uint64 { return e.limiter.Throttled() }

// Calls returns the call log in the order the requests took effect, oldest
// first (the newest Options.MaxCalls).
func (e *Emulator) Calls() []Call { return e.calls.Calls() }

// CloudConfig is the cloud configuration that points the SDK at an
// emulator served at baseURL (for example an httptest server's URL). The
// audience only shapes the token scope, which the emulator ignores; the
// SDK requires one.
func CloudConfig(baseURL string) azcloud.Configuration {
	baseURL = strings.TrimRight(baseURL, "/")
	return azcloud.Configuration{
		ActiveDirectoryAuthorityHost: baseURL + "/",
		Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
			azcloud.ResourceManager: {Endpoint: baseURL, Audience: baseURL},
		},
	}
}

// DriverOptions are the driver options for talking to this emulator served
// at baseURL: its cloud configuration, a Credential with the token it
// accepts, http allowed when baseURL is http, and fast polling (in a test
// binary; elsewhere the driver raises it to the SDK's one-second floor).
func (e *Emulator) DriverOptions(baseURL string) azure.Options {
	tok := e.opts.Token
	if tok == "" {
		tok = DefaultToken
	}
	return azure.Options{
		Credential:                      Credential{Token: tok},
		Cloud:                           CloudConfig(baseURL),
		InsecureAllowCredentialWithHTTP: strings.HasPrefix(strings.ToLower(baseURL), "http://"),
		PollFrequency:                   10 * time.Millisecond,
	}
}

// Credential is an azcore.TokenCredential that hands out a fixed token,
// valid for an hour from each request: all the emulator needs, which
// checks only that a bearer token arrives (and, with Options.Token, which).
type Credential struct {
	Token string
}

// GetToken returns the fixed token.
func (c Credential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.Token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// ServeHTTP answers one ARM request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusWriter{ResponseWriter: w}
	call := Call{
		Time: e.now(), Method: r.Method, Path: r.URL.Path,
		APIVersion: r.URL.Query().Get("api-version"), IfMatch: r.Header.Get("If-Match"),
	}
	rt := parseRoute(r.Method, r.URL.Path)
	call.Op = rt.op
	tok, hasTok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	call.Token = tok
	call.Arrival = e.calls.Arrive()
	// The call is logged once: as its status is written, before the
	// answer reaches the client (so a client reading the log after its
	// answer finds the call there), or by the effect of a slow request,
	// which lands later (handedOff).
	handedOff := false
	logCall := func(status int) {
		if !handedOff {
			handedOff = true
			call.Status = status
			e.calls.Done(call.Arrival, call)
		}
	}
	rec.onStatus = logCall
	defer func() { logCall(rec.status) }() // nothing was written
	e.mu.Lock()
	e.seq++
	rec.Header().Set("x-ms-request-id", fmt.Sprintf("00000000-0000-4000-a000-%012d", e.seq))
	e.mu.Unlock()

	switch {
	case !hasTok || tok == "":
		writeError(rec, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return
	case e.opts.Token != "" && tok != e.opts.Token:
		writeError(rec, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	case call.APIVersion == "":
		writeError(rec, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	case rt.op == "":
		if rt.known {
			writeError(rec, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		} else {
			writeError(rec, http.StatusNotFound, "InvalidResourceType", "The emulator does not serve "+r.URL.Path)
		}
		return
	}

	// Read the body before anything slow: the server notices a client
	// that went away (and cancels r.Context) only once the body is read.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(rec, http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read: "+err.Error())
		return
	}

	// ARM throttles before the resource provider sees the request: a
	// throttled request consumes no fault and changes nothing.
	if !e.limiter.Allow(strings.ToLower(rt.sub), rt.op == OpSetDesired, call.Time) {
		call.Throttled = true
		writeThrottled(rec, rt.op, time.Second)
		return
	}
	var f *Fault
	if taken, ok := e.faults.Take(func(f Fault) bool { return f.Op == "" || f.Op == rt.op }); ok {
		f = &taken
	}
	failOp := (*Fault)(nil)
	if f != nil {
		switch f.Kind {
		case Slow:
			// The answer is built aside: it outlives this handler when
			// the client goes first, and then must not touch w.
			handedOff = true
			buf := httptest.NewRecorder()
			landed := call
			if _, gone := emukit.Slow(r.Context(), f.Delay, func() error {
				e.serveRoute(buf, r, rt, body, nil)
				landed.Status = buf.Code
				e.calls.Done(landed.Arrival, landed)
				return nil
			}); gone != nil {
				return // the client went away; the request lands later, unanswered
			}
			maps.Copy(rec.Header(), buf.Header())
			rec.WriteHeader(buf.Code)
			_, _ = rec.Write(buf.Body.Bytes())
			return
		case Throttle:
			writeThrottled(rec, rt.op, f.RetryAfter)
			return
		case ServerError:
			writeServerError(rec, f.Status)
			return
		case Busy:
			writeConflict(rec)
			return
		case Error:
			writeError(rec, f.Status, f.Code, f.Message)
			return
		case OperationFails:
			failOp = f
		}
	}

	e.serveRoute(rec, r, rt, body, failOp)
}

// serveRoute answers a request that no fault refused.
func (e *Emulator) serveRoute(w http.ResponseWriter, r *http.Request, rt route, body []byte, failOp *Fault) {
	switch {
	case rt.op == OpPoll:
		e.servePoll(w, r, rt)
	case rt.op == OpSetDesired:
		e.serveUpdate(w, r, rt, body, failOp)
	case rt.op == OpList:
		e.serveList(w, r, rt)
	case rt.instanceView:
		e.serveInstanceView(w, rt)
	default:
		e.serveGet(w, rt)
	}
}

// route is a parsed request path.
type route struct {
	op           string // "" when the path or method is not served
	known        bool   // the path is served (the method may not be)
	sub, rg      string
	name         string
	instanceView bool
	location, id string // operation URLs
}

func parseRoute(method, path string) route {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	is := func(i int, lit string) bool { return i < len(seg) && strings.EqualFold(seg[i], lit) }
	switch {
	case (len(seg) == 8 || len(seg) == 9) && is(0, "subscriptions") && is(2, "resourceGroups") && is(4, "providers") &&
		is(5, "Microsoft.Compute") && is(6, "virtualMachineScaleSets") && (len(seg) == 8 || is(8, "instanceView")):
		rt := route{known: true, sub: seg[1], rg: seg[3], name: seg[7], instanceView: len(seg) == 9}
		switch {
		case method == http.MethodGet:
			rt.op = OpDescribe
		case method == http.MethodPatch && !rt.instanceView:
			rt.op = OpSetDesired
		}
		return rt
	case len(seg) == 7 && is(0, "subscriptions") && is(2, "resourceGroups") && is(4, "providers") &&
		is(5, "Microsoft.Compute") && is(6, "virtualMachineScaleSets"):
		rt := route{known: true, sub: seg[1], rg: seg[3]}
		if method == http.MethodGet {
			rt.op = OpList
		}
		return rt
	case len(seg) == 8 && is(0, "subscriptions") && is(2, "providers") && is(3, "Microsoft.Compute") &&
		is(4, "locations") && is(6, "operations"):
		rt := route{known: true, sub: seg[1], location: seg[5], id: seg[7]}
		if method == http.MethodGet {
			rt.op = OpPoll
		}
		return rt
	}
	return route{}
}

// lookup finds a scale set or writes the 404 Azure would.
func (e *Emulator) lookup(w http.ResponseWriter, rt route) *scaleSet {
	if s, ok := e.sets[setKey(rt.sub, rt.rg, rt.name)]; ok {
		return s
	}
	switch {
	case !e.subs[strings.ToLower(rt.sub)]:
		writeError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", rt.sub))
	case !e.rgs[strings.ToLower(rt.sub+"/"+rt.rg)]:
		writeError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", rt.rg))
	default:
		writeError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf(
			"The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", rt.name, rt.rg))
	}
	return nil
}

func (e *Emulator) serveGet(w http.ResponseWriter, rt route) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	s := e.lookup(w, rt)
	if s == nil {
		return
	}
	w.Header().Set("ETag", s.etagString())
	writeJSON(w, http.StatusOK, e.scaleSetJSON(s))
}

func (e *Emulator) serveInstanceView(w http.ResponseWriter, rt route) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	s := e.lookup(w, rt)
	if s == nil {
		return
	}
	ready, booting := s.counts(e.now())
	var iv instanceViewJSON
	if ready > 0 {
		iv.VirtualMachine.StatusesSummary = append(iv.VirtualMachine.StatusesSummary, codeCount{"ProvisioningState/succeeded", ready})
	}
	if booting > 0 {
		iv.VirtualMachine.StatusesSummary = append(iv.VirtualMachine.StatusesSummary, codeCount{"ProvisioningState/creating", booting})
	}
	state := strings.ToLower(s.state)
	iv.Statuses = []statusJSON{{Code: "ProvisioningState/" + state, Level: "Info", DisplayStatus: "Provisioning " + state, Time: e.now().UTC().Format(time.RFC3339Nano)}}
	writeJSON(w, http.StatusOK, iv)
}

func (e *Emulator) serveUpdate(w http.ResponseWriter, r *http.Request, rt route, data []byte, fail *Fault) {
	var body updateJSON
	if err := json.Unmarshal(data, &body); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	s := e.lookup(w, rt)
	if s == nil {
		return
	}
	capacity := s.capacity
	if body.SKU != nil && body.SKU.Capacity != nil {
		c := *body.SKU.Capacity
		switch {
		case c < 0 || c > maxCapacity:
			writeErrorTarget(w, http.StatusBadRequest, "InvalidParameter", fmt.Sprintf(
				"The value %d of parameter 'sku.capacity' is out of range. The value must be between 0 and %d, inclusive.", c, maxCapacity), "sku.capacity")
			return
		case int(c) < s.min || (s.max > 0 && int(c) > s.max):
			writeErrorTarget(w, http.StatusBadRequest, "InvalidParameter", fmt.Sprintf(
				"The value %d of parameter 'sku.capacity' is out of range. The value must be between %d and %d, inclusive (the emulated autoscale and quota limits of this scale set).", c, s.min, s.max), "sku.capacity")
			return
		}
		capacity = int(c)
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != s.etagString() {
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailed", "The condition specified using HTTP conditional header(s) is not met.")
		return
	}
	if s.op != nil {
		writeConflict(w)
		return
	}
	now := e.now()
	e.seq++
	took := e.opts.OperationDuration
	if capacity > s.capacity {
		// Azure ends a scale-out's operation once its new instances
		// are provisioned, not before.
		took = max(took, e.opts.BootDelay)
	}
	op := &operation{
		id: fmt.Sprintf("00000000-0000-4000-b000-%012d", e.seq), sub: s.sub, set: s,
		start: now, end: now.Add(took), status: "InProgress",
		prevCap: s.capacity, prevReady: slices.Clone(s.readyAt),
	}
	if fail != nil {
		op.failCode, op.failMsg = fail.Code, fail.Message
		if op.failCode == "" {
			op.failCode = "AllocationFailed"
			op.failMsg = "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
		}
	}
	if body.SKU != nil && body.SKU.Name != nil && *body.SKU.Name != "" {
		s.skuName = *body.SKU.Name
	}
	if body.SKU != nil && body.SKU.Tier != nil && *body.SKU.Tier != "" {
		s.tier = *body.SKU.Tier
	}
	if body.Tags != nil {
		// PATCH replaces the whole tag set, as ARM does.
		s.tags = make(map[string]string, len(body.Tags))
		for k, v := range body.Tags {
			if v != nil {
				s.tags[k] = *v
			}
		}
	}
	s.resize(capacity, now.Add(e.opts.BootDelay))
	s.etag++
	s.state = "Updating"
	s.op = op
	e.ops[op.id] = op
	e.running = append(e.running, op)
	e.pruneOps()

	base := baseURL(r)
	async := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s?api-version=%s",
		base, s.sub, e.opts.Location, op.id, r.URL.Query().Get("api-version"))
	w.Header().Set("Azure-AsyncOperation", async)
	w.Header().Set("Location", async+"&monitor=true")
	w.Header().Set("ETag", s.etagString())
	writeJSON(w, http.StatusOK, e.scaleSetJSON(s))
}

func (e *Emulator) servePoll(w http.ResponseWriter, r *http.Request, rt route) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	op, ok := e.ops[rt.id]
	if !ok || !strings.EqualFold(op.sub, rt.sub) {
		writeError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("The operation '%s' was not found.", rt.id))
		return
	}
	if r.URL.Query().Get("monitor") == "true" && op.status == "InProgress" {
		w.Header().Set("Location", baseURL(r)+r.URL.RequestURI())
		w.WriteHeader(http.StatusAccepted)
		return
	}
	st := operationJSON{Name: op.id, Status: op.status, StartTime: op.start.UTC().Format(time.RFC3339Nano)}
	if op.status != "InProgress" {
		st.EndTime = op.finishedAt.UTC().Format(time.RFC3339Nano)
	}
	if op.status == "Failed" {
		st.Error = &armError{Code: op.failCode, Message: op.failMsg}
	}
	writeJSON(w, http.StatusOK, st)
}

// advance ends the operations whose time has come. Callers hold e.mu.
func (e *Emulator) advance() {
	now := e.now()
	kept := e.running[:0]
	for _, op := range e.running {
		if now.Before(op.end) {
			kept = append(kept, op)
			continue
		}
		s := op.set
		op.finishedAt = now
		if op.failCode != "" {
			op.status = "Failed"
			s.capacity, s.readyAt = op.prevCap, op.prevReady
			s.etag++
			s.state = "Failed"
		} else {
			op.status = "Succeeded"
			s.state = "Succeeded"
		}
		s.op = nil
	}
	clear(e.running[len(kept):])
	e.running = kept
}

// pruneOps keeps the operation table bounded: finished operations beyond
// the newest thousand are forgotten (a later poll of one gets a 404).
func (e *Emulator) pruneOps() {
	const keep = 1000
	if len(e.ops) <= 2*keep {
		return
	}
	var done []*operation
	for _, op := range e.ops {
		if op.status != "InProgress" {
			done = append(done, op)
		}
	}
	slices.SortFunc(done, func(a, b *operation) int { return a.start.Compare(b.start) })
	for _, op := range done[:max(0, len(done)-keep)] {
		delete(e.ops, op.id)
	}
}

// resize sets the capacity: new instances become ready at readyAt, and
// scale-in trims the newest (booting ones first).
func (s *scaleSet) resize(n int, readyAt time.Time) {
	for len(s.readyAt) < n {
		s.readyAt = append(s.readyAt, readyAt)
	}
	s.readyAt = s.readyAt[:n]
	s.capacity = n
}

func (s *scaleSet) counts(now time.Time) (ready, booting int) {
	for _, t := range s.readyAt {
		if t.After(now) {
			booting++
		} else {
			ready++
		}
	}
	return ready, booting
}

func (s *scaleSet) etagString() string { return `"` + strconv.Itoa(s.etag) + `"` }

func busyState(state string) bool {
	switch strings.ToLower(state) {
	case "updating", "creating", "deleting":
		return true
	}
	return false
}

func (e *Emulator) scaleSetJSON(s *scaleSet) scaleSetJSON {
	v := scaleSetJSON{
		ID:       fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s", s.sub, s.rg, s.name),
		Name:     s.name,
		Type:     "Microsoft.Compute/virtualMachineScaleSets",
		Location: e.opts.Location,
		Etag:     s.etagString(),
		Tags:     s.tags,
		SKU:      skuJSON{Name: s.skuName, Tier: s.tier, Capacity: int64(s.capacity)},
	}
	v.Properties.ProvisioningState = s.state
	v.Properties.OrchestrationMode = "Uniform"
	v.Properties.Overprovision = false
	v.Properties.UpgradePolicy.Mode = "Manual"
	v.Properties.UniqueID = s.uid
	v.Properties.TimeCreated = s.created.UTC().Format(time.RFC3339Nano)
	return v
}

// baseURL is the scheme and host the client reached, for the absolute
// operation URLs ARM returns.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// statusWriter remembers the status written, and tells onStatus (if set)
// before it goes out.
type statusWriter struct {
	http.ResponseWriter
	status   int
	onStatus func(int)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.onStatus != nil {
			w.onStatus(code)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
