package azure_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
)

// sdkFake is one scale set behind the SDK's own server fake
// (fake.VirtualMachineScaleSetsServer), which answers at the transport
// with Microsoft's idea of the responses, including its fake pollers.
type sdkFake struct {
	mu       sync.Mutex
	capacity int64
	failNext bool
	updates  []armcompute.VirtualMachineScaleSetUpdate
	ifMatch  []string
}

func (f *sdkFake) server() *fake.VirtualMachineScaleSetsServer {
	return &fake.VirtualMachineScaleSetsServer{
		Get: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetsClientGetOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetsClientGetResponse], errResp azfake.ErrorResponder) {
			if name != "web" {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetsClientGetResponse{VirtualMachineScaleSet: armcompute.VirtualMachineScaleSet{
				Location: to.Ptr("westeurope"),
				Name:     to.Ptr(name),
				Etag:     to.Ptr(`"7"`),
				Tags:     map[string]*string{"Capstan-Max": to.Ptr("12")}, // tag names are case-insensitive
				SKU:      &armcompute.SKU{Name: to.Ptr("Standard_F2s_v2"), Tier: to.Ptr("Standard"), Capacity: to.Ptr(f.capacity)},
				Properties: &armcompute.VirtualMachineScaleSetProperties{
					ProvisioningState: to.Ptr("Succeeded"),
				},
			}}, nil)
			return
		},
		GetInstanceView: func(context.Context, string, string, *armcompute.VirtualMachineScaleSetsClientGetInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse{VirtualMachineScaleSetInstanceView: armcompute.VirtualMachineScaleSetInstanceView{
				VirtualMachine: &armcompute.VirtualMachineScaleSetInstanceViewStatusesSummary{StatusesSummary: []*armcompute.VirtualMachineStatusCodeCount{
					{Code: to.Ptr("ProvisioningState/succeeded"), Count: to.Ptr(int32(f.capacity))},
				}},
			}}, nil)
			return
		},
		BeginUpdate: func(_ context.Context, _, _ string, u armcompute.VirtualMachineScaleSetUpdate, o *armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetsClientUpdateResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.updates = append(f.updates, u)
			if o != nil && o.IfMatch != nil {
				f.ifMatch = append(f.ifMatch, *o.IfMatch)
			}
			resp.AddNonTerminalResponse(http.StatusOK, nil)
			if f.failNext {
				f.failNext = false
				resp.SetTerminalError(http.StatusOK, "AllocationFailed")
				return
			}
			f.capacity = *u.SKU.Capacity
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachineScaleSetsClientUpdateResponse{}, nil)
			return
		},
	}
}

// TestAgainstTheSDKServerFake cross-checks the driver against the SDK's
// server fake instead of the emulator: same results, and the update it
// sends is the one the emulator sees (capacity with the SKU's name and
// tier, If-Match on the ETag read).
func TestAgainstTheSDKServerFake(t *testing.T) {
	f := &sdkFake{capacity: 3}
	d, err := azure.New(context.Background(), azure.Options{
		Credential:    &azfake.TokenCredential{},
		Transport:     fake.NewVirtualMachineScaleSetsServerTransport(f.server()),
		PollFrequency: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	g := cloud.GroupRef{Provider: "azure", Subscription: testSub, ResourceGroup: "rg", ScaleSet: "web"}

	gs, err := d.Describe(ctx, g)
	if want := (cloud.GroupState{Desired: 3, Max: 12, InService: 3}); err != nil || gs != want {
		t.Fatalf("describe %+v, %v; want %+v", gs, err, want)
	}
	if err := d.SetDesired(ctx, g, 8); err != nil {
		t.Fatal(err)
	}
	if gs, err := d.Describe(ctx, g); err != nil || gs.Desired != 8 {
		t.Fatalf("after resize: %+v, %v", gs, err)
	}
	f.mu.Lock()
	u := f.updates[0]
	if *u.SKU.Capacity != 8 || *u.SKU.Name != "Standard_F2s_v2" || *u.SKU.Tier != "Standard" || f.ifMatch[0] != `"7"` {
		t.Fatalf("update sent: sku %+v, If-Match %v", *u.SKU, f.ifMatch)
	}
	f.failNext = true
	f.mu.Unlock()

	err = d.SetDesired(ctx, g, 9)
	var re *azcore.ResponseError
	if !errors.Is(err, cloud.ErrUnavailable) || !errors.As(err, &re) || re.ErrorCode != "AllocationFailed" {
		t.Fatalf("failed operation: %v, want ErrUnavailable with AllocationFailed", err)
	}
	if _, err := d.Describe(ctx, cloud.GroupRef{Subscription: testSub, ResourceGroup: "rg", ScaleSet: "gone"}); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("missing: %v, want ErrNotFound", err)
	}
}
