package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/capstan-io/capstan/cloud"
)

// namesPerCall is how many group names one DescribeAutoScalingGroups call
// carries: AWS takes 50 by default and up to MaxRecords when the call sets
// it, at most 100 ("By default, you can only specify up to 50 names. You
// can optionally increase this limit using the MaxRecords property."), so
// the driver names 100 and sets MaxRecords to match: half the calls of 50.
const namesPerCall = 100

// recordsPerPage is the MaxRecords the driver asks for. It must be at
// least namesPerCall, or AWS refuses the call ("The number of group names
// that may be passed in is limited to ..."); equal, a page holds every
// group one call names, so a call is normally one page; NextToken is
// followed all the same.
const recordsPerPage = namesPerCall

var _ cloud.BatchDescriber = (*Driver)(nil)

// DescribeBatch describes the groups with DescribeAutoScalingGroups, up to
// 100 names per call (AWS's limit with MaxRecords 100) and one region's
// client per region, following NextToken. A group the answers leave out is missing
// (cloud.ErrNotFound, as Describe reports it); a target that fails
// validation gets its cloud.ErrInvalid without a call. Each group's state
// is derived exactly as Describe derives it.
//
// A failed call ends its region's batch: the groups of that call and of the
// region's calls not yet made carry the call's error (cloud.ErrThrottled,
// cloud.ErrUnavailable, ...), and the groups already described keep their
// answers. A describe names no single group that could fail it, so a
// throttle or an outage is the account's and region's, and sending the
// region's remaining calls would only spend more of a budget AWS says is
// gone. Other regions carry on. The whole call fails only when ctx has
// ended before the first call.
func (d *Driver) DescribeBatch(ctx context.Context, refs []cloud.GroupRef) ([]cloud.Described, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]cloud.Described, len(refs))
	// Valid refs by region, in the order first seen; a name asked for
	// twice is sent once and answered to both.
	type regionBatch struct {
		names []string
		at    map[string][]int // name -> indexes into refs
	}
	var regions []string
	batches := map[string]*regionBatch{}
	for i, g := range refs {
		if err := validate(g); err != nil {
			out[i].Err = err
			continue
		}
		b, ok := batches[g.Region]
		if !ok {
			b = &regionBatch{at: map[string][]int{}}
			batches[g.Region] = b
			regions = append(regions, g.Region)
		}
		if _, seen := b.at[g.Group]; !seen {
			b.names = append(b.names, g.Group)
		}
		b.at[g.Group] = append(b.at[g.Group], i)
	}
	for _, region := range regions {
		b := batches[region]
		client := d.client(region)
		for start := 0; start < len(b.names); start += namesPerCall {
			chunk := b.names[start:min(start+namesPerCall, len(b.names))]
			found, err := d.describeChunk(ctx, client, chunk)
			if err != nil {
				// This call's groups and the region's later ones.
				failed := cloud.GroupRef{Provider: "aws", Region: region,
					Group: fmt.Sprintf("%d groups from %s", len(b.names)-start, chunk[0])}
				err = wrap(ctx, opDescribe, failed, err)
				for _, name := range b.names[start:] {
					for _, i := range b.at[name] {
						out[i].Err = err
					}
				}
				break
			}
			for _, name := range chunk {
				asg, ok := found[name]
				for _, i := range b.at[name] {
					if ok {
						out[i].State = state(*asg)
					} else {
						out[i].Err = fmt.Errorf("aws autoscaling %s %s (%s): %w", opDescribe, name, region, cloud.ErrNotFound)
					}
				}
			}
		}
	}
	return out, nil
}

// describeChunk describes up to namesPerCall groups, page by page, and
// returns the ones AWS answered by name (AWS matches names exactly;
// checking again guards against an endpoint that filters loosely).
func (d *Driver) describeChunk(ctx context.Context, client *autoscaling.Client, names []string) (map[string]*types.AutoScalingGroup, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	// Pointers into the pages: a group's struct is large to copy.
	found := make(map[string]*types.AutoScalingGroup, len(names))
	// Its pages may come from the memo of decoded answers: the groups
	// are only read here (describememo.go).
	ctx = withMemo(ctx)
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(client, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: names,
		MaxRecords:            awssdk.Int32(recordsPerPage),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for i := range page.AutoScalingGroups {
			asg := &page.AutoScalingGroups[i]
			if n := awssdk.ToString(asg.AutoScalingGroupName); want[n] {
				found[n] = asg
			}
		}
	}
	return found, nil
}
