package awsemu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// TestActivitiesRecordedAtEffect: a slow SetDesiredCapacity whose client
// gave up still lands, and its activity starts when it landed (effect
// order), with AWS's cause wording and fields the SDK decodes.
func TestActivitiesRecordedAtEffect(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{BootDelay: time.Hour})
	if err := emu.CreateGroup("web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	if err := emu.InjectFault(awsemu.Fault{Action: awsemu.ActionSetDesired, Delay: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(5)})
	cancel()
	if err == nil {
		t.Fatal("the slow call answered before its client gave up")
	}
	deadline := time.Now().Add(5 * time.Second)
	for d, _ := emu.Desired("web"); d != 5; d, _ = emu.Desired("web") {
		if time.Now().After(deadline) {
			t.Fatal("the slow call never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := client.DescribeScalingActivities(context.Background(), &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Activities) != 1 {
		t.Fatalf("%d activities, want 1", len(out.Activities))
	}
	a := out.Activities[0]
	if got := aws.ToTime(a.StartTime); got.Sub(sent) < 150*time.Millisecond {
		t.Errorf("activity started %v after the request, want when it landed (~200ms)", got.Sub(sent))
	}
	if !strings.Contains(aws.ToString(a.Cause), "changing the desired capacity from 2 to 5") || aws.ToString(a.AutoScalingGroupName) != "web" ||
		a.StatusCode != types.ScalingActivityStatusCodeInProgress || a.EndTime != nil || aws.ToString(a.ActivityId) == "" {
		t.Errorf("activity %+v", a)
	}
}

// TestActivitiesBadInput: bad paging parameters are a ValidationError or
// InvalidNextToken naming the parameter; an unknown group has none.
func TestActivitiesBadInput(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{})
	if err := emu.CreateGroup("web", 0, 10, 2); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   autoscaling.DescribeScalingActivitiesInput
		code string
		msg  string
	}{
		{"max records zero", autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web"), MaxRecords: aws.Int32(0)}, awsemu.CodeValidationError, "MaxRecords"},
		{"max records over 100", autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web"), MaxRecords: aws.Int32(101)}, awsemu.CodeValidationError, "MaxRecords"},
		{"bad token", autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web"), NextToken: aws.String("x")}, "InvalidNextToken", "token"},
		{"unknown group", autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("nope")}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := client.DescribeScalingActivities(context.Background(), &tc.in)
			if apiCode(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("err = %v, want code %q naming %q", err, tc.code, tc.msg)
			}
			if err == nil && len(out.Activities) != 0 {
				t.Fatalf("activities %+v, want none", out.Activities)
			}
		})
	}
}
