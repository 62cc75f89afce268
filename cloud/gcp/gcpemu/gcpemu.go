// Package gcpemu is an in-process emulator of the part of the Compute
// Engine REST API (v1) that the gcp driver uses, for pointing the real SDK
// client at (option.WithEndpoint(server URL), option.WithoutAuthentication):
//
//	GET  /compute/v1/projects/{p}/zones/{z}/instanceGroupManagers/{name}
//	POST /compute/v1/projects/{p}/zones/{z}/instanceGroupManagers/{name}/resize?size=N
//	GET  /compute/v1/projects/{p}/zones/{z}/operations?filter=...&orderBy=...
//	GET  /compute/v1/projects/{p}/zones/{z}/operations/{operation}
//	POST /compute/v1/projects/{p}/zones/{z}/operations/{operation}/wait
//	GET  /compute/v1/projects/{p}/zones/{z}/autoscalers/{name}
//	GET  /compute/v1/projects/{p}/zones/{z}/instanceGroupManagers?filter=&maxResults=&pageToken=
//	GET  /compute/v1/projects/{p}/zones/{z}/autoscalers?filter=&maxResults=&pageToken=
//
// and the same under regions/{r} for regional groups. Lists are sorted by
// name and paged (maxResults up to 500, capped by Options.PageSize); their
// filter may be name eq/ne REGEX or name =/!= "NAME". Bodies are Compute
// Engine's JSON (camelCase fields, 64-bit ids as strings, enums as names);
// errors are Google's JSON error format with the reasons Compute Engine
// uses (notFound, invalid, rateLimitExceeded, resourceNotReady, ...).
//
// The emulator keeps state: a resize changes targetSize at once, new
// instances spend Options.BootDelay in the "creating" action before they
// count as running ("none"), removed ones go at once, and the resize
// operation stays RUNNING for Options.OperationDelay before it is DONE.
// Faults are injected per call kind (InjectFault), and Options.RateLimit
// throttles each project (403 rateLimitExceeded). A resize with a
// requestId (a UUID) is carried out once: a second one with the same id
// answers with the first one's operation, and the operation records the
// id as its clientOperationId, as Compute Engine does. The operation list
// serves the filter syntax parseFilter reads (enough for the driver's
// `targetLink = "..."`) and orders by name or "creationTimestamp desc".
//
// Bounds: a MIG has no min or max; its autoscaler has. A group created with
// an Autoscaler gets one attached (status.autoscaler links to it), mode OFF
// by default, and the driver reads the bounds from it. The emulator does
// not enforce an autoscaler's bounds on a resize (an autoscaler in mode OFF
// does not act on its group; the driver checks the bounds itself); it
// refuses negative sizes and sizes above the per-group limit
// (Options.MaxZonalSize, Options.MaxRegionalSize) with a 400 invalid, as
// Compute Engine does.
package gcpemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/emukit"
)

// Compute Engine's limits on the number of instances in one group, used
// when Options leave them zero.
const (
	DefaultMaxZonalSize    = 1000
	DefaultMaxRegionalSize = 2000
)

// Options shape an Emulator. Zero durations mean "at once"; zero limits
// mean the defaults above.
type Options struct {
	// BootDelay is how long a new instance is "creating" before it runs.
	BootDelay time.Duration
	// OperationDelay is how long a resize operation stays RUNNING. Zero
	// makes the resize answer with an operation that is already DONE.
	OperationDelay time.Duration
	// MaxZonalSize and MaxRegionalSize are the largest sizes a resize may ask for.
	MaxZonalSize, MaxRegionalSize int
	// Now is the emulator's clock; nil means time.Now. Request delays
	// (Slow faults, the operation wait endpoint) use real time regardless.
	Now func() time.Time
	// MaxCalls bounds the call log (oldest dropped); zero means
	// emukit.DefaultMaxCalls.
	MaxCalls int
	// PageSize caps the items of one list answer below the request's
	// maxResults (Compute Engine's own cap is 500, the default when zero):
	// tests set a few to exercise paging.
	PageSize int
	// RateLimit throttles each project, as Compute Engine meters API
	// requests per project: resizes take from the write bucket, every
	// other call (gets, lists, operation polls) from the read bucket. A
	// call over the limit is answered 403 with reason rateLimitExceeded
	// ("Rate Limit Exceeded"), as Compute Engine answers one over a
	// per-second limit, and changes nothing. The zero value is no limit.
	RateLimit emukit.RateLimit
}

