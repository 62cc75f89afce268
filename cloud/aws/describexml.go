package aws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// describeProtocol is the SDK's awsQuery protocol with a cheaper decoder
// for successful DescribeAutoScalingGroups answers, the leader's group
// refresh (issue 15). The SDK decodes every element of every group and
// instance through encoding/xml: 181 µs and 777 allocations per group of
// 3 instances (3.2 kB of XML; BenchmarkDescribePage), so refreshing
// 10,000 groups every 15 s cost an idle leader over 12 % of a core before
// the garbage was collected. encoding/xml's tokenizer alone is over half
// of that, so no decoder built on it gets near the 5 % target. This one
// scans the answer once and fills only what the driver reads (state,
// describeChunk): each group's name, MinSize, MaxSize, DesiredCapacity and
// Status, each instance's LifecycleState, and NextToken; every other
// field of the output is left nil.
//
// Values of the fields it does not read are not checked: the SDK's decoder
// fails a whole page over, say, an empty boolean in one group's
// AvailabilityZoneImpairmentPolicy, which this one does not look at.
//
// It hands the answer to the SDK's decoder instead whenever it meets
// anything outside the plain shape AWS sends: an entity or character
// reference (&amp;, &#...;) or a CDATA section in a value it reads, a
// namespace prefix, a number that is not a plain int32, a document that
// does not close. Errors, other operations and every request go to the
// SDK's protocol unchanged. TestDescribeDecoderMatchesSDK and
// FuzzDescribeDecoder check that the two decoders agree on what the
// driver reads.
type describeProtocol struct {
	smithyhttp.ClientProtocol
	// bufs holds the answer buffers, reused across calls; the decoded
	// output copies what it keeps out of them.
	bufs *sync.Pool
}

