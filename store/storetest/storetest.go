// Package storetest is the conformance suite every ovm.Store must pass. A
// store package calls Run from its tests with a constructor that returns a
// fresh, empty store for each test.
//
// New store behaviour enters this suite first; stores then implement it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// NewStore returns a fresh, empty store for one test. It registers its own
// cleanup with t.
type NewStore func(t *testing.T) ovm.Store

// T0 is the suite's reference time.
var T0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

var awsSeq atomic.Int64

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, ovm.Store)
	}{
		{"an inserted account reads back by either id with its event", testInsertGet},
		{"duplicate ids, names and e-mails conflict", testInsertDuplicates},
		{"updates are compare-and-set on state and version", testUpdateCAS},
		{"exactly one of many concurrent updates wins", testConcurrentUpdate},
		{"an aws account id belongs to one account only", testAWSIDUnique},
		{"accounts list in pages with filters", testAccountList},
		{"due work lists only due working accounts, claims defer it", testListDue},
		{"pool counts cover live states", testPoolCounts},
		{"accounts that entered a state recently are counted", testCountSince},
		{"a vend leases the oldest ready account", testLeaseCreate},
		{"an empty pool answers ErrEmpty", testLeaseEmpty},
		{"the per-owner lease limit holds", testLeaseLimit},
		{"concurrent vends from a small stock never share an account", testConcurrentVend},
		{"concurrent vends of one owner stop exactly at its limit", testConcurrentLeaseLimit},
		{"an owner at a pool's limit is refused there, not elsewhere nor others", testPoolLeaseLimit},
		{"concurrent vends of one owner in one pool stop exactly at the pool's limit", testConcurrentPoolLeaseLimit},
		{"with both lease limits the stricter one refuses", testBothLeaseLimits},
		{"concurrent vends of one owner over two pools respect both limits", testConcurrentBothLeaseLimits},
		{"a lease is extended only while active", testLeaseExtend},
		{"an extension is a compare-and-set on the lease's version", testLeaseExtendCAS},
		{"exactly one of many concurrent extensions from one read wins", testConcurrentLeaseExtend},
		{"ending a lease moves its account on, once", testLeaseEnd},
		{"expired leases are listed by expiry", testLeaseListExpired},
		{"a lease has expired at the very instant of its expiry", testLeaseExpiryBoundary},
		{"leases list by owner and state, newest first", testLeaseList},
		{"api keys are found by hash and revoked", testKeys},
		{"key names are unique without regard to case", testKeyNamesIgnoreCase},
		{"a key refused for its secret leaves its name free", testRefusedKeyLeavesItsName},
		{"the last active admin key cannot be revoked", testLastAdminKey},
		{"two admins revoking each other at once leave one of them", testConcurrentAdminRevoke},
		{"every list refuses a garbage cursor and another list's cursor", testBadCursors},
		{"the event log records every transition in order", testEventLog},
		{"the close ledger keeps one entry per account and lists by time", testCloseLedger},
		{"pool events that name no account are listed by pool", testPoolEvents},
		{"the leader lease has one holder until it expires", testLeader},
		{"a leader lease released by its holder is free at once, by another not", testLeaderRelease},
		{"drift events of an account are in its log", testAccountEventAppend},
		{"pool samples keep a day per pool in a ring, oldest first", testPoolSamples},
	}
	tests = append(tests, outboxTests...)
	tests = append(tests, actorTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// Account returns a pending account of pool with unique id, name and e-mail,
// modified by mods.
func Account(pool string, mods ...func(*ovm.Account)) *ovm.Account {
	id := ovm.NewID("acc", T0)
	a := ovm.NewPendingAccount(id, pool, "ovm-"+id, "ovm+"+id+"@example.com", T0)
	for _, m := range mods {
		m(a)
	}
	return a
}

func nextAWSID() string { return fmt.Sprintf("%012d", 100000000000+awsSeq.Add(1)) }

// must fails the test when a transition constructor refused.
func must(t *testing.T) func(*ovm.AccountUpdate, error) *ovm.AccountUpdate {
	return func(u *ovm.AccountUpdate, err error) *ovm.AccountUpdate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

// apply stores the update a transition constructor built, failing the test
// if the constructor or the store refused.
func apply(t *testing.T, s ovm.Store) func(*ovm.AccountUpdate, error) *ovm.Account {
	return func(u *ovm.AccountUpdate, err error) *ovm.Account {
		t.Helper()
		a, err := s.AccountUpdate(context.Background(), must(t)(u, err))
		if err != nil {
			t.Fatalf("update to %s: %v", u.Account.State, err)
		}
		return a
	}
}

func insert(t *testing.T, s ovm.Store, a *ovm.Account) *ovm.Account {
	t.Helper()
	if err := s.AccountInsert(context.Background(), a, ovm.ActorPlanner); err != nil {
		t.Fatal(err)
	}
	return a
}

// Ready inserts an account of pool and walks it to ready through the
// transition constructors; at is when it became ready.
func Ready(t *testing.T, s ovm.Store, pool string, at time.Time) *ovm.Account {
	t.Helper()
	a := insert(t, s, Account(pool))
	a = apply(t, s)(ovm.StartCreating(a, "ref-"+a.ID, at))
	a = apply(t, s)(ovm.FinishCreating(a, nextAWSID(), at))
	return apply(t, s)(ovm.FinishBootstrap(a, ovm.RoleARN(a.AWSAccountID, ovm.DefaultRoleName), at))
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func vend(s ovm.Store, pool, owner string, now time.Time, limit int) (*ovm.Lease, error) {
	return s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: pool,
		Owner: owner, Labels: map[string]string{"ci": "yes"}, Now: now, ExpiresAt: now.Add(time.Hour), OwnerLimit: limit})
}

// vendIn vends with both limits: ownerLimit over all pools, poolLimit in
// pool (0: none).
func vendIn(s ovm.Store, pool, owner string, now time.Time, ownerLimit, poolLimit int) (*ovm.Lease, error) {
	return s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: pool,
		Owner: owner, Now: now, ExpiresAt: now.Add(time.Hour), OwnerLimit: ownerLimit, PoolOwnerLimit: poolLimit})
}