// Autoscaler is an autoscaler attached to a group: the bounds the driver
// reports as Min and Max.
type Autoscaler struct {
	// Min and Max are the autoscaler's minNumReplicas and maxNumReplicas.
	Min, Max int
	// Mode is OFF (the default here: Capstan decides, the autoscaler only
	// holds the bounds), ON or ONLY_SCALE_OUT.
	Mode string
}

// GroupStatus is a group's state as the emulator holds it.
type GroupStatus struct {
	// TargetSize is the size the group converges to (what a resize sets).
	TargetSize int
	// Running instances have booted; Creating ones have not yet.
	Running, Creating int
	// Stable is false while instances are creating or a resize operation runs.
	Stable bool
	// Autoscaler is the attached autoscaler, nil if none.
	Autoscaler *Autoscaler
}

// Op names the kind of API call a fault applies to.
type Op string

// The call kinds.
const (
	// OpGet is GET .../instanceGroupManagers/{name} (the driver's Describe,
	// and the read at the start of SetDesired).
	OpGet Op = "get"
	// OpResize is POST .../instanceGroupManagers/{name}/resize.
	OpResize Op = "resize"
	// OpGetOperation is GET (or POST .../wait) .../operations/{operation}.
	OpGetOperation Op = "operation"
	// OpGetAutoscaler is GET .../autoscalers/{name}.
	OpGetAutoscaler Op = "autoscaler"
	// OpList is GET .../instanceGroupManagers (a zone's or region's
	// groups, filtered and paged: the driver's batch describe).
	OpList Op = "list"
	// OpListAutoscalers is GET .../autoscalers (the batch describe's
	// read of the bounds).
	OpListAutoscalers Op = "list_autoscalers"
)

// FaultKind is how an injected fault answers.
type FaultKind int

// The fault kinds, each answered the way Compute Engine does.
const (
	// Throttle answers 429 RESOURCE_EXHAUSTED, reason rateLimitExceeded.
	Throttle FaultKind = iota + 1
	// ServerError answers 503 UNAVAILABLE, reason backendError.
	ServerError
	// InternalError answers 500 INTERNAL, reason internalError.
	InternalError
	// NotReady answers 400, reason resourceNotReady: what Compute Engine
	// says while another operation on the group is still running.
	NotReady
	// Conflict answers 409 ABORTED, reason conflict.
	Conflict
	// NotFound answers 404, reason notFound, as if the resource were gone.
	NotFound
	// Slow makes the call take Fault.Delay, then answers normally. A
	// client that gives up sooner gets no answer, but the call still takes
	// effect when the delay is over (a resize is applied), as Compute
	// Engine carries out a request it has received.
	Slow
	// OperationFails (OpResize only) accepts the resize but its operation
	// ends DONE with an error (httpErrorStatusCode 500, code
	// INTERNAL_ERROR) and the size does not change.
	OperationFails
	// Forbidden answers 403, reason forbidden: the caller lacks the
	// permission the call needs (compute.instanceGroupManagers.list, say).
	Forbidden
)

// Fault is an injected failure.
type Fault struct {
	// Op is the call kind it applies to.
	Op Op
	// Group limits it to calls about the group of that name (its
	// autoscaler, the operations resizing it); empty means any.
	Group string
	// Kind is how the affected calls are answered.
	Kind FaultKind
	// Times is how many matching calls it affects: 0 means once, a
	// negative value every call from now on.
	Times int
	// Delay is the wait for Slow.
	Delay time.Duration
}

