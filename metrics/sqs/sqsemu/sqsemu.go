// Package sqsemu is an in-process emulator of the Amazon SQS API, enough of
// it for Capstan's queue-depth source: GetQueueAttributes. The real
// aws-sdk-go-v2 SQS client talks to it over HTTP (BaseEndpoint = an
// httptest server's URL, any static credentials), so tests exercise the
// SDK's serializers, signing, deserializers and error handling rather than
// a mock of the reader.
//
// The wire protocol is the one the current SDK speaks (service/sqs v1.49.0
// and later; earlier versions used the Query protocol): AWS JSON 1.0. Every
// request is a POST / with Content-Type application/x-amz-json-1.0,
// X-Amz-Target: AmazonSQS.<Operation>, X-Amzn-Query-Mode: true (SQS is
// "awsQueryCompatible") and a JSON body such as
//
//	{"AttributeNames":["ApproximateNumberOfMessages"],"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/jobs"}
//
// A success is a 200 with {"Attributes":{"ApproximateNumberOfMessages":"5"}}
// (values are strings). An error carries the shape AWS documents for SQS's
// JSON API: the HTTP status of the error, a body
// {"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"..."} and an
// x-amzn-query-error header with the Query-era code and fault
// ("AWS.SimpleQueueService.NonExistentQueue;Sender"). The SDK resolves the
// modelled error type from __type and, in query-compatible mode, reports the
// header's code from ErrorCode(). Every answer carries x-amzn-RequestId.
//
// Requests must be SigV4-signed for the sqs service (an Authorization
// header whose credential scope ends in /sqs/aws4_request); signatures are
// not verified. Queues are found by the path of their URL (/ACCOUNT/NAME),
// whatever its host, so a test may use real-looking URLs
// (https://sqs.eu-west-1.amazonaws.com/123456789012/jobs) against the
// emulator's own address. Queues are not partitioned by region: one
// emulator plays one endpoint, and with a BaseEndpoint override every
// region's requests reach it; each request's signing region is recorded in
// the call log.
//
// Depths are whatever the test sets with SetDepth; faults (AWS error
// codes, delays that honour the request's context, dropped connections)
// are injected with InjectFault.
package sqsemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capstan-io/capstan/cloud/emukit"
)

// TargetPrefix is the X-Amz-Target prefix of every SQS operation in the
// JSON protocol (the Smithy service name).
const TargetPrefix = "AmazonSQS."

// ContentType is the request and response content type of AWS JSON 1.0.
const ContentType = "application/x-amz-json-1.0"

// ActionGetQueueAttributes is the operation the emulator serves; it also
// aims faults and labels calls.
const ActionGetQueueAttributes = "GetQueueAttributes"

// Error codes a Fault may name, as the short __type names SQS sends. Codes
// not listed here may be injected too; they are answered as
// com.amazonaws.sqs#CODE with the same query code and status 400 unless the
// fault says otherwise.
const (
	// CodeQueueDoesNotExist is a missing queue: 400, query code
	// AWS.SimpleQueueService.NonExistentQueue.
	CodeQueueDoesNotExist = "QueueDoesNotExist"
	// CodeRequestThrottled is SQS's own throttling error: 403 as modelled,
	// query code RequestThrottled.
	CodeRequestThrottled = "RequestThrottled"
	// CodeThrottlingException is the AWS front end's throttling error: 400,
	// com.amazon.coral.availability#ThrottlingException.
	CodeThrottlingException = "ThrottlingException"
	// CodeInternalFailure is a server fault: 500.
	CodeInternalFailure = "InternalFailure"
	// CodeServiceUnavailable is a server fault: 503.
	CodeServiceUnavailable = "ServiceUnavailable"
	// CodeAccessDenied is an IAM refusal: 403,
	// com.amazon.coral.service#AccessDeniedException, query code AccessDenied.
	CodeAccessDenied = "AccessDenied"
	// CodeInvalidAddress is a queue URL that is not valid for the
	// endpoint: 404.
	CodeInvalidAddress = "InvalidAddress"
	// CodeInvalidAttributeName is an attribute name SQS does not know: 400.
	CodeInvalidAttributeName = "InvalidAttributeName"
	// CodeMissingAuthToken is an unsigned request: 403.
	CodeMissingAuthToken = "MissingAuthenticationToken"
	// CodeIncompleteSignature is a malformed signature: 400.
	CodeIncompleteSignature = "IncompleteSignature"
	// CodeUnknownOperation is an X-Amz-Target the emulator does not serve: 400.
	CodeUnknownOperation = "UnknownOperationException"
	// CodeSerialization is a body that is not the expected JSON: 400.
	CodeSerialization = "SerializationException"
)

