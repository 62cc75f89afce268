package fake_test

import (
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/drivertest"
	"github.com/capstan-io/capstan/cloud/fake"
)

// emulator adapts fake.Cloud to the conformance suite.
type emulator struct{ c *fake.Cloud }

func (e emulator) CreateGroup(t testing.TB, name string, min, max, desired int) cloud.GroupRef {
	if err := e.c.CreateGroup(name, min, max, desired); err != nil {
		t.Fatal(err)
	}
	return cloud.GroupRef{Provider: "fake", Group: name}
}

var missing atomic.Int64

func (e emulator) Missing(testing.TB) cloud.GroupRef {
	return cloud.GroupRef{Provider: "fake", Group: fmt.Sprintf("missing-%d", missing.Add(1))}
}

func (e emulator) Inject(t testing.TB, f drivertest.Fault) {
	ff := fake.Fault{Op: f.Op, Times: f.Times}
	if f.Op == "describe_batch" {
		ff.Op = fake.OpDescribeBatch
	}
	if ff.Times < 0 {
		ff.Times = -1
	}
	switch f.Kind {
	case drivertest.Throttle:
		ff.Err = cloud.ErrThrottled
	case drivertest.ServerError, drivertest.OperationFails:
		ff.Err = cloud.ErrUnavailable
	case drivertest.Busy:
		ff.Err = cloud.ErrConflict
	case drivertest.Slow:
		ff.Delay = f.Delay
	}
	if err := e.c.InjectFault(ff); err != nil {
		t.Fatal(err)
	}
}

func (e emulator) Desired(t testing.TB, g cloud.GroupRef) int {
	gs, err := e.c.Describe(g.Group)
	if err != nil {
		t.Fatal(err)
	}
	return gs.Desired
}

// TestConformanceInProcess runs the suite on the in-process driver.
func TestConformanceInProcess(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Setup {
		c := fake.New(fake.Options{BootDelay: time.Minute})
		d := fake.NewDriver(c)
		return drivertest.Setup{Driver: cloud.NewRetrying(d, drivertest.FastRetry()), Emulator: emulator{c}, Batch: d, BatchPage: fake.MaxBatch}
	})
}

// TestConformanceHTTP runs the suite on the HTTP client against the server.
func TestConformanceHTTP(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Setup {
		c := fake.New(fake.Options{BootDelay: time.Minute})
		srv := httptest.NewServer(fake.NewHandler(c))
		t.Cleanup(srv.Close)
		cl := fake.NewClient(srv.URL, nil)
		return drivertest.Setup{Driver: cloud.NewRetrying(cl, drivertest.FastRetry()), Emulator: emulator{c}, Batch: cl, BatchPage: fake.MaxBatch}
	})
}