// Call is one request the emulator answered, for tests to count and inspect.
type Call struct {
	// Op is the call kind, Method the HTTP method.
	Op     Op
	Method string
	// Path and Query are as received, e.g. "/compute/v1/projects/p/zones/z/instanceGroupManagers/g/resize" and "size=4".
	Path, Query string
	// Status is the HTTP status answered (0 if the client went away first).
	Status int
	// Fault is the injected fault's kind, 0 if none.
	Fault FaultKind
	// Arrival numbers the calls in the order they arrived, from 1; the
	// log itself is in the order they took effect.
	Arrival uint64
	// Throttled is true when Options.RateLimit refused the call.
	Throttled bool
}

// Emulator is the emulated API and its state. It is an http.Handler and
// safe for concurrent use.
type Emulator struct {
	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex
	groups  map[resKey]*group
	ops     map[resKey]*operation
	faults  emukit.Faults[Fault]
	calls   *emukit.Log[Call]
	limiter *emukit.Limiter
	nextID  uint64
}

// resKey names a zonal or regional resource.
type resKey struct {
	project, scope, location, name string // scope is "zones" or "regions"
}

func keyOf(ref cloud.GroupRef) (resKey, error) {
	switch {
	case ref.Project == "" || ref.Group == "":
		return resKey{}, errors.New("gcpemu: the group needs a project and a name")
	case (ref.Zone == "") == (ref.Region == ""):
		return resKey{}, errors.New("gcpemu: the group needs exactly one of zone and region")
	case ref.Zone != "":
		return resKey{ref.Project, "zones", ref.Zone, ref.Group}, nil
	default:
		return resKey{ref.Project, "regions", ref.Region, ref.Group}, nil
	}
}

type group struct {
	id         uint64
	created    time.Time
	targetSize int
	// readyAt holds, per instance, when it is (or was) running.
	readyAt []time.Time
	// busyUntil is when the last resize operation is DONE.
	busyUntil  time.Time
	autoscaler *autoscaler
}

type autoscaler struct {
	id      uint64
	name    string
	created time.Time
	Autoscaler
}

type operation struct {
	id       uint64
	key      resKey // its own name and scope
	target   resKey
	targetID uint64
	size     int
	created  time.Time
	doneAt   time.Time
	fail     bool
	// requestID is the resize's requestId (its clientOperationId), "" if none.
	requestID string
}

// New returns an empty emulator. It panics on an invalid rate limit or a
// negative page size, a programming error.
func New(opts Options) *Emulator {
	if err := opts.RateLimit.Validate(); err != nil {
		panic("gcpemu.New: " + err.Error())
	}
	if opts.PageSize < 0 {
		panic("gcpemu.New: PageSize must be >= 0")
	}
	if opts.PageSize == 0 || opts.PageSize > maxPage {
		opts.PageSize = maxPage
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxZonalSize == 0 {
		opts.MaxZonalSize = DefaultMaxZonalSize
	}
	if opts.MaxRegionalSize == 0 {
		opts.MaxRegionalSize = DefaultMaxRegionalSize
	}
	e := &Emulator{opts: opts, groups: map[resKey]*group{}, ops: map[resKey]*operation{}, nextID: 1000,
		calls: emukit.NewLog[Call](opts.MaxCalls), limiter: emukit.NewLimiter(opts.RateLimit)}
	const base = "/compute/v1/projects/{project}/{scope}/{location}/"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"instanceGroupManagers/{name}", e.handleGet)
	mux.HandleFunc("POST "+base+"instanceGroupManagers/{name}/resize", e.handleResize)
	mux.HandleFunc("GET "+base+"operations", e.handleListOperations)
	mux.HandleFunc("GET "+base+"operations/{name}", e.handleOperation)
	mux.HandleFunc("POST "+base+"operations/{name}/wait", e.handleOperation)
	mux.HandleFunc("GET "+base+"autoscalers/{name}", e.handleAutoscaler)
	mux.HandleFunc("GET "+base+"instanceGroupManagers", e.handleList)
	mux.HandleFunc("GET "+base+"autoscalers", e.handleListAutoscalers)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path))
	})
	e.mux = mux
	return e
}

// ServeHTTP answers one API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