// wantPoolLimit fails unless err is the pool's lease limit (which is also
// a lease limit).
func wantPoolLimit(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ovm.ErrPoolLeaseLimit) || !errors.Is(err, ovm.ErrLeaseLimit) || ovm.ErrorCodeOf(err) != ovm.ELimitExceeded {
		t.Fatalf("error = %v, want the pool's lease limit", err)
	}
}

// wantOwnerLimit fails unless err is the lease limit over all pools, not
// the pool's.
func wantOwnerLimit(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ovm.ErrLeaseLimit) || errors.Is(err, ovm.ErrPoolLeaseLimit) {
		t.Fatalf("error = %v, want the lease limit over all pools", err)
	}
}

// endLease releases lease l at now.
func endLease(t *testing.T, s ovm.Store, l *ovm.Lease, now time.Time) {
	t.Helper()
	if _, err := s.LeaseEnd(context.Background(), &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseReleased, Actor: "key:" + l.Owner,
		Now: now, Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}}); err != nil {
		t.Fatal(err)
	}
}

func readyCount(t *testing.T, s ovm.Store, pool string) int {
	t.Helper()
	c, err := s.PoolCounts(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return c.ByState[ovm.AccountReady]
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

func testLeaseCreate(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	old := Ready(t, s, "p1", T0)
	Ready(t, s, "p1", T0.Add(time.Minute))
	l, err := vend(s, "p1", "alice", T0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.AccountID != old.ID || l.AWSAccountID != old.AWSAccountID || l.RoleARN != old.RoleARN || l.State != ovm.LeaseActive ||
		l.Owner != "alice" || l.Labels["ci"] != "yes" || !l.ExpiresAt.Equal(T0.Add(2*time.Hour)) {
		t.Fatalf("lease %+v, want the oldest ready account %s", l, old.ID)
	}
	a, _ := s.AccountGet(ctx, old.ID)
	if a.State != ovm.AccountLeased || a.LeaseID != l.ID {
		t.Fatalf("account %s lease %q", a.State, a.LeaseID)
	}
	got, err := s.LeaseGet(ctx, l.ID)
	if err != nil || got.AccountID != old.ID || got.Version != 1 {
		t.Fatalf("get: %+v %v", got, err)
	}
	_, err = s.LeaseGet(ctx, "lse_nope")
	wantErr(t, err, ovm.ErrNotFound)
}

func testLeaseEmpty(t *testing.T, s ovm.Store) {
	insert(t, s, Account("p1")) // in flight, not ready
	Ready(t, s, "p2", T0)       // other pool
	_, err := vend(s, "p1", "alice", T0, 0)
	wantErr(t, err, ovm.ErrEmpty)
}

func testLeaseLimit(t *testing.T, s ovm.Store) {
	for range 3 {
		Ready(t, s, "p1", T0)
	}
	for range 2 {
		if _, err := vend(s, "p1", "alice", T0, 2); err != nil {
			t.Fatal(err)
		}
	}
	_, err := vend(s, "p1", "alice", T0, 2)
	wantErr(t, err, ovm.ErrLeaseLimit)
	if _, err := vend(s, "p1", "bob", T0, 2); err != nil {
		t.Fatalf("another owner: %v", err)
	}
}

// vendAtOnce runs clients vends at once and returns the leases granted and
// how many were refused with refusal; any other error fails t.
func vendAtOnce(t *testing.T, clients int, refusal error, vend func() (*ovm.Lease, error)) ([]*ovm.Lease, int) {
	var (
		mu      sync.Mutex
		granted []*ovm.Lease
		limited atomic.Int32
		wg      sync.WaitGroup
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := vend()
			if errors.Is(err, refusal) {
				limited.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			granted = append(granted, l)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return granted, int(limited.Load())
}

func testConcurrentLeaseLimit(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	const stock, clients, limit = 10, 12, 3
	for range stock {
		Ready(t, s, "p1", T0)
	}
	granted, limited := vendAtOnce(t, clients, ovm.ErrLeaseLimit, func() (*ovm.Lease, error) {
		return vend(s, "p1", "alice", T0, limit)
	})
	if len(granted) != limit || limited != clients-limit {
		t.Fatalf("%d leases granted and %d refused to one owner with a limit of %d", len(granted), limited, limit)
	}
	// A lease that ends frees its slot, once.
	if _, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: granted[0].ID, Reason: ovm.LeaseReleased, Actor: "key:alice", Now: T0,
		Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}}); err != nil {
		t.Fatal(err)
	}
	if _, err := vend(s, "p1", "alice", T0.Add(time.Second), limit); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err := vend(s, "p1", "alice", T0.Add(2*time.Second), limit)
	wantErr(t, err, ovm.ErrLeaseLimit)
}

func testPoolLeaseLimit(t *testing.T, s ovm.Store) {
	for range 5 {
		Ready(t, s, "p1", T0)
	}
	Ready(t, s, "p2", T0)
	var held []*ovm.Lease
	for range 2 {
		l, err := vendIn(s, "p1", "alice", T0, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	_, err := vendIn(s, "p1", "alice", T0, 0, 2)
	wantPoolLimit(t, err)
	if n := readyCount(t, s, "p1"); n != 3 {
		t.Fatalf("a refused vend changed the stock: %d ready, want 3", n)
	}
	if _, err := vendIn(s, "p1", "bob", T0, 0, 2); err != nil {
		t.Fatalf("another owner in the same pool: %v", err)
	}
	if _, err := vendIn(s, "p2", "alice", T0, 0, 2); err != nil {
		t.Fatalf("the same owner in another pool: %v", err)
	}
	// Ending a lease frees its slot in the pool, once.
	endLease(t, s, held[0], T0.Add(time.Second))
	if _, err := vendIn(s, "p1", "alice", T0.Add(2*time.Second), 0, 2); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err = vendIn(s, "p1", "alice", T0.Add(3*time.Second), 0, 2)
	wantPoolLimit(t, err)
}

func testConcurrentPoolLeaseLimit(t *testing.T, s ovm.Store) {
	const stock, clients, limit = 10, 12, 3
	for range stock {
		Ready(t, s, "p1", T0)
	}
	granted, limited := vendAtOnce(t, clients, ovm.ErrPoolLeaseLimit, func() (*ovm.Lease, error) {
		return vendIn(s, "p1", "alice", T0, 0, limit)
	})
	if len(granted) != limit || limited != clients-limit {
		t.Fatalf("%d leases granted and %d refused to one owner with a pool limit of %d", len(granted), limited, limit)
	}
	if n := readyCount(t, s, "p1"); n != stock-limit {
		t.Fatalf("%d ready after %d vends, want %d: a refused vend changed the stock", n, limit, stock-limit)
	}
	endLease(t, s, granted[0], T0.Add(time.Second))
	if _, err := vendIn(s, "p1", "alice", T0.Add(2*time.Second), 0, limit); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err := vendIn(s, "p1", "alice", T0.Add(3*time.Second), 0, limit)
	wantPoolLimit(t, err)
}

func testBothLeaseLimits(t *testing.T, s ovm.Store) {
	for _, pool := range []string{"p1", "p2", "p3"} {
		for range 3 {
			Ready(t, s, pool, T0)
		}
	}
	// Over all pools 3, in each pool 2.
	const owner, perPool = 3, 2
	for range 2 {
		if _, err := vendIn(s, "p1", "alice", T0, owner, perPool); err != nil {
			t.Fatal(err)
		}
	}
	_, err := vendIn(s, "p1", "alice", T0, owner, perPool)
	wantPoolLimit(t, err) // 2 of 3 over all pools: the pool's limit refuses
	if _, err := vendIn(s, "p2", "alice", T0, owner, perPool); err != nil {
		t.Fatal(err)
	}
	_, err = vendIn(s, "p2", "alice", T0, owner, perPool)
	wantOwnerLimit(t, err) // 1 of 2 in p2: the limit over all pools refuses
	_, err = vendIn(s, "p1", "alice", T0, owner, perPool)
	wantPoolLimit(t, err) // both reached: the pool's is named
	// The pool's limit above the owner's: the owner's refuses.
	if _, err := vendIn(s, "p3", "bob", T0, 1, 5); err != nil {
		t.Fatal(err)
	}
	_, err = vendIn(s, "p3", "bob", T0, 1, 5)
	wantOwnerLimit(t, err)
	for _, pool := range []string{"p1", "p2", "p3"} {
		if n := readyCount(t, s, pool); n != map[string]int{"p1": 1, "p2": 2, "p3": 2}[pool] {
			t.Fatalf("%s: %d ready: a refused vend changed the stock", pool, n)
		}
	}
}

func testConcurrentBothLeaseLimits(t *testing.T, s ovm.Store) {
	// Twenty vends in p1 and two in p2, with stock for each. The limits are
	// 5 over all pools and 3 per pool: only the pool's limit keeps p1 at 3,
	// and then both vends of p2 fit and fill the owner's limit.
	const clients, owner, perPool = 22, 5, 3
	pools := map[string]int{"p1": 20, "p2": 2}
	for pool, n := range pools {
		for range n {
			Ready(t, s, pool, T0)
		}
	}
	var mu sync.Mutex
	granted := map[string]int{}
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool := "p1"
			if i%11 == 5 {
				pool = "p2"
			}
			_, err := vendIn(s, pool, "alice", T0, owner, perPool)
			if errors.Is(err, ovm.ErrLeaseLimit) {
				refused.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			granted[pool]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if granted["p1"] != perPool || granted["p2"] != 2 || int(refused.Load()) != clients-owner {
		t.Fatalf("granted %v and %d refused, want 3 in p1 and 2 in p2", granted, refused.Load())
	}
}

func testConcurrentVend(t *testing.T, s ovm.Store) {
	const stock, clients = 5, 40
	for range stock {
		Ready(t, s, "p1", T0)
	}
	var mu sync.Mutex
	got := map[string]string{}
	var empty atomic.Int32
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := vend(s, "p1", fmt.Sprintf("c%d", i), T0, 0)
			if errors.Is(err, ovm.ErrEmpty) {
				empty.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := got[l.AccountID]; dup {
				t.Errorf("account %s vended twice (leases %s and %s)", l.AccountID, prev, l.ID)
			}
			got[l.AccountID] = l.ID
		}()
	}
	wg.Wait()
	if len(got) != stock || int(empty.Load()) != clients-stock {
		t.Fatalf("%d distinct accounts vended and %d empty answers, want %d and %d", len(got), empty.Load(), stock, clients-stock)
	}
}

func testLeaseExtend(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	newExp := T0.Add(5 * time.Hour)
	e, err := s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: l.Version, ExpiresAt: newExp, Actor: "key:alice", Now: T0})
	if err != nil || !e.ExpiresAt.Equal(newExp) || e.Version != 2 {
		t.Fatalf("extend: %+v %v", e, err)
	}
	got, _ := s.LeaseGet(ctx, l.ID)
	if !got.ExpiresAt.Equal(newExp) {
		t.Fatalf("stored expiry %s", got.ExpiresAt)
	}
	if _, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseReleased, Actor: "key:alice", Now: T0,
		Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}}); err != nil {
		t.Fatal(err)
	}
	ended, _ := s.LeaseGet(ctx, l.ID)
	_, err = s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: ended.Version, ExpiresAt: newExp.Add(time.Hour), Now: T0})
	wantErr(t, err, ovm.ErrConflict)
	_, err = s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: "lse_nope", Version: 1, ExpiresAt: newExp, Now: T0})
	wantErr(t, err, ovm.ErrNotFound)
}

