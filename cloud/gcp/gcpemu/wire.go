package gcpemu

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The JSON shapes below follow the Compute Engine v1 REST reference
// (InstanceGroupManager, Operation, Autoscaler): camelCase names, int32
// fields as numbers, uint64 ids as decimal strings, enums by name, links as
// absolute URLs. Only the fields the driver or a reader of a trace would
// look at are filled in; emulator_test.go decodes them with the SDK's own
// protojson types to prove the names match.

type actionsJSON struct {
	Abandoning             int `json:"abandoning"`
	Creating               int `json:"creating"`
	CreatingWithoutRetries int `json:"creatingWithoutRetries"`
	Deleting               int `json:"deleting"`
	None                   int `json:"none"`
	Recreating             int `json:"recreating"`
	Refreshing             int `json:"refreshing"`
	Restarting             int `json:"restarting"`
	Resuming               int `json:"resuming"`
	Starting               int `json:"starting"`
	Stopping               int `json:"stopping"`
	Suspending             int `json:"suspending"`
	Verifying              int `json:"verifying"`
}

type groupStatusJSON struct {
	IsStable      bool            `json:"isStable"`
	Autoscaler    string          `json:"autoscaler,omitempty"`
	VersionTarget map[string]bool `json:"versionTarget"`
	Stateful      map[string]any  `json:"stateful"`
}

type groupJSON struct {
	Kind                        string          `json:"kind"`
	ID                          string          `json:"id"`
	CreationTimestamp           string          `json:"creationTimestamp"`
	Name                        string          `json:"name"`
	Zone                        string          `json:"zone,omitempty"`
	Region                      string          `json:"region,omitempty"`
	InstanceTemplate            string          `json:"instanceTemplate"`
	InstanceGroup               string          `json:"instanceGroup"`
	BaseInstanceName            string          `json:"baseInstanceName"`
	Fingerprint                 string          `json:"fingerprint"`
	CurrentActions              actionsJSON     `json:"currentActions"`
	Status                      groupStatusJSON `json:"status"`
	TargetSize                  int             `json:"targetSize"`
	SelfLink                    string          `json:"selfLink"`
	ListManagedInstancesResults string          `json:"listManagedInstancesResults"`
}

type opErrorItemJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type opErrorJSON struct {
	Errors []opErrorItemJSON `json:"errors"`
}

type operationJSON struct {
	Kind                string       `json:"kind"`
	ID                  string       `json:"id"`
	Name                string       `json:"name"`
	Zone                string       `json:"zone,omitempty"`
	Region              string       `json:"region,omitempty"`
	OperationType       string       `json:"operationType"`
	TargetLink          string       `json:"targetLink"`
	TargetID            string       `json:"targetId"`
	Status              string       `json:"status"`
	User                string       `json:"user"`
	Progress            int          `json:"progress"`
	InsertTime          string       `json:"insertTime"`
	StartTime           string       `json:"startTime"`
	EndTime             string       `json:"endTime,omitempty"`
	Error               *opErrorJSON `json:"error,omitempty"`
	HTTPErrorStatusCode int          `json:"httpErrorStatusCode,omitempty"`
	HTTPErrorMessage    string       `json:"httpErrorMessage,omitempty"`
	SelfLink            string       `json:"selfLink"`
	ClientOperationID   string       `json:"clientOperationId,omitempty"`
}

type autoscalingPolicyJSON struct {
	MinNumReplicas    int            `json:"minNumReplicas"`
	MaxNumReplicas    int            `json:"maxNumReplicas"`
	CoolDownPeriodSec int            `json:"coolDownPeriodSec"`
	CPUUtilization    map[string]any `json:"cpuUtilization"`
	Mode              string         `json:"mode"`
}

type autoscalerJSON struct {
	Kind              string                `json:"kind"`
	ID                string                `json:"id"`
	CreationTimestamp string                `json:"creationTimestamp"`
	Name              string                `json:"name"`
	Target            string                `json:"target"`
	AutoscalingPolicy autoscalingPolicyJSON `json:"autoscalingPolicy"`
	Zone              string                `json:"zone,omitempty"`
	Region            string                `json:"region,omitempty"`
	SelfLink          string                `json:"selfLink"`
	Status            string                `json:"status"`
	RecommendedSize   int                   `json:"recommendedSize"`
}

// Compute Engine's timestamps: RFC 3339 with milliseconds and an offset.
const timeLayout = "2006-01-02T15:04:05.000-07:00"

// baseURL is the links' prefix. Compute Engine writes
// https://www.googleapis.com/compute/v1/; the emulator uses its own
// address so that a client could follow the links.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/compute/v1/"
}

// path is the resource's relative name, e.g. projects/p/zones/z/instanceGroupManagers/g.
func (k resKey) path(collection string) string {
	return "projects/" + k.project + "/" + k.scope + "/" + k.location + "/" + collection + "/" + k.name
}

func (k resKey) scopeLink(base string) (zone, region string) {
	link := base + "projects/" + k.project + "/" + k.scope + "/" + k.location
	if k.scope == "regions" {
		return "", link
	}
	return link, ""
}

