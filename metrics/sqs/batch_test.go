package sqs

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/capstan-io/capstan/metrics/sqs/sqsemu"
	"github.com/capstan-io/capstan/policy"
)

type batchResult struct {
	v     float64
	at    time.Time
	err   error
	calls int
}

func readBatch(t *testing.T, rd *Reader, srcs []policy.Source) []batchResult {
	t.Helper()
	out := make([]batchResult, len(srcs))
	rd.ReadBatch(context.Background(), srcs, func(i int, v float64, at time.Time, err error) {
		out[i].v, out[i].at, out[i].err = v, at, err
		out[i].calls++
	})
	for i, r := range out {
		if r.calls != 1 {
			t.Fatalf("source %d reported %d times", i, r.calls)
		}
	}
	return out
}

// TestReadBatch: each source gets what Read gives it; sources naming the
// same queue share one call that asks for the in-flight count when any of
// them includes it; a failing queue fails only its own sources.
func TestReadBatch(t *testing.T) {
	h := newHarness(t, Options{MaxAttempts: 1})
	a, b, gone := h.emu.CreateQueue("a"), h.emu.CreateQueue("b"), h.emu.CreateQueue("gone")
	h.emu.DeleteQueue(gone)
	if err := h.emu.SetDepth(a, 5, 2); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.SetDepth(b, 3, 1); err != nil {
		t.Fatal(err)
	}
	srcs := []policy.Source{source(a, false), source(a, true), source(b, false), source(gone, false), source(a, false),
		{Kind: policy.SourceSQS, QueueURL: a}}
	res := readBatch(t, h.rd, srcs)
	for i, want := range []float64{5, 7, 3} {
		if res[i].err != nil || res[i].v != want || !res[i].at.Equal(fixedNow()) {
			t.Errorf("source %d: %v at %v (%v), want %v", i, res[i].v, res[i].at, res[i].err, want)
		}
	}
	if res[4].v != 5 {
		t.Errorf("repeated source: %v (%v)", res[4].v, res[4].err)
	}
	if !errors.Is(res[3].err, ErrQueueNotFound) {
		t.Errorf("deleted queue: %v, want ErrQueueNotFound", res[3].err)
	}
	if !errors.Is(res[5].err, ErrInvalid) {
		t.Errorf("source without a region: %v, want ErrInvalid", res[5].err)
	}
	calls := h.emu.Calls()
	perQueue := map[string]int{}
	for _, c := range calls {
		perQueue[c.QueueURL]++
		if c.QueueURL == a && len(c.AttributeNames) != 2 {
			t.Errorf("queue a asked for %q, want both counts", c.AttributeNames)
		}
	}
	if len(calls) != 3 || perQueue[a] != 1 || perQueue[b] != 1 || perQueue[gone] != 1 {
		t.Fatalf("calls per queue %v, want one each", perQueue)
	}
}

// TestReadBatchRetriesAndBounds: a throttled queue is retried like a Read,
// and no more than Concurrency calls are in flight at once.
func TestReadBatchRetriesAndBounds(t *testing.T) {
	h := newHarness(t, Options{Concurrency: 2})
	var urls []string
	for _, n := range []string{"q0", "q1", "q2", "q3", "q4", "q5"} {
		urls = append(urls, h.emu.CreateQueue(n))
	}
	if err := h.emu.InjectFault(sqsemu.Fault{Action: sqsemu.ActionGetQueueAttributes, QueueURL: urls[0], Code: sqsemu.CodeRequestThrottled}); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.InjectFault(sqsemu.Fault{Action: sqsemu.ActionGetQueueAttributes, Delay: 30 * time.Millisecond, Times: -1}); err != nil {
		t.Fatal(err)
	}
	var srcs []policy.Source
	for _, u := range urls {
		srcs = append(srcs, source(u, false))
	}
	for i, r := range readBatch(t, h.rd, srcs) {
		if r.err != nil {
			t.Errorf("source %d: %v", i, r.err)
		}
	}
	calls := h.emu.Calls()
	if len(calls) != 7 {
		t.Fatalf("%d calls, want 7 (six queues, one retry)", len(calls))
	}
	// The calls arrive at least a delay apart in pairs: with two at once,
	// six delayed calls take at least three delays.
	if span := calls[len(calls)-1].Time.Sub(calls[0].Time); span < 2*30*time.Millisecond {
		t.Fatalf("calls spread over %s: more than two ran at once", span)
	}
}

// TestConnectionsAreReused counts the connections the emulator accepts
// over 200 reads, in batches of eight as the leader makes them each
// interval, and one by one.
func TestConnectionsAreReused(t *testing.T) {
	hermetic(t)
	emu := sqsemu.New(sqsemu.Options{Region: testRegion})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(emu)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	rd, err := NewReader(context.Background(), Options{BaseEndpoint: srv.URL, Now: fixedNow,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []policy.Source
	for _, n := range []string{"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"} {
		srcs = append(srcs, source(emu.CreateQueue(n), false))
	}
	for range 25 {
		for i, r := range readBatch(t, rd, srcs) {
			if r.err != nil {
				t.Fatalf("source %d: %v", i, r.err)
			}
		}
	}
	batched := conns.Load()
	for range 200 {
		if _, _, err := rd.Read(context.Background(), srcs[0]); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("200 batched reads: %d connections; then 200 single reads: %d more", batched, conns.Load()-batched)
	// net/http hands a connection back to its pool from another goroutine
	// just after the response is read, and dials when a request finds the
	// pool empty meanwhile: a loaded machine may see a connection or two
	// more than needed, never one per read.
	if batched > DefaultConcurrency+2 || conns.Load() > batched+2 {
		t.Fatalf("%d connections for 200 batched reads (want at most %d), %d more for 200 single ones (want at most 2)",
			batched, DefaultConcurrency+2, conns.Load()-batched)
	}
}