func testLeaseExtendCAS(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0) // version 1
	e, err := s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: l.Version, ExpiresAt: T0.Add(3 * time.Hour), Now: T0})
	if err != nil || e.Version != l.Version+1 {
		t.Fatalf("extend: %+v %v", e, err)
	}
	// l is stale now: extending from it again must conflict and change nothing.
	_, err = s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: l.Version, ExpiresAt: T0.Add(9 * time.Hour), Now: T0})
	wantErr(t, err, ovm.ErrConflict)
	_, err = s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: e.Version + 1, ExpiresAt: T0.Add(9 * time.Hour), Now: T0})
	wantErr(t, err, ovm.ErrConflict)
	got, _ := s.LeaseGet(ctx, l.ID)
	if !got.ExpiresAt.Equal(T0.Add(3*time.Hour)) || got.Version != e.Version {
		t.Fatalf("a lost compare-and-set changed the lease: expires %s v%d", got.ExpiresAt, got.Version)
	}
	if exp, _ := s.LeaseListExpired(ctx, T0.Add(4*time.Hour), 10); len(exp) != 1 || !exp[0].ExpiresAt.Equal(T0.Add(3*time.Hour)) {
		t.Fatalf("expired at the stored expiry: %v", exp)
	}
}

func testConcurrentLeaseExtend(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	read, _ := s.LeaseGet(ctx, l.ID)
	const clients = 8
	var wins, conflicts atomic.Int32
	var won atomic.Pointer[ovm.Lease]
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: read.ID, Version: read.Version,
				ExpiresAt: read.ExpiresAt.Add(time.Duration(i+1) * time.Hour), Actor: fmt.Sprint("key:c", i), Now: T0})
			switch {
			case err == nil:
				wins.Add(1)
				won.Store(e)
			case errors.Is(err, ovm.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != clients-1 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins.Load(), conflicts.Load(), clients-1)
	}
	got, _ := s.LeaseGet(ctx, l.ID)
	if w := won.Load(); !got.ExpiresAt.Equal(w.ExpiresAt) || got.Version != read.Version+1 {
		t.Fatalf("stored expires %s v%d, the winner set %s v%d", got.ExpiresAt, got.Version, w.ExpiresAt, w.Version)
	}
}

