package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// vendTests are the cases of vend.
var vendTests = []testCase{
	{"a vend leases the oldest ready account", testLeaseCreate},
	{"an empty pool answers ErrEmpty", testLeaseEmpty},
	{"the per-owner lease limit holds", testLeaseLimit},
	{"concurrent vends from a small stock never share an account", testConcurrentVend},
	{"concurrent vends of one owner stop exactly at its limit", testConcurrentLeaseLimit},
	{"an owner at a pool's limit is refused there, not elsewhere nor others", testPoolLeaseLimit},
	{"concurrent vends of one owner in one pool stop exactly at the pool's limit", testConcurrentPoolLeaseLimit},
	{"with both lease limits the stricter one refuses", testBothLeaseLimits},
	{"concurrent vends of one owner over two pools respect both limits", testConcurrentBothLeaseLimits},
	{"a vend with an idempotency key is made once per owner and key for a day", testIdempotentVend},
	{"a replay is answered before the limits and the stock", testIdempotentReplayFirst},
	{"concurrent vends with one idempotency key make one lease", testConcurrentIdempotentVend},
}

// vendKey vends with idempotency key k.
func vendKey(s ovm.Store, pool, owner, k string, now time.Time, limit int) (*ovm.Lease, error) {
	return s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: pool,
		Owner: owner, Now: now, ExpiresAt: now.Add(time.Hour), OwnerLimit: limit, IdempotencyKey: k})
}

func testIdempotentVend(t *testing.T, s ovm.Store) {
	for range 5 {
		Ready(t, s, "p1", T0)
	}
	first, err := vendKey(s, "p1", "alice", "k-1", T0, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := vendKey(s, "p1", "alice", "k-1", T0.Add(time.Hour), 0)
	if err != nil || again.ID != first.ID || again.AccountID != first.AccountID {
		t.Fatalf("the same key again: %+v %v, want lease %s", again, err, first.ID)
	}
	if n := readyCount(t, s, "p1"); n != 4 {
		t.Fatalf("%d ready after a vend and its replay, want 4", n)
	}
	// Another owner's key of the same name, and another key, are other vends.
	bob, err := vendKey(s, "p1", "bob", "k-1", T0, 0)
	if err != nil || bob.ID == first.ID {
		t.Fatalf("another owner's key: %+v %v", bob, err)
	}
	other, err := vendKey(s, "p1", "alice", "k-2", T0, 0)
	if err != nil || other.ID == first.ID {
		t.Fatalf("another key: %+v %v", other, err)
	}
	// A replay answers the lease as it is now, ended or not.
	endLease(t, s, first, T0.Add(time.Minute))
	if got, err := vendKey(s, "p1", "alice", "k-1", T0.Add(2*time.Minute), 0); err != nil || got.ID != first.ID || got.State != ovm.LeaseEnded {
		t.Fatalf("replay of an ended lease: %+v %v", got, err)
	}
	// After the window, the key makes a new lease.
	later, err := vendKey(s, "p1", "alice", "k-1", T0.Add(ovm.IdempotencyWindow+time.Second), 0)
	if err != nil || later.ID == first.ID {
		t.Fatalf("the key after its window: %+v %v", later, err)
	}
	if n := readyCount(t, s, "p1"); n != 1 {
		t.Fatalf("%d ready, want 1", n)
	}
}

func testIdempotentReplayFirst(t *testing.T, s ovm.Store) {
	// A vend with a key that made nothing (an empty pool) leaves the key
	// free for the next try.
	_, err := vendKey(s, "p1", "alice", "k-1", T0, 1)
	wantErr(t, err, ovm.ErrEmpty)
	Ready(t, s, "p1", T0)
	first, err := vendKey(s, "p1", "alice", "k-1", T0.Add(time.Second), 1)
	if err != nil {
		t.Fatalf("the key after a vend that made nothing: %v", err)
	}
	// At the owner's limit and with no stock left, the replay still
	// answers the first lease.
	again, err := vendKey(s, "p1", "alice", "k-1", T0.Add(2*time.Second), 1)
	if err != nil || again.ID != first.ID {
		t.Fatalf("replay at the limit and with no stock: %+v %v", again, err)
	}
	_, err = vendKey(s, "p1", "alice", "k-2", T0.Add(2*time.Second), 1)
	wantErr(t, err, ovm.ErrLeaseLimit)
}

func testConcurrentIdempotentVend(t *testing.T, s ovm.Store) {
	for range 5 {
		Ready(t, s, "p1", T0)
	}
	const clients = 8
	var mu sync.Mutex
	ids := map[string]int{}
	var conflicts atomic.Int32
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := vendKey(s, "p1", "alice", "same", T0, 0)
			switch {
			case errors.Is(err, ovm.ErrConflict): // in flight elsewhere: retry shortly
				conflicts.Add(1)
			case err != nil:
				t.Error(err)
			default:
				mu.Lock()
				ids[l.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || readyCount(t, s, "p1") != 4 {
		t.Fatalf("one key made leases %v (and %d in-flight answers); %d ready, want one lease and 4 ready", ids, conflicts.Load(), readyCount(t, s, "p1"))
	}
	if l, err := vendKey(s, "p1", "alice", "same", T0.Add(time.Second), 0); err != nil || ids[l.ID] == 0 {
		t.Fatalf("after the race: %+v %v", l, err)
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
	endLease(t, s, granted[0], T0)
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
