// Package awsemu is an in-process emulator of the Amazon EC2 Auto Scaling
// Query API, enough of it for Capstan's driver: DescribeAutoScalingGroups,
// SetDesiredCapacity and DescribeScalingActivities (one activity per
// desired-capacity change that took effect, its cause worded as AWS words a
// user request's, newest first, paged by MaxRecords and NextToken). The real aws-sdk-go-v2 client talks to it over
// HTTP (BaseEndpoint = an httptest server's URL, any static credentials),
// so tests exercise the SDK's serializers, signing, deserializers and error
// handling rather than a mock of the driver.
//
// The wire protocol is the one AWS serves: a form-encoded POST / with
// Action=...&Version=2011-01-01 and the action's parameters
// (AutoScalingGroupNames.member.N, AutoScalingGroupName, DesiredCapacity,
// HonorCooldown); XML answers <ActionResponse><ActionResult>...
// <ResponseMetadata><RequestId>; errors as <ErrorResponse><Error><Type>
// <Code><Message></Error><RequestId></ErrorResponse> with AWS's statuses
// (400 for client errors and throttling, 500 InternalFailure, 503
// ServiceUnavailable). Requests must be SigV4-signed (an Authorization
// header naming the autoscaling service); signatures are not verified.
//
// Groups are not partitioned by region: one emulator plays one endpoint, and
// with a BaseEndpoint override every region's requests reach it. The region
// in each request's signing scope is recorded in the call log and used in
// ARNs and zone names.
//
// Groups behave as AWS's do where Capstan can tell: new instances are
// Pending for BootDelay and then InService; scale-in terminates instances
// at once, booting ones first; a desired capacity outside [min, max] is a
// ValidationError with AWS's wording; HonorCooldown=true is refused with
// ScalingActivityInProgress during the group's cooldown; a missing group is
// absent from describes and a ValidationError on writes. A describe may
// name at most 50 groups, or up to its MaxRecords (at most 100) when it
// sets one (more is AWS's ValidationError "The number of group names that
// may be passed in is limited to 50"), and is paged by MaxRecords
// (default 50, at most 100) and NextToken. Options.RateLimit
// throttles each access key and region as AWS throttles an account: 400
// Throttling "Rate exceeded". Faults are injected as AWS error codes,
// delays or dropped connections.
package awsemu

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capstan-io/capstan/cloud/emukit"
)

// Actions the emulator serves; they also aim faults and label calls.
const (
	ActionDescribe   = "DescribeAutoScalingGroups"
	ActionSetDesired = "SetDesiredCapacity"
	ActionActivities = "DescribeScalingActivities"
)

// MaxNamesPerDescribe is how many group names one DescribeAutoScalingGroups
// call may name when it sets no MaxRecords; AWS refuses more with a
// ValidationError. A call that sets MaxRecords may name up to that many
// (API Reference: "By default, you can only specify up to 50 names. You
// can optionally increase this limit using the MaxRecords property.").
const MaxNamesPerDescribe = 50

// MaxDescribeRecords is the largest MaxRecords DescribeAutoScalingGroups
// takes, and so the most names one call may carry.
const MaxDescribeRecords = 100

// DefaultDescribeRecords is DescribeAutoScalingGroups's page size when the
// request sets no MaxRecords (it may ask for up to MaxDescribeRecords).
const DefaultDescribeRecords = 50

// maxActivities is how many scaling activities the emulator keeps per
// group, newest last; AWS keeps six weeks of them.
const maxActivities = 1000

// APIVersion is the only Version the emulator accepts.
const APIVersion = "2011-01-01"

// Error codes the emulator answers with, as AWS spells them.
const (
	CodeValidationError           = "ValidationError"
	CodeThrottling                = "Throttling"
	CodeScalingActivityInProgress = "ScalingActivityInProgress"
	CodeResourceContention        = "ResourceContention"
	CodeInternalFailure           = "InternalFailure"
	CodeServiceUnavailable        = "ServiceUnavailable"
	CodeMissingAuthToken          = "MissingAuthenticationToken"
	CodeIncompleteSignature       = "IncompleteSignature"
	CodeInvalidAction             = "InvalidAction"
)

