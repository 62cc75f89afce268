package cloud_test

import (
	"context"
	"errors"
	"testing"

	"github.com/capstan-io/capstan/cloud"
)

// single is a Driver without a batch call.
type single map[string]cloud.GroupState

func (s single) Describe(_ context.Context, g cloud.GroupRef) (cloud.GroupState, error) {
	gs, ok := s[g.Group]
	if !ok {
		return cloud.GroupState{}, cloud.ErrNotFound
	}
	return gs, nil
}

func (s single) SetDesired(context.Context, cloud.GroupRef, int) error { return nil }

// batched answers a fixed batch, to check DescribeAll's use of it.
type batched struct {
	single
	answer []cloud.Described
	err    error
	calls  int
}

func (b *batched) DescribeBatch(context.Context, []cloud.GroupRef) ([]cloud.Described, error) {
	b.calls++
	return b.answer, b.err
}

func TestDescribeAll(t *testing.T) {
	groups := single{"a": {Desired: 2}, "b": {Desired: 3}}
	refs := []cloud.GroupRef{{Provider: "x", Group: "a"}, {Provider: "x", Group: "missing"}, {Provider: "x", Group: "b"}}
	boom := errors.New("boom")
	tests := []struct {
		name      string
		driver    cloud.Driver
		wantErr   error
		wantSizes []int
		wantMiss  []bool
	}{
		{name: "one describe per group without a batch call", driver: groups,
			wantSizes: []int{2, 0, 3}, wantMiss: []bool{false, true, false}},
		{name: "the batch call's answers", driver: &batched{single: groups, answer: []cloud.Described{
			{State: cloud.GroupState{Desired: 7}}, {Err: cloud.ErrNotFound}, {State: cloud.GroupState{Desired: 9}}}},
			wantSizes: []int{7, 0, 9}, wantMiss: []bool{false, true, false}},
		{name: "a failed batch fails the whole call", driver: &batched{single: groups, err: boom}, wantErr: boom},
		{name: "a batch that answers fewer groups than asked is an error", driver: &batched{single: groups,
			answer: []cloud.Described{{}}}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cloud.DescribeAll(context.Background(), tt.driver, refs)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(refs) {
				t.Fatalf("%d results for %d refs", len(got), len(refs))
			}
			for i, d := range got {
				if d.State.Desired != tt.wantSizes[i] || errors.Is(d.Err, cloud.ErrNotFound) != tt.wantMiss[i] {
					t.Errorf("group %d: %+v, want desired %d, missing %v", i, d, tt.wantSizes[i], tt.wantMiss[i])
				}
			}
		})
	}
}

// errAny marks a case that only needs some error.
var errAny = errors.New("any error")

func TestDescribeAllStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cloud.DescribeAll(ctx, single{}, []cloud.GroupRef{{Group: "a"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
