package azure

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/capstan-io/capstan/cloud"
)

func TestClassify(t *testing.T) {
	quota := "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota."
	tests := []struct {
		status    int
		code, msg string
		want      error
	}{
		{404, "ResourceNotFound", "", cloud.ErrNotFound},
		{404, "ResourceGroupNotFound", "", cloud.ErrNotFound},
		{404, "", "", cloud.ErrNotFound},
		{400, "InvalidParameter", "", cloud.ErrInvalid},
		{400, "OperationNotAllowed", "not in this region", cloud.ErrInvalid},
		{409, "OperationNotAllowed", quota, cloud.ErrInvalid},
		{400, "OperationNotAllowed", quota, cloud.ErrInvalid},
		{409, "QuotaExceeded", "", cloud.ErrInvalid},
		{409, "OperationNotAllowed", "marked for deletion", cloud.ErrConflict},
		{409, "Conflict", "conflict with a concurrent request", cloud.ErrConflict},
		{409, "", "", cloud.ErrConflict},
		{412, "PreconditionFailed", "", cloud.ErrConflict},
		{200, "OperationPreempted", "", cloud.ErrConflict},
		// Compute throttles with 429 and OperationNotAllowed: the status wins.
		{429, "OperationNotAllowed", "too many requests", cloud.ErrThrottled},
		{429, "", "", cloud.ErrThrottled},
		{429, "SubscriptionRequestsThrottled", "", cloud.ErrThrottled},
		{408, "", "", cloud.ErrUnavailable},
		{500, "InternalExecutionError", "", cloud.ErrUnavailable},
		{502, "BadGateway", "", cloud.ErrUnavailable},
		{503, "", "", cloud.ErrUnavailable},
		{504, "GatewayTimeout", "", cloud.ErrUnavailable},
		{401, "InvalidAuthenticationToken", "", cloud.ErrInvalid},
		{403, "AuthorizationFailed", "", cloud.ErrInvalid},
		{405, "", "", cloud.ErrInvalid},
	}
	for _, tc := range tests {
		if got := classify(tc.status, tc.code, tc.msg); got != tc.want {
			t.Errorf("classify(%d, %q, %q) = %v, want %v", tc.status, tc.code, tc.msg, got, tc.want)
		}
	}
}

func TestClassifyNoAnswer(t *testing.T) {
	authFailed := func(status int) error {
		return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: status, Request: &http.Request{URL: &url.URL{}}}}
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), cloud.ErrUnavailable},
		{"bad client secret", authFailed(401), cloud.ErrInvalid},
		{"Entra ID down", authFailed(503), cloud.ErrUnavailable},
		{"Entra ID throttling", authFailed(429), cloud.ErrThrottled},
		{"no credential found", nonRetriableErr{errors.New("DefaultAzureCredential: failed to acquire a token")}, cloud.ErrInvalid},
	}
	for _, tc := range tests {
		if got := classifyNoAnswer(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

type nonRetriableErr struct{ error }

func (nonRetriableErr) NonRetriable() {}

func TestCallErrKeepsTheContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := cloud.GroupRef{Subscription: "s", ResourceGroup: "rg", ScaleSet: "ss"}
	// Whatever the SDK said, a cancelled caller gets context.Canceled.
	err := callErr(ctx, "reading scale set", g, errors.New("some transport error"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("error %v, want context.Canceled and no sentinel", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 0)
	defer dcancel()
	<-dctx.Done()
	err = callErr(dctx, "reading scale set", g, context.DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cloud.ErrUnavailable) {
		t.Fatalf("error %v, want DeadlineExceeded as ErrUnavailable", err)
	}
}

func TestErrorBodyAndMessage(t *testing.T) {
	body := `{"error":{"code":"OperationNotAllowed","message":"The server rejected the request\n because too many requests have been received.","details":[{"code":"TooManyRequests"}]}}`
	resp := &http.Response{
		StatusCode: 429, Status: "429 Too Many Requests",
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(body)),
		Request: &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: "management.azure.com", Path: "/x"}},
	}
	err := callErr(context.Background(), "reading scale set", cloud.GroupRef{Subscription: "s", ResourceGroup: "rg", ScaleSet: "ss"}, runtime.NewResponseError(resp))
	want := "azure: reading scale set s/rg/ss: HTTP 429 OperationNotAllowed: The server rejected the request because too many requests have been received.: cloud: throttled"
	if err.Error() != want {
		t.Fatalf("message\n%q, want\n%q", err.Error(), want)
	}
	var re *azcore.ResponseError
	if !errors.Is(err, cloud.ErrThrottled) || !errors.As(err, &re) || re.StatusCode != 429 {
		t.Fatalf("%v does not wrap both the sentinel and the ResponseError", err)
	}
	if got := oneLine(strings.Repeat("é", 400)); len([]rune(got)) != 303 {
		t.Fatalf("oneLine kept %d runes, want 300 and an ellipsis", len([]rune(got)))
	}
}