// CreateGroup makes a group of targetSize instances, all running. With as
// non-nil an autoscaler named after the group is attached (mode OFF unless
// as.Mode says otherwise).
func (e *Emulator) CreateGroup(ref cloud.GroupRef, targetSize int, as *Autoscaler) error {
	k, err := keyOf(ref)
	if err != nil {
		return err
	}
	if targetSize < 0 {
		return fmt.Errorf("gcpemu: target size %d is negative", targetSize)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.groups[k]; ok {
		return fmt.Errorf("gcpemu: group %s already exists", k.path("instanceGroupManagers"))
	}
	now := e.opts.Now()
	g := &group{id: e.id(), created: now, targetSize: targetSize}
	for i := 0; i < targetSize; i++ {
		g.readyAt = append(g.readyAt, now)
	}
	e.groups[k] = g
	e.setAutoscaler(k, g, as)
	return nil
}

// SetAutoscaler attaches, changes or (with nil) detaches a group's autoscaler.
func (e *Emulator) SetAutoscaler(ref cloud.GroupRef, as *Autoscaler) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, g, err := e.lookup(ref)
	if err != nil {
		return err
	}
	e.setAutoscaler(k, g, as)
	return nil
}

func (e *Emulator) setAutoscaler(k resKey, g *group, as *Autoscaler) {
	if as == nil {
		g.autoscaler = nil
		return
	}
	a := &autoscaler{id: e.id(), name: k.name, created: e.opts.Now(), Autoscaler: *as}
	if a.Mode == "" {
		a.Mode = "OFF"
	}
	g.autoscaler = a
}

// Group returns a group's state.
func (e *Emulator) Group(ref cloud.GroupRef) (GroupStatus, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, g, err := e.lookup(ref)
	if err != nil {
		return GroupStatus{}, err
	}
	now := e.opts.Now()
	running, creating := g.counts(now)
	st := GroupStatus{TargetSize: g.targetSize, Running: running, Creating: creating, Stable: g.stable(now)}
	if g.autoscaler != nil {
		as := g.autoscaler.Autoscaler
		st.Autoscaler = &as
	}
	return st, nil
}

// Desired returns a group's targetSize.
func (e *Emulator) Desired(ref cloud.GroupRef) (int, error) {
	st, err := e.Group(ref)
	return st.TargetSize, err
}

// InjectFault queues f; faults are matched in the order injected.
func (e *Emulator) InjectFault(f Fault) error {
	switch f.Op {
	case OpGet, OpResize, OpGetOperation, OpGetAutoscaler, OpList, OpListAutoscalers, OpListOperations:
	default:
		return fmt.Errorf("gcpemu: unknown call kind %q", f.Op)
	}
	if f.Kind < Throttle || f.Kind > Forbidden {
		return fmt.Errorf("gcpemu: unknown fault kind %d", f.Kind)
	}
	if f.Kind == OperationFails && f.Op != OpResize {
		return errors.New("gcpemu: OperationFails applies to resize calls only")
	}
	e.faults.Add(f, f.Times)
	return nil
}

// ClearFaults drops the faults not yet used up.
func (e *Emulator) ClearFaults() { e.faults.Clear() }

// Throttled is how many calls Options.RateLimit has refused; unlike the
// bounded call log it counts every one.
func (e *Emulator) Throttled() uint64 { return e.limiter.Throttled() }

// Calls returns the requests answered so far (the newest Options.MaxCalls)
// in the order they took effect, oldest first.
func (e *Emulator) Calls() []Call { return e.calls.Calls() }

func (e *Emulator) lookup(ref cloud.GroupRef) (resKey, *group, error) {
	k, err := keyOf(ref)
	if err != nil {
		return resKey{}, nil, err
	}
	g, ok := e.groups[k]
	if !ok {
		return resKey{}, nil, fmt.Errorf("gcpemu: no group %s", k.path("instanceGroupManagers"))
	}
	return k, g, nil
}

// id hands out resource ids; callers hold e.mu.
func (e *Emulator) id() uint64 {
	e.nextID++
	return e.nextID
}

func (g *group) counts(now time.Time) (running, creating int) {
	for _, t := range g.readyAt {
		if now.Before(t) {
			creating++
		} else {
			running++
		}
	}
	return running, creating
}

func (g *group) stable(now time.Time) bool {
	_, creating := g.counts(now)
	return creating == 0 && !now.Before(g.busyUntil)
}

