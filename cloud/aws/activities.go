package aws

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/capstan-io/capstan/cloud"
)

// opActivities is the Auto Scaling action Activities calls (a third IAM
// action, autoscaling:DescribeScalingActivities, needed only for it).
const opActivities = "DescribeScalingActivities"

// Bounds on one Activities call: AWS's largest page, and few enough pages
// that a busy group's history cannot keep a settle waiting. AWS keeps six
// weeks of activities; the control plane asks only for the last minutes.
const (
	activitiesPageSize = 100
	activitiesMaxPages = 5
)

// causeChange finds the desired-capacity change in an activity's Cause,
// which AWS words "... changing the desired capacity from 2 to 5."
var causeChange = regexp.MustCompile(`changing the desired capacity from (\d+) to (\d+)`)

// Activities lists the group's scaling activities that started at or after
// since, newest first, through DescribeScalingActivities (paginated, at
// most activitiesMaxPages pages of activitiesPageSize). AWS answers newest
// first, so paging stops at the first activity older than since. From and
// To come from the activity's Cause; an activity whose cause names no
// desired-capacity change (a health replacement, say) has -1 for both.
func (d *Driver) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	if err := validate(g); err != nil {
		return nil, err
	}
	p := autoscaling.NewDescribeScalingActivitiesPaginator(d.client(g.Region), &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: awssdk.String(g.Group),
		MaxRecords:           awssdk.Int32(activitiesPageSize),
	})
	var out []cloud.Activity
	for page := 0; page < activitiesMaxPages && p.HasMorePages(); page++ {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap(ctx, opActivities, g, err)
		}
		for _, a := range res.Activities {
			act := activity(a)
			if act.Start.Before(since) {
				return out, nil
			}
			out = append(out, act)
		}
	}
	return out, nil
}

// activity converts one SDK activity.
func activity(a types.Activity) cloud.Activity {
	act := cloud.Activity{
		ID:          awssdk.ToString(a.ActivityId),
		Start:       awssdk.ToTime(a.StartTime),
		End:         awssdk.ToTime(a.EndTime),
		From:        -1,
		To:          -1,
		Status:      status(a.StatusCode),
		Description: awssdk.ToString(a.Description),
	}
	if m := causeChange.FindStringSubmatch(awssdk.ToString(a.Cause)); m != nil {
		from, ferr := strconv.Atoi(m[1])
		to, terr := strconv.Atoi(m[2])
		if ferr == nil && terr == nil {
			act.From, act.To = from, to
		}
	}
	return act
}

// status maps AWS's activity status codes: the waiting and in-progress
// ones are all InProgress.
func status(c types.ScalingActivityStatusCode) cloud.ActivityStatus {
	switch c {
	case types.ScalingActivityStatusCodeSuccessful:
		return cloud.ActivitySuccessful
	case types.ScalingActivityStatusCodeFailed:
		return cloud.ActivityFailed
	case types.ScalingActivityStatusCodeCancelled:
		return cloud.ActivityCancelled
	case types.ScalingActivityStatusCodeInProgress, types.ScalingActivityStatusCodePreInService,
		types.ScalingActivityStatusCodeMidLifecycleAction, types.ScalingActivityStatusCodePendingSpotBidPlacement, "":
		return cloud.ActivityInProgress
	}
	if strings.HasPrefix(string(c), "Waiting") {
		return cloud.ActivityInProgress
	}
	return cloud.ActivityStatus(c)
}