// StatusDeleting is the Status AWS reports while a group is being deleted.
const StatusDeleting = "Delete in progress"

// DefaultMaxCalls is how many call log entries an Emulator keeps when
// Options.MaxCalls is zero; benchmarks make millions of calls.
const DefaultMaxCalls = emukit.DefaultMaxCalls

// maxBody bounds a request body; real requests are a few hundred bytes.
const maxBody = 1 << 20

// Options configure an Emulator. The zero value is usable.
type Options struct {
	// BootDelay is how long a launched instance stays Pending before it is
	// InService.
	BootDelay time.Duration
	// Now is the clock; nil means time.Now. Tests pass a fake clock so boot
	// delays and cooldowns need no sleeping.
	Now func() time.Time
	// DefaultCooldown is each group's cooldown, which only matters to
	// SetDesiredCapacity with HonorCooldown=true; zero means AWS's default
	// of 300 s.
	DefaultCooldown time.Duration
	// AccountID appears in ARNs; empty means 123456789012.
	AccountID string
	// MaxCalls bounds the call log (oldest entries are dropped); zero
	// means DefaultMaxCalls.
	MaxCalls int
	// PageSize, when positive, caps each DescribeAutoScalingGroups page
	// below the request's MaxRecords, as AWS may answer fewer records than
	// asked: tests set it to make a describe of a few groups page.
	PageSize int
	// RateLimit throttles each account (access key id and region, as
	// AWS meters an account per region): DescribeAutoScalingGroups and
	// DescribeScalingActivities take from the read bucket,
	// SetDesiredCapacity from the write bucket. A call over the limit is
	// answered 400 Throttling "Rate exceeded", as AWS answers, and
	// changes nothing. The zero value is no limit.
	RateLimit emukit.RateLimit
}

// Fault makes matching requests fail, answer slowly, or both. Faults are
// matched in the order injected; each request consumes at most one.
type Fault struct {
	// Action limits the fault to ActionDescribe, ActionSetDesired or
	// ActionActivities; "" matches every action.
	Action string
	// Group limits the fault to requests naming this group; "" matches any.
	Group string
	// Code is the AWS error code to answer with, e.g. CodeThrottling. Empty
	// with a Delay only slows the request down.
	Code string
	// Message is the error message; empty means AWS's usual one for Code.
	Message string
	// Status is the HTTP status; zero means AWS's for Code (500 for
	// InternalFailure and ResourceContention, 503 for ServiceUnavailable,
	// 400 otherwise).
	Status int
	// Times is how many matching requests the fault affects: 0 means one,
	// a negative value means all of them until ClearFaults.
	Times int
	// Delay makes matching requests take this long. A client that goes
	// away sooner gets no answer, but the request still takes effect when
	// the delay is over, as one AWS has received does.
	Delay time.Duration
	// Disconnect drops the connection without answering (after Delay), as
	// a failing load balancer does.
	Disconnect bool
}

// Validate reports whether the fault can be injected.
func (f Fault) Validate() error {
	switch f.Action {
	case "", ActionDescribe, ActionSetDesired, ActionActivities:
	default:
		return fmt.Errorf("awsemu: fault action must be %q, %q, %q or empty (got %q)", ActionDescribe, ActionSetDesired, ActionActivities, f.Action)
	}
	if f.Delay < 0 {
		return fmt.Errorf("awsemu: fault delay must be >= 0 (got %s)", f.Delay)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("awsemu: fault status must be 4xx or 5xx (got %d)", f.Status)
	}
	if f.Code == "" && f.Delay == 0 && !f.Disconnect {
		return errors.New("awsemu: fault needs a code, a delay or a disconnect")
	}
	return nil
}

