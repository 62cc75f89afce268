package aws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/aws/awsemu"
)

// answerWith is a DescribeAutoScalingGroups answer for one group of the
// given desired capacity, with the given request id.
func answerWith(desired int, requestID string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups>
<member><AutoScalingGroupName>web</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>9</MaxSize><DesiredCapacity>%d</DesiredCapacity>
<Instances><member><LifecycleState>InService</LifecycleState></member></Instances></member>
</AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></DescribeAutoScalingGroupsResponse>`, desired, requestID))
}

// TestAnswerKey: answers that differ only in a plain request id share a
// key; any other difference, or a request id that is not plain, does not.
func TestAnswerKey(t *testing.T) {
	base := answerWith(3, "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE")
	cases := []struct {
		name     string
		doc      []byte
		same, ok bool
	}{
		{"the same answer", answerWith(3, "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"), true, true},
		{"another request id", answerWith(3, "0f0e0d0c-0b0a-0908-0706-050403020100"), true, true},
		{"a longer request id", answerWith(3, "0f0e0d0c-0b0a-0908-0706-050403020100-and-more"), true, true},
		{"an empty request id", answerWith(3, ""), true, true},
		{"another desired capacity", answerWith(4, "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"), false, true},
		{"a request id with a reference", answerWith(3, "a&amp;b"), false, false},
		{"a request id with a space", answerWith(3, "a b"), false, false},
		{"no request id", bytes.Replace(base, []byte("<ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>"), nil, 1), false, true},
		{"the request id's text moved into the group", bytes.Replace(base, []byte("<MinSize>1</MinSize>"), []byte("<MinSize>1</MinSize><RequestId></RequestId>"), 1), false, true},
	}
	want, ok := answerKey(base)
	if !ok {
		t.Fatal("the base answer has no key")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := answerKey(tc.doc)
			if ok != tc.ok || ok && (got == want) != tc.same {
				t.Fatalf("key ok %v, same as the base %v; want ok %v, same %v", ok, got == want, tc.ok, tc.same)
			}
		})
	}
}

// TestBatchDescribeMemo: the batch describe's pages are served from the
// memo when the answer is the same but for its request id, and decoded
// again when anything else changed (a memo keyed by the request would
// report the old size); a single Describe does not use the memo.
func TestBatchDescribeMemo(t *testing.T) {
	hermetic(t)
	var answer []byte
	replay := roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/xml"}},
			ContentLength: int64(len(answer)), Body: io.NopCloser(bytes.NewReader(answer)), Request: r}, nil
	})
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	d, err := New(context.Background(), Options{BaseEndpoint: "http://aws.invalid", Credentials: creds, HTTPClient: &http.Client{Transport: replay}})
	if err != nil {
		t.Fatal(err)
	}
	memo := d.client(testRegion).Options().Protocol.(describeProtocol).memo
	pages := func() int { memo.mu.Lock(); defer memo.mu.Unlock(); return len(memo.pages) }
	steps := []struct {
		name    string
		answer  []byte
		batch   bool
		desired int
		pages   int
	}{
		{"a single describe: not memoized", answerWith(3, "r1"), false, 3, 0},
		{"the first batch: decoded and kept", answerWith(3, "r2"), true, 3, 1},
		{"the same answer, another request id: from the memo", answerWith(3, "r3"), true, 3, 1},
		{"a new size: decoded again", answerWith(5, "r4"), true, 5, 2},
		{"the first answer again: from the memo", answerWith(3, "r5"), true, 3, 2},
	}
	for _, st := range steps {
		answer = st.answer
		var gs cloud.GroupState
		if st.batch {
			out, err := d.DescribeBatch(context.Background(), []cloud.GroupRef{ref("web")})
			if err != nil || out[0].Err != nil {
				t.Fatalf("%s: %v %+v", st.name, err, out)
			}
			gs = out[0].State
		} else if gs, err = d.Describe(context.Background(), ref("web")); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if gs.Desired != st.desired || gs.InService != 1 || gs.Max != 9 {
			t.Fatalf("%s: described %+v, want desired %d", st.name, gs, st.desired)
		}
		if n := pages(); n != st.pages {
			t.Fatalf("%s: the memo holds %d answers, want %d", st.name, n, st.pages)
		}
	}
}

// TestMemoDropsTheLeastRecentlyUsed: a full memo drops the answer used
// least recently, not one just used.
func TestMemoDropsTheLeastRecentlyUsed(t *testing.T) {
	var m describeMemo
	key := func(i int) [32]byte { k, _ := answerKey(answerWith(i, "r")); return k }
	for i := range memoPages {
		m.put(key(i), []types.AutoScalingGroup{{}}, nil)
	}
	if _, _, ok := m.get(key(0)); !ok { // the oldest, used again
		t.Fatal("answer 0 is not kept")
	}
	m.put(key(memoPages), nil, nil)
	if len(m.pages) != memoPages {
		t.Fatalf("the memo holds %d answers, want %d", len(m.pages), memoPages)
	}
	for i, want := range map[int]bool{0: true, 1: false, 2: true, memoPages: true} {
		if _, _, ok := m.get(key(i)); ok != want {
			t.Errorf("answer %d kept: %v, want %v", i, ok, want)
		}
	}
}

// The emulator's answers carry a request id per answer: the memo must see
// through it (else it would never hit in the load run).
func TestEmulatorAnswersShareAKey(t *testing.T) {
	hermetic(t)
	emu := awsemu.New(awsemu.Options{})
	if err := emu.CreateGroup("web", 0, 5, 2); err != nil {
		t.Fatal(err)
	}
	a, b := emulatorAnswer(t, emu, 50, "web"), emulatorAnswer(t, emu, 50, "web")
	if bytes.Equal(a, b) || !strings.Contains(string(a), "<RequestId>") {
		t.Fatalf("the emulator's answers are equal or carry no request id: the test shows nothing\n%s", a)
	}
	ka, oka := answerKey(a)
	kb, okb := answerKey(b)
	if !oka || !okb || ka != kb {
		t.Fatalf("two answers of the same group: keys equal %v (ok %v, %v)", ka == kb, oka, okb)
	}
}
