package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// accountTests are the cases of accounts.
var accountTests = []testCase{
	{"an inserted account reads back by either id with its event", testInsertGet},
	{"duplicate ids, names and e-mails conflict", testInsertDuplicates},
	{"updates are compare-and-set on state and version", testUpdateCAS},
	{"exactly one of many concurrent updates wins", testConcurrentUpdate},
	{"an aws account id belongs to one account only", testAWSIDUnique},
	{"accounts list in pages with filters", testAccountList},
	{"due work lists only due working accounts, claims defer it", testListDue},
	{"pool counts cover live states", testPoolCounts},
	{"accounts that entered a state recently are counted", testCountSince},
}

func testInsertGet(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := insert(t, s, Account("p1"))
	got, err := s.AccountGet(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.State != ovm.AccountPending || got.Version != 1 || got.Email != a.Email || !got.CreatedAt.Equal(T0) {
		t.Fatalf("got %+v", got)
	}
	a = apply(t, s)(ovm.StartCreating(got, "car-1", T0))
	a = apply(t, s)(ovm.FinishCreating(a, "210987654321", T0))
	byAWS, err := s.AccountGet(ctx, "210987654321")
	if err != nil || byAWS.ID != a.ID || byAWS.ExternalRef != "car-1" {
		t.Fatalf("by aws id: %+v %v", byAWS, err)
	}
	_, err = s.AccountGet(ctx, "acc_nope")
	wantErr(t, err, ovm.ErrNotFound)
	_, err = s.AccountGet(ctx, "999999999999")
	wantErr(t, err, ovm.ErrNotFound)
	ev, _, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID})
	if err != nil || len(ev) != 3 || ev[0].From != "" || ev[0].To != "pending" || ev[0].Actor != ovm.ActorPlanner {
		t.Fatalf("events %v %v", ev, err)
	}
}

func testInsertDuplicates(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := insert(t, s, Account("p1"))
	wantErr(t, s.AccountInsert(ctx, a, "x"), ovm.ErrConflict)
	wantErr(t, s.AccountInsert(ctx, Account("p1", func(b *ovm.Account) { b.Email = a.Email }), "x"), ovm.ErrConflict)
	wantErr(t, s.AccountInsert(ctx, Account("p1", func(b *ovm.Account) { b.Name = a.Name }), "x"), ovm.ErrConflict)
}

func testUpdateCAS(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := insert(t, s, Account("p1"))
	b := apply(t, s)(ovm.StartCreating(a, "car-1", T0))
	if b.Version != 2 || b.State != ovm.AccountCreating {
		t.Fatalf("got %s v%d", b.State, b.Version)
	}
	// a is stale now: same transition again must conflict and change nothing.
	_, err := s.AccountUpdate(ctx, must(t)(ovm.StartCreating(a, "car-2", T0)))
	wantErr(t, err, ovm.ErrConflict)
	stale := b.Clone()
	stale.Version = 1
	_, err = s.AccountUpdate(ctx, must(t)(ovm.FinishCreating(stale, "123123123123", T0)))
	wantErr(t, err, ovm.ErrConflict)
	got, _ := s.AccountGet(ctx, a.ID)
	if got.ExternalRef != "car-1" || got.Version != 2 {
		t.Fatalf("a lost CAS changed the record: %+v", got)
	}
	ghost := Account("p1")
	_, err = s.AccountUpdate(ctx, must(t)(ovm.StartCreating(ghost, "x", T0)))
	wantErr(t, err, ovm.ErrNotFound)
}

func testConcurrentUpdate(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := insert(t, s, Account("p1"))
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, _ := ovm.ClaimAccount(a, fmt.Sprintf("w%d", i), T0, T0.Add(time.Minute))
			_, err := s.AccountUpdate(ctx, u)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ovm.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 15 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and 15", wins.Load(), conflicts.Load())
	}
}

func testAWSIDUnique(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := insert(t, s, Account("p1"))
	a = apply(t, s)(ovm.StartCreating(a, "r1", T0))
	apply(t, s)(ovm.FinishCreating(a, "333333333333", T0))
	b := insert(t, s, Account("p1"))
	b = apply(t, s)(ovm.StartCreating(b, "r2", T0))
	_, err := s.AccountUpdate(ctx, must(t)(ovm.FinishCreating(b, "333333333333", T0)))
	wantErr(t, err, ovm.ErrConflict)
}

