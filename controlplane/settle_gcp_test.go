package controlplane

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/gcp"
	"github.com/capstan-io/capstan/cloud/gcp/gcpemu"
)

// TestSettleFromGCPOperations runs the in-process cluster against the GCP
// driver (real SDK, through cloud.Retrying) and gcpemu. The leader's
// resize is slow: it outlives its deadline, so its outcome is in doubt,
// and lands later. After Settled the leader reads the group's resize
// operations and finds the one carrying the intent's request id. "changed
// by hand" is the case describe alone gets wrong: the resize landed,
// someone set the group back before the intent settled, and only the
// operation shows that the intent's resize happened (Compute Engine's
// operations record no sizes: the request id is what names it), so it
// counts for the cooldown. With the operation list failing, the describe
// decides and says the record was unreadable.
func TestSettleFromGCPOperations(t *testing.T) {
	t.Parallel() // waits on fake-cloud delays and deadlines, alongside the other waiting tests (main_test.go)
	// The deadline leaves the SDK's first calls (a cold client under
	// -race) room to send the resize; the slow resize outlives it and
	// lands before Settled.
	const (
		cloudTimeout = time.Second
		delay        = 1300 * time.Millisecond
		cloudSettle  = 2500 * time.Millisecond
	)
	ref := cloud.GroupRef{Provider: "gcp", Project: "proj-1", Zone: "us-central1-a", Group: "web"}
	cases := []struct {
		name     string
		listFail bool // the operation list answers 503
		setBack  bool // set the group back to 2 by hand once the resize landed
		outcome  string
		evidence []string
	}{
		{name: "slow resize lands", outcome: outcomeApplied, evidence: []string{"settled by operation operation-", "of the intent's request", "describe: group at 5"}},
		{name: "changed by hand", setBack: true, outcome: outcomeApplied, evidence: []string{"settled by operation operation-", "describe: group at 2"}},
		{name: "operations unreadable", listFail: true, outcome: outcomeApplied, evidence: []string{"settled by describe: group at 5", "the activity record was unreadable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := gcpemu.New(gcpemu.Options{})
			srv := httptest.NewServer(emu)
			t.Cleanup(srv.Close)
			if err := emu.CreateGroup(ref, 2, nil); err != nil {
				t.Fatal(err)
			}
			drv, err := gcp.New(context.Background(), gcp.Options{Endpoint: srv.URL, PollInterval: 5 * time.Millisecond,
				ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { drv.Close() })
			if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpResize, Kind: gcpemu.Slow, Delay: delay}); err != nil {
				t.Fatal(err)
			}
			if tc.listFail {
				if err := emu.InjectFault(gcpemu.Fault{Op: gcpemu.OpListOperations, Kind: gcpemu.ServerError, Times: -1}); err != nil {
					t.Fatal(err)
				}
			}
			c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle,
				driver: cloud.NewRetrying(drv, cloud.DefaultRetryOptions())})
			_, l := c.leader()
			p := webPolicy(t, 5)
			p.Target.Provider, p.Target.Project, p.Target.Zone = "gcp", ref.Project, ref.Zone
			if _, err := l.PutPolicy(context.Background(), p, ""); err != nil {
				t.Fatal(err)
			}
			// The slow resize's intent: under a loaded -race run a later
			// resize can be in doubt too, and settled first.
			first := c.firstIntent(l, "web")
			at := func(n int) func() bool { return func() bool { d, _ := emu.Desired(ref); return d == n } }
			if tc.setBack {
				c.waitFor("the slow resize to land", at(5))
				if err := drv.SetDesired(context.Background(), ref, 2); err != nil {
					t.Fatal(err)
				}
			}
			settled := c.settledReason(l, "web", first)
			if !strings.Contains(settled, fmt.Sprintf(") %s: ", tc.outcome)) {
				t.Errorf("settled decision %q: want outcome %s", settled, tc.outcome)
			}
			for _, w := range tc.evidence {
				if !strings.Contains(settled, w) {
					t.Errorf("settled decision %q lacks %q", settled, w)
				}
			}
			c.countsForCooldown(l, "web")
		})
	}
}
