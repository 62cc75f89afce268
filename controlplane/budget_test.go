package controlplane

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/cloud/budget"
	"github.com/capstan-io/capstan/cloud/fake"
)

// TestBudgetRefusalIsNotInDoubt: a resize the call budget held back was
// never sent, so the leader records it failed (no cooldown, no hold),
// while a resize whose deadline passed at the provider stays in doubt.
// The drivers are wrapped as the agent wraps them: cloud.Retrying over
// the budget.
func TestBudgetRefusalIsNotInDoubt(t *testing.T) {
	b, err := budget.New(budget.Options{Write: budget.Rates{"fake": 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	cl := fake.New(fake.Options{AutoCreate: true, DefaultMax: 100})
	drv := cloud.NewRetrying(b.Wrap("fake", fake.NewDriver(cl)), cloud.DefaultRetryOptions())
	g := cloud.GroupRef{Provider: "fake", Group: "web"}
	if err := drv.SetDesired(context.Background(), g, 2); err != nil {
		t.Fatalf("the bucket's one token: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	refused := drv.SetDesired(ctx, g, 3)
	if !errors.Is(refused, budget.ErrWaitExceeded) {
		t.Fatalf("second resize: %v, want the budget's refusal", refused)
	}
	if inDoubt(refused) {
		t.Errorf("inDoubt(%v) = true: a resize the budget held back would hold its group and start its cooldown", refused)
	}
	if !inDoubt(context.DeadlineExceeded) {
		t.Error("inDoubt(deadline exceeded) = false, the contrast this test relies on")
	}
}

// unavailableOnce answers its first resize as a provider that failed
// mid-request (the resize may have landed), then succeeds.
type unavailableOnce struct{ calls int }

func (u *unavailableOnce) Describe(context.Context, cloud.GroupRef) (cloud.GroupState, error) {
	return cloud.GroupState{}, nil
}

func (u *unavailableOnce) SetDesired(context.Context, cloud.GroupRef, int) error {
	u.calls++
	if u.calls == 1 {
		return cloud.ErrUnavailable
	}
	return nil
}

// TestBudgetRefusalAfterAnUnknownAttempt: a resize whose first attempt
// met an unavailable provider and whose retry the budget then held back
// stays in doubt: the first attempt may have landed.
func TestBudgetRefusalAfterAnUnknownAttempt(t *testing.T) {
	b, err := budget.New(budget.Options{Write: budget.Rates{"fake": 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	d := &unavailableOnce{}
	drv := cloud.NewRetrying(b.Wrap("fake", d), cloud.RetryOptions{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1, MaxTries: 5})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = drv.SetDesired(ctx, cloud.GroupRef{Provider: "fake", Group: "web"}, 3)
	if !errors.Is(err, budget.ErrWaitExceeded) || d.calls != 1 {
		t.Fatalf("resize: %v after %d attempts, want the budget's refusal of the retry", err, d.calls)
	}
	if !inDoubt(err) {
		t.Errorf("inDoubt(%v) = false: the first attempt may have landed", err)
	}
}
