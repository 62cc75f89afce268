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
	// memo keeps recent answers of the batch describe, decoded
	// (describememo.go).
	memo *describeMemo
}

func newDescribeProtocol(next smithyhttp.ClientProtocol) describeProtocol {
	return describeProtocol{ClientProtocol: next, bufs: &sync.Pool{New: func() any { return new(bytes.Buffer) }}, memo: &describeMemo{}}
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
	var key [32]byte
	memo := false
	if memoized(ctx) {
		key, memo = answerKey(buf.Bytes())
	}
	if memo {
		if groups, next, ok := p.memo.get(key); ok {
			*o = autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: groups, NextToken: next}
			return nil
		}
	}
	if decodeDescribe(buf.Bytes(), o) {
		if memo {
			p.memo.put(key, o.AutoScalingGroups, o.NextToken)
		}
		return nil
	}
	*o = autoscaling.DescribeAutoScalingGroupsOutput{}
	resp.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
}

// pageGroups is how many groups an answer likely holds, for the capacity
// of its slice: the closing group-name tags, at least 1 and at most
// recordsPerPage. Only a hint: a wrong count costs an append's regrowth
// or some spare capacity, never an answer.
func pageGroups(doc []byte) int {
	return min(max(bytes.Count(doc, []byte("</AutoScalingGroupName>")), 1), recordsPerPage)
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
// the open ones (slices of doc) and what each is (elemKind), so that a
// value is placed by its element's kind and a subtree the driver does not
// read costs no more than scanning its tags.
type describeDecoder struct {
	doc []byte
	pos int
	// open are the open elements, outermost first, as offsets into doc
	// (no pointers: pushing one costs no GC write barrier).
	open   []openElem
	groups []types.AutoScalingGroup
	next   *string
	// result is set once the result element has opened.
	result bool
}

// openElem is an open element: its name, doc[start:end], and kind.
type openElem struct {
	start, end int32
	kind       elemKind
}

// name is e's name in doc.
func (e openElem) name(doc []byte) []byte { return doc[e.start:e.end] }

// elemKind is what an open element is to the decoder.
type elemKind uint8

const (
	kindOther     elemKind = iota // nothing below it is read
	kindRoot                      // the response element
	kindResult                    // DescribeAutoScalingGroupsResult
	kindGroups                    // its AutoScalingGroups list
	kindGroup                     // a group: an item of that list
	kindInstances                 // a group's Instances list
	kindInstance                  // an instance: an item of that list
	// The values the driver reads.
	kindNextToken
	kindName
	kindStatus
	kindMin
	kindMax
	kindDesired
	kindState
)

// The elements the decoder reads. The SDK's decoder matches element
// names without regard to case and takes any element in a list for an
// item; this one matches names exactly, hands a name that differs only
// in case to the SDK's decoder (member), and takes any element in a list
// for an item too.
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
)

// namedKind is a structure member the decoder reads.
type namedKind struct {
	name string
	kind elemKind
}

// member returns the kind of the member of a structure named name, among
// the members the decoder reads (names with their kinds), or kindOther;
// a name that matches one only without regard to case is an error.
func member(name []byte, members ...namedKind) (elemKind, error) {
	for _, m := range members {
		if len(name) != len(m.name) {
			continue
		}
		if string(name) == m.name {
			return m.kind, nil
		}
		if bytes.EqualFold(name, []byte(m.name)) {
			return kindOther, errUnsupported
		}
	}
	return kindOther, nil
}

// child returns the kind of an element named name opening inside one of
// kind parent (the document itself: depth 0), starting a group or an
// instance at its list item.
func (d *describeDecoder) child(parent elemKind, depth int, name []byte) (elemKind, error) {
	if depth == 0 {
		// The SDK's decoder would take the root itself for the result.
		if k, err := member(name, namedKind{elemResult, kindResult}); k != kindOther || err != nil {
			return kindOther, errUnsupported
		}
		return kindRoot, nil
	}
	switch parent {
	case kindRoot:
		k, err := member(name, namedKind{elemResult, kindResult})
		if k == kindResult {
			// The SDK's decoder reads the first; a second is its to read.
			if d.result {
				return kindOther, errUnsupported
			}
			d.result = true
		}
		return k, err
	case kindResult:
		return member(name, namedKind{elemGroups, kindGroups}, namedKind{elemNextToken, kindNextToken})
	case kindGroups:
		if d.groups == nil {
			// One allocation for the page, sized by its groups: a
			// group's struct is large, and a single describe's page
			// made at a batch page's size cost 30 kB more per call.
			d.groups = make([]types.AutoScalingGroup, 0, pageGroups(d.doc))
		}
		d.groups = append(d.groups, types.AutoScalingGroup{})
		return kindGroup, nil
	case kindGroup:
		return member(name, namedKind{elemName, kindName}, namedKind{elemStatus, kindStatus}, namedKind{elemMin, kindMin},
			namedKind{elemMax, kindMax}, namedKind{elemDesired, kindDesired}, namedKind{elemInstances, kindInstances})
	case kindInstances:
		g := &d.groups[len(d.groups)-1]
		g.Instances = append(g.Instances, types.Instance{})
		return kindInstance, nil
	case kindInstance:
		return member(name, namedKind{elemState, kindState})
	}
	// The SDK's decoder takes the first result element wherever it is.
	if _, err := member(name, namedKind{elemResult, kindResult}); err != nil || string(name) == elemResult {
		return kindOther, errUnsupported
	}
	return kindOther, nil
}

