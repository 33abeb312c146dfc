package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// retentionTests are the cases of miss counts and the retention.
var retentionTests = []testCase{
	{"misses are counted per pool, minute and owner", testMissCounts},
	{"the retention deletes what is older than its cutoffs, and nothing else", testPrune},
	{"a prune deletes at most its limit of each kind", testPruneLimit},
}

func testMissCounts(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for _, m := range []struct {
		pool, owner string
		at          time.Time
	}{
		{"p1", "alice", T0}, {"p1", "alice", T0.Add(10 * time.Second)}, {"p1", "alice", T0.Add(59 * time.Second)},
		{"p1", "bob", T0.Add(70 * time.Second)}, {"p2", "alice", T0}, {"p1", "alice", T0.Add(-time.Hour)},
	} {
		if err := s.MissAdd(ctx, m.pool, m.owner, m.at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.MissList(ctx, "p1", T0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(missStrings(got)) != "[09:00 alice 3 09:01 bob 1]" {
		t.Fatalf("misses of p1 since T0: %v", missStrings(got))
	}
	got, _ = s.MissList(ctx, "p1", T0.Add(90*time.Second)) // from the minute of since
	if fmt.Sprint(missStrings(got)) != "[09:01 bob 1]" {
		t.Fatalf("misses of p1 since T0+90s: %v", missStrings(got))
	}
	got, _ = s.MissList(ctx, "p2", T0.Add(-time.Minute))
	if fmt.Sprint(missStrings(got)) != "[09:00 alice 1]" || got[0].Pool != "p2" {
		t.Fatalf("misses of p2: %v", missStrings(got))
	}
}

func missStrings(ms []*ovm.MissCount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s %s %d", m.Minute.UTC().Format("15:04"), m.Owner, m.Count))
	}
	return out
}

func testPrune(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	day := 24 * time.Hour
	// Old: a lease ended at T0+1h, an account closed at T0 with no lease,
	// a miss and an idempotency key of T0, a pool event of T0.
	old := Ready(t, s, "p1", T0)
	l1, _ := vend(s, "p1", "alice", T0, 0)
	endLease(t, s, l1, T0.Add(time.Hour))
	closed := Ready(t, s, "p1", T0)
	apply(t, s)(ovm.RetireAccount(closed, "key:admin", T0))
	c, _ := s.AccountGet(ctx, closed.ID)
	apply(t, s)(ovm.ObserveClosed(c, T0))
	if err := s.MissAdd(ctx, "p1", "alice", T0); err != nil {
		t.Fatal(err)
	}
	Ready(t, s, "p1", T0)
	keyed, err := vendKey(s, "p1", "bob", "k-old", T0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EventAppend(ctx, &ovm.Event{Time: T0, Kind: ovm.EventDrift, Pool: "p1", Actor: ovm.ActorDrift, Reason: "old"}); err != nil {
		t.Fatal(err)
	}
	// Young: everything three days later.
	young := T0.Add(3 * day)
	Ready(t, s, "p1", young)
	l2, err := vend(s, "p1", "carol", young, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MissAdd(ctx, "p1", "alice", young); err != nil {
		t.Fatal(err)
	}
	if err := s.EventAppend(ctx, &ovm.Event{Time: young, Kind: ovm.EventDrift, Pool: "p1", Actor: ovm.ActorDrift, Reason: "young"}); err != nil {
		t.Fatal(err)
	}
	cut := T0.Add(2 * day)
	n, err := s.Prune(ctx, &ovm.PruneParams{Events: cut, Leases: cut, Accounts: cut, Misses: cut, IdempotencyKeys: cut})
	if err != nil {
		t.Fatal(err)
	}
	if n.Leases < 1 || n.Accounts != 1 || n.Misses != 1 || n.IdempotencyKeys != 1 || n.Events < 1 {
		t.Fatalf("pruned %+v", n)
	}
	_, err = s.LeaseGet(ctx, l1.ID)
	wantErr(t, err, ovm.ErrNotFound)
	_, err = s.AccountGet(ctx, closed.ID)
	wantErr(t, err, ovm.ErrNotFound)
	if ev, _, _ := s.EventList(ctx, &ovm.EventListParams{AccountID: closed.ID}); len(ev) != 0 {
		t.Fatalf("a pruned account left events: %v", ev)
	}
	// What is kept: the ended lease's account (closing, not closed), the
	// active lease and its account, the young miss, the young pool event.
	if a, err := s.AccountGet(ctx, old.ID); err != nil || a.State != ovm.AccountClosing {
		t.Fatalf("the closing account: %+v %v", a, err)
	}
	if l, err := s.LeaseGet(ctx, l2.ID); err != nil || l.State != ovm.LeaseActive {
		t.Fatalf("the active lease: %+v %v", l, err)
	}
	if ms, _ := s.MissList(ctx, "p1", T0.Add(-time.Hour)); fmt.Sprint(missStrings(ms)) != "[09:00 alice 1]" || !ms[0].Minute.Equal(young) {
		t.Fatalf("misses after the prune: %v", missStrings(ms))
	}
	ev, _, _ := s.EventList(ctx, &ovm.EventListParams{Pool: "p1"})
	if len(ev) != 1 || ev[0].Reason != "young" {
		t.Fatalf("pool events after the prune: %+v", ev)
	}
	// The old key is free again: a vend with it makes a new lease.
	Ready(t, s, "p1", young)
	if l, err := vendKey(s, "p1", "bob", "k-old", young.Add(time.Second), 0); err != nil || l.ID == keyed.ID {
		t.Fatalf("the pruned key: %+v %v", l, err)
	}
	// A zero cutoff prunes nothing of its kind.
	if n, err := s.Prune(ctx, &ovm.PruneParams{}); err != nil || n.Total() != 0 {
		t.Fatalf("a prune without cutoffs: %+v %v", n, err)
	}
}

func testPruneLimit(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for i := range 5 {
		if err := s.MissAdd(ctx, "p1", "alice", T0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	for range 4 {
		n, err := s.Prune(ctx, &ovm.PruneParams{Misses: T0.Add(time.Hour), Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n.Misses)
	}
	if fmt.Sprint(got) != "[2 2 1 0]" {
		t.Fatalf("misses pruned per call with a limit of 2: %v", got)
	}
	if ms, _ := s.MissList(ctx, "p1", T0); len(ms) != 0 {
		t.Fatalf("left %v", missStrings(ms))
	}
}