// resizeTo adds booting instances or removes instances, the ones not yet
// running first (as Compute Engine prefers), at once.
func (g *group) resizeTo(n int, now, ready time.Time) {
	g.targetSize = n
	for len(g.readyAt) < n {
		g.readyAt = append(g.readyAt, ready)
	}
	if len(g.readyAt) > n {
		slices.SortFunc(g.readyAt, func(a, b time.Time) int { return a.Compare(b) })
		g.readyAt = g.readyAt[:n]
	}
}

// takeFault takes the first fault matching a call. k is the resource the
// call names; a fault's Group matches the group's name (for an operation,
// the group it resizes).
func (e *Emulator) takeFault(op Op, k resKey) *Fault {
	name := k.name
	if op == OpGetOperation {
		e.mu.Lock()
		if o, ok := e.ops[k]; ok {
			name = o.target.name
		}
		e.mu.Unlock()
	}
	f, ok := e.faults.Take(func(f Fault) bool { return f.Op == op && (f.Group == "" || f.Group == name) })
	if !ok {
		return nil
	}
	return &f
}

// serve runs the shared part of every handler: take a fault, apply it, and
// otherwise let answer decide the response; then log the call and answer.
// A Slow call takes effect after its delay even when the client has gone.
func (e *Emulator) serve(w http.ResponseWriter, r *http.Request, op Op, answer func(k resKey, f *Fault) (int, any)) {
	k := resKey{r.PathValue("project"), r.PathValue("scope"), r.PathValue("location"), r.PathValue("name")}
	c := Call{Op: op, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Arrival: e.calls.Arrive()}
	// The rate limit comes first, as Google's front end throttles before
	// Compute Engine sees the call: a throttled call consumes no fault.
	if !e.limiter.Allow(k.project, op == OpResize, e.opts.Now()) {
		c.Status, c.Throttled = http.StatusForbidden, true
		e.calls.Done(c.Arrival, c)
		writeError(w, http.StatusForbidden, "rateLimitExceeded", "Rate Limit Exceeded")
		return
	}
	f := e.takeFault(op, k)
	if f != nil {
		c.Fault = f.Kind
	}
	var (
		status int
		body   any
	)
	result := func() error {
		switch {
		case k.scope != "zones" && k.scope != "regions":
			status, body = http.StatusNotFound, errorBody{"notFound", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path)}
		case f != nil:
			if st, reason, msg, ok := faultAnswer(f.Kind, k); ok {
				status, body = st, errorBody{reason, msg}
				break
			}
			status, body = answer(k, f)
		default:
			status, body = answer(k, f)
		}
		c.Status = status
		e.calls.Done(c.Arrival, c)
		return nil
	}
	if f != nil && f.Kind == Slow {
		if _, gone := emukit.Slow(r.Context(), f.Delay, result); gone != nil {
			return // the client gave up; the call lands later, unanswered
		}
	} else {
		_ = result()
	}
	if eb, ok := body.(errorBody); ok {
		writeError(w, status, eb.reason, eb.message)
		return
	}
	writeJSON(w, status, body)
}

// errorBody is what an answer func returns to have a Google error written.
type errorBody struct{ reason, message string }

func notFound(k resKey, collection string) (int, any) {
	return http.StatusNotFound, errorBody{"notFound", fmt.Sprintf("The resource '%s' was not found", k.path(collection))}
}

func (e *Emulator) handleGet(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpGet, func(k resKey, _ *Fault) (int, any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		g, ok := e.groups[k]
		if !ok {
			return notFound(k, "instanceGroupManagers")
		}
		return http.StatusOK, e.groupJSON(baseURL(r), k, g)
	})
}