// Call is one request the emulator answered (or dropped).
type Call struct {
	// Time is when the request arrived, by the emulator's clock.
	Time time.Time
	// Action is the request's Action parameter.
	Action string
	// Groups are the group names the request named, in order.
	Groups []string
	// Region and AccessKeyID come from the SigV4 credential scope. The
	// secret key never reaches the emulator.
	Region      string
	AccessKeyID string
	// DesiredCapacity is SetDesiredCapacity's parameter (-1 if absent).
	DesiredCapacity int
	// HonorCooldown is SetDesiredCapacity's parameter as sent: "true",
	// "false", or "" when absent (AWS then defaults to false).
	HonorCooldown string
	// Status is the HTTP status answered (0 if the connection was
	// dropped or the client went away); Code the error code, "" on success.
	Status int
	Code   string
	// Arrival numbers the requests in the order they arrived, from 1.
	Arrival uint64
	// Throttled is true when Options.RateLimit refused the call.
	Throttled bool
}

// GroupInfo is a group as the emulator holds it, for assertions.
type GroupInfo struct {
	Min, Max, Desired  int
	InService, Pending int
	Status             string
}

// Emulator is an Auto Scaling endpoint. It is an http.Handler and safe for
// concurrent use.
type Emulator struct {
	opts Options
	now  func() time.Time

	mu      sync.Mutex
	groups  map[string]*group
	faults  emukit.Faults[Fault]
	calls   *emukit.Log[Call]
	limiter *emukit.Limiter
	nextID  uint64 // instance ids
	nextReq uint64 // request ids
}

// group is one Auto Scaling group. Instances are kept in launch order, so
// booting ones are at the end and scale-in trims from there.
type group struct {
	min, max, desired int
	created           time.Time
	lastScaling       time.Time
	cooldown          time.Duration
	status            string
	instances         []instance
	activities        []activity // newest last, at most maxActivities
	nextActivity      uint64
}

// activity is one scaling activity, recorded when a SetDesiredCapacity
// takes effect (which for a slow request is after its delay, in the
// call log's effect order).
type activity struct {
	id             string
	start, end     time.Time // end is when the last launched instance is ready
	from, to       int
	launch, region string
}

type instance struct {
	id      string
	readyAt time.Time
}

// New returns an emulator with no groups. It panics on negative options or
// an invalid rate limit, a programming error.
func New(opts Options) *Emulator {
	if opts.BootDelay < 0 || opts.DefaultCooldown < 0 || opts.MaxCalls < 0 || opts.PageSize < 0 {
		panic("awsemu.New: BootDelay, DefaultCooldown, MaxCalls and PageSize must be >= 0")
	}
	if err := opts.RateLimit.Validate(); err != nil {
		panic("awsemu.New: " + err.Error())
	}
	if opts.DefaultCooldown == 0 {
		opts.DefaultCooldown = 300 * time.Second
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.MaxCalls == 0 {
		opts.MaxCalls = DefaultMaxCalls
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Emulator{opts: opts, now: now, groups: make(map[string]*group), calls: emukit.NewLog[Call](opts.MaxCalls),
		limiter: emukit.NewLimiter(opts.RateLimit)}
}

// CreateGroup adds a group whose desired instances are all InService: a
// group that exists before a test starts has long since booted. It fails
// for an empty name, sizes outside 0 <= min <= desired <= max <= 100000 (the
// emulator keeps one entry per instance), or a name in use.
func (e *Emulator) CreateGroup(name string, min, max, desired int) error {
	if name == "" {
		return errors.New("awsemu: group name must not be empty")
	}
	if min < 0 || min > desired || desired > max || max > 100000 {
		return fmt.Errorf("awsemu: group %q: need 0 <= min (%d) <= desired (%d) <= max (%d) <= 100000", name, min, desired, max)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.groups[name]; ok {
		return fmt.Errorf("awsemu: group %q already exists", name)
	}
	now := e.now()
	g := &group{min: min, max: max, desired: desired, created: now, cooldown: e.opts.DefaultCooldown}
	e.launch(g, desired, now) // already booted
	e.groups[name] = g
	return nil
}

// Desired returns a group's desired capacity, and whether it exists.
// Like Group, it is an operator's view: no faults, no call log.
func (e *Emulator) Desired(name string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return 0, false
	}
	return g.desired, true
}

// Group returns a group's sizes and instance counts, and whether it exists.
func (e *Emulator) Group(name string) (GroupInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return GroupInfo{}, false
	}
	info := GroupInfo{Min: g.min, Max: g.max, Desired: g.desired, Status: g.status}
	now := e.now()
	for _, in := range g.instances {
		if in.ready(now) {
			info.InService++
		} else {
			info.Pending++
		}
	}
	return info, true
}

// SetStatus sets the Status a describe reports (StatusDeleting, or "" to
// clear it). While it is set, SetDesiredCapacity fails with
// ScalingActivityInProgress.
func (e *Emulator) SetStatus(name, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return fmt.Errorf("awsemu: no group %q", name)
	}
	g.status = status
	return nil
}

