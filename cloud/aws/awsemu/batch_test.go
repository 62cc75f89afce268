package awsemu_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/smithy-go"

	"github.com/capstan-io/capstan/cloud/aws/awsemu"
	"github.com/capstan-io/capstan/cloud/emukit"
)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// TestDescribeNameLimitAndPaging: AWS's limit of 50 names per call, raised
// to MaxRecords (at most 100) when the call sets it, the MaxRecords range,
// and NextToken paging over the matches.
func TestDescribeNameLimitAndPaging(t *testing.T) {
	emu, client, _ := setup(t, awsemu.Options{})
	all := names("g", 120)
	for _, n := range all {
		if err := emu.CreateGroup(n, 0, 5, 1); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	tests := []struct {
		name      string
		names     []string
		max       int32 // MaxRecords; 0 leaves it out
		wantCode  string
		wantMsg   string // the error message, when wantCode is set
		wantPages []int  // groups per page
	}{
		{"50 names is one default page", all[:50], 0, "", "", []int{50}},
		{"51 names without MaxRecords is refused", all[:51], 0, awsemu.CodeValidationError, limited(50), nil},
		{"51 names with MaxRecords 51 is one page", all[:51], 51, "", "", []int{51}},
		{"100 names with MaxRecords 100 is one page", all[:100], 100, "", "", []int{100}},
		{"101 names with MaxRecords 100 is refused", all[:101], 100, awsemu.CodeValidationError, limited(100), nil},
		{"61 names with MaxRecords 60 is refused", all[:61], 60, awsemu.CodeValidationError, limited(60), nil},
		{"MaxRecords below 50 does not lower the limit", all[:50], 20, "", "", []int{20, 20, 10}},
		{"MaxRecords below 50 does not raise it either", all[:51], 20, awsemu.CodeValidationError, limited(50), nil},
		{"missing names count against the limit", append(names("absent", 48), all[:3]...), 0, awsemu.CodeValidationError, limited(50), nil},
		{"missing names are left out, not pages", append(names("absent", 30), all[:5]...), 0, "", "", []int{5}},
		{"no names pages every group by the default 50", nil, 0, "", "", []int{50, 50, 20}},
		{"no names pages by MaxRecords 100", nil, 100, "", "", []int{100, 20}},
		{"MaxRecords above 100 is refused", all[:3], 101, awsemu.CodeValidationError, maxRecordsInvalid(101), nil},
		{"MaxRecords 101 with 101 names is refused for MaxRecords", all[:101], 101, awsemu.CodeValidationError, maxRecordsInvalid(101), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: tc.names}
			if tc.max > 0 {
				in.MaxRecords = aws.Int32(tc.max)
			}
			var pages []int
			var got []string
			for {
				out, err := client.DescribeAutoScalingGroups(ctx, in)
				if tc.wantCode != "" {
					if code := apiCode(err); code != tc.wantCode {
						t.Fatalf("error %v, want code %s", err, tc.wantCode)
					}
					if msg := apiErrMessage(err); msg != tc.wantMsg {
						t.Fatalf("message %q, want %q", msg, tc.wantMsg)
					}
					if n := len(emu.Calls()); n == 0 || emu.Calls()[n-1].Code != tc.wantCode {
						t.Fatalf("the refused call is not in the call log as %s", tc.wantCode)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, len(out.AutoScalingGroups))
				for _, g := range out.AutoScalingGroups {
					got = append(got, aws.ToString(g.AutoScalingGroupName))
				}
				if out.NextToken == nil {
					break
				}
				in.NextToken = out.NextToken
			}
			if !slices.Equal(pages, tc.wantPages) {
				t.Fatalf("pages %v, want %v", pages, tc.wantPages)
			}
			want := slices.DeleteFunc(slices.Clone(tc.names), func(n string) bool { _, ok := emu.Desired(n); return !ok })
			if tc.names == nil {
				want = all
			}
			if !slices.Equal(got, want) {
				t.Fatalf("described %d groups %v..., want %d", len(got), got[:min(3, len(got))], len(want))
			}
		})
	}
	t.Run("a bad NextToken is refused", func(t *testing.T) {
		_, err := client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("x")})
		if code := apiCode(err); code != "InvalidNextToken" {
			t.Fatalf("error %v, want InvalidNextToken", err)
		}
	})
}

// TestRateLimit: over the limit, calls are answered 400 Throttling "Rate
// exceeded", change nothing, are logged as throttled and counted; reads and
// writes have their own buckets, refilled by the emulator's clock.
func TestRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	emu, client, _ := setup(t, awsemu.Options{Now: clk.Now, RateLimit: emukit.RateLimit{ReadsPerSecond: 2, WritesPerSecond: 1, Burst: 2}})
	if err := emu.CreateGroup("web", 0, 10, 1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	describe := func() error {
		_, err := client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web"}})
		return err
	}
	resize := func(n int32) error {
		_, err := client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(n)})
		return err
	}
	for i := range 2 {
		if err := describe(); err != nil {
			t.Fatalf("describe %d within the burst: %v", i, err)
		}
	}
	err := describe()
	var re *awshttp.ResponseError
	if apiCode(err) != awsemu.CodeThrottling || !asResponse(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Fatalf("third describe: %v, want 400 Throttling", err)
	}
	if apiErrMessage(err) != "Rate exceeded" {
		t.Fatalf("message %q, want AWS's %q", apiErrMessage(err), "Rate exceeded")
	}
	// Writes have their own bucket.
	if err := resize(2); err != nil {
		t.Fatalf("first resize: %v", err)
	}
	if err := resize(3); err != nil {
		t.Fatalf("second resize (burst 2): %v", err)
	}
	if err := resize(4); apiCode(err) != awsemu.CodeThrottling {
		t.Fatalf("third resize: %v, want Throttling", err)
	}
	if d, _ := emu.Desired("web"); d != 3 {
		t.Fatalf("desired %d after a throttled resize to 4, want 3", d)
	}
	clk.Advance(time.Second) // one write token, two read tokens
	if err := resize(4); err != nil {
		t.Fatalf("resize after the refill: %v", err)
	}
	if err := describe(); err != nil {
		t.Fatalf("describe after the refill: %v", err)
	}
	if got := emu.Throttled(); got != 2 {
		t.Fatalf("Throttled() = %d, want 2", got)
	}
	var logged int
	for _, c := range emu.Calls() {
		if c.Throttled {
			logged++
			if c.Code != awsemu.CodeThrottling || c.Status != http.StatusBadRequest {
				t.Fatalf("throttled call logged as %+v", c)
			}
		}
	}
	if logged != 2 {
		t.Fatalf("%d throttled calls in the log, want 2", logged)
	}
}

// limited is AWS's message for a describe naming more groups than allowed.
func limited(n int) string {
	return fmt.Sprintf("The number of group names that may be passed in is limited to %d", n)
}

// maxRecordsInvalid is the emulator's message for a MaxRecords out of range.
func maxRecordsInvalid(n int) string {
	return fmt.Sprintf("Value %q for parameter MaxRecords is invalid: must be an integer from 1 to 100", strconv.Itoa(n))
}

func asResponse(err error, re **awshttp.ResponseError) bool { return errors.As(err, re) }

func apiErrMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}
