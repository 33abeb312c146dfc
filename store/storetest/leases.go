package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// leaseTests are the cases of leases after their vend (vend.go).
var leaseTests = []testCase{
	{"a lease is extended only while active", testLeaseExtend},
	{"an extension is a compare-and-set on the lease's version", testLeaseExtendCAS},
	{"exactly one of many concurrent extensions from one read wins", testConcurrentLeaseExtend},
	{"ending a lease moves its account on, once", testLeaseEnd},
	{"a lease's end and its account's move are one write", testLeaseEndIsOneWrite},
	{"the store refuses to extend or end early a lease whose time is up", testLeaseOverInStore},
	{"a refused lease puts its account back in stock", testLeaseRefused},
	{"expired leases are listed by expiry", testLeaseListExpired},
	{"a lease has expired at the very instant of its expiry", testLeaseExpiryBoundary},
	{"leases list by owner and state, newest first", testLeaseList},
}

// leaseTerms are the terms the suite's leases are extended within.
var leaseTerms = ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 72 * time.Hour, MinTTL: time.Minute}

// extendLease applies ovm.ExtendLease to lease l as read.
func extendLease(s ovm.Store, l *ovm.Lease, to, now time.Time) (*ovm.Lease, error) {
	u, err := ovm.ExtendLease(l, leaseTerms, to, "key:"+l.Owner, now)
	if err != nil {
		return nil, err
	}
	return s.LeaseUpdate(context.Background(), u)
}

// endLeaseAs applies ovm.EndLease to lease l as read, with its account as
// stored now.
func endLeaseAs(s ovm.Store, l *ovm.Lease, reason ovm.LeaseEndReason, mode ovm.RetireMode, now time.Time) (*ovm.Lease, error) {
	a, err := s.AccountGet(context.Background(), l.AccountID)
	if err != nil {
		return nil, err
	}
	u, err := ovm.EndLease(l, a, reason, ovm.RetirePolicy{Mode: mode}, "key:"+l.Owner, now)
	if err != nil {
		return nil, err
	}
	return s.LeaseUpdate(context.Background(), u)
}

// endLease releases lease l at now.
func endLease(t *testing.T, s ovm.Store, l *ovm.Lease, now time.Time) {
	t.Helper()
	if _, err := endLeaseAs(s, l, ovm.LeaseReleased, ovm.RetireClose, now); err != nil {
		t.Fatal(err)
	}
}