func testLeaseEnd(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		mode ovm.RetireMode
		want ovm.AccountState
	}{{ovm.RetireClose, ovm.AccountClosing}, {ovm.RetireRecycle, ovm.AccountCleaning}} {
		a := Ready(t, s, "p-"+string(c.mode), T0)
		l, err := vend(s, a.Pool, "alice", T0, 0)
		if err != nil {
			t.Fatal(err)
		}
		p := &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseReleased, Actor: "key:alice", Now: T0.Add(time.Minute),
			Retire: ovm.RetirePolicy{Mode: c.mode}}
		ended, err := s.LeaseEnd(ctx, p)
		if err != nil || ended.State != ovm.LeaseEnded || ended.EndReason != ovm.LeaseReleased || !ended.EndedAt.Equal(p.Now) {
			t.Fatalf("end: %+v %v", ended, err)
		}
		acct, _ := s.AccountGet(ctx, a.ID)
		if acct.State != c.want || acct.LeaseID != "" {
			t.Fatalf("%s: account %s lease %q, want %s", c.mode, acct.State, acct.LeaseID, c.want)
		}
		_, err = s.LeaseEnd(ctx, p)
		wantErr(t, err, ovm.ErrConflict)
		again, _ := s.AccountGet(ctx, a.ID)
		if again.Version != acct.Version {
			t.Fatal("a second end changed the account")
		}
	}
	_, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: "lse_nope", Reason: ovm.LeaseReleased, Now: T0})
	wantErr(t, err, ovm.ErrNotFound)

	// An expirer that listed the lease before it was extended loses.
	a := Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "bob", T0, 0) // expires T0+1h
	if _, err := s.LeaseExtend(ctx, &ovm.LeaseExtendParams{ID: l.ID, Version: l.Version, ExpiresAt: T0.Add(3 * time.Hour), Now: T0}); err != nil {
		t.Fatal(err)
	}
	_, err = s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseExpired, Now: T0.Add(2 * time.Hour),
		ExpiredBy: T0.Add(2 * time.Hour), Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}})
	wantErr(t, err, ovm.ErrConflict)
	if got, _ := s.AccountGet(ctx, a.ID); got.State != ovm.AccountLeased {
		t.Fatalf("an extended lease's account went %s", got.State)
	}
	if _, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseExpired, Now: T0.Add(3 * time.Hour),
		ExpiredBy: T0.Add(3 * time.Hour), Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}}); err != nil {
		t.Fatalf("end at the new expiry: %v", err)
	}
}

