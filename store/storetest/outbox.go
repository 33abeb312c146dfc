package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// outboxTests are the cases of the notification outbox.
var outboxTests = []testCase{
	{"a vend, a lease's end, a quarantine and drift put their notification in the outbox", testOutboxFromChanges},
	{"a refused change puts nothing in the outbox", testOutboxRefusedChange},
	{"an outbox entry is added once and updated by compare-and-set", testOutboxAddUpdate},
	{"due deliveries list by due time; a claim defers one, settled ones leave", testOutboxDue},
	{"exactly one of many concurrent claims of a delivery wins", testOutboxConcurrentClaim},
	{"deliveries list newest first by state in pages and are counted by state", testOutboxList},
	{"old delivered entries are pruned, failed, pending and recent ones kept", testOutboxPrune},
}

// due returns every delivery due at now, by id.
func due(t *testing.T, s ovm.Store, now time.Time) map[ovm.NotificationType][]*ovm.Delivery {
	t.Helper()
	ds, err := s.DeliveryListDue(context.Background(), now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[ovm.NotificationType][]*ovm.Delivery{}
	for _, d := range ds {
		out[d.Event.Type] = append(out[d.Event.Type], d)
	}
	return out
}

func one(t *testing.T, ds map[ovm.NotificationType][]*ovm.Delivery, typ ovm.NotificationType) *ovm.Notification {
	t.Helper()
	if len(ds[typ]) != 1 {
		t.Fatalf("%d %s notifications in the outbox, want 1", len(ds[typ]), typ)
	}
	d := ds[typ][0]
	if d.State != ovm.DeliveryPending || d.Version != 1 || d.ID != d.Event.ID || d.ID == "" {
		t.Fatalf("%s: a new outbox entry %+v", typ, d)
	}
	return d.Event
}

func testOutboxFromChanges(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	if n := len(due(t, s, T0.Add(time.Hour))); n != 0 {
		t.Fatalf("%d notification types after making stock, want none", n)
	}
	l, err := vend(s, "p1", "alice", T0.Add(time.Second), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := one(t, due(t, s, T0.Add(time.Hour)), ovm.NotifyLeaseCreated)
	if n.LeaseID != l.ID || n.AccountID != a.ID || n.AWSAccountID != a.AWSAccountID || n.Owner != "alice" ||
		n.Pool != "p1" || n.ExpiresAt == nil || !n.ExpiresAt.Equal(l.ExpiresAt) || !n.Time.Equal(T0.Add(time.Second)) {
		t.Fatalf("lease.created %+v, lease %+v", n, l)
	}
	endLease(t, s, l, T0.Add(2*time.Second))
	n = one(t, due(t, s, T0.Add(time.Hour)), ovm.NotifyLeaseEnded)
	if n.LeaseID != l.ID || n.Reason != string(ovm.LeaseReleased) || n.AWSAccountID != a.AWSAccountID || n.Owner != "alice" {
		t.Fatalf("lease.ended %+v", n)
	}

	b := insert(t, s, Account("p1"))
	apply(t, s)(ovm.QuarantineAccount(b, ovm.ActorEngine, "INVALID_EMAIL: the domain refuses mail", T0.Add(3*time.Second)))
	n = one(t, due(t, s, T0.Add(time.Hour)), ovm.NotifyAccountQuarantined)
	if n.AccountID != b.ID || n.LastError != "INVALID_EMAIL: the domain refuses mail" || n.Pool != "p1" {
		t.Fatalf("account.quarantined %+v", n)
	}

	if err := s.EventAppend(ctx, &ovm.Event{Time: T0.Add(4 * time.Second), Kind: ovm.EventDrift, AccountID: a.ID, Pool: "p1",
		Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "closed outside OVM"}); err != nil {
		t.Fatal(err)
	}
	if err := s.EventAppend(ctx, &ovm.Event{Time: T0.Add(4 * time.Second), Kind: ovm.EventDrift, Pool: "p1",
		Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "an unknown account"}); err != nil {
		t.Fatal(err)
	}
	all := due(t, s, T0.Add(time.Hour))
	if len(all[ovm.NotifyDriftFound]) != 2 {
		t.Fatalf("%d drift.found notifications, want 2", len(all[ovm.NotifyDriftFound]))
	}
	for _, d := range all[ovm.NotifyDriftFound] {
		if d.Event.Pool != "p1" || (d.Event.Reason != "closed outside OVM" && d.Event.Reason != "an unknown account") ||
			(d.Event.Reason == "closed outside OVM") != (d.Event.AccountID == a.ID) {
			t.Fatalf("drift.found %+v", d.Event)
		}
	}
	// Only these: no notification for the other transitions and events.
	if len(all) != 4 {
		t.Fatalf("notification types %v", all)
	}
	// Each is due from its change's time, not before.
	if ds := due(t, s, T0); len(ds) != 0 {
		t.Fatalf("due before the changes: %v", ds)
	}
}

func testOutboxRefusedChange(t *testing.T, s ovm.Store) {
	if _, err := vend(s, "p1", "alice", T0, 0); err == nil {
		t.Fatal("a vend from an empty pool succeeded")
	}
	Ready(t, s, "p1", T0)
	l, err := vend(s, "p1", "alice", T0, 1)
	if err != nil {
		t.Fatal(err)
	}
	Ready(t, s, "p1", T0)
	if _, err := vend(s, "p1", "alice", T0, 1); err == nil {
		t.Fatal("a vend over the limit succeeded")
	}
	a, _ := s.AccountGet(context.Background(), l.AccountID)
	late, err := ovm.EndLease(l, a, ovm.LeaseExpired, ovm.RetirePolicy{Mode: ovm.RetireClose}, ovm.ActorExpirer, l.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	endLease(t, s, l, T0.Add(time.Second))
	_, err = s.LeaseUpdate(context.Background(), late) // the expirer, after the release
	wantErr(t, err, ovm.ErrConflict)
	ds := due(t, s, T0.Add(time.Hour))
	if len(ds[ovm.NotifyLeaseCreated]) != 1 || len(ds[ovm.NotifyLeaseEnded]) != 1 || len(ds) != 2 {
		t.Fatalf("outbox %v, want one lease.created and one lease.ended", ds)
	}
}

func newDelivery(typ ovm.NotificationType, at time.Time) *ovm.Delivery {
	n := &ovm.Notification{ID: ovm.NewID("evt", at), Type: typ, Time: at, Pool: "p1"}
	return ovm.NewDelivery(n, at)
}

var subs = []*ovm.Subscription{{Name: "ops"}, {Name: "audit", Types: []ovm.NotificationType{ovm.NotifyLeaseCreated}}}

func testOutboxAddUpdate(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	d := newDelivery(ovm.NotifyPoolEmpty, T0)
	if err := s.DeliveryAdd(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeliveryAdd(ctx, newDeliveryWithID(d.ID)), ovm.ErrConflict)
	got, err := s.DeliveryGet(ctx, d.ID)
	if err != nil || got.Event.Type != ovm.NotifyPoolEmpty || got.Version != 1 || !got.NextAttemptAt.Equal(T0) {
		t.Fatalf("get %+v %v", got, err)
	}
	_, err = s.DeliveryGet(ctx, "evt_nope")
	wantErr(t, err, ovm.ErrNotFound)

	c, err := ovm.ClaimDelivery(got, subs, "r1", T0, T0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeliveryUpdate(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, err = s.DeliveryUpdate(ctx, c) // the same version again: stale
	wantErr(t, err, ovm.ErrConflict)
	stale, _ := ovm.ClaimDelivery(got, subs, "r2", T0, T0.Add(time.Minute))
	_, err = s.DeliveryUpdate(ctx, stale)
	wantErr(t, err, ovm.ErrConflict)
	missing, _ := ovm.ClaimDelivery(newDelivery(ovm.NotifyPoolLow, T0), subs, "r1", T0, T0.Add(time.Minute))
	_, err = s.DeliveryUpdate(ctx, missing)
	wantErr(t, err, ovm.ErrNotFound)
	got, _ = s.DeliveryGet(ctx, d.ID)
	if got.ClaimedBy != "r1" || got.Version != 2 || len(got.Targets) != 1 || got.Targets[0].Subscription != "ops" {
		t.Fatalf("after the claim %+v", got)
	}
}

func newDeliveryWithID(id string) *ovm.Delivery {
	d := newDelivery(ovm.NotifyPoolLow, T0)
	d.ID, d.Event.ID = id, id
	return d
}

func testOutboxDue(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	var ds []*ovm.Delivery
	for i := range 4 {
		d := newDelivery(ovm.NotifyPoolLow, T0.Add(time.Duration(3-i)*time.Second))
		if err := s.DeliveryAdd(ctx, d); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	list := func(now time.Time, limit int) []string {
		t.Helper()
		got, err := s.DeliveryListDue(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		return ids
	}
	if got := list(T0.Add(time.Second), 10); fmt.Sprint(got) != fmt.Sprint([]string{ds[3].ID, ds[2].ID}) {
		t.Fatalf("due at T0+1s: %v", got)
	}
	if got := list(T0.Add(time.Hour), 3); fmt.Sprint(got) != fmt.Sprint([]string{ds[3].ID, ds[2].ID, ds[1].ID}) {
		t.Fatalf("due, 3 at most: %v", got)
	}
	claim := func(d *ovm.Delivery) *ovm.Delivery {
		c, err := ovm.ClaimDelivery(d, subs, "r1", T0.Add(5*time.Second), T0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if c, err = s.DeliveryUpdate(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	policy := ovm.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Minute}
	c0 := claim(ds[0])
	if _, err := s.DeliveryUpdate(ctx, ovm.SettleDelivery(c0, map[string]error{"ops": nil}, policy, T0.Add(6*time.Second))); err != nil {
		t.Fatal(err)
	}
	c1 := claim(ds[1])
	if _, err := s.DeliveryUpdate(ctx, ovm.SettleDelivery(c1, map[string]error{"ops": fmt.Errorf("503")}, policy, T0.Add(6*time.Second))); err != nil {
		t.Fatal(err)
	}
	claim(ds[2])
	if got := list(T0.Add(10*time.Second), 10); fmt.Sprint(got) != fmt.Sprint([]string{ds[3].ID}) {
		t.Fatalf("due after a claim, a delivery and a failure: %v", got)
	}
	if got := list(T0.Add(time.Minute), 10); fmt.Sprint(got) != fmt.Sprint([]string{ds[3].ID, ds[2].ID}) {
		t.Fatalf("due once the claim lapsed: %v", got)
	}
	for id, want := range map[string]ovm.DeliveryState{ds[0].ID: ovm.DeliveryDelivered, ds[1].ID: ovm.DeliveryFailed} {
		d, err := s.DeliveryGet(ctx, id)
		if err != nil || d.State != want {
			t.Fatalf("%s: %+v %v, want %s", id, d, err, want)
		}
	}
	// A failed delivery sent again is due at once.
	f, _ := s.DeliveryGet(ctx, ds[1].ID)
	r, err := ovm.RetryDelivery(f, T0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeliveryUpdate(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := list(T0.Add(20*time.Second), 10); fmt.Sprint(got) != fmt.Sprint([]string{ds[3].ID, ds[1].ID}) {
		t.Fatalf("due after a retry: %v", got)
	}
}

func testOutboxConcurrentClaim(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	d := newDelivery(ovm.NotifyLeaseCreated, T0)
	if err := s.DeliveryAdd(ctx, d); err != nil {
		t.Fatal(err)
	}
	const replicas = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ovm.ClaimDelivery(d, subs, fmt.Sprint("r", i), T0, T0.Add(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := s.DeliveryUpdate(ctx, c); err == nil {
				mu.Lock()
				won = append(won, c.ClaimedBy)
				mu.Unlock()
			} else if ovm.ErrorCodeOf(err) != ovm.EConflict {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.DeliveryGet(ctx, d.ID)
	if len(won) != 1 || got.ClaimedBy != won[0] || got.Version != 2 {
		t.Fatalf("winners %v, stored %+v", won, got)
	}
}

func testOutboxList(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	policy := ovm.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Minute}
	var failed []string
	for i := range 5 {
		d := newDelivery(ovm.NotifyPoolEmpty, T0.Add(time.Duration(i)*time.Millisecond))
		if err := s.DeliveryAdd(ctx, d); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			c, _ := ovm.ClaimDelivery(d, subs, "r1", T0, T0.Add(time.Minute))
			if _, err := s.DeliveryUpdate(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeliveryUpdate(ctx, ovm.SettleDelivery(c, map[string]error{"ops": fmt.Errorf("refused")}, policy, T0)); err != nil {
				t.Fatal(err)
			}
			failed = append([]string{d.ID}, failed...)
		}
	}
	var got []string
	p := &ovm.DeliveryListParams{State: ovm.DeliveryFailed, PageParams: ovm.PageParams{Limit: 2}}
	for {
		page, next, err := s.DeliveryList(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			if d.State != ovm.DeliveryFailed || d.Targets[0].LastError != "refused" {
				t.Fatalf("listed %+v", d)
			}
			got = append(got, d.ID)
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(failed) {
		t.Fatalf("failed deliveries %v, want %v (newest first)", got, failed)
	}
	all, _, err := s.DeliveryList(ctx, &ovm.DeliveryListParams{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all deliveries: %d %v", len(all), err)
	}
	for state, want := range map[ovm.DeliveryState]int{ovm.DeliveryFailed: 3, ovm.DeliveryPending: 2, ovm.DeliveryDelivered: 0} {
		if n, err := s.DeliveryCount(ctx, state); err != nil || n != want {
			t.Fatalf("%s: %d %v, want %d", state, n, err, want)
		}
	}
	_, _, err = s.DeliveryList(ctx, &ovm.DeliveryListParams{PageParams: ovm.PageParams{Cursor: ovm.EncodeCursor(ovm.CursorLeases, "x")}})
	if ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("another list's cursor: %v", err)
	}
}

func testOutboxPrune(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	policy := ovm.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Minute}
	settle := func(at time.Time, err error) *ovm.Delivery {
		t.Helper()
		d := newDelivery(ovm.NotifyLeaseEnded, at)
		if err := s.DeliveryAdd(ctx, d); err != nil {
			t.Fatal(err)
		}
		c, _ := ovm.ClaimDelivery(d, subs, "r1", at, at.Add(time.Minute))
		if _, err := s.DeliveryUpdate(ctx, c); err != nil {
			t.Fatal(err)
		}
		out, err2 := s.DeliveryUpdate(ctx, ovm.SettleDelivery(c, map[string]error{"ops": err}, policy, at))
		if err2 != nil {
			t.Fatal(err2)
		}
		return out
	}
	old1, old2 := settle(T0, nil), settle(T0.Add(time.Hour), nil)
	oldFailed := settle(T0, fmt.Errorf("refused"))
	oldPending := newDelivery(ovm.NotifyPoolLow, T0)
	if err := s.DeliveryAdd(ctx, oldPending); err != nil {
		t.Fatal(err)
	}
	recent := settle(T0.Add(48*time.Hour), nil)
	cutoff := ovm.DeliveryIDBefore(T0.Add(24 * time.Hour))
	if n, err := s.DeliveryPrune(ctx, cutoff, 1); err != nil || n != 1 {
		t.Fatalf("prune 1: %d %v", n, err)
	}
	if _, err := s.DeliveryGet(ctx, old1.ID); ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Fatalf("the oldest delivered entry is still there: %v", err)
	}
	if n, err := s.DeliveryPrune(ctx, cutoff, 100); err != nil || n != 1 {
		t.Fatalf("prune the rest: %d %v, want the other old delivered entry", n, err)
	}
	for _, id := range []string{oldFailed.ID, oldPending.ID, recent.ID} {
		if _, err := s.DeliveryGet(ctx, id); err != nil {
			t.Fatalf("%s was pruned: %v", id, err)
		}
	}
	if _, err := s.DeliveryGet(ctx, old2.ID); ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Fatalf("an old delivered entry is still there: %v", err)
	}
	if n, err := s.DeliveryPrune(ctx, cutoff, 100); err != nil || n != 0 {
		t.Fatalf("a second prune: %d %v", n, err)
	}
}