func testLeaseExtend(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	newExp := T0.Add(5 * time.Hour)
	// An update built before the lease ended is refused after it.
	stale, err := ovm.ExtendLease(l, leaseTerms, newExp.Add(time.Hour), "key:alice", T0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := extendLease(s, l, newExp, T0)
	if err != nil || !e.ExpiresAt.Equal(newExp) || e.Version != 2 {
		t.Fatalf("extend: %+v %v", e, err)
	}
	got, _ := s.LeaseGet(ctx, l.ID)
	if !got.ExpiresAt.Equal(newExp) || got.Version != 2 {
		t.Fatalf("stored expiry %s v%d", got.ExpiresAt, got.Version)
	}
	if exp, _ := s.LeaseListExpired(ctx, newExp.Add(-time.Second), 10); len(exp) != 0 {
		t.Fatalf("listed expired before its new expiry: %v", exp)
	}
	endLease(t, s, got, T0)
	stale.ExpectVersion, stale.Lease.Version = 2, 3
	_, err = s.LeaseUpdate(ctx, stale)
	wantErr(t, err, ovm.ErrConflict)
	ended, _ := s.LeaseGet(ctx, l.ID)
	if ended.State != ovm.LeaseEnded || !ended.ExpiresAt.Equal(newExp) {
		t.Fatalf("an extension of an ended lease changed it: %+v", ended)
	}
	gone := l.Clone()
	gone.ID = "lse_nope"
	u, _ := ovm.ExtendLease(gone, leaseTerms, newExp, "key:alice", T0)
	_, err = s.LeaseUpdate(ctx, u)
	wantErr(t, err, ovm.ErrNotFound)
}

func testLeaseExtendCAS(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0) // version 1
	e, err := extendLease(s, l, T0.Add(3*time.Hour), T0)
	if err != nil || e.Version != l.Version+1 {
		t.Fatalf("extend: %+v %v", e, err)
	}
	// l is stale now: extending from it again must conflict and change nothing.
	_, err = extendLease(s, l, T0.Add(9*time.Hour), T0)
	wantErr(t, err, ovm.ErrConflict)
	ahead := e.Clone()
	ahead.Version++
	_, err = extendLease(s, ahead, T0.Add(9*time.Hour), T0)
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
			e, err := extendLease(s, read, read.ExpiresAt.Add(time.Duration(i+1)*time.Hour), T0)
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
		now := T0.Add(time.Minute)
		ended, err := endLeaseAs(s, l, ovm.LeaseReleased, c.mode, now)
		if err != nil || ended.State != ovm.LeaseEnded || ended.EndReason != ovm.LeaseReleased || !ended.EndedAt.Equal(now) {
			t.Fatalf("end: %+v %v", ended, err)
		}
		if got, _ := s.LeaseGet(ctx, l.ID); got.State != ovm.LeaseEnded || got.EndReason != ovm.LeaseReleased || got.Version != 2 {
			t.Fatalf("stored lease after its end: %+v", got)
		}
		acct, _ := s.AccountGet(ctx, a.ID)
		if acct.State != c.want || acct.LeaseID != "" {
			t.Fatalf("%s: account %s lease %q, want %s", c.mode, acct.State, acct.LeaseID, c.want)
		}
		if r, ok := ovm.PendingRevocation(acct); !ok || r.LeaseID != l.ID {
			t.Fatalf("%s: the end marked no revocation of %s: %+v", c.mode, l.ID, acct.Progress)
		}
		// The same end again, from the same read: refused, nothing moves.
		leased := acct.Clone()
		leased.State, leased.LeaseID, leased.Version = ovm.AccountLeased, l.ID, acct.Version-1
		u, err := ovm.EndLease(l, leased, ovm.LeaseReleased, ovm.RetirePolicy{Mode: c.mode}, "key:alice", now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.LeaseUpdate(ctx, u)
		wantErr(t, err, ovm.ErrConflict)
		again, _ := s.AccountGet(ctx, a.ID)
		if again.Version != acct.Version {
			t.Fatal("a second end changed the account")
		}
	}

	// An expirer that listed the lease before it was extended loses.
	a := Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "bob", T0, 0) // expires T0+1h
	e, err := extendLease(s, l, T0.Add(3*time.Hour), T0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = endLeaseAs(s, l, ovm.LeaseExpired, ovm.RetireClose, T0.Add(2*time.Hour))
	wantErr(t, err, ovm.ErrConflict)
	if got, _ := s.AccountGet(ctx, a.ID); got.State != ovm.AccountLeased {
		t.Fatalf("an extended lease's account went %s", got.State)
	}
	if _, err := endLeaseAs(s, e, ovm.LeaseExpired, ovm.RetireClose, T0.Add(3*time.Hour)); err != nil {
		t.Fatalf("end at the new expiry: %v", err)
	}
}