// DefaultAccountID is the account in queue URLs and ARNs when
// Options.AccountID is empty.
const DefaultAccountID = "123456789012"

// DefaultRegion is the region in queue URLs and ARNs when Options.Region
// is empty.
const DefaultRegion = "us-east-1"

// DefaultMaxCalls is how many call log entries an Emulator keeps when
// Options.MaxCalls is zero; benchmarks make millions of calls.
const DefaultMaxCalls = emukit.DefaultMaxCalls

// maxBody bounds a request body; real GetQueueAttributes requests are a
// few hundred bytes.
const maxBody = 1 << 20

// Options configure an Emulator. The zero value is usable.
type Options struct {
	// AccountID is the account in the URLs CreateQueue returns and in
	// QueueArn; empty means DefaultAccountID.
	AccountID string
	// Region is the region in the URLs CreateQueue returns and in
	// QueueArn; empty means DefaultRegion.
	Region string
	// Now is the clock for timestamps and the call log; nil means time.Now.
	Now func() time.Time
	// MaxCalls bounds the call log (oldest entries are dropped); zero
	// means DefaultMaxCalls.
	MaxCalls int
}

// Fault makes matching requests fail, answer slowly, or both. Faults are
// matched in the order injected; each request consumes at most one.
type Fault struct {
	// Action limits the fault to one operation (ActionGetQueueAttributes);
	// "" matches any.
	Action string
	// QueueURL limits the fault to requests naming this queue (compared by
	// path, like queue lookups); "" matches any.
	QueueURL string
	// Code is the error to answer with, e.g. CodeRequestThrottled. Empty
	// with a Delay only slows the request down.
	Code string
	// Message is the error message; empty means SQS's usual one for Code.
	Message string
	// Status is the HTTP status; zero means SQS's for Code.
	Status int
	// Times is how many matching requests the fault affects: 0 means one,
	// a negative value means all of them until ClearFaults.
	Times int
	// Delay makes matching requests wait this long first. The wait ends
	// without an answer if the client goes away, as a real server's would.
	Delay time.Duration
	// Disconnect drops the connection without answering (after Delay), as
	// a failing load balancer does.
	Disconnect bool
}

// Validate reports whether the fault can be injected.
func (f Fault) Validate() error {
	switch f.Action {
	case "", ActionGetQueueAttributes:
	default:
		return fmt.Errorf("sqsemu: fault action must be %q or empty (got %q)", ActionGetQueueAttributes, f.Action)
	}
	if f.QueueURL != "" {
		if _, err := queuePath(f.QueueURL); err != nil {
			return fmt.Errorf("sqsemu: fault queue URL: %w", err)
		}
	}
	if f.Delay < 0 {
		return fmt.Errorf("sqsemu: fault delay must be >= 0 (got %s)", f.Delay)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("sqsemu: fault status must be 4xx or 5xx (got %d)", f.Status)
	}
	if f.Code == "" && f.Delay == 0 && !f.Disconnect {
		return errors.New("sqsemu: fault needs a code, a delay or a disconnect")
	}
	return nil
}

// Call is one request the emulator answered (or dropped).
type Call struct {
	// Time is when the request arrived, by the emulator's clock.
	Time time.Time
	// Action is the operation named by X-Amz-Target, without the
	// AmazonSQS. prefix.
	Action string
	// QueueURL and AttributeNames are the request's parameters as sent.
	QueueURL       string
	AttributeNames []string
	// QueryMode is whether the request carried X-Amzn-Query-Mode: true,
	// as the SDK sends for a query-compatible service.
	QueryMode bool
	// Region and AccessKeyID come from the SigV4 credential scope. The
	// secret key never reaches the emulator.
	Region      string
	AccessKeyID string
	// Status is the HTTP status answered (0 if the connection was dropped
	// or the client went away); Code the short error code, "" on success.
	Status int
	Code   string
}