func (d *describeDecoder) run() error {
	if len(d.doc) > math.MaxInt32 {
		return errUnsupported
	}
	var stack [16]openElem
	d.open = stack[:0]
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
		if len(rest) < 2 {
			return errUnsupported
		}
		switch rest[1] {
		case '?':
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 || len(d.open) > 0 {
				return errUnsupported
			}
			d.pos += end + 2
			continue
		case '!':
			if !bytes.HasPrefix(rest, []byte("<!--")) {
				return errUnsupported // CDATA, DOCTYPE
			}
			end := bytes.Index(rest, []byte("-->"))
			if end < 0 {
				return errUnsupported
			}
			d.pos += end + 3
			continue
		}
		end := tagEnd(rest)
		if end < 0 {
			return errUnsupported
		}
		tag := rest[1:end]
		tagStart := d.pos + 1
		d.pos += end + 1
		if tag[0] == '/' {
			name := tag[1:]
			for len(name) > 0 && isSpace(name[len(name)-1]) {
				name = name[:len(name)-1]
			}
			n := len(d.open)
			if n == 0 || !bytes.Equal(name, d.open[n-1].name(d.doc)) {
				return errUnsupported
			}
			if err := d.value(d.open[n-1].kind, text); err != nil {
				return err
			}
			d.open = d.open[:n-1]
			closed = n == 1
			continue
		}
		if closed || len(bytes.TrimSpace(text)) != 0 {
			return errUnsupported // mixed content or a second root
		}
		self := tag[len(tag)-1] == '/'
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
		parent := kindOther
		if n := len(d.open); n > 0 {
			parent = d.open[n-1].kind
		}
		kind, err := d.child(parent, len(d.open), name)
		if err != nil {
			return err
		}
		if self {
			if err := d.value(kind, nil); err != nil {
				return err
			}
			closed = len(d.open) == 0
			continue
		}
		d.open = append(d.open, openElem{start: int32(tagStart), end: int32(tagStart + len(name)), kind: kind})
	}
	if !closed || !d.result {
		return errUnsupported
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tagEnd returns the index of the '>' closing the tag rest starts with,
// skipping quoted attribute values, or -1 (also for an empty tag).
func tagEnd(rest []byte) int {
	// Most tags have no attributes: one search, and two checks.
	if j := bytes.IndexByte(rest, '>'); j > 1 {
		t := rest[1:j]
		if bytes.IndexByte(t, '"') < 0 && bytes.IndexByte(t, '\'') < 0 {
			if bytes.IndexByte(t, '<') >= 0 {
				return -1
			}
			return j
		}
	} else if j >= 0 {
		return -1
	}
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
			if i == 1 {
				return -1
			}
			return i
		}
	}
	return -1
}

// value takes the text of an element of kind k that is closing, when it
// is a value the driver reads.
func (d *describeDecoder) value(k elemKind, text []byte) error {
	var err error
	switch k {
	case kindNextToken:
		d.next, err = plainPtr(text)
	case kindName, kindStatus, kindMin, kindMax, kindDesired:
		g := &d.groups[len(d.groups)-1]
		switch k {
		case kindName:
			g.AutoScalingGroupName, err = plainPtr(text)
		case kindStatus:
			g.Status, err = plainPtr(text)
		case kindMin:
			g.MinSize, err = int32Ptr(text)
		case kindMax:
			g.MaxSize, err = int32Ptr(text)
		default:
			g.DesiredCapacity, err = int32Ptr(text)
		}
	case kindState:
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
