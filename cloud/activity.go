package cloud

import "time"

// ActivityStatus is how a provider reports a scaling activity ended (or
// that it has not yet).
type ActivityStatus string

// The statuses an Activity can carry; drivers map their provider's codes
// onto these.
const (
	// ActivitySuccessful: the change and the work it started completed.
	ActivitySuccessful ActivityStatus = "Successful"
	// ActivityFailed: the work the change started failed (for Auto
	// Scaling, launching or terminating instances; the desired capacity
	// was still set).
	ActivityFailed ActivityStatus = "Failed"
	// ActivityCancelled: the provider cancelled the work.
	ActivityCancelled ActivityStatus = "Cancelled"
	// ActivityInProgress: the work is still under way.
	ActivityInProgress ActivityStatus = "InProgress"
)

// Activity is one change a provider's activity record reports for a group:
// for AWS, a scaling activity (DescribeScalingActivities); for GCP, a
// resize operation (zoneOperations or regionOperations list). It is evidence
// that a resize request reached the provider and took effect, which the
// control plane uses when it settles an intent whose outcome is unknown.
type Activity struct {
	// ID is the provider's activity id.
	ID string `json:"id"`
	// Start is when the provider started the activity; End when it
	// ended (zero while it is in progress).
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// From and To are the desired capacity before and after the change
	// the activity records, or -1 when the record does not say (an
	// activity not caused by a change of desired capacity).
	From int `json:"from"`
	To   int `json:"to"`
	// Status is the activity's status, mapped onto the constants above;
	// an unknown provider code is kept as is.
	Status ActivityStatus `json:"status"`
	// Description is the provider's one-line description.
	Description string `json:"description,omitempty"`
	// Request is the client's request id the provider recorded with the
	// change (Compute Engine's clientOperationId, the requestId a driver
	// sent from RequestFrom), empty when there is none. It names the
	// intent whose request made the change (RequestID) even when the
	// record does not say the sizes, as Compute Engine's does not.
	Request string `json:"request,omitempty"`
}
