package aws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sync"

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
// reference (&amp;, &#...;), a carriage return or a CDATA section in a
// value it reads, a namespace prefix, a name it reads in another case, a
// number that is not a plain int32, a document that does not close. Errors, other operations and every request go to the
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

// The elements the decoder reads. The SDK's decoder matches element
// names without regard to case and takes any element in a list for an
// item; this one matches names exactly, hands a name that differs only
// in case to the SDK's decoder (knownName), and takes any element in a
// list for an item too.
const (
	elemResult    = "DescribeAutoScalingGroupsResult"
	elemGroups    = "AutoScalingGroups"
	elemInstances = "Instances"
	elemNextToken = "NextToken"
	elemName      = "AutoScalingGroupName"
	elemStatus    = "Status"
	elemMin       = "MinSize"
	elemMax       = "MaxSize"
	elemDesired   = "DesiredCapacity"
	elemState     = "LifecycleState"
	// anyElem in a path (at) stands for any element: a list's item.
	anyElem = ""
)

// knownName reports whether name is one the decoder reads in another
// case, which it leaves to the SDK's decoder.
func knownName(name []byte) bool {
	for _, k := range [...]string{elemResult, elemGroups, elemInstances, elemNextToken, elemName, elemStatus, elemMin,
		elemMax, elemDesired, elemState} {
		if len(name) == len(k) && string(name) != k && bytes.EqualFold(name, []byte(k)) {
			return true
		}
	}
	return false
}

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
		if len(name) == 0 || bytes.IndexByte(name, ':') >= 0 || knownName(name) {
			return errUnsupported
		}
		d.path = append(d.path, name)
		if err := d.open(); err != nil {
			return err
		}
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
// names, in order (anyElem matching any).
func (d *describeDecoder) at(names ...string) bool {
	if len(d.path) != len(names)+1 {
		return false
	}
	for i, n := range names {
		if n != anyElem && string(d.path[i+1]) != n {
			return false
		}
	}
	return true
}

// open starts a group or an instance at its list item. A second result
// element is left to the SDK's decoder, which reads the first.
func (d *describeDecoder) open() error {
	switch {
	case d.at(elemResult):
		if d.result {
			return errUnsupported
		}
		d.result = true
	case d.at(elemResult, elemGroups, anyElem):
		if d.groups == nil {
			// A page holds up to recordsPerPage groups: one allocation.
			d.groups = make([]types.AutoScalingGroup, 0, recordsPerPage)
		}
		d.groups = append(d.groups, types.AutoScalingGroup{})
	case d.at(elemResult, elemGroups, anyElem, elemInstances, anyElem):
		g := &d.groups[len(d.groups)-1]
		g.Instances = append(g.Instances, types.Instance{})
	}
	return nil
}

// value takes the text of the element closing now when it is one the
// driver reads.
func (d *describeDecoder) value(text []byte) error {
	var err error
	switch {
	case d.at(elemResult, elemNextToken):
		d.next, err = plainPtr(text)
	case d.at(elemResult, elemGroups, anyElem, anyElem):
		g := &d.groups[len(d.groups)-1]
		switch string(d.path[len(d.path)-1]) {
		case elemName:
			g.AutoScalingGroupName, err = plainPtr(text)
		case elemStatus:
			g.Status, err = plainPtr(text)
		case elemMin:
			g.MinSize, err = int32Ptr(text)
		case elemMax:
			g.MaxSize, err = int32Ptr(text)
		case elemDesired:
			g.DesiredCapacity, err = int32Ptr(text)
		}
	case d.at(elemResult, elemGroups, anyElem, elemInstances, anyElem, elemState):
		if err := checkPlain(text); err != nil {
			return err
		}
		g := &d.groups[len(d.groups)-1]
		g.Instances[len(g.Instances)-1].LifecycleState = lifecycleState(text)
	}
	return err
}

// plain returns text as a string when it is plain (checkPlain).
func plain(text []byte) (string, error) {
	if err := checkPlain(text); err != nil {
		return "", err
	}
	return string(text), nil
}

// checkPlain accepts text that holds no reference to decode and no
// carriage return, which XML's line-end handling would turn into a
// newline.
func checkPlain(text []byte) error {
	if bytes.IndexByte(text, '&') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
		return errUnsupported
	}
	return nil
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