func testLeaseListExpired(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for range 3 {
		Ready(t, s, "p1", T0)
	}
	l1, _ := vend(s, "p1", "a", T0, 0)                      // expires T0+1h
	l2, _ := vend(s, "p1", "a", T0.Add(-30*time.Minute), 0) // expires T0+30m
	l3, _ := vend(s, "p1", "a", T0.Add(5*time.Hour), 0)     // expires T0+6h
	if _, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l1.ID, Reason: ovm.LeaseReleased, Now: T0, Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}}); err != nil {
		t.Fatal(err)
	}
	exp, err := s.LeaseListExpired(ctx, T0.Add(2*time.Hour), 10)
	if err != nil || len(exp) != 1 || exp[0].ID != l2.ID {
		t.Fatalf("expired: %v %v, want only %s", exp, err, l2.ID)
	}
	exp, _ = s.LeaseListExpired(ctx, T0.Add(7*time.Hour), 10)
	if len(exp) != 2 || exp[0].ID != l2.ID || exp[1].ID != l3.ID {
		t.Fatalf("expired later: %v", exp)
	}
}

func testLeaseExpiryBoundary(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, err := vend(s, "p1", "alice", T0, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := l.ExpiresAt
	if exp, err := s.LeaseListExpired(ctx, at.Add(-time.Nanosecond), 10); err != nil || len(exp) != 0 {
		t.Fatalf("a nanosecond before its expiry: %v %v, want none", exp, err)
	}
	exp, err := s.LeaseListExpired(ctx, at, 10)
	if err != nil || len(exp) != 1 || exp[0].ID != l.ID {
		t.Fatalf("at its expiry: %v %v, want %s", exp, err, l.ID)
	}
	ended, err := s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseExpired, Actor: ovm.ActorExpirer, Now: at,
		ExpiredBy: at, Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}})
	if err != nil || ended.State != ovm.LeaseEnded {
		t.Fatalf("end with ExpiredBy at its expiry: %+v %v", ended, err)
	}
}

func testLeaseList(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for range 4 {
		Ready(t, s, "p1", T0)
	}
	var alice []string
	for i := range 3 {
		l, err := vend(s, "p1", "alice", T0.Add(time.Duration(i)*time.Second), 0)
		if err != nil {
			t.Fatal(err)
		}
		alice = append([]string{l.ID}, alice...)
	}
	vend(s, "p1", "bob", T0, 0)
	items, next, err := s.LeaseList(ctx, &ovm.LeaseListParams{Owner: "alice", PageParams: ovm.PageParams{Limit: 2}})
	if err != nil || len(items) != 2 || next == "" || items[0].ID != alice[0] {
		t.Fatalf("page 1: %v %q %v", items, next, err)
	}
	rest, next, err := s.LeaseList(ctx, &ovm.LeaseListParams{Owner: "alice", PageParams: ovm.PageParams{Limit: 2, Cursor: next}})
	if err != nil || len(rest) != 1 || next != "" || rest[0].ID != alice[2] {
		t.Fatalf("page 2: %v %q %v", rest, next, err)
	}
	all, _, _ := s.LeaseList(ctx, &ovm.LeaseListParams{State: ovm.LeaseActive})
	if len(all) != 4 {
		t.Fatalf("active: %d", len(all))
	}
}