func TestGroupState(t *testing.T) {
	str := func(s string) *string { return &s }
	vmss := func(capacity int64, state string, tags map[string]*string) armcompute.VirtualMachineScaleSet {
		return armcompute.VirtualMachineScaleSet{
			SKU:        &armcompute.SKU{Capacity: &capacity},
			Tags:       tags,
			Properties: &armcompute.VirtualMachineScaleSetProperties{ProvisioningState: str(state)},
		}
	}
	summary := func(kv ...any) armcompute.VirtualMachineScaleSetInstanceView {
		var s []*armcompute.VirtualMachineStatusCodeCount
		for i := 0; i < len(kv); i += 2 {
			n := int32(kv[i+1].(int))
			s = append(s, &armcompute.VirtualMachineStatusCodeCount{Code: str(kv[i].(string)), Count: &n})
		}
		return armcompute.VirtualMachineScaleSetInstanceView{VirtualMachine: &armcompute.VirtualMachineScaleSetInstanceViewStatusesSummary{StatusesSummary: s}}
	}
	tests := []struct {
		name    string
		ss      armcompute.VirtualMachineScaleSet
		iv      armcompute.VirtualMachineScaleSetInstanceView
		want    cloud.GroupState
		wantErr bool
	}{
		{"no tags", vmss(4, "Succeeded", nil), summary("ProvisioningState/succeeded", 4), cloud.GroupState{Desired: 4, InService: 4}, false},
		{"bounds from tags", vmss(4, "Succeeded", map[string]*string{TagMin: str("2"), "CAPSTAN-MAX": str(" 9 ")}),
			summary("ProvisioningState/succeeded", 3, "ProvisioningState/creating", 1), cloud.GroupState{Desired: 4, Min: 2, Max: 9, InService: 3, Pending: 1}, false},
		{"updating is busy", vmss(5, "Updating", nil), summary("ProvisioningState/Succeeded", 2, "ProvisioningState/creating", 3, "ProvisioningState/deleting", 1),
			cloud.GroupState{Desired: 5, InService: 2, Pending: 3, Busy: true}, false},
		{"updating instances serve", vmss(4, "Succeeded", nil), summary("ProvisioningState/succeeded", 1, "ProvisioningState/updating", 3, "ProvisioningState/failed", 1),
			cloud.GroupState{Desired: 4, InService: 4}, false},
		{"deleting is busy", vmss(0, "Deleting", nil), armcompute.VirtualMachineScaleSetInstanceView{}, cloud.GroupState{Busy: true}, false},
		{"failed is not busy", vmss(3, "Failed", nil), summary("ProvisioningState/failed", 3), cloud.GroupState{Desired: 3}, false},
		{"malformed max", vmss(3, "Succeeded", map[string]*string{TagMax: str("ten")}), summary(), cloud.GroupState{}, true},
		{"negative min", vmss(3, "Succeeded", map[string]*string{TagMin: str("-1")}), summary(), cloud.GroupState{}, true},
		{"min above max", vmss(3, "Succeeded", map[string]*string{TagMin: str("5"), TagMax: str("4")}), summary(), cloud.GroupState{}, true},
		{"no sku", armcompute.VirtualMachineScaleSet{}, summary(), cloud.GroupState{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := groupState(tc.ss, tc.iv)
			if tc.wantErr {
				if !errors.Is(err, cloud.ErrInvalid) {
					t.Fatalf("error %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