func newDescribeProtocol(next smithyhttp.ClientProtocol) describeProtocol {
	return describeProtocol{ClientProtocol: next, bufs: &sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// DeserializeResponse decodes a successful DescribeAutoScalingGroups
// answer itself (see describeProtocol) and leaves everything else to the
// SDK's protocol.
func (p describeProtocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry,
	resp *smithyhttp.Response, out smithy.Deserializable) error {
	o, ok := out.(*autoscaling.DescribeAutoScalingGroupsOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	buf := p.bufs.Get().(*bytes.Buffer)
	defer p.bufs.Put(buf)
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return &smithy.DeserializationError{Err: err}
	}
	if decodeDescribe(buf.Bytes(), o) {
		return nil
	}
	*o = autoscaling.DescribeAutoScalingGroupsOutput{}
	resp.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
}

// errUnsupported stops decodeDescribe where the SDK's decoder must take
// over; it never leaves this file.
var errUnsupported = errors.New("not the plain DescribeAutoScalingGroups shape")

// decodeDescribe fills o from a DescribeAutoScalingGroups answer, or
// reports false when the answer needs the SDK's decoder.
func decodeDescribe(doc []byte, o *autoscaling.DescribeAutoScalingGroupsOutput) bool {
	d := describeDecoder{doc: doc}
	if err := d.run(); err != nil {
		return false
	}
	*o = autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: d.groups, NextToken: d.next}
	return true
}

// describeDecoder walks the elements of an answer, keeping the names of
// the open ones (slices of doc) to know where a value sits.
type describeDecoder struct {
	doc    []byte
	pos    int
	path   [][]byte
	groups []types.AutoScalingGroup
	next   *string
	// result is set once the path has passed DescribeAutoScalingGroupsResult.
	result bool
}

// The elements the decoder reads, by depth under the response element.
var (
	elemResult    = []byte("DescribeAutoScalingGroupsResult")
	elemGroups    = []byte("AutoScalingGroups")
	elemMember    = []byte("member")
	elemInstances = []byte("Instances")
)

func (d *describeDecoder) run() error {
	closed := false
	for d.pos < len(d.doc) {
		lt := bytes.IndexByte(d.doc[d.pos:], '<')
		if lt < 0 {
			if len(bytes.TrimSpace(d.doc[d.pos:])) != 0 {
				return errUnsupported
			}
			break
		}
		text := d.doc[d.pos : d.pos+lt]
		d.pos += lt
		rest := d.doc[d.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 || len(d.path) > 0 {
				return errUnsupported
			}
			d.pos += end + 2
			continue
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest, []byte("-->"))
			if end < 0 {
				return errUnsupported
			}
			d.pos += end + 3
			continue
		case bytes.HasPrefix(rest, []byte("<!")):
			return errUnsupported // CDATA, DOCTYPE
		}
		end := tagEnd(rest)
		if end < 0 {
			return errUnsupported
		}
		tag := rest[1:end]
		d.pos += end + 1
		if len(tag) > 0 && tag[0] == '/' {
			name := tag[1:]
			for len(name) > 0 && isSpace(name[len(name)-1]) {
				name = name[:len(name)-1]
			}
			if len(d.path) == 0 || !bytes.Equal(name, d.path[len(d.path)-1]) {
				return errUnsupported
			}
			if err := d.value(text); err != nil {
				return err
			}
			d.path = d.path[:len(d.path)-1]
			if len(d.path) == 0 {
				closed = true
			}
			continue
		}
		if closed || len(bytes.TrimSpace(text)) != 0 {
			return errUnsupported // mixed content or a second root
		}
		self := len(tag) > 0 && tag[len(tag)-1] == '/'
		if self {
			tag = tag[:len(tag)-1]
		}
		name := tag
		for i, c := range tag {
			if isSpace(c) {
				name = tag[:i]
				break
			}
		}
		if len(name) == 0 || bytes.IndexByte(name, ':') >= 0 {
			return errUnsupported
		}
		d.path = append(d.path, name)
		d.open()
		if self {
			if err := d.value(nil); err != nil {
				return err
			}
			d.path = d.path[:len(d.path)-1]
			if len(d.path) == 0 {
				closed = true
			}
		}
	}
	if !closed || !d.result {
		return errUnsupported
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tagEnd returns the index of the '>' closing the tag rest starts with,
// skipping quoted attribute values, or -1.
func tagEnd(rest []byte) int {
	var quote byte
	for i := 1; i < len(rest); i++ {
		switch c := rest[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			return -1
		case c == '>':
			return i
		}
	}
	return -1
}

// at reports whether the open elements under the response element are
// names, in order.
func (d *describeDecoder) at(names ...[]byte) bool {
	if len(d.path) != len(names)+1 {
		return false
	}
	for i, n := range names {
		if !bytes.Equal(d.path[i+1], n) {
			return false
		}
	}
	return true
}

// open starts a group or an instance at its member element.
func (d *describeDecoder) open() {
	switch {
	case d.at(elemResult):
		d.result = true
	case d.at(elemResult, elemGroups, elemMember):
		if d.groups == nil {
			// A page holds up to recordsPerPage groups: one allocation.
			d.groups = make([]types.AutoScalingGroup, 0, recordsPerPage)
		}
		d.groups = append(d.groups, types.AutoScalingGroup{})
	case len(d.groups) > 0 && d.at(elemResult, elemGroups, elemMember, elemInstances, elemMember):
		g := &d.groups[len(d.groups)-1]
		g.Instances = append(g.Instances, types.Instance{})
	}
}

// value takes the text of the element closing now when it is one the
// driver reads.
func (d *describeDecoder) value(text []byte) error {
	n := len(d.path)
	if n < 3 || !bytes.Equal(d.path[1], elemResult) {
		return nil
	}
	last := d.path[n-1]
	switch {
	case n == 3 && string(last) == "NextToken":
		s, err := plain(text)
		if err != nil {
			return err
		}
		d.next = awssdk.String(s)
	case n == 5 && len(d.groups) > 0 && bytes.Equal(d.path[2], elemGroups) && bytes.Equal(d.path[3], elemMember):
		g := &d.groups[len(d.groups)-1]
		var err error
		switch string(last) {
		case "AutoScalingGroupName":
			g.AutoScalingGroupName, err = plainPtr(text)
		case "Status":
			g.Status, err = plainPtr(text)
		case "MinSize":
			g.MinSize, err = int32Ptr(text)
		case "MaxSize":
			g.MaxSize, err = int32Ptr(text)
		case "DesiredCapacity":
			g.DesiredCapacity, err = int32Ptr(text)
		}
		return err
	case n == 7 && string(last) == "LifecycleState" && d.at(elemResult, elemGroups, elemMember, elemInstances, elemMember, last):
		if bytes.IndexByte(text, '&') >= 0 {
			return errUnsupported
		}
		g := &d.groups[len(d.groups)-1]
		g.Instances[len(g.Instances)-1].LifecycleState = lifecycleState(text)
	}
	return nil
}

// plain returns text as a string when it holds no reference to decode.
func plain(text []byte) (string, error) {
	if bytes.IndexByte(text, '&') >= 0 {
		return "", errUnsupported
	}
	return string(text), nil
}

func plainPtr(text []byte) (*string, error) {
	s, err := plain(text)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func int32Ptr(text []byte) (*int32, error) {
	v, err := int32Of(text)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// int32Of parses a plain decimal int32, as AWS writes sizes.
func int32Of(text []byte) (int32, error) {
	neg := len(text) > 0 && text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	if len(digits) == 0 || len(digits) > 10 {
		return 0, errUnsupported
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errUnsupported
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, errUnsupported
	}
	return int32(v), nil
}

// lifecycleState returns the SDK's constant for a state Capstan counts
// or that is common, so that they cost no allocation, and a new string
// for any other.
func lifecycleState(text []byte) types.LifecycleState {
	switch string(text) {
	case string(types.LifecycleStateInService):
		return types.LifecycleStateInService
	case string(types.LifecycleStatePending):
		return types.LifecycleStatePending
	case string(types.LifecycleStatePendingWait):
		return types.LifecycleStatePendingWait
	case string(types.LifecycleStatePendingProceed):
		return types.LifecycleStatePendingProceed
	case string(types.LifecycleStateTerminating):
		return types.LifecycleStateTerminating
	case string(types.LifecycleStateStandby):
		return types.LifecycleStateStandby
	}
	return types.LifecycleState(text)
}