// testLeaseEndIsOneWrite: a lease's end whose account moved on since it
// was read changes neither the lease nor the account.
func testLeaseEndIsOneWrite(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	a, _ := s.AccountGet(ctx, l.AccountID)
	u, err := ovm.EndLease(l, a, ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", T0)
	if err != nil {
		t.Fatal(err)
	}
	// The account moves on (a same-state update) after the read.
	apply(t, s)(ovm.RecordStepWaiting(a, time.Minute, "", map[string]string{"x": "1"}, T0))
	_, err = s.LeaseUpdate(ctx, u)
	wantErr(t, err, ovm.ErrConflict)
	if got, _ := s.LeaseGet(ctx, l.ID); got.State != ovm.LeaseActive || got.Version != l.Version {
		t.Fatalf("the lease ended although its account's compare-and-set failed: %+v", got)
	}
	if got, _ := s.AccountGet(ctx, l.AccountID); got.State != ovm.AccountLeased || got.LeaseID != l.ID {
		t.Fatalf("the account moved although the write failed: %s %q", got.State, got.LeaseID)
	}
}

// testLeaseOverInStore: the store itself refuses to extend or end early a
// lease whose time is up, and to expire one whose time is not, whatever the
// caller built: the rule does not rest on the caller's clock check alone.
func testLeaseOverInStore(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0) // expires T0+1h
	ext, err := ovm.ExtendLease(l, leaseTerms, T0.Add(5*time.Hour), "key:alice", T0)
	if err != nil {
		t.Fatal(err)
	}
	ext.LiveAt = l.ExpiresAt // as if built at the instant of the expiry
	_, err = s.LeaseUpdate(ctx, ext)
	wantErr(t, err, ovm.ErrConflict)
	a, _ := s.AccountGet(ctx, l.AccountID)
	rel, err := ovm.EndLease(l, a, ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", T0)
	if err != nil {
		t.Fatal(err)
	}
	rel.LiveAt = l.ExpiresAt.Add(time.Millisecond)
	_, err = s.LeaseUpdate(ctx, rel)
	wantErr(t, err, ovm.ErrConflict)
	exp, err := ovm.EndLease(l, a, ovm.LeaseExpired, ovm.RetirePolicy{Mode: ovm.RetireClose}, ovm.ActorExpirer, l.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	exp.ExpiredAt = l.ExpiresAt.Add(-time.Nanosecond) // as if its time were not up
	_, err = s.LeaseUpdate(ctx, exp)
	wantErr(t, err, ovm.ErrConflict)
	if got, _ := s.LeaseGet(ctx, l.ID); got.State != ovm.LeaseActive || got.Version != 1 || !got.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("a refused update changed the lease: %+v", got)
	}
	exp.ExpiredAt = l.ExpiresAt
	if _, err := s.LeaseUpdate(ctx, exp); err != nil {
		t.Fatalf("the expiry at its time: %v", err)
	}
}

// testLeaseRefused: a refused lease ends and puts its account back in
// stock, to be vended again, with nothing to revoke.
func testLeaseRefused(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	a, _ := s.AccountGet(ctx, l.AccountID)
	u, err := ovm.RefuseLease(l, a, "IAM refused the principal", T0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.LeaseUpdate(ctx, u)
	if err != nil || got.State != ovm.LeaseEnded || got.EndReason != ovm.LeaseRefused {
		t.Fatalf("refuse: %+v %v", got, err)
	}
	back, _ := s.AccountGet(ctx, l.AccountID)
	if back.State != ovm.AccountReady || back.LeaseID != "" || back.Generation != a.Generation {
		t.Fatalf("account after a refused lease: %s lease %q gen %d", back.State, back.LeaseID, back.Generation)
	}
	if _, pending := ovm.PendingRevocation(back); pending {
		t.Fatal("a refused lease left a revocation to run")
	}
	if readyCount(t, s, "p1") != 1 {
		t.Fatal("the account is not counted in stock")
	}
	again, err := vend(s, "p1", "bob", T0.Add(time.Second), 0)
	if err != nil || again.AccountID != l.AccountID {
		t.Fatalf("vend after a refused lease: %+v %v", again, err)
	}
	// A refusal built before the lease gave access loses to the mark.
	b, _ := s.AccountGet(ctx, again.AccountID)
	late, err := ovm.RefuseLease(again, b, "IAM refused the principal", T0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ovm.MarkLeaseAccess(again, "credentials", "key:bob", T0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if marked, err := s.LeaseUpdate(ctx, m); err != nil || marked.AccessAt.IsZero() {
		t.Fatalf("mark: %+v %v", marked, err)
	}
	_, err = s.LeaseUpdate(ctx, late)
	wantErr(t, err, ovm.ErrConflict)
	if got, _ := s.AccountGet(ctx, again.AccountID); got.State != ovm.AccountLeased {
		t.Fatalf("an account whose lease gave access went %s", got.State)
	}
	if got, _ := s.LeaseGet(ctx, again.ID); got.State != ovm.LeaseActive || got.AccessAt.IsZero() {
		t.Fatalf("the marked lease: %+v", got)
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
	endLease(t, s, l1, T0)
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
	if _, err := endLeaseAs(s, l, ovm.LeaseExpired, ovm.RetireClose, at.Add(-time.Nanosecond)); err == nil {
		t.Fatal("a lease expired a nanosecond before its expiry")
	}
	ended, err := endLeaseAs(s, l, ovm.LeaseExpired, ovm.RetireClose, at)
	if err != nil || ended.State != ovm.LeaseEnded || ended.EndReason != ovm.LeaseExpired {
		t.Fatalf("expired at its expiry: %+v %v", ended, err)
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

// EndLease ends lease id for reason as an edge would through the engine:
// it reads the lease and its account, builds ovm.EndLease and applies it.
// Tests of other packages use it to end a lease with only a store.
func EndLease(ctx context.Context, s ovm.Store, id string, reason ovm.LeaseEndReason, rp ovm.RetirePolicy, actor string, now time.Time) (*ovm.Lease, error) {
	l, err := s.LeaseGet(ctx, id)
	if err != nil {
		return nil, err
	}
	a, err := s.AccountGet(ctx, l.AccountID)
	if err != nil {
		return nil, err
	}
	u, err := ovm.EndLease(l, a, reason, rp, actor, now)
	if err != nil {
		return nil, err
	}
	return s.LeaseUpdate(ctx, u)
}