func (e *Emulator) handleResize(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpResize, func(k resKey, f *Fault) (int, any) {
		q := r.URL.Query()
		size, err := strconv.Atoi(q.Get("size"))
		if err != nil {
			return http.StatusBadRequest, errorBody{"required", "Required field 'size' not specified or invalid"}
		}
		reqID := q.Get("requestId")
		if msg := requestIDError(reqID); msg != "" {
			return http.StatusBadRequest, errorBody{"invalid", msg}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		g, ok := e.groups[k]
		if !ok {
			return notFound(k, "instanceGroupManagers")
		}
		if op := e.repeatedRequest(k, reqID); op != nil {
			// Received before (checked when the request takes effect, so a
			// slow first attempt and a retry land once).
			return http.StatusOK, e.operationJSON(baseURL(r), op)
		}
		limit := e.opts.MaxZonalSize
		if k.scope == "regions" {
			limit = e.opts.MaxRegionalSize
		}
		switch {
		case size < 0:
			return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'size': '%d'. Must be greater than or equal to 0.", size)}
		case size > limit:
			return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'size': '%d'. Must be less than or equal to %d.", size, limit)}
		}
		now := e.opts.Now()
		op := &operation{
			id:       e.id(),
			target:   k,
			targetID: g.id,
			size:     size,
			created:  now,
			doneAt:   now.Add(e.opts.OperationDelay),
			fail:     f != nil && f.Kind == OperationFails,

			requestID: reqID,
		}
		// Compute Engine's operation names: "operation-" millis, then two hex groups.
		name := fmt.Sprintf("operation-%d-%016x-%08x", now.UnixMilli(), op.id*0x9e3779b97f4a7c15, op.id)
		op.key = resKey{k.project, k.scope, k.location, name}
		e.ops[op.key] = op
		if !op.fail {
			g.resizeTo(size, now, now.Add(e.opts.BootDelay))
		}
		if op.doneAt.After(g.busyUntil) {
			g.busyUntil = op.doneAt
		}
		return http.StatusOK, e.operationJSON(baseURL(r), op)
	})
}

func (e *Emulator) handleOperation(w http.ResponseWriter, r *http.Request) {
	wait := r.Method == http.MethodPost
	e.serve(w, r, OpGetOperation, func(k resKey, _ *Fault) (int, any) {
		e.mu.Lock()
		op, ok := e.ops[k]
		e.mu.Unlock()
		if !ok {
			return notFound(k, "operations")
		}
		if wait {
			// operations.wait returns when the operation is DONE or after
			// about two minutes, whichever comes first.
			if d := op.doneAt.Sub(e.opts.Now()); d > 0 {
				t := time.NewTimer(min(d, 2*time.Minute))
				select {
				case <-t.C:
				case <-r.Context().Done():
				}
				t.Stop()
			}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		return http.StatusOK, e.operationJSON(baseURL(r), op)
	})
}

func (e *Emulator) handleAutoscaler(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpGetAutoscaler, func(k resKey, _ *Fault) (int, any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		// Autoscalers are named after their group here.
		g, ok := e.groups[k]
		if !ok || g.autoscaler == nil {
			return notFound(k, "autoscalers")
		}
		return http.StatusOK, e.autoscalerJSON(baseURL(r), k, g)
	})
}

// faultAnswer is the error Compute Engine gives for a fault kind; ok is
// false for kinds that do not answer with an error.
func faultAnswer(kind FaultKind, k resKey) (status int, reason, msg string, ok bool) {
	switch kind {
	case Throttle:
		return http.StatusTooManyRequests, "rateLimitExceeded",
			"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com' for consumer 'project_number:000000000000'.", true
	case ServerError:
		return http.StatusServiceUnavailable, "backendError", "The service is currently unavailable.", true
	case InternalError:
		return http.StatusInternalServerError, "internalError", "Internal error. Please try again or contact Google Support.", true
	case NotReady:
		return http.StatusBadRequest, "resourceNotReady", fmt.Sprintf("The resource '%s' is not ready", k.path("instanceGroupManagers")), true
	case Conflict:
		return http.StatusConflict, "conflict", fmt.Sprintf("The resource '%s' is being modified by another operation.", k.path("instanceGroupManagers")), true
	case NotFound:
		return http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", k.path("instanceGroupManagers")), true
	case Forbidden:
		return http.StatusForbidden, "forbidden", fmt.Sprintf("Required permission for 'projects/%s' is missing.", k.project), true
	}
	return 0, "", "", false
}

// writeJSON writes body and returns the status, for the call record.
func writeJSON(w http.ResponseWriter, status int, body any) int {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}