// InjectFault queues a fault (see Fault).
func (e *Emulator) InjectFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	e.faults.Add(f, f.Times)
	return nil
}

// ClearFaults removes every queued fault.
func (e *Emulator) ClearFaults() { e.faults.Clear() }

// Calls returns the call log in the order the requests took effect (or
// were answered), oldest first; Call.Arrival gives their arrival order.
func (e *Emulator) Calls() []Call { return e.calls.Calls() }

// Throttled is how many calls Options.RateLimit has refused; unlike the
// bounded call log it counts every one.
func (e *Emulator) Throttled() uint64 { return e.limiter.Throttled() }

// launch adds n instances that become InService at readyAt.
func (e *Emulator) launch(g *group, n int, readyAt time.Time) {
	for range n {
		e.nextID++
		g.instances = append(g.instances, instance{id: fmt.Sprintf("i-%017x", e.nextID), readyAt: readyAt})
	}
}

func (in instance) ready(now time.Time) bool { return !now.Before(in.readyAt) }

// apiError is an answer in AWS's error shape.
type apiError struct {
	status  int
	code    string
	message string
}

func (a *apiError) Error() string { return a.code + ": " + a.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// faultError turns a fault's code into AWS's answer for it.
func faultError(f *Fault) *apiError {
	status, msg := http.StatusBadRequest, f.Message
	def := ""
	switch f.Code {
	case CodeThrottling:
		def = "Rate exceeded"
	case CodeScalingActivityInProgress:
		def = "Scaling activity is in progress and blocks this action."
	case CodeResourceContention:
		status, def = http.StatusInternalServerError, "You already have a pending update to an Auto Scaling resource (for example, a group, instance, or load balancer)."
	case CodeInternalFailure:
		status, def = http.StatusInternalServerError, "An internal error has occurred."
	case CodeServiceUnavailable:
		status, def = http.StatusServiceUnavailable, "Service is unavailable."
	default:
		def = "Injected fault."
	}
	if msg == "" {
		msg = def
	}
	if f.Status != 0 {
		status = f.Status
	}
	return &apiError{status: status, code: f.Code, message: msg}
}

// ServeHTTP answers one Query API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Time: e.now(), DesiredCapacity: -1, Arrival: e.calls.Arrive()}
	reqID := e.requestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	// The call is logged once: before its answer is written, so that a
	// client reading the log after its answer finds the call there, or by
	// the effect of a slow request, which lands later (handedOff).
	handedOff := false
	logCall := func() {
		if !handedOff {
			handedOff = true
			e.calls.Done(call.Arrival, call)
		}
	}
	defer logCall() // a dropped connection

	fail := func(a *apiError) {
		call.Status, call.Code = a.status, a.code
		logCall()
		writeError(w, a, reqID)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		fail(errorf(http.StatusBadRequest, CodeInvalidAction, "The emulator serves POST / only (got %s %s).", r.Method, r.URL.Path))
		return
	}
	// Auth first, as AWS does: an unsigned request learns nothing else.
	var authErr *apiError
	call.AccessKeyID, call.Region, authErr = credentialScope(r)
	if authErr != nil {
		fail(authErr)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		fail(errorf(http.StatusBadRequest, "MalformedQueryString", "The request body could not be parsed: %v", err))
		return
	}
	form := r.PostForm
	call.Action = form.Get("Action")
	if v := form.Get("Version"); v != APIVersion {
		fail(errorf(http.StatusBadRequest, CodeInvalidAction, "Could not find operation %s for version %s", call.Action, v))
		return
	}
	switch call.Action {
	case ActionDescribe:
		for i := 1; ; i++ {
			name, ok := form["AutoScalingGroupNames.member."+strconv.Itoa(i)]
			if !ok {
				break
			}
			call.Groups = append(call.Groups, name[0])
		}
	case ActionSetDesired, ActionActivities:
		if name := form.Get("AutoScalingGroupName"); name != "" {
			call.Groups = []string{name}
		}
		if v, err := strconv.Atoi(form.Get("DesiredCapacity")); err == nil {
			call.DesiredCapacity = v
		}
		call.HonorCooldown = form.Get("HonorCooldown")
	default:
		fail(errorf(http.StatusBadRequest, CodeInvalidAction, "Could not find operation %s for version %s", call.Action, APIVersion))
		return
	}

	// The rate limit is checked before faults, as AWS's front end
	// throttles before the service sees the request: a throttled call
	// consumes no fault and changes nothing.
	if !e.limiter.Allow(call.AccessKeyID+"/"+call.Region, call.Action == ActionSetDesired, call.Time) {
		call.Throttled = true
		fail(errorf(http.StatusBadRequest, CodeThrottling, "Rate exceeded"))
		return
	}
	f, faulty := e.faults.Take(func(f Fault) bool {
		return (f.Action == "" || f.Action == call.Action) && (f.Group == "" || slices.Contains(call.Groups, f.Group))
	})
	run := func() (any, *apiError) {
		switch {
		case faulty && f.Code != "":
			return nil, faultError(&f)
		case call.Action == ActionDescribe:
			return e.describe(form, call.Groups, call.Region, reqID)
		case call.Action == ActionActivities:
			return e.describeActivities(form, call.Region, reqID)
		default:
			return e.setDesired(form, call.Region, reqID)
		}
	}
	var body any
	var err *apiError
	switch {
	case faulty && f.Disconnect:
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the client went away: nobody to answer
			}
		}
		// The documented way to make net/http drop the connection
		// without a response.
		panic(http.ErrAbortHandler)
	case faulty && f.Delay > 0:
		handedOff = true
		landed := call
		if _, gone := emukit.Slow(r.Context(), f.Delay, func() error {
			body, err = run()
			landed.Status, landed.Code = http.StatusOK, ""
			if err != nil {
				landed.Status, landed.Code = err.status, err.code
			}
			e.calls.Done(landed.Arrival, landed)
			return nil
		}); gone != nil {
			return // the client went away; the request lands later, unanswered
		}
	default:
		body, err = run()
	}
	if err != nil {
		fail(err)
		return
	}
	call.Status = http.StatusOK
	logCall()
	writeXML(w, http.StatusOK, body)
}