// QueueInfo is a queue as the emulator holds it, for assertions.
type QueueInfo struct {
	// Name is the queue's name; URL the one CreateQueue returned.
	Name, URL string
	// Visible, InFlight and Delayed are the counts GetQueueAttributes
	// reports as ApproximateNumberOfMessages, ...NotVisible and ...Delayed.
	Visible, InFlight, Delayed int64
}

// Emulator is an SQS endpoint. It is an http.Handler and safe for
// concurrent use.
type Emulator struct {
	opts Options
	now  func() time.Time

	mu      sync.Mutex
	queues  map[string]*queue // by URL path, /ACCOUNT/NAME
	faults  emukit.Faults[Fault]
	calls   *emukit.Log[Call]
	nextReq uint64
}

type queue struct {
	name, url                  string
	visible, inFlight, delayed int64
	created, modified          time.Time
}

// New returns an emulator with no queues. It panics on a negative MaxCalls,
// a programming error.
func New(opts Options) *Emulator {
	if opts.MaxCalls < 0 {
		panic("sqsemu.New: MaxCalls must be >= 0")
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.MaxCalls == 0 {
		opts.MaxCalls = DefaultMaxCalls
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Emulator{opts: opts, now: now, queues: make(map[string]*queue), calls: emukit.NewLog[Call](opts.MaxCalls)}
}

// CreateQueue makes an empty queue and returns its URL,
// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME with the emulator's region
// and account. Like SQS's CreateQueue it is idempotent: a name in use
// returns the existing queue's URL and leaves its depth alone. It panics on
// a name SQS would refuse (1..80 letters, digits, hyphens and underscores,
// optionally ending in .fifo), since tests choose their names.
func (e *Emulator) CreateQueue(name string) string {
	if !validQueueName(name) {
		panic(fmt.Sprintf("sqsemu.CreateQueue: %q is not a valid queue name", name))
	}
	path := "/" + e.opts.AccountID + "/" + name
	e.mu.Lock()
	defer e.mu.Unlock()
	if q, ok := e.queues[path]; ok {
		return q.url
	}
	now := e.now()
	q := &queue{name: name, url: "https://sqs." + e.opts.Region + ".amazonaws.com" + path, created: now, modified: now}
	e.queues[path] = q
	return q.url
}

// DeleteQueue removes the queue at queueURL (matched by path) and reports
// whether it existed; later requests for it fail with QueueDoesNotExist.
func (e *Emulator) DeleteQueue(queueURL string) bool {
	path, err := queuePath(queueURL)
	if err != nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.queues[path]
	delete(e.queues, path)
	return ok
}

// SetDepth sets the queue's visible (ApproximateNumberOfMessages) and
// in-flight (ApproximateNumberOfMessagesNotVisible) counts. The URL is
// matched by path, so any host naming /ACCOUNT/NAME of a created queue
// works. It fails for a queue that does not exist or a negative count.
func (e *Emulator) SetDepth(queueURL string, visible, inFlight int64) error {
	return e.update(queueURL, func(q *queue) error {
		if visible < 0 || inFlight < 0 {
			return fmt.Errorf("sqsemu: depths must be >= 0 (got visible %d, in flight %d)", visible, inFlight)
		}
		q.visible, q.inFlight = visible, inFlight
		return nil
	})
}

// SetDelayed sets the queue's ApproximateNumberOfMessagesDelayed, which a
// depth reader must not count.
func (e *Emulator) SetDelayed(queueURL string, delayed int64) error {
	return e.update(queueURL, func(q *queue) error {
		if delayed < 0 {
			return fmt.Errorf("sqsemu: delayed count must be >= 0 (got %d)", delayed)
		}
		q.delayed = delayed
		return nil
	})
}

func (e *Emulator) update(queueURL string, fn func(*queue) error) error {
	path, err := queuePath(queueURL)
	if err != nil {
		return fmt.Errorf("sqsemu: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[path]
	if !ok {
		return fmt.Errorf("sqsemu: no queue at %s", path)
	}
	return fn(q)
}

// Queue returns a queue's state and whether it exists. Like SetDepth it is
// an operator's view: no faults, no call log.
func (e *Emulator) Queue(queueURL string) (QueueInfo, bool) {
	path, err := queuePath(queueURL)
	if err != nil {
		return QueueInfo{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[path]
	if !ok {
		return QueueInfo{}, false
	}
	return QueueInfo{Name: q.name, URL: q.url, Visible: q.visible, InFlight: q.inFlight, Delayed: q.delayed}, true
}

// InjectFault queues a fault (see Fault).
func (e *Emulator) InjectFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Times == 0 {
		f.Times = 1
	}
	if f.QueueURL != "" {
		f.QueueURL, _ = queuePath(f.QueueURL) // validated above
	}
	e.faults.Add(f, f.Times)
	return nil
}

// ClearFaults removes every queued fault.
func (e *Emulator) ClearFaults() { e.faults.Clear() }

// Calls returns the call log in the order the requests were answered,
// oldest first.
func (e *Emulator) Calls() []Call {
	out := e.calls.Calls()
	for i := range out {
		out[i].AttributeNames = slices.Clone(out[i].AttributeNames)
	}
	return out
}

// queuePath returns the /ACCOUNT/NAME path of a queue URL, the key queues
// are found by.
func queuePath(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("queue URL %q is not an absolute URL", queueURL)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || !validQueueName(parts[1]) {
		return "", fmt.Errorf("queue URL %q does not end in /ACCOUNT/NAME", queueURL)
	}
	return "/" + parts[0] + "/" + parts[1], nil
}

// validQueueName applies SQS's rule: up to 80 characters of letters,
// digits, hyphens and underscores, where a FIFO queue's name ends in .fifo
// (counted in the 80).
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

// apiError is an answer in SQS's JSON error shape.
type apiError struct {
	status    int
	typ       string // __type, namespaced
	queryCode string // x-amzn-query-error code
	message   string
}

// errorShape returns the status, __type, query code and default message
// SQS uses for a short code.
func errorShape(code string) (status int, typ, queryCode, message string) {
	switch code {
	case CodeQueueDoesNotExist:
		return http.StatusBadRequest, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."
	case CodeRequestThrottled:
		return http.StatusForbidden, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled", "Request is throttled."
	case CodeThrottlingException:
		return http.StatusBadRequest, "com.amazon.coral.availability#ThrottlingException", "ThrottlingException", "Rate exceeded"
	case CodeInternalFailure:
		return http.StatusInternalServerError, "com.amazon.coral.service#InternalFailure", "InternalFailure", "We encountered an internal error. Please try again."
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable, "com.amazon.coral.availability#ServiceUnavailableException", "ServiceUnavailable", "Service is unavailable. Please try again."
	case CodeAccessDenied:
		return http.StatusForbidden, "com.amazon.coral.service#AccessDeniedException", "AccessDenied", "Access to the resource is denied."
	case CodeInvalidAddress:
		return http.StatusNotFound, "com.amazonaws.sqs#InvalidAddress", "InvalidAddress", "The address is not valid for this endpoint."
	case CodeInvalidAttributeName:
		return http.StatusBadRequest, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute."
	case CodeMissingAuthToken:
		return http.StatusForbidden, "com.amazon.coral.service#MissingAuthenticationTokenException", "MissingAuthenticationToken", "Request is missing Authentication Token"
	case CodeIncompleteSignature:
		return http.StatusBadRequest, "com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature", "The request signature does not conform to AWS standards."
	case CodeUnknownOperation:
		return http.StatusBadRequest, "com.amazon.coral.service#UnknownOperationException", "InvalidAction", "The action or operation requested is invalid."
	case CodeSerialization:
		return http.StatusBadRequest, "com.amazon.coral.service#SerializationException", "SerializationException", "The request body could not be parsed."
	}
	return http.StatusBadRequest, "com.amazonaws.sqs#" + code, code, "Injected fault."
}

// newError builds the answer for code; message and status override the
// defaults when set.
func newError(code, message string, status int) *apiError {
	s, typ, q, m := errorShape(code)
	if message != "" {
		m = message
	}
	if status != 0 {
		s = status
	}
	return &apiError{status: s, typ: typ, queryCode: q, message: m}
}

// shortCode is the __type without its namespace, as the call log records it.
func (a *apiError) shortCode() string {
	_, code, ok := strings.Cut(a.typ, "#")
	if !ok {
		return a.typ
	}
	return code
}

// request is GetQueueAttributes's input. Unknown members are ignored, as
// AWS's JSON services do.
type request struct {
	QueueURL       *string  `json:"QueueUrl"`
	AttributeNames []string `json:"AttributeNames"`
}

// attributesResponse is GetQueueAttributes's output. Attributes is left
// out when empty, as SQS does for a request that names none.
type attributesResponse struct {
	Attributes map[string]string `json:"Attributes,omitempty"`
}

// ServeHTTP answers one JSON-protocol request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{Time: e.now()}
	arrival := e.calls.Arrive()
	reqID := e.requestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	defer func() { e.calls.Done(arrival, call) }()

	fail := func(a *apiError) {
		call.Status, call.Code = a.status, a.shortCode()
		writeError(w, a)
	}
	call.QueryMode = r.Header.Get("X-Amzn-Query-Mode") == "true"
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		fail(newError(CodeUnknownOperation, fmt.Sprintf("The emulator serves POST / only (got %s %s).", r.Method, r.URL.Path), 0))
		return
	}
	// Auth first, as AWS does: an unsigned request learns nothing else.
	var authErr *apiError
	call.AccessKeyID, call.Region, authErr = credentialScope(r)
	if authErr != nil {
		fail(authErr)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, TargetPrefix)
	call.Action = action
	if !ok || action != ActionGetQueueAttributes {
		fail(newError(CodeUnknownOperation, fmt.Sprintf("The emulator does not serve %q.", target), 0))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != ContentType {
		fail(newError(CodeSerialization, fmt.Sprintf("Content-Type must be %s (got %q).", ContentType, ct), 0))
		return
	}
	var in request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&in); err != nil {
		fail(newError(CodeSerialization, "The request body is not a JSON object.", 0))
		return
	}
	if in.QueueURL != nil {
		call.QueueURL = *in.QueueURL
	}
	call.AttributeNames = in.AttributeNames

	if f := e.takeFault(action, call.QueueURL); f != nil {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the client went away: nobody to answer
			}
		}
		if f.Disconnect {
			// The documented way to make net/http drop the connection
			// without a response.
			panic(http.ErrAbortHandler)
		}
		if f.Code != "" {
			fail(newError(f.Code, f.Message, f.Status))
			return
		}
	}

	out, apiErr := e.getQueueAttributes(in)
	if apiErr != nil {
		fail(apiErr)
		return
	}
	call.Status = http.StatusOK
	writeJSON(w, http.StatusOK, out)
}

// credentialScope checks the request is SigV4-signed for sqs and returns
// the access key id and region from the credential scope
// (Credential=AKID/DATE/REGION/SERVICE/aws4_request). The signature itself
// is not verified: tests use made-up keys.
func credentialScope(r *http.Request) (akid, region string, err *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", "", newError(CodeMissingAuthToken, "", 0)
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok || r.Header.Get("X-Amz-Date") == "" {
		return "", "", newError(CodeIncompleteSignature, "The request signature does not conform to AWS standards (expected AWS4-HMAC-SHA256 with X-Amz-Date).", 0)
	}
	for part := range strings.SplitSeq(rest, ",") {
		cred, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		scope := strings.Split(cred, "/")
		if len(scope) != 5 || scope[3] != "sqs" || scope[4] != "aws4_request" {
			return "", "", newError(CodeIncompleteSignature, "Credential scope must be AKID/DATE/REGION/sqs/aws4_request.", 0)
		}
		return scope[0], scope[2], nil
	}
	return "", "", newError(CodeIncompleteSignature, "Authorization header requires a Credential parameter.", 0)
}

// getQueueAttributes answers GetQueueAttributes with SQS's checks.
func (e *Emulator) getQueueAttributes(in request) (attributesResponse, *apiError) {
	if in.QueueURL == nil || *in.QueueURL == "" {
		return attributesResponse{}, newError(CodeInvalidAddress, "Value for parameter QueueUrl is invalid. Reason: Must specify a queue URL.", 0)
	}
	path, err := queuePath(*in.QueueURL)
	if err != nil {
		return attributesResponse{}, newError(CodeInvalidAddress, fmt.Sprintf("The address %s is not valid for this endpoint.", *in.QueueURL), 0)
	}
	for _, n := range in.AttributeNames {
		if n != "All" && !knownAttribute(n) {
			return attributesResponse{}, newError(CodeInvalidAttributeName, fmt.Sprintf("Unknown Attribute %s.", n), 0)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[path]
	if !ok {
		return attributesResponse{}, newError(CodeQueueDoesNotExist, "", 0)
	}
	all := e.attributes(q, path)
	out := attributesResponse{}
	for _, n := range in.AttributeNames {
		if n == "All" {
			out.Attributes = all
			break
		}
		if v, ok := all[n]; ok {
			if out.Attributes == nil {
				out.Attributes = make(map[string]string)
			}
			out.Attributes[n] = v
		}
	}
	return out, nil
}

// knownAttribute reports whether SQS knows the queue attribute (the SDK's
// QueueAttributeName values other than All). A switch rather than a table
// keeps the package free of mutable globals.
func knownAttribute(name string) bool {
	switch name {
	case "Policy", "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod",
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
		"CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
		"ApproximateNumberOfMessagesDelayed", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
		"RedrivePolicy", "FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId",
		"KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit",
		"RedriveAllowPolicy", "SqsManagedSseEnabled":
		return true
	}
	return false
}

// attributes renders a queue's attributes as SQS reports a new queue's
// defaults. Attributes that are unset on such a queue (Policy,
// RedrivePolicy, KMS settings) are absent, as in SQS's answers.
func (e *Emulator) attributes(q *queue, path string) map[string]string {
	account := strings.Split(path, "/")[1]
	a := map[string]string{
		"QueueArn":                              fmt.Sprintf("arn:aws:sqs:%s:%s:%s", e.opts.Region, account, q.name),
		"ApproximateNumberOfMessages":           strconv.FormatInt(q.visible, 10),
		"ApproximateNumberOfMessagesNotVisible": strconv.FormatInt(q.inFlight, 10),
		"ApproximateNumberOfMessagesDelayed":    strconv.FormatInt(q.delayed, 10),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.modified.Unix(), 10),
		"VisibilityTimeout":                     "30",
		"MaximumMessageSize":                    "1048576",
		"MessageRetentionPeriod":                "345600",
		"DelaySeconds":                          "0",
		"ReceiveMessageWaitTimeSeconds":         "0",
		"SqsManagedSseEnabled":                  "true",
	}
	if strings.HasSuffix(q.name, ".fifo") {
		a["FifoQueue"] = "true"
		a["ContentBasedDeduplication"] = "false"
		a["DeduplicationScope"] = "queue"
		a["FifoThroughputLimit"] = "perQueue"
	}
	return a
}

// takeFault consumes the first fault matching the request.
func (e *Emulator) takeFault(action, queueURL string) *Fault {
	path, _ := queuePath(queueURL) // "" for a bad URL: only unaimed faults match
	f, ok := e.faults.Take(func(f Fault) bool {
		return (f.Action == "" || f.Action == action) && (f.QueueURL == "" || f.QueueURL == path)
	})
	if !ok {
		return nil
	}
	return &f
}

func (e *Emulator) requestID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextReq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", e.nextReq)
}

// writeError answers in SQS's JSON error shape: the namespaced __type and
// the message in the body, the Query-era code and fault in
// x-amzn-query-error.
func writeError(w http.ResponseWriter, a *apiError) {
	fault := "Sender"
	if a.status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("x-amzn-query-error", a.queryCode+";"+fault)
	writeJSON(w, a.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{a.typ, a.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the emulator's own types get here; failing to marshal
		// them is a bug in this file.
		panic("sqsemu: marshal response: " + err.Error())
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
