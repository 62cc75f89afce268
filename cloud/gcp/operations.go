package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/capstan-io/capstan/cloud"
)

// Bounds on one Activities call: Compute Engine's largest page, and few
// enough pages that a busy group cannot keep a settle waiting. The list is
// filtered to the group's own operations, so five pages go back far
// further than the minutes a settle asks about.
const (
	operationsPageSize = 500
	operationsMaxPages = 5
)

// Activities lists the group's resize operations that were inserted at or
// after since, newest first, from the zone's or region's operation list
// (zoneOperations.list / regionOperations.list, filtered by the group's
// selfLink as targetLink, ordered newest first; at most operationsMaxPages
// pages of operationsPageSize). It needs the permission
// compute.zoneOperations.list (or compute.regionOperations.list).
//
// A resize operation does not record the size asked for, so From and To
// are -1; what names the resize is its Request: the requestId the driver
// sent (cloud.RequestFrom), which Compute Engine keeps as the operation's
// clientOperationId. Start is the operation's insertTime (when Compute
// Engine received the request and set the target size), End its endTime.
// Status is InProgress until the operation is DONE, then Successful, or
// Failed when it carries an error. Operations that are not resizes
// (abandonInstances, setInstanceTemplate, ...) are left out.
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	t, err := parseRef(g)
	if err != nil {
		return nil, err
	}
	// The filter needs the group's link as Compute Engine writes it (its
	// host differs with the endpoint, e.g. Private Service Connect).
	igm, err := d.getGroup(ctx, t)
	if err != nil {
		return nil, err
	}
	filter := fmt.Sprintf("targetLink = %q", igm.GetSelfLink())
	const order = "creationTimestamp desc"
	ctx, leave := d.calls.enter(ctx) // the list's pages under ctx (callctx.go)
	defer leave()
	var it *compute.OperationIterator
	if t.regional {
		it = d.regionOps.List(ctx, &computepb.ListRegionOperationsRequest{
			Project: t.project, Region: t.location, Filter: proto.String(filter), OrderBy: proto.String(order),
			MaxResults: proto.Uint32(operationsPageSize),
		}, noRetry())
	} else {
		it = d.zoneOps.List(ctx, &computepb.ListZoneOperationsRequest{
			Project: t.project, Zone: t.location, Filter: proto.String(filter), OrderBy: proto.String(order),
			MaxResults: proto.Uint32(operationsPageSize),
		}, noRetry())
	}
	var out []cloud.Activity
	for seen := 0; seen < operationsPageSize*operationsMaxPages; seen++ {
		if err := ctx.Err(); err != nil {
			return nil, classify(ctx, "list the operations of "+t.String(), err)
		}
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, classify(ctx, "list the operations of "+t.String(), err)
		}
		if !isResize(op.GetOperationType()) {
			continue
		}
		act, err := operationActivity(op)
		if err != nil {
			return nil, fmt.Errorf("gcp: operations of %s: %w", t, err)
		}
		if act.Start.Before(since) {
			break // newest first: the rest are older
		}
		out = append(out, act)
	}
	return out, nil
}

// isResize reports whether an operationType is a managed instance group's
// resize (compute.instanceGroupManagers.resize, or the regional
// compute.regionInstanceGroupManagers.resize).
func isResize(opType string) bool {
	return strings.HasSuffix(strings.ToLower(opType), "instancegroupmanagers.resize")
}

// operationActivity converts one resize operation. An operation whose
// insertTime cannot be read is an error: without it the operation cannot
// be placed in time, and a guess could settle an intent wrongly.
func operationActivity(op *computepb.Operation) (cloud.Activity, error) {
	start, err := time.Parse(time.RFC3339Nano, op.GetInsertTime())
	if err != nil {
		return cloud.Activity{}, fmt.Errorf("operation %s: insertTime %q is not an RFC 3339 time: %w", op.GetName(), op.GetInsertTime(), cloud.ErrUnavailable)
	}
	act := cloud.Activity{
		ID: op.GetName(), Start: start, From: -1, To: -1, Status: cloud.ActivityInProgress,
		Description: op.GetOperationType() + " by " + op.GetUser(), Request: op.GetClientOperationId(),
	}
	if op.GetStatus() != computepb.Operation_DONE {
		return act, nil
	}
	act.Status = cloud.ActivitySuccessful
	if end, err := time.Parse(time.RFC3339Nano, op.GetEndTime()); err == nil {
		act.End = end
	}
	if f := operationFailure(op); f != nil {
		act.Status = cloud.ActivityFailed
		act.Description += ": " + f.Error()
	}
	return act, nil
}