// credentialScope checks the request is SigV4-signed for autoscaling and
// returns the access key id and region from the credential scope
// (Credential=AKID/DATE/REGION/SERVICE/aws4_request). The signature itself
// is not verified: tests use made-up keys.
func credentialScope(r *http.Request) (akid, region string, err *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", "", errorf(http.StatusForbidden, CodeMissingAuthToken, "Request is missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok || r.Header.Get("X-Amz-Date") == "" {
		return "", "", errorf(http.StatusBadRequest, CodeIncompleteSignature, "The request signature does not conform to AWS standards (expected AWS4-HMAC-SHA256 with X-Amz-Date).")
	}
	for part := range strings.SplitSeq(rest, ",") {
		cred, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		scope := strings.Split(cred, "/")
		if len(scope) != 5 || scope[3] != "autoscaling" || scope[4] != "aws4_request" {
			return "", "", errorf(http.StatusBadRequest, CodeIncompleteSignature, "Credential scope must be AKID/DATE/REGION/autoscaling/aws4_request.")
		}
		return scope[0], scope[2], nil
	}
	return "", "", errorf(http.StatusBadRequest, CodeIncompleteSignature, "Authorization header requires a Credential parameter.")
}

func (e *Emulator) requestID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextReq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", e.nextReq)
}