func testAccountList(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	var ids []string
	for range 5 {
		ids = append(ids, insert(t, s, Account("p1")).ID)
	}
	Ready(t, s, "p2", T0)
	var seen []string
	cursor := ""
	for range 10 {
		items, next, err := s.AccountList(ctx, &ovm.AccountListParams{Pool: "p1", PageParams: ovm.PageParams{Limit: 2, Cursor: cursor}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range items {
			seen = append(seen, a.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	slices.Sort(ids)
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Fatalf("paged ids %v, want %v", seen, ids)
	}
	ready, _, err := s.AccountList(ctx, &ovm.AccountListParams{State: ovm.AccountReady})
	if err != nil || len(ready) != 1 || ready[0].Pool != "p2" {
		t.Fatalf("state filter: %v %v", ready, err)
	}
	_, _, err = s.AccountList(ctx, &ovm.AccountListParams{PageParams: ovm.PageParams{Cursor: "!!not-a-cursor"}})
	if ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("bad cursor: %v", err)
	}
}

func testListDue(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	due1 := insert(t, s, Account("p1"))                                                                  // due at T0
	later := insert(t, s, Account("p1", func(a *ovm.Account) { a.NextAttemptAt = T0.Add(time.Hour) }))   // due later
	Ready(t, s, "p1", T0)                                                                                // not working
	claimed := apply(t, s)(ovm.ClaimAccount(insert(t, s, Account("p1")), "w1", T0, T0.Add(time.Minute))) // claimed
	list := func(now time.Time) []string {
		t.Helper()
		due, err := s.AccountListDue(ctx, &ovm.AccountListDueParams{Now: now, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range due {
			ids = append(ids, a.ID)
		}
		return ids
	}
	if got := list(T0); fmt.Sprint(got) != fmt.Sprint([]string{due1.ID}) {
		t.Fatalf("due at T0: %v, want only %s", got, due1.ID)
	}
	if got := list(T0.Add(2 * time.Minute)); fmt.Sprint(got) != fmt.Sprint([]string{due1.ID, claimed.ID}) {
		t.Fatalf("after claim lapsed: %v", got)
	}
	if got := list(T0.Add(2 * time.Hour)); len(got) != 3 || got[2] != later.ID {
		t.Fatalf("later: %v", got)
	}
	if due, _ := s.AccountListDue(ctx, &ovm.AccountListDueParams{Now: T0.Add(2 * time.Hour), Limit: 1}); len(due) != 1 {
		t.Fatalf("limit ignored: %d", len(due))
	}
}

func testPoolCounts(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	insert(t, s, Account("p1"))
	insert(t, s, Account("p1"))
	Ready(t, s, "p1", T0)
	a := Ready(t, s, "p1", T0)
	a = apply(t, s)(ovm.RetireAccount(a, "x", T0))
	apply(t, s)(ovm.ObserveClosed(a, T0))
	Ready(t, s, "other", T0)
	last := Account("p1", func(a *ovm.Account) { a.CreatedAt = T0.Add(time.Hour) })
	insert(t, s, last)
	c, err := s.PoolCounts(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if c.ByState[ovm.AccountPending] != 3 || c.ByState[ovm.AccountReady] != 1 || c.InFlight() != 3 || c.Live() != 4 {
		t.Fatalf("counts %v", c.ByState)
	}
	if _, ok := c.ByState[ovm.AccountClosed]; ok {
		t.Error("terminal states are counted")
	}
	if !c.LastCreatedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("last created %s", c.LastCreatedAt)
	}
	empty, err := s.PoolCounts(ctx, "none")
	if err != nil || empty.Live() != 0 || !empty.LastCreatedAt.IsZero() {
		t.Fatalf("empty pool: %+v %v", empty, err)
	}
}

func testCountSince(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for i, at := range []time.Time{T0, T0.Add(time.Hour), T0.Add(2 * time.Hour)} {
		a := insert(t, s, Account("p1"))
		apply(t, s)(ovm.AbandonAccount(a, fmt.Sprint("INVALID_EMAIL ", i), at))
	}
	insert(t, s, Account("p1"))                                                            // pending, not abandoned
	apply(t, s)(ovm.AbandonAccount(insert(t, s, Account("p2")), "x", T0.Add(2*time.Hour))) // another pool
	for since, want := range map[time.Time]int{T0: 3, T0.Add(time.Hour): 2, T0.Add(3 * time.Hour): 0} {
		n, err := s.AccountCountSince(ctx, "p1", ovm.AccountAbandoned, since)
		if err != nil || n != want {
			t.Fatalf("since %s: %d %v, want %d", since, n, err, want)
		}
	}
}
