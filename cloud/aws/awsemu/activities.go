package awsemu

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"time"
)

// recordActivity logs the scaling activity of a desired-capacity change
// from -> to that takes effect at now, worded as AWS words a user
// request's: the cause names both sizes. A scale-out's activity is in
// progress until its instances have booted; a scale-in's ends at once.
func (g *group) recordActivity(now time.Time, from, to int, boot time.Duration) {
	g.nextActivity++
	a := activity{id: fmt.Sprintf("00000000-0000-4000-a000-%012x", g.nextActivity), start: now, end: now, from: from, to: to}
	if to > from {
		a.end = now.Add(boot)
	}
	g.activities = append(g.activities, a)
	if len(g.activities) > maxActivities {
		g.activities = g.activities[len(g.activities)-maxActivities:]
	}
}

// describeActivities answers DescribeScalingActivities for one group,
// newest first, paged by MaxRecords (1..100, default 100) and NextToken (an
// opaque offset). An unknown group has no activities, as in AWS; asking
// for none names no group and lists nothing (the emulator keeps no
// account-wide list).
func (e *Emulator) describeActivities(form map[string][]string, region, reqID string) (any, *apiError) {
	size, offset, aerr := paging(form, 100)
	if aerr != nil {
		return nil, aerr
	}
	var name string
	if v := form["AutoScalingGroupName"]; len(v) > 0 {
		name = v[0]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := activitiesResponse{Xmlns: xmlns, RequestID: reqID}
	g, ok := e.groups[name]
	if !ok {
		return resp, nil
	}
	now := e.now()
	if region == "" {
		region = "us-east-1"
	}
	for i := len(g.activities) - 1 - offset; i >= 0 && len(resp.Activities) < size; i-- {
		resp.Activities = append(resp.Activities, g.activities[i].xml(name, region, e.opts.AccountID, now))
	}
	if next := offset + len(resp.Activities); next < len(g.activities) {
		resp.NextToken = strconv.Itoa(next)
	}
	return resp, nil
}

// xml renders an activity as AWS describes it at now.
func (a activity) xml(group, region, account string, now time.Time) xmlActivity {
	verb, n := "Launching", a.to-a.from
	if n < 0 {
		verb, n = "Terminating", -n
	}
	x := xmlActivity{
		ID:          a.id,
		Group:       group,
		ARN:         fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", region, account, group),
		Description: fmt.Sprintf("%s %d EC2 instance(s)", verb, n),
		Cause: fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity from %d to %d.",
			a.start.UTC().Format("2006-01-02T15:04:05Z"), a.from, a.to),
		StartTime:  a.start.UTC().Format(time.RFC3339Nano),
		StatusCode: "Successful",
		Progress:   100,
		Details:    fmt.Sprintf(`{"Subnet ID":"subnet-0aaa0aaa0aaa0aaa0","Availability Zone":"%sa"}`, region),
	}
	if now.Before(a.end) {
		x.StatusCode, x.Progress = "InProgress", 50
	} else {
		x.EndTime = a.end.UTC().Format(time.RFC3339Nano)
	}
	return x
}

type activitiesResponse struct {
	XMLName    xml.Name      `xml:"DescribeScalingActivitiesResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	Activities []xmlActivity `xml:"DescribeScalingActivitiesResult>Activities>member"`
	NextToken  string        `xml:"DescribeScalingActivitiesResult>NextToken,omitempty"`
	RequestID  string        `xml:"ResponseMetadata>RequestId"`
}

type xmlActivity struct {
	ID          string `xml:"ActivityId"`
	Group       string `xml:"AutoScalingGroupName"`
	ARN         string `xml:"AutoScalingGroupARN"`
	Description string `xml:"Description"`
	Cause       string `xml:"Cause"`
	StartTime   string `xml:"StartTime"`
	EndTime     string `xml:"EndTime,omitempty"`
	StatusCode  string `xml:"StatusCode"`
	Progress    int    `xml:"Progress"`
	Details     string `xml:"Details"`
}