// describe answers DescribeAutoScalingGroups: the named groups that exist,
// in the order named, or every group by name when none is named. Unknown
// names are left out, not errors, as AWS does. More than
// MaxNamesPerDescribe names is a ValidationError with AWS's wording unless
// the request sets MaxRecords and names no more than that: MaxRecords
// raises the limit, and cannot itself exceed MaxDescribeRecords. The
// matches are paged as AWS pages them: MaxRecords (1..100, default 50) per
// answer, and a NextToken (an opaque offset into the matches) while more
// remain.
func (e *Emulator) describe(form map[string][]string, names []string, region, reqID string) (any, *apiError) {
	// MaxRecords first: out of range, it is the field to blame whatever
	// the names.
	size, offset, aerr := paging(form, DefaultDescribeRecords)
	if aerr != nil {
		return nil, aerr
	}
	limit := MaxNamesPerDescribe
	if v := form["MaxRecords"]; len(v) > 0 && v[0] != "" {
		limit = max(limit, size)
	}
	if len(names) > limit {
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "The number of group names that may be passed in is limited to %d", limit)
	}
	if e.opts.PageSize > 0 {
		size = min(size, e.opts.PageSize)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(names) == 0 {
		for name := range e.groups {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	var matches []string
	seen := map[string]bool{}
	for _, name := range names {
		if _, ok := e.groups[name]; !ok || seen[name] {
			continue
		}
		seen[name] = true
		matches = append(matches, name)
	}
	if offset > len(matches) {
		return nil, errorf(http.StatusBadRequest, "InvalidNextToken", "The token '%d' is invalid.", offset)
	}
	now := e.now()
	resp := describeResponse{Xmlns: xmlns, RequestID: reqID}
	end := min(offset+size, len(matches))
	for _, name := range matches[offset:end] {
		resp.Groups = append(resp.Groups, e.xmlGroup(name, e.groups[name], region, now))
	}
	if end < len(matches) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}

// paging reads MaxRecords (1..100, def if absent) and NextToken (an
// offset) as AWS's describe actions take them.
func paging(form map[string][]string, def int) (size, offset int, _ *apiError) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	size = def
	if raw := get("MaxRecords"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxDescribeRecords {
			return 0, 0, errorf(http.StatusBadRequest, CodeValidationError, "Value %q for parameter MaxRecords is invalid: must be an integer from 1 to %d", raw, MaxDescribeRecords)
		}
		size = n
	}
	if tok := get("NextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return 0, 0, errorf(http.StatusBadRequest, "InvalidNextToken", "The token '%s' is invalid.", tok)
		}
		offset = n
	}
	return size, offset, nil
}

