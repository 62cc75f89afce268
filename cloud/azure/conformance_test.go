package azure_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/azure"
	"github.com/capstan-io/capstan/cloud/azure/azemu"
	"github.com/capstan-io/capstan/cloud/drivertest"
)

const (
	testSub = "00000000-0000-0000-0000-00000000c0de"
	testRG  = "capstan-rg"
)

// emulator adapts azemu to the conformance suite.
type emulator struct {
	e       *azemu.Emulator
	missing atomic.Int64
}

func (em *emulator) CreateGroup(t testing.TB, name string, min, max, desired int) cloud.GroupRef {
	t.Helper()
	if err := em.e.CreateGroup(testSub, testRG, name, min, max, desired); err != nil {
		t.Fatal(err)
	}
	return ref(name)
}

func (em *emulator) Missing(testing.TB) cloud.GroupRef {
	return ref(fmt.Sprintf("missing-%d", em.missing.Add(1)))
}

func (em *emulator) Inject(t testing.TB, f drivertest.Fault) {
	t.Helper()
	af := azemu.Fault{Op: f.Op, Times: f.Times, Delay: f.Delay}
	if f.Op == "describe_batch" {
		af.Op = azemu.OpList
	}
	switch f.Kind {
	case drivertest.Throttle:
		af.Kind = azemu.Throttle
	case drivertest.ServerError:
		af.Kind = azemu.ServerError
	case drivertest.Busy:
		af.Kind = azemu.Busy
	case drivertest.Slow:
		af.Kind = azemu.Slow
	case drivertest.OperationFails:
		af.Kind = azemu.OperationFails
	default:
		t.Fatalf("unknown fault kind %d", f.Kind)
	}
	if err := em.e.InjectFault(af); err != nil {
		t.Fatal(err)
	}
}

func (em *emulator) Desired(t testing.TB, g cloud.GroupRef) int {
	t.Helper()
	n, err := em.e.Desired(g.Subscription, g.ResourceGroup, g.ScaleSet)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ref(name string) cloud.GroupRef {
	return cloud.GroupRef{Provider: "azure", Subscription: testSub, ResourceGroup: testRG, ScaleSet: name}
}

// serve starts an emulator behind an httptest server and returns it with
// a driver pointed at it.
func serve(t testing.TB, eo azemu.Options, mutate func(*azure.Options)) (*azemu.Emulator, *azure.Driver) {
	t.Helper()
	e := azemu.New(eo)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	opts := e.DriverOptions(srv.URL)
	opts.PollFrequency = 2 * time.Millisecond
	if mutate != nil {
		mutate(&opts)
	}
	d, err := azure.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, d
}

// TestConformance runs the suite on the real driver and SDK client, wrapped
// the way the control plane wraps it, against the emulator over HTTP.
func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Setup {
		// Operations run a little while, so the poller sees InProgress
		// before Succeeded; a scale-out's operation runs until its
		// instances have booted (as Azure's does), so they boot as fast.
		// Pages of 7 scale sets make the batch cases follow nextLink.
		e, d := serve(t, azemu.Options{OperationDuration: 5 * time.Millisecond, BootDelay: 5 * time.Millisecond, PageSize: 7}, nil)
		return drivertest.Setup{
			Driver:        cloud.NewRetrying(d, drivertest.FastRetry()),
			Emulator:      &emulator{e: e},
			HasOperations: true,
			Batch:         d,
			BatchPage:     7,
		}
	})
}
