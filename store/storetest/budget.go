package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

var budgetTests = []testCase{
	{"a budget's end writes the lease's end and its budget event, each notified once", testBudgetEndWritesBothEvents},
	{"concurrent acts of one threshold from one read: one wins, one notification", testBudgetActOnce},
	{"a refused vend replays its key's lease and makes no new one", testRefusalReplays},
}

// budgetVend vends a lease of pool with budget b.
func budgetVend(t *testing.T, s ovm.Store, pool string, b *ovm.Budget) *ovm.Lease {
	t.Helper()
	Ready(t, s, pool, T0)
	lb, err := ovm.LeaseBudgetOf(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", T0), Pool: pool, Owner: "alice",
		Now: T0, ExpiresAt: T0.Add(8 * time.Hour), Budget: lb})
	if err != nil {
		t.Fatal(err)
	}
	if l.Budget == nil || l.Budget.LimitUSD != b.LimitUSD {
		t.Fatalf("the lease keeps no budget: %+v", l.Budget)
	}
	return l
}

// notices counts the outbox's notifications of lease id by type.
func notices(t *testing.T, s ovm.Store, id string) map[ovm.NotificationType]int {
	t.Helper()
	ds, _, err := s.DeliveryList(context.Background(), &ovm.DeliveryListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[ovm.NotificationType]int{}
	for _, d := range ds {
		if d.Event.LeaseID == id {
			out[d.Event.Type]++
		}
	}
	return out
}

func testBudgetEndWritesBothEvents(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}}
	l := budgetVend(t, s, "pb", b)
	a, err := s.AccountGet(ctx, l.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	now := T0.Add(time.Hour)
	u, err := ovm.ActOnBudget(l, a, b.Thresholds[0], 10.5, 10.5, ovm.RetirePolicy{Mode: ovm.RetireClose}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LeaseUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, _ := s.LeaseGet(ctx, l.ID)
	if got.State != ovm.LeaseEnded || got.EndReason != ovm.LeaseBudgetEnded || len(got.Budget.Acted) != 1 || got.Budget.Acted[0].SpendUSD != 10.5 {
		t.Fatalf("stored lease: %+v, budget %+v", got, got.Budget)
	}
	evs, _, err := s.EventList(ctx, &ovm.EventListParams{LeaseID: l.ID, PageParams: ovm.PageParams{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[ovm.EventKind]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[ovm.EventBudget] != 1 {
		t.Fatalf("events of the lease: %v; want the budget's", kinds)
	}
	if n := notices(t, s, l.ID); n[ovm.NotifyLeaseBudget] != 1 || n[ovm.NotifyLeaseEnded] != 1 {
		t.Fatalf("notifications: %v; want lease.budget and lease.ended once each", n)
	}
	// The same act again, from the same read: refused, nothing written.
	_, err = s.LeaseUpdate(ctx, u)
	wantErr(t, err, ovm.ErrConflict)
	if n := notices(t, s, l.ID); n[ovm.NotifyLeaseBudget] != 1 {
		t.Fatalf("a refused act wrote a notification: %v", n)
	}
}

func testBudgetActOnce(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetFreeze}}}
	l := budgetVend(t, s, "pc", b)
	const writers = 8
	var wg sync.WaitGroup
	wins := make(chan struct{}, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := ovm.ActOnBudget(l, nil, b.Thresholds[0], 6, 6, ovm.RetirePolicy{}, T0.Add(time.Hour))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := s.LeaseUpdate(ctx, u); err == nil {
				wins <- struct{}{}
			}
		}()
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d acts won, want 1", len(wins))
	}
	got, _ := s.LeaseGet(ctx, l.ID)
	if got.Status() != ovm.LeaseFrozen || len(got.Budget.Acted) != 1 || got.Version != l.Version+1 {
		t.Fatalf("stored lease: %s v%d, acted %+v", got.Status(), got.Version, got.Budget.Acted)
	}
	if n := notices(t, s, l.ID); n[ovm.NotifyLeaseBudget] != 1 {
		t.Fatalf("notifications: %v; want one lease.budget", n)
	}
}

// A vend with a Refusal (a spend cap reached): the replay of a key an
// earlier vend used is answered with its lease; a new key, or none, gets
// the refusal and takes no account.
func testRefusalReplays(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "pr", T0)
	Ready(t, s, "pr", T0)
	first, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", T0), Pool: "pr", Owner: "alice", Now: T0,
		ExpiresAt: T0.Add(time.Hour), IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	refusal := ovm.Errorf(ovm.ELimitExceeded, "the spend cap is reached")
	now := T0.Add(time.Minute)
	again, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "pr", Owner: "alice", Now: now,
		ExpiresAt: now.Add(time.Hour), IdempotencyKey: "k1", Refusal: refusal})
	if err != nil || again.ID != first.ID {
		t.Fatalf("the replay under a refusal: %+v %v, want lease %s", again, err, first.ID)
	}
	for _, k := range []string{"k2", ""} {
		_, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "pr", Owner: "alice", Now: now,
			ExpiresAt: now.Add(time.Hour), IdempotencyKey: k, Refusal: refusal})
		if !errors.Is(err, refusal) {
			t.Fatalf("key %q under a refusal: %v", k, err)
		}
	}
	ready, _, err := s.AccountList(ctx, &ovm.AccountListParams{Pool: "pr", State: ovm.AccountReady})
	if err != nil || len(ready) != 1 {
		t.Fatalf("%d ready accounts after the refusals (%v), want 1", len(ready), err)
	}
	// The refused key is free: without the refusal it vends.
	if l, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "pr", Owner: "alice", Now: now,
		ExpiresAt: now.Add(time.Hour), IdempotencyKey: "k2"}); err != nil || l.ID == first.ID {
		t.Fatalf("key k2 after its refusal: %+v %v", l, err)
	}
}