// setDesired answers SetDesiredCapacity with AWS's checks and messages.
func (e *Emulator) setDesired(form map[string][]string, region, reqID string) (any, *apiError) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	name := get("AutoScalingGroupName")
	if name == "" {
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null")
	}
	raw := get("DesiredCapacity")
	if raw == "" {
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "Value %q for parameter DesiredCapacity is invalid: not an integer", raw)
	}
	var honor bool
	switch v := get("HonorCooldown"); v {
	case "", "false":
	case "true":
		honor = true
	default:
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "Value %q for parameter HonorCooldown is invalid: not a boolean", v)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.groups[name]
	if !ok {
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
	}
	switch {
	case g.status != "":
		return nil, errorf(http.StatusBadRequest, CodeScalingActivityInProgress, "AutoScalingGroup %s is being deleted (%s).", name, g.status)
	case n > g.max:
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", n, g.max)
	case n < g.min:
		return nil, errorf(http.StatusBadRequest, CodeValidationError, "New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", n, g.min)
	}
	now := e.now()
	if honor && !g.lastScaling.IsZero() && now.Before(g.lastScaling.Add(g.cooldown)) {
		return nil, errorf(http.StatusBadRequest, CodeScalingActivityInProgress, "Scaling activity is in progress and blocks this action: the group's cooldown period has not expired.")
	}
	if n != g.desired {
		if n > len(g.instances) {
			e.launch(g, n-len(g.instances), now.Add(e.opts.BootDelay))
		} else {
			// Terminate newest first: booting instances go before
			// ready ones. AWS's default termination policy differs
			// (it balances zones first), but no caller here can see
			// which instance went.
			g.instances = g.instances[:n]
		}
		g.recordActivity(now, g.desired, n, e.opts.BootDelay)
		g.desired = n
		g.lastScaling = now
	}
	return setDesiredResponse{Xmlns: xmlns, RequestID: reqID}, nil
}

// The XML shapes. Field order follows AWS's answers; the SDK's deserializer
// looks elements up by name, so order is for human readers.

const xmlns = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

type describeResponse struct {
	XMLName   xml.Name   `xml:"DescribeAutoScalingGroupsResponse"`
	Xmlns     string     `xml:"xmlns,attr"`
	Groups    []xmlGroup `xml:"DescribeAutoScalingGroupsResult>AutoScalingGroups>member"`
	NextToken string     `xml:"DescribeAutoScalingGroupsResult>NextToken,omitempty"`
	RequestID string     `xml:"ResponseMetadata>RequestId"`
}