func (e *Emulator) groupJSON(base string, k resKey, g *group) groupJSON {
	now := e.opts.Now()
	running, creating := g.counts(now)
	zone, region := k.scopeLink(base)
	st := groupStatusJSON{
		IsStable:      g.stable(now),
		VersionTarget: map[string]bool{"isReached": true},
		Stateful:      map[string]any{"hasStatefulConfig": false, "perInstanceConfigs": map[string]bool{"allEffective": true}},
	}
	if g.autoscaler != nil {
		st.Autoscaler = base + k.path("autoscalers")
	}
	return groupJSON{
		Kind:                        "compute#instanceGroupManager",
		ID:                          strconv.FormatUint(g.id, 10),
		CreationTimestamp:           g.created.Format(timeLayout),
		Name:                        k.name,
		Zone:                        zone,
		Region:                      region,
		InstanceTemplate:            base + "projects/" + k.project + "/global/instanceTemplates/" + k.name + "-template",
		InstanceGroup:               base + k.path("instanceGroups"),
		BaseInstanceName:            k.name,
		Fingerprint:                 strconv.FormatUint(g.id*2654435761, 36),
		CurrentActions:              actionsJSON{None: running, Creating: creating},
		Status:                      st,
		TargetSize:                  g.targetSize,
		SelfLink:                    base + k.path("instanceGroupManagers"),
		ListManagedInstancesResults: "PAGELESS",
	}
}

func (e *Emulator) operationJSON(base string, op *operation) operationJSON {
	now := e.opts.Now()
	zone, region := op.key.scopeLink(base)
	opType := "compute.instanceGroupManagers.resize"
	if op.key.scope == "regions" {
		opType = "compute.regionInstanceGroupManagers.resize"
	}
	o := operationJSON{
		Kind:          "compute#operation",
		ID:            strconv.FormatUint(op.id, 10),
		Name:          op.key.name,
		Zone:          zone,
		Region:        region,
		OperationType: opType,
		TargetLink:    base + op.target.path("instanceGroupManagers"),
		TargetID:      strconv.FormatUint(op.targetID, 10),
		Status:        "RUNNING",
		User:          "capstan@" + op.key.project + ".iam.gserviceaccount.com",
		InsertTime:    op.created.Format(timeLayout),
		StartTime:     op.created.Format(timeLayout),
		SelfLink:      base + op.key.path("operations"),

		ClientOperationID: op.requestID,
	}
	if now.Before(op.doneAt) {
		return o
	}
	o.Status, o.Progress, o.EndTime = "DONE", 100, op.doneAt.Format(timeLayout)
	if op.fail {
		o.Error = &opErrorJSON{Errors: []opErrorItemJSON{{
			Code:    "INTERNAL_ERROR",
			Message: "Internal error. Please try again or contact Google Support. (Code: '-0000000000000000000')",
		}}}
		o.HTTPErrorStatusCode, o.HTTPErrorMessage = http.StatusInternalServerError, "INTERNAL SERVER ERROR"
	}
	return o
}

func (e *Emulator) autoscalerJSON(base string, k resKey, g *group) autoscalerJSON {
	a := g.autoscaler
	zone, region := k.scopeLink(base)
	rec := min(max(g.targetSize, a.Min), a.Max)
	return autoscalerJSON{
		Kind:              "compute#autoscaler",
		ID:                strconv.FormatUint(a.id, 10),
		CreationTimestamp: a.created.Format(timeLayout),
		Name:              a.name,
		Target:            base + k.path("instanceGroupManagers"),
		AutoscalingPolicy: autoscalingPolicyJSON{
			MinNumReplicas:    a.Min,
			MaxNumReplicas:    a.Max,
			CoolDownPeriodSec: 60,
			CPUUtilization:    map[string]any{"utilizationTarget": 0.6, "predictiveMethod": "NONE"},
			Mode:              a.Mode,
		},
		Zone:            zone,
		Region:          region,
		SelfLink:        base + k.path("autoscalers"),
		Status:          "ACTIVE",
		RecommendedSize: rec,
	}
}

// statusName is the google.rpc.Code name Google's JSON errors carry in
// "status" for an HTTP status and reason.
func statusName(status int, reason string) string {
	switch {
	case reason == "resourceNotReady":
		return "FAILED_PRECONDITION"
	case status == http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case status == http.StatusNotFound:
		return "NOT_FOUND"
	case status == http.StatusForbidden:
		return "PERMISSION_DENIED"
	case status == http.StatusConflict:
		return "ABORTED"
	case status == http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case status == http.StatusInternalServerError:
		return "INTERNAL"
	case status == http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}

// writeError writes Google's JSON error format:
//
//	{"error":{"code":404,"message":"...","errors":[{"message":"...","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}
//
// A 429 also carries the google.rpc.ErrorInfo detail that Google's front
// end adds to quota errors. It returns the status, for the call record.
func writeError(w http.ResponseWriter, status int, reason, msg string) int {
	domain := "global"
	if status == http.StatusTooManyRequests || reason == "rateLimitExceeded" {
		domain = "usageLimits"
	}
	body := map[string]any{
		"code":    status,
		"message": msg,
		"errors":  []map[string]string{{"message": msg, "domain": domain, "reason": reason}},
		"status":  statusName(status, reason),
	}
	if status == http.StatusTooManyRequests {
		body["details"] = []map[string]any{{
			"@type":  "type.googleapis.com/google.rpc.ErrorInfo",
			"reason": "RATE_LIMIT_EXCEEDED",
			"domain": "googleapis.com",
			"metadata": map[string]string{
				"service":     "compute.googleapis.com",
				"quota_limit": "ReadRequestsPerMinutePerProject",
			},
		}}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
	return status
}
