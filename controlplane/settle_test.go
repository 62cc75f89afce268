package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/fake"
	"github.com/capstan-io/capstan/store"
)

// TestSettleOutcome: which evidence decides a settled intent's outcome.
func TestSettleOutcome(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := store.Intent{ID: 7, Policy: "web", From: 2, To: 5, At: at, SendBy: at.Add(time.Second), Settled: at.Add(3 * time.Second)}
	// op is a Compute Engine operation: no sizes, the request id it carried.
	op := func(id string, start time.Duration, req string, st cloud.ActivityStatus) cloud.Activity {
		return cloud.Activity{ID: id, Start: at.Add(start), From: -1, To: -1, Status: st, Request: req, Description: "resize"}
	}
	own := cloud.RequestID("web", 7)
	act := func(id string, start time.Duration, from, to int) cloud.Activity {
		return cloud.Activity{ID: id, Start: at.Add(start), From: from, To: to, Status: cloud.ActivitySuccessful}
	}
	cases := []struct {
		name     string
		desired  int
		acts     []cloud.Activity
		haveActs bool
		outcome  string
		evidence []string
	}{
		{"describe alone, at the size", 5, nil, false, outcomeApplied, []string{"settled by describe: group at 5"}},
		{"describe alone, elsewhere", 2, nil, false, outcomeNotApplied, []string{"settled by describe: group is at 2, not 5"}},
		{"matching activity", 5, []cloud.Activity{act("a1", 500*time.Millisecond, 2, 5)}, true, outcomeApplied,
			[]string{"settled by scaling activity a1 (2 -> 5, Successful", "describe: group at 5"}},
		{"matching activity, group changed since", 2,
			[]cloud.Activity{act("a2", 2*time.Second, 5, 2), act("a1", 500*time.Millisecond, 2, 5)}, true, outcomeApplied,
			[]string{"settled by scaling activity a1", "describe: group at 2"}},
		{"activity within the skew before the intent", 5, []cloud.Activity{act("a1", -2*time.Second, 2, 5)}, true, outcomeApplied,
			[]string{"scaling activity a1"}},
		{"activity to another size", 3, []cloud.Activity{act("a1", time.Second, 2, 3)}, true, outcomeNotApplied,
			[]string{"group is at 3, not 5", "no scaling activity to 5"}},
		{"activity too old", 2, []cloud.Activity{act("a0", -time.Minute, 2, 5)}, true, outcomeNotApplied,
			[]string{"no scaling activity to 5"}},
		{"activity after Settled is someone else's", 5, []cloud.Activity{act("a9", time.Minute, 2, 5)}, true, outcomeApplied,
			[]string{"settled by describe: group at 5; no scaling activity to 5"}},
		{"no activity, group at the size", 5, nil, true, outcomeApplied,
			[]string{"settled by describe: group at 5; no scaling activity to 5"}},
		{"the intent's operation, group changed since", 2,
			[]cloud.Activity{op("op2", 2*time.Second, "", cloud.ActivitySuccessful), op("op1", 500*time.Millisecond, own, cloud.ActivitySuccessful)}, true, outcomeApplied,
			[]string{"settled by operation op1 of the intent's request " + own, "describe: group at 2"}},
		{"the intent's operation, still running", 5, []cloud.Activity{op("op1", 500*time.Millisecond, own, cloud.ActivityInProgress)}, true, outcomeApplied,
			[]string{"settled by operation op1", "InProgress"}},
		{"the intent's operation failed", 2, []cloud.Activity{op("op1", 500*time.Millisecond, own, cloud.ActivityFailed)}, true, outcomeNotApplied,
			[]string{"group is at 2, not 5", "the intent's operation op1 failed"}},
		{"another intent's operation", 2, []cloud.Activity{op("op1", 500*time.Millisecond, cloud.RequestID("web", 8), cloud.ActivitySuccessful)}, true, outcomeNotApplied,
			[]string{"group is at 2, not 5"}},
		{"another policy's request with the same intent id", 2, []cloud.Activity{op("op1", 500*time.Millisecond, cloud.RequestID("api", 7), cloud.ActivitySuccessful)}, true, outcomeNotApplied,
			[]string{"group is at 2, not 5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			outcome, evidence := settleOutcome(in, cloud.GroupState{Desired: tc.desired}, tc.acts, tc.haveActs)
			if outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (%s)", outcome, tc.outcome, evidence)
			}
			for _, w := range tc.evidence {
				if !strings.Contains(evidence, w) {
					t.Errorf("evidence %q lacks %q", evidence, w)
				}
			}
		})
	}
}