// setDesiredResponse has no Result element: AWS sends none for actions
// without output.
type setDesiredResponse struct {
	XMLName   xml.Name `xml:"SetDesiredCapacityResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

type xmlMembers struct {
	Members []string `xml:"member"`
}

type xmlGroup struct {
	Name                     string        `xml:"AutoScalingGroupName"`
	ARN                      string        `xml:"AutoScalingGroupARN"`
	LaunchTemplate           xmlTemplate   `xml:"LaunchTemplate"`
	MinSize                  int           `xml:"MinSize"`
	MaxSize                  int           `xml:"MaxSize"`
	DesiredCapacity          int           `xml:"DesiredCapacity"`
	DefaultCooldown          int           `xml:"DefaultCooldown"`
	AvailabilityZones        xmlMembers    `xml:"AvailabilityZones"`
	LoadBalancerNames        xmlMembers    `xml:"LoadBalancerNames"`
	TargetGroupARNs          xmlMembers    `xml:"TargetGroupARNs"`
	HealthCheckType          string        `xml:"HealthCheckType"`
	HealthCheckGracePeriod   int           `xml:"HealthCheckGracePeriod"`
	Instances                []xmlInstance `xml:"Instances>member"`
	CreatedTime              string        `xml:"CreatedTime"`
	SuspendedProcesses       xmlMembers    `xml:"SuspendedProcesses"`
	VPCZoneIdentifier        string        `xml:"VPCZoneIdentifier"`
	EnabledMetrics           xmlMembers    `xml:"EnabledMetrics"`
	Status                   string        `xml:"Status,omitempty"`
	Tags                     xmlMembers    `xml:"Tags"`
	TerminationPolicies      xmlMembers    `xml:"TerminationPolicies"`
	NewInstancesProtected    bool          `xml:"NewInstancesProtectedFromScaleIn"`
	ServiceLinkedRoleARN     string        `xml:"ServiceLinkedRoleARN"`
	CapacityRebalance        bool          `xml:"CapacityRebalance"`
	TrafficSources           xmlMembers    `xml:"TrafficSources"`
	AvailabilityZoneDistrib  xmlAZDistrib  `xml:"AvailabilityZoneDistribution"`
	AvailabilityZoneImpaired xmlAZImpaired `xml:"AvailabilityZoneImpairmentPolicy"`
}

type xmlTemplate struct {
	ID      string `xml:"LaunchTemplateId"`
	Name    string `xml:"LaunchTemplateName"`
	Version string `xml:"Version"`
}

type xmlInstance struct {
	InstanceID           string      `xml:"InstanceId"`
	InstanceType         string      `xml:"InstanceType"`
	AvailabilityZone     string      `xml:"AvailabilityZone"`
	LifecycleState       string      `xml:"LifecycleState"`
	HealthStatus         string      `xml:"HealthStatus"`
	LaunchTemplate       xmlTemplate `xml:"LaunchTemplate"`
	ProtectedFromScaleIn bool        `xml:"ProtectedFromScaleIn"`
}

type xmlAZDistrib struct {
	Strategy string `xml:"CapacityDistributionStrategy"`
}

type xmlAZImpaired struct {
	ZonalShiftEnabled bool   `xml:"ZonalShiftEnabled"`
	Behavior          string `xml:"ImpairedZoneHealthCheckBehavior"`
}

// xmlGroup renders a group as AWS describes it, in region.
func (e *Emulator) xmlGroup(name string, g *group, region string, now time.Time) xmlGroup {
	if region == "" {
		region = "us-east-1"
	}
	zones := []string{region + "a", region + "b", region + "c"}
	tmpl := xmlTemplate{ID: "lt-0123456789abcdef0", Name: name + "-template", Version: "$Default"}
	x := xmlGroup{
		Name:                     name,
		ARN:                      fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", region, e.opts.AccountID, name),
		LaunchTemplate:           tmpl,
		MinSize:                  g.min,
		MaxSize:                  g.max,
		DesiredCapacity:          g.desired,
		DefaultCooldown:          int(g.cooldown / time.Second),
		AvailabilityZones:        xmlMembers{zones},
		HealthCheckType:          "EC2",
		HealthCheckGracePeriod:   300,
		CreatedTime:              g.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		VPCZoneIdentifier:        "subnet-0aaa0aaa0aaa0aaa0,subnet-0bbb0bbb0bbb0bbb0,subnet-0ccc0ccc0ccc0ccc0",
		Status:                   g.status,
		TerminationPolicies:      xmlMembers{[]string{"Default"}},
		ServiceLinkedRoleARN:     fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", e.opts.AccountID),
		AvailabilityZoneDistrib:  xmlAZDistrib{Strategy: "balanced-best-effort"},
		AvailabilityZoneImpaired: xmlAZImpaired{Behavior: "IgnoreUnhealthy"},
	}
	for i, in := range g.instances {
		state := "InService"
		if !in.ready(now) {
			state = "Pending"
		}
		x.Instances = append(x.Instances, xmlInstance{
			InstanceID:       in.id,
			InstanceType:     "t3.micro",
			AvailabilityZone: zones[i%len(zones)],
			LifecycleState:   state,
			HealthStatus:     "Healthy",
			LaunchTemplate:   tmpl,
		})
	}
	return x
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, a *apiError, reqID string) {
	var r errorResponse
	r.Xmlns = xmlns
	r.Error.Type = "Sender"
	if a.status >= 500 {
		r.Error.Type = "Receiver"
	}
	r.Error.Code, r.Error.Message, r.RequestID = a.code, a.message, reqID
	writeXML(w, a.status, r)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		// Only the emulator's own types get here; failing to marshal
		// them is a bug in this file.
		panic("awsemu: marshal response: " + err.Error())
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