func testKeys(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	k, secret, err := ovm.NewAPIKey("ci", ovm.RoleUser, T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	dup, _, _ := ovm.NewAPIKey("ci", ovm.RoleAdmin, T0)
	wantErr(t, s.KeyCreate(ctx, dup), ovm.ErrConflict)
	got, err := s.KeyGetByHash(ctx, ovm.HashKey(secret))
	if err != nil || got.ID != k.ID || got.Role != ovm.RoleUser || got.Revoked() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	_, err = s.KeyGetByHash(ctx, ovm.HashKey("ovm_wrong"))
	wantErr(t, err, ovm.ErrNotFound)
	r, err := s.KeyRevoke(ctx, k.ID, "key:admin", T0.Add(time.Hour))
	if err != nil || !r.Revoked() {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	got, _ = s.KeyGetByHash(ctx, ovm.HashKey(secret))
	if !got.Revoked() {
		t.Fatal("revocation not stored")
	}
	if _, err := s.KeyRevoke(ctx, k.ID, "key:admin", T0.Add(2*time.Hour)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	_, err = s.KeyRevoke(ctx, "key_nope", "x", T0)
	wantErr(t, err, ovm.ErrNotFound)
	other, _, _ := ovm.NewAPIKey("other", ovm.RoleAdmin, T0)
	s.KeyCreate(ctx, other)
	keys, _, err := s.KeyList(ctx, &ovm.PageParams{})
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
}

func testKeyNamesIgnoreCase(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	first, _, _ := ovm.NewAPIKey("ADMIN", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, first); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin", "Admin", "ADMIN"} {
		k, _, _ := ovm.NewAPIKey(name, ovm.RoleAdmin, T0)
		wantErr(t, s.KeyCreate(ctx, k), ovm.ErrConflict)
	}
	// A revoked key keeps its name.
	if _, err := s.KeyRevoke(ctx, first.ID, "key:x", T0); err != nil {
		t.Fatal(err)
	}
	k, _, _ := ovm.NewAPIKey("aDmIn", ovm.RoleUser, T0)
	wantErr(t, s.KeyCreate(ctx, k), ovm.ErrConflict)
	other, _, _ := ovm.NewAPIKey("admin-2", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, other); err != nil {
		t.Fatalf("another name: %v", err)
	}
	keys, _, err := s.KeyList(ctx, &ovm.PageParams{})
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v: a refused key was stored", keys, err)
	}
	if got, err := s.KeyGetByHash(ctx, first.Hash); err != nil || got.Name != "ADMIN" {
		t.Fatalf("the first key: %+v %v, want its name as given", got, err)
	}
}

func testRefusedKeyLeavesItsName(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	first, _, _ := ovm.NewAPIKey("first", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Another key with the same secret (replicas storing one admin key at
	// once) is refused, and takes nothing with it.
	same, _, _ := ovm.NewAPIKey("second", ovm.RoleUser, T0)
	same.Hash = first.Hash
	if err := s.KeyCreate(ctx, same); err == nil {
		t.Fatal("a second key with the same secret was stored")
	}
	second, _, _ := ovm.NewAPIKey("second", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, second); err != nil {
		t.Fatalf("the name of a refused key is still taken: %v", err)
	}
	if got, err := s.KeyGetByHash(ctx, first.Hash); err != nil || got.ID != first.ID {
		t.Fatalf("the first key: %+v %v", got, err)
	}
}

// newKey stores a new key named name with role.
func newKey(t *testing.T, s ovm.Store, name string, role ovm.Role) *ovm.APIKey {
	t.Helper()
	k, _, err := ovm.NewAPIKey(name, role, T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KeyCreate(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func testLastAdminKey(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	// User keys can always be revoked, with or without an admin key.
	u1 := newKey(t, s, "user-1", ovm.RoleUser)
	if _, err := s.KeyRevoke(ctx, u1.ID, "key:x", T0); err != nil {
		t.Fatalf("revoke a user key with no admin key: %v", err)
	}
	a := newKey(t, s, "admin-a", ovm.RoleAdmin)
	u2 := newKey(t, s, "user-2", ovm.RoleUser)
	refused := func(id string) {
		t.Helper()
		_, err := s.KeyRevoke(ctx, id, "key:x", T0)
		wantErr(t, err, ovm.ErrConflict)
		if !strings.Contains(err.Error(), "the last active admin key cannot be revoked; create another admin key first") {
			t.Fatalf("message %q does not say why", err)
		}
		if k, _ := s.KeyGetByHash(ctx, keyHash(t, s, id)); k.Revoked() {
			t.Fatal("a refused revoke revoked the key")
		}
	}
	refused(a.ID)
	if _, err := s.KeyRevoke(ctx, u2.ID, "key:x", T0); err != nil {
		t.Fatalf("revoke a user key: %v", err)
	}
	b := newKey(t, s, "admin-b", ovm.RoleAdmin)
	r, err := s.KeyRevoke(ctx, a.ID, "key:admin-b", T0.Add(time.Minute))
	if err != nil || !r.Revoked() {
		t.Fatalf("revoke one of two admin keys: %+v %v", r, err)
	}
	refused(b.ID)
	// Revoking twice stays a no-op, also for an admin key.
	again, err := s.KeyRevoke(ctx, a.ID, "key:admin-b", T0.Add(time.Hour))
	if err != nil || !again.RevokedAt.Equal(T0.Add(time.Minute)) {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	// Another admin key makes b revocable.
	newKey(t, s, "admin-c", ovm.RoleAdmin)
	if _, err := s.KeyRevoke(ctx, b.ID, "key:admin-c", T0); err != nil {
		t.Fatalf("revoke with another admin key: %v", err)
	}
}

// keyHash returns the hash of key id (KeyGetByHash is the store's only
// lookup of one key).
func keyHash(t *testing.T, s ovm.Store, id string) string {
	t.Helper()
	keys, _, err := s.KeyList(context.Background(), &ovm.PageParams{Limit: ovm.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == id {
			return k.Hash
		}
	}
	t.Fatalf("no key %s", id)
	return ""
}

func testConcurrentAdminRevoke(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	survivor := newKey(t, s, "admin-0", ovm.RoleAdmin)
	for round := 1; round <= 20; round++ {
		other := newKey(t, s, fmt.Sprint("admin-", round), ovm.RoleAdmin)
		pair := [2]*ovm.APIKey{survivor, other}
		var errs [2]error
		var wg sync.WaitGroup
		for i := range pair {
			wg.Add(1)
			go func() { // each revokes the other
				defer wg.Done()
				_, errs[i] = s.KeyRevoke(ctx, pair[1-i].ID, "key:"+pair[i].Name, T0)
			}()
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				survivor = pair[i]
			case !errors.Is(err, ovm.ErrConflict):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of two admins revoking each other succeeded, want exactly one", round, wins)
		}
	}
}

func testBadCursors(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	Ready(t, s, "p1", T0)
	for range 2 {
		if _, err := vend(s, "p1", "alice", T0, 0); err != nil {
			t.Fatal(err)
		}
		k, _, _ := ovm.NewAPIKey(ovm.NewID("k", T0), ovm.RoleUser, T0)
		if err := s.KeyCreate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	lists := []struct {
		name string
		list func(cursor string) (next string, err error)
	}{
		{"accounts", func(c string) (string, error) {
			_, next, err := s.AccountList(ctx, &ovm.AccountListParams{PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
		{"leases", func(c string) (string, error) {
			_, next, err := s.LeaseList(ctx, &ovm.LeaseListParams{PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
		{"keys", func(c string) (string, error) {
			_, next, err := s.KeyList(ctx, &ovm.PageParams{Limit: 1, Cursor: c})
			return next, err
		}},
		{"events", func(c string) (string, error) {
			_, next, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
	}
	cursors := map[string]string{}
	for _, l := range lists {
		next, err := l.list("")
		if err != nil || next == "" {
			t.Fatalf("%s: first page: next %q, %v", l.name, next, err)
		}
		if _, err := l.list(next); err != nil {
			t.Fatalf("%s: its own cursor: %v", l.name, err)
		}
		cursors[l.name] = next
	}
	invalid := func(what string, err error) {
		t.Helper()
		if ovm.ErrorCodeOf(err) != ovm.EInvalid || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("%s: %v, want an invalid-cursor error", what, err)
		}
	}
	for _, l := range lists {
		for _, garbage := range []string{"garbage", "!!not-a-cursor", "eyJ9"} {
			_, err := l.list(garbage)
			invalid(fmt.Sprintf("%s with cursor %q", l.name, garbage), err)
		}
		for other, c := range cursors {
			if other != l.name {
				_, err := l.list(c)
				invalid(fmt.Sprintf("%s with a cursor of %s", l.name, other), err)
			}
		}
	}
}

func testEventLog(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	s.LeaseEnd(ctx, &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseExpired, Actor: ovm.ActorExpirer, Now: T0, Retire: ovm.RetirePolicy{Mode: ovm.RetireClose}})
	b, _ := s.AccountGet(ctx, a.ID)
	apply(t, s)(ovm.ObserveClosed(b, T0))
	want := []string{"account:->pending", "account:pending->creating", "account:creating->bootstrapping",
		"account:bootstrapping->ready", "account:ready->leased", "lease:->active", "lease:active->ended",
		"account:leased->closing", "account:closing->closed"}
	var got []string
	cursor := ""
	var last int64
	for {
		ev, next, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, PageParams: ovm.PageParams{Limit: 4, Cursor: cursor}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ev {
			if e.Seq <= last || e.Time.IsZero() || e.Actor == "" {
				t.Errorf("event %+v out of order or incomplete", e)
			}
			last = e.Seq
			got = append(got, fmt.Sprintf("%s:%s->%s", e.Kind, e.From, e.To))
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	lev, _, err := s.EventList(ctx, &ovm.EventListParams{LeaseID: l.ID})
	if err != nil || len(lev) != 4 {
		// the lease's own two events plus the account moves that name it
		t.Fatalf("lease events: %d %v", len(lev), err)
	}
}

func testCloseLedger(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	add := func(ledger, aws string, at time.Time) {
		t.Helper()
		if err := s.CloseLedgerAdd(ctx, &ovm.CloseEntry{Ledger: ledger, AWSAccountID: aws, AccountID: "acc_" + aws, Pool: "p1", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("o-1", "111111111111", T0)
	add("o-1", "222222222222", T0.Add(time.Hour))
	add("o-1", "111111111111", T0.Add(2*time.Hour)) // again: keeps the first time
	add("o-2", "333333333333", T0)
	got, err := s.CloseLedgerList(ctx, "o-1", T0)
	if err != nil || len(got) != 2 || got[0].AWSAccountID != "111111111111" || !got[0].At.Equal(T0) || got[1].Pool != "p1" {
		t.Fatalf("ledger o-1: %+v %v", got, err)
	}
	if got, _ := s.CloseLedgerList(ctx, "o-1", T0.Add(time.Minute)); len(got) != 1 || got[0].AWSAccountID != "222222222222" {
		t.Fatalf("since: %+v", got)
	}
	if err := s.CloseLedgerAdd(ctx, &ovm.CloseEntry{Ledger: "o-1"}); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("empty entry: %v", err)
	}
}

func testPoolEvents(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0) // account events of the pool are not pool events
	for i := range 3 {
		if err := s.EventAppend(ctx, &ovm.Event{Time: T0, Kind: ovm.EventDrift, Pool: "p1", Actor: ovm.ActorDrift,
			From: "aws", To: "store", Reason: fmt.Sprint("drift ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, _, err := s.EventList(ctx, &ovm.EventListParams{Pool: "p1"})
	if err != nil || len(ev) != 3 || ev[0].Reason != "drift 0" || ev[2].Kind != ovm.EventDrift {
		t.Fatalf("pool events: %+v %v", ev, err)
	}
}

func testLeader(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	acquire := func(holder string, at time.Time) bool {
		t.Helper()
		ok, err := s.LeaderAcquire(ctx, "planner", holder, at, at.Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire("a", T0) {
		t.Fatal("a free lease was not taken")
	}
	if acquire("b", T0.Add(5*time.Second)) {
		t.Fatal("b took a's lease before it expired")
	}
	if !acquire("a", T0.Add(8*time.Second)) { // renew: now until T0+18s
		t.Fatal("a could not renew")
	}
	if acquire("b", T0.Add(15*time.Second)) {
		t.Fatal("b took a renewed lease")
	}
	if !acquire("b", T0.Add(19*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	if acquire("a", T0.Add(20*time.Second)) {
		t.Fatal("a took the lease back from b")
	}
	if ok, err := s.LeaderAcquire(ctx, "drift", "a", T0.Add(20*time.Second), T0.Add(30*time.Second)); err != nil || !ok {
		t.Fatalf("another lease name: %v %v", ok, err)
	}
	// Many contenders for a free lease: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.LeaderAcquire(ctx, "race", fmt.Sprint("r", i), T0, T0.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d holders of one lease", wins.Load())
	}
}

func testLeaderRelease(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	acquire := func(name, holder string, at time.Time) bool {
		t.Helper()
		ok, err := s.LeaderAcquire(ctx, name, holder, at, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	release := func(name, holder string) {
		t.Helper()
		if err := s.LeaderRelease(ctx, name, holder); err != nil {
			t.Fatalf("release %s by %s: %v", name, holder, err)
		}
	}
	release("planner", "a") // never held: a no-op
	if !acquire("planner", "a", T0) || !acquire("drift", "a", T0) {
		t.Fatal("free leases were not taken")
	}
	release("planner", "b") // b does not hold it: nothing changes
	if acquire("planner", "b", T0.Add(time.Second)) {
		t.Fatal("b took a's lease after b's release")
	}
	release("planner", "a")
	if !acquire("planner", "b", T0.Add(2*time.Second)) {
		t.Fatal("b could not take the lease a released")
	}
	if acquire("drift", "b", T0.Add(2*time.Second)) {
		t.Fatal("releasing one lease released another")
	}
	release("planner", "a") // a holds it no more: b keeps it
	if acquire("planner", "a", T0.Add(3*time.Second)) {
		t.Fatal("a's late release freed b's lease")
	}
}

func testAccountEventAppend(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	if err := s.EventAppend(ctx, &ovm.Event{Time: T0, Kind: ovm.EventDrift, AccountID: a.ID, Pool: "p1",
		Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "closed outside OVM"}); err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID})
	if err != nil || len(ev) != 5 || ev[4].Kind != ovm.EventDrift || ev[4].Seq <= ev[3].Seq {
		t.Fatalf("events %+v %v", ev, err)
	}
	got, _ := s.AccountGet(ctx, a.ID)
	if got.Version != a.Version || got.State != a.State {
		t.Fatal("appending an event changed the account")
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

func testPoolSamples(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	start := ovm.SampleBucket(T0)
	// Two days of samples of p1, and one of p2: the ring keeps p1's last day.
	for i := range 2 * ovm.SampleSlots {
		at := start.Add(time.Duration(i) * ovm.SampleInterval)
		if err := s.PoolSamplePut(ctx, &ovm.PoolSample{Pool: "p1", At: at, Ready: i, Target: 7}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PoolSamplePut(ctx, &ovm.PoolSample{Pool: "p2", At: start, Ready: 99, Target: 1}); err != nil {
		t.Fatal(err)
	}
	all, err := s.PoolSampleList(ctx, "p1", time.Time{})
	if err != nil || len(all) != ovm.SampleSlots {
		t.Fatalf("p1 keeps %d samples (%v), want %d", len(all), err, ovm.SampleSlots)
	}
	for i, p := range all {
		want := ovm.SampleSlots + i
		if p.Ready != want || p.Target != 7 || p.Pool != "p1" || !p.At.Equal(start.Add(time.Duration(want)*ovm.SampleInterval)) {
			t.Fatalf("sample %d: %+v, want ready %d at %s", i, p, want, start.Add(time.Duration(want)*ovm.SampleInterval))
		}
	}
	since := start.Add(time.Duration(2*ovm.SampleSlots-3) * ovm.SampleInterval)
	if last, err := s.PoolSampleList(ctx, "p1", since); err != nil || len(last) != 3 || !last[0].At.Equal(since) {
		t.Fatalf("since %s: %v %v", since, last, err)
	}
	if p2, err := s.PoolSampleList(ctx, "p2", time.Time{}); err != nil || len(p2) != 1 || p2[0].Ready != 99 {
		t.Fatalf("p2: %v %v", p2, err)
	}
	if none, err := s.PoolSampleList(ctx, "p3", time.Time{}); err != nil || len(none) != 0 {
		t.Fatalf("a pool without samples: %v %v", none, err)
	}
}