// TestReadActivities: a driver without an activity record, directly or
// under cloud.Retrying, answers errors.ErrUnsupported.
func TestReadActivities(t *testing.T) {
	// Embedding the interface hides the fake driver's Activities.
	drv := struct{ cloud.Driver }{fake.NewDriver(fake.New(fake.Options{AutoCreate: true}))}
	for _, d := range []cloud.Driver{drv, cloud.NewRetrying(drv, cloud.DefaultRetryOptions())} {
		if _, err := readActivities(context.Background(), d, cloud.GroupRef{Group: "web"}, time.Time{}); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%T: err = %v, want ErrUnsupported", d, err)
		}
	}
}

// TestSettleFromAWSActivities runs the in-process cluster against the AWS
// driver (real SDK, through cloud.Retrying as the agent wires it) and
// awsemu. The leader's resize is in doubt (slow: it outlives its deadline,
// or dropped); after Settled the leader reads the group's scaling
// activities and records which evidence settled the intent. "changed by
// hand" is the case describe alone gets wrong: the resize landed, someone
// set the group back before the intent settled, and only the activity
// shows the resize happened, so it counts for the cooldown.
func TestSettleFromAWSActivities(t *testing.T) {
	t.Parallel() // waits on fake-cloud delays and deadlines, alongside the other waiting tests (main_test.go)
	const (
		// The deadline leaves the SDK's first calls (a cold client under
		// -race) room to send the resize; the slow one outlives it and
		// lands (or is dropped) before Settled.
		cloudTimeout = time.Second
		delay        = 1300 * time.Millisecond
		cloudSettle  = 2500 * time.Millisecond
	)
	cases := []struct {
		name     string
		fault    awsemu.Fault
		refuse   bool // DescribeScalingActivities is denied (no IAM permission)
		setBack  bool // set the group back to 2 by hand once the resize landed
		outcome  string
		evidence []string
	}{
		{name: "slow resize lands", fault: awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: delay},
			outcome: outcomeApplied, evidence: []string{"settled by scaling activity", "(2 -> 5,", "describe: group at 5"}},
		{name: "changed by hand", fault: awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: delay}, setBack: true,
			outcome: outcomeApplied, evidence: []string{"settled by scaling activity", "(2 -> 5,", "describe: group at 2"}},
		{name: "activities denied", fault: awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: delay}, refuse: true,
			outcome: outcomeApplied, evidence: []string{"settled by describe: group at 5", "the activity record was unreadable", "AccessDenied"}},
		{name: "dropped", fault: awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: delay, Disconnect: true},
			outcome: outcomeNotApplied, evidence: []string{"group is at 2, not 5", "no scaling activity to 5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each run waits out a fence on its own cluster: run them side by side.
			t.Parallel()
			emu := awsemu.New(awsemu.Options{})
			srv := httptest.NewServer(emu)
			t.Cleanup(srv.Close)
			if err := emu.CreateGroup("web", 0, 10, 2); err != nil {
				t.Fatal(err)
			}
			drv, err := aws.New(context.Background(), aws.Options{BaseEndpoint: srv.URL,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
			if err != nil {
				t.Fatal(err)
			}
			if err := emu.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			if tc.refuse {
				denied := awsemu.Fault{Action: awsemu.ActionActivities, Code: "AccessDenied", Status: 403, Times: -1}
				if err := emu.InjectFault(denied); err != nil {
					t.Fatal(err)
				}
			}
			c := newCluster(t, clusterOptions{cloudTimeout: cloudTimeout, cloudSettle: cloudSettle,
				driver: cloud.NewRetrying(drv, cloud.DefaultRetryOptions())})
			_, l := c.leader()
			p := webPolicy(t, 5)
			p.Target.Provider, p.Target.Region = "aws", "us-east-1"
			if _, err := l.PutPolicy(context.Background(), p, ""); err != nil {
				t.Fatal(err)
			}
			first := c.firstIntent(l, "web")
			at := func(n int) func() bool { return func() bool { d, _ := emu.Desired("web"); return d == n } }
			if tc.setBack {
				c.waitFor("the slow resize to land", at(5))
				if err := drv.SetDesired(context.Background(), cloud.GroupRef{Provider: "aws", Group: "web", Region: "us-east-1"}, 2); err != nil {
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
			if tc.outcome == outcomeApplied {
				c.countsForCooldown(l, "web")
			}
		})
	}
}
