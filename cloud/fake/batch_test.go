package fake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/fake"
)

// batchDrivers are the fake's two batch describers over one Cloud.
func batchDrivers(t *testing.T, c *fake.Cloud) map[string]cloud.BatchDescriber {
	srv := httptest.NewServer(fake.NewHandler(c))
	t.Cleanup(srv.Close)
	return map[string]cloud.BatchDescriber{"in-process": fake.NewDriver(c), "http": fake.NewClient(srv.URL, nil)}
}

func fakeRefs(t *testing.T, c *fake.Cloud, n int) []cloud.GroupRef {
	refs := make([]cloud.GroupRef, n)
	for i := range refs {
		name := fmt.Sprintf("g-%03d", i)
		mustCreate(t, c, name, 0, 10, i%5)
		refs[i] = cloud.GroupRef{Provider: "fake", Group: name}
	}
	return refs
}

// TestDescribeBatchSplitsAndStops: MaxBatch names per call, one log entry
// per call; a failed call fails its groups and the later ones, and no
// further call is made.
func TestDescribeBatchSplitsAndStops(t *testing.T) {
	for _, name := range []string{"in-process", "http"} {
		t.Run(name, func(t *testing.T) {
			c := fake.New(fake.Options{})
			refs := fakeRefs(t, c, 2*fake.MaxBatch+50)
			d := batchDrivers(t, c)[name]
			got, err := d.DescribeBatch(context.Background(), refs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				if r.Err != nil || r.State.Desired != i%5 {
					t.Fatalf("group %d: %+v (err %v)", i, r.State, r.Err)
				}
			}
			if got := batchSizes(c); fmt.Sprint(got) != fmt.Sprint([]int{fake.MaxBatch, fake.MaxBatch, 50}) {
				t.Fatalf("batch calls of %v groups, want %d, %d, 50", got, fake.MaxBatch, fake.MaxBatch)
			}
			// The second call names g-150: it is throttled.
			if err := c.InjectFault(fake.Fault{Op: fake.OpDescribeBatch, Group: "g-150", Err: cloud.ErrThrottled}); err != nil {
				t.Fatal(err)
			}
			got, err = d.DescribeBatch(context.Background(), refs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				if throttled := errors.Is(r.Err, cloud.ErrThrottled); throttled != (i >= fake.MaxBatch) {
					t.Fatalf("group %d: err %v, want throttled %v", i, r.Err, i >= fake.MaxBatch)
				}
			}
			if got := batchSizes(c); len(got) != 5 {
				t.Fatalf("%d batch calls in all, want 5 (3, then 2 ending at the throttle)", len(got))
			}
		})
	}
}

func batchSizes(c *fake.Cloud) []int {
	var out []int
	for _, call := range c.Calls() {
		if call.Op == fake.OpDescribeBatch {
			out = append(out, len(call.Groups))
		}
	}
	return out
}

// TestRateLimit: the fake cloud throttles reads and writes separately,
// by its clock; a throttled call fails with ErrThrottled (429 over HTTP),
// changes nothing, is logged as throttled and counted.
func TestRateLimit(t *testing.T) {
	clk := newClock()
	c := fake.New(fake.Options{Now: clk.Now, RateLimit: emukit.RateLimit{ReadsPerSecond: 1, WritesPerSecond: 1, Burst: 1}})
	mustCreate(t, c, "web", 0, 10, 1)
	web := cloud.GroupRef{Provider: "fake", Group: "web"}
	ctx := context.Background()
	for _, name := range []string{"in-process", "http"} {
		t.Run(name, func(t *testing.T) {
			clk.Advance(time.Minute) // full buckets
			d := batchDrivers(t, c)[name].(cloud.Driver)
			if _, err := d.Describe(ctx, web); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Describe(ctx, web); !errors.Is(err, cloud.ErrThrottled) {
				t.Fatalf("second describe: %v, want ErrThrottled", err)
			}
			clk.Advance(time.Second)
			if _, err := d.(cloud.BatchDescriber).DescribeBatch(ctx, []cloud.GroupRef{web}); err != nil {
				t.Fatal(err)
			} else if got, _ := d.(cloud.BatchDescriber).DescribeBatch(ctx, []cloud.GroupRef{web}); !errors.Is(got[0].Err, cloud.ErrThrottled) {
				t.Fatalf("batch over the limit: %v, want ErrThrottled", got[0].Err)
			}
			if err := d.SetDesired(ctx, web, 3); err != nil {
				t.Fatalf("resize: %v (writes have their own bucket)", err)
			}
			if err := d.SetDesired(ctx, web, 4); !errors.Is(err, cloud.ErrThrottled) {
				t.Fatalf("second resize: %v, want ErrThrottled", err)
			}
			if st, _ := c.Describe("web"); st.Desired != 3 {
				t.Fatalf("desired %d after a throttled resize to 4, want 3", st.Desired)
			}
			clk.Advance(time.Second)
			if err := d.SetDesired(ctx, web, 4); err != nil {
				t.Fatalf("resize after the refill: %v", err)
			}
		})
	}
	if got := c.Throttled(); got != 6 {
		t.Fatalf("Throttled() = %d, want 6", got)
	}
	var logged int
	for _, call := range c.Calls() {
		if call.Throttled {
			logged++
		}
	}
	if logged != 6 {
		t.Fatalf("%d throttled calls logged, want 6", logged)
	}
}
