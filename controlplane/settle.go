package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/policy"
	"github.com/capstan-io/capstan/store"
)

// activityReader is what settle uses of a driver that offers the
// provider's activity record (the AWS driver's scaling activities, through
// cloud.Retrying). A driver without one is settled by describe alone; one
// wrapped by cloud.Retrying answers errors.ErrUnsupported when the driver
// under it has no record.
type activityReader interface {
	Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error)
}

// activitySkew is how far before an intent's time an activity may start
// and still be its effect: the clock difference between a node and the
// provider that the fence already assumes is a few seconds
// (docs/fencing.md).
const activitySkew = 5 * time.Second

// settle resolves the intents pending for a policy before it is evaluated
// (docs/fencing.md). An intent whose Settled time has not come may still
// take effect: its group is in doubt and the policy holds; settle returns
// that intent. Once settled, the evidence decides (settleOutcome): the
// provider's activity record where the driver offers one, and always a
// describe. An applied intent counts for cooldowns and rate limits (folded
// into state). A describe that fails proves nothing: the intent stays
// pending and the policy holds. An activity record that cannot be read
// leaves the describe to decide, as it does for drivers without one.
// Intents from before fencing settle at once. Each settled intent gets a
// decision "settled" saying which evidence decided it, committed before
// the intent's result.
//
// An activity never settles an intent before Settled: it proves that one
// request of the intent took effect, not that no other will (cloud.Retrying
// may have sent another attempt before SendBy, which can still land and
// would undo a newer resize made meanwhile).
func (l *loop) settle(ctx context.Context, v evalView, drv cloud.Driver, ref cloud.GroupRef, state *policy.State) (*store.Intent, string) {
	n := l.n
	// By index: a copied loop variable whose address is returned went to
	// the heap at every evaluation, pending intents or not. v.Pending is
	// the view's own copy.
	for i := range v.Pending {
		in := &v.Pending[i]
		now := n.now()
		if now.Before(in.Settled) {
			return in, fmt.Sprintf("the outcome of intent %d (%d -> %d, term %d) is unknown until %s",
				in.ID, in.From, in.To, in.Term, in.Settled.UTC().Format(time.RFC3339Nano))
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CloudTimeout)
		// Fresh, never cached: only a describe sent after Settled proves
		// the outcome.
		gs, err := l.groups.describe(cctx, drv, ref)
		var acts []cloud.Activity
		var actErr error
		if err == nil {
			acts, actErr = readActivities(cctx, drv, ref, in.At.Add(-activitySkew))
		}
		cancel()
		if err != nil {
			return in, fmt.Sprintf("intent %d (%d -> %d, term %d) is unresolved: describe failed: %v", in.ID, in.From, in.To, in.Term, err)
		}
		outcome, evidence := settleOutcome(*in, gs, acts, actErr == nil)
		if actErr != nil && !errors.Is(actErr, errors.ErrUnsupported) {
			// After Settled the describe alone is proof (docs/fencing.md):
			// an activity record that cannot be read (a missing IAM
			// permission, an outage) costs its evidence, never a hold.
			evidence += "; the activity record was unreadable: " + actErr.Error()
		}
		if outcome == outcomeApplied {
			countAction(state, *in)
		}
		// The decision first, then the result: whoever sees the intent
		// gone (a reader of the API, a new leader) finds the decision
		// that explains it. Committed the other way round, a reader could
		// find the intent gone and no decision, and a leadership lost in
		// between lost the decision for good, the intent being no longer
		// pending for anyone to settle again. Now a lost result leaves
		// the intent pending: it is settled again, and the settle
		// recorded again, by the next evaluation or leader.
		rec := policy.Record{Time: now, Action: "settled", Current: gs.Desired, Ready: gs.InService, Desired: in.To,
			Reason: fmt.Sprintf("intent %d (%d -> %d, term %d) %s: %s", in.ID, in.From, in.To, in.Term, outcome, evidence)}
		if err := l.commitNow(ctx, store.Evaluated{Policy: in.Policy, PolicyVersion: v.Record.Version, Record: &rec,
			Desired: v.Desired, Ready: v.Ready, At: now}); err != nil {
			return in, "recording the settled decision failed: " + err.Error()
		}
		l.log.Info("settled a pending intent", "policy", in.Policy, "intent", in.ID, "term", in.Term, "outcome", outcome, "evidence", evidence)
		if err := n.apply(ctx, store.IntentResult{Policy: in.Policy, IntentID: in.ID, Outcome: outcome, Error: evidence, At: now}); err != nil {
			return in, "committing the intent's outcome failed: " + err.Error()
		}
	}
	return nil, ""
}

// readActivities asks the driver for the group's activities since since,
// or answers errors.ErrUnsupported when it keeps no activity record.
func readActivities(ctx context.Context, drv cloud.Driver, ref cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	ar, ok := drv.(activityReader)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return ar.Activities(ctx, ref, since)
}

// settleOutcome decides a settled intent's outcome from a describe taken
// after Settled and, when haveActs, the provider's activities since the
// intent (newest first, as drivers return them). Two kinds of record prove
// the intent applied, even if the group has changed since:
//   - an operation carrying the intent's own request id
//     (cloud.RequestID; Compute Engine's clientOperationId) that did not
//     fail: the request id names the intent, so neither sizes nor times
//     are needed (Compute Engine's operations record no sizes);
//   - an activity that changed the desired capacity to the intent's size,
//     starting between the intent's time (less activitySkew) and Settled
//     (AWS's scaling activities, the fake cloud's record).
//
// Without one, the describe decides: at the intent's size it was applied
// (a resize to the size the group already had records nothing),
// otherwise not applied. The evidence says which.
func settleOutcome(in store.Intent, gs cloud.GroupState, acts []cloud.Activity, haveActs bool) (outcome, evidence string) {
	described := fmt.Sprintf("describe: group at %d", gs.Desired)
	var why []string
	if haveActs {
		req := cloud.RequestID(in.Policy, in.ID)
		for _, a := range acts {
			if a.Request != req {
				continue
			}
			if a.Status == cloud.ActivityFailed {
				why = append(why, fmt.Sprintf("the intent's operation %s failed (%s)", a.ID, a.Description))
				continue
			}
			return outcomeApplied, fmt.Sprintf("settled by operation %s of the intent's request %s (%s, started %s); %s",
				a.ID, a.Request, a.Status, a.Start.UTC().Format(time.RFC3339Nano), described)
		}
		for _, a := range acts {
			if a.To != in.To || a.Start.Before(in.At.Add(-activitySkew)) || a.Start.After(in.Settled) {
				continue
			}
			return outcomeApplied, fmt.Sprintf("settled by scaling activity %s (%d -> %d, %s, started %s); %s",
				a.ID, a.From, a.To, a.Status, a.Start.UTC().Format(time.RFC3339Nano), described)
		}
		why = append(why, fmt.Sprintf("no scaling activity to %d", in.To))
	}
	if gs.Desired == in.To {
		return outcomeApplied, "settled by describe: group at " + fmt.Sprint(in.To) + prefixed(why)
	}
	return outcomeNotApplied, fmt.Sprintf("settled by describe: group is at %d, not %d, after the intent settled", gs.Desired, in.To) + prefixed(why)
}

// prefixed joins notes after "; ", or returns "" for none.
func prefixed(notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	return "; " + strings.Join(notes, "; ")
}
