package azemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The JSON shapes ARM uses for the scale set resources the emulator
// serves, with the fields the armcompute models read.

type scaleSetJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Etag       string            `json:"etag"`
	Tags       map[string]string `json:"tags,omitempty"`
	SKU        skuJSON           `json:"sku"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
		OrchestrationMode string `json:"orchestrationMode"`
		Overprovision     bool   `json:"overprovision"`
		UpgradePolicy     struct {
			Mode string `json:"mode"`
		} `json:"upgradePolicy"`
		UniqueID    string `json:"uniqueId"`
		TimeCreated string `json:"timeCreated"`
	} `json:"properties"`
}

type skuJSON struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Capacity int64  `json:"capacity"`
}

// updateJSON is what the emulator reads from a PATCH; other properties are
// accepted and ignored.
type updateJSON struct {
	SKU *struct {
		Name     *string `json:"name"`
		Tier     *string `json:"tier"`
		Capacity *int64  `json:"capacity"`
	} `json:"sku"`
	Tags map[string]*string `json:"tags"`
}

type instanceViewJSON struct {
	VirtualMachine struct {
		StatusesSummary []codeCount `json:"statusesSummary"`
	} `json:"virtualMachine"`
	Statuses []statusJSON `json:"statuses"`
}

type codeCount struct {
	Code  string `json:"code"`
	Count int    `json:"count"`
}

type statusJSON struct {
	Code          string `json:"code"`
	Level         string `json:"level"`
	DisplayStatus string `json:"displayStatus"`
	Time          string `json:"time"`
}

// operationJSON is the Azure-AsyncOperation status body.
type operationJSON struct {
	StartTime string    `json:"startTime"`
	EndTime   string    `json:"endTime,omitempty"`
	Status    string    `json:"status"`
	Error     *armError `json:"error,omitempty"`
	Name      string    `json:"name"`
}

type armError struct {
	Code    string     `json:"code"`
	Message string     `json:"message"`
	Target  string     `json:"target,omitempty"`
	Details []armError `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Error armError `json:"error"`
	}{armError{Code: code, Message: msg}})
}

func writeErrorTarget(w http.ResponseWriter, status int, code, msg, target string) {
	writeJSON(w, status, struct {
		Error armError `json:"error"`
	}{armError{Code: code, Message: msg, Target: target}})
}

// writeThrottled answers as the Compute provider does when a throttling
// policy (per API group and window) is exhausted: 429, Retry-After, and
// the code OperationNotAllowed with a TooManyRequests detail.
func writeThrottled(w http.ResponseWriter, op string, retryAfter time.Duration) {
	policy := map[string]string{OpDescribe: "GetVMScaleSet3Min", OpList: "GetVMScaleSet3Min", OpSetDesired: "PutVMScaleSet3Min", OpPoll: "GetOperation3Min"}[op]
	secs := int(retryAfter / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("x-ms-ratelimit-remaining-resource", "Microsoft.Compute/"+policy+";0")
	writeJSON(w, http.StatusTooManyRequests, struct {
		Error armError `json:"error"`
	}{armError{
		Code:    "OperationNotAllowed",
		Message: "The server rejected the request because too many requests have been received for this subscription.",
		Details: []armError{{
			Code:    "TooManyRequests",
			Target:  policy,
			Message: fmt.Sprintf(`{"operationGroup":"%s","allowedRequestCount":0,"measuredRequestCount":1}`, policy),
		}},
	}})
}

func writeServerError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusBadGateway:
		writeError(w, status, "BadGateway", "The gateway did not receive a response from 'Microsoft.Compute' within the specified time period.")
	case http.StatusServiceUnavailable:
		writeError(w, status, "ServiceUnavailable", "The service is temporarily unavailable. Please retry later.")
	case http.StatusGatewayTimeout:
		writeError(w, status, "GatewayTimeout", "The gateway did not receive a response from 'Microsoft.Compute' within the specified time period.")
	default:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, "InternalExecutionError", "An internal execution error occurred. Please retry later.")
	}
}

// writeConflict is Compute's answer while another operation holds the
// scale set.
func writeConflict(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, "Conflict", "The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.")
}
