package gcp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

const testProject = "capstan-test"

// testPage is the emulator's list page size in the conformance suite.
const testPage = 7

// scope says where the suite's groups live: a zone or a region.
type scope struct {
	zone, region string
}

func (s scope) ref(name string) cloud.GroupRef {
	return cloud.GroupRef{Provider: "gcp", Project: testProject, Zone: s.zone, Region: s.region, Group: name}
}

var (
	zonal    = scope{zone: "us-central1-a"}
	regional = scope{region: "europe-west4"}
)

// emulator adapts gcpemu to the conformance suite. Groups get an
// autoscaler in mode OFF holding the suite's bounds: that is where a MIG's
// min and max live.
type emulator struct {
	e *gcpemu.Emulator
	s scope
}

func (em emulator) CreateGroup(t testing.TB, name string, min, max, desired int) cloud.GroupRef {
	ref := em.s.ref(name)
	if err := em.e.CreateGroup(ref, desired, &gcpemu.Autoscaler{Min: min, Max: max}); err != nil {
		t.Fatal(err)
	}
	return ref
}

var missing atomic.Int64

func (em emulator) Missing(testing.TB) cloud.GroupRef {
	return em.s.ref(fmt.Sprintf("missing-%d", missing.Add(1)))
}

func (em emulator) Inject(t testing.TB, f drivertest.Fault) {
	ef := gcpemu.Fault{Times: f.Times, Delay: f.Delay}
	switch f.Op {
	case "describe":
		ef.Op = gcpemu.OpGet
	case "describe_batch":
		ef.Op = gcpemu.OpList
	case "set_desired":
		ef.Op = gcpemu.OpResize
	default:
		t.Fatalf("unknown op %q", f.Op)
	}
	switch f.Kind {
	case drivertest.Throttle:
		ef.Kind = gcpemu.Throttle
	case drivertest.ServerError:
		ef.Kind = gcpemu.ServerError
	case drivertest.Busy:
		// What Compute Engine answers while another operation on the
		// group runs: a 400 that must not read as an invalid request.
		ef.Kind = gcpemu.NotReady
	case drivertest.Slow:
		ef.Kind = gcpemu.Slow
	case drivertest.OperationFails:
		ef.Kind = gcpemu.OperationFails
	default:
		t.Fatalf("unknown fault kind %d", f.Kind)
	}
	if err := em.e.InjectFault(ef); err != nil {
		t.Fatal(err)
	}
}

func (em emulator) Desired(t testing.TB, g cloud.GroupRef) int {
	n, err := em.e.Desired(g)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newTestDriver starts an emulator behind httptest and points the real
// driver (and so the real SDK clients) at it.
func newTestDriver(t testing.TB, eo gcpemu.Options, poll time.Duration) (*gcp.Driver, *gcpemu.Emulator) {
	t.Helper()
	emu := gcpemu.New(eo)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	d, err := gcp.New(context.Background(), gcp.Options{
		Endpoint:      srv.URL,
		ClientOptions: []option.ClientOption{option.WithoutAuthentication()},
		PollInterval:  poll,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, emu
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    scope
	}{{"zonal", zonal}, {"regional", regional}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			drivertest.Run(t, func(t *testing.T) drivertest.Setup {
				// Operations take a few polls; instances boot slower than
				// the suite runs, as in life.
				// Pages of 7 make the batch cases page.
				d, emu := newTestDriver(t, gcpemu.Options{BootDelay: time.Minute, OperationDelay: 15 * time.Millisecond, PageSize: testPage}, 5*time.Millisecond)
				return drivertest.Setup{
					Driver:        cloud.NewRetrying(d, drivertest.FastRetry()),
					Emulator:      emulator{emu, tc.s},
					HasOperations: true,
					Batch:         d,
					BatchPage:     testPage,
				}
			})
		})
	}
}
