package drivertest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/capstan-io/capstan/cloud"
)

// runBatch checks Setup.Batch: the same answers as single describes, in
// the order asked; missing and invalid groups reported per group; more
// groups than a page holds; a throttled batch reported as ErrThrottled.
func runBatch(t *testing.T, newSetup func(t *testing.T) Setup, ctx func(t *testing.T) context.Context) {
	setup := func(t *testing.T) Setup {
		s := newSetup(t)
		if s.Batch == nil {
			t.Fatal("Setup.Batch is nil: every driver has a batch describe (cloud.BatchDescriber)")
		}
		return s
	}
	t.Run("batch answers as single describes do, in order", func(t *testing.T) {
		s := setup(t)
		g0 := s.Emulator.CreateGroup(t, "grp-batch-a", 0, 10, 2)
		g1 := s.Emulator.CreateGroup(t, "grp-batch-b", 1, 8, 3)
		g2 := s.Emulator.CreateGroup(t, "grp-batch-c", 2, 6, 4)
		// A scale-out leaves instances pending: those counts must agree too.
		if err := s.Driver.SetDesired(ctx(t), g1, 6); err != nil {
			t.Fatal(err)
		}
		refs := []cloud.GroupRef{g2, s.Emulator.Missing(t), g0, g1, g0}
		got, err := s.Batch.DescribeBatch(ctx(t), refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(refs) {
			t.Fatalf("%d answers for %d groups", len(got), len(refs))
		}
		for i, g := range refs {
			want, werr := s.Driver.Describe(ctx(t), g)
			switch {
			case werr != nil && !errors.Is(got[i].Err, cloud.ErrNotFound):
				t.Errorf("group %d (%s): batch error %v, single describe %v", i, g, got[i].Err, werr)
			case werr == nil && (got[i].Err != nil || got[i].State != want):
				t.Errorf("group %d (%s): batch %+v (err %v), single describe %+v", i, g, got[i].State, got[i].Err, want)
			}
		}
	})
	t.Run("batch reports missing and invalid groups per group", func(t *testing.T) {
		s := setup(t)
		g := s.Emulator.CreateGroup(t, "grp-batch-miss", 0, 10, 5)
		refs := []cloud.GroupRef{s.Emulator.Missing(t), g, {}, s.Emulator.Missing(t)}
		got, err := s.Batch.DescribeBatch(ctx(t), refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(refs) {
			t.Fatalf("%d answers for %d groups", len(got), len(refs))
		}
		for _, i := range []int{0, 3} {
			if !errors.Is(got[i].Err, cloud.ErrNotFound) {
				t.Errorf("missing group %d: %v, want ErrNotFound", i, got[i].Err)
			}
		}
		if !errors.Is(got[2].Err, cloud.ErrInvalid) {
			t.Errorf("empty reference: %v, want ErrInvalid", got[2].Err)
		}
		if got[1].Err != nil || got[1].State.Desired != 5 || got[1].State.Max != 10 {
			t.Errorf("existing group: %+v (err %v), want desired 5, max 10", got[1].State, got[1].Err)
		}
	})
	t.Run("batch of more groups than a page holds", func(t *testing.T) {
		s := setup(t)
		if s.BatchPage <= 0 {
			t.Fatal("Setup.BatchPage must say how many groups one call answers")
		}
		n := 2*s.BatchPage + 1
		refs := make([]cloud.GroupRef, n)
		for i := range refs {
			// Reverse order of creation, sizes that differ between neighbours.
			refs[n-1-i] = s.Emulator.CreateGroup(t, fmt.Sprintf("grp-page-%03d", i), 0, 20, i%7)
		}
		got, err := s.Batch.DescribeBatch(ctx(t), refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d answers for %d groups", len(got), n)
		}
		for j, d := range got {
			want := (n - 1 - j) % 7
			if d.Err != nil || d.State.Desired != want || d.State.InService != want {
				t.Fatalf("group %d (%s): %+v (err %v), want desired and in service %d", j, refs[j], d.State, d.Err, want)
			}
		}
	})
	t.Run("throttled batch is ErrThrottled", func(t *testing.T) {
		s := setup(t)
		refs := []cloud.GroupRef{s.Emulator.CreateGroup(t, "grp-thr-a", 0, 10, 2), s.Emulator.CreateGroup(t, "grp-thr-b", 0, 10, 3)}
		s.Emulator.Inject(t, Fault{Kind: Throttle, Op: "describe_batch", Times: -1})
		got, err := s.Batch.DescribeBatch(ctx(t), refs)
		if err != nil {
			if !errors.Is(err, cloud.ErrThrottled) {
				t.Fatalf("whole-call error %v, want ErrThrottled", err)
			}
			return
		}
		for i, d := range got {
			if !errors.Is(d.Err, cloud.ErrThrottled) {
				t.Errorf("group %d: %+v (err %v), want ErrThrottled", i, d.State, d.Err)
			}
		}
	})
}
